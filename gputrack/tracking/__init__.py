"""Conservation tracking (ilastik-style): detections, hypotheses graph, energies, solvers, lineages."""

from .detections import check_detections, detections_from_labels
from .division_prior import geometric_division_probability
from .energies import Energies, compute_energies, convexify
from .flow import solve_flow
from .graph import HypothesesGraph, build_graph
from .lineage import lineages, relabel, to_ctc, track_table, write_ctc_result
from .mergers import resolve_mergers, split_object
from .params import TrackingParameters, animal_parameters
from .pipeline import check_sequence, track_labels
from .result import FORMAT_VERSION, TrackingResult, load_result, save_result
from .solution import Solution, constraint_violations, total_energy
from .split import split_windows, track_split
from .synthetic import random_walk_detections
from .track import track

__all__ = [
    "FORMAT_VERSION",
    "TrackingResult",
    "check_sequence",
    "load_result",
    "resolve_mergers",
    "save_result",
    "split_object",
    "split_windows",
    "track_split",
    "track_labels",
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


def __getattr__(name: str):
    # solve_ilp imports OR-Tools' MathOpt (about 0.35 s): only when it is asked for
    if name == "solve_ilp":
        from .ilp import solve_ilp  # noqa: PLC0415

        return solve_ilp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
