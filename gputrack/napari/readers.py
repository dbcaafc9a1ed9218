"""npe2 readers: ilastik ``.ilp`` projects, ``tracking_result.h5`` and CTC folders -> layers.

Each reader returns napari ``LayerData`` tuples ``(data, kwargs, layer_type)``; nothing here
needs Qt. :func:`get_reader` is the manifest's entry: it returns a reader for paths this
plugin understands and ``None`` for the rest, so napari tries other readers.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from gputrack.io.ctc import write_frames
>>> d = pathlib.Path(tempfile.mkdtemp()) / "01"
>>> write_frames(d, np.zeros((3, 8, 8), np.uint16))
>>> [(kw["name"], kind) for _, kw, kind in get_reader(str(d))(str(d))]
[('01', 'image')]
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import GputrackError

LayerData = tuple[Any, dict[str, Any], str]


def _single(path: Any) -> Path | None:
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    return Path(os.fspath(path))


def is_tracking_result(path: Path) -> bool:
    """Whether ``path`` is an HDF5 file written by :func:`gputrack.tracking.save_result`."""
    if path.suffix.lower() not in (".h5", ".hdf5") or not path.is_file() or not h5py.is_hdf5(path):
        return False
    with h5py.File(path, "r") as fh:
        return "lineage" in fh and "solution" in fh and "format_version" in fh.attrs


def _frame_folder(path: Path) -> bool:
    from ..io.ctc import list_frames  # noqa: PLC0415

    try:
        return bool(list_frames(path))
    except (GputrackError, OSError):
        return False


def get_reader(path: str | list[str]) -> Callable[[Any], list[LayerData]] | None:
    """The reader for ``path`` (manifest ``readers``), or ``None`` when it is not ours."""
    p = _single(path)
    if p is None:
        return None
    if p.suffix.lower() == ".ilp" and p.is_file():
        return read_ilp_layers
    if is_tracking_result(p):
        return read_result_layers
    if p.is_dir() and (_frame_folder(p) or _frame_folder(p / "TRA")):
        return read_ctc_layers
    return None


def read_result_layers(path: Any) -> list[LayerData]:
    """A saved tracking result: track-coloured labels, the object identities and a Tracks layer."""
    from ..tracking.result import load_result  # noqa: PLC0415
    from .layers import track_labels_image, tracks_layer_data  # noqa: PLC0415

    p = _single(path)
    result = load_result(p)
    data, props, graph = tracks_layer_data(result.lineage, result.detections)
    layers: list[LayerData] = []
    if result.label_frames is not None or result.label_path:
        layers.append((track_labels_image(result), {"name": f"{p.stem} tracks (labels)"}, "labels"))
    layers.append((data, {"name": f"{p.stem} tracks", "properties": props, "graph": graph}, "tracks"))
    return layers


def read_ctc_layers(path: Any) -> list[LayerData]:
    """A CTC folder: raw frames (``NN``) as an image, masks (``NN_GT/TRA``, results) as labels + tracks.

    For a raw folder ``NN`` whose sibling ``NN_GT`` exists, its TRA masks and tracks come too.
    """
    from ..io.ctc import list_frames, read_frames, read_tracks  # noqa: PLC0415
    from .layers import tracks_from_masks  # noqa: PLC0415

    p = _single(path)
    if not _frame_folder(p) and _frame_folder(p / "TRA"):
        p = p / "TRA"
    frames = read_frames(p)
    first = list_frames(p)[0][1].name
    layers: list[LayerData] = []
    if first.startswith("t"):
        layers.append((frames, {"name": p.name}, "image"))
        gt = p.with_name(p.name + "_GT") / "TRA"
        if not gt.is_dir():
            return layers
        p, frames = gt, read_frames(gt)
    tracks = None
    for name in ("man_track.txt", "res_track.txt"):
        if (p / name).is_file():
            tracks = read_tracks(p / name)
    label = p.parent.name + "/" + p.name if p.name == "TRA" else p.name
    layers.append((frames, {"name": f"{label} masks"}, "labels"))
    data, props, graph = tracks_from_masks(frames, tracks)
    layers.append((data, {"name": f"{label} tracks", "properties": props, "graph": graph}, "tracks"))
    return layers


def read_ilp_layers(path: Any) -> list[LayerData]:
    """An ilastik project: each lane's raw data (when found) and its pixel labels.

    Raw data are shown in ``[t, z,] y, x[, c]`` order; the labels in the same order without ``c``.
    """
    from ..io.axes import transpose_axes  # noqa: PLC0415
    from ..io.ilp import label_image, open_lane, read_ilp  # noqa: PLC0415

    p = _single(path)
    project = read_ilp(p)
    layers: list[LayerData] = []
    for lane in project.lanes:
        raw = lane.raw
        name = f"{p.stem} lane {lane.index}"
        if raw is None:
            continue
        axes = raw.axes
        order = "".join(a for a in "tzyxc" if a in axes)
        if raw.exists:
            image = transpose_axes(open_lane(project, lane.index), axes, order)
            shape = dict(zip(order, image.shape))
            keep = "".join(a for a in order if shape[a] > 1 or a in "yx")
            image = image.reshape([shape[a] for a in keep])
            rgb = keep.endswith("c") and shape["c"] in (3, 4)
            if keep.endswith("c") and not rgb:
                image, keep = np.moveaxis(image, -1, 0), "c" + keep[:-1]
                layers.append((image, {"name": name, "channel_axis": 0}, "image"))
            else:
                layers.append((image, {"name": name, "rgb": rgb}, "image"))
        if project.pixel_stages:
            lab_axes = "".join(a for a in order if a != "c")
            try:
                labels = label_image(project, lane.index, axes=lab_axes)
            except GputrackError:
                continue
            if labels.any():
                dims = dict(zip(lab_axes, labels.shape))
                keep_l = "".join(a for a in lab_axes if dims[a] > 1 or a in "yx")
                shown = labels.reshape([dims[a] for a in keep_l])
                layers.append((shown, {"name": f"{name} labels"}, "labels"))
    return layers
