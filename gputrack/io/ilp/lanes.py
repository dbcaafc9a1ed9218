"""The image lanes of an ilastik project (``Input Data/``): where each input lies, its axes and shape.

``Input Data/infos/laneNNNN/<role>/`` holds ``location`` (``FileSystem`` or
``ProjectInternal``), ``filePath`` (relative to the project folder unless absolute;
``file.h5/dataset`` names a dataset inside an HDF5 file; Windows separators are
accepted), ``axistags`` (or the older ``axisorder``), ``shape``, ``nickname`` and
``datasetId``; project-internal data lies under ``Input Data/local_data/``. Reading never
needs the files; :func:`open_lane` and :func:`raw_data_path` do, and say how to point at
them (``raw_data=`` / ``--raw-data``) when they are not where the project says.

Examples
--------
>>> from gputrack.io.ilp import read_ilp, open_lane
>>> open_lane(read_ilp("PixelClass.ilp"), 0).shape        # doctest: +SKIP
(128, 128, 1)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from ...errors import InputError, MissingInputError
from ..axes import parse_axistags, transpose_axes
from ..images import open_image
from .stored import _string_list, _value

if TYPE_CHECKING:
    from .project import IlpProject

_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".ilp", ".n5", ".zarr")


@dataclass
class LaneInput:
    """One input image of a lane (one role: ``Raw Data``, ``Prediction Maps``, ...).

    ``axes`` are lowercase keys from ``tczyx`` in the stored order of the data (the
    order of ``shape``). ``path`` is the resolved external file (``None`` for data kept
    inside the project), ``dataset`` the dataset inside an HDF5 file or inside the
    project. ``exists`` tells whether the data can be found; ``relocated`` that the file
    was not at its stored absolute path but found by name next to the project;
    ``overridden`` that the path came from ``raw_data=``.
    """

    role: str
    location: str
    file_path: str
    path: Path | None
    dataset: str | None
    axes: str
    shape: tuple[int, ...] | None
    nickname: str = ""
    dataset_id: str = ""
    exists: bool = False
    relocated: bool = False
    overridden: bool = False


@dataclass
class Lane:
    """One image lane: its inputs by role name, in the project's role order."""

    index: int
    inputs: dict[str, LaneInput]

    @property
    def raw(self) -> LaneInput | None:
        """The lane's first role (``Raw Data`` in every ilastik workflow), if set."""
        return next(iter(self.inputs.values()), None)


# --------------------------------------------------------------------------- paths


def _split_internal(file_path: str) -> tuple[str, str | None]:
    """Split ``dir/file.h5/group/data`` into the file and the dataset inside it."""
    parts = file_path.split("/")
    for i, part in enumerate(parts):
        if part.lower().endswith(_HDF5_SUFFIXES) and i < len(parts) - 1:
            return "/".join(parts[: i + 1]), "/".join(parts[i + 1 :])
    return file_path, None


def _resolve(file_part: str, base: Path) -> tuple[Path, bool]:
    """Resolve a stored path; a missing absolute path is looked up by name in ``base``."""
    path = Path(file_part)
    if not path.is_absolute():
        return (base / path), False
    if path.exists() or any(ch in file_part for ch in "*?["):
        return path, False
    candidate = base / path.name
    if candidate.exists():
        return candidate, True
    return path, False


def _exists(path: Path, dataset: str | None) -> bool:
    if any(ch in path.name for ch in "*?["):
        return any(path.parent.glob(path.name))
    if not path.exists():
        return False
    if dataset and path.suffix.lower() in (".h5", ".hdf5", ".hdf", ".ilp"):
        try:
            with h5py.File(path, "r") as f:
                return isinstance(f.get(dataset), h5py.Dataset)
        except OSError:
            return False
    return True


def _open_source(path: Path, dataset: str | None, axes: str):
    """Open an image lazily with the project's axes where they fit the file."""
    src = open_image(path, dataset=dataset)
    if axes and len(axes) == src.ndim:
        src.axes = axes
    elif axes and len(axes) == src.ndim + 1 and axes.endswith("c"):
        src.axes = axes[:-1]
    return src


def _probe_shape(path: Path, dataset: str | None, axes: str) -> tuple[int, ...] | None:
    """Shape of an existing image file without reading its pixels (None if unknown)."""
    try:
        if path.suffix.lower() == ".npy":
            return tuple(np.load(path, mmap_mode="r").shape)
        return tuple(_open_source(path, dataset, axes).shape)
    except (OSError, ValueError, KeyError, InputError):
        return None


def _fit_shape(shape: tuple[int, ...] | None, axes: str) -> tuple[int, ...] | None:
    """Bring a probed file shape to the stored axes (a missing trailing ``c`` is 1)."""
    if shape is None:
        return None
    if len(shape) == len(axes):
        return shape
    if len(shape) + 1 == len(axes) and axes.endswith("c"):
        return (*shape, 1)
    return None


# --------------------------------------------------------------------------- reading


def _read_input(
    info: h5py.Group, f: h5py.File, role: str, base: Path, override: str | None
) -> LaneInput | None:
    if len(info) == 0:
        return None
    location = _value(info, "location", "FileSystem")
    file_path = _value(info, "filePath", "").replace("\\", "/")
    if "axistags" in info:
        axes = parse_axistags(info["axistags"][()])
    else:
        axes = _value(info, "axisorder", "").lower()
    shape_value = _value(info, "shape")
    shape = tuple(int(s) for s in np.atleast_1d(shape_value)) if shape_value is not None else None
    dataset_id = _value(info, "datasetId", "")
    entry = LaneInput(
        role=role,
        location=location,
        file_path=file_path,
        path=None,
        dataset=None,
        axes=axes,
        shape=shape,
        nickname=_value(info, "nickname", ""),
        dataset_id=dataset_id,
    )
    if override is not None:
        file_part, inner = _split_internal(str(override).replace("\\", "/"))
        stored_inner = _split_internal(file_path)[1]
        entry.location = "FileSystem"
        entry.path = Path(file_part).expanduser().resolve()
        entry.dataset = inner or stored_inner or _value(info, "inner_path")
        entry.overridden = True
        entry.shape = None  # the stored shape describes the project's own file
    elif location == "ProjectInternal":
        candidates = [_value(info, "inner_path"), file_path, f"Input Data/local_data/{dataset_id}"]
        entry.dataset = next((c for c in candidates if c and isinstance(f.get(c), h5py.Dataset)), None)
        entry.exists = entry.dataset is not None
        if entry.exists and entry.shape is None:
            entry.shape = tuple(f[entry.dataset].shape)
        return entry
    else:
        file_part, inner = _split_internal(file_path)
        entry.path, entry.relocated = _resolve(file_part, base)
        entry.dataset = inner
    entry.exists = _exists(entry.path, entry.dataset)
    if entry.exists and entry.shape is None:
        entry.shape = _fit_shape(_probe_shape(entry.path, entry.dataset, entry.axes), entry.axes)
    return entry


def _read_lanes(f: h5py.File, base: Path, raw_data: dict[int, str]) -> tuple[list[str], list[Lane]]:
    group = f.get("Input Data")
    if group is None:
        return [], []
    roles = _string_list(group, "Role Names")
    infos = group.get("infos")
    lanes: list[Lane] = []
    if infos is None:
        return roles, lanes
    for index, name in enumerate(sorted(infos)):
        lane_group = infos[name]
        names = roles + [r for r in lane_group if r not in roles]
        inputs: dict[str, LaneInput] = {}
        for k, role in enumerate(names):
            if role not in lane_group:
                continue
            entry = _read_input(lane_group[role], f, role, base, raw_data.get(index) if k == 0 else None)
            if entry is not None:
                inputs[role] = entry
        lanes.append(Lane(index=index, inputs=inputs))
    return roles, lanes


def _normalise_raw_data(raw_data: dict[int, str] | list[str] | tuple[str, ...] | None) -> dict[int, str]:
    if raw_data is None:
        return {}
    if isinstance(raw_data, dict):
        return {int(k): os.fspath(v) for k, v in raw_data.items()}
    if isinstance(raw_data, (str, os.PathLike)):
        return {0: os.fspath(raw_data)}
    return {i: os.fspath(v) for i, v in enumerate(raw_data)}


# --------------------------------------------------------------------------- public API


def _lane_input(project: IlpProject, lane: int, role: str | None) -> LaneInput:
    if not 0 <= lane < len(project.lanes):
        raise InputError(f"{project.path}: no lane {lane}; the project has {len(project.lanes)} lane(s)")
    inputs = project.lanes[lane].inputs
    if role is None:
        entry = project.lanes[lane].raw
        if entry is None:
            raise InputError(f"{project.path}: lane {lane} has no input data")
        return entry
    if role not in inputs:
        raise InputError(f"{project.path}: lane {lane} has no role {role!r}; it has {sorted(inputs)}")
    return inputs[role]


def raw_data_path(project: IlpProject, lane: int = 0, role: str | None = None) -> tuple[Path, str | None]:
    """The file and the dataset inside it holding a lane's input (first role by default).

    For data stored inside the project the file is the project itself.

    Raises
    ------
    MissingInputError
        The data is not where the project says; the message names the project, the
        lane, the missing path and how to point at the file (``raw_data=`` in
        :func:`read_ilp`, ``--raw-data`` on the command line).

    Examples
    --------
    >>> raw_data_path(read_ilp("PixelClass.ilp"), 0)            # doctest: +SKIP
    (PosixPath('/data/Data_1channel.png'), None)
    """
    entry = _lane_input(project, lane, role)
    if entry.location == "ProjectInternal" and not entry.overridden:
        if not entry.exists:
            raise MissingInputError(
                f"{project.path}: lane {lane} {entry.role!r} is stored inside the project "
                f"but its dataset is missing; pass raw_data={{ {lane}: 'file' }} (--raw-data) to replace it"
            )
        return project.path, entry.dataset
    if not entry.exists:
        shown = f"{entry.path}/{entry.dataset}" if entry.dataset else str(entry.path)
        raise MissingInputError(
            f"{project.path}: lane {lane} {entry.role!r} not found: {shown}; pass "
            f"raw_data={{{lane}: 'path'}} to read_ilp (CLI: --raw-data PATH ...) to point at it"
        )
    return entry.path, entry.dataset


def open_lane(project: IlpProject, lane: int = 0, role: str | None = None) -> np.ndarray:
    """Read a lane's input image (first role by default) into memory.

    The array's axes are ``project.lanes[lane].inputs[role].axes`` (the stored order;
    a channel axis the file leaves out is added with size 1).
    Reads HDF5 datasets, ``.npy``, TIFF and PNG/JPEG files, and data stored inside the
    project. Raises :class:`~gputrack.errors.MissingInputError` as
    :func:`raw_data_path` does.

    Examples
    --------
    >>> image = open_lane(read_ilp("PixelClass.ilp"), 0)        # doctest: +SKIP
    >>> image.shape                                             # doctest: +SKIP
    (128, 128, 1)
    """
    entry = _lane_input(project, lane, role)
    path, dataset = raw_data_path(project, lane, role)
    if path == project.path or path.suffix.lower() == ".ilp":
        with h5py.File(path, "r") as f:
            data, src_axes = f[dataset][()], entry.axes
    elif path.suffix.lower() == ".npy":
        data, src_axes = np.load(path), entry.axes
    else:
        src = _open_source(path, dataset, entry.axes)
        data, src_axes = src.read(), src.axes
    if not entry.axes:
        return data
    if data.ndim + 1 == len(entry.axes) and entry.axes.endswith("c") and src_axes == entry.axes:
        src_axes = entry.axes[:-1]
    if data.ndim != len(src_axes):
        raise InputError(
            f"{path}: data has shape {data.shape} but the project's axes for lane {lane} are {entry.axes!r}"
        )
    data = transpose_axes(data, src_axes, entry.axes)
    return data


def _lane_extent(project: IlpProject, lane: int) -> dict[str, int]:
    """Axis key -> size of a lane's raw data, where known."""
    if lane >= len(project.lanes) or project.lanes[lane].raw is None:
        return {}
    raw = project.lanes[lane].raw
    if raw.shape is None or len(raw.shape) != len(raw.axes):
        return {}
    return dict(zip(raw.axes, raw.shape))
