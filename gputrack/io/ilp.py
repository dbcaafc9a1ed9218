"""Reading ilastik ``.ilp`` projects: inputs, features, labels, thresholds, tracking.

An ilastik project is an HDF5 file. This module reads what gputrack needs from it,
without ilastik installed, and never needs the project's input images to do so: a
project whose raw data is missing still reads (metadata only); only
:func:`open_lane` and :func:`raw_data_path` need the files, and they say how to point
at them (``raw_data=`` / ``--raw-data``) when they are not where the project says.

What is read, and where it lives in the file:

- ``workflowName``, ``ilastikVersion``;
- ``Input Data/infos/laneNNNN/<role>/``: ``location`` (``FileSystem`` or
  ``ProjectInternal``), ``filePath`` (relative to the project folder unless absolute;
  ``file.h5/dataset`` names a dataset inside an HDF5 file; Windows separators are
  accepted), ``axistags`` (or the older ``axisorder``), ``shape``, ``nickname``,
  ``datasetId``; project-internal data lies under ``Input Data/local_data/``;
- ``FeatureSelections[NN]/``: ``FeatureIds``, ``Scales``, ``SelectionMatrix``,
  ``ComputeIn2d`` (one group per pixel-classification stage; autocontext has two);
- ``PixelClassification[NN]/``: ``LabelNames``, ``LabelColors``,
  ``LabelSets/labelsNNN/blockNNNN`` (uint8 class ids with ``blockSlice`` and, since
  ilastik 1.3.3, ``axistags`` attributes), ``ClassifierForests/`` (``known_labels``,
  ``feature_names``, ``ForestNNNN``);
- ``ThresholdTwoLevels/``: method (``CurOperator``), channels, smoothing sigmas,
  thresholds, size range (old projects' ``SingleThreshold`` is honoured like ilastik);
- ``ConservationTracking/``, ``StructuredTracking/`` or ``AnimalConservationTracking/``
  ``Parameters`` (directly or under a per-lane ``0000`` group), plus the learned weights
  of structured learning;
- ``TrackingAnnotations/`` (``Annotations``, or the older ``Labels``/``Divisions``) and
  ``ManualTracking/``;
- ``ObjectClassification/``, ``CountClassification/``, ``DivisionDetection/``: class
  names, colours and per-object labels.

Labels without ``axistags`` (projects written before ilastik 1.3.3) are given the axes
of the lane's raw data (plus ``c``), or ``txyzc`` for 5-d blocks of the object
classification and tracking workflows, which force that order on their inputs.

Examples
--------
>>> from gputrack.io.ilp import read_ilp, describe_ilp, label_counts
>>> project = read_ilp("PixelClass.ilp")                       # doctest: +SKIP
>>> project.workflow, len(project.lanes)                       # doctest: +SKIP
('Pixel Classification', 1)
>>> label_counts(project)                                      # doctest: +SKIP
{1: 79, 2: 78}
>>> print(describe_ilp(project))                               # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import InputError, MissingInputError
from .axes import parse_axistags, transpose_axes
from .images import open_image

__all__ = [
    "FEATURE_IDS",
    "DEFAULT_SCALES",
    "FeatureSelection",
    "IlpProject",
    "Lane",
    "LaneInput",
    "LabelBlock",
    "ObjectClassifierInfo",
    "PixelStage",
    "ThresholdSettings",
    "TrackingAnnotations",
    "TrackingParameters",
    "describe_ilp",
    "label_counts",
    "label_image",
    "open_lane",
    "raw_data_path",
    "read_ilp",
    "selected_features",
]

#: ilastik's pixel feature ids, in the order of its feature table (spec §1.1).
FEATURE_IDS = (
    "GaussianSmoothing",
    "LaplacianOfGaussian",
    "GaussianGradientMagnitude",
    "DifferenceOfGaussians",
    "StructureTensorEigenvalues",
    "HessianOfGaussianEigenvalues",
)
#: ilastik's default scale columns (spec §1.2).
DEFAULT_SCALES = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)

_THRESHOLD_METHODS = {0: "simple", 1: "hysteresis", 2: "graphcut", 3: "ipht"}
_TRACKING_APPLETS = ("ConservationTracking", "StructuredTracking", "AnimalConservationTracking")
_OBJECT_CLASSIFIERS = ("ObjectClassification", "CountClassification", "DivisionDetection")
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".ilp", ".n5", ".zarr")
_AXIS_KEYS = "tczyx"

# GUI defaults of the tracking applets (spec §4.6), used where a project stores nothing.
_TRACKING_DEFAULTS: dict[str, Any] = {
    "transition_weight": 10.0,
    "detection_weight": 10.0,
    "division_weight": 10.0,
    "appearance_cost": 500.0,
    "disappearance_cost": 500.0,
    "max_dist": 200.0,
    "max_obj": 1,
    "division_threshold": 0.1,
    "border_aware_width": 10.0,
    "max_nearest_neighbors": 3,
    "with_divisions": True,
    "with_merger_resolution": True,
    "with_tracklets": True,
    "with_classifier_prior": True,
    "with_optical_correction": False,
    "size_dependent": False,
    "solver": "Flow-based",
    "timeout": None,
    "frames_per_split": 0,
}
# stored name -> field name
_TRACKING_KEYS = {
    "transWeight": "transition_weight",
    "detWeight": "detection_weight",
    "divWeight": "division_weight",
    "appearanceCost": "appearance_cost",
    "disappearanceCost": "disappearance_cost",
    "maxDist": "max_dist",
    "maxObj": "max_obj",
    "divThreshold": "division_threshold",
    "borderAwareWidth": "border_aware_width",
    "max_nearest_neighbors": "max_nearest_neighbors",
    "maxNearestNeighbors": "max_nearest_neighbors",
    "withDivisions": "with_divisions",
    "withMergerResolution": "with_merger_resolution",
    "withTracklets": "with_tracklets",
    "withClassifierPrior": "with_classifier_prior",
    "withOpticalCorrection": "with_optical_correction",
    "sizeDependent": "size_dependent",
    "solver": "solver",
    "cplex_timeout": "timeout",
    "numFramesPerSplit": "frames_per_split",
}


# --------------------------------------------------------------------------- results


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


@dataclass
class FeatureSelection:
    """The pixel-feature table: ``matrix[i, j]`` selects ``feature_ids[i]`` at ``scales[j]``."""

    feature_ids: list[str]
    scales: np.ndarray
    matrix: np.ndarray
    compute_in_2d: np.ndarray
    compute_in_2d_stored: bool = True


@dataclass
class LabelBlock:
    """Where one stored block of pixel labels lies: dataset name, slices and their axes."""

    dataset: str
    slices: tuple[slice, ...]
    axes: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(s.stop - s.start for s in self.slices)


@dataclass
class PixelStage:
    """One pixel-classification stage (autocontext projects have two)."""

    group: str
    features: FeatureSelection | None
    label_names: list[str]
    label_colors: np.ndarray
    label_blocks: list[list[LabelBlock]]
    known_labels: list[int]
    feature_names: list[str]
    has_forest: bool
    n_forests: int = 0
    n_trees: int = 0


@dataclass
class ThresholdSettings:
    """The ``ThresholdTwoLevels`` applet's settings (spec §2).

    ``method`` is ``"simple"``, ``"hysteresis"``, ``"graphcut"`` or ``"ipht"``;
    ``sigmas`` maps ``z``, ``y``, ``x`` to the smoothing sigma.
    """

    method: str
    channel: int
    core_channel: int
    sigmas: dict[str, float]
    low_threshold: float
    high_threshold: float
    min_size: int
    max_size: int
    beta: float | None = None


@dataclass
class TrackingParameters:
    """Tracking parameters as stored (spec §4.6), GUI defaults where nothing is stored.

    ``scales`` maps ``x``, ``y``, ``z`` to the data scale; the ranges are ``(from, to)``
    as stored. ``learned_weights`` holds the structured-learning results
    (``detection``, ``division``, ``transition``, ``appearance``, ``disappearance``).
    ``defaulted`` names the fields that were absent and got the GUI default;
    ``stored`` keeps every stored value under its ilastik name.
    """

    applet: str
    transition_weight: float
    detection_weight: float
    division_weight: float
    appearance_cost: float
    disappearance_cost: float
    max_dist: float
    max_obj: int
    division_threshold: float
    border_aware_width: float
    max_nearest_neighbors: int
    with_divisions: bool
    with_merger_resolution: bool
    with_tracklets: bool
    with_classifier_prior: bool
    with_optical_correction: bool
    size_dependent: bool
    solver: str
    timeout: float | None
    frames_per_split: int
    scales: dict[str, float]
    time_range: tuple[int, int] | None
    x_range: tuple[int, int] | None
    y_range: tuple[int, int] | None
    z_range: tuple[int, int] | None
    size_range: tuple[int, int] | None
    learned_weights: dict[str, float] = field(default_factory=dict)
    defaulted: tuple[str, ...] = ()
    stored: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrackingAnnotations:
    """Tracking ground truth per lane (spec §6/§7), as stored.

    ``labels[lane][t][object_id]`` is the list of track ids of that object (``-1`` is a
    misdetection, several ids a merger); ``divisions[lane][parent_track]`` is
    ``(child_track_1, child_track_2, t_parent)``; ``appearances`` and
    ``disappearances`` are ``[lane][t][object_id] -> track ids`` flagged as such.
    ``source`` names the group read (``TrackingAnnotations/Annotations``, ...).
    """

    source: str
    labels: dict[int, dict[int, dict[int, list[int]]]]
    divisions: dict[int, dict[int, tuple[int, int, int]]]
    appearances: dict[int, dict[int, dict[int, list[int]]]] = field(default_factory=dict)
    disappearances: dict[int, dict[int, dict[int, list[int]]]] = field(default_factory=dict)


@dataclass
class ObjectClassifierInfo:
    """An object-level classifier applet: class names, colours, per-object labels.

    ``labels[lane][t]`` is the stored per-object label array (index = object id, 0 =
    unlabelled); ``selected_features`` maps each feature plugin to its feature names.
    """

    group: str
    label_names: list[str]
    label_colors: np.ndarray
    labels: dict[int, dict[int, np.ndarray]]
    selected_features: dict[str, list[str]]
    has_forest: bool
    known_labels: list[int]

    def label_counts(self) -> dict[int, int]:
        """Number of labelled objects per class id, over all lanes and frames."""
        counts: dict[int, int] = {}
        for frames in self.labels.values():
            for values in frames.values():
                ids, n = np.unique(np.asarray(values, dtype=np.int64), return_counts=True)
                for i, k in zip(ids.tolist(), n.tolist()):
                    if i > 0:
                        counts[i] = counts.get(i, 0) + k
        return dict(sorted(counts.items()))


@dataclass
class IlpProject:
    """Everything gputrack reads from an ilastik project (see the module docstring)."""

    path: Path
    workflow: str
    ilastik_version: str
    roles: list[str]
    lanes: list[Lane]
    pixel_stages: list[PixelStage]
    threshold: ThresholdSettings | None
    tracking: TrackingParameters | None
    annotations: TrackingAnnotations | None
    object_classifiers: dict[str, ObjectClassifierInfo]

    @property
    def features(self) -> FeatureSelection | None:
        """Feature selection of the first pixel-classification stage."""
        return self.pixel_stages[0].features if self.pixel_stages else None

    @property
    def label_names(self) -> list[str]:
        """Pixel class names (first stage), class id ``k`` is ``label_names[k - 1]``."""
        return self.pixel_stages[0].label_names if self.pixel_stages else []

    @property
    def label_colors(self) -> np.ndarray:
        """Pixel class colours (first stage), ``(n_classes, 3)`` uint8 RGB."""
        if not self.pixel_stages:
            return np.zeros((0, 3), np.uint8)
        return self.pixel_stages[0].label_colors

    @property
    def known_labels(self) -> list[int]:
        """Class ids the stored pixel classifier was trained on (first stage)."""
        return self.pixel_stages[0].known_labels if self.pixel_stages else []

    @property
    def has_forest(self) -> bool:
        """Whether the project stores a trained pixel classifier (first stage)."""
        return bool(self.pixel_stages) and self.pixel_stages[0].has_forest

    @property
    def object_label_names(self) -> list[str]:
        """Class names of the object classification applet (empty when absent)."""
        info = self.object_classifiers.get("ObjectClassification")
        return info.label_names if info else []


# --------------------------------------------------------------------------- small readers


def _text(value: Any) -> str:
    """Decode a stored string (bytes, numpy bytes, object or void) to ``str``."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, np.void):
        value = value.tobytes()
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _value(group: h5py.Group, name: str, default: Any = None) -> Any:
    """A scalar dataset as a Python value (strings decoded), or ``default``."""
    obj = group.get(name)
    if not isinstance(obj, h5py.Dataset):
        return default
    value = obj[()]
    if isinstance(value, (bytes, np.bytes_, np.void, str)):
        return _text(value)
    if isinstance(value, np.ndarray):
        return value
    return value.item() if isinstance(value, np.generic) else value


def _string_list(group: h5py.Group, name: str) -> list[str]:
    """A stored list of strings; empty when absent or flagged ``isEmpty``."""
    obj = group.get(name)
    if not isinstance(obj, h5py.Dataset) or bool(obj.attrs.get("isEmpty", False)):
        return []
    data = np.atleast_1d(obj[()])
    if data.dtype.kind not in "SOUV":
        return []
    return [_text(v) for v in data]


def _colors(group: h5py.Group, name: str) -> np.ndarray:
    obj = group.get(name)
    if not isinstance(obj, h5py.Dataset) or bool(obj.attrs.get("isEmpty", False)):
        return np.zeros((0, 3), np.uint8)
    data = np.asarray(obj[()])
    if data.ndim != 2 or data.shape[1] < 3:
        return np.zeros((0, 3), np.uint8)
    return data[:, :3].astype(np.uint8)


def _parse_block_slice(text: str) -> tuple[slice, ...]:
    """``"[26:64,36:101,0:1]"`` -> slices."""
    parts = re.findall(r"(-?\d+)\s*:\s*(-?\d+)", _text(text))
    if not parts:
        raise InputError(f"cannot parse blockSlice {text!r}")
    return tuple(slice(int(a), int(b)) for a, b in parts)


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


# --------------------------------------------------------------------------- sections


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


def _read_features(group: h5py.Group | None) -> FeatureSelection | None:
    if group is None or "SelectionMatrix" not in group:
        return None
    matrix = np.asarray(group["SelectionMatrix"][()], dtype=bool)
    ids = _string_list(group, "FeatureIds") or list(FEATURE_IDS[: matrix.shape[0]])
    scales = np.asarray(group["Scales"][()], np.float64) if "Scales" in group else np.array(DEFAULT_SCALES)
    if matrix.shape != (len(ids), len(scales)):
        raise InputError(
            f"{group.file.filename}: {group.name}/SelectionMatrix has shape {matrix.shape}, "
            f"expected ({len(ids)}, {len(scales)}) features x scales"
        )
    stored = "ComputeIn2d" in group
    in_2d = np.asarray(group["ComputeIn2d"][()], bool) if stored else np.zeros(len(scales), bool)
    in_2d = np.resize(in_2d, len(scales)) if in_2d.size else np.zeros(len(scales), bool)
    return FeatureSelection(ids, scales, matrix, in_2d, stored)


def _default_block_axes(ndim: int, raw_axes: str, forced_txyzc: bool) -> str | None:
    if forced_txyzc and ndim == 5:
        return "txyzc"
    if raw_axes and ndim == len(raw_axes) and "c" in raw_axes:
        return raw_axes
    if raw_axes and ndim == len(raw_axes) + 1 and "c" not in raw_axes:
        return raw_axes + "c"
    return "txyzc" if ndim == 5 else None


def _read_pixel_stage(
    f: h5py.File, group: h5py.Group, features: FeatureSelection | None, lanes: list[Lane], forced: bool
) -> PixelStage:
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
    forests = group.get("ClassifierForests")
    known: list[int] = []
    names: list[str] = []
    n_forests = n_trees = 0
    if forests is not None:
        if "known_labels" in forests:
            known = [int(v) for v in np.atleast_1d(forests["known_labels"][()])]
        names = _string_list(forests, "feature_names")
        forest_groups = [forests[k] for k in sorted(forests) if k.startswith("Forest")]
        n_forests = len(forest_groups)
        n_trees = sum(sum(1 for k in g if k.startswith("Tree")) for g in forest_groups)
    return PixelStage(
        group=group.name.lstrip("/"),
        features=features,
        label_names=_string_list(group, "LabelNames"),
        label_colors=_colors(group, "LabelColors"),
        label_blocks=blocks,
        known_labels=known,
        feature_names=names,
        has_forest=n_trees > 0,
        n_forests=n_forests,
        n_trees=n_trees,
    )


def _read_threshold(group: h5py.Group | None) -> ThresholdSettings | None:
    if group is None:
        return None
    method_id = int(_value(group, "CurOperator", 0))
    low = float(_value(group, "LowThreshold", 0.5))
    if method_id == 0 and "SingleThreshold" in group:  # projects before ilastik 1.2.1
        low = float(_value(group, "SingleThreshold"))
    channel = int(_value(group, "Channel", 0))
    core = _value(group, "CoreChannel")
    if core is None:  # old projects computed cores from the final channel
        core = channel if method_id in (1, 3) else 0
    sigma_group = group.get("SmootherSigma")
    sigmas = {"z": 1.0, "y": 1.0, "x": 1.0}
    if isinstance(sigma_group, h5py.Group):
        sigmas.update({k: float(_value(sigma_group, k)) for k in sigma_group if k in "zyx"})
    beta = _value(group, "Beta")
    return ThresholdSettings(
        method=_THRESHOLD_METHODS.get(method_id, str(method_id)),
        channel=channel,
        core_channel=int(core),
        sigmas=sigmas,
        low_threshold=low,
        high_threshold=float(_value(group, "HighThreshold", 0.8)),
        min_size=int(_value(group, "MinSize", 10)),
        max_size=int(_value(group, "MaxSize", 1_000_000)),
        beta=None if beta is None else float(beta),
    )


def _pair(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    arr = np.atleast_1d(value)
    return (int(arr[0]), int(arr[1])) if arr.size >= 2 else None


def _read_tracking(f: h5py.File) -> TrackingParameters | None:
    for applet in _TRACKING_APPLETS:
        top = f.get(applet)
        if top is None or "Parameters" not in top:
            continue
        params = top["Parameters"]
        datasets = {k: params[k] for k in params if isinstance(params[k], h5py.Dataset)}
        if not datasets:  # older projects keep one parameter group per lane: 0000
            sub = [params[k] for k in sorted(params) if isinstance(params[k], h5py.Group)]
            params = next((g for g in sub if len(g)), params)
        stored = {k: _value(params, k) for k in params if isinstance(params[k], h5py.Dataset)}
        values = dict(_TRACKING_DEFAULTS)
        present = set()
        for key, name in _TRACKING_KEYS.items():
            if key in stored and name not in present:
                values[name] = stored[key]
                present.add(name)
        timeout = values["timeout"]
        try:
            values["timeout"] = float(timeout) if timeout not in (None, "") else None
        except (TypeError, ValueError):
            values["timeout"] = None
        for name in ("max_obj", "max_nearest_neighbors", "frames_per_split"):
            values[name] = int(values[name])
        for name, default in _TRACKING_DEFAULTS.items():
            if isinstance(default, bool):
                values[name] = bool(values[name])
            elif isinstance(default, float):
                values[name] = float(values[name])
        values["solver"] = str(values["solver"])
        scales = np.atleast_1d(stored.get("scales", np.ones(3))).astype(float)
        learned = {}
        for key, name in (
            ("DetectionWeight", "detection"),
            ("DivisionWeight", "division"),
            ("TransitionWeight", "transition"),
            ("AppearanceWeight", "appearance"),
            ("DisappearanceWeight", "disappearance"),
        ):
            grp = top.get(key)
            if isinstance(grp, h5py.Group) and len(grp):
                learned[name] = float(_value(grp, sorted(grp)[0]))
        return TrackingParameters(
            applet=applet,
            scales=dict(zip("xyz", (float(s) for s in np.resize(scales, 3)))),
            time_range=_pair(stored.get("time_range")),
            x_range=_pair(stored.get("x_range")),
            y_range=_pair(stored.get("y_range")),
            z_range=_pair(stored.get("z_range")),
            size_range=_pair(stored.get("size_range")),
            learned_weights=learned,
            defaulted=tuple(sorted(set(_TRACKING_DEFAULTS) - present)),
            stored=stored,
            **values,
        )
    return None


def _read_object_labels(group: h5py.Group) -> dict[int, dict[int, list[int]]]:
    """``<t>/<object_id>`` datasets of track ids -> nested dict."""
    out: dict[int, dict[int, list[int]]] = {}
    for t in group:
        frame = group[t]
        if not isinstance(frame, h5py.Group):
            continue
        objects = {}
        for oid in frame:
            obj = frame[oid]
            if isinstance(obj, h5py.Dataset):
                objects[int(oid)] = [int(v) for v in np.atleast_1d(obj[()])]
            elif isinstance(obj, h5py.Group):  # appearances: <t>/<oid>/<track>
                objects[int(oid)] = sorted(int(k) for k in obj)
        out[int(t)] = dict(sorted(objects.items()))
    return dict(sorted(out.items()))


def _read_divisions(obj: h5py.Group | h5py.Dataset | None) -> dict[int, tuple[int, int, int]]:
    """Rows ``[parent_track, child_1, child_2, t_parent]`` -> dict by parent track."""
    out: dict[int, tuple[int, int, int]] = {}
    datasets = [obj] if isinstance(obj, h5py.Dataset) else [obj[k] for k in obj] if obj is not None else []
    for ds in datasets:
        if not isinstance(ds, h5py.Dataset):
            continue
        for row in np.atleast_2d(ds[()]):
            if len(row) >= 4:
                out[int(row[0])] = (int(row[1]), int(row[2]), int(row[3]))
    return out


def _merge_frames(target: dict[int, dict[int, list[int]]], frames: dict[int, dict[int, list[int]]]) -> None:
    for t, objects in frames.items():
        slot = target.setdefault(t, {})
        for oid, tracks in objects.items():
            slot[oid] = sorted(set(slot.get(oid, [])) | set(tracks))


def _read_annotations(f: h5py.File) -> TrackingAnnotations | None:
    top = f.get("TrackingAnnotations")
    if top is not None and isinstance(top.get("Annotations"), h5py.Group) and len(top["Annotations"]):
        labels: dict[int, dict[int, dict[int, list[int]]]] = {}
        divisions: dict[int, dict[int, tuple[int, int, int]]] = {}
        for lane in top["Annotations"]:
            lane_group = top["Annotations"][lane]
            # ilastik 1.2.0 nests one more level per crop ("Crop 1"); later versions do not
            crops = [lane_group] if "labels" in lane_group else [lane_group[c] for c in lane_group]
            lane_labels = labels.setdefault(int(lane), {})
            lane_divs = divisions.setdefault(int(lane), {})
            for crop in crops:
                if isinstance(crop.get("labels"), h5py.Group):
                    _merge_frames(lane_labels, _read_object_labels(crop["labels"]))
                lane_divs.update(_read_divisions(crop.get("divisions")))
            labels[int(lane)] = dict(sorted(lane_labels.items()))
        result = TrackingAnnotations("TrackingAnnotations/Annotations", labels, divisions)
    else:
        groups = ("TrackingAnnotations", "ManualTracking")
        top = next((f[g] for g in groups if g in f and "Labels" in f[g]), None)
        if top is None:
            return None
        labels = {int(k): _read_object_labels(top["Labels"][k]) for k in top["Labels"]}
        div_group = top.get("Divisions")
        divisions = {}
        if isinstance(div_group, h5py.Group):
            divisions = {int(k): _read_divisions(div_group[k]) for k in div_group}
        result = TrackingAnnotations(f"{top.name.lstrip('/')}/Labels", labels, divisions)
    for name, attr in (("Appearances", "appearances"), ("Disappearances", "disappearances")):
        group = top.get(name)
        if isinstance(group, h5py.Group):
            setattr(result, attr, {int(k): _read_object_labels(group[k]) for k in group})
    return result


def _read_object_classifier(group: h5py.Group) -> ObjectClassifierInfo:
    labels: dict[int, dict[int, np.ndarray]] = {}
    inputs = group.get("LabelInputs")
    if isinstance(inputs, h5py.Group):
        for lane in inputs:
            frames = inputs[lane]
            if isinstance(frames, h5py.Group):
                labels[int(lane)] = {
                    int(t): np.asarray(frames[t][()]) for t in sorted(frames, key=int) if t.isdigit()
                }
    features: dict[str, list[str]] = {}
    selected = group.get("SelectedFeatures")
    if isinstance(selected, h5py.Group):
        features = {plugin: sorted(selected[plugin]) for plugin in selected}
    forests = group.get("ClassifierForests")
    known = []
    if isinstance(forests, h5py.Group) and "known_labels" in forests:
        known = [int(v) for v in np.atleast_1d(forests["known_labels"][()])]
    has_forest = isinstance(forests, h5py.Group) and any(k.startswith("Forest") for k in forests)
    return ObjectClassifierInfo(
        group=group.name.lstrip("/"),
        label_names=_string_list(group, "LabelNames"),
        label_colors=_colors(group, "LabelColors"),
        labels=labels,
        selected_features=features,
        has_forest=has_forest,
        known_labels=known,
    )


# --------------------------------------------------------------------------- public API


def _normalise_raw_data(raw_data: dict[int, str] | list[str] | tuple[str, ...] | None) -> dict[int, str]:
    if raw_data is None:
        return {}
    if isinstance(raw_data, dict):
        return {int(k): os.fspath(v) for k, v in raw_data.items()}
    if isinstance(raw_data, (str, os.PathLike)):
        return {0: os.fspath(raw_data)}
    return {i: os.fspath(v) for i, v in enumerate(raw_data)}


def read_ilp(
    path: str | os.PathLike, *, raw_data: dict[int, str] | list[str] | None = None
) -> IlpProject:
    """Read an ilastik project's metadata, parameters and labels.

    Parameters
    ----------
    path
        The ``.ilp`` file.
    raw_data
        Replacement raw-data paths, per lane: a list (lane order) or a ``{lane: path}``
        dict. A path may name a dataset inside an HDF5 file (``file.h5/data``); a plain
        HDF5 path keeps the project's dataset name. Relative paths are relative to the
        current directory. Only the lane's first role (``Raw Data``) is replaced.

    Returns
    -------
    IlpProject
        Reading never needs the input images: missing files show as
        ``exists=False`` in :attr:`IlpProject.lanes`.

    Raises
    ------
    MissingInputError
        ``path`` does not exist.
    InputError
        ``path`` is not an HDF5 file, or not an ilastik project.

    Examples
    --------
    >>> project = read_ilp("tracking.ilp", raw_data=["movie.h5/data"])   # doctest: +SKIP
    >>> project.tracking.max_obj, project.threshold.method               # doctest: +SKIP
    (2, 'simple')
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: ilastik project not found")
    if not h5py.is_hdf5(path):
        raise InputError(f"{path}: not an ilastik project (not an HDF5 file)")
    overrides = _normalise_raw_data(raw_data)
    base = path.resolve().parent
    with h5py.File(path, "r") as f:
        if "workflowName" not in f and "Input Data" not in f:
            raise InputError(f"{path}: HDF5 file is not an ilastik project (no workflowName / 'Input Data')")
        workflow = _value(f, "workflowName", "")
        roles, lanes = _read_lanes(f, base, overrides)
        unknown = sorted(set(overrides) - set(range(len(lanes))))
        if unknown:
            raise InputError(
                f"{path}: raw_data given for lane(s) {unknown} but the project has {len(lanes)} lane(s)"
            )
        forced = "Object Classification" in workflow or "Tracking" in workflow
        stages = []
        for name in sorted(k for k in f if re.fullmatch(r"PixelClassification\d*", k)):
            suffix = name[len("PixelClassification") :]
            features = _read_features(f.get(f"FeatureSelections{suffix}"))
            stages.append(_read_pixel_stage(f, f[name], features, lanes, forced))
        if not stages and "FeatureSelections" in f:
            features = _read_features(f["FeatureSelections"])
            if features is not None:
                stages.append(PixelStage("FeatureSelections", features, [], np.zeros((0, 3), np.uint8),
                                         [], [], [], False))
        return IlpProject(
            path=path,
            workflow=workflow,
            ilastik_version=_value(f, "ilastikVersion", ""),
            roles=roles,
            lanes=lanes,
            pixel_stages=stages,
            threshold=_read_threshold(f.get("ThresholdTwoLevels")),
            tracking=_read_tracking(f),
            annotations=_read_annotations(f),
            object_classifiers={
                name: _read_object_classifier(f[name]) for name in _OBJECT_CLASSIFIERS if name in f
            },
        )


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


def selected_features(project: IlpProject, stage: int = 0) -> list[tuple[str, float, bool]]:
    """Selected ``(feature_id, scale, in_2d)`` triples in ilastik's channel order.

    Features vary slowest and scales fastest, as in ilastik's feature matrix (spec §1.7).

    Examples
    --------
    >>> selected_features(read_ilp("PixelClass.ilp"))[:2]        # doctest: +SKIP
    [('GaussianSmoothing', 0.3, True), ('GaussianSmoothing', 1.0, True)]
    """
    if stage >= len(project.pixel_stages) or project.pixel_stages[stage].features is None:
        return []
    fs = project.pixel_stages[stage].features
    return [
        (fid, float(fs.scales[j]), bool(fs.compute_in_2d[j]))
        for i, fid in enumerate(fs.feature_ids)
        for j in range(len(fs.scales))
        if fs.matrix[i, j]
    ]


def _lane_extent(project: IlpProject, lane: int) -> dict[str, int]:
    """Axis key -> size of a lane's raw data, where known."""
    if lane >= len(project.lanes) or project.lanes[lane].raw is None:
        return {}
    raw = project.lanes[lane].raw
    if raw.shape is None or len(raw.shape) != len(raw.axes):
        return {}
    return dict(zip(raw.axes, raw.shape))


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


# --------------------------------------------------------------------------- summary


def _fmt(value: float) -> str:
    return f"{value:g}"


def _describe_features(fs: FeatureSelection) -> list[str]:
    width = max(len(i) for i in fs.feature_ids)
    header = " " * (width + 4) + " ".join(f"{_fmt(s):>5}" for s in fs.scales)
    lines = [header]
    for i, fid in enumerate(fs.feature_ids):
        marks = " ".join(f"{'x' if fs.matrix[i, j] else '.':>5}" for j in range(len(fs.scales)))
        lines.append(f"    {fid:<{width}}{marks}")
    flags = " ".join(f"{'2D' if v else '3D':>5}" for v in fs.compute_in_2d)
    note = "" if fs.compute_in_2d_stored else "  (not stored: 3D where z > 1)"
    lines.append(f"    {'compute in':<{width}}{flags}{note}")
    return lines


def _frame_summary(frames: dict[int, dict[int, dict[int, list[int]]]]) -> str:
    parts = []
    for lane, per_t in sorted(frames.items()):
        n_obj = sum(len(o) for o in per_t.values())
        tracks = {tr for o in per_t.values() for ids in o.values() for tr in ids if tr >= 0}
        parts.append(f"lane {lane}: {n_obj} objects in {len(per_t)} frames, {len(tracks)} tracks")
    return "; ".join(parts) if parts else "none"


def describe_ilp(project: IlpProject) -> str:
    """A short human-readable summary of a project (what ``gputrack ilp-info`` prints).

    Lists the workflow, each lane's inputs (path, whether found, axes, shape), the
    feature table, classes with labelled-pixel counts, the classifier, threshold
    settings, tracking parameters and annotation counts.

    Examples
    --------
    >>> print(describe_ilp(read_ilp("PixelClass.ilp")))          # doctest: +SKIP
    PixelClass.ilp: Pixel Classification (ilastik 1.4.1b15)
    ...
    """
    out = [f"{project.path.name}: {project.workflow or '?'} (ilastik {project.ilastik_version or '?'})"]
    out.append(f"lanes: {len(project.lanes)}")
    for lane in project.lanes:
        for role, entry in lane.inputs.items():
            if entry.location == "ProjectInternal" and not entry.overridden:
                where = f"<project>/{entry.dataset or entry.file_path}"
            else:
                where = str(entry.path) + (f"/{entry.dataset}" if entry.dataset else "")
            status = "found" if entry.exists else "MISSING"
            if entry.relocated:
                status += ", found next to the project"
            if entry.overridden:
                status += ", from --raw-data"
            shape = "x".join(map(str, entry.shape)) if entry.shape else "?"
            axes = entry.axes or "?"
            out.append(f"  lane {lane.index} {role}: {where} [{status}] axes {axes} shape {shape}")
    for k, stage in enumerate(project.pixel_stages):
        tag = f" (stage {k + 1})" if len(project.pixel_stages) > 1 else ""
        if stage.features is not None:
            n_sel = int(stage.features.matrix.sum())
            out.append(f"features{tag}: {n_sel} selected")
            out.extend(_describe_features(stage.features))
        if stage.label_names or stage.label_blocks:
            counts = label_counts(project, stage=k)
            out.append(f"classes{tag}:")
            n = max(len(stage.label_names), max(counts, default=0))
            for cid in range(1, n + 1):
                name = stage.label_names[cid - 1] if cid <= len(stage.label_names) else "?"
                color = tuple(stage.label_colors[cid - 1].tolist()) if cid <= len(stage.label_colors) else ""
                out.append(f"    {cid} {name!r} {color} {counts.get(cid, 0)} labelled pixels")
        if stage.has_forest:
            out.append(
                f"classifier{tag}: {stage.n_forests} forests, {stage.n_trees} trees, "
                f"{len(stage.feature_names)} feature channels, known labels {stage.known_labels}"
            )
        elif stage.label_names:
            out.append(f"classifier{tag}: none stored (train before predicting)")
    th = project.threshold
    if th is not None:
        sig = ", ".join(f"{k}={_fmt(v)}" for k, v in th.sigmas.items())
        levels = (
            f"threshold {_fmt(th.low_threshold)}"
            if th.method in ("simple", "graphcut")
            else f"low {_fmt(th.low_threshold)} high {_fmt(th.high_threshold)} "
            f"(core channel {th.core_channel})"
        )
        out.append(
            f"threshold: {th.method}, channel {th.channel}, {levels}, sigmas {sig}, "
            f"size {th.min_size}..{th.max_size}"
        )
    tr = project.tracking
    if tr is not None:
        scales = ", ".join(f"{k}={_fmt(v)}" for k, v in tr.scales.items())
        out.append(
            f"tracking ({tr.applet}): solver {tr.solver}, maxObj {tr.max_obj}, divisions "
            f"{'on' if tr.with_divisions else 'off'} (threshold {_fmt(tr.division_threshold)}), "
            f"mergers {'on' if tr.with_merger_resolution else 'off'}"
        )
        out.append(
            f"    weights: transition {_fmt(tr.transition_weight)}, detection {_fmt(tr.detection_weight)}, "
            f"division {_fmt(tr.division_weight)}, appearance {_fmt(tr.appearance_cost)}, "
            f"disappearance {_fmt(tr.disappearance_cost)}"
        )
        out.append(
            f"    maxDist {_fmt(tr.max_dist)}, neighbours {tr.max_nearest_neighbors}, border width "
            f"{_fmt(tr.border_aware_width)}, frames per split {tr.frames_per_split}, timeout "
            f"{_fmt(tr.timeout) if tr.timeout is not None else 'none'}, scales {scales}, "
            f"size range {tr.size_range}, time range {tr.time_range}"
        )
        if tr.learned_weights:
            learned = ", ".join(f"{k} {_fmt(v)}" for k, v in tr.learned_weights.items())
            out.append(f"    learned weights: {learned}")
        if tr.defaulted:
            out.append(f"    not stored (GUI defaults used): {', '.join(tr.defaulted)}")
    for name, info in project.object_classifiers.items():
        counts = info.label_counts()
        classes = ", ".join(
            f"{cid} {nm!r} ({counts.get(cid, 0)} objects)" for cid, nm in enumerate(info.label_names, start=1)
        )
        out.append(f"{name}: {classes or 'no classes'}; classifier {'stored' if info.has_forest else 'none'}")
    ann = project.annotations
    if ann is not None:
        n_div = sum(len(d) for d in ann.divisions.values())
        out.append(f"annotations ({ann.source}): {_frame_summary(ann.labels)}; {n_div} divisions")
    return "\n".join(out)
