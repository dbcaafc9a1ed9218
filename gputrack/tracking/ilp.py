"""Exact solver: the integer linear program of multiHypothesesTracking (spec §4.8) with OR-Tools.

The model is assembled as arrays (a sparse constraint matrix in COO/CSR form) and handed to
OR-Tools MathOpt as one ``ModelProto``, so building it takes a fraction of a second even for
10^5 detections and the solver's ``timeout`` bounds the whole call.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from ortools.math_opt import model_pb2, result_pb2, solution_pb2
from ortools.math_opt.core.python import solver as mathopt_core
from ortools.math_opt.python import mathopt
from ortools.math_opt.python.callback import CallbackRegistration
from ortools.math_opt.python.init_arguments import StreamableSolverInitArguments
from ortools.math_opt.python.model_parameters import ModelSolveParameters

from ..errors import InputError
from .energies import Energies
from .graph import HypothesesGraph
from .solution import Solution, total_energy

_BACKENDS = {
    "highs": mathopt.SolverType.HIGHS,
    "scip": mathopt.SolverType.GSCIP,
    "cp-sat": mathopt.SolverType.CP_SAT,
}


# MathOpt's ModelProto -> HiGHS load, measured on the 2-core development machine: ~1.3 us per
# constraint-matrix nonzero (3.0e6 nonzeros, 10^5 detections: ~4 s before the time limit starts)
_LOAD_SECONDS_PER_NONZERO = 1.3e-6


def _load_seconds(graph: HypothesesGraph, energies: Energies) -> float:
    """Estimated seconds to build the model and load it into the solver (before its clock starts)."""
    n, e, m = graph.n_nodes, graph.n_links, energies.max_objects
    nonzeros = (m + 1) * (3 * n + e) + 2 * m * (e + 2 * n) + 4 * int(energies.division_allowed.sum())
    return nonzeros * _LOAD_SECONDS_PER_NONZERO


def _flow_incumbent(graph: HypothesesGraph, energies: Energies, backend: str, bound: float | None,
                    relative_gap: float, t0: float, timeout: float | None) -> Solution:
    """The flow solver's labelling with the best valid lower bound known (its own dual bound or ``bound``).

    The flow's shortest-path search gets what remains of ``timeout`` (counted from ``t0``); its
    warm start always completes.
    """
    from .flow import solve_flow

    remaining = None if timeout is None else max(0.0, timeout - (time.perf_counter() - t0))
    sol = solve_flow(graph, energies, time_limit=remaining)
    if bound is not None and (sol.bound is None or bound > sol.bound):
        sol.bound = bound
    sol.solver = f"ilp-{backend}(timeout)+{sol.solver}"
    sol.optimal = sol.gap is not None and sol.gap <= relative_gap
    sol.seconds = time.perf_counter() - t0
    return sol


@dataclass
class _Model:
    """The ILP as arrays: binaries ``var_count``, objective, constraint matrix and row bounds."""

    var_count: int
    objective: np.ndarray
    offset: float
    matrix: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray


def _build_model(graph: HypothesesGraph, energies: Energies) -> tuple[_Model, dict[str, np.ndarray]]:
    """Assemble the spec §4.8 model; returns it and the variable index arrays by name.

    Variable blocks (all binary): one-hot ``x`` (n, S), ``a`` (n, S), ``z`` (n, S), ``y`` (E, S)
    with S = M + 1 states, and ``d`` for nodes that may divide and have more than one out-link.
    """
    n, m, n_links = graph.n_nodes, energies.max_objects, graph.n_links
    s = m + 1
    src = np.asarray(graph.src, np.int64)
    dst = np.asarray(graph.dst, np.int64)
    blocks = [("x", energies.detection, n), ("a", energies.appearance, n),
              ("z", energies.disappearance, n), ("y", energies.link, n_links)]
    index: dict[str, np.ndarray] = {}
    objective = []
    start = 0
    for name, costs, rows in blocks:
        index[name] = start + np.arange(rows * s, dtype=np.int64).reshape(rows, s)
        objective.append(np.asarray(costs, np.float64).reshape(rows * s))
        start += rows * s
    div_nodes = np.flatnonzero(energies.division_allowed & (graph.out_degree() > 1)).astype(np.int64)
    index["d"] = start + np.arange(div_nodes.size, dtype=np.int64)
    index["div_nodes"] = div_nodes
    division = np.asarray(energies.division, np.float64)
    objective.append(division[div_nodes, 1] - division[div_nodes, 0])
    offset = float(division[div_nodes, 0].sum())
    var_count = start + div_nodes.size

    rows, cols, vals, lower, upper = [], [], [], [], []
    n_rows = 0

    def add(r, c, v):
        c = np.asarray(c, np.int64).ravel()
        rows.append(np.asarray(r, np.int64).ravel())
        cols.append(c)
        vals.append(np.broadcast_to(np.asarray(v, np.float64).ravel(), c.shape))

    def new_rows(count, lo, hi):
        nonlocal n_rows
        lower.append(np.full(count, lo, np.float64))
        upper.append(np.full(count, hi, np.float64))
        first = n_rows
        n_rows += count
        return first + np.arange(count, dtype=np.int64)

    k = np.arange(s, dtype=np.float64)
    # one state per indicator row
    for name in ("x", "a", "z", "y"):
        ind = index[name]
        r = new_rows(ind.shape[0], 1.0, 1.0)
        add(np.repeat(r, s), ind, 1.0)
    # incoming flow: sum_in y + a - x == 0 (values are sum_k k * indicator)
    r_in = new_rows(n, 0.0, 0.0)
    add(np.repeat(r_in[dst], s - 1), index["y"][:, 1:], np.tile(k[1:], n_links))
    add(np.repeat(r_in, s - 1), index["a"][:, 1:], np.tile(k[1:], n))
    add(np.repeat(r_in, s - 1), index["x"][:, 1:], np.tile(-k[1:], n))
    # outgoing flow: sum_out y + z - x - d == 0
    r_out = new_rows(n, 0.0, 0.0)
    add(np.repeat(r_out[src], s - 1), index["y"][:, 1:], np.tile(k[1:], n_links))
    add(np.repeat(r_out, s - 1), index["z"][:, 1:], np.tile(k[1:], n))
    add(np.repeat(r_out, s - 1), index["x"][:, 1:], np.tile(-k[1:], n))
    add(r_out[div_nodes], index["d"], -1.0)
    if div_nodes.size:
        # d <= [x = 1]
        r = new_rows(div_nodes.size, -np.inf, 0.0)
        add(r, index["d"], 1.0)
        add(r, index["x"][div_nodes, 1], -1.0)
        # 2 d <= sum_out [y = 1]
        r = new_rows(div_nodes.size, -np.inf, 0.0)
        add(r, index["d"], 2.0)
        div_row = np.full(n, -1, np.int64)
        div_row[div_nodes] = r
        out_rows = div_row[src]
        sel = np.flatnonzero(out_rows >= 0)
        add(out_rows[sel], index["y"][sel, 1], -1.0)
        if m > 1:
            # not both a division and a disappearance: d + (1 - [z = 0]) <= 1
            r = new_rows(div_nodes.size, -np.inf, 0.0)
            add(r, index["d"], 1.0)
            add(r, index["z"][div_nodes, 0], -1.0)
    if m > 1:
        # no partial merger appearance / disappearance: (1 - [a_dst = 0]) + (1 - [y = 0]) <= 1
        for name, node in (("a", dst), ("z", src)):
            r = new_rows(n_links, -np.inf, -1.0)
            add(r, index[name][node, 0], -1.0)
            add(r, index["y"][:, 0], -1.0)
    matrix = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(n_rows, var_count))
    matrix.sum_duplicates()
    matrix.sort_indices()
    model = _Model(var_count, np.concatenate(objective), offset, matrix, np.concatenate(lower),
                   np.concatenate(upper))
    return model, index


def _to_proto(model: _Model) -> model_pb2.ModelProto:
    """MathOpt ``ModelProto`` of a :class:`_Model` (repeated fields filled from arrays)."""
    proto = model_pb2.ModelProto(name="conservation-tracking")
    nv = model.var_count
    var = proto.variables
    var.ids.extend(range(nv))
    var.lower_bounds.extend(np.zeros(nv).tolist())
    var.upper_bounds.extend(np.ones(nv).tolist())
    var.integers.extend([True] * nv)
    obj = proto.objective
    obj.maximize = False
    obj.offset = model.offset
    nz = np.flatnonzero(model.objective)
    obj.linear_coefficients.ids.extend(nz.tolist())
    obj.linear_coefficients.values.extend(model.objective[nz].tolist())
    nr = model.matrix.shape[0]
    cons = proto.linear_constraints
    cons.ids.extend(range(nr))
    cons.lower_bounds.extend(model.row_lower.tolist())
    cons.upper_bounds.extend(model.row_upper.tolist())
    mat = proto.linear_constraint_matrix
    mat.row_ids.extend(np.repeat(np.arange(nr), np.diff(model.matrix.indptr)).tolist())
    mat.column_ids.extend(model.matrix.indices.tolist())
    mat.coefficients.extend(model.matrix.data.tolist())
    return proto


def _run_solver(proto: model_pb2.ModelProto, solver_type: mathopt.SolverType,
                params: mathopt.SolveParameters) -> result_pb2.SolveResultProto:
    """One MathOpt solve of a ``ModelProto``; returns the raw ``SolveResultProto``."""
    return mathopt_core.solve(proto, solver_type.value, StreamableSolverInitArguments().to_proto(),
                              params.to_proto(), ModelSolveParameters().to_proto(), None,
                              CallbackRegistration().to_proto(), None, None)


def _primal_values(result: result_pb2.SolveResultProto, var_count: int) -> np.ndarray | None:
    """Dense values of the first feasible primal solution, or None."""
    for solution in result.solutions:
        primal = solution.primal_solution
        if (solution.HasField("primal_solution")
                and primal.feasibility_status == solution_pb2.SOLUTION_STATUS_FEASIBLE):
            sparse = primal.variable_values
            values = np.zeros(var_count)
            values[np.asarray(sparse.ids, np.int64)] = np.asarray(sparse.values)
            return values
    return None


def solve_ilp(
    graph: HypothesesGraph,
    energies: Energies,
    *,
    timeout: float | None = None,
    relative_gap: float = 1e-6,
    backend: str = "highs",
    threads: int = 1,
) -> Solution:
    """Minimise the tracking energy exactly with an ILP (spec §4.8), no commercial solver needed.

    Every variable (detection count x, link flow y, appearance a, disappearance z in 0..M and
    division d in {0, 1}) is one-hot over its states; constraints: incoming flow
    ``sum y_in + a = x``, outgoing ``sum y_out + z = x + d``, ``d <= [x = 1]``,
    ``2 d <= sum_out [y = 1]`` and, for M > 1, no partial merger appearance/disappearance and
    not both z and d. The model is assembled with numpy/scipy.sparse and passed to OR-Tools
    MathOpt in one call (about a second for 10^5 detections).

    Parameters
    ----------
    graph, energies
        From :func:`build_graph` and :func:`compute_energies`.
    timeout : float, optional
        Time limit in seconds for the solver (honoured, unlike ilastik's); the best solution
        found is returned with the solver's bound. If no integer solution was found in time, or
        if building and loading the model alone would take more than half the budget (estimated
        from its size: about 4 s for 10^5 detections), the flow solver's labelling is returned
        instead, with the better of the solver's bound and the flow's Lagrangian dual bound
        (:func:`~gputrack.tracking.flow.dual_bound`, valid for any potentials) and
        ``optimal=True`` only when that bound proves the gap ``<= relative_gap``. That flow
        search gets what remains of ``timeout`` (``solve_flow(time_limit=...)``) after its warm
        start, which always completes (~2 s for 10^5 detections on 2 cores).
    relative_gap : float
        Relative MIP gap at which to stop (ilastik uses 0.01).
    backend : {"highs", "scip", "cp-sat"}
        OR-Tools MathOpt solver.
    threads : int

    Returns
    -------
    Solution
        ``optimal`` is True when the solver proved optimality within ``relative_gap``;
        ``bound`` is the solver's dual bound.

    Examples
    --------
    >>> import pandas as pd
    >>> from gputrack.tracking import build_graph, compute_energies
    >>> df = pd.DataFrame({"t": [0, 1], "label": [1, 1], "y": [5., 6.], "x": [5., 5.]})
    >>> g = build_graph(df); s = solve_ilp(g, compute_energies(g))
    >>> s.link_value.tolist(), bool(s.optimal)
    ([1], True)
    """
    if backend not in _BACKENDS:
        raise InputError(f"ILP backend must be one of {sorted(_BACKENDS)}, got {backend!r}")
    t0 = time.perf_counter()
    if timeout is not None and _load_seconds(graph, energies) > 0.5 * timeout:
        # the solver could not even start within the budget: the flow labelling and its dual bound
        return _flow_incumbent(graph, energies, backend, None, relative_gap, t0, timeout)
    model, index = _build_model(graph, energies)
    params = mathopt.SolveParameters(relative_gap_tolerance=relative_gap)
    if threads > 1:
        params.threads = threads
    if timeout is not None:
        params.time_limit = datetime.timedelta(seconds=float(timeout))
    result = _run_solver(_to_proto(model), _BACKENDS[backend], params)
    bound = result.termination.objective_bounds.dual_bound
    bound = float(bound) if np.isfinite(bound) else None
    values = _primal_values(result, model.var_count)
    if values is None:
        if timeout is None:
            reason = result_pb2.TerminationReasonProto.Name(result.termination.reason)
            raise InputError(f"ILP solver found no solution ({reason.removeprefix('TERMINATION_REASON_')})")
        # time limit hit before a first integer solution: return the flow heuristic's labelling
        return _flow_incumbent(graph, energies, backend, bound, relative_gap, t0, timeout)

    def states(name):
        return values[index[name]].argmax(axis=1).astype(np.int64)

    count, appearance, disappearance, link_value = states("x"), states("a"), states("z"), states("y")
    division = np.zeros(graph.n_nodes, bool)
    division[index["div_nodes"]] = values[index["d"]] > 0.5
    energy = total_energy(energies, count, appearance, disappearance, link_value, division)
    optimal = result.termination.reason == result_pb2.TERMINATION_REASON_OPTIMAL
    return Solution(graph, energies, count, appearance, disappearance, link_value, division, energy,
                    solver=f"ilp-{backend}", optimal=optimal, bound=bound, seconds=time.perf_counter() - t0)
