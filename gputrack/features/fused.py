"""All 2-D features of the selected scales in two fused passes over the image (CPU).

The separable passes of :mod:`.filters` (ilastik-spec.md §1.3–1.7) re-read and re-write
whole images between every 1-D correlation and once more to interleave the channels. Here
the same arithmetic runs row by row, with every intermediate in cache:

1. :func:`_presmooth_rows`: for every scale the pre-smoothing along y then x of one row
   (the y result rounded to float32, as the two-pass version stores it);
2. :func:`_feature_rows`: for one tile of rows and every scale, the operator passes along y
   (smoothing, first and second derivative, DoG's narrow Gaussian, the structure tensor's
   inner Gaussian and derivative) once each, the x passes on those rows, then Gaussian
   smoothing, LoG, gradient magnitude, DoG and both tensors' eigenvalues, written straight
   into the channels-last output. The structure tensor's products are kept for the few rows
   its outer smoothing needs (a ring of rows per scale).

Every value is computed by the same float64 operations in the same order as
:func:`~.correlate.correlate1d` (folded symmetric taps, ``acc = w_c x_0`` then
``acc += w_j (x_j ± x_-j)``), every intermediate image is rounded to float32 where the
two-pass version stores one, and the combinations are float32 operations as in numpy, so
the features are bit-identical to the two-pass ones (and hence to the GPU path). Tiles of
rows are spread over the CPU threads (kernels that release the GIL, on a thread pool).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from .correlate import _mirror, _symmetry
from .kernels import FEATURE_WINDOW, PRESMOOTH_WINDOW, gaussian_kernel

TILE_ROWS = 16
"""Output rows per parallel task of :func:`_feature_rows`."""
PRESMOOTH_ROWS = 32
"""Rows per parallel task of :func:`_presmooth_rows`."""
RING = 8
"""Rows of structure-tensor products kept per scale (at least ``2 * radius + 1``)."""

# filters along each axis, per scale (rows of the weight tables)
OP0, OP1, OP2, DOG0, INNER0, INNER1 = range(6)
# output slots per scale (columns of the channel table)
GS, LOG, GGM, DOG, ST0, ST1, HESS0, HESS1 = range(8)
SLOTS = {
    "GaussianSmoothing": (GS,),
    "LaplacianOfGaussian": (LOG,),
    "GaussianGradientMagnitude": (GGM,),
    "DifferenceOfGaussians": (DOG,),
    "StructureTensorEigenvalues": (ST0, ST1),
    "HessianOfGaussianEigenvalues": (HESS0, HESS1),
}


@numba.njit(cache=True)
def _i(v):  # pragma: no cover - compiled
    """``v`` as a plain int64: a literal argument would compile a callee once more per value."""
    return np.int64(v)


@numba.njit(cache=True)
def _short_taps(centre, u1, d1, u2, d2, w, r, sym, dst):  # pragma: no cover - compiled
    """``dst = w_c x_0 + w_1 (x_1 ± x_-1) [+ w_2 (x_2 ± x_-2)]`` for ``r`` = 1 or 2, as the twin.

    Rows are float32, the sum float64 (rounded to float32 when stored).
    """
    wc = w[r]
    w1 = w[r + 1]
    if r == 1 and sym > 0:
        for k in range(dst.size):
            v = wc * centre[k] + w1 * (np.float64(u1[k]) + np.float64(d1[k]))
            dst[k] = v
    elif r == 1:
        for k in range(dst.size):
            v = wc * centre[k] + w1 * (np.float64(u1[k]) - np.float64(d1[k]))
            dst[k] = v
    elif sym > 0:
        w2 = w[r + 2]
        for k in range(dst.size):
            v = wc * centre[k] + w1 * (np.float64(u1[k]) + np.float64(d1[k]))
            v = v + w2 * (np.float64(u2[k]) + np.float64(d2[k]))
            dst[k] = v
    else:
        w2 = w[r + 2]
        for k in range(dst.size):
            v = wc * centre[k] + w1 * (np.float64(u1[k]) - np.float64(d1[k]))
            v = v + w2 * (np.float64(u2[k]) - np.float64(d2[k]))
            dst[k] = v


@numba.njit(inline="always", cache=True)
def _row(i, j, ny, lo, mask):  # pragma: no cover - compiled
    """Index in ``src`` of image row ``mirror(i + j)`` (see :func:`_ypass`)."""
    g = _mirror(i + j, ny)
    return (g - lo) if mask < 0 else (g & mask)


@numba.njit(cache=True)
def _ypass(src, lo, mask, ny, i, w, r, sym, acc, pad, rp):  # pragma: no cover - compiled
    """Row ``i`` of the correlation of a ``ny``-row image along y, into ``pad[rp:rp + nx]``.

    ``src`` holds image rows: row ``g`` at ``src[g - lo]`` (``mask < 0``) or at
    ``src[g & mask]`` (a ring). The float32 result is stored in ``pad`` with ``rp``
    mirrored values on each side, ready for an x pass. (Rows and windows are
    taken as views so that every inner loop indexes from 0 and vectorises.)
    """
    nx = src.shape[1]
    centre = src[_row(i, 0, ny, lo, mask)]
    body = pad[rp : rp + nx]
    if 1 <= r <= 2:  # short kernels: rounded straight into the padded row
        u1 = src[_row(i, 1, ny, lo, mask)]
        d1 = src[_row(i, -1, ny, lo, mask)]
        u2 = src[_row(i, r, ny, lo, mask)]
        d2 = src[_row(i, -r, ny, lo, mask)]
        _short_taps(centre, u1, d1, u2, d2, w, r, sym, body)
    else:
        fs = np.float64(sym)
        wc = w[r]
        for k in range(nx):
            acc[k] = wc * centre[k]
        for j in range(1, r + 1):
            wj = w[r + j]
            up = src[_row(i, j, ny, lo, mask)]
            dn = src[_row(i, -j, ny, lo, mask)]
            for k in range(nx):
                acc[k] += wj * (np.float64(up[k]) + fs * np.float64(dn[k]))
        for k in range(nx):
            body[k] = acc[k]
    _mirror_pad(pad, rp, nx)


@numba.njit(cache=True)
def _mirror_pad(pad, rp, nx):  # pragma: no cover - compiled
    for m in range(1, rp + 1):
        pad[rp - m] = pad[rp + _mirror(-m, nx)]
        pad[rp + nx - 1 + m] = pad[rp + _mirror(nx - 1 + m, nx)]


@numba.njit(cache=True)
def _xpass(pad, rp, w, r, sym, acc, dst):  # pragma: no cover - compiled
    """``dst = float32(correlation of the padded row with w)`` (same operations as the twin)."""
    nx = dst.size
    centre = pad[rp : rp + nx]
    if 1 <= r <= 2:  # short kernels: straight into the float32 row
        _short_taps(centre, pad[rp + 1 : rp + 1 + nx], pad[rp - 1 : rp - 1 + nx], pad[rp + r : rp + r + nx],
                    pad[rp - r : rp - r + nx], w, r, sym, dst)
        return
    fs = np.float64(sym)
    wc = w[r]
    for k in range(nx):
        acc[k] = wc * centre[k]
    for j in range(1, r + 1):
        wj = w[r + j]
        up = pad[rp + j : rp + j + nx]
        dn = pad[rp - j : rp - j + nx]
        for k in range(nx):
            acc[k] += wj * (np.float64(up[k]) + fs * np.float64(dn[k]))
    for k in range(nx):
        dst[k] = acc[k]


@numba.njit(nogil=True, cache=True)
def _presmooth_rows(img, lo, l0, l1, wy, ry, wx, rx, dst_rows):  # pragma: no cover - compiled
    """``dst_rows[li]`` = row ``lo + li`` of ``img`` smoothed along y then x (``li`` in ``l0:l1``)."""
    ny, nx = img.shape
    acc = np.empty(nx, dtype=np.float64)
    pad = np.empty(nx + 2 * rx, dtype=np.float32)
    for li in range(l0, l1):
        i = lo + li
        dst = dst_rows[li]
        if ry == 0:  # a one-tap kernel is skipped, as in the two-pass version
            row = img[i]
            body = pad[rx : rx + nx]
            for k in range(nx):
                body[k] = row[k]
            _mirror_pad(pad, rx, nx)
        else:
            _ypass(img, _i(0), _i(-1), ny, i, wy, ry, _i(1), acc, pad, rx)
        if rx == 0:
            for k in range(nx):
                dst[k] = pad[k]
        else:
            _xpass(pad, rx, wx, rx, _i(1), acc, dst)


@numba.njit(cache=True)
def _tensor_row(pre_q, lo, ny, j, wy, ry, wx, rx, acc, pad, rp, tmp, ring):  # pragma: no cover
    """Structure-tensor products of row ``j`` (gradient at the inner scale) into the ring."""
    nx = tmp.shape[1]
    for g in range(2):  # d/dy = (y: derivative, x: smoothing), d/dx = (y: smoothing, x: derivative)
        fy, sy, fx, sx = (INNER1, -1, INNER0, 1) if g == 0 else (INNER0, 1, INNER1, -1)
        _ypass(pre_q, lo, _i(-1), ny, j, wy[fy], ry[fy], _i(sy), acc, pad, rp)
        _xpass(pad, rp, wx[fx], rx[fx], _i(sx), acc, tmp[g])
    gy = tmp[0]
    gx = tmp[1]
    slot = j & (RING - 1)
    for k in range(nx):
        ring[0, slot, k] = gy[k] * gy[k]
        ring[1, slot, k] = gy[k] * gx[k]
        ring[2, slot, k] = gx[k] * gx[k]


@numba.njit(nogil=True, cache=True)
def _feature_rows(pre, lo, ny, a, b, y0, x0, wy, ry, wx, rx, ysteps, xsteps, chans, out):  # noqa: E501  # pragma: no cover
    """Channels of output rows ``a:b`` (columns ``x0:x0 + out.shape[1]``) of every scale.

    ``pre[q]`` holds the pre-smoothed rows ``lo:lo + pre.shape[1]`` of scale ``q``;
    ``wy[q, f]`` / ``wx[q, f]`` the operator weights (filters ``OP0 .. INNER1``, radius
    ``ry[q, f]`` / ``rx[q, f]``); ``ysteps[q]`` the y passes ``(filter, sign, pad)`` and
    ``xsteps[q]`` the x passes ``(pad, filter, sign, result)`` of :func:`_programs` (rows
    with a negative filter are unused); ``chans[q, slot]`` the output channel of each
    result (``GS .. HESS1``) or -1; ``out[i - y0]`` is output row ``i``.
    """
    n_q, _n_rows, nx = pre.shape
    mx = out.shape[1]
    rp = _i(0)
    for q in range(n_q):
        for f in range(6):
            rp = max(rp, rx[q, f])
    acc = np.empty(nx, dtype=np.float64)
    pads = np.empty((4, nx + 2 * rp), dtype=np.float32)
    res = np.empty((10, nx), dtype=np.float32)
    tmp = np.empty((2, nx), dtype=np.float32)
    rings = np.empty((n_q, 3, RING, nx), dtype=np.float32)
    next_row = np.empty(n_q, dtype=np.int64)  # next structure-tensor row to compute
    for q in range(n_q):
        next_row[q] = max(a - ry[q, OP0], 0)
    for i in range(a, b):
        o = out[i - y0]
        for q in range(n_q):
            pq = pre[q]
            for step in ysteps[q]:
                if step[0] >= 0:
                    f = step[0]
                    _ypass(pq, lo, _i(-1), ny, i, wy[q, f], ry[q, f], step[1], acc, pads[step[2]], rp)
            for step in xsteps[q]:
                if step[1] >= 0:
                    _xpass(pads[step[0]], rp, wx[q, step[1]], rx[q, step[1]], step[2], acc, res[step[3]])
            if chans[q, ST0] >= 0:
                while next_row[q] <= min(i + ry[q, OP0], ny - 1):
                    _tensor_row(pq, lo, ny, next_row[q], wy[q], ry[q], wx[q], rx[q], acc, pads[0], rp, tmp,
                                rings[q])
                    next_row[q] += 1
                for c in range(3):
                    ring = rings[q, c]
                    _ypass(ring, _i(0), _i(RING - 1), ny, i, wy[q, OP0], ry[q, OP0], _i(1), acc, pads[3], rp)
                    _xpass(pads[3], rp, wx[q, OP0], rx[q, OP0], _i(1), acc, res[7 + c])
            _combine(chans[q], res[0], res[1], res[2], res[3], res[4], res[5], res[6], res[7], res[8], res[9],
                     x0, mx, o)


def _programs(chans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y and x passes of each scale for the selected slots (see :func:`_feature_rows`).

    y results go to pads 0..3 (smoothing, first, second derivative, DoG's narrow Gaussian),
    x results to rows 0..6 of the result buffer: smoothing, d2/dx2, d/dx, d/dy, d2/dxdy,
    d2/dy2, narrow Gaussian.
    """
    n_q = len(chans)
    ysteps = np.full((n_q, 4, 3), -1, np.int64)
    xsteps = np.full((n_q, 7, 4), -1, np.int64)
    for q, ch in enumerate(chans):
        want_s = ch[GS] >= 0 or ch[DOG] >= 0
        want_xx = ch[LOG] >= 0 or ch[HESS0] >= 0
        want_g = ch[GGM] >= 0
        want_h = ch[HESS0] >= 0
        ys = [(OP0, 1, 0)] if (want_s or want_xx or want_g) else []
        ys += [(OP1, -1, 1)] if (want_g or want_h) else []
        ys += [(OP2, 1, 2)] if want_xx else []
        ys += [(DOG0, 1, 3)] if ch[DOG] >= 0 else []
        xs = [(0, OP0, 1, 0)] if want_s else []
        xs += [(0, OP2, 1, 1)] if want_xx else []
        xs += [(0, OP1, -1, 2), (1, OP0, 1, 3)] if want_g else []
        xs += [(1, OP1, -1, 4)] if want_h else []
        xs += [(2, OP0, 1, 5)] if want_xx else []
        xs += [(3, DOG0, 1, 6)] if ch[DOG] >= 0 else []
        for n, step in enumerate(ys):
            ysteps[q, n] = step
        for n, step in enumerate(xs):
            xsteps[q, n] = step
    return ysteps, xsteps


@numba.njit(cache=True)
def _combine(ch, s_row, lxx, gx, gy, hxy, lyy, nrw, t0, t1, t2, x0, mx, o):  # pragma: no cover
    """Families from the passes of one row, float32 as numpy computes them, into ``o``."""
    s_row, lxx, gx, gy = s_row[x0 : x0 + mx], lxx[x0 : x0 + mx], gx[x0 : x0 + mx], gy[x0 : x0 + mx]
    hxy, lyy, nrw = hxy[x0 : x0 + mx], lyy[x0 : x0 + mx], nrw[x0 : x0 + mx]
    if ch[GS] >= 0:
        dst = o[:, ch[GS]]
        for k in range(mx):
            dst[k] = s_row[k]
    if ch[LOG] >= 0:
        dst = o[:, ch[LOG]]
        for k in range(mx):
            dst[k] = lyy[k] + lxx[k]
    if ch[GGM] >= 0:
        dst = o[:, ch[GGM]]
        for k in range(mx):
            v = gy[k] * gy[k]
            v += gx[k] * gx[k]
            dst[k] = np.sqrt(v)
    if ch[DOG] >= 0:
        dst = o[:, ch[DOG]]
        for k in range(mx):
            dst[k] = s_row[k] - nrw[k]
    if ch[HESS0] >= 0:
        _eig2_row(lyy, hxy, lxx, o[:, ch[HESS0]], o[:, ch[HESS1]])
    if ch[ST0] >= 0:
        _eig2_row(t0[x0 : x0 + mx], t1[x0 : x0 + mx], t2[x0 : x0 + mx], o[:, ch[ST0]], o[:, ch[ST1]])


@numba.njit(cache=True)
def _eig2_row(xx, xy, yy, e0, e1):  # pragma: no cover - compiled
    """Eigenvalues (descending) of ``[[xx, xy], [xy, yy]]``, as :func:`~.eigen._eig2_cpu`."""
    for k in range(e0.size):
        a = np.float64(xx[k])
        b = np.float64(xy[k])
        c = np.float64(yy[k])
        m = 0.5 * (a + c)
        h = 0.5 * (a - c)
        d = np.sqrt(h * h + b * b)
        e0[k] = m + d
        e1[k] = m - d


def _operator_specs(s_ax: float) -> list[tuple[float, int]]:
    """``(sigma, order)`` of the filters ``OP0 .. INNER1`` along an axis of user scale ``s_ax``."""
    from .filters import DOG_RATIO, STRUCTURE_INNER_RATIO, operator_sigma  # noqa: PLC0415

    op = operator_sigma(s_ax)
    inner = STRUCTURE_INNER_RATIO * op
    return [(op, 0), (op, 1), (op, 2), (DOG_RATIO * op, 0), (inner, 0), (inner, 1)]


def _pack(kernels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded weight table and radii of a list of odd-length kernels."""
    table = np.zeros((len(kernels), max(k.size for k in kernels)), np.float64)
    for i, k in enumerate(kernels):
        table[i, : k.size] = k
    return table, np.array([(k.size - 1) // 2 for k in kernels], np.int64)


def _tables(scales: Sequence[float], spacing_yx: Sequence[float]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-smoothing and operator weights (and radii) along y and x of every scale."""
    from .filters import presmooth_sigma  # noqa: PLC0415

    tables = []
    for sp in spacing_yx:
        tables.append(_pack([gaussian_kernel(presmooth_sigma(s / sp), 0, PRESMOOTH_WINDOW) for s in scales]))
    for sp in spacing_yx:
        ops = [gaussian_kernel(sg, o, FEATURE_WINDOW) * (1.0 / sp**o)
               for s in scales for sg, o in _operator_specs(s / sp)]
        w, r = _pack(ops)
        tables.append((w.reshape(len(scales), 6, -1), r.reshape(len(scales), 6)))
    return tables


def supported(scales: Sequence[float], spacing_yx: Sequence[float]) -> bool:
    """Whether every operator kernel is (anti)symmetric and the tensor's fits the ring."""
    for s in scales:
        for sp in spacing_yx:
            for f, (sg, order) in enumerate(_operator_specs(s / sp)):
                w = gaussian_kernel(sg, order, FEATURE_WINDOW)
                if w.size > 1 and _symmetry(w) != (-1 if order == 1 else 1):
                    return False
                if f == OP0 and w.size > RING - 2:
                    return False
    return True


def fused_planes(
    image: np.ndarray,
    scales: Sequence[float],
    chans: np.ndarray,
    spacing_yx: Sequence[float],
    out: np.ndarray,
    rows: tuple[int, int],
    x0: int,
) -> None:
    """2-D features of one ``(y, x)`` plane for the scale columns ``scales``, into ``out``.

    Tiles of rows run on ``numba.get_num_threads()`` threads (the kernels release the GIL).

    Parameters
    ----------
    image
        float32 plane ``(ny, nx)``.
    scales
        Scale columns, each computed in 2D.
    chans
        int64 ``(len(scales), 8)``: output channel of each result slot, -1 when unselected.
    spacing_yx
        Pixel size along y and x (sigmas divided by it).
    out
        C-contiguous float32 ``(y1 - y0, mx, n_channels)`` written at the channels of ``chans``.
    rows
        Output rows ``(y0, y1)`` of the plane.
    x0
        First column of the plane written (``out`` holds columns ``x0 : x0 + mx``).

    Examples
    --------
    >>> from gputrack.features import compute
    >>> img = np.random.default_rng(0).random((40, 30)).astype(np.float32)
    >>> chans = np.full((1, 8), -1)
    >>> chans[0, GS], chans[0, HESS0], chans[0, HESS1] = 0, 1, 2
    >>> out = np.empty((40, 30, 3), np.float32)
    >>> fused_planes(img, [1.6], chans, (1.0, 1.0), out, (0, 40), 0)
    >>> sel = {"GaussianSmoothing": [1.6], "HessianOfGaussianEigenvalues": [1.6]}
    >>> bool((out == compute(img, sel, device="cpu").data).all())
    True
    """
    ny, nx = image.shape
    y0, y1 = rows
    (wpy, rpy), (wpx, rpx), (wy, ry), (wx, rx) = _tables(scales, spacing_yx)
    halo = int((ry[:, :4].max(axis=1) + ry[:, 4:].max(axis=1)).max())
    lo, hi = max(y0 - halo, 0), min(y1 + halo, ny)
    pre = np.empty((len(scales), hi - lo, nx), np.float32)
    img = np.ascontiguousarray(image, dtype=np.float32)
    chans = np.ascontiguousarray(chans, np.int64)
    # widest kernels first, so that the threads finish together
    n_rows = hi - lo
    jobs = [(q, l0) for q in np.argsort(-rpy - rpx, kind="stable") for l0 in range(0, n_rows, PRESMOOTH_ROWS)]

    def presmooth(job):
        q, l0 = job
        _presmooth_rows(img, lo, l0, min(l0 + PRESMOOTH_ROWS, n_rows), wpy[q], int(rpy[q]), wpx[q],
                        int(rpx[q]), pre[q])

    ysteps, xsteps = _programs(chans)

    def features(a):
        b = min(a + TILE_ROWS, y1)
        _feature_rows(pre, lo, ny, a, b, y0, x0, wy, ry, wx, rx, ysteps, xsteps, chans, out)

    run_threads(presmooth, jobs)
    run_threads(features, range(y0, y1, TILE_ROWS))


def run_threads(fn, jobs) -> None:
    """``fn(job)`` for every job, on ``numba.get_num_threads()`` threads (in order when 1).

    The first job runs in the calling thread before the others start, so that a kernel's
    first-call compilation happens once, on one thread.
    """
    jobs = list(jobs)
    if not jobs:
        return
    fn(jobs[0])
    n = min(numba.get_num_threads(), len(jobs) - 1)
    if n <= 1:
        for job in jobs[1:]:
            fn(job)
        return
    with ThreadPoolExecutor(n) as pool:
        for _ in pool.map(fn, jobs[1:]):
            pass
