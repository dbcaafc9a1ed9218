"""Repairs of a labelling without a search: flipped improving cycles and greedy division insertion.

When the certificate check finds only a few improving paths, its own improving cycles (node-disjoint,
cheapest first, walked back along its predecessors) are flipped and the check runs again; a search
stopped by its time limit is completed by inserting, greedily, the divisions that lower the energy.
"""

from __future__ import annotations

import numba
import numpy as np


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
