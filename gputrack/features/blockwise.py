"""Blockwise features of images of any size: halos, lazy reading, out-of-memory retry.

A block's features are computed from the block plus the halo its largest scale needs
(pre-smoothing radius + operator radius, per axis), read lazily from the source, and the
interior is cropped. Because the halo covers the whole support of the two-stage filters,
the blocks are exactly the whole-image features. At most one block's features exist at a
time, so no stage ever holds the feature stack of a large image.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..errors import InputError
from .compute import check_axes, from_tzyxc, normalize_spacing, spatial_ndim, to_tzyxc
from .filters import axis_scales, check_scales, feature_stack, scale_radius
from .selection import FeatureSelection, channel_names, normalize_selection

log = logging.getLogger("gputrack")

MIN_BLOCK = 16


def halo_for(
    selection: Any = "all",
    *,
    scales: Sequence[float] | None = None,
    in_2d: bool | Sequence[bool] = False,
    spacing: Sequence[float] | None = None,
) -> tuple[int, int, int]:
    """Halo ``(z, y, x)`` in pixels that makes blockwise features equal whole-image ones.

    Parameters
    ----------
    selection, scales, in_2d
        As for :func:`~gputrack.features.compute`.
    spacing
        Optional ``(z, y, x)`` pixel size (sigmas divided per axis).

    Returns
    -------
    tuple of int
        Per-axis halo; z is 0 when every selected scale is computed in 2D.

    Examples
    --------
    >>> halo_for({"GaussianSmoothing": [1.0]})
    (6, 6, 6)
    >>> halo_for("all", in_2d=True)
    (0, 38, 38)
    """
    sel = normalize_selection(selection, scales=scales, in_2d=in_2d)
    halo = [0, 0, 0]
    for s, flag, feats in sel.columns():
        per_axis = axis_scales(s, spacing)
        for i, s_ax in enumerate(per_axis):
            if i == 0 and flag:
                continue
            halo[i] = max(halo[i], scale_radius(s_ax, feats))
    return tuple(halo)


def feature_names(
    shape: Sequence[int],
    selection: Any = "all",
    *,
    axes: str | None = None,
    in_2d: bool | Sequence[bool] = False,
    scales: Sequence[float] | None = None,
) -> list[str]:
    """ilastik's channel names of the features of an image of ``shape`` (and ``axes``).

    Examples
    --------
    >>> feature_names((10, 64, 64), {"GaussianSmoothing": [1.0]})
    ['Gaussian Smoothing (σ=1.0)']
    """
    axes = check_axes(axes, len(shape))
    sel = normalize_selection(selection, scales=scales, in_2d=in_2d)
    nz = shape[axes.index("z")] if "z" in axes else 1
    nc = shape[axes.index("c")] if "c" in axes else 1
    return channel_names(sel, ndim=spatial_ndim((nz,)), n_channels=nc)


def _reader(source: Any) -> Callable[[tuple[slice, ...]], Any]:
    if hasattr(source, "read"):
        return lambda region: source.read(region=region)
    if callable(source) and not hasattr(source, "__getitem__"):
        return source
    return lambda region: source[region]


def iter_feature_blocks(
    source: Any,
    selection: Any = "all",
    block_shape: Sequence[int] | None = None,
    *,
    axes: str | None = None,
    shape: Sequence[int] | None = None,
    in_2d: bool | Sequence[bool] = False,
    scales: Sequence[float] | None = None,
    spacing: Sequence[float] | None = None,
    device: str | None = "auto",
    memory_budget: int | None = None,
    transform: Callable[[Any], Any] | None = None,
) -> Iterator[tuple[tuple[slice, ...], Any]]:
    """Features of a lazily read image, block by block.

    Parameters
    ----------
    source
        An object with ``.shape`` and numpy-style slicing (``source[region]``: numpy, h5py,
        zarr, memmap), an object with ``.read(region=...)`` (``gputrack.io`` images), or a
        callable ``read(region)`` (then pass ``shape=``). ``region`` is a tuple of slices
        over all of the source's axes.
    selection
        As for :func:`~gputrack.features.compute`.
    block_shape
        Output block edges for the non-channel axes, in the source's axis order; default:
        one time point and spatial blocks sized from the device's free memory.
    axes
        The source's axes (letters of ``tzyxc``); default ``source.axes`` if present, else by
        the number of dimensions (``yx``, ``zyx``, ``zyxc``, ``tzyxc``).
    shape
        The source's shape, when it has no ``.shape``.
    in_2d, scales, spacing, device
        As for :func:`~gputrack.features.compute`.
    memory_budget
        Bytes per block for the automatic block shape (default: a quarter of free memory).
    transform
        ``transform(features) -> result`` run on each block before it is yielded (e.g. the
        forest): with automatic blocks, an out-of-memory error in it, as in the features,
        splits the block and retries, and later blocks start at the size that worked.

    Yields
    ------
    region : tuple of slice
        Where the block sits in the output (non-channel axes, source order).
    block : array
        float32 features of that region, channels last (on the device), or
        ``transform(features)``.

    Examples
    --------
    >>> from gputrack.features import compute
    >>> img = np.random.default_rng(0).random((100, 90)).astype(np.float32)
    >>> sel = {"GaussianSmoothing": [3.5]}
    >>> out = np.empty((100, 90, 1), np.float32)
    >>> for region, block in iter_feature_blocks(img, sel, (40, 40), device="cpu"):
    ...     out[region] = block
    >>> bool(np.allclose(out, compute(img, sel, device="cpu").data))
    True
    """
    device = backend.resolve_device(device)
    if shape is None:
        if not hasattr(source, "shape"):
            raise InputError("iter_feature_blocks: the source has no .shape; pass shape=")
        shape = source.shape
    shape = tuple(int(n) for n in shape)
    if axes is None and isinstance(getattr(source, "axes", None), str):
        axes = source.axes
    axes = check_axes(axes, len(shape))
    sel = normalize_selection(selection, scales=scales, in_2d=in_2d)
    dims = dict(zip(axes, shape))
    zyx = (dims.get("z", 1), dims["y"], dims["x"])
    sp = normalize_spacing(spacing, axes)
    check_scales(sel, zyx, sp)
    halo_zyx = _effective_halo(sel, sp, zyx)
    read = _reader(source)
    out_axes = [a for a in axes if a != "c"]
    n_feat = len(channel_names(sel, ndim=spatial_ndim(zyx), n_channels=dims.get("c", 1)))
    halo = [halo_zyx["zyx".index(a)] if a in "zyx" else 0 for a in out_axes]
    full = [dims[a] for a in out_axes]
    if block_shape is None:
        block = _auto_block(full, out_axes, halo, n_feat, dims.get("c", 1), device, memory_budget)
    else:
        block = [int(b) for b in block_shape]
        if len(block) != len(out_axes):
            raise InputError(
                f"block_shape={tuple(block)}: expected {len(out_axes)} edges for axes {''.join(out_axes)}"
            )
        if any(b < 1 for b in block):
            raise InputError(f"block_shape={tuple(block)}: expected positive edges")
    starts = [range(0, n, b) for n, b in zip(full, block)]
    state = _RetryState(transform)
    for corner in itertools.product(*starts):
        region = tuple(slice(c, min(c + b, n)) for c, b, n in zip(corner, block, full))
        yield from _compute_region(
            read, region, axes, out_axes, halo, full, sel, sp, device, auto=block_shape is None, state=state
        )


class _RetryState:
    """What a run of blocks learned: the smallest block (pixels) that ran out of memory."""

    def __init__(self, transform: Callable[[Any], Any] | None) -> None:
        self.transform = transform
        self.failed_pixels: int | None = None


def _effective_halo(sel: FeatureSelection, spacing: Any, zyx: Sequence[int]) -> tuple[int, int, int]:
    halo = list(halo_for(sel, spacing=spacing))
    if zyx[0] == 1:
        halo[0] = 0
    return tuple(halo)


def _auto_block(full, out_axes, halo, n_feat, n_chan, device, budget) -> list[int]:
    # working set per pixel: input, output features and ~10 float32 temporaries per channel
    bytes_per = 4.0 * (n_feat + n_chan * 12)
    spatial = [i for i, a in enumerate(out_axes) if a != "t"]
    edges = backend.block_shape(
        [full[i] for i in spatial],
        bytes_per,
        device=device,
        budget=budget,
        halo=[halo[i] for i in spatial],
        minimum=MIN_BLOCK,
    )
    block = [1] * len(out_axes)
    for i, e in zip(spatial, edges):
        block[i] = int(e)
    return block


def _split(region: tuple[slice, ...]) -> list[tuple[slice, ...]] | None:
    """Halve the longest edge of a region (``None`` when it is at :data:`MIN_BLOCK`)."""
    sizes = [r.stop - r.start for r in region]
    i = int(np.argmax(sizes))
    if sizes[i] <= MIN_BLOCK:
        return None
    mid = region[i].start + sizes[i] // 2
    halves = (slice(region[i].start, mid), slice(mid, region[i].stop))
    return [region[:i] + (part,) + region[i + 1 :] for part in halves]


def _compute_region(read, region, axes, out_axes, halo, full, sel, spacing, device, *, auto, state):
    pixels = int(np.prod([r.stop - r.start for r in region]))
    known_too_big = auto and state.failed_pixels is not None and pixels >= state.failed_pixels
    parts = _split(region) if known_too_big else None
    if parts is None:
        padded = tuple(
            slice(max(r.start - h, 0), min(r.stop + h, n)) for r, h, n in zip(region, halo, full)
        )
        try:
            by_axis = dict(zip(out_axes, padded))
            src_region = tuple(by_axis.get(a, slice(None)) for a in axes)
            raw = read(src_region)
            raw = backend.to_device(raw, device, dtype=np.float32)
            if raw.ndim != len(axes):
                raise InputError(
                    f"reading region {src_region} gave an array of {raw.ndim} dims: "
                    f"expected {len(axes)} ({axes})"
                )
            inner = {
                a: slice(r.start - p.start, r.stop - p.start) for a, r, p in zip(out_axes, region, padded)
            }
            crop = tuple(inner.get(a, slice(None)) for a in "tzyx")
            stack = feature_stack(to_tzyxc(raw, axes), sel, spacing=spacing, device=device, crop=crop)
            del raw
            block = from_tzyxc(stack, axes)
            del stack
            if state.transform is not None:
                block = state.transform(block)
        except Exception as err:
            if not (auto and backend.is_out_of_memory(err)):
                raise
            raw = stack = block = None  # noqa: F841 - drop the failed block's arrays before retrying
            backend.free_cached_memory(device)
            parts = _split(region)
            if parts is None:
                raise
            state.failed_pixels = pixels if state.failed_pixels is None else min(state.failed_pixels, pixels)
            log.info(
                "out of memory on a block of %s: retrying with halves", [r.stop - r.start for r in region]
            )
        if parts is None:
            yield region, block
            return
    for sub in parts:
        yield from _compute_region(
            read, sub, axes, out_axes, halo, full, sel, spacing, device, auto=auto, state=state
        )
