"""k nearest neighbours between consecutive frames, on a uniform grid (compiled).

Each frame's points are binned into cubic cells about two points wide; a query visits the cells
ring by ring around its own and stops once the next ring cannot hold a point closer than its k-th
best or than the maximum distance. Ties are broken by the lower point index, so the result is the
exact k-nearest set, deterministic, and independent of the order of the work. The frame pairs
run one after the other: numba's parallel loop gained little on two cores and its first call in a
process cost 0.1 s more to load.
"""

from __future__ import annotations

import numba
import numpy as np

from ..threads import thread_map


@numba.njit(cache=True)
def _grid(points, h):
    """Bin ``points`` (n, 3) into cells of side ``h``: origin, cells per axis, CSR offsets, point order."""
    n = points.shape[0]
    lo = np.empty(3)
    dims = np.ones(3, np.int64)
    for d in range(3):
        mn, mx = np.inf, -np.inf
        for i in range(n):
            v = points[i, d]
            mn = min(mn, v)
            mx = max(mx, v)
        lo[d] = mn
        dims[d] = int((mx - mn) / h) + 1
    ncell = dims[0] * dims[1] * dims[2]
    cell = np.empty(n, np.int64)
    ptr = np.zeros(ncell + 1, np.int64)
    for i in range(n):
        c = 0
        for d in range(3):
            c = c * dims[d] + min(int((points[i, d] - lo[d]) / h), dims[d] - 1)
        cell[i] = c
        ptr[c + 1] += 1
    for c in range(ncell):
        ptr[c + 1] += ptr[c]
    fill = ptr[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        order[fill[cell[i]]] = i
        fill[cell[i]] += 1
    return lo, dims, ptr, order


@numba.njit(cache=True)
def _cell_side(points, per_cell):
    """Cell side giving about ``per_cell`` points per cell over the bounding box of ``points``."""
    n = points.shape[0]
    if n == 0:
        return 1.0
    vol = 1.0
    dim = 0
    for d in range(3):
        mn, mx = points[0, d], points[0, d]
        for i in range(1, n):
            mn = min(mn, points[i, d])
            mx = max(mx, points[i, d])
        ext = mx - mn
        if ext > 0:
            vol *= ext
            dim += 1
    if dim == 0:
        return 1.0
    return max((vol * per_cell / n) ** (1.0 / dim), 1e-9)


@numba.njit(cache=True, inline="always")
def _cell_of(v, lo, h):
    return int(np.floor((v - lo) / h))


@numba.njit(cache=True)
def _query(qz, qy, qx, points, h, lo, dims, ptr, order, k, r2, bd, bi):
    """The k nearest ``points`` of (qz, qy, qx) closer than sqrt(``r2``): fills ``bd``/``bi`` (squared
    distance, index; ascending), returns how many."""
    nz, ny, nx = dims[0], dims[1], dims[2]
    cz, cy, cx = _cell_of(qz, lo[0], h), _cell_of(qy, lo[1], h), _cell_of(qx, lo[2], h)
    reach = max(abs(cz), abs(cz - nz + 1), abs(cy), abs(cy - ny + 1), abs(cx), abs(cx - nx + 1))
    found = 0
    for ring in range(reach + 1):
        gap = (ring - 1) * h
        if ring > 1 and (gap * gap >= r2 or (found == k and gap * gap > bd[k - 1])):
            break
        for iz in range(max(cz - ring, 0), min(cz + ring, nz - 1) + 1):
            for iy in range(max(cy - ring, 0), min(cy + ring, ny - 1) + 1):
                edge = abs(iz - cz) == ring or abs(iy - cy) == ring
                for ix in range(max(cx - ring, 0), min(cx + ring, nx - 1) + 1):
                    if not edge and abs(ix - cx) != ring:
                        continue  # inside the ring: visited before
                    c = (iz * ny + iy) * nx + ix
                    for p in range(ptr[c], ptr[c + 1]):
                        j = order[p]
                        dz, dy, dx = points[j, 0] - qz, points[j, 1] - qy, points[j, 2] - qx
                        d2 = dz * dz + dy * dy + dx * dx
                        if d2 >= r2:
                            continue
                        if found == k and (d2 > bd[k - 1] or (d2 == bd[k - 1] and j > bi[k - 1])):
                            continue
                        s = found if found < k else k - 1
                        while s > 0 and (bd[s - 1] > d2 or (bd[s - 1] == d2 and bi[s - 1] > j)):
                            bd[s] = bd[s - 1]
                            bi[s] = bi[s - 1]
                            s -= 1
                        bd[s] = d2
                        bi[s] = j
                        if found < k:
                            found += 1
    return found


@numba.njit(cache=True, nogil=True)
def _one_way(qpts, rpts, k, r2, link_all):
    """Each query's k nearest references: indices (nq, k) in ascending distance and counts (nq,)."""
    nq, nr = qpts.shape[0], rpts.shape[0]
    nbr = np.empty((nq, k), np.int64)
    cnt = np.zeros(nq, np.int64)
    if link_all and nr <= k:  # ilastik quirk: a small target frame is linked entirely
        for i in range(nq):
            for j in range(nr):
                nbr[i, j] = j
            cnt[i] = nr
        return nbr, cnt
    h = _cell_side(rpts, 1.0)
    lo, dims, ptr, order = _grid(rpts, h)
    bd = np.empty(k)
    for i in range(nq):
        cnt[i] = _query(qpts[i, 0], qpts[i, 1], qpts[i, 2], rpts, h, lo, dims, ptr, order, k, r2, bd, nbr[i])
    return nbr, cnt


@numba.njit(cache=True, nogil=True)
def _pair_links(fwd, fcnt, bwd, bcnt, src, dst, w, a0, b0):
    """Write the union of the forward (:func:`_one_way` from frame a) and backward links of one frame
    pair at ``w``, sorted; returns the end."""
    na, nb = fwd.shape[0], bwd.shape[0]
    # backward links regrouped by their point in frame a (CSR)
    ptr = np.zeros(na + 1, np.int64)
    for j in range(nb):
        for s in range(bcnt[j]):
            ptr[bwd[j, s] + 1] += 1
    for i in range(na):
        ptr[i + 1] += ptr[i]
    back = np.empty(ptr[na], np.int64)
    fill = ptr[:-1].copy()
    for j in range(nb):
        for s in range(bcnt[j]):
            i = bwd[j, s]
            back[fill[i]] = j
            fill[i] += 1
    for i in range(na):
        start = w
        for s in range(fcnt[i] + ptr[i + 1] - ptr[i]):
            j = fwd[i, s] if s < fcnt[i] else back[ptr[i] + s - fcnt[i]]
            q = w  # insertion into the sorted run [start, w), skipping a duplicate
            while q > start and dst[q - 1] > b0 + j:
                q -= 1
            if q > start and dst[q - 1] == b0 + j:
                continue
            for r in range(w, q, -1):
                dst[r] = dst[r - 1]
            dst[q] = b0 + j
            w += 1
        for r in range(start, w):
            src[r] = a0 + i
    return w


def frame_pair_knn(
    pos: np.ndarray,
    t: np.ndarray,
    k: int,
    max_distance: float,
    link_all: bool = False,
    offsets: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Links between consecutive frames: each point's k nearest in the next frame, and back.

    The union of the forward (each point of frame f to its k nearest of frame f + 1) and backward
    (each point of f + 1 to its k nearest of f) neighbours strictly closer than ``max_distance``;
    ties in distance go to the lower index. Frames that are not consecutive get no links.

    Parameters
    ----------
    pos : (n, 3) float64
        Positions, rows sorted by frame.
    t : (n,) int
        Frame of each row (non-decreasing).
    k : int
    max_distance : float
    link_all : bool
        ilastik's quirk: when the target frame has at most k points, link to all of them
        regardless of distance.
    offsets : (n, 3) float64, optional
        Predicted displacement of each point to the next frame: the neighbours of a point of
        frame f are searched around ``pos + offsets`` in frame f + 1 (a motion model).

    Returns
    -------
    src, dst : (E,) int64
        Sorted by ``(src, dst)``; ``t[dst] == t[src] + 1``.

    Examples
    --------
    >>> pos = np.array([[0., 0., 0.], [0., 1., 0.], [0., 50., 0.]])
    >>> src, dst = frame_pair_knn(pos, np.array([0, 1, 1]), 1, 10.0)
    >>> src.tolist(), dst.tolist()
    ([0], [1])
    """
    pos = np.ascontiguousarray(pos, np.float64)
    t = np.asarray(t, np.int64)
    frames, starts = np.unique(t, return_index=True)
    ends = np.append(starts[1:], t.size).astype(np.int64)
    consecutive = np.diff(frames) == 1
    if consecutive.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = starts.astype(np.int64)
    off = np.zeros_like(pos) if offsets is None else np.ascontiguousarray(offsets, np.float64)
    # the frame pairs from Python, one compiled call each: a compiled loop around them would
    # compile (and optimise) all of the search once more, for a few microseconds per pair
    k, r2, link_all = int(k), float(max_distance) * float(max_distance), bool(link_all)
    size = k * (ends - starts)
    cap = np.zeros(consecutive.size + 1, np.int64)
    np.cumsum(np.where(consecutive, size[:-1] + size[1:], 0), out=cap[1:])
    src = np.empty(cap[-1], np.int64)
    dst = np.empty(cap[-1], np.int64)

    def pair(f: int) -> slice:  # the compiled calls release the GIL; pairs write disjoint ranges
        a0, a1, b0, b1 = starts[f], ends[f], starts[f + 1], ends[f + 1]
        pa, pb = pos[a0:a1] + off[a0:a1], pos[b0:b1]
        fwd, fcnt = _one_way(pa, pb, k, r2, link_all)
        bwd, bcnt = _one_way(pb, pa, k, r2, link_all)
        return slice(cap[f], _pair_links(fwd, fcnt, bwd, bcnt, src, dst, cap[f], a0, b0))

    kept = thread_map(pair, np.flatnonzero(consecutive).tolist())
    if not kept:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate([src[s] for s in kept]), np.concatenate([dst[s] for s in kept])
