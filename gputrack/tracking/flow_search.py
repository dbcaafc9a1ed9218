"""Shortest-path search rounds on the residual network (successive shortest paths).

Paths are found by Dijkstra on reduced costs (Johnson potentials, initialised by one
dynamic-programming sweep over the time-ordered DAG); arcs that the side constraints forbid in the
current state are skipped, and nodes whose label improves after settling are re-expanded, so arcs
re-enabled with a negative reduced cost are handled correctly. Several paths are augmented per
round: terminal candidates in increasing cost order while their tree paths share no detection with
those already augmented (such a path stays shortest, since distances never decrease in successive
shortest paths). After a warm start with divisions, a conflicting candidate is skipped instead of
ending the round, and after the first division round only the subtrees below augmented detections
are searched again. Nodes reached through zero-reduced-cost arcs skip the heap (a FIFO at the
current key).
"""

from __future__ import annotations

import time

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from .flow_certificate import _fifo_label_correcting, _no_cycle_through_st
from .flow_network import (
    _INF,
    _apply,
    _is_seed,
    _refresh,
    _st_arcs,
    _state,
    _usable,
    _usable_range,
)
from .heap import heap_pop, heap_push

# the clock of time.monotonic_ns (CLOCK_MONOTONIC: 1 on Linux)
_CLOCK_MONOTONIC = getattr(time, "CLOCK_MONOTONIC", 1)
# Dijkstra pops between two reads of the clock when a deadline is set (a read costs ~25 ns)
_CLOCK_EVERY = 1023


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




