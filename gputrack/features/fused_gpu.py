"""All 2-D features of the selected scales through one fused CUDA kernel per scale (GPU).

The GPU twin of :mod:`.fused` (``kernels/features2d.cu``). For every scale column and
every ``(t, z, c)`` plane two launches:

1. ``presmooth2d``: the pre-smoothing along y then x over the crop plus the operators'
   halo, into one float32 plane (tiles of rows, the y result in shared memory);
2. ``features2d``: per tile of output pixels, the pre-smoothed tile and halo in shared
   memory, the operator passes along y and x, the structure tensor's products and outer
   smoothing, and the six families written straight into the channels-last output.

Weights and radii are :func:`.fused._tables`' (the kernels of :mod:`.kernels`), the
arithmetic that of :func:`~.correlate.correlate1d` in float64 (compiled with
``--fmad=false``), so the features are the CPU's bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend
from . import fused as _fused

SOURCE = "features2d.cu"
KERNELS = ("presmooth2d", "features2d")
OPTIONS = ("-std=c++17", "--fmad=false")
"""NVRTC options: no contracted multiply-adds (they would round differently from the CPU)."""
TILE = (16, 16)
"""Output pixels ``(rows, columns)`` per block of ``features2d``."""
PRESMOOTH_TILE = (16, 32)
"""Pixels ``(rows, columns)`` per block of ``presmooth2d`` (fewer rows for very wide kernels)."""
THREADS = 256
"""Threads per block (at most; tiny tiles get fewer)."""
MAX_SHARED = 48 * 1024
"""Bytes of dynamic shared memory a block may use without opting in."""


def shared_floats(tile: tuple[int, int], hy: int, hx: int) -> int:
    """Dynamic shared memory of ``features2d`` in floats, as the kernel lays it out.

    Examples
    --------
    >>> shared_floats((16, 16), 3, 3)
    5368
    """
    ty, tx = tile
    cap_h, cap_w = ty + 2 * hy, tx + 2 * hx
    return 6 * cap_h * cap_w + 7 * ty * cap_w


def halo(radii: np.ndarray) -> int:
    """Pixels of pre-smoothed image a tile needs on each side along one axis.

    ``radii`` are the six operator radii (``OP0 .. INNER1``) of that axis: the widest
    operator, or the tensor's outer plus inner radius.
    """
    return int(max(radii[: _fused.INNER0].max(), radii[_fused.OP0] + radii[_fused.INNER0 :].max()))


def _threads(work: int) -> int:
    return int(min(THREADS, max(32, -(-work // 32) * 32)))


def _expand(sl: slice, r: int, n: int) -> tuple[int, int]:
    return max(sl.start - r, 0), min(sl.stop + r, n)


def fused_planes_gpu(
    image: Any,
    scales: Sequence[float],
    chans: np.ndarray,
    spacing_yx: Sequence[float],
    out: Any,
    crop: Sequence[slice],
    *,
    tile: tuple[int, int] | None = None,
    kernels: tuple[Any, Any] | None = None,
) -> None:
    """2-D features of every ``(t, z, c)`` plane for the scale columns ``scales``, into ``out``.

    Parameters
    ----------
    image
        C-contiguous float32 array ``(t, z, y, x, c)`` (cupy; numpy with host ``kernels``).
    scales
        Scale columns, each computed in 2D (:func:`.fused.supported` must hold).
    chans
        int64 ``(c, len(scales), 8)``: output channel of each result slot (``GS .. HESS1``
        of :mod:`.fused`) per input channel, -1 when unselected.
    spacing_yx
        Pixel size along y and x (sigmas divided by it).
    out
        C-contiguous float32 array ``(mt, mz, my, mx, n_channels)`` of ``image``'s kind: the crop.
    crop
        Slices ``(t, z, y, x)`` of ``image`` (with start and stop) that ``out`` holds.
    tile
        Output pixels ``(rows, columns)`` per block (default :data:`TILE`).
    kernels
        ``(presmooth2d, features2d)`` to launch (default: :data:`SOURCE`'s through
        :func:`~gputrack.backend.load_kernel`; tests pass the host emulation's).
    """
    cp = backend.namespace_of(image)
    nt, nz, ny, nx, nc = image.shape
    ct, cz, cy, cx = crop
    my, mx, n_out = out.shape[2:]
    if min(out.shape[:4]) == 0 or not len(scales):
        return
    if image.dtype != np.float32 or not image.flags.c_contiguous or not out.flags.c_contiguous:
        raise ValueError("image and out: expected C-contiguous float32 arrays")
    if kernels is None:
        kernels = tuple(backend.load_kernel(SOURCE, name, options=OPTIONS) for name in KERNELS)
    pre_k, feat_k = kernels
    (wpy, rpy), (wpx, rpx), (wy, ry), (wx, rx) = _fused._tables(scales, spacing_yx)
    halos = [(halo(ry[q]), halo(rx[q])) for q in range(len(scales))]
    ty, tx = (int(v) for v in (TILE if tile is None else tile))
    i32 = np.int32
    pre = None
    for q in range(len(scales)):
        hy, hx = halos[q]
        n_shared = shared_floats((ty, tx), hy, hx) * 4
        if n_shared > MAX_SHARED:
            raise ValueError(f"tile {(ty, tx)}: {n_shared} bytes of shared memory, more than {MAX_SHARED}")
        r0, r1 = _expand(cy, hy, ny)
        c0, c1 = _expand(cx, hx, nx)
        ph, pw = r1 - r0, c1 - c0
        if pre is None or pre.size < ph * pw:
            pre = cp.empty(ph * pw, dtype=cp.float32)
        # presmooth2d: a tile of rows, its y pass over the tile's columns plus the x radius
        p_ty, p_tx = PRESMOOTH_TILE
        p_ty = max(1, min(p_ty, MAX_SHARED // (4 * (p_tx + 2 * int(rpx[q])))))
        p_shared = p_ty * (p_tx + 2 * int(rpx[q])) * 4
        p_grid = (-(-pw // p_tx), -(-ph // p_ty))
        w_py, w_px = cp.asarray(wpy[q]), cp.asarray(wpx[q])
        w_y = cp.asarray(np.ascontiguousarray(wy[q]))
        w_x = cp.asarray(np.ascontiguousarray(wx[q]))
        r_y, r_x = cp.asarray(ry[q].astype(np.int32)), cp.asarray(rx[q].astype(np.int32))
        wlen = i32(wy.shape[2])
        f_grid = (-(-mx // tx), -(-my // ty))
        f_threads = _threads((ty + 2 * hy) * (tx + 2 * hx))
        p_threads = _threads(p_ty * (p_tx + 2 * int(rpx[q])))
        ch_dev = [cp.asarray(np.ascontiguousarray(chans[c, q], dtype=np.int64)) for c in range(nc)]
        for t in range(ct.start, ct.stop):
            for z in range(cz.start, cz.stop):
                obase = np.int64(((t - ct.start) * (cz.stop - cz.start) + (z - cz.start)) * my * mx * n_out)
                for c in range(nc):
                    if (chans[c, q] < 0).all():
                        continue
                    base = np.int64(((t * nz + z) * ny * nx) * nc + c)
                    pre_k(p_grid, (p_threads,),
                          (image, base, np.int64(nx * nc), np.int64(nc), i32(ny), i32(nx), w_py, i32(rpy[q]),
                           w_px, i32(rpx[q]), pre, i32(r0), i32(r1), i32(c0), i32(c1), i32(p_ty), i32(p_tx)),
                          shared_mem=p_shared)
                    feat_k(f_grid, (f_threads,),
                           (pre, i32(r0), i32(c0), i32(pw), i32(ny), i32(nx), w_y, r_y, w_x, r_x, wlen,
                            ch_dev[c], out, obase, np.int64(mx * n_out), i32(n_out), i32(cy.start),
                            i32(cy.stop), i32(cx.start), i32(cx.stop), i32(ty), i32(tx), i32(hy), i32(hx)),
                           shared_mem=n_shared)
