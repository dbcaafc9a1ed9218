"""Separable 1-D correlation with mirrored borders: a parallel numba twin of scipy's.

``correlate1d(src, weights, axis)`` computes what
``scipy.ndimage.correlate1d(src, weights, axis=axis, mode="mirror", output=np.float32)``
computes (double-precision accumulation, float32 result), on both CPU cores. The CPU
feature path uses it; the GPU path keeps ``cupyx.scipy.ndimage.correlate1d``.

Along a non-last axis whole contiguous lines are combined (``out[i] = sum_j w[j] *
src[mirror(i + j - r)]``), which vectorises; along the last axis each line is mirrored
into a padded buffer once and the taps are applied to the buffer.
"""

from __future__ import annotations

import numba
import numpy as np

from ..backend import prefer_workqueue_threads

prefer_workqueue_threads()  # before the first parallel launch (see gputrack.backend)

_CHUNK = 512
"""Elements of a line processed per task along a non-last axis (fits in L1/L2)."""


@numba.njit(inline="always", cache=True)
def _mirror(i, n):  # pragma: no cover - compiled
    """scipy's ``mode="mirror"`` index: reflect about the edge pixels, period 2n - 2."""
    if n == 1:
        return 0
    period = 2 * n - 2
    i = i % period
    if i < 0:
        i += period
    if i >= n:
        i = period - i
    return i


@numba.njit(parallel=True, cache=True, fastmath=False)
def _correlate_lines(src, w, sym, out):  # pragma: no cover - compiled
    """Correlate along the middle axis of ``(a, n, b)`` arrays, ``b`` contiguous.

    ``sym`` is +1 (or -1) when ``w[r + j] == +w[r - j]`` (or ``-w[r - j]``): the taps are
    then folded in pairs, else 0.
    """
    na, n, nb = src.shape
    r = (w.size - 1) // 2
    n_chunks = (nb + _CHUNK - 1) // _CHUNK
    for task in numba.prange(na * n * n_chunks):
        a = task // (n * n_chunks)
        rest = task - a * n * n_chunks
        i = rest // n_chunks
        lo = (rest - i * n_chunks) * _CHUNK
        hi = min(lo + _CHUNK, nb)
        centre = src[a, _mirror(i, n)]
        wc = w[r]
        dst = out[a, i]
        if sym != 0 and r <= 2:  # short folded kernels: one fused pass, same arithmetic order
            up1 = src[a, _mirror(i + 1, n)]
            dn1 = src[a, _mirror(i - 1, n)]
            up2 = src[a, _mirror(i + r, n)]
            dn2 = src[a, _mirror(i - r, n)]
            w1 = w[r + 1] if r >= 1 else 0.0
            w2 = w[r + 2] if r >= 2 else 0.0
            fs = np.float64(sym)
            if r == 0:
                for k in range(lo, hi):
                    dst[k] = wc * centre[k]
            elif r == 1:
                for k in range(lo, hi):
                    dst[k] = wc * centre[k] + w1 * (np.float64(up1[k]) + fs * np.float64(dn1[k]))
            else:
                for k in range(lo, hi):
                    v = wc * centre[k] + w1 * (np.float64(up1[k]) + fs * np.float64(dn1[k]))
                    dst[k] = v + w2 * (np.float64(up2[k]) + fs * np.float64(dn2[k]))
            continue
        acc = np.empty(hi - lo, dtype=np.float64)
        for k in range(lo, hi):
            acc[k - lo] = wc * centre[k]
        if sym != 0:
            for j in range(1, r + 1):
                wj = w[r + j]
                up = src[a, _mirror(i + j, n)]
                dn = src[a, _mirror(i - j, n)]
                if sym > 0:
                    for k in range(lo, hi):
                        acc[k - lo] += wj * (np.float64(up[k]) + np.float64(dn[k]))
                else:
                    for k in range(lo, hi):
                        acc[k - lo] += wj * (np.float64(up[k]) - np.float64(dn[k]))
        else:
            for j in range(w.size):
                if j == r:
                    continue
                wj = w[j]
                line = src[a, _mirror(i + j - r, n)]
                for k in range(lo, hi):
                    acc[k - lo] += wj * line[k]
        for k in range(lo, hi):
            dst[k] = acc[k - lo]


@numba.njit(parallel=True, cache=True, fastmath=False)
def _correlate_last(src, w, sym, out):  # pragma: no cover - compiled
    """Correlate along the last axis of ``(a, n)`` arrays, one padded line per task."""
    na, n = src.shape
    r = (w.size - 1) // 2
    for a in numba.prange(na):
        pad = np.empty(n + 2 * r, dtype=np.float64)
        line = src[a]
        for k in range(n):
            pad[k + r] = line[k]
        for k in range(r):
            pad[k] = line[_mirror(k - r, n)]
            pad[n + r + k] = line[_mirror(n + k, n)]
        dst = out[a]
        wc = w[r]
        if sym != 0 and 1 <= r <= 2:  # short folded kernels: one fused pass, same arithmetic order
            fs = np.float64(sym)
            w1 = w[r + 1]
            if r == 1:
                for k in range(n):
                    c = k + r
                    dst[k] = wc * pad[c] + w1 * (pad[c + 1] + fs * pad[c - 1])
            else:
                w2 = w[r + 2]
                for k in range(n):
                    c = k + r
                    v = wc * pad[c] + w1 * (pad[c + 1] + fs * pad[c - 1])
                    dst[k] = v + w2 * (pad[c + 2] + fs * pad[c - 2])
            continue
        acc = np.empty(n, dtype=np.float64)
        for k in range(n):
            acc[k] = wc * pad[k + r]
        if sym > 0:
            for j in range(1, r + 1):
                wj = w[r + j]
                for k in range(n):
                    acc[k] += wj * (pad[k + r + j] + pad[k + r - j])
        elif sym < 0:
            for j in range(1, r + 1):
                wj = w[r + j]
                for k in range(n):
                    acc[k] += wj * (pad[k + r + j] - pad[k + r - j])
        else:
            for j in range(w.size):
                if j != r:
                    wj = w[j]
                    for k in range(n):
                        acc[k] += wj * pad[k + j]
        for k in range(n):
            dst[k] = acc[k]


def _symmetry(w: np.ndarray) -> int:
    """+1 for symmetric weights, -1 for antisymmetric ones, else 0."""
    if w.size > 1 and np.array_equal(w, w[::-1]):
        return 1
    if w.size > 1 and np.array_equal(w, -w[::-1]):
        return -1
    return 0


def correlate1d(
    src: np.ndarray, weights: np.ndarray, axis: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Correlate ``src`` with odd-length ``weights`` along ``axis``, mirrored borders.

    Parameters
    ----------
    src
        numpy array (converted to contiguous float32 when it is not).
    weights
        ``2 r + 1`` correlation weights (``out[i] = sum_j w[j] * src[i + j - r]``).
    axis
        Axis to correlate along (negative counts from the end).
    out
        Optional C-contiguous float32 array of ``src``'s shape to write into.

    Returns
    -------
    numpy.ndarray
        float32, equal to ``scipy.ndimage.correlate1d(src, weights, axis=axis,
        mode="mirror", output=np.float32)`` up to double rounding.

    Examples
    --------
    >>> import scipy.ndimage as ndi
    >>> img = np.random.default_rng(0).random((20, 30)).astype(np.float32)
    >>> w = np.array([0.25, 0.5, 0.25])
    >>> ref = ndi.correlate1d(img, w, axis=0, mode="mirror", output=np.float32)
    >>> bool(np.allclose(correlate1d(img, w, 0), ref, rtol=1e-6, atol=1e-7))
    True
    """
    w = np.ascontiguousarray(weights, dtype=np.float64).ravel()
    if w.size % 2 != 1:
        raise ValueError(f"{w.size} weights: expected an odd number (centred kernel)")
    src = np.ascontiguousarray(src, dtype=np.float32)
    if out is None:
        out = np.empty(src.shape, dtype=np.float32)
    elif out.shape != src.shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError("out: expected a C-contiguous float32 array of the source's shape")
    if src.size == 0:
        return out
    axis = axis % src.ndim
    shape = src.shape
    na = int(np.prod(shape[:axis], dtype=np.int64))
    nb = int(np.prod(shape[axis + 1 :], dtype=np.int64))
    n = shape[axis]
    if nb == 1:
        _correlate_last(src.reshape(na, n), w, _symmetry(w), out.reshape(na, n))
    else:
        _correlate_lines(src.reshape(na, n, nb), w, _symmetry(w), out.reshape(na, n, nb))
    return out
