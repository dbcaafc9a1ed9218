"""Seeded watershed from cores, ilastik's threshold method 3 ("don't merge objects").

ilastik (``ipht.threshold_from_cores``) floods the inverted image ``cost = max - v`` (float32,
``max`` the frame's maximum) from the size-filtered cores with vigra's ``watershedsNew``
(``seededWatersheds``, face connectivity) and stops at ``max - low``. Touching objects keep
their own cores' ids instead of merging as in hysteresis.

What is computed (the same on CPU and GPU, independent of any processing order):

- the *mask* is ``cost <= max_cost``; seeds are the pixels with a label ``> 0``;
- ``W``, the flooding level: ``cost`` on a seed; on a mask pixel the smallest, over paths
  from a seed through mask pixels, of the largest cost on the path; infinite elsewhere;
- every mask pixel with a finite level takes the label of its face neighbour ``n`` that
  floods first: smallest ``W[n]``, then smallest depth ``D[n]`` (steps from the seeds along
  such neighbours), then smallest raster index;
- as in vigra, which labels a pixel when a labelled neighbour is flooded (before testing
  its cost), the pixels off the mask (but not NaN) that touch a flooded pixel are
  labelled too, by the same rule: ilastik's objects carry a one-pixel rim just below
  the low threshold.

Where the flooding order is unambiguous (no two neighbours of a pixel with equal levels
and different labels, true for all but measure-zero inputs) this is exactly the result of
vigra's flooding and, inside the mask, of :func:`skimage.segmentation.watershed` on
``cost`` with the same markers and mask. Ties are resolved by the rule above, not by
vigra's heap order. A frame without cores has no objects (vigra would seed from the
image's minima instead).

The GPU path keeps every pixel on the device: relaxation kernels (``kernels/watershed.cu``)
lower ``W`` and ``D`` to their fixed points, then pointer jumping links every pixel to its
seed; one flag per pass crosses to the host. The CPU twin (numba) computes the same
quantities with a priority flood and one breadth-first pass.

Examples
--------
>>> import numpy as np
>>> v = np.array([[0.9, 0.7, 0.4, 0.6, 0.95, 0.1]], np.float32)
>>> seeds = np.array([[1, 0, 0, 0, 2, 0]], np.uint32)
>>> cost, max_cost = inverted(v, 0.5)
>>> flood(cost, seeds, max_cost)  # 0.4 is the rim of object 1, 0.1 the rim of object 2
array([[1, 1, 1, 2, 2, 2]], dtype=uint32)
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from .. import backend

_THREADS = 256
_PASSES_PER_CHECK = 8
_KERNELS = ("ws_level", "ws_depth", "ws_parent", "ws_jump")


def inverted(volume: Any, low: float) -> tuple[Any, float]:
    """ilastik's flooding cost ``max - v`` (float32) and stop level ``max - low``.

    Examples
    --------
    >>> import numpy as np
    >>> cost, stop = inverted(np.array([0.25, 1.0], np.float32), 0.5)
    >>> cost.tolist(), stop
    ([0.75, 0.0], 0.5)
    """
    xp = backend.namespace_of(volume)
    vol = volume.astype(xp.float32, copy=False)
    if vol.size == 0:
        return vol.copy(), float(-np.float32(low))
    top = xp.nanmax(vol)
    return (top - vol).astype(xp.float32), float(np.float32(float(top)) - np.float32(low))


def flood(cost: Any, seeds: Any, max_cost: float) -> Any:
    """Flood ``cost`` from ``seeds`` up to ``max_cost`` (see the module docstring).

    Parameters
    ----------
    cost
        ``(z, y, x)`` or ``(y, x)`` float32 cost (numpy or cupy; the device follows it).
    seeds
        Labels of the same shape, ``0`` = unseeded; a seed's label never changes.
    max_cost
        Mask pixels are those with ``cost <= max_cost``.

    Returns
    -------
    array of uint32
        The seeds' labels grown over the mask (plus the one-pixel rim).

    Examples
    --------
    >>> import numpy as np
    >>> flood(np.array([[0, 1, 2, 1, 0]], np.float32), np.array([[1, 0, 0, 0, 2]]), 1.5)
    array([[1, 1, 1, 2, 2]], dtype=uint32)
    """
    xp = backend.namespace_of(cost)
    shape = cost.shape
    c = xp.ascontiguousarray(cost, dtype=xp.float32).reshape((-1,) + shape[-2:])
    s = xp.ascontiguousarray(seeds).astype(xp.uint32, copy=False).reshape(c.shape)
    stop = np.float32(max_cost)
    if backend.device_of(cost) == "cpu":
        out = np.zeros(c.shape, np.uint32)
        _flood_twin(c, s, stop, out)
        return out.reshape(shape)
    return _flood_gpu(xp, c, s, stop).reshape(shape)


# --------------------------------------------------------------------------- CPU twin


@numba.njit(cache=True, nogil=True)
def _neighbours(i, nz, ny, nx, nb):
    plane = ny * nx
    x = i % nx
    y = (i // nx) % ny
    z = i // plane
    k = 0
    if x > 0:
        nb[k] = i - 1
        k += 1
    if x < nx - 1:
        nb[k] = i + 1
        k += 1
    if y > 0:
        nb[k] = i - nx
        k += 1
    if y < ny - 1:
        nb[k] = i + nx
        k += 1
    if z > 0:
        nb[k] = i - plane
        k += 1
    if z < nz - 1:
        nb[k] = i + plane
        k += 1
    return k


@numba.njit(cache=True, nogil=True)
def _heap_push(keys, items, size, key, item):
    j = size
    keys[j] = key
    items[j] = item
    while j > 0:
        p = (j - 1) // 2
        if keys[p] <= keys[j]:
            break
        keys[p], keys[j] = keys[j], keys[p]
        items[p], items[j] = items[j], items[p]
        j = p
    return size + 1


@numba.njit(cache=True, nogil=True)
def _heap_pop(keys, items, size):
    key, item = keys[0], items[0]
    size -= 1
    keys[0], items[0] = keys[size], items[size]
    j = 0
    while True:
        a = 2 * j + 1
        if a >= size:
            break
        b = a + 1
        if b < size and keys[b] < keys[a]:
            a = b
        if keys[j] <= keys[a]:
            break
        keys[j], keys[a] = keys[a], keys[j]
        items[j], items[a] = items[a], items[j]
        j = a
    return key, item, size


@numba.njit(cache=True, nogil=True)
def _flood_twin(cost, seeds, max_cost, out):
    nz, ny, nx = cost.shape
    c = cost.ravel()
    s = seeds.ravel()
    o = out.ravel()
    n = c.size
    inf = np.float32(np.inf)
    mask = np.zeros(n, np.bool_)
    level = np.full(n, inf, np.float32)
    depth = np.full(n, -1, np.int64)
    nb = np.empty(6, np.int64)
    # levels: a priority flood (a pixel re-enters the heap only when its level drops)
    keys = np.empty(2 * n + 16, np.float32)
    items = np.empty(2 * n + 16, np.int64)
    size = 0
    for i in range(n):
        mask[i] = c[i] <= max_cost
        if s[i] != 0:
            level[i] = c[i]
            size = _heap_push(keys, items, size, c[i], i)
    while size > 0:
        key, p, size = _heap_pop(keys, items, size)
        if key > level[p]:
            continue
        k = _neighbours(p, nz, ny, nx, nb)
        for j in range(k):
            q = nb[j]
            if s[q] != 0 or not mask[q]:
                continue
            w = c[q] if c[q] > key else key
            if w < level[q]:
                level[q] = w
                if size == keys.size:
                    keys = np.concatenate((keys, np.empty(keys.size, np.float32)))
                    items = np.concatenate((items, np.empty(items.size, np.int64)))
                size = _heap_push(keys, items, size, w, q)
    # depths: breadth first from the seeds along "floods first" neighbours
    order = np.empty(n, np.int64)
    head = 0
    tail = 0
    for i in range(n):
        if s[i] != 0:
            depth[i] = 0
            order[tail] = i
            tail += 1
    while head < tail:
        p = order[head]
        head += 1
        k = _neighbours(p, nz, ny, nx, nb)
        for j in range(k):
            q = nb[j]
            if depth[q] >= 0 or s[q] != 0 or not mask[q] or not level[q] < inf:
                continue
            if level[p] == _min_level(level, q, nz, ny, nx):
                depth[q] = depth[p] + 1
                order[tail] = q
                tail += 1
    # labels in breadth-first order (a parent precedes its children), then the rim
    for i in range(n):
        o[i] = s[i]
    for t in range(tail):
        q = order[t]
        if s[q] == 0:
            o[q] = o[_parent(level, depth, q, nz, ny, nx, nb)]
    for q in range(n):
        if mask[q] or s[q] != 0 or c[q] != c[q]:
            continue
        k = _neighbours(q, nz, ny, nx, nb)
        touches = False
        for j in range(k):
            if level[nb[j]] < inf:
                touches = True
        if touches:
            o[q] = o[_parent(level, depth, q, nz, ny, nx, nb)]


@numba.njit(cache=True, nogil=True)
def _min_level(level, q, nz, ny, nx):
    nb = np.empty(6, np.int64)
    k = _neighbours(q, nz, ny, nx, nb)
    m = np.float32(np.inf)
    for j in range(k):
        if level[nb[j]] < m:
            m = level[nb[j]]
    return m


@numba.njit(cache=True, nogil=True)
def _parent(level, depth, q, nz, ny, nx, nb):
    m = _min_level(level, q, nz, ny, nx)
    k = _neighbours(q, nz, ny, nx, nb)
    best = -1
    best_d = 0
    for j in range(k):
        r = nb[j]
        if level[r] == m and (best < 0 or depth[r] < best_d or (depth[r] == best_d and r < best)):
            best = r
            best_d = depth[r]
    return best


# --------------------------------------------------------------------------- GPU


def _until_stable(cp: Any, launch, changed: Any) -> None:
    """Repeat ``launch()`` until a batch of passes leaves ``changed`` at 0."""
    while True:
        changed.fill(0)
        for _ in range(_PASSES_PER_CHECK):
            launch()
        if int(changed.get()[0]) == 0:
            return


def _flood_gpu(cp: Any, c: Any, s: Any, stop: np.float32) -> Any:
    level_k, depth_k, parent_k, jump_k = (backend.load_kernel("watershed.cu", k) for k in _KERNELS)
    nz, ny, nx = (np.int32(v) for v in c.shape)
    size = int(c.size)
    grid, block = ((size + _THREADS - 1) // _THREADS,), (_THREADS,)
    mask = (c <= stop).astype(cp.uint8)
    seeded = s != 0
    level = cp.where(seeded, c, cp.float32(np.inf)).astype(cp.float32)
    depth = cp.where(seeded, 0, np.iinfo(np.int32).max).astype(cp.int32)
    parent = cp.empty(c.shape, cp.int64)
    changed = cp.zeros(1, cp.int32)
    _until_stable(cp, lambda: level_k(grid, block, (c, mask, s, level, nz, ny, nx, changed)), changed)
    _until_stable(cp, lambda: depth_k(grid, block, (level, mask, s, depth, nz, ny, nx, changed)), changed)
    parent_k(grid, block, (c, level, mask, s, depth, parent, nz, ny, nx))
    _until_stable(cp, lambda: jump_k(grid, block, (parent, np.int64(size), changed)), changed)
    flat = s.ravel()
    return cp.where(parent >= 0, flat[cp.maximum(parent, 0).ravel()].reshape(c.shape), cp.uint32(0)).astype(
        cp.uint32
    )
