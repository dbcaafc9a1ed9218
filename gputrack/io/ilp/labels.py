"""The pixel labels of an ilastik project: ``PixelClassification[NN]/LabelSets/labelsNNN/blockNNNN``.

Each block is a uint8 array of class ids with a ``blockSlice`` attribute (where it lies
in the lane) and, since ilastik 1.3.3, an ``axistags`` attribute. ilastik 1.1 to 1.4
wrote blocks without ``axistags`` in several orders: the lane's stored axes, those axes
with the singleton ones squeezed out (``yxc`` blocks of a ``tzyxc`` lane of shape
``(1, 1, Y, X, 1)``), or ``txyzc`` (object classification and tracking workflows). One
rule reads them all: :func:`infer_block_axes` matches the ``blockSlice`` against the
lane's axes and shape. A block that cannot be placed is not fatal: it is left out and
named in :attr:`~gputrack.io.ilp.PixelStage.label_problems` (``ilp-info`` prints it;
prediction with the stored forest never needs the labels).

Examples
--------
>>> from gputrack.io.ilp import read_ilp, label_counts
>>> label_counts(read_ilp("PixelClass.ilp"))                  # doctest: +SKIP
{1: 79, 2: 78}
>>> infer_block_axes("[281:457,412:504,0:1]", "tzyxc", (1, 1, 1024, 1344, 1))
'yxc'
"""

from __future__ import annotations

import itertools
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


# cost of leaving a lane axis out of a block (nothing for an axis of extent 1, except c):
# t and z are the axes ilastik squeezes; label blocks have kept c in every version
_DROP_COST = {"t": 1, "z": 2, "c": 3}


def _fits(axes: str, slices: tuple[slice, ...], full: str, extent: dict[str, int]) -> bool:
    """Whether slices read in ``axes`` order lie inside a lane of axes ``full`` (extents where known)."""
    for key, s in zip(axes, slices):
        if s.start < 0 or s.stop <= s.start:
            return False
        if key == "c" and (s.start, s.stop) != (0, 1):  # labels have one channel
            return False
        if key in extent and s.stop > extent[key]:
            return False
    return all(extent.get(k, 1) == 1 for k in full if k not in axes and k != "c")


def infer_block_axes(
    block_slice: str | tuple[slice, ...],
    lane_axes: str,
    lane_shape: tuple[int, ...] | None = None,
    *,
    forced_txyzc: bool = False,
) -> str | None:
    """The axis order of a label block stored without ``axistags``, from its ``blockSlice``.

    Candidates, in this order: ``txyzc`` for the 5-d blocks of workflows that force it
    (``forced_txyzc``); the lane's axes (``c`` added when the lane has none); the lane's
    axes with some left out (the singleton ones, as ilastik squeezes them), cheapest
    first (leaving out an axis of extent 1 costs nothing; ``c``, or an axis of unknown
    extent, costs ``t`` < ``z`` < ``c`` < others); ``txyzc`` for
    any 5-d block. The first candidate whose slices fit the lane wins: every slice inside
    the lane's extent where known, ``c`` exactly ``0:1`` (labels have one channel), every
    left-out axis of extent 1 (or unknown).

    Parameters
    ----------
    block_slice
        The block's ``blockSlice`` attribute (``"[281:457,412:504,0:1]"``) or its slices.
    lane_axes
        The lane's stored axis keys (``"tzyxc"``).
    lane_shape
        The lane's shape in ``lane_axes`` order, when known.
    forced_txyzc
        The workflow forces ``txyzc`` on its inputs (object classification, tracking).

    Returns
    -------
    str or None
        Axis keys, one per slice; ``None`` when no candidate fits.

    Examples
    --------
    >>> infer_block_axes("[281:457,412:504,0:1]", "tzyxc", (1, 1, 1024, 1344, 1))
    'yxc'
    >>> infer_block_axes("[0:1,1:22,7:74,0:1]", "tyxc")
    'tyxc'
    """
    slices = block_slice
    if isinstance(block_slice, (str, bytes, np.ndarray)):
        slices = _parse_block_slice(block_slice)
    n = len(slices)
    lane_axes = (lane_axes or "").lower()
    full = lane_axes if "c" in lane_axes else lane_axes + "c"
    extent: dict[str, int] = {}
    if lane_shape is not None and len(lane_shape) == len(lane_axes):
        extent = {k: int(v) for k, v in zip(lane_axes, lane_shape) if k != "c"}
    candidates = ["txyzc"] if forced_txyzc and n == 5 else []
    if lane_axes:
        def cost(kept: tuple[int, ...]) -> tuple[int, int]:
            dropped = [full[i] for i in range(len(full)) if i not in kept]
            weights = [_DROP_COST.get(k, 6) for k in dropped]
            unknown = sum(w for k, w in zip(dropped, weights) if k == "c" or extent.get(k) != 1)
            return unknown, sum(weights)

        subsets = sorted(itertools.combinations(range(len(full)), n), key=cost) if n <= len(full) else []
        candidates += ["".join(full[i] for i in kept) for kept in subsets]
    if n == 5:
        candidates.append("txyzc")
    for axes in candidates:
        if _fits(axes, slices, full if lane_axes else axes, extent):
            return axes
    return None


def _read_label_blocks(
    f: h5py.File, group: h5py.Group, lanes: list[Lane], forced: bool
) -> tuple[list[list[LabelBlock]], list[str]]:
    """Where each stored label block of a pixel-classification group lies, per lane.

    Returns the placed blocks per lane and one message per block that cannot be placed.
    """
    blocks: list[list[LabelBlock]] = []
    problems: list[str] = []
    label_sets = group.get("LabelSets")
    if label_sets is None:
        return blocks, problems
    for lane_index, name in enumerate(sorted(label_sets)):
        lane_blocks = []
        raw = lanes[lane_index].raw if lane_index < len(lanes) else None
        lane_axes = raw.axes if raw else ""
        lane_shape = raw.shape if raw else None
        for block_name in sorted(label_sets[name]):
            ds = label_sets[name][block_name]
            if not isinstance(ds, h5py.Dataset) or "blockSlice" not in ds.attrs:
                continue
            where = f"{ds.name} (shape {ds.shape}, blockSlice {_text(ds.attrs['blockSlice'])})"
            try:
                slices = _parse_block_slice(ds.attrs["blockSlice"])
            except InputError:
                problems.append(f"{where}: blockSlice cannot be parsed")
                continue
            if len(slices) != ds.ndim or tuple(s.stop - s.start for s in slices) != ds.shape:
                problems.append(f"{where}: the blockSlice does not match the block's shape")
                continue
            if "axistags" in ds.attrs:
                axes = parse_axistags(ds.attrs["axistags"])
                if len(axes) != ds.ndim:
                    problems.append(f"{where}: its axistags {axes!r} do not match its {ds.ndim} axes")
                    continue
            else:
                axes = infer_block_axes(slices, lane_axes, lane_shape, forced_txyzc=forced)
                if axes is None:
                    shape = "x".join(map(str, lane_shape)) if lane_shape else "unknown"
                    problems.append(
                        f"{where}: does not fit lane {lane_index} (axes {lane_axes or '?'}, shape {shape}) "
                        "in any axis order; left out"
                    )
                    continue
            lane_blocks.append(LabelBlock(ds.name, slices, axes))
        blocks.append(lane_blocks)
    return blocks, problems


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
