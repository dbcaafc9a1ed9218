"""Warm starts of the flow solver: one sparse assignment per pair of consecutive frames.

When every detection is used once (count 1), the tracking energy separates by frame pair: the
choices of frame ``t``'s out-sides (a link to ``t + 1``, a division's second link, or a
disappearance) and of frame ``t + 1``'s in-sides (a link or an appearance) touch no other pair.
Each pair is then a linear assignment problem with the usual dummy rows and columns for
appearances and disappearances (the lower-right block holds the transposed link pattern, so any
set of real matches can be completed), plus one row per detection that may divide (its
division node, matched either to a child at ``division cost + link cost`` or to its own dummy
column at 0). :func:`pair_assignments` solves every pair with scipy's sparse LAPJV
(``min_weight_full_bipartite_matching``).

The result is the optimum of the model restricted to "every detection is used". Its residual
graph has no negative cycle that avoids the source and sink (every path forward in time would need
an unused detection), so potentials exist, and the flow solver can prove cheaply whether it is
also the optimum of the whole model (:func:`~.flow.solve_flow` uses it then, and otherwise starts
from the exact flow without divisions).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import min_weight_full_bipartite_matching


def pair_assignments(
    t: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    link_cost: np.ndarray,
    appearance_cost: np.ndarray,
    disappearance_cost: np.ndarray,
    division_cost: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cheapest labelling with every detection used, one frame pair at a time.

    Parameters
    ----------
    t : (n,) int
        Frame of each detection, sorted.
    src, dst : (E,) int
        Links from frame ``t`` to ``t + 1``.
    link_cost : (E,) float
        Cost of using each link (relative to not using it).
    appearance_cost, disappearance_cost : (n,) float
        Cost of starting / ending a track at each detection.
    division_cost : (n,) float, optional
        Cost of a division at each detection; NaN where a detection may not divide. None: no
        divisions.

    Returns
    -------
    appear, disappear : (n,) bool
        Detections whose track starts / ends there.
    link, second : (E,) bool
        Links used; ``second`` marks the division's second link (the one the division node
        takes), so a dividing parent has one ``link`` and one ``second``.

    Examples
    --------
    >>> t = np.array([0, 0, 1, 1])
    >>> src, dst = np.array([0, 0, 1]), np.array([2, 3, 3])
    >>> app, dis, link, second = pair_assignments(
    ...     t, src, dst, np.array([1.0, 5.0, 1.0]), np.full(4, 50.0), np.full(4, 50.0))
    >>> link.tolist(), app.tolist()
    ([True, False, True], [True, True, False, False])
    """
    t = np.asarray(t)
    src = np.asarray(src, np.int64)
    dst = np.asarray(dst, np.int64)
    n, n_links = t.size, src.size
    appear = np.ones(n, bool)
    disappear = np.ones(n, bool)
    link = np.zeros(n_links, bool)
    second = np.zeros(n_links, bool)
    if n_links == 0:
        return appear, disappear, link, second
    div = np.full(n, np.nan) if division_cost is None else np.asarray(division_cost, np.float64)
    frames, starts = np.unique(t, return_index=True)
    ends = np.append(starts[1:], n)
    block_of_link = np.searchsorted(frames, t[src])
    order = np.argsort(block_of_link, kind="stable")
    link_ptr = np.searchsorted(block_of_link[order], np.arange(frames.size + 1))
    for f in range(frames.size - 1):
        sel = order[link_ptr[f]:link_ptr[f + 1]]
        if sel.size == 0:
            continue
        a0, a1, b1 = starts[f], ends[f], ends[f + 1]
        _solve_pair(a0, a1, b1, sel, src, dst, link_cost, appearance_cost, disappearance_cost, div,
                    appear, disappear, link, second)
    return appear, disappear, link, second


def _solve_pair(a0, a1, b1, sel, src, dst, link_cost, appearance_cost, disappearance_cost, div,
                appear, disappear, link, second):
    """One frame pair: out-sides ``a0:a1`` (frame t), in-sides ``a1:b1`` (frame t + 1)."""
    na, nb = a1 - a0, b1 - a1
    li, lj = src[sel] - a0, dst[sel] - a1
    # division rows for the detections of frame t that may divide and have a link
    can = ~np.isnan(div[a0:a1])
    has_link = np.zeros(na, bool)
    has_link[li] = True
    div_nodes = np.flatnonzero(can & has_link)
    nd = div_nodes.size
    drow = np.full(na, -1, np.int64)
    drow[div_nodes] = np.arange(nd)
    dl = np.flatnonzero(drow[li] >= 0)  # links whose parent may divide
    ra, rb, rd = np.arange(na), np.arange(nb), np.arange(nd)
    # rows: v (na) | D (nd) | a (nb);  cols: u (nb) | z (na) | zd (nd)
    rows = np.concatenate([li, na + drow[li[dl]], ra, na + rd, na + nd + rb,
                           na + nd + lj, na + nd + lj[dl]])
    cols = np.concatenate([lj, lj[dl], nb + ra, nb + na + rd, rb,
                           nb + li, nb + na + drow[li[dl]]])
    lc = link_cost[sel]
    w = np.concatenate([lc, div[a0:a1][li[dl]] + lc[dl], disappearance_cost[a0:a1], np.zeros(nd),
                        appearance_cost[a1:b1], np.zeros(sel.size), np.zeros(dl.size)])
    size = na + nd + nb
    # scipy keeps explicit zeros out of the edge set: shift every weight to >= 1 (a perfect matching
    # has ``size`` edges, so the shift does not change which one is cheapest)
    w = w + (1.0 - w.min())
    mat = sp.csr_matrix((w, (rows, cols)), shape=(size, size))
    r, c = min_weight_full_bipartite_matching(mat)
    col_of = np.empty(size, np.int64)
    col_of[r] = c
    # v rows
    vc = col_of[:na]
    to_u = vc < nb
    disappear[a0:a1] = ~to_u
    # a rows: appearance iff matched to its own u
    ac = col_of[na + nd:]
    appear[a1:b1] = ac < nb
    # links: map (i, j) -> link index of the pair
    key = li * nb + lj
    korder = np.argsort(key)
    ks = key[korder]

    def find(i, j):
        pos = np.searchsorted(ks, i * nb + j)
        return sel[korder[pos]]

    vi = np.flatnonzero(to_u)
    link[find(vi, vc[vi])] = True
    if nd:
        dc = col_of[na:na + nd]
        dk = np.flatnonzero(dc < nb)
        parents = div_nodes[dk]
        ok = to_u[parents]
        # a division node with a child while its parent disappears is not a division: the parent
        # takes that child instead (never dearer unless a division is cheaper than nothing at all)
        bad = parents[~ok]
        if bad.size:
            link[find(bad, dc[dk[~ok]])] = True
            disappear[a0 + bad] = False
        good = dk[ok]
        second[find(div_nodes[good], dc[good])] = True
