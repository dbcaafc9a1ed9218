"""Optimality checks of a labelling: label-correcting passes and the Lagrangian dual bound.

One label-correcting pass from S and T (merged into one node) over the residual graph without the
side constraints certifies a labelling: when the labels settle and no arc back into S/T closes a
negative cycle, it is a minimum-cost flow of the relaxed network (every labelling of the model is a
flow of that network), the labels are optimal duals and :func:`dual_bound` equals its energy, a
zero-gap certificate of global optimality, divisions included. The same passes give the potentials
the searches of :mod:`.flow_search` start from.
"""

from __future__ import annotations

import numba
import numpy as np

from .flow_network import _INF, K_DLINK, K_DSEED, _offsets


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
    # the distinct seeded nodes in increasing order (a mark per node: no compiled sort)
    seeded = np.zeros(n_nodes, np.bool_)
    n_start = 0
    for k in range(ns):
        if not seeded[sn[k]]:
            seeded[sn[k]] = True
            n_start += 1
    start = np.empty(n_start, np.int64)
    n_start = 0
    for x in range(n_nodes):
        if seeded[x]:
            start[n_start] = x
            n_start += 1
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
