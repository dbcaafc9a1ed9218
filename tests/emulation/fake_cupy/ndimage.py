"""``cupyx.scipy.ndimage`` of the stand-in, with cupy's accumulation dtypes.

cupy's linear filters (``cupyx/scipy/ndimage/_filters.py``) cast the weights to
``_util._get_weights_dtype(input, weights)`` = ``promote_types(input.real.dtype, float32)``
(float64 only for integer weights) and accumulate ``W sum += cast<W>(x) * wval`` in that
type, one tap after the other, before casting to the output dtype. So a float32 input is
summed in float32 whatever the weights' dtype (a float64 input in float64). The 1-D
correlations here do exactly that, taps in order with a fused multiply-add as nvcc emits it;
the Gaussian and uniform filters are built on them as cupy builds them (intermediate passes
in the output dtype). Every other function is scipy's behind cupy's argument rules.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.ndimage as _ndi
from scipy.ndimage import _filters as _scipy_filters

from .core import call, ndarray, unwrap, wrap


def _weights_dtype(input_dtype: np.dtype, weights_dtype: np.dtype) -> np.dtype:
    """cupy's ``_util._get_weights_dtype``."""
    if input_dtype.kind == "c" or weights_dtype.kind == "c":
        return np.promote_types(np.empty(0, input_dtype).real.dtype, np.complex64)
    if weights_dtype.kind in "iub":
        return np.dtype(np.float64)
    return np.promote_types(np.empty(0, input_dtype).real.dtype, np.float32)


def _boundary_index(ix: np.ndarray, n: int, mode: str) -> np.ndarray:
    """cupy's ``_generate_boundary_condition_ops`` on an index vector (-1: outside)."""
    ix = ix.astype(np.int64)
    if mode in ("reflect", "grid-mirror"):
        ix = np.where(ix < 0, -1 - ix, ix) % (2 * n)
        return np.minimum(ix, 2 * n - 1 - ix)
    if mode == "mirror":
        if n == 1:
            return np.zeros_like(ix)
        ix = np.abs(ix)
        ix = 1 + (ix - 1) % ((n - 1) * 2)
        return np.minimum(ix, 2 * n - 2 - ix)
    if mode == "nearest":
        return np.clip(ix, 0, n - 1)
    if mode in ("wrap", "grid-wrap"):
        return ix % n
    if mode in ("constant", "grid-constant"):
        return np.where((ix < 0) | (ix >= n), -1, ix)
    raise RuntimeError(f"boundary mode not supported (actual: {mode})")


def _output(output: Any, input: np.ndarray) -> tuple[np.ndarray, ndarray | None]:
    if isinstance(output, ndarray):
        return output._a, output
    if isinstance(output, np.ndarray):
        raise TypeError(f"Unsupported type {type(output)}")
    dtype = input.dtype if output is None else np.dtype(output)
    return np.empty(input.shape, dtype), None


def _check_input(input: Any) -> np.ndarray:
    if not isinstance(input, ndarray):
        raise TypeError(f"Unsupported type {type(input)}")
    return input._a


def correlate1d(input: Any, weights: Any, axis: int = -1, output: Any = None, mode: str = "reflect",
                cval: float = 0.0, origin: int = 0) -> Any:
    """cupy's ``correlate1d``: accumulation in ``promote_types(input, float32)``."""
    x = _check_input(input)
    w = unwrap(weights) if isinstance(weights, ndarray) else weights
    if isinstance(weights, np.ndarray):
        raise TypeError(f"Unsupported type {type(weights)}")
    w = np.asarray(w).ravel()
    wdt = _weights_dtype(x.dtype, w.dtype)
    w = w.astype(wdt)
    out_np, out_dev = _output(output, x)
    axis = axis % x.ndim
    n, size = x.shape[axis], w.size
    offset = size // 2 + int(origin)
    if not 0 <= offset < size:
        raise ValueError("invalid origin")
    xs = np.moveaxis(x, axis, -1)
    idx = _boundary_index(np.arange(n + size - 1) - offset, n, mode)
    padded = np.take(xs, np.maximum(idx, 0), axis=-1).astype(wdt)
    if (idx < 0).any():
        padded[..., idx < 0] = cval
    acc = np.zeros(xs.shape, wdt)
    fused = np.float64 if wdt == np.float32 else None
    for j in range(size):
        tap = padded[..., j : j + n]
        if fused is not None:  # fma(x, w, sum) in float32: the product is exact in float64
            acc = (acc.astype(fused) + tap.astype(fused) * np.float64(w[j])).astype(wdt)
        else:
            acc += tap * w[j]
    result = np.moveaxis(acc, -1, axis)
    if out_np.dtype.kind in "iu":
        result = np.rint(result)
    out_np[...] = result
    return out_dev if out_dev is not None else wrap(out_np)


def convolve1d(input: Any, weights: Any, axis: int = -1, output: Any = None, mode: str = "reflect",
               cval: float = 0.0, origin: int = 0) -> Any:
    """cupy's ``convolve1d`` (reversed weights, mirrored origin)."""
    w = unwrap(weights) if isinstance(weights, ndarray) else np.asarray(weights)
    w = np.asarray(w)[::-1]
    origin = -int(origin) - (1 if w.size % 2 == 0 else 0)
    return correlate1d(input, wrap(np.ascontiguousarray(w)), axis, output, mode, cval, origin)


def _per_axis(value: Any, n: int) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value] * n
    if len(value) != n:
        raise RuntimeError("sequence argument must have length equal to input rank")
    return list(value)


def _run_1d(input: Any, output: Any, passes: list[tuple[int, np.ndarray | None, str]], cval: float) -> Any:
    """Apply 1-D correlations axis by axis, intermediates in the output dtype (cupy's rule)."""
    x = _check_input(input)
    out_np, out_dev = _output(output, x)
    active = [(ax, w, m) for ax, w, m in passes if w is not None]
    if not active:
        out_np[...] = x
        return out_dev if out_dev is not None else wrap(out_np)
    cur = input
    for ax, w, m in active:
        cur = correlate1d(cur, wrap(w), ax, out_np.dtype, m, cval)
    out_np[...] = cur._a
    return out_dev if out_dev is not None else wrap(out_np)


def _gaussian_weights(sigma: float, order: int, truncate: float, radius: int | None) -> np.ndarray:
    r = int(float(truncate) * float(sigma) + 0.5) if radius is None else int(radius)
    return np.ascontiguousarray(_scipy_filters._gaussian_kernel1d(sigma, int(order), r)[::-1])


def gaussian_filter1d(input: Any, sigma: float, axis: int = -1, order: int = 0, output: Any = None,
                      mode: str = "reflect", cval: float = 0.0, truncate: float = 4.0,
                      *, radius: int | None = None) -> Any:
    """cupy's ``gaussian_filter1d``."""
    w = _gaussian_weights(sigma, order, truncate, radius)
    return correlate1d(input, wrap(w), axis, output, mode, cval)


def gaussian_filter(input: Any, sigma: Any, order: Any = 0, output: Any = None, mode: Any = "reflect",
                    cval: float = 0.0, truncate: float = 4.0, radius: Any = None, axes: Any = None) -> Any:
    """cupy's ``gaussian_filter`` (axes with sigma <= 1e-15 skipped, as scipy and cupy)."""
    x = _check_input(input)
    axes = list(range(x.ndim)) if axes is None else [a % x.ndim for a in axes]
    k = len(axes)
    sigmas, orders, modes = _per_axis(sigma, k), _per_axis(order, k), _per_axis(mode, k)
    radii = _per_axis(radius, k)
    passes = [
        (ax, _gaussian_weights(s, o, truncate, r) if s > 1e-15 else None, m)
        for ax, s, o, m, r in zip(axes, sigmas, orders, modes, radii)
    ]
    return _run_1d(input, output, passes, cval)


def uniform_filter1d(input: Any, size: int, axis: int = -1, output: Any = None, mode: str = "reflect",
                     cval: float = 0.0, origin: int = 0) -> Any:
    """cupy's ``uniform_filter1d`` (weights ``1 / size`` in the accumulation dtype)."""
    x = _check_input(input)
    w = np.full(int(size), 1.0 / int(size), dtype=_weights_dtype(x.dtype, np.dtype(np.float32)))
    return correlate1d(input, wrap(w), axis, output, mode, cval, origin)


def uniform_filter(input: Any, size: Any = 3, output: Any = None, mode: Any = "reflect",
                   cval: float = 0.0, origin: Any = 0, axes: Any = None) -> Any:
    """cupy's ``uniform_filter``."""
    x = _check_input(input)
    axes = list(range(x.ndim)) if axes is None else [a % x.ndim for a in axes]
    k = len(axes)
    if any(o != 0 for o in _per_axis(origin, k)):
        raise NotImplementedError("uniform_filter with an origin is not emulated")
    wdt = _weights_dtype(x.dtype, np.dtype(np.float32))
    passes = [
        (ax, np.full(int(s), 1.0 / int(s), dtype=wdt) if int(s) > 1 else None, m)
        for ax, s, m in zip(axes, _per_axis(size, k), _per_axis(mode, k))
    ]
    return _run_1d(input, output, passes, cval)


_EMULATED = {
    "correlate1d", "convolve1d", "gaussian_filter1d", "gaussian_filter", "uniform_filter1d", "uniform_filter",
}


def __getattr__(name: str) -> Any:
    fn = getattr(_ndi, name)
    if not callable(fn):
        return fn

    @functools.wraps(fn)
    def strict(*args: Any, **kwargs: Any) -> Any:
        if not any(isinstance(a, ndarray) for a in args[:1]) and "input" not in kwargs:
            raise TypeError(f"Unsupported type {type(args[0]) if args else None}")
        return call(fn, args, kwargs)

    return strict
