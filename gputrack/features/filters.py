"""ilastik's pixel features on a ``t, z, y, x, c`` array, written once for numpy and cupy.

For every selected scale column ``s`` (ilastik-spec.md §1.3–1.7):

1. the image (float32) is pre-smoothed once with a Gaussian of sigma
   ``sqrt(s**2 - 1)`` if ``s > 1`` else ``s``, truncated at 3.5 sigma;
2. every selected family of that column is computed on the pre-smoothed image with the
   operator scale ``min(s, 1)`` and kernels truncated at 2 sigma:

   - Gaussian Smoothing: G
   - Laplacian of Gaussian: sum of second derivatives
   - Gaussian Gradient Magnitude: norm of the gradient
   - Difference of Gaussians: G(s_op) - G(0.66 s_op)
   - Structure Tensor Eigenvalues (fastfilters convention): gradient at 0.5 s_op, tensor
     smoothed at s_op
   - Hessian of Gaussian Eigenvalues

Borders are mirrored without repeating the edge pixel (``mode="mirror"``), kernels are the
moment-normalised ones of :mod:`gputrack.features.kernels`, eigenvalues descending. The
separable passes are shared between families through a prefix cache: e.g. the Gaussian
smoothing along z and y is computed once for the smoothing, gradient and Hessian of a scale.

On the CPU, scale columns computed in 2D run through the fused row passes of
:mod:`.fused` (every family of every scale from one pass over the rows, same bits); the
others are processed in strips of rows (:func:`strip_height`), each scale with its own
halo, so temporaries stay small and are reused, and the short passes run through the
parallel numba twin of ``correlate1d`` (:mod:`.correlate`); every pixel gets exactly the
arithmetic of a whole-image run. On the GPU, 2-D scale columns run through the fused
kernels of :mod:`.fused_gpu` (``kernels/features2d.cu``, the same passes as :mod:`.fused`),
the others through whole-image passes with the same float64 arithmetic
(:func:`~.correlate.correlate1d_ordered`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numba
import numpy as np

from .. import backend
from ..errors import InputError
from . import fused as _fused
from . import fused_gpu as _fused_gpu
from .correlate import correlate1d, correlate1d_ordered
from .eigen import symmetric_eigenvalues
from .kernels import FEATURE_WINDOW, PRESMOOTH_WINDOW, gaussian_kernel, kernel_radius
from .selection import TENSOR_FEATURES, FeatureSelection, channels_per_input

SPATIAL = ("z", "y", "x")
LONG_KERNEL = 31
"""Taps above which a CPU pass uses scipy instead of the numba twin (measured: no gain)."""
DOG_RATIO = 0.66
"""ilastik's DoG: sigma1 = 0.66 * sigma0."""
STRUCTURE_INNER_RATIO = 0.5
"""ilastik passes outerScale = 0.5 * s_op; fastfilters uses it as the gradient scale."""


def axis_scales(scale: float, spacing: Sequence[float] | None, n: int = 3) -> tuple[float, ...]:
    """Per-axis user scale ``s / spacing`` for the spatial axes ``(z, y, x)``."""
    if spacing is None:
        return (float(scale),) * n
    return tuple(float(scale) / float(sp) for sp in spacing)


def presmooth_sigma(scale: float) -> float:
    """ilastik's pre-smoothing sigma: ``sqrt(s**2 - 1)`` for ``s > 1``, else ``s``.

    Examples
    --------
    >>> round(presmooth_sigma(1.6), 3), presmooth_sigma(0.7)
    (1.249, 0.7)
    """
    return math.sqrt(scale * scale - 1.0) if scale > 1.0 else float(scale)


def operator_sigma(scale: float) -> float:
    """ilastik's operator scale ``min(s, 1)``."""
    return min(float(scale), 1.0)


def scale_radius(scale: float, features: Sequence[str]) -> int:
    """Total support radius (pixels) of one scale: pre-smoothing plus the widest operator."""
    op = operator_sigma(scale)
    r_op = 0
    for f in features:
        if f == "StructureTensorEigenvalues":
            r = max(kernel_radius(STRUCTURE_INNER_RATIO * op, FEATURE_WINDOW), 1) + kernel_radius(
                op, FEATURE_WINDOW
            )
        elif f == "GaussianSmoothing":
            r = kernel_radius(op, FEATURE_WINDOW)
        else:  # derivative kernels have at least one neighbour
            r = max(kernel_radius(op, FEATURE_WINDOW), 1)
        r_op = max(r_op, r)
    return kernel_radius(presmooth_sigma(scale), PRESMOOTH_WINDOW) + r_op


def check_scales(
    selection: FeatureSelection,
    shape_zyx: Sequence[int],
    spacing: Sequence[float] | None = None,
) -> None:
    """ilastik's validity rule (§1.6): ``ceil(3.5 * s) + 1`` must not exceed an axis's size.

    x and y are always checked, z only for scales not computed in 2D (and when z > 1).

    Raises
    ------
    InputError
        Naming the scale, the axis and the size it needs.
    """
    for s, flag, _feats in selection.columns():
        per_axis = axis_scales(s, spacing)
        for ax, n, s_ax in zip(SPATIAL, shape_zyx, per_axis):
            if ax == "z" and (flag or n == 1):
                continue
            need = math.ceil(PRESMOOTH_WINDOW * s_ax) + 1
            if need > n:
                hint = " (or compute it in 2D)" if ax == "z" else ""
                raise InputError(
                    f"scale σ={s} is too large for axis {ax} of size {n}: it needs at least {need} "
                    f"pixels; remove that scale{hint}"
                )


class _Passes:
    """Memoised separable 1-D correlations of one source array (prefix sharing)."""

    def __init__(self, source: Any, ndi: Any, xp: Any) -> None:
        self.source = source
        self.ndi = ndi
        self.xp = xp
        self.cache: dict[tuple, Any] = {}

    def run(self, steps: tuple[tuple[int, float, int, float], ...], keep: bool = False) -> Any:
        """Apply ``steps`` = ((axis, sigma, order, scale_factor), ...) in order."""
        if not steps:
            return self.source
        if steps in self.cache:
            return self.cache[steps]
        prev = self.run(steps[:-1], keep=True)
        axis, sigma, order, factor = steps[-1]
        w = gaussian_kernel(sigma, order, FEATURE_WINDOW) * factor
        out = correlate_mirror(prev, w, axis, self.ndi, self.xp)
        if keep:
            self.cache[steps] = out
        return out


def _presmooth(image: Any, axes: Sequence[int], sigmas: Sequence[float], ndi: Any, xp: Any) -> Any:
    out = image
    for ax, sg in zip(axes, sigmas):
        w = gaussian_kernel(presmooth_sigma(sg), 0, PRESMOOTH_WINDOW)
        if w.size == 1:
            continue
        out = correlate_mirror(out, w, ax, ndi, xp)
    return out


def correlate_mirror(src: Any, weights: np.ndarray, axis: int, ndi: Any, xp: Any) -> Any:
    """float32 ``correlate1d(src, weights, axis, mode="mirror")`` on ``src``'s device.

    numpy arrays go through the parallel numba twin (:mod:`.correlate`), except long
    kernels (more than :data:`LONG_KERNEL` taps) where scipy is as fast; cupy arrays
    through :func:`~.correlate.correlate1d_ordered`, the twin's float64 arithmetic as array
    operations (``cupyx.scipy.ndimage.correlate1d`` would sum a float32 input in float32).
    All accumulate in double precision, so the GPU features equal the CPU ones.
    """
    if xp is np:
        if len(weights) <= LONG_KERNEL:
            return correlate1d(src, weights, axis)
        return ndi.correlate1d(src, weights, axis=axis, mode="mirror", output=np.float32)
    return correlate1d_ordered(src, weights, axis)


def _scale_features(
    image: Any,
    scale: float,
    axes: tuple[int, ...],
    spacing_f: tuple[float, ...],
    features: Sequence[str],
    *,
    device: str,
) -> dict[str, Any]:
    """Selected families of one scale column; tensor families as ``(k, ...)`` stacks."""
    xp = backend.array_module(device)
    ndi = backend.ndimage_module(device)
    s_ax = [scale / sp for sp in spacing_f]
    pre = _presmooth(image, axes, s_ax, ndi, xp)
    ops = [operator_sigma(s) for s in s_ax]
    nd = len(axes)
    passes = _Passes(pre, ndi, xp)

    def deriv(orders: Sequence[int], sigmas: Sequence[float] = ops, passes: _Passes = passes) -> Any:
        steps = tuple(
            (ax, sg, o, 1.0 / spacing_f[i] ** o) for i, (ax, sg, o) in enumerate(zip(axes, sigmas, orders))
        )
        return passes.run(steps)

    def unit(i: int, order: int) -> list[int]:
        o = [0] * nd
        o[i] = order
        return o

    out: dict[str, Any] = {}
    smooth = None
    if "GaussianSmoothing" in features or "DifferenceOfGaussians" in features:
        smooth = deriv([0] * nd)
    if "GaussianSmoothing" in features:
        out["GaussianSmoothing"] = smooth
    if "LaplacianOfGaussian" in features:
        lap = deriv(unit(0, 2)).copy()
        for i in range(1, nd):
            lap += deriv(unit(i, 2))
        out["LaplacianOfGaussian"] = lap
    if "GaussianGradientMagnitude" in features:
        acc = xp.square(deriv(unit(0, 1)))
        for i in range(1, nd):
            acc += xp.square(deriv(unit(i, 1)))
        out["GaussianGradientMagnitude"] = xp.sqrt(acc, out=acc)
    if "DifferenceOfGaussians" in features:
        narrow = deriv([0] * nd, [DOG_RATIO * o for o in ops])
        out["DifferenceOfGaussians"] = smooth - narrow
    if "HessianOfGaussianEigenvalues" in features:
        comps = []
        for i in range(nd):
            for j in range(i, nd):
                o = [0] * nd
                o[i] += 1
                o[j] += 1
                comps.append(deriv(o))
        out["HessianOfGaussianEigenvalues"] = symmetric_eigenvalues(comps, device=device)
    if "StructureTensorEigenvalues" in features:
        inner = [STRUCTURE_INNER_RATIO * o for o in ops]
        grads = [deriv(unit(i, 1), inner) for i in range(nd)]
        comps = []
        for i in range(nd):
            for j in range(i, nd):
                prod = grads[i] * grads[j]
                comps.append(deriv([0] * nd, ops, _Passes(prod, ndi, xp)))
        out["StructureTensorEigenvalues"] = symmetric_eigenvalues(comps, device=device)
    return out


def feature_stack(
    image: Any,
    selection: FeatureSelection,
    *,
    spacing: Sequence[float] | None = None,
    device: str = "cpu",
    crop: Sequence[slice] | None = None,
) -> Any:
    """Features of a ``(t, z, y, x, c)`` array, channels last in ilastik's order.

    Parameters
    ----------
    image
        5-D array ``(t, z, y, x, c)`` (numpy, or cupy for ``device="gpu"``); any dtype.
    selection
        Normalised selection.
    spacing
        Per-axis pixel size ``(z, y, x)``; sigmas are divided by it (off by default).
    device
        ``"cpu"`` or ``"gpu"``.
    crop
        Slices ``(t, z, y, x)`` of the result to keep (a block without its halo): only
        those pixels are stored, each computed from the whole ``image``.

    Returns
    -------
    array
        C-contiguous float32 ``(t, z, y, x, n_features)`` (cropped) on the device. Each
        channel is written straight into it, so the stack exists once (no planes-then-
        interleave copy on the GPU).
    """
    xp = backend.array_module(device)
    image = backend.to_device(image, device, dtype=np.float32)
    if image.ndim != 5:
        raise InputError(f"image of {image.ndim} dims: expected 5 (t, z, y, x, c)")
    nt, nz, ny, nx, nc = image.shape
    ct, cz, cy, cx = (
        slice(*sl.indices(n)[:2]) for sl, n in zip(crop or (slice(None),) * 4, (nt, nz, ny, nx))
    )
    shape_c = tuple(max(sl.stop - sl.start, 0) for sl in (ct, cz, cy, cx))
    sp = (1.0, 1.0, 1.0) if spacing is None else tuple(float(v) for v in spacing)
    layout = _channel_layout(selection, nz, nc)
    n_out = sum(width for *_x, width in layout)
    out = xp.empty(shape_c + (n_out,), dtype=xp.float32)
    if device == "gpu":
        gpu_stack(image, selection, layout, sp, out, (ct, cz, cy, cx), fused=FUSED_2D_GPU)
        return out
    cpu_stack(image, selection, layout, sp, out, (ct, cz, cy, cx), fused=FUSED_2D)
    return out


FUSED_2D = True
"""CPU: 2-D scale columns through :mod:`.fused` (False: all through the strip passes)."""
FUSED_2D_GPU = True
"""GPU: 2-D scale columns through :mod:`.fused_gpu` (False: all through whole-image passes)."""


def _fused_columns(selection, layout, nz: int, nc: int, spacing_yx) -> tuple[list[float], np.ndarray]:
    """Scale columns computed in 2D that the fused passes support, and their channel table.

    Returns the scales (empty when :func:`.fused.supported` fails) and int64
    ``(nc, len(scales), 8)``: the output channel of each result slot of :mod:`.fused` per
    input channel, -1 when unselected.
    """
    two_d = [s for s, flag, _f in selection.columns() if flag or nz == 1]
    if not two_d or not _fused.supported(two_d, spacing_yx):
        return [], np.full((nc, 0, 8), -1, np.int64)
    chans = np.full((nc, len(two_d), 8), -1, np.int64)
    for fid, s, start, per, _width in layout:
        if s in two_d:
            q = two_d.index(s)
            for c in range(nc):
                for e, slot in enumerate(_fused.SLOTS[fid]):
                    chans[c, q, slot] = start + c * per + e
    return two_d, chans


def gpu_stack(image, selection, layout, sp, out, crop, fused: bool = True) -> None:
    """GPU features of ``image`` (``t, z, y, x, c``, cupy) into ``out`` (cropped ``t, z, y, x, F``).

    Scale columns computed in 2D go through the fused kernels of :mod:`.fused_gpu`
    (``fused=True``); the others (and all with ``fused=False``) through whole-image
    separable passes, each channel written into a channels-first view of ``out``.
    """
    nz, nc = image.shape[1], image.shape[4]
    ct, cz, cy, cx = crop
    done: set[float] = set()
    if fused:
        two_d, chans = _fused_columns(selection, layout, nz, nc, tuple(sp[1:]))
        if two_d:
            xp = backend.namespace_of(image)
            _fused_gpu.fused_planes_gpu(xp.ascontiguousarray(image), two_d, chans, tuple(sp[1:]), out, crop)
            done = set(two_d)
    columns = [(s, flag, feats) for s, flag, feats in selection.columns() if s not in done]
    if columns:
        channels_first = backend.namespace_of(out).moveaxis(out, -1, 0)  # a view: channels in place
        _fill_planes(image, columns, layout, sp, "gpu", channels_first, cy.start, cy.stop, (ct, cz, cx))


def cpu_stack(image, selection, layout, sp, out, crop, fused: bool = True) -> None:
    """CPU features of ``image`` (``t, z, y, x, c``) into ``out`` (cropped ``t, z, y, x, F``).

    Scale columns computed in 2D go through the fused row passes of :mod:`.fused`
    (``fused=True``); the others (and all with ``fused=False``: the reference the fused
    path is tested against) through strips of rows of separable whole-line passes.
    """
    nt, nz, ny, nx, nc = image.shape
    ct, cz, cy, cx = crop
    mt, mz, my, mx = out.shape[:4]
    spacing_yx = tuple(sp[1:])
    done: set[float] = set()
    two_d, chans = _fused_columns(selection, layout, nz, nc, spacing_yx) if fused else ([], None)
    if two_d:
        done = set(two_d)
        for t in range(ct.start, ct.stop):
            for z in range(cz.start, cz.stop):
                for c in range(nc):
                    _fused.fused_planes(image[t, z, :, :, c], two_d, chans[c], spacing_yx,
                                        out[t - ct.start, z - cz.start], (cy.start, cy.stop), cx.start)
    rest = [entry for entry in layout if entry[1] not in done]
    if not rest:
        return
    # the remaining channels, numbered compactly in the strip planes
    compact, channel_of = [], []
    for fid, s, start, per, width in rest:
        compact.append((fid, s, len(channel_of), per, width))
        channel_of.extend(range(start, start + width))
    channel_of = np.array(channel_of, np.int64)
    columns = [(s, flag, feats) for s, flag, feats in selection.columns() if s not in done]
    halo = max((_y_halo(s, feats, sp) for s, _f, feats in columns), default=0)
    height = strip_height(mt * mz * mx * nc, my, halo)
    planes = np.empty((len(channel_of), mt, mz, min(height, my), mx), dtype=np.float32)
    for y0 in range(cy.start, cy.stop, height):
        y1 = min(y0 + height, cy.stop)
        strip = planes[:, :, :, : y1 - y0]
        _fill_planes(image, columns, compact, sp, "cpu", strip, y0, y1, (ct, cz, cx))
        _interleave_rows(
            strip.reshape(len(channel_of), mt * mz, y1 - y0, mx), out.reshape(mt * mz, my, mx, out.shape[-1]),
            y0 - cy.start, channel_of,
        )


STRIP_PIXELS = 1 << 20
"""Target pixels (all of t, z, x and channels) of one CPU strip of rows."""


def strip_height(row_pixels: int, ny: int, halo: int) -> int:
    """Rows per CPU strip: about :data:`STRIP_PIXELS` pixels, at least ``4 * halo`` rows.

    The CPU path computes the features of a strip of rows at a time (each scale with the
    halo it needs), so temporaries stay small and are reused instead of page-faulted in.

    Examples
    --------
    >>> strip_height(2048, 2048, 38), strip_height(128 * 128, 128, 38)
    (512, 128)
    """
    rows = max(STRIP_PIXELS // max(row_pixels, 1), 4 * halo, 1)
    return int(min(rows, ny))


def _y_halo(scale: float, features: Sequence[str], spacing: Sequence[float]) -> int:
    return scale_radius(scale / spacing[1], features)


def _fill_planes(image, columns, layout, sp, device, planes, y0, y1, crop=(slice(None),) * 3) -> None:
    """Write rows ``y0:y1`` of the channels of ``columns`` into ``planes`` ``(n, t, z, y1 - y0, x)``.

    ``columns`` = ``(scale, in_2d, features)`` (of ``FeatureSelection.columns``), ``layout``
    their entries of :func:`_channel_layout` (numbered as the planes are); ``crop`` = slices
    ``(t, z, x)`` of the result kept; ``planes`` may be a channels-first view of a
    channels-last array.
    """
    nt, nz, ny, nx, nc = image.shape
    ct, cz, cx = crop
    for s, flag, feats in columns:
        two_d = flag or nz == 1
        axes = (2, 3) if two_d else (1, 2, 3)
        spacing_f = sp[1:] if two_d else sp
        if y0 == 0 and y1 == ny:
            lo, sub = 0, image
        else:
            h = _y_halo(s, feats, sp)
            lo, hi = max(y0 - h, 0), min(y1 + h, ny)
            sub = image[:, :, lo:hi]
        rows = slice(y0 - lo, y1 - lo)
        result = _scale_features(sub, s, axes, spacing_f, feats, device=device)
        for fid, s2, start, per, _width in layout:
            if s2 != s or fid not in result:
                continue
            arr = result[fid]
            for c in range(nc):
                if fid in TENSOR_FEATURES:  # (k, t, z, y, x, c) -> [c0: e0..ek-1, c1: ...]
                    for e in range(per):
                        planes[start + c * per + e] = arr[e, ct, cz, rows, cx, c]
                else:
                    planes[start + c] = arr[ct, cz, rows, cx, c]
        del result


@numba.njit(parallel=True, cache=True)
def _interleave_rows(planes, out, y0, channel_of):  # pragma: no cover - compiled
    """``out[m, y0 + i, x, channel_of[k]] = planes[k, m, i, x]``, one output row per task."""
    n_feat, n_m, n_rows, nx = planes.shape
    for task in numba.prange(n_m * n_rows):
        m = task // n_rows
        i = task - m * n_rows
        dst = out[m, y0 + i]
        for k in range(n_feat):
            src = planes[k, m, i]
            ck = channel_of[k]
            for x in range(nx):
                dst[x, ck] = src[x]


def _channel_layout(selection: FeatureSelection, nz: int, nc: int) -> list[tuple[str, float, int, int, int]]:
    """``(feature, scale, first channel, channels per input channel, width)`` in output order."""
    layout = []
    start = 0
    for fid, s, flag in selection.pairs():
        per = channels_per_input(fid, 2 if (flag or nz == 1) else 3)
        layout.append((fid, s, start, per, per * nc))
        start += per * nc
    return layout
