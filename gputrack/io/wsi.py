"""Whole-slide tile reading with cuCIM's ``CuImage``, where it reads a TIFF exactly as tifffile does.

:func:`gputrack.io.open_image` reads TIFF regions through tifffile's Zarr store. For
tiled 8-bit RGB TIFFs (Aperio SVS, generic tiled pyramids) that cuCIM decodes natively,
``cucim.CuImage.read_region`` reads the same pixels on the host, about twice as fast
(``bench/cucim.py``). It is used when the optional ``cucim`` package imports (the
``gpu``/``cuda12``/``cuda13`` extras) and the file is one of those; every other TIFF
(NDPI, grey, 16-bit, stacks, stripped, JPEG 2000, Deflate, ...) stays with tifffile.
CuImage needs no GPU for this: its reader and JPEG/LZW decoders are host code.

The environment variable ``GPUTRACK_TIFF_READER`` chooses: ``auto`` (default),
``tifffile`` (never cuCIM) or ``cucim`` (an error naming the file when cuCIM cannot
read it).

Examples
--------
>>> tiff_reader_setting()  # doctest: +SKIP
'auto'
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["READERS", "cuimage_available", "cuimage_readable", "open_cuimage", "tiff_reader_setting"]

READERS = ("auto", "tifffile", "cucim")
"""Values of ``GPUTRACK_TIFF_READER``."""

# TIFF compressions CuImage decodes natively without printing warnings, checked pixel for pixel
# against tifffile: none, LZW, JPEG. (Deflate decodes equally but libtiff prints a warning per
# file; JPEG 2000 and the rest go through its RGBA "slow path", which changes the pixels.)
_COMPRESSIONS = (1, 5, 7)
_PHOTOMETRIC = (2, 6)  # RGB, YCbCr (JPEG)
# tifffile series kinds checked against CuImage: Aperio SVS and plain (tifffile-written) TIFF;
# cuCIM has no reader for NDPI, SCN, QPTIFF, ... and Philips TIFF is untested here
_KINDS = ("svs", "generic", "shaped")


def tiff_reader_setting() -> str:
    """The TIFF reader chosen by ``GPUTRACK_TIFF_READER`` (default ``"auto"``).

    Raises
    ------
    InputError
        For a value outside :data:`READERS`.
    """
    value = os.environ.get("GPUTRACK_TIFF_READER", "").strip().lower() or "auto"
    if value not in READERS:
        raise InputError(f"GPUTRACK_TIFF_READER={value!r}: expected one of {', '.join(READERS)}")
    return value


@functools.lru_cache(maxsize=1)
def cuimage_available() -> bool:
    """Whether ``cucim.CuImage`` imports (the optional cuCIM package, no GPU needed)."""
    try:
        from cucim import CuImage  # noqa: F401, PLC0415
    except Exception:  # noqa: BLE001 - any failure to load the native library means "not available"
        return False
    return True


def cuimage_readable(tif: Any) -> str | None:
    """Why CuImage would not read this TIFF exactly as tifffile does, or ``None`` when it would.

    Parameters
    ----------
    tif : tifffile.TiffFile
        The open file.

    Returns
    -------
    str or None
        ``None`` for a tiled 8-bit RGB image in a compression CuImage decodes natively
        (CuImage itself may still refuse it, e.g. a stack of pages); else the reason.
    """
    series = tif.series[0]
    page = series.levels[0].keyframe
    kind = str(getattr(series, "kind", "")).lower()
    checks = [
        (kind in _KINDS, f"{kind or 'this'} TIFF, not a kind checked with cuCIM"),
        (page.is_tiled, "not tiled"),
        (series.axes == "YXS" and tuple(series.levels[0].shape)[-1] == 3, f"axes {series.axes}, not RGB"),
        (np.dtype(page.dtype) == np.uint8, f"{page.dtype} pixels, not uint8"),
        (int(page.compression) in _COMPRESSIONS, f"compression {int(page.compression)}"),
        (int(page.photometric) in _PHOTOMETRIC, f"photometric {int(page.photometric)}"),
    ]
    for ok, why in checks:
        if not ok:
            return why
    return None


def open_cuimage(
    path: Path, shape: tuple[int, int, int], *, threads: int | None = None
) -> tuple[Callable[[tuple[slice, ...]], np.ndarray], Callable[[], None]]:
    """Open ``path`` with ``CuImage``: ``(get, close)`` for :class:`gputrack.io.ImageSource`.

    Parameters
    ----------
    path
        A TIFF for which :func:`cuimage_readable` said ``None``.
    shape
        Its ``(y, x, c)`` shape as tifffile reports it; CuImage must agree.
    threads
        Decoder threads of each ``read_region``: at most this many, and no more than the
        region has tiles (default: the CPUs this process may run on).

    Returns
    -------
    get : callable
        ``get((y slice, x slice, c slice)) -> uint8 array``; the slices are normalised
        (positive steps, within the image).
    close : callable
        Releases the file.

    Raises
    ------
    InputError
        When CuImage reports another shape, axis order or pixel type than tifffile.
    """
    from cucim import CuImage  # noqa: PLC0415

    image = CuImage(str(path))
    got = (tuple(int(n) for n in image.shape), str(image.dims), np.dtype(str(image.typestr)))
    if got != (tuple(shape), "YXC", np.dtype(np.uint8)):
        raise InputError(f"{path}: cuCIM reads it as {got}, tifffile as {(tuple(shape), 'YXC', 'uint8')}")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = cpus if threads is None else max(1, int(threads))
    tile_x, tile_y = (int(n) for n in image.resolutions["level_tile_sizes"][0])
    cell: list[Any] = [image]

    def get(sl: tuple[slice, ...]) -> np.ndarray:
        ys, xs, cs = sl
        if ys.stop <= ys.start or xs.stop <= xs.start:
            return np.empty(tuple(len(range(s.start, s.stop, s.step)) for s in sl), np.uint8)
        workers = min(threads, _count(ys, tile_y) * _count(xs, tile_x))
        size = (xs.stop - xs.start, ys.stop - ys.start)
        region = cell[0].read_region((xs.start, ys.start), size, 0, num_workers=workers if workers > 1 else 0)
        data = np.array(region, copy=True)  # own the pixels: the region's buffer lives in the CuImage object
        return data[:: ys.step, :: xs.step, cs]

    def close() -> None:
        cell.clear()

    return get, close


def _count(sl: slice, tile: int) -> int:
    """Number of tiles of edge ``tile`` that ``sl`` (non-empty) touches."""
    return (sl.stop - 1) // tile - sl.start // tile + 1
