"""The pixel labels of an ilastik project: ``PixelClassification[NN]/LabelSets/labelsNNN/blockNNNN``.

Each block is a uint8 array of class ids with a ``blockSlice`` attribute (where it lies
in the lane) and, since ilastik 1.3.3, an ``axistags`` attribute. Labels without
``axistags`` are given the axes of the lane's raw data (plus ``c``), or ``txyzc`` for
5-d blocks of the object classification and tracking workflows, which force that order
on their inputs.

Examples
--------
>>> from gputrack.io.ilp import read_ilp, label_counts
>>> label_counts(read_ilp("PixelClass.ilp"))                  # doctest: +SKIP
{1: 79, 2: 78}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import h5py
import numpy as np

from ...errors import InputError
from ..axes import parse_axistags, transpose_axes
from .lanes import Lane, _lane_extent
from .stored import _text

if TYPE_CHECKING:
    from .project import IlpProject

_AXIS_KEYS = "tczyx"


@dataclass
class LabelBlock:
    """Where one stored block of pixel labels lies: dataset name, slices and their axes."""

    dataset: str
    slices: tuple[slice, ...]
    axes: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(s.stop - s.start for s in self.slices)


def _parse_block_slice(text: str) -> tuple[slice, ...]:
    """``"[26:64,36:101,0:1]"`` -> slices."""
    parts = re.findall(r"(-?\d+)\s*:\s*(-?\d+)", _text(text))
    if not parts:
        raise InputError(f"cannot parse blockSlice {text!r}")
    return tuple(slice(int(a), int(b)) for a, b in parts)


def _default_block_axes(ndim: int, raw_axes: str, forced_txyzc: bool) -> str | None:
    if forced_txyzc and ndim == 5:
        return "txyzc"
    if raw_axes and ndim == len(raw_axes) and "c" in raw_axes:
        return raw_axes
    if raw_axes and ndim == len(raw_axes) + 1 and "c" not in raw_axes:
        return raw_axes + "c"
    return "txyzc" if ndim == 5 else None


def _read_label_blocks(
    f: h5py.File, group: h5py.Group, lanes: list[Lane], forced: bool
) -> list[list[LabelBlock]]:
    """Where each stored label block of a pixel-classification group lies, per lane."""
    blocks: list[list[LabelBlock]] = []
    label_sets = group.get("LabelSets")
    if label_sets is not None:
        for lane_index, name in enumerate(sorted(label_sets)):
            lane_blocks = []
            raw = lanes[lane_index].raw if lane_index < len(lanes) else None
            for block_name in sorted(label_sets[name]):
                ds = label_sets[name][block_name]
                if not isinstance(ds, h5py.Dataset) or "blockSlice" not in ds.attrs:
                    continue
                slices = _parse_block_slice(ds.attrs["blockSlice"])
                if "axistags" in ds.attrs:
                    axes = parse_axistags(ds.attrs["axistags"])
                else:
                    axes = _default_block_axes(ds.ndim, raw.axes if raw else "", forced)
                if axes is None or len(axes) != ds.ndim or len(slices) != ds.ndim:
                    raise InputError(
                        f"{f.filename}: {ds.name} has {ds.ndim} axes and blockSlice "
                        f"{_text(ds.attrs['blockSlice'])}; cannot tell its axis order"
                    )
                if tuple(s.stop - s.start for s in slices) != ds.shape:
                    raise InputError(
                        f"{f.filename}: {ds.name} has shape {ds.shape} but blockSlice "
                        f"{_text(ds.attrs['blockSlice'])}"
                    )
                lane_blocks.append(LabelBlock(ds.name, slices, axes))
            blocks.append(lane_blocks)
    return blocks


def label_image(
    project: IlpProject,
    lane: int = 0,
    shape: tuple[int, ...] | None = None,
    *,
    axes: str | None = None,
    stage: int = 0,
) -> np.ndarray:
    """Assemble a lane's sparse pixel labels (0 = unlabelled, k = class ``k``).

    Each stored block is placed at its ``blockSlice``, read in the block's own axis
    order and transposed to ``axes``.

    Parameters
    ----------
    project, lane
        The project and the lane index.
    shape
        Shape of the result in ``axes`` order. By default the lane's raw-data extent
        (from the project, or from the raw file when it can be found), else the
        smallest extent holding every block.
    axes
        Axis keys of the result (any of ``tczyx``), e.g. ``"tzyx"``. Default: the lane's
        raw-data axes without ``c`` (labels have one channel). Axes of the blocks left
        out must have extent 1; axes not in the blocks are added with size 1.
    stage
        Pixel-classification stage (1 = the second stage of autocontext).

    Returns
    -------
    numpy.ndarray
        uint8 (or the blocks' dtype) label image.

    Examples
    --------
    >>> labels = label_image(read_ilp("PixelClass.ilp"), 0)       # doctest: +SKIP
    >>> labels.shape, labels.max()                                # doctest: +SKIP
    ((128, 128), 2)
    """
    if stage >= len(project.pixel_stages):
        raise InputError(f"{project.path}: no pixel-classification stage {stage}")
    pixel = project.pixel_stages[stage]
    blocks = pixel.label_blocks[lane] if lane < len(pixel.label_blocks) else []
    if not 0 <= lane < max(len(project.lanes), len(pixel.label_blocks)):
        raise InputError(f"{project.path}: no lane {lane}; the project has {len(project.lanes)} lane(s)")
    if axes is None:
        raw = project.lanes[lane].raw if lane < len(project.lanes) else None
        axes = (raw.axes if raw and raw.axes else (blocks[0].axes if blocks else "yxc")).replace("c", "")
    axes = axes.lower()
    if set(axes) - set(_AXIS_KEYS) or len(set(axes)) != len(axes):
        raise InputError(f"axes {axes!r}: expected distinct keys from {_AXIS_KEYS!r}")
    extent = _lane_extent(project, lane)
    extent["c"] = 1
    if shape is not None:
        if len(shape) != len(axes):
            raise InputError(f"shape {tuple(shape)} does not fit axes {axes!r}")
        out_shape = tuple(int(s) for s in shape)
    else:
        stops: dict[str, int] = {}
        for b in blocks:
            for key, s in zip(b.axes, b.slices):
                stops[key] = max(stops.get(key, 0), s.stop)
        out_shape = tuple(max(extent.get(k, 0), stops.get(k, 0), 1) for k in axes)
    return _assemble(project, blocks, axes, out_shape)


def _assemble(
    project: IlpProject,
    blocks: list[LabelBlock],
    axes: str,
    shape: tuple[int, ...],
    origin: dict[str, int] | None = None,
) -> np.ndarray:
    """Paste label blocks into a zero image of ``shape`` (axes ``axes``) whose corner is ``origin``."""
    origin = origin or {}
    dtype = np.uint8
    with h5py.File(project.path, "r") as f:
        if blocks:
            dtype = np.result_type(*[f[b.dataset].dtype for b in blocks])
        out = np.zeros(shape, dtype=dtype)
        for b in blocks:
            for key, s in zip(b.axes, b.slices):
                if key not in axes and (s.start != 0 or s.stop != 1):
                    raise InputError(
                        f"{project.path}: label block {b.dataset} spans {key}={s.start}:{s.stop}, "
                        f"but axes {axes!r} leave out {key!r}"
                    )
            data = transpose_axes(f[b.dataset][()], b.axes, axes)
            where = dict(zip(b.axes, b.slices))
            index = tuple(
                slice(where[k].start - origin.get(k, 0), where[k].stop - origin.get(k, 0))
                if k in where
                else slice(0, 1)
                for k in axes
            )
            region = out[index]
            if region.shape != data.shape or any(i.start < 0 for i in index):
                raise InputError(
                    f"{project.path}: label block {b.dataset} at {b.slices} falls outside the label image "
                    f"of shape {shape} (axes {axes!r}); pass a larger shape"
                )
            np.copyto(region, data, where=data != 0)
    return out


def label_counts(project: IlpProject, stage: int = 0) -> dict[int, int]:
    """Number of labelled pixels per class id, summed over all lanes.

    Examples
    --------
    >>> label_counts(read_ilp("PixelClass.ilp"))                  # doctest: +SKIP
    {1: 79, 2: 78}
    """
    if stage >= len(project.pixel_stages):
        return {}
    counts: dict[int, int] = {}
    for lane in range(len(project.pixel_stages[stage].label_blocks)):
        blocks = project.pixel_stages[stage].label_blocks[lane]
        if not blocks:
            continue
        axes = blocks[0].axes  # assemble only the blocks' bounding box (overlaps count once)
        spans = [dict(zip(b.axes, b.slices)) for b in blocks]
        origin = {k: min(w[k].start for w in spans if k in w) for k in axes}
        stop = {k: max(w[k].stop for w in spans if k in w) for k in axes}
        values = _assemble(project, blocks, axes, tuple(stop[k] - origin[k] for k in axes), origin)
        ids, n = np.unique(values, return_counts=True)
        for i, k in zip(ids.tolist(), n.tolist()):
            if i != 0:
                counts[int(i)] = counts.get(int(i), 0) + int(k)
    return dict(sorted(counts.items()))
