"""Exact solver: the integer linear program of multiHypothesesTracking (spec §4.8) with OR-Tools."""

from __future__ import annotations

import datetime
import time

import numpy as np
from ortools.math_opt.python import mathopt

from ..errors import InputError
from .energies import Energies
from .graph import HypothesesGraph
from .solution import Solution, total_energy

_BACKENDS = {
    "highs": mathopt.SolverType.HIGHS,
    "scip": mathopt.SolverType.GSCIP,
    "cp-sat": mathopt.SolverType.CP_SAT,
}


def _one_hot(model: mathopt.Model, name: str, costs: np.ndarray):
    """Binary indicators (rows, M+1) with one state per row; returns (indicators, objective terms)."""
    rows, states = costs.shape
    ind = [[model.add_binary_variable(name=f"{name}{r}_{k}") for k in range(states)] for r in range(rows)]
    terms = []
    for r in range(rows):
        model.add_linear_constraint(mathopt.fast_sum(ind[r]) == 1)
        terms.extend(float(costs[r, k]) * ind[r][k] for k in range(states) if costs[r, k] != 0.0)
    return ind, terms


def _value(ind_row):
    return mathopt.fast_sum(k * b for k, b in enumerate(ind_row) if k > 0)


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
    not both z and d.

    Parameters
    ----------
    graph, energies
        From :func:`build_graph` and :func:`compute_energies`.
    timeout : float, optional
        Time limit in seconds for the solver (honoured, unlike ilastik's; model building is not
        counted); the best solution found is returned with the solver's bound, or, if no integer
        solution was found in time, the flow solver's labelling (``optimal=False``).
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
    n, m, E = graph.n_nodes, energies.max_objects, graph.n_links
    model = mathopt.Model(name="conservation-tracking")
    bx, tx = _one_hot(model, "x", energies.detection)
    ba, ta = _one_hot(model, "a", energies.appearance)
    bz, tz = _one_hot(model, "z", energies.disappearance)
    by, ty = _one_hot(model, "y", energies.link)
    out_deg = graph.out_degree()
    div_nodes = np.flatnonzero(energies.division_allowed & (out_deg > 1))
    dvar = {}
    terms = tx + ta + tz + ty
    for i in div_nodes:
        d = model.add_binary_variable(name=f"d{i}")
        dvar[int(i)] = d
        terms.append(float(energies.division[i, 1] - energies.division[i, 0]) * d)
    const = float(energies.division[div_nodes, 0].sum())
    model.minimize(mathopt.fast_sum(terms) + const)
    ins = [[] for _ in range(n)]
    outs = [[] for _ in range(n)]
    for e in range(E):
        outs[int(graph.src[e])].append(e)
        ins[int(graph.dst[e])].append(e)
    for i in range(n):
        xi = _value(bx[i])
        model.add_linear_constraint(mathopt.fast_sum(_value(by[e]) for e in ins[i]) + _value(ba[i]) - xi == 0)
        di = dvar.get(i)
        out_sum = mathopt.fast_sum(_value(by[e]) for e in outs[i]) + _value(bz[i]) - xi
        if di is not None:
            model.add_linear_constraint(out_sum - di == 0)
            model.add_linear_constraint(di - bx[i][1] <= 0)
            model.add_linear_constraint(2 * di - mathopt.fast_sum(by[e][1] for e in outs[i]) <= 0)
            if m > 1:
                model.add_linear_constraint(di + (1 - bz[i][0]) <= 1)
        else:
            model.add_linear_constraint(out_sum == 0)
        if m > 1:
            for e in ins[i]:
                model.add_linear_constraint((1 - ba[i][0]) + (1 - by[e][0]) <= 1)
            for e in outs[i]:
                model.add_linear_constraint((1 - bz[i][0]) + (1 - by[e][0]) <= 1)
    params = mathopt.SolveParameters(relative_gap_tolerance=relative_gap)
    if threads > 1:
        params.threads = threads
    if timeout is not None:
        params.time_limit = datetime.timedelta(seconds=float(timeout))
    result = mathopt.solve(model, _BACKENDS[backend], params=params)
    bound = result.termination.objective_bounds.dual_bound
    bound = float(bound) if np.isfinite(bound) else None
    if not result.has_primal_feasible_solution():
        if timeout is None:
            reason = result.termination.reason.name
            raise InputError(f"ILP solver found no solution ({reason})")
        # time limit hit before a first integer solution: return the flow heuristic's labelling
        from .flow import solve_flow

        sol = solve_flow(graph, energies)
        sol.solver = f"ilp-{backend}(timeout)+flow"
        sol.optimal = False
        sol.bound = bound
        sol.seconds = time.perf_counter() - t0
        return sol
    vals = result.variable_values()

    def states(ind):
        if not ind:
            return np.zeros(0, np.int64)
        arr = np.array([[vals[b] for b in row] for row in ind])
        return arr.argmax(axis=1).astype(np.int64)

    count, appearance, disappearance, link_value = states(bx), states(ba), states(bz), states(by)
    division = np.zeros(n, bool)
    for i, d in dvar.items():
        division[i] = vals[d] > 0.5
    energy = total_energy(energies, count, appearance, disappearance, link_value, division)
    reason = result.termination.reason
    return Solution(graph, energies, count, appearance, disappearance, link_value, division, energy,
                    solver=f"ilp-{backend}", optimal=reason == mathopt.TerminationReason.OPTIMAL,
                    bound=bound, seconds=time.perf_counter() - t0)
