"""Conservation tracking (ilastik-style): detections, hypotheses graph, energies, solvers, lineages."""

from .detections import check_detections, detections_from_labels
from .division_prior import geometric_division_probability
from .energies import Energies, compute_energies, convexify
from .flow import solve_flow
from .graph import HypothesesGraph, build_graph
from .ilp import solve_ilp
from .lineage import lineages, relabel, to_ctc, track_table, write_ctc_result
from .params import TrackingParameters, animal_parameters
from .solution import Solution, constraint_violations, total_energy
from .synthetic import random_walk_detections
from .track import track

__all__ = [
    "Energies",
    "HypothesesGraph",
    "Solution",
    "TrackingParameters",
    "animal_parameters",
    "build_graph",
    "check_detections",
    "compute_energies",
    "constraint_violations",
    "convexify",
    "detections_from_labels",
    "geometric_division_probability",
    "solve_flow",
    "solve_ilp",
    "total_energy",
    "lineages",
    "relabel",
    "to_ctc",
    "track_table",
    "write_ctc_result",
    "random_walk_detections",
    "track",
]
