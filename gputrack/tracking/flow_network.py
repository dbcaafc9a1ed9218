"""The flow network of conservation tracking and the side-constraint state of a labelling.

The graph follows dpct: per detection i an arc ``u_i -> v_i`` (one unit arc per object, marginal
detection costs), appearance arcs ``S -> u_i``, disappearance arcs ``v_i -> T``, link arcs
``v_i -> u_j`` and, for detections that may divide, a duplicate node ``D_i`` fed by ``S -> D_i``
(marginal division cost) with copies of the outgoing links (capacity 1); ``K_*`` name the arc
kinds. Residual slot ``2a`` is arc ``a`` forward, ``2a + 1`` backward. Which slots the model's side
constraints allow in the current state is kept in an array in adjacency order and refreshed only
around the detections of each augmented path, so the searches read it sequentially.
"""

from __future__ import annotations

import numba
import numpy as np

K_NODE, K_APP, K_DIS, K_LINK, K_DSEED, K_DLINK = 0, 1, 2, 3, 4, 5
_INF = np.inf


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


@numba.njit(cache=True, inline="always")
def _is_seed(slot, kind):
    k = kind[slot >> 1]
    if slot & 1:
        return k == 2
    return k == 1 or k == 4


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


def _offsets(keys: np.ndarray, n: int) -> np.ndarray:
    """CSR offsets (n + 1,) of the sorted integer ``keys`` in [0, n)."""
    out = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=out[1:])
    return out
