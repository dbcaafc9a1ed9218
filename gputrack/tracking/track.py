"""One call from a detection table to a solved tracking."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..errors import InputError
from .energies import compute_energies
from .flow import solve_flow
from .graph import HypothesesGraph, build_graph
from .params import TrackingParameters
from .solution import Solution


def track(
    detections: pd.DataFrame,
    params: TrackingParameters | None = None,
    *,
    solver: str = "flow",
    scales: Sequence[float] | None = None,
    shape: Sequence[int] | None = None,
    timeout: float | None = None,
    offsets=None,
) -> Solution:
    """Conservation tracking of a detection table: graph, energies, solve.

    Parameters
    ----------
    detections : DataFrame
        ``t, label, [z,] y, x`` and optionally ``count_prob_k``, ``div_prob``.
    params : TrackingParameters, optional
        Defaults as ilastik's GUI; :func:`animal_parameters` for animal tracking.
    solver : {"flow", "ilp"}
        Successive shortest paths (fast; exact without divisions) or the exact ILP.
    scales, shape
        Pixel size (z, y, x) and spatial image shape (field of view).
    timeout : float, optional
        Time limit of the solve in seconds (> 0; InputError otherwise): the ILP's limit, or for
        the flow the point where the shortest-path search stops (its first feasible labelling,
        the min-cost flow without divisions, always completes); the result reports its gap.
    offsets : (n, 3) array, optional
        Predicted displacement of each detection to the next frame (a motion model, see
        :func:`build_graph`).

    Returns
    -------
    Solution

    Examples
    --------
    >>> df = pd.DataFrame({"t": [0, 1], "label": [1, 1], "y": [5., 6.], "x": [5., 5.]})
    >>> track(df).link_value.tolist()
    [1]
    """
    params = params or TrackingParameters()
    if timeout is not None and not timeout > 0:
        raise InputError(f"timeout must be a positive number of seconds, got {timeout}")
    graph = build_graph(detections, params, scales=scales, offsets=offsets)
    return solve_graph(graph, params, solver=solver, shape=shape, timeout=timeout)


def solve_graph(
    graph: HypothesesGraph,
    params: TrackingParameters | None = None,
    *,
    solver: str = "flow",
    shape: Sequence[int] | None = None,
    timeout: float | None = None,
) -> Solution:
    """Energies and solve of a built hypotheses graph (:func:`track` without the graph).

    Examples
    --------
    >>> df = pd.DataFrame({"t": [0, 1], "label": [1, 1], "y": [5., 6.], "x": [5., 5.]})
    >>> solve_graph(build_graph(df)).link_value.tolist()
    [1]
    """
    params = params or TrackingParameters()
    if timeout is not None and not timeout > 0:
        raise InputError(f"timeout must be a positive number of seconds, got {timeout}")
    energies = compute_energies(graph, params, shape=shape)
    if solver == "flow":
        return solve_flow(graph, energies, time_limit=timeout)
    if solver == "ilp":
        from .ilp import solve_ilp  # noqa: PLC0415  (OR-Tools' MathOpt: 0.35 s to import)

        return solve_ilp(graph, energies, timeout=timeout)
    raise InputError(f"solver must be 'flow' or 'ilp', got {solver!r}")
