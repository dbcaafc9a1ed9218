"""Tracking settings of an ilastik project: thresholds, tracking parameters, annotations.

- ``ThresholdTwoLevels/``: method (``CurOperator``), channels, smoothing sigmas,
  thresholds, size range (old projects' ``SingleThreshold`` is honoured like ilastik);
- ``ConservationTracking/``, ``StructuredTracking/`` or ``AnimalConservationTracking/``
  ``Parameters`` (directly or under a per-lane ``0000`` group), plus the learned weights
  of structured learning;
- ``TrackingAnnotations/`` (``Annotations``, or the older ``Labels``/``Divisions``) and
  ``ManualTracking/``.

Examples
--------
>>> from gputrack.io.ilp import read_ilp
>>> project = read_ilp("tracking.ilp")                               # doctest: +SKIP
>>> project.tracking.max_obj, project.threshold.method               # doctest: +SKIP
(2, 'simple')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from .stored import _value

_TRACKING_APPLETS = ("ConservationTracking", "StructuredTracking", "AnimalConservationTracking")

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


@dataclass
class ThresholdSettings:
    """The ``ThresholdTwoLevels`` applet's settings (spec §2).

    ``method`` is ``"simple"``, ``"hysteresis"``, ``"graphcut"`` or ``"watershed"`` (ilastik's
    ``CurOperator`` 0-3; 3 is "don't merge objects");
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


def _read_threshold(group: h5py.Group | None) -> ThresholdSettings | None:
    from ...segment.threshold import ILASTIK_METHODS  # noqa: PLC0415

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
        method=ILASTIK_METHODS.get(method_id, str(method_id)),
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
