"""Conservation tracking (ilastik-style): detections, hypotheses graph, energies, solvers, lineages."""

from .detections import check_detections, detections_from_labels
from .energies import Energies, compute_energies, convexify
from .flow import solve_flow
from .graph import HypothesesGraph, build_graph
from .ilp import solve_ilp
from .params import TrackingParameters, animal_parameters
from .solution import Solution, constraint_violations, total_energy

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
    "solve_flow",
    "solve_ilp",
    "total_energy",
]
