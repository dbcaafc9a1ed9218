"""Per-object moment sums in two passes over the pixels (GPU kernels and their numba twins).

Pass 1 gives counts, coordinate sums, bounding boxes and per-channel value sums, minima and
maxima; pass 2 gives *central* moments (about each object's mean) of degree 2-4 of the
coordinates and of the values, which keeps the higher moments accurate for objects far
from the origin. On the GPU the passes are the kernels of ``kernels/regions.cu`` (one per
pass and kind, with numba twins as their reference); on the CPU each pass is one numba loop
over the pixels doing coordinates and every channel together, row chunks in threads with
their own sums, added up between the passes. Label ids are first mapped
to compact indices ``1..n`` (:func:`compact_labels`) without allocating per-id arrays when
ids are huge or sparse.

Examples
--------
>>> import numpy as np
>>> lab = np.array([[0, 7, 7], [0, 0, 9]])
>>> m = region_moments(lab[None], np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1), "cpu")
>>> m.ids.tolist(), m.count.tolist(), m.value_sum[:, 0].tolist()
([7, 9], [2.0, 1.0], [3.0, 5.0])
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from .. import backend
from ..errors import InputError

N_COORD_MOMENTS = 31
"""Unique central coordinate moments of degree 2 (6), 3 (10) and 4 (15) in 3D."""

_THREADS = 256
_RUN = 16
_LUT_LIMIT = 1 << 22


@dataclass
class RegionMoments:
    """Raw per-object sums of one frame (rows = objects in the order of ``ids``).

    Coordinates are pixel indices in ``z, y, x`` order (``z = 0`` for 2D).
    """

    ids: np.ndarray
    count: np.ndarray
    coord_mean: np.ndarray  # (n, 3)
    bbox_min: np.ndarray  # (n, 3)
    bbox_max: np.ndarray  # (n, 3) inclusive
    coord_central: np.ndarray  # (n, 31)
    value_sum: np.ndarray  # (n, c)
    value_min: np.ndarray  # (n, c)
    value_max: np.ndarray  # (n, c)
    value_central: np.ndarray  # (n, c, 3): sums of (v - mean)^2, ^3, ^4


def compact_labels(labels: Any) -> tuple[Any, np.ndarray]:
    """Map label ids to compact indices ``1..n`` (0 stays background).

    Uses a lookup table when the largest id is small, else a sort (``unique``), so ids up
    to 2**63 with few objects never allocate per-id arrays.

    Parameters
    ----------
    labels
        Non-negative integer (or boolean) label array, numpy or cupy.

    Returns
    -------
    idx : array of int32
        Compact indices, flattened, same namespace as ``labels``.
    ids : numpy array of int64
        The label id of index ``k`` at position ``k - 1`` (ascending).

    Examples
    --------
    >>> import numpy as np
    >>> idx, ids = compact_labels(np.array([0, 2**40, 5, 5]))
    >>> idx.tolist(), ids.tolist()
    ([0, 2, 1, 1], [5, 1099511627776])
    """
    xp = backend.namespace_of(labels)
    flat = labels.ravel()
    if flat.dtype == bool:
        flat = flat.view(xp.uint8)
    if flat.dtype.kind not in "ui":
        raise InputError(f"labels: expected an integer label image, got dtype {labels.dtype}")
    if flat.size == 0:
        return xp.zeros(0, xp.int32), np.zeros(0, np.int64)
    if flat.dtype.kind == "i" and int(flat.min()) < 0:
        raise InputError("labels: expected non-negative label ids, found negative values")
    top = int(flat.max())
    if top <= max(_LUT_LIMIT, 2 * flat.size) and xp is np:
        idx, lut = _compact_lut(flat, top)
        return idx, np.flatnonzero(lut).astype(np.int64)
    if top <= max(_LUT_LIMIT, 2 * flat.size):
        present = xp.zeros(top + 1, dtype=bool)
        present[flat] = True
        present[0] = False
        ids = xp.nonzero(present)[0]
        lut = xp.zeros(top + 1, dtype=xp.int32)
        lut[ids] = xp.arange(1, ids.size + 1, dtype=xp.int32)
        return lut[flat], backend.to_host(ids).astype(np.int64)
    uniq, inverse = xp.unique(flat, return_inverse=True)
    inverse = inverse.ravel().astype(xp.int32)
    if int(uniq[0]) != 0:
        inverse += 1
        return inverse, backend.to_host(uniq).astype(np.int64)
    return inverse, backend.to_host(uniq[1:]).astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _compact_lut(flat, top):
    """CPU :func:`compact_labels` through a table of ``top + 1`` entries: (indices, table)."""
    lut = np.zeros(top + 1, np.int32)
    for i in range(flat.size):
        lut[flat[i]] = 1
    lut[0] = 0
    n = 0
    for k in range(top + 1):
        if lut[k]:
            n += 1
            lut[k] = n
    idx = np.empty(flat.size, np.int32)
    for i in range(flat.size):
        idx[i] = lut[flat[i]]
    return idx, lut


# --------------------------------------------------------------------------- numba twins
# One numba function per kernel of ``kernels/regions.cu`` (their reference in the emulation
# tests); the CPU path itself uses the fused passes below.


@numba.njit(cache=True, nogil=True)
def _coord_pass1(idx, ny, nx, acc1, bbox):
    for i in range(idx.size):
        k = idx[i]
        if k == 0:
            continue
        x = i % nx
        y = (i // nx) % ny
        z = i // (nx * ny)
        acc1[k, 0] += 1.0
        acc1[k, 1] += z
        acc1[k, 2] += y
        acc1[k, 3] += x
        bbox[k, 0] = min(bbox[k, 0], z)
        bbox[k, 1] = min(bbox[k, 1], y)
        bbox[k, 2] = min(bbox[k, 2], x)
        bbox[k, 3] = max(bbox[k, 3], z)
        bbox[k, 4] = max(bbox[k, 4], y)
        bbox[k, 5] = max(bbox[k, 5], x)


@numba.njit(cache=True, nogil=True)
def _coord_pass2(idx, ny, nx, mean, acc2):
    d = np.zeros(3)
    for i in range(idx.size):
        k = idx[i]
        if k == 0:
            continue
        d[2] = i % nx - mean[k, 2]
        d[1] = (i // nx) % ny - mean[k, 1]
        d[0] = i // (nx * ny) - mean[k, 0]
        q = 0
        for a in range(3):
            for b in range(a, 3):
                acc2[k, q] += d[a] * d[b]
                q += 1
        for a in range(3):
            for b in range(a, 3):
                for e in range(b, 3):
                    acc2[k, q] += d[a] * d[b] * d[e]
                    q += 1
        for a in range(3):
            for b in range(a, 3):
                for e in range(b, 3):
                    for f in range(e, 3):
                        acc2[k, q] += d[a] * d[b] * d[e] * d[f]
                        q += 1


@numba.njit(cache=True, nogil=True)
def _value_pass1(idx, v, vsum, vmin, vmax):
    for i in range(idx.size):
        k = idx[i]
        if k == 0:
            continue
        x = v[i]
        vsum[k] += x
        if x < vmin[k]:
            vmin[k] = x
        if x > vmax[k]:
            vmax[k] = x


@numba.njit(cache=True, nogil=True)
def _value_pass2(idx, v, mean, acc):
    for i in range(idx.size):
        k = idx[i]
        if k == 0:
            continue
        d = np.float64(v[i]) - mean[k]
        d2 = d * d
        acc[k, 0] += d2
        acc[k, 1] += d2 * d
        acc[k, 2] += d2 * d2



# --------------------------------------------------------------------------- CPU passes
# The CPU does both passes over rows ``r0:r1`` of the (z*y, x) raster, coordinates and every
# channel together, each thread of :func:`_cpu_moments` into its own accumulators.


@numba.njit(cache=True, nogil=True)
def _rows_pass1(idx, v, r0, r1, ny, nx, acc1, bbox, vsum, vmin, vmax):
    n_channels = v.shape[0]
    for row in range(r0, r1):
        z = row // ny
        y = row - z * ny
        base = row * nx
        for x in range(nx):
            i = base + x
            k = idx[i]
            if k == 0:
                continue
            acc1[k, 0] += 1.0
            acc1[k, 1] += z
            acc1[k, 2] += y
            acc1[k, 3] += x
            if z < bbox[k, 0]:
                bbox[k, 0] = z
            if y < bbox[k, 1]:
                bbox[k, 1] = y
            if x < bbox[k, 2]:
                bbox[k, 2] = x
            if z > bbox[k, 3]:
                bbox[k, 3] = z
            if y > bbox[k, 4]:
                bbox[k, 4] = y
            if x > bbox[k, 5]:
                bbox[k, 5] = x
            for c in range(n_channels):
                val = v[c, i]
                vsum[k, c] += val
                if val < vmin[k, c]:
                    vmin[k, c] = val
                if val > vmax[k, c]:
                    vmax[k, c] = val


@numba.njit(cache=True, nogil=True)
def _rows_pass2(idx, v, r0, r1, ny, nx, three_d, mean, vmean, acc2, vcen):
    # the products of each degree built from those of the degree below, in the order of
    # _coord_pass2 (same roundings); 2D leaves out every product with z
    n_channels = v.shape[0]
    for row in range(r0, r1):
        z = row // ny
        y = row - z * ny
        base = row * nx
        for x in range(nx):
            i = base + x
            k = idx[i]
            if k == 0:
                continue
            dy = y - mean[k, 1]
            dx = x - mean[k, 2]
            if three_d:
                dz = z - mean[k, 0]
                p00 = dz * dz
                acc2[k, 0] += p00
                p01 = dz * dy
                acc2[k, 1] += p01
                p02 = dz * dx
                acc2[k, 2] += p02
                p11 = dy * dy
                acc2[k, 3] += p11
                p12 = dy * dx
                acc2[k, 4] += p12
                p22 = dx * dx
                acc2[k, 5] += p22
                p000 = p00 * dz
                acc2[k, 6] += p000
                p001 = p00 * dy
                acc2[k, 7] += p001
                p002 = p00 * dx
                acc2[k, 8] += p002
                p011 = p01 * dy
                acc2[k, 9] += p011
                p012 = p01 * dx
                acc2[k, 10] += p012
                p022 = p02 * dx
                acc2[k, 11] += p022
                p111 = p11 * dy
                acc2[k, 12] += p111
                p112 = p11 * dx
                acc2[k, 13] += p112
                p122 = p12 * dx
                acc2[k, 14] += p122
                p222 = p22 * dx
                acc2[k, 15] += p222
                acc2[k, 16] += p000 * dz
                acc2[k, 17] += p000 * dy
                acc2[k, 18] += p000 * dx
                acc2[k, 19] += p001 * dy
                acc2[k, 20] += p001 * dx
                acc2[k, 21] += p002 * dx
                acc2[k, 22] += p011 * dy
                acc2[k, 23] += p011 * dx
                acc2[k, 24] += p012 * dx
                acc2[k, 25] += p022 * dx
                acc2[k, 26] += p111 * dy
                acc2[k, 27] += p111 * dx
                acc2[k, 28] += p112 * dx
                acc2[k, 29] += p122 * dx
                acc2[k, 30] += p222 * dx
            else:
                p11 = dy * dy
                acc2[k, 3] += p11
                p12 = dy * dx
                acc2[k, 4] += p12
                p22 = dx * dx
                acc2[k, 5] += p22
                p111 = p11 * dy
                acc2[k, 12] += p111
                p112 = p11 * dx
                acc2[k, 13] += p112
                p122 = p12 * dx
                acc2[k, 14] += p122
                p222 = p22 * dx
                acc2[k, 15] += p222
                acc2[k, 26] += p111 * dy
                acc2[k, 27] += p111 * dx
                acc2[k, 28] += p112 * dx
                acc2[k, 29] += p122 * dx
                acc2[k, 30] += p222 * dx
            for c in range(n_channels):
                dv = np.float64(v[c, i]) - vmean[k, c]
                d2 = dv * dv
                vcen[k, c, 0] += d2
                vcen[k, c, 1] += d2 * dv
                vcen[k, c, 2] += d2 * d2


# --------------------------------------------------------------------------- driver


def region_moments(labels: Any, values: Any | None, device: str | None = None) -> RegionMoments:
    """Per-object moment sums of one frame.

    Parameters
    ----------
    labels
        Label volume ``(z, y, x)`` (integer ids, 0 = background), numpy or cupy.
    values
        Intensities ``(z, y, x, c)`` or ``None``.
    device
        ``"cpu"`` or ``"gpu"``; ``None`` follows ``labels``.

    Returns
    -------
    RegionMoments
        Host (numpy) arrays, one row per object in ascending id order.
    """
    dev = backend.device_of(labels) if device is None else backend.resolve_device(device)
    xp = backend.array_module(dev)
    labels = backend.to_device(labels, dev)
    if labels.ndim != 3:
        raise InputError(f"labels: expected a (z, y, x) volume, got shape {tuple(labels.shape)}")
    _nz, ny, nx = (int(s) for s in labels.shape)
    if values is not None:
        values = backend.to_device(values, dev)  # host values with device labels: copied once
    n_channels = 0 if values is None else int(values.shape[-1])
    if values is not None and tuple(values.shape[:3]) != tuple(labels.shape):
        raise InputError(
            f"raw: spatial shape {tuple(values.shape[:3])} differs from the labels' {tuple(labels.shape)}"
        )
    idx, ids = compact_labels(xp.ascontiguousarray(labels))
    n = ids.size
    acc1 = xp.zeros((n + 1, 4), xp.float64)
    bbox = xp.empty((n + 1, 6), xp.int32 if dev == "gpu" else np.int64)
    bbox[:, :3] = np.iinfo(np.int32).max
    bbox[:, 3:] = -1
    acc2 = xp.zeros((n + 1, N_COORD_MOMENTS), xp.float64)
    vsum = xp.zeros((n + 1, n_channels), xp.float64)
    vmin = xp.full((n + 1, n_channels), np.inf, xp.float32)
    vmax = xp.full((n + 1, n_channels), -np.inf, xp.float32)
    vcen = xp.zeros((n + 1, n_channels, 3), xp.float64)
    if n and dev == "cpu":
        if values is None:
            v = np.zeros((0, idx.size), np.float32)
        else:
            v = np.ascontiguousarray(values.reshape(-1, n_channels).T, dtype=np.float32)
        _cpu_moments(idx, v, _nz, ny, nx, acc1, bbox, acc2, vsum, vmin, vmax, vcen)
    elif n:
        channels = [xp.ascontiguousarray(values[..., c], dtype=xp.float32).ravel() for c in range(n_channels)]
        mean = _gpu_passes(xp, idx, ny, nx, acc1, bbox, acc2)
        del mean
        for c, v in enumerate(channels):
            s, lo, hi = (xp.zeros(n + 1), vmin[:, c].copy(), vmax[:, c].copy())
            cen = xp.zeros((n + 1, 3))
            _gpu_value_passes(xp, idx, v, acc1[:, 0], s, lo, hi, cen)
            vsum[:, c], vmin[:, c], vmax[:, c], vcen[:, c] = s, lo, hi, cen
    h = backend.to_host
    acc1, bbox, acc2 = h(acc1)[1:], h(bbox)[1:].astype(np.int64), h(acc2)[1:]
    count = acc1[:, 0]
    return RegionMoments(
        ids=ids,
        count=count,
        coord_mean=acc1[:, 1:] / np.maximum(count, 1.0)[:, None],
        bbox_min=bbox[:, :3],
        bbox_max=bbox[:, 3:],
        coord_central=acc2,
        value_sum=h(vsum)[1:],
        value_min=h(vmin)[1:],
        value_max=h(vmax)[1:],
        value_central=h(vcen)[1:],
    )


def _cpu_moments(idx, v, nz, ny, nx, acc1, bbox, acc2, vsum, vmin, vmax, vcen) -> None:
    """Both CPU passes, row chunks in threads with their own sums, combined in between."""
    rows = nz * ny
    threads = max(1, min(os.cpu_count() or 1, idx.size // (1 << 16), rows))
    bounds = np.linspace(0, rows, threads + 1).astype(np.int64)

    def pass1(t: int) -> tuple[np.ndarray, ...]:
        a, b, s, lo, hi = (np.zeros_like(acc1), bbox.copy(), np.zeros_like(vsum), vmin.copy(), vmax.copy())
        _rows_pass1(idx, v, bounds[t], bounds[t + 1], ny, nx, a, b, s, lo, hi)
        return a, b, s, lo, hi

    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(pass1, range(threads)))
        acc1[:] = sum(p[0] for p in parts)
        bbox[:, :3] = np.minimum.reduce([p[1][:, :3] for p in parts])
        bbox[:, 3:] = np.maximum.reduce([p[1][:, 3:] for p in parts])
        vsum[:] = sum(p[2] for p in parts)
        vmin[:] = np.minimum.reduce([p[3] for p in parts])
        vmax[:] = np.maximum.reduce([p[4] for p in parts])
        del parts
        count = np.maximum(acc1[:, :1], 1.0)
        mean = acc1[:, 1:] / count
        vmean = vsum / count

        def pass2(t: int) -> tuple[np.ndarray, np.ndarray]:
            a, c = np.zeros_like(acc2), np.zeros_like(vcen)
            _rows_pass2(idx, v, bounds[t], bounds[t + 1], ny, nx, nz > 1, mean, vmean, a, c)
            return a, c

        parts = list(pool.map(pass2, range(threads)))
    acc2[:] = sum(p[0] for p in parts)
    vcen[:] = sum(p[1] for p in parts)


def _grid(size: int) -> tuple[int]:
    runs = (size + _RUN - 1) // _RUN
    return ((runs + _THREADS - 1) // _THREADS,)


def _gpu_passes(cp: Any, idx: Any, ny: int, nx: int, acc1: Any, bbox: Any, acc2: Any) -> Any:
    size = np.int64(idx.size)
    k1 = backend.load_kernel("regions.cu", "coord_pass1")
    k2 = backend.load_kernel("regions.cu", "coord_pass2")
    k1(_grid(idx.size), (_THREADS,), (idx, size, np.int32(ny), np.int32(nx), np.int32(_RUN), acc1, bbox))
    mean = cp.ascontiguousarray(acc1[:, 1:] / cp.maximum(acc1[:, :1], 1.0))
    k2(_grid(idx.size), (_THREADS,), (idx, size, np.int32(ny), np.int32(nx), np.int32(_RUN), mean, acc2))
    return mean


def _gpu_value_passes(cp, idx, v, count, s, lo, hi, cen) -> None:
    size = np.int64(idx.size)
    k1 = backend.load_kernel("regions.cu", "value_pass1")
    k2 = backend.load_kernel("regions.cu", "value_pass2")
    k1(_grid(idx.size), (_THREADS,), (idx, v, size, np.int32(_RUN), s, lo, hi))
    mean = cp.ascontiguousarray(s / cp.maximum(count, 1.0))
    k2(_grid(idx.size), (_THREADS,), (idx, v, size, np.int32(_RUN), mean, cen))
