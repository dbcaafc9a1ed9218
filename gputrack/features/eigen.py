"""Closed-form eigenvalues of symmetric 2x2 / 3x3 matrices given per pixel.

The GPU path runs ``kernels/eigen.cu``; the CPU path is its numba twin (same algorithm,
double-precision arithmetic, float32 results). Eigenvalues come out in descending order,
as in ilastik (fastfilters and vigra).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numba
import numpy as np

from .. import backend

_THREADS = 256


@numba.njit(parallel=True, cache=True, fastmath=False)
def _eig2_cpu(xx, xy, yy, out0, out1):  # pragma: no cover - compiled
    for i in numba.prange(xx.size):
        a = np.float64(xx[i])
        b = np.float64(xy[i])
        c = np.float64(yy[i])
        m = 0.5 * (a + c)
        h = 0.5 * (a - c)
        d = math.sqrt(h * h + b * b)
        out0[i] = m + d
        out1[i] = m - d


@numba.njit(parallel=True, cache=True, fastmath=False)
def _eig3_cpu(a00, a01, a02, a11, a12, a22, out0, out1, out2):  # pragma: no cover - compiled
    two_pi_3 = 2.0943951023931954923
    for i in numba.prange(a00.size):
        m00 = np.float64(a00[i])
        m01 = np.float64(a01[i])
        m02 = np.float64(a02[i])
        m11 = np.float64(a11[i])
        m12 = np.float64(a12[i])
        m22 = np.float64(a22[i])
        q = (m00 + m11 + m22) / 3.0
        d0 = m00 - q
        d1 = m11 - q
        d2 = m22 - q
        off = m01 * m01 + m02 * m02 + m12 * m12
        p2 = d0 * d0 + d1 * d1 + d2 * d2 + 2.0 * off
        if p2 <= 0.0:
            e0 = q
            e1 = q
            e2 = q
        else:
            p = math.sqrt(p2 / 6.0)
            inv = 1.0 / p
            b00 = d0 * inv
            b11 = d1 * inv
            b22 = d2 * inv
            b01 = m01 * inv
            b02 = m02 * inv
            b12 = m12 * inv
            det = (
                b00 * (b11 * b22 - b12 * b12)
                - b01 * (b01 * b22 - b12 * b02)
                + b02 * (b01 * b12 - b11 * b02)
            )
            r = 0.5 * det
            r = -1.0 if r < -1.0 else (1.0 if r > 1.0 else r)
            phi = math.acos(r) / 3.0
            e0 = q + 2.0 * p * math.cos(phi)
            e2 = q + 2.0 * p * math.cos(phi + two_pi_3)
            e1 = 3.0 * q - e0 - e2
            if e1 > e0:
                e0, e1 = e1, e0
            if e2 > e1:
                e1, e2 = e2, e1
            if e1 > e0:
                e0, e1 = e1, e0
        out0[i] = e0
        out1[i] = e1
        out2[i] = e2


def symmetric_eigenvalues(components: Sequence[Any], *, device: str | None = None) -> Any:
    """Eigenvalues (descending) of per-pixel symmetric 2x2 or 3x3 matrices.

    Parameters
    ----------
    components
        Upper-triangle components, all of one shape: ``(xx, xy, yy)`` for 2x2 or
        ``(a00, a01, a02, a11, a12, a22)`` for 3x3. numpy or cupy arrays.
    device
        ``"cpu"`` (numba twin) or ``"gpu"`` (``kernels/eigen.cu``); default: where the
        components live.

    Returns
    -------
    array
        float32 of shape ``(k, *shape)`` with ``k = 2 or 3``, largest eigenvalue first.

    Examples
    --------
    >>> xx, xy, yy = (np.array([2.0]), np.array([1.0]), np.array([2.0]))
    >>> symmetric_eigenvalues([xx, xy, yy]).ravel().tolist()
    [3.0, 1.0]
    """
    n_comp = len(components)
    if n_comp not in (3, 6):
        raise ValueError(f"{n_comp} tensor components: expected 3 (2x2) or 6 (3x3)")
    k = 2 if n_comp == 3 else 3
    device = backend.device_of(components[0]) if device is None else backend.resolve_device(device)
    xp = backend.array_module(device)
    shape = tuple(components[0].shape)
    flat = [xp.ascontiguousarray(xp.asarray(c, dtype=xp.float32)).reshape(-1) for c in components]
    n = flat[0].size
    out = xp.empty((k, n), dtype=xp.float32)
    if n == 0:
        return out.reshape((k, *shape))
    if device == "gpu":
        name = "sym_eigvals2" if k == 2 else "sym_eigvals3"
        fn = backend.load_kernel("eigen.cu", name)
        blocks = int(min((n + _THREADS - 1) // _THREADS, 65535 * 8))
        fn((blocks,), (_THREADS,), (*flat, *[out[i] for i in range(k)], np.int64(n)))
    elif k == 2:
        _eig2_cpu(*flat, out[0], out[1])
    else:
        _eig3_cpu(*flat, out[0], out[1], out[2])
    return out.reshape((k, *shape))
