"""Flow-based solver: successive shortest paths on the conservation-tracking flow graph (spec §4.7).

:func:`solve_flow` labels a hypotheses graph in three steps: a start (:mod:`.warm_start`, every
detection used, one sparse assignment per frame pair; or the exact min-cost flow of the model
without divisions from OR-Tools), a check that certifies the start or finds the few places where it
can improve (:mod:`.flow_certificate`, repaired by :mod:`.flow_repair`), and shortest-path rounds
that add what the start could not (:mod:`.flow_search`, on the residual network of
:mod:`.flow_network`).

Without divisions and with one object per merger the result is an exact minimum-cost flow, the
global optimum of the model; with divisions (or merger side constraints) it is the dpct heuristic,
usually optimal or very close, and optimal when the certificate's dual bound equals its energy.
``time_limit`` stops the search between augmentations: every augmentation keeps the labelling
feasible, and a stopped search is completed by a greedy insertion of the divisions that lower the
energy.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import InputError
from .energies import Energies
from .flow_certificate import (
    _relaxed_distances,
    _residual_potentials,
    dual_bound,
)
from .flow_network import (
    K_APP,
    K_DIS,
    K_DLINK,
    K_DSEED,
    K_LINK,
    K_NODE,
    _offsets,
    _residual_adjacency,
)
from .flow_repair import _augment_relaxed, _insert_divisions
from .flow_search import (
    _dag_potentials,
    _ssp,
)
from .graph import HypothesesGraph
from .solution import Solution, constraint_violations, total_energy
from .warm_start import pair_assignments

# relaxations per residual slot allowed to the labels of the final residual graph (a few suffice
# when they converge: 0.6 per slot at 10^5 detections)
_RESIDUAL_BUDGET = 4
# search rounds allowed to repair the per-frame-pair start before the min-cost-flow start is used
_REPAIR_ROUNDS = 6
# ... tried only when at most this many improving paths end at S/T in the relaxed network
_REPAIR_ENDS = 64


def _assignment_flow(graph, energies, kind, ref):
    """:func:`~.warm_start.pair_assignments` as a flow on the arcs (``kind``, ``ref``) of solve_flow."""
    allowed = energies.division_allowed
    div = np.where(allowed, energies.division[:, 1] - energies.division[:, 0], np.nan)
    app, dis, link, second = pair_assignments(
        graph.t, graph.src, graph.dst, energies.link[:, 1] - energies.link[:, 0],
        energies.appearance[:, 1] - energies.appearance[:, 0],
        energies.disappearance[:, 1] - energies.disappearance[:, 0], div if allowed.any() else None)
    dividing = np.zeros(graph.n_nodes, bool)
    dividing[graph.src[second]] = True
    flow = np.zeros(kind.size, np.int8)
    # every detection used; per arc kind, the value of the detection or link it refers to
    for k, value in ((K_NODE, np.ones(graph.n_nodes, bool)), (K_APP, app), (K_DIS, dis), (K_LINK, link),
                     (K_DSEED, dividing), (K_DLINK, second)):
        arcs = kind == k
        flow[arcs] = value[ref[arcs]]
    return flow


def _labelling(flow, kind, ref, n, n_links):
    """(count, appearance, disappearance, link value, division) of a flow on the arcs (kind, ref)."""
    f = flow.astype(np.int64)

    def total(sel, size):
        return np.bincount(ref[sel], weights=f[sel], minlength=size).astype(np.int64)

    division = np.zeros(n, bool)
    ds = kind == K_DSEED
    division[ref[ds][f[ds] > 0]] = True
    return (total(kind == K_NODE, n), total(kind == K_APP, n), total(kind == K_DIS, n),
            total((kind == K_LINK) | (kind == K_DLINK), n_links), division)


def _min_cost_flow_start(tail, head, cost, kind, n):
    """Exact min-cost flow of the model without division arcs (OR-Tools cost scaling, integer costs).

    Used as the warm start of the successive-shortest-path search when M = 1: it gives the optimum of
    the divisions-free model at once; the shortest-path rounds then only add divisions (and repair
    the sub-1e-6 rounding of the integer costs).
    """
    from ortools.graph.python import min_cost_flow

    base = np.flatnonzero(kind <= K_LINK)
    c = cost[base]
    big = max(float(np.abs(c).max()) if c.size else 1.0, 1.0)
    scale = min(1e6, 2.0**60 / (big * (2 * n + 3) * 8))
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(
        tail[base].astype(np.int32), head[base].astype(np.int32), np.ones(base.size, np.int64),
        np.round(c * scale).astype(np.int64),
    )
    smcf.add_arc_with_capacity_and_unit_cost(0, 1, n, 0)
    smcf.set_node_supply(0, n)
    smcf.set_node_supply(1, -n)
    flow = np.zeros(tail.size, np.int8)
    if smcf.solve() != smcf.OPTIMAL:
        return flow
    flow[base] = smcf.flows(np.arange(base.size)).astype(np.int8)
    return flow


def solve_flow(
    graph: HypothesesGraph,
    energies: Energies,
    *,
    max_rounds: int | None = None,
    warm_start: bool = True,
    time_limit: float | None = None,
    max_augmentations: int | None = None,
) -> Solution:
    """Minimise the tracking energy with successive shortest paths (dpct-style, spec §4.7).

    Parameters
    ----------
    graph : HypothesesGraph
    energies : Energies
        Convexified energies (:func:`~gputrack.tracking.energies.compute_energies`).
    max_rounds : int, optional
        Cap on shortest-path rounds (default: enough for every detection to be augmented).
    warm_start : bool
        With one object per merger, take the optimum with every detection used (one assignment
        per frame pair, :func:`~.warm_start.pair_assignments`) when a label-correcting pass proves
        it optimal, else start from the exact min-cost flow of the model without divisions
        (OR-Tools); False runs the pure successive-shortest-path search from the empty flow.
    time_limit : float, optional
        Seconds from the start of the call after which the shortest-path search stops (checked
        between augmentations and every ~1000 steps of a search). The warm start always completes:
        it is the first feasible labelling (without it, the empty one). The labelling after any
        completed augmentation satisfies every constraint of the model, and ``bound`` stays valid,
        so a stopped search returns a feasible labelling with its gap.
    max_augmentations : int, optional
        Stop after this many augmenting paths (same semantics as ``time_limit``).

    Returns
    -------
    Solution
        ``optimal`` is True when the model has no divisions and ``max_objects == 1`` (then the
        flow is an exact minimum-cost flow) and the search was not stopped, or when the dual bound
        equals the energy (zero gap: a certificate, see the module docstring), else None. ``bound``
        is a Lagrangian lower bound (:func:`dual_bound`); ``solver`` is ``"flow"``, or
        ``"flow(stopped)"`` when ``time_limit`` or ``max_augmentations`` ended the search.

    Examples
    --------
    >>> import pandas as pd
    >>> from gputrack.tracking import build_graph, compute_energies
    >>> df = pd.DataFrame({"t": [0, 1], "label": [1, 1], "y": [5., 6.], "x": [5., 5.]})
    >>> g = build_graph(df); s = solve_flow(g, compute_energies(g))
    >>> s.link_value.tolist(), s.count.tolist()
    ([1], [1, 1])
    """
    t0 = time.perf_counter()
    if time_limit is not None and not time_limit >= 0:
        raise InputError(f"time_limit must be a number of seconds >= 0, got {time_limit}")
    if max_augmentations is not None and max_augmentations < 0:
        raise InputError(f"max_augmentations must be >= 0, got {max_augmentations}")
    deadline = 0 if time_limit is None else time.monotonic_ns() + max(1, int(time_limit * 1e9))
    n, m = graph.n_nodes, energies.max_objects
    E = graph.n_links
    det, app, dis, link = energies.detection, energies.appearance, energies.disappearance, energies.link
    ddet, dapp, ddis = np.diff(det, axis=1), np.diff(app, axis=1), np.diff(dis, axis=1)
    dlink = np.diff(link, axis=1)
    div_nodes = np.flatnonzero(energies.division_allowed)
    div_index = np.full(n, -1, np.int64)
    div_index[div_nodes] = np.arange(div_nodes.size)
    n_nodes = 2 + 2 * n + div_nodes.size
    u = 2 + 2 * np.arange(n)
    v = u + 1
    # arcs, grouped by kind
    tails, heads, costs, kinds, refs = [], [], [], [], []

    def add(tl, hd, cs, kd, rf):
        tails.append(np.asarray(tl, np.int64).ravel())
        heads.append(np.asarray(hd, np.int64).ravel())
        costs.append(np.asarray(cs, np.float64).ravel())
        kinds.append(np.full(np.asarray(tl).size, kd, np.int8))
        refs.append(np.asarray(rf, np.int64).ravel())

    rep = np.repeat(np.arange(n), m)
    add(u[rep], v[rep], ddet.ravel(), K_NODE, rep)
    add(np.zeros(n * m), u[rep], dapp.ravel(), K_APP, rep)
    dis_first_offset = sum(x.size for x in tails)
    add(v[rep], np.ones(n * m), ddis.ravel(), K_DIS, rep)
    repe = np.repeat(np.arange(E), m)
    add(v[graph.src[repe]], u[graph.dst[repe]], dlink.ravel(), K_LINK, repe)
    add(np.zeros(div_nodes.size), 2 + 2 * n + np.arange(div_nodes.size),
        energies.division[div_nodes, 1] - energies.division[div_nodes, 0], K_DSEED, div_nodes)
    dl = np.flatnonzero(energies.division_allowed[graph.src]) if E else np.zeros(0, np.int64)
    add(2 + 2 * n + div_index[graph.src[dl]], u[graph.dst[dl]], dlink[dl, 0] if dl.size else [], K_DLINK, dl)
    tail, head, cost = np.concatenate(tails), np.concatenate(heads), np.concatenate(costs)
    kind, ref = np.concatenate(kinds), np.concatenate(refs)
    # residual adjacency (CSR over slots) excluding slots whose far end is S or T
    adj_ptr, adj_slot, adj_to, adj_cost = _residual_adjacency(tail, head, cost, n_nodes)
    dis_first = dis_first_offset + np.arange(n, dtype=np.int64) * m
    owner = np.zeros(n_nodes, np.int64)
    owner[u] = np.arange(n)
    owner[v] = np.arange(n)
    owner[2 + 2 * n + np.arange(div_nodes.size)] = div_nodes
    # time blocks for the label-correcting passes: u of frame f in block f, v and D in block f + 1
    # (residual arcs of a labelling stay in a block or, through a used detection, lead one down)
    fidx = np.unique(graph.t, return_inverse=True)[1].ravel().astype(np.int64) if n else np.zeros(0, np.int64)
    bucket = np.zeros(n_nodes, np.int64)
    bucket[u] = fidx
    bucket[v] = fidx + 1
    bucket[2 + 2 * n:] = fidx[div_nodes] + 1
    # initial potentials from the DAG
    in_order = np.argsort(graph.dst, kind="stable")
    link_ptr = _offsets(graph.dst, n)
    dsrc_order = np.argsort(graph.src[dl], kind="stable") if dl.size else np.zeros(0, np.int64)
    dl_sorted = dl[dsrc_order]
    dptr = _offsets(div_index[graph.src[dl_sorted]], div_nodes.size)
    pot = _dag_potentials(
        n, m, ddet[:, 0].copy(), dapp[:, 0].copy(), link_ptr, graph.src[in_order].astype(np.int64),
        dlink[in_order, 0].copy() if E else np.zeros(0), dptr, graph.dst[dl_sorted].astype(np.int64),
        dlink[dl_sorted, 0].copy() if dl.size else np.zeros(0), div_nodes.astype(np.int64), n_nodes,
    )
    if max_rounds is None:
        max_rounds = 4 * (n * m + div_nodes.size) + 10
    app_first = n * m + np.arange(n, dtype=np.int64) * m
    dseed_arc = np.flatnonzero(kind == K_DSEED).astype(np.int64)
    exact = (not energies.division_allowed.any()) and m == 1
    flow0 = np.zeros(tail.size, np.int8)
    warm = bool(warm_start and m == 1 and n > 0)
    src, dst = graph.src.astype(np.int64), graph.dst.astype(np.int64)
    allowed = energies.division_allowed.astype(np.bool_)
    args = (n_nodes, tail, head, cost, kind, ref, owner, bucket, adj_ptr, adj_slot, adj_to, adj_cost,
            app_first, dis_first, dseed_arc, src, dst)
    cap = np.iinfo(np.int64).max if max_augmentations is None else int(max_augmentations)
    zero = np.zeros(n, np.int64)
    base = total_energy(energies, zero, zero, zero, np.zeros(E, np.int64), np.zeros(n, bool))
    budget = _RESIDUAL_BUDGET * adj_slot.size + 1000
    ok = stopped = certified = False
    if warm:
        flow0 = _assignment_flow(graph, energies, kind, ref)
        # certified at once when the start is optimal even for the relaxed network (the division
        # arcs free of their side constraints, which only removes constraints): its residual labels
        # then reach a fixed point and their dual bound equals its energy
        flow = flow0
        labelling = _labelling(flow, kind, ref, n, E)
        energy = total_energy(energies, *labelling)
        pred = np.empty(n_nodes, np.int64)
        dist, converged, improving = _relaxed_distances(tail, head, cost, flow, bucket, adj_ptr, adj_slot,
                                                        adj_to, adj_cost, n_nodes, budget, pred)
        bound = dual_bound(tail, head, cost, kind, dist, base) if converged else -np.inf
        ok = certified = bound >= energy - 1e-12 * max(1.0, abs(energy))
        trial, few, flipped = flow0, 0 <= improving <= _REPAIR_ENDS, 0
        for _ in range(_REPAIR_ROUNDS if few and not ok else 0):
            # the relaxed network's own improving cycles, flipped where the check found them: kept
            # when the result satisfies the side constraints and is certified in turn (10^6
            # detections: one cycle, 0.3 s, against 3.9 s for search rounds); each cycle counts as
            # an augmentation
            trial = trial.copy()
            k = _augment_relaxed(trial, dist, pred, tail, head, cost, adj_slot, owner, cap - flipped)
            if k == 0 or (deadline > 0 and time.monotonic_ns() > deadline):
                break
            flipped += k
            trial_labelling = _labelling(trial, kind, ref, n, E)
            if constraint_violations(Solution(graph, energies, *trial_labelling, 0.0, "flow")):
                break
            dist, converged, improving = _relaxed_distances(tail, head, cost, trial, bucket, adj_ptr,
                                                            adj_slot, adj_to, adj_cost, n_nodes, budget, pred)
            if not converged:
                if improving < 0:
                    break
                continue
            labelling, flow = trial_labelling, trial
            energy = total_energy(energies, *labelling)
            bound = dual_bound(tail, head, cost, kind, dist, base)
            ok = certified = bound >= energy - 1e-12 * max(1.0, abs(energy))
            break
        if not ok and few:
            # else a few search rounds from the start: no improving path (with the side constraints)
            # proves it the result at once, and a start that is off at a handful of places is
            # repaired in a round or two (10^6 detections: 1 augmentation, 3 s, against 30 s for
            # the min-cost-flow start); a start that needs more rounds, or a repair stopped by
            # the limits, is given up
            flow, rounds, augs, pops, stopped, ok = _ssp(*args, allowed, m, pot, _REPAIR_ROUNDS, flow0.copy(),
                                                         True, not exact, deadline, cap)
            ok = ok and not stopped and rounds < _REPAIR_ROUNDS
            stopped = False  # a repair cut short by the time or augmentation limit is dropped
        if not ok:  # start from the exact min-cost flow of the model without divisions
            flow0 = _min_cost_flow_start(tail, head, cost, kind, n)
    if not ok:
        flow, rounds, augs, pops, stopped, ok = _ssp(*args, allowed, m, pot, int(max_rounds), flow0, warm,
                                                     warm and not exact, deadline, cap)
    if not certified:
        labelling = _labelling(flow, kind, ref, n, E)
        count, appearance, disappearance, link_value, division = labelling
        if stopped and allowed.any():
            # the search did not reach every division: add the ones that pay off greedily (in place)
            _insert_divisions(src, dst, energies.link[:, 1] - energies.link[:, 0],
                              energies.division[:, 1] - energies.division[:, 0],
                              energies.appearance[:, 0] - energies.appearance[:, 1], allowed, count,
                              appearance, disappearance, link_value, division)
        energy = total_energy(energies, *labelling)
        # two valid sets of potentials (a lower bound holds for any): the labels of the residual graph
        # (optimal duals when the flow is optimal for the relaxed network; they only help at their
        # fixed point, and when the flow is not optimal for the relaxed network the label correcting
        # runs into negative cycles, so its budget is kept small), and the search's own (needed only
        # when the first leave a gap)
        fixed, converged = _residual_potentials(tail, head, cost, flow, pot, bucket, adj_ptr, adj_slot,
                                                adj_to, adj_cost, budget)
        bound = dual_bound(tail, head, cost, kind, fixed, base) if converged else -np.inf
        if bound < energy - 1e-12 * max(1.0, abs(energy)):
            bound = max(bound, dual_bound(tail, head, cost, kind, pot, base))
    count, appearance, disappearance, link_value, division = labelling
    closed = bound >= energy - 1e-12 * max(1.0, abs(energy))  # a zero-gap dual bound certifies too
    return Solution(graph, energies, count, appearance, disappearance, link_value, division, energy,
                    solver="flow(stopped)" if stopped else "flow",
                    optimal=True if (exact and not stopped) or certified or closed else None, bound=bound,
                    seconds=time.perf_counter() - t0)
