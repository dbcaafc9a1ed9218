"""Flow-based solver: successive shortest paths on the conservation-tracking flow graph (spec §4.7).

The flow graph follows dpct: per detection i an arc ``u_i -> v_i`` (one unit arc per object,
marginal detection costs), appearance arcs ``S -> u_i``, disappearance arcs ``v_i -> T``, link arcs
``v_i -> u_j`` and, for detections that may divide, a duplicate node ``D_i`` fed by ``S -> D_i``
(marginal division cost) with copies of the outgoing links (capacity 1). Shortest paths in the
residual graph are found with a Dijkstra search on reduced costs (Johnson potentials, initialised
by one dynamic-programming sweep over the time-ordered DAG); arcs that the model's side constraints
forbid in the current state are skipped, and nodes whose label improves after settling are
re-expanded, so arcs re-enabled with a negative reduced cost are handled correctly.

Several paths are augmented per search: terminal candidates are taken in increasing cost order
while their shortest-path-tree paths share no detection with the paths already augmented in the
round (such a path stays a shortest path after the others are augmented, because distances never
decrease in successive shortest paths), and the round stops at the first conflict.

With one object per merger the search first tries the optimum of the model in which every detection
is used (:mod:`.warm_start`: one sparse assignment per frame pair, divisions included). One
label-correcting pass from S and T (merged into one node) over its residual graph without the side
constraints then usually certifies it: when the labels settle and no arc back into S/T closes a
negative cycle, it is a minimum-cost flow of the relaxed network (every labelling of the model is a
flow of that network), the labels are optimal duals, and :func:`dual_bound` equals its energy: a
zero-gap certificate of global optimality, divisions included. Failing that, when the check found
only a few improving paths (at most ``_REPAIR_ENDS`` ends at S/T), the check's own improving cycles
are flipped (node-disjoint ones, cheapest first, walked back along its predecessors) and the check
runs again, up to ``_REPAIR_ROUNDS`` times; when the flipped labelling breaks a side constraint, up
to ``_REPAIR_ROUNDS`` search rounds repair the start instead (after one label-correcting pass for
its potentials; the same check with the side constraints first proves whether any improving path
exists). On the benchmark instances the first check succeeds, or one flipped cycle suffices (10^6
detections), and that labelling is the result. Otherwise (false detections, fragments better left
out than paid for by an appearance, or a start without potentials) the search starts from the exact
minimum-cost flow of the model without division arcs (OR-Tools' C++ cost-scaling solver on
integer-scaled costs; its potentials from one label-correcting pass), and the rounds then only add
divisions (and absorb the sub-1e-6 cost rounding). In the rounds after a warm start, when the model
has divisions, a conflicting candidate is skipped instead of ending the round (every augmented path
is still a zero-reduced-cost tree path, so the potentials stay valid), which cuts the number of
rounds several-fold. After the first division round only part of the search is redone: a node whose
previous shortest-path-tree path touches no detection augmented in that round keeps its tree path,
which has reduced cost 0 under the updated potentials, so its label is 0 and only the subtrees
hanging below augmented detections are searched again (seeded across their boundary). Nodes reached
through zero-reduced-cost arcs skip the heap (a FIFO at the current key). Which residual slots the
side constraints allow is kept in an array in adjacency order, refreshed only around the detections
of each augmented path, so the searches read it sequentially.

``time_limit`` stops the search between augmentations (or inside a search, which is then dropped):
every augmentation keeps the labelling feasible, and a stopped search is completed by a greedy
insertion of the divisions that lower the energy (:func:`_insert_divisions`).

Without divisions and with one object per merger the result is an exact minimum-cost flow, that
is the global optimum of the model. With divisions (or merger side constraints) it is the dpct
heuristic: usually optimal or very close, without a certificate.
"""

from __future__ import annotations

import time

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from ..errors import InputError
from .energies import Energies
from .graph import HypothesesGraph
from .heap import heap_pop, heap_push
from .solution import Solution, constraint_violations, total_energy
from .warm_start import pair_assignments

K_NODE, K_APP, K_DIS, K_LINK, K_DSEED, K_DLINK = 0, 1, 2, 3, 4, 5
_INF = np.inf
# the clock of time.monotonic_ns (CLOCK_MONOTONIC: 1 on Linux)
_CLOCK_MONOTONIC = getattr(time, "CLOCK_MONOTONIC", 1)
# Dijkstra pops between two reads of the clock when a deadline is set (a read costs ~25 ns)
_CLOCK_EVERY = 1023
# relaxations per residual slot allowed to the labels of the final residual graph (a few suffice
# when they converge: 0.6 per slot at 10^5 detections)
_RESIDUAL_BUDGET = 4
# search rounds allowed to repair the per-frame-pair start before the min-cost-flow start is used
_REPAIR_ROUNDS = 6
# ... tried only when at most this many improving paths end at S/T in the relaxed network
_REPAIR_ENDS = 64


@intrinsic
def _monotonic_ns(typingctx):
    """``time.monotonic_ns()`` inside numba code: libc ``clock_gettime(CLOCK_MONOTONIC)`` (~25 ns).

    Called through its symbol (not a ctypes address), so the functions using it stay cacheable.
    """

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        spec = cgutils.alloca_once(builder, ir.ArrayType(i64, 2))
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i32, [i32, spec.type]),
                                            "clock_gettime")
        builder.call(fn, [ir.Constant(i32, _CLOCK_MONOTONIC), spec])
        sec = builder.load(builder.gep(spec, [ir.Constant(i32, 0), ir.Constant(i32, 0)]))
        nsec = builder.load(builder.gep(spec, [ir.Constant(i32, 0), ir.Constant(i32, 1)]))
        return builder.add(builder.mul(sec, ir.Constant(i64, 1_000_000_000)), nsec)

    return types.int64(), codegen


@numba.njit(cache=True)
def _clock_ns() -> int:
    """The clock that deadlines of :func:`_ssp` are read on (same as ``time.monotonic_ns``)."""
    return _monotonic_ns()


@numba.njit(cache=True, inline="always")
def _usable(slot, flow, kind, ref, aux, esrc, edst, xcnt, acnt, zcnt, incnt, outcnt, ylink, divact, allowed,
            m):
    """Whether residual slot (2a forward, 2a+1 backward) may be used in the current state."""
    a = slot >> 1
    fwd = (slot & 1) == 0
    if fwd == (flow[a] == 1):
        return False
    k = kind[a]
    r = ref[a]
    if k == 0:
        return not divact[r]
    if k == 1:
        return fwd and (m == 1 or incnt[r] == 0)
    if k == 2:
        return fwd and (not divact[r]) and (m == 1 or outcnt[r] == 0)
    if k == 3:
        i = esrc[r]
        if divact[i]:
            return False
        if fwd:
            if ylink[r] >= m:
                return False
            if m > 1 and (zcnt[i] > 0 or acnt[edst[r]] > 0):
                return False
        return True
    if k == 4:
        return fwd and allowed[r] and xcnt[r] == 1 and zcnt[r] == 0 and (not divact[r])
    # k == 5: division copy of link r
    if fwd:
        if ylink[r] != 0:
            return False
        if m > 1 and acnt[edst[r]] > 0:
            return False
    return True


@numba.njit(cache=True)
def _state(flow, kind, ref, esrc, edst, n_det):
    """The per-detection and per-link counters that :func:`_apply` maintains, counted from ``flow``.

    (The loop spells out :func:`_apply` with sign +1: a call per arc passing all these arrays costs
    several times more than the work.)
    """
    xcnt = np.zeros(n_det, np.int64)
    acnt = np.zeros(n_det, np.int64)
    zcnt = np.zeros(n_det, np.int64)
    incnt = np.zeros(n_det, np.int64)
    outcnt = np.zeros(n_det, np.int64)
    ylink = np.zeros(esrc.size, np.int64)
    divact = np.zeros(n_det, np.bool_)
    for a in range(flow.size):
        if flow[a] != 1:
            continue
        k = kind[a]
        r = ref[a]
        if k == 0:
            xcnt[r] += 1
        elif k == 1:
            acnt[r] += 1
        elif k == 2:
            zcnt[r] += 1
        elif k == 4:
            divact[r] = True
        else:
            ylink[r] += 1
            outcnt[esrc[r]] += 1
            incnt[edst[r]] += 1
    return xcnt, acnt, zcnt, incnt, outcnt, ylink, divact


@numba.njit(cache=True)
def _usable_range(lo, hi, flow, kind, ref, esrc, edst, xcnt, acnt, zcnt, incnt, outcnt, ylink, divact,
                  allowed, m):
    """:func:`_usable` of both residual slots of the arcs ``lo:hi``: ``out[2 (a - lo) + back]``.

    The same rules spelled out arc by arc: a call of :func:`_usable` per slot, passing all the state
    arrays, costs about 50 ns against 4 ns here.
    """
    out = np.empty(2 * (hi - lo), np.bool_)
    for a in range(lo, hi):
        used = flow[a] == 1
        k = kind[a]
        r = ref[a]
        if k == 0:
            ok_f = ok_b = not divact[r]
        elif k == 1:
            ok_f, ok_b = m == 1 or incnt[r] == 0, False
        elif k == 2:
            ok_f, ok_b = (not divact[r]) and (m == 1 or outcnt[r] == 0), False
        elif k == 3:
            i = esrc[r]
            ok_b = not divact[i]
            ok_f = ok_b and ylink[r] < m and (m == 1 or (zcnt[i] == 0 and acnt[edst[r]] == 0))
        elif k == 4:
            ok_f, ok_b = allowed[r] and xcnt[r] == 1 and zcnt[r] == 0 and (not divact[r]), False
        else:
            ok_b = True
            ok_f = ylink[r] == 0 and (m == 1 or acnt[edst[r]] == 0)
        out[2 * (a - lo)] = ok_f and not used
        out[2 * (a - lo) + 1] = ok_b and used
    return out


@numba.njit(cache=True)
def _refresh(o, dnode, adj_ptr, adj_slot, pos, usable, flow, kind, ref, esrc, edst, xcnt, acnt, zcnt, incnt,
             outcnt, ylink, divact, allowed, m):
    """Recompute ``usable`` for both slots of every arc at ``u_o``, ``v_o`` and ``D_o`` (detection o).

    Every state that :func:`_usable` reads for an arc belongs to the arc itself or to a detection at
    one of its ends, so after an augmentation refreshing the detections of the path is enough.
    """
    for w in range(3):
        x = 2 + 2 * o + w if w < 2 else dnode[o]
        if x < 0:
            continue
        for p in range(adj_ptr[x], adj_ptr[x + 1]):
            a = adj_slot[p] >> 1
            q = pos[2 * a]
            if q >= 0:
                usable[q] = _usable(2 * a, flow, kind, ref, ref, esrc, edst, xcnt, acnt, zcnt, incnt, outcnt,
                                    ylink, divact, allowed, m)
            q = pos[2 * a + 1]
            if q >= 0:
                usable[q] = _usable(2 * a + 1, flow, kind, ref, ref, esrc, edst, xcnt, acnt, zcnt, incnt,
                                    outcnt, ylink, divact, allowed, m)


@numba.njit(cache=True, inline="always")
def _apply(a, sign, kind, ref, esrc, edst, xcnt, acnt, zcnt, incnt, outcnt, ylink, divact):
    k = kind[a]
    r = ref[a]
    if k == 0:
        xcnt[r] += sign
    elif k == 1:
        acnt[r] += sign
    elif k == 2:
        zcnt[r] += sign
    elif k == 4:
        divact[r] = sign > 0
    else:
        ylink[r] += sign
        outcnt[esrc[r]] += sign
        incnt[edst[r]] += sign


@numba.njit(cache=True)
def _ssp(n_nodes, tail, head, cost, kind, ref, owner, bucket, adj_ptr, adj_slot, adj_to, adj_cost, app_first,
         dis_first, dseed_arc, esrc, edst, allowed, m, pot, max_rounds, flow, warm, skip_conflicts,
         deadline, max_augmentations):
    """Successive shortest paths from ``flow`` (updated in place); see the module docstring.

    ``deadline`` (``time.monotonic_ns`` value, 0 for none) and ``max_augmentations`` stop the search
    between two augmentations, or within a Dijkstra search (then its labels are dropped): the flow
    is then the one after the last completed augmentation. Returns the flow, the rounds, the
    augmentations, the heap pops, whether the search was stopped and whether the warm start was
    usable (False: its residual graph has a negative cycle away from S and T; nothing was done).
    """
    n_det = allowed.size
    xcnt, acnt, zcnt, incnt, outcnt, ylink, divact = _state(flow, kind, ref, esrc, edst, n_det)
    dist = np.empty(n_nodes)
    pred = np.empty(n_nodes, np.int64)
    # which residual slots may be used, in adjacency order: read sequentially by the searches and
    # refreshed around the detections of each augmented path (the only ones whose state changes);
    # evaluated in arc order (sequential reads of the arc arrays), then gathered
    by_slot = _usable_range(0, tail.size, flow, kind, ref, esrc, edst, xcnt, acnt, zcnt, incnt, outcnt, ylink,
                            divact, allowed, m)
    usable = np.empty(adj_slot.size, np.bool_)
    for p in range(adj_slot.size):
        usable[p] = by_slot[adj_slot[p]]
    if warm:
        # potentials of a warm-started (optimal, cycle-free) flow: shortest distances from a virtual
        # source joined to every node at cost 0 (FIFO label correcting)
        for x in range(n_nodes):
            dist[x] = 0.0
        left = _fifo_label_correcting(dist, np.arange(n_nodes), bucket, adj_ptr, adj_to, adj_cost, usable,
                                      30 * adj_slot.size + 1000, 1e-7, np.empty(0, np.int64))
        if left > 0:
            # a negative cycle (or too slow to settle): the start is not usable
            return flow, 0, 0, 0, False, False
        for x in range(n_nodes):
            pot[x] = dist[x]
        # no improving path at all: the start is the result (cheaper to prove than one search)
        sn, sc, _, tn, tc, _ = _st_arcs(flow, kind, ref, tail, head, cost, app_first, dis_first, dseed_arc,
                                        esrc, edst, xcnt, acnt, zcnt, incnt, outcnt, ylink, divact, allowed,
                                        m)
        if _no_cycle_through_st(pot, sn, sc, tn, tc, bucket, adj_ptr, adj_to, adj_cost, usable,
                                4 * adj_slot.size + 1000, 1e-9):
            return flow, 0, 0, 0, False, True
    pos = np.full(2 * tail.size, -1, np.int64)
    for p in range(adj_slot.size):
        pos[adj_slot[p]] = p
    dnode = np.full(n_det, -1, np.int64)
    for x in range(2 + 2 * n_det, n_nodes):
        dnode[owner[x]] = x
    hk = np.empty(4 * (adj_slot.size + 4 * n_det) + 16)
    hv = np.empty(hk.size, np.int64)
    fk = np.empty(4 * n_nodes + 16)
    fv = np.empty(fk.size, np.int64)
    mark = np.zeros(n_det, np.int64)
    n_cand = 2 * n_det + dseed_arc.size
    cand_cost = np.empty(n_cand)
    cand_slot = np.empty(n_cand, np.int64)
    seen_d = np.zeros(n_det, np.int64)
    seen_uv = np.zeros(n_det, np.int64)
    pid = 0
    valid = True
    rounds = 0
    augmentations = 0
    total_pops = 0
    bad = np.zeros(n_nodes, np.int64)
    walked = np.empty(n_nodes + 2, np.int64)
    status = np.zeros(n_nodes, np.int8)
    stack = np.empty(n_nodes, np.int64)
    stopped = False
    while rounds < max_rounds:
        if augmentations >= max_augmentations or (deadline > 0 and _monotonic_ns() > deadline):
            stopped = True
            break
        rounds += 1
        before = augmentations
        size = 0
        if skip_conflicts and rounds > 1:
            # Only the subtrees of the previous round's shortest-path tree that contain an augmented
            # detection can change: every other node keeps its tree path, whose arcs all have reduced
            # cost 0 under the updated potentials, so its label is 0 and its predecessor stays.
            _affected(n_nodes, pred, dist, mark, rounds - 1, owner, kind, head, tail, status, stack)
            for x in range(n_nodes):
                if status[x] == 1:
                    dist[x] = _INF
                    pred[x] = -1
                else:
                    dist[x] = 0.0
            dist[0] = _INF
            dist[1] = _INF
            for y in range(2, n_nodes):
                if status[y] != 1:
                    continue
                # arcs into y from unaffected nodes (the partner of each slot out of y)
                for p in range(adj_ptr[y], adj_ptr[y + 1]):
                    x = adj_to[p]
                    if status[x] != 2:
                        continue
                    slot = adj_slot[p] ^ 1
                    if not _usable(slot, flow, kind, ref, ref, esrc, edst, xcnt, acnt, zcnt, incnt, outcnt,
                                   ylink, divact, allowed, m):
                        continue
                    nd = pot[x] - adj_cost[p] - pot[y]
                    if nd < dist[y] - 1e-12:
                        dist[y] = nd
                        pred[y] = slot
                if dist[y] < _INF:
                    size = heap_push(hk, hv, size, dist[y], y)
        else:
            for x in range(n_nodes):
                dist[x] = _INF
                pred[x] = -1
        # seeds: the arcs out of S / T (the state does not change before this round's terminals)
        sn, sc, ss, tn, tc, ts = _st_arcs(flow, kind, ref, tail, head, cost, app_first, dis_first, dseed_arc,
                                          esrc, edst, xcnt, acnt, zcnt, incnt, outcnt, ylink, divact, allowed,
                                          m)
        for k in range(sn.size):
            y = sn[k]
            d = sc[k] - pot[y]
            if d < dist[y]:
                dist[y] = d
                pred[y] = ss[k]
                size = heap_push(hk, hv, size, d, y)
        pops = 0
        limit = 50 * n_nodes + 1000
        # Dijkstra; labels reached through a zero (or negative) reduced-cost arc equal the current
        # minimum, so they go to a FIFO that is drained before the heap (most arcs of the
        # shortest-path tree have reduced cost 0 once the potentials are exact)
        fh = 0
        ft = 0
        while size > 0 or fh < ft:
            if fh < ft:
                key = fk[fh]
                x = fv[fh]
                fh += 1
                if fh == ft:
                    fh = 0
                    ft = 0
            else:
                key, x, size = heap_pop(hk, hv, size)
            if key > dist[x]:
                continue
            pops += 1
            total_pops += 1
            if pops > limit:
                break
            if deadline > 0 and (pops & _CLOCK_EVERY) == 0 and _monotonic_ns() > deadline:
                stopped = True
                break
            dx = dist[x] + pot[x]
            for p in range(adj_ptr[x], adj_ptr[x + 1]):
                if not usable[p]:
                    continue
                slot = adj_slot[p]
                y = adj_to[p]
                nd = dx + adj_cost[p] - pot[y]
                if nd < dist[y] - 1e-12:
                    dist[y] = nd
                    pred[y] = slot
                    if nd <= key and ft < fk.size:
                        fk[ft] = nd
                        fv[ft] = y
                        ft += 1
                        continue
                    if size >= hk.size:
                        break
                    size = heap_push(hk, hv, size, nd, y)
        if stopped:
            break
        maxd = 0.0
        for x in range(n_nodes):
            if dist[x] < _INF and dist[x] > maxd:
                maxd = dist[x]
        for x in range(n_nodes):
            if dist[x] < _INF:
                pot[x] += dist[x]
            else:
                pot[x] += maxd
        # terminals: the arcs into S / T from reached nodes that close a negative cycle
        nc = 0
        for k in range(tn.size):
            x = tn[k]
            if dist[x] < _INF:
                c = pot[x] + tc[k]
                if c < -1e-9:
                    cand_cost[nc] = c
                    cand_slot[nc] = ts[k]
                    nc += 1
        if nc == 0:
            break
        order = np.argsort(cand_cost[:nc])
        stamp = rounds
        for oi in range(nc):
            if augmentations >= max_augmentations or (deadline > 0 and _monotonic_ns() > deadline):
                stopped = True
                break
            last = cand_slot[order[oi]]
            qa = last >> 1
            start = head[qa] if (last & 1) else tail[qa]
            # walk the tree path; stop the round at the first shared detection (nodes whose tree path
            # is known to run into one are remembered, so each node is walked once per round)
            ok = True
            x = start
            steps = 0
            nw = 0
            pid += 1
            while True:
                o = owner[x]
                if mark[o] == stamp or bad[x] == stamp:
                    ok = False
                    break
                walked[nw] = x
                nw += 1
                # a path may not touch a detection both through its division node and its own arcs
                if x >= 2 + 2 * n_det:
                    if seen_uv[o] == pid:
                        valid = False
                    seen_d[o] = pid
                else:
                    if seen_d[o] == pid:
                        valid = False
                    seen_uv[o] = pid
                slot = pred[x]
                if slot < 0:
                    ok = False
                    break
                a = slot >> 1
                if _is_seed(slot, kind):
                    break
                x = head[a] if (slot & 1) else tail[a]
                steps += 1
                if steps > n_nodes:
                    ok = False
                    break
            if not ok:
                for k in range(nw):
                    bad[walked[k]] = stamp
                if skip_conflicts:
                    continue
                break
            if not valid:
                valid = True
                continue
            x = start
            while True:
                mark[owner[x]] = stamp
                slot = pred[x]
                a = slot >> 1
                seed = _is_seed(slot, kind)
                if slot & 1:
                    flow[a] = 0
                    _apply(a, -1, kind, ref, esrc, edst, xcnt, acnt, zcnt, incnt, outcnt, ylink, divact)
                    x = head[a]
                else:
                    flow[a] = 1
                    _apply(a, 1, kind, ref, esrc, edst, xcnt, acnt, zcnt, incnt, outcnt, ylink, divact)
                    x = tail[a]
                if seed:
                    break
            sign = -1 if (last & 1) else 1
            flow[qa] = 0 if (last & 1) else 1
            _apply(qa, sign, kind, ref, esrc, edst, xcnt, acnt, zcnt, incnt, outcnt, ylink, divact)
            for k in range(nw):
                _refresh(owner[walked[k]], dnode, adj_ptr, adj_slot, pos, usable, flow, kind, ref, esrc, edst,
                         xcnt, acnt, zcnt, incnt, outcnt, ylink, divact, allowed, m)
            augmentations += 1
        if stopped or augmentations == before:
            break
    return flow, rounds, augmentations, total_pops, stopped, True


@numba.njit(cache=True, inline="always")
def _unit(flow, first, m, used):
    """Arc of the first free (``used`` 0) or last used (``used`` 1) of the m units at ``first``, or -1."""
    if used:
        for k in range(m - 1, -1, -1):
            if flow[first + k] == 1:
                return first + k
    else:
        for k in range(m):
            if flow[first + k] == 0:
                return first + k
    return -1


@numba.njit(cache=True)
def _st_arcs(flow, kind, ref, tail, head, cost, app_first, dis_first, dseed_arc, esrc, edst, xcnt, acnt, zcnt,
             incnt, outcnt, ylink, divact, allowed, m):
    """Residual arcs out of S / T and into them in the current state, as the searches seed and end.

    Returns the seeds (node y, cost, residual slot) of the arcs S/T -> y: unused appearance and
    division arcs, used disappearance arcs reversed; and the terminals (node x, cost, slot) of the
    arcs x -> S/T: unused disappearance arcs, used appearance and division arcs reversed.
    """
    n_det = allowed.size
    size = 2 * n_det + dseed_arc.size
    # the forward slots' usability of the appearance, disappearance and division-seed arcs (each
    # kind a contiguous range of arcs)
    a_lo = app_first[0] if n_det else 0
    z_lo = dis_first[0] if n_det else 0
    s_lo = dseed_arc[0] if dseed_arc.size else 0
    ua = _usable_range(a_lo, a_lo + n_det * m, flow, kind, ref, esrc, edst, xcnt, acnt, zcnt, incnt, outcnt,
                       ylink, divact, allowed, m)
    uz = _usable_range(z_lo, z_lo + n_det * m, flow, kind, ref, esrc, edst, xcnt, acnt, zcnt, incnt, outcnt,
                       ylink, divact, allowed, m)
    us = _usable_range(s_lo, s_lo + dseed_arc.size, flow, kind, ref, esrc, edst, xcnt, acnt, zcnt, incnt,
                       outcnt, ylink, divact, allowed, m)
    sn, sc, ss = np.empty(size, np.int64), np.empty(size), np.empty(size, np.int64)
    tn, tc, ts = np.empty(size, np.int64), np.empty(size), np.empty(size, np.int64)
    ns = 0
    nt = 0
    for i in range(n_det):
        q = _unit(flow, app_first[i], m, 0)
        if q >= 0 and ua[2 * (q - a_lo)]:
            sn[ns], sc[ns], ss[ns] = head[q], cost[q], 2 * q
            ns += 1
        q = _unit(flow, dis_first[i], m, 1)
        if q >= 0 and not divact[i]:
            sn[ns], sc[ns], ss[ns] = tail[q], -cost[q], 2 * q + 1
            ns += 1
        q = _unit(flow, dis_first[i], m, 0)
        if q >= 0 and uz[2 * (q - z_lo)]:
            tn[nt], tc[nt], ts[nt] = tail[q], cost[q], 2 * q
            nt += 1
        q = _unit(flow, app_first[i], m, 1)
        if q >= 0:
            tn[nt], tc[nt], ts[nt] = head[q], -cost[q], 2 * q + 1
            nt += 1
    for j in range(dseed_arc.size):
        q = dseed_arc[j]
        if flow[q] == 1:
            tn[nt], tc[nt], ts[nt] = head[q], -cost[q], 2 * q + 1
            nt += 1
        elif us[2 * j]:
            sn[ns], sc[ns], ss[ns] = head[q], cost[q], 2 * q
            ns += 1
    return sn[:ns], sc[:ns], ss[:ns], tn[:nt], tc[:nt], ts[:nt]


@numba.njit(cache=True)
def _affected(n_nodes, pred, dist, mark, stamp, owner, kind, head, tail, status, stack):
    """status 1 for nodes whose shortest-path-tree path runs through a detection augmented in round
    ``stamp`` (or that were unreached), 2 for the others (walk up the tree, memoised)."""
    for x in range(n_nodes):
        status[x] = 0
    status[0] = 2
    status[1] = 2
    for x in range(2, n_nodes):
        if status[x] != 0:
            continue
        ns = 0
        y = x
        st = 1
        while True:
            if status[y] != 0:
                st = status[y]
                break
            if ns >= stack.size:
                st = 1
                break
            stack[ns] = y
            ns += 1
            slot = pred[y]
            if mark[owner[y]] == stamp or slot < 0 or dist[y] == _INF:
                st = 1
                break
            if _is_seed(slot, kind):
                st = 2
                break
            a = slot >> 1
            y = head[a] if (slot & 1) else tail[a]
        for k in range(ns):
            status[stack[k]] = st


@numba.njit(cache=True, inline="always")
def _is_seed(slot, kind):
    k = kind[slot >> 1]
    if slot & 1:
        return k == 2
    return k == 1 or k == 4


@numba.njit(cache=True)
def _dag_potentials(n_det, m, det1, app1, link_ptr, link_src, link1, dseed_child_ptr, dseed_child, dlink1,
                    div_nodes, n_nodes):
    """Shortest distances from S in the initial (flow-free) DAG, in time order (nodes sorted by t)."""
    pot = np.zeros(n_nodes)
    for i in range(n_det):
        best = app1[i]
        for p in range(link_ptr[i], link_ptr[i + 1]):
            d = pot[3 + 2 * link_src[p]] + link1[p]
            if d < best:
                best = d
        pot[2 + 2 * i] = best
        pot[3 + 2 * i] = best + det1[i]
    for j in range(div_nodes.size):
        best = -_INF
        for p in range(dseed_child_ptr[j], dseed_child_ptr[j + 1]):
            d = pot[2 + 2 * dseed_child[p]] - dlink1[p]
            if d > best:
                best = d
        pot[2 + 2 * n_det + j] = best if best > -_INF else 0.0
    return pot


@numba.njit(cache=True)
def _residual_adjacency(tail, head, cost, n_nodes):
    """CSR over residual slots (2a: tail -> head, 2a+1: head -> tail) by origin node, leaving out
    slots that touch S (0) or T (1); within a node, forward slots in arc order, then backward ones.

    Returns the offsets, the slot ids, the far end and the signed cost of each slot.
    """
    ptr = np.zeros(n_nodes + 1, np.int64)
    for a in range(tail.size):
        if tail[a] > 1 and head[a] > 1:
            ptr[tail[a] + 1] += 1
            ptr[head[a] + 1] += 1
    for x in range(n_nodes):
        ptr[x + 1] += ptr[x]
    fill = ptr[:-1].copy()
    slot = np.empty(ptr[n_nodes], np.int64)
    to = np.empty(ptr[n_nodes], np.int64)
    c = np.empty(ptr[n_nodes])
    for back in range(2):
        for a in range(tail.size):
            if tail[a] > 1 and head[a] > 1:
                x, y, ca = (head[a], tail[a], -cost[a]) if back else (tail[a], head[a], cost[a])
                k = fill[x]
                fill[x] += 1
                slot[k] = 2 * a + back
                to[k] = y
                c[k] = ca
    return ptr, slot, to, c


@numba.njit(cache=True)
def _fifo_label_correcting(dist, start, bucket, adj_ptr, adj_to, adj_cost, usable, budget, tol, pred):
    """Label correcting (Bellman-Ford-Moore) of ``dist`` in place over the usable residual slots.

    One FIFO queue per ``bucket`` value (a node's time block, see :func:`_time_buckets`), the
    highest non-empty bucket served first: residual arcs of a labelling mostly stay in a block or
    lead one block down, so labels settle block by block instead of being corrected over and
    over (any order gives the same fixed point). The nodes ``start`` begin queued; a label
    improves only by more than ``tol``; stops at a fixed point or after ``budget`` slot
    relaxations. When ``pred`` has a place per node, it receives the adjacency position of the slot
    that last improved each label (others keep theirs). Returns how many nodes were still queued
    (0: ``dist`` is a fixed point).
    """
    record = pred.size == dist.size
    n_nodes = dist.size
    n_b = 1
    for x in range(n_nodes):
        n_b = max(n_b, bucket[x] + 1)
    first = np.full(n_b, -1, np.int64)
    last = np.full(n_b, -1, np.int64)
    nxt = np.full(n_nodes, -1, np.int64)
    inq = np.zeros(n_nodes, np.bool_)
    qn = 0
    cur = -1
    for x in start:
        if not inq[x]:
            inq[x] = True
            qn += 1
            cur = max(cur, _enqueue(x, bucket, first, last, nxt))
    while qn > 0 and budget > 0:
        while first[cur] < 0:
            cur -= 1
        x = first[cur]
        first[cur] = nxt[x]
        if first[cur] < 0:
            last[cur] = -1
        nxt[x] = -1
        qn -= 1
        inq[x] = False
        for p in range(adj_ptr[x], adj_ptr[x + 1]):
            budget -= 1
            if not usable[p]:
                continue
            y = adj_to[p]
            nd = dist[x] + adj_cost[p]
            if nd < dist[y] - tol:
                dist[y] = nd
                if record:
                    pred[y] = p
                if not inq[y]:
                    inq[y] = True
                    qn += 1
                    cur = max(cur, _enqueue(y, bucket, first, last, nxt))
    return qn


@numba.njit(cache=True, inline="always")
def _enqueue(x, bucket, first, last, nxt):
    """Append node x to the FIFO of its bucket (linked through ``nxt``); returns the bucket."""
    b = bucket[x]
    if last[b] < 0:
        first[b] = x
    else:
        nxt[last[b]] = x
    last[b] = x
    return b


@numba.njit(cache=True)
def _no_cycle_through_st(pot, seed_node, seed_cost, term_node, term_cost, bucket, adj_ptr, adj_to, adj_cost,
                         usable, budget, tol):
    """Whether no improving path exists: no negative cycle through S / T (merged into one node ST).

    ``pot`` must have non-negative reduced costs on the usable slots between other nodes. The
    distances from ST (arcs ``seed_*``: ST -> y) are found by label correcting; an improving path
    is an arc ``term_*`` (x -> ST) that closes a negative cycle. When there is none, ``pot`` becomes
    those distances (nodes ST cannot reach keep ``pot`` plus the largest change, as after a search),
    the potentials a successive-shortest-path search would have left. False when there is one, or
    when ``budget`` relaxations do not settle the labels (``pot`` is then unchanged).
    """
    n_nodes = pot.size
    lab = np.full(n_nodes, _INF)
    queue = np.empty(seed_node.size, np.int64)
    nq = 0
    for k in range(seed_node.size):
        y = seed_node[k]
        if seed_cost[k] < lab[y]:
            if lab[y] == _INF:
                queue[nq] = y
                nq += 1
            lab[y] = seed_cost[k]
    if nq and _fifo_label_correcting(lab, queue[:nq], bucket, adj_ptr, adj_to, adj_cost, usable, budget,
                                     tol, np.empty(0, np.int64)) > 0:
        return False
    for k in range(term_node.size):
        if lab[term_node[k]] + term_cost[k] < -1e-9:
            return False
    maxd = 0.0
    for x in range(n_nodes):
        if lab[x] < _INF and lab[x] - pot[x] > maxd:
            maxd = lab[x] - pot[x]
    for x in range(n_nodes):
        pot[x] = lab[x] if lab[x] < _INF else pot[x] + maxd
    return True


@numba.njit(cache=True)
def _residual_potentials(tail, head, cost, flow, pot, bucket, adj_ptr, adj_slot, adj_to, adj_cost, budget):
    """Node potentials with non-negative reduced costs on the residual arcs of ``flow`` (if it exists).

    FIFO label correcting started from ``pot`` with S and T held at 0 (arcs out of S / T relaxed
    once at the start): at a fixed point every residual arc between other nodes, and every one
    leaving S or T, has a non-negative reduced cost. A flow that is optimal for the network has
    such potentials, which then are optimal duals; otherwise (or when ``budget`` relaxations run
    out) the labels are still valid potentials for :func:`dual_bound`, just not optimal ones.
    Returns the labels and whether they reached that fixed point.
    """
    dist = pot.copy()
    dist[0] = 0.0
    dist[1] = 0.0
    for a in range(tail.size):
        if tail[a] == 0 and flow[a] == 0 and cost[a] < dist[head[a]]:
            dist[head[a]] = cost[a]
        elif head[a] == 1 and flow[a] == 1 and -cost[a] < dist[tail[a]]:
            dist[tail[a]] = -cost[a]
    usable = np.empty(adj_slot.size, np.bool_)
    for p in range(adj_slot.size):
        slot = adj_slot[p]
        usable[p] = (flow[slot >> 1] == 1) == ((slot & 1) == 1)
    left = _fifo_label_correcting(dist, np.arange(2, dist.size), bucket, adj_ptr, adj_to, adj_cost, usable,
                                  budget, 1e-9, np.empty(0, np.int64))
    return dist, left == 0


@numba.njit(cache=True)
def _relaxed_distances(tail, head, cost, flow, bucket, adj_ptr, adj_slot, adj_to, adj_cost, n_nodes,
                       budget, pred):
    """Distances from S/T (merged) in the residual graph of ``flow`` without side constraints.

    One label-correcting pass from the residual arcs out of S and T. When it settles and no
    residual arc back into S/T closes a negative cycle, ``flow`` is a minimum-cost flow of the
    relaxed network and the distances are optimal duals (:func:`dual_bound` then equals its
    energy). Returns the distances (unreached nodes: the largest one), whether that holds, and
    how many arcs into S/T close a negative cycle (-1 when the labels did not settle).
    ``pred`` (one place per node) receives each label's last slot: an adjacency position, or
    ``-2 - slot`` for the residual slot out of S/T that set it (see :func:`_augment_relaxed`).
    """
    usable = np.empty(adj_slot.size, np.bool_)
    for p in range(adj_slot.size):
        slot = adj_slot[p]
        usable[p] = (flow[slot >> 1] == 1) == ((slot & 1) == 1)
    sn, sc, ss = np.empty(tail.size, np.int64), np.empty(tail.size), np.empty(tail.size, np.int64)
    tn, tc = np.empty(tail.size, np.int64), np.empty(tail.size)
    ns = nt = 0
    for a in range(tail.size):
        x, y, c = (tail[a], head[a], cost[a]) if flow[a] == 0 else (head[a], tail[a], -cost[a])
        if x <= 1 and y > 1:
            sn[ns], sc[ns], ss[ns] = y, c, 2 * a + flow[a]
            ns += 1
        elif y <= 1 and x > 1:
            tn[nt], tc[nt] = x, c
            nt += 1
    pi = np.full(n_nodes, _INF)
    for x in range(n_nodes):
        pred[x] = -1
    for k in range(ns):
        if sc[k] < pi[sn[k]]:
            pi[sn[k]] = sc[k]
            pred[sn[k]] = -2 - ss[k]
    start = np.unique(sn[:ns])
    if _fifo_label_correcting(pi, start, bucket, adj_ptr, adj_to, adj_cost, usable, budget, 1e-9, pred) > 0:
        return pi, False, -1  # a negative cycle away from S/T, or too slow to settle
    improving = 0  # arcs back into S/T that close a negative cycle: ends of improving paths
    for k in range(nt):
        if pi[tn[k]] + tc[k] < -1e-9:
            improving += 1
    top = 0.0
    for x in range(2, n_nodes):
        if pi[x] < _INF:
            top = max(top, pi[x])
    for x in range(n_nodes):
        if pi[x] == _INF:
            pi[x] = top
    pi[0] = pi[1] = 0.0
    return pi, improving == 0, improving


@numba.njit(cache=True)
def _augment_relaxed(flow, pi, pred, tail, head, cost, adj_slot, owner, limit):
    """Augment node-disjoint improving cycles through S/T of the relaxed network, cheapest first.

    ``pi`` and ``pred`` come from a settled :func:`_relaxed_distances` pass on ``flow``: each arc
    into S/T that closes a negative cycle ends a path of the predecessor tree, which is walked back
    to its arc out of S/T and flipped in ``flow`` unless it shares a detection with one already
    flipped. The result is a flow of the relaxed network (the side constraints are checked by the
    caller). At most ``limit`` cycles are flipped; returns how many were.
    """
    n_cand = 0
    cand_cost = np.empty(tail.size)
    cand_slot = np.empty(tail.size, np.int64)
    for a in range(tail.size):
        x, y, c = (tail[a], head[a], cost[a]) if flow[a] == 0 else (head[a], tail[a], -cost[a])
        if y <= 1 and x > 1 and pred[x] != -1 and pi[x] + c < -1e-9:
            cand_cost[n_cand] = pi[x] + c
            cand_slot[n_cand] = 2 * a + flow[a]
            n_cand += 1
    order = np.argsort(cand_cost[:n_cand])
    used = np.zeros(owner.max() + 1, np.bool_)
    path = np.empty(pi.size + 1, np.int64)
    flipped = 0
    for k in order:
        if flipped >= limit:
            break
        last = cand_slot[k]
        n_path = 0
        path[n_path] = last
        n_path += 1
        a = last >> 1
        x = head[a] if (last & 1) else tail[a]
        ok = True
        while True:
            if x <= 1 or used[owner[x]] or n_path >= path.size:
                ok = False
                break
            p = pred[x]
            if p <= -2:  # the slot out of S/T that set this label
                path[n_path] = -2 - p
                n_path += 1
                break
            if p < 0:
                ok = False
                break
            slot = adj_slot[p]
            path[n_path] = slot
            n_path += 1
            b = slot >> 1
            x = tail[b] if (slot & 1) == 0 else head[b]
        if not ok:
            continue
        # the detections on the path are taken: no later cycle may cross them
        for j in range(n_path):
            b = path[j] >> 1
            for z in (tail[b], head[b]):
                if z > 1:
                    used[owner[z]] = True
            flow[b] = 1 - flow[b]
        flipped += 1
    return flipped


@numba.njit(cache=True)
def _division_node_potentials(seed_cost, ptr, breaks):
    """Per division node D, the potential p maximising ``min(0, c_seed - p) + sum_j min(0, p - b_j)``.

    ``breaks[ptr[k]:ptr[k + 1]]`` are the ``b_j = pi(u_j) - c_j`` of the arcs out of node k; the
    function is concave and piecewise linear, so its maximum is at one of the breakpoints.
    """
    out = np.empty(seed_cost.size)
    for k in range(seed_cost.size):
        best_p = seed_cost[k]
        best = -np.inf
        for c in range(ptr[k] - 1, ptr[k + 1]):
            p = seed_cost[k] if c < ptr[k] else breaks[c]
            f = min(0.0, seed_cost[k] - p)
            for j in range(ptr[k], ptr[k + 1]):
                f += min(0.0, p - breaks[j])
            if f > best:
                best = f
                best_p = p
        out[k] = best_p
    return out


@numba.njit(cache=True)
def _insert_divisions(src, dst, link_gain, division_gain, appearance_gain, allowed, count, appearance,
                      disappearance, link_value, division):
    """Greedy primal repair of a labelling: turn track starts into daughters where that lowers the energy.

    A detection ``i`` that may divide, carries one object, continues on exactly one link and does
    not disappear divides onto an unused link ``i -> j`` when ``j`` carries one object that appears
    there (``j`` then takes its object from ``i``): every constraint of the model still holds, and
    the energy changes by ``division_gain[i] + link_gain[e] + appearance_gain[j]`` (marginal costs,
    applied in increasing order while negative, each detection used once). Updates the arrays in
    place and returns the number of divisions added.
    """
    n = count.size
    outflow = np.zeros(n, np.int64)
    for e in range(src.size):
        outflow[src[e]] += link_value[e]
    delta = np.full(src.size, np.inf)
    for e in range(src.size):
        i, j = src[e], dst[e]
        if (allowed[i] and not division[i] and count[i] == 1 and outflow[i] == 1 and disappearance[i] == 0
                and link_value[e] == 0 and count[j] == 1 and appearance[j] == 1):
            delta[e] = division_gain[i] + link_gain[e] + appearance_gain[j]
    used = np.zeros(n, np.bool_)
    added = 0
    for e in np.argsort(delta):
        if not delta[e] < 0:
            break
        i, j = src[e], dst[e]
        if used[i] or used[j]:
            continue
        used[i] = True
        used[j] = True
        division[i] = True
        link_value[e] = 1
        appearance[j] = 0
        added += 1
    return added


def dual_bound(tail: np.ndarray, head: np.ndarray, cost: np.ndarray, kind: np.ndarray, pot: np.ndarray,
               base: float) -> float:
    """Lower bound on the tracking energy from node potentials of the flow graph (Lagrangian dual).

    Every labelling that satisfies the model of spec §4.8 is a circulation in the flow graph (unit
    arcs, S and T joined by an arc of cost 0) whose cost is its energy minus ``base`` (the energy of
    the all-zero labelling): the division arcs ``S -> D_i -> u_j`` relax the side constraints. For
    any potentials pi, a circulation f with 0 <= f <= 1 costs
    ``sum_a c_a f_a = sum_a (c_a + pi_tail - pi_head) f_a >= sum_a min(0, c_a + pi_tail - pi_head)``,
    so that sum plus ``base`` bounds the optimal energy from below, whatever pi. ``pot`` gives pi
    of the detection nodes (the successive-shortest-path potentials, near-optimal duals), S and T
    get 0, and each division node the potential that maximises its own terms.
    """
    pi = np.asarray(pot, np.float64).copy()
    pi[:2] = 0.0
    seeds = np.flatnonzero(kind == K_DSEED)
    if seeds.size:
        dlink = np.flatnonzero(kind == K_DLINK)
        order = np.argsort(tail[dlink], kind="stable")
        dlink = dlink[order]
        d_nodes = head[seeds]  # consecutive ids, in the order of their seed arcs
        ptr = _offsets(tail[dlink] - d_nodes[0], seeds.size)
        breaks = pi[head[dlink]] - cost[dlink]
        d_pot = _division_node_potentials(cost[seeds].astype(np.float64), ptr, breaks)
        pi[d_nodes] = d_pot
    reduced = cost + pi[tail] - pi[head]
    return float(base + np.minimum(reduced, 0.0).sum())


def _offsets(keys: np.ndarray, n: int) -> np.ndarray:
    """CSR offsets (n + 1,) of the sorted integer ``keys`` in [0, n)."""
    out = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=out[1:])
    return out


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
