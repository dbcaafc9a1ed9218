"""Automatic tracking with trained classifiers: ilastik's train-then-track workflow.

Object classifiers for tracking are trained on annotated objects of a label sequence
(:func:`train_tracking_classifier`: ``kind`` "division" — P(divides) from the object and its
candidate children, "count" — P(0..K objects) per detection, "classes" — any object classes)
and applied to the sequence being tracked (:func:`classifier_probabilities`): the division
classifier replaces the geometric division prior, the count classifier the "every object is
real" default, and its largest class is the maximal number of objects per merger.

Annotations are a CSV of ``t, label, class`` or a label image (sequence) painted over the
objects: an object's class is the most frequent painted value under it, minus one (ilastik's
label 1 is the first class).

Examples
--------
>>> import numpy as np
>>> lab = np.zeros((2, 20, 20), np.uint16); lab[:, 2:6, 2:6] = 1; lab[:, 10:16, 10:16] = 2
>>> table = tracking_object_table(lab, lab.astype(np.float32))
>>> sorted(table["label"].unique().tolist())
[1, 2]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError, MissingInputError

PathLike = str | os.PathLike
KINDS = ("division", "count", "classes")
TABLE_FEATURES = (
    "Count",
    "Mean",
    "Variance",
    "RegionRadii",
    "RegionAxes",
    "RegionCenter",
    "Coord<Minimum>",
    "Coord<Maximum>",
)
"""Object features the division and count presets are computed from."""


def tracking_object_table(
    label_frames: np.ndarray,
    raw_frames: np.ndarray | None = None,
    *,
    scales: Sequence[float] | None = None,
    start: int = 0,
    device: str = "auto",
    features: Sequence[str] | None = TABLE_FEATURES,
) -> pd.DataFrame:
    """Object features of a ``t[z]yx`` label sequence plus ilastik's division features (children).

    Without ``raw_frames`` only geometric features are computed (intensity features need raw).
    """
    from ..objects import features as object_features  # noqa: PLC0415
    from ..objects import sequence_division_features  # noqa: PLC0415

    axes = "t" + "zyx"[-(label_frames.ndim - 1) :]
    names = list(features) if features is not None else None
    if raw_frames is None and names is not None:
        names = [f for f in names if f not in ("Mean", "Variance")]
    tab = object_features(raw_frames, label_frames, names, scales=scales, axes=axes, device=device)
    tab["t"] = tab["t"] + start
    if {"Mean", "RegionCenter_0"} <= set(tab.columns):
        div = sequence_division_features(tab)
        tab = tab.merge(div, on=["t", "label"], suffixes=("", "_div"))
    return tab


def annotations_of(
    path: PathLike, label_frames: np.ndarray, *, axes: str | None = None, start: int = 0
) -> pd.DataFrame:
    """``t, label, class`` annotations from a CSV, or from a painted label image over ``label_frames``."""
    from ..io.sequence import read_sequence  # noqa: PLC0415
    from .tracking import as_frames  # noqa: PLC0415

    p = Path(path)
    if not p.exists():
        raise MissingInputError(f"{p}: no such annotation table or image")
    if p.suffix.lower() == ".csv":
        table = pd.read_csv(p)
        missing = {"t", "label", "class"} - set(table.columns)
        if missing:
            raise InputError(f"{p}: columns {sorted(missing)} missing (need t, label, class)")
        return table[["t", "label", "class"]]
    painted, found = read_sequence(p, axes=axes)
    painted = as_frames(painted, found, str(p))
    if painted.shape != label_frames.shape:
        raise InputError(
            f"{p}: annotation image of shape {painted.shape}, expected the labels' {label_frames.shape}"
        )
    rows = []
    for t in range(label_frames.shape[0]):
        lab, ann = label_frames[t].ravel(), painted[t].ravel().astype(np.int64)
        on = (lab > 0) & (ann > 0)
        if not on.any():
            continue
        pairs = pd.DataFrame({"label": lab[on].astype(np.int64), "value": ann[on]})
        top = pairs.groupby(["label", "value"]).size().reset_index(name="n")
        top = top.sort_values(["label", "n", "value"], ascending=[True, False, True]).drop_duplicates("label")
        rows.append(
            pd.DataFrame(
                {"t": t + start, "label": top["label"].to_numpy(), "class": top["value"].to_numpy() - 1}
            )
        )
    if not rows:
        raise InputError(f"{p}: no painted value lies on an object of the labels")
    return pd.concat(rows, ignore_index=True)


def _preset(kind: str, features: Sequence[str] | None) -> list[str]:
    from ..objects import DIVISION_FEATURES, OBJECT_COUNT_FEATURES  # noqa: PLC0415

    if kind not in KINDS:
        raise InputError(f"--kind {kind!r}: expected one of {', '.join(KINDS)}")
    if features:
        return list(features)
    if kind == "division":
        return list(DIVISION_FEATURES)
    if kind == "count":
        return list(OBJECT_COUNT_FEATURES)
    return list(TABLE_FEATURES)


def train_tracking_classifier(
    kind: str,
    label_frames: np.ndarray,
    annotations: pd.DataFrame,
    raw_frames: np.ndarray | None = None,
    *,
    features: Sequence[str] | None = None,
    scales: Sequence[float] | None = None,
    n_trees: int = 100,
    random_state: int = 0,
    device: str = "auto",
):
    """Train a division / object-count / object-class classifier on annotated objects.

    Parameters
    ----------
    kind : {"division", "count", "classes"}
        Selects the feature preset (``DIVISION_FEATURES``, ``OBJECT_COUNT_FEATURES``, the base
        table) unless ``features`` names them. Division classes: 1 = dividing (a mother in
        its last frame), 0 = not; count classes: the number of objects (0 = false detection).
    label_frames, raw_frames : ``t[z]yx`` sequences
    annotations : DataFrame ``t, label, class``

    Returns
    -------
    gputrack.objects.ObjectClassifier
    """
    from ..objects import train  # noqa: PLC0415

    names = _preset(kind, features)
    if kind == "division" and set(np.unique(annotations["class"])) - {0, 1}:
        raise InputError("division annotations: classes must be 0 (not dividing) or 1 (dividing)")
    if kind == "count" and (annotations["class"].to_numpy() < 0).any():
        raise InputError("count annotations: classes are object counts (0, 1, 2, ...)")
    table = tracking_object_table(label_frames, raw_frames, scales=scales, device=device)
    return train(table, annotations, names, n_trees=n_trees, random_state=random_state)


def classifier_probabilities(
    label_frames: np.ndarray,
    raw_frames: np.ndarray | None = None,
    *,
    division: Any = None,
    count: Any = None,
    scales: Sequence[float] | None = None,
    start: int = 0,
    device: str = "auto",
) -> dict:
    """The tracking priors of trained classifiers (objects or files from ``objects train``).

    Returns ``{"division_probabilities": t, label, p (or None), "count_probabilities": t, label,
    p0..pK (or None), "max_objects": K (or None)}``, ready for
    :func:`gputrack.tracking.track_labels`.
    """
    from ..objects import load_classifier, predict  # noqa: PLC0415

    out: dict = {"division_probabilities": None, "count_probabilities": None, "max_objects": None}
    if division is None and count is None:
        return out
    division = load_classifier(division) if isinstance(division, (str, os.PathLike)) else division
    count = load_classifier(count) if isinstance(count, (str, os.PathLike)) else count
    table = tracking_object_table(label_frames, raw_frames, scales=scales, start=start, device=device)
    if division is not None:
        classes = [int(c) for c in division.classes]
        if 1 not in classes:
            raise InputError("division classifier: no class 1 (dividing); train it with --kind division")
        pred = predict(division, table, device=device)
        out["division_probabilities"] = pred[["t", "label", "p_1"]]
    if count is not None:
        classes = sorted(int(c) for c in count.classes)
        if classes[0] < 0 or max(classes) < 1:
            raise InputError(
                "count classifier: classes must be object counts 0, 1, ...; train it with --kind count"
            )
        pred = predict(count, table, device=device)
        k = max(classes)
        cols = {}
        for c in range(k + 1):
            cols[f"p{c}"] = pred[f"p_{c}"].to_numpy() if f"p_{c}" in pred else np.zeros(len(pred))
        out["count_probabilities"] = pd.concat([pred[["t", "label"]], pd.DataFrame(cols)], axis=1)
        out["max_objects"] = max(k, 1)
    return out


def train_tracking_file(
    out: PathLike,
    kind: str,
    annotations: PathLike,
    labels: PathLike,
    raw: PathLike | None = None,
    *,
    features: Sequence[str] | None = None,
    label_axes: str | None = None,
    raw_axes: str | None = None,
    annotation_axes: str | None = None,
    scales: Sequence[float] | None = None,
    n_trees: int = 100,
    random_state: int = 0,
    device: str = "auto",
    overwrite: bool = False,
):
    """:func:`train_tracking_classifier` from files; saves the classifier to ``out``.

    Returns ``(classifier, annotations)``.
    """
    from ..io.atomic import check_writable  # noqa: PLC0415
    from ..objects import save_classifier  # noqa: PLC0415
    from .tracking import read_frames_of  # noqa: PLC0415

    out = check_writable(out, overwrite)
    label_frames = read_frames_of(labels, label_axes)
    raw_frames = read_frames_of(raw, raw_axes) if raw else None
    table = annotations_of(annotations, label_frames, axes=annotation_axes)
    clf = train_tracking_classifier(
        kind,
        label_frames,
        table,
        raw_frames,
        features=features,
        scales=scales,
        n_trees=n_trees,
        random_state=random_state,
        device=device,
    )
    save_classifier(out, clf, overwrite=overwrite)
    return clf, table


def ground_truth_annotations(
    out: PathLike,
    labels: PathLike,
    gt: PathLike,
    kind: str,
    *,
    frames: tuple[int, int] | None = None,
    label_axes: str | None = None,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Write the ``t, label, class`` CSV of a ``kind`` classifier for ``labels``, from a CTC ``gt``.

    The objects of ``labels`` are matched to the ground truth's TRA cells
    (:mod:`gputrack.objects.ground_truth`); ``frames`` (``start, stop``) keeps the objects of
    those frames only, e.g. the training frames of a train-then-track split.
    """
    from ..io.atomic import atomic_output, check_writable  # noqa: PLC0415
    from ..io.ctc import read_ctc_gt  # noqa: PLC0415
    from ..objects.ground_truth import KINDS as GT_KINDS  # noqa: PLC0415
    from ..objects.ground_truth import class_annotations  # noqa: PLC0415
    from .tracking import read_frames_of  # noqa: PLC0415

    if kind not in GT_KINDS:
        raise InputError(f"--kind {kind}: a ground truth gives {' or '.join(GT_KINDS)} classes")
    out = check_writable(out, overwrite)
    seg = read_frames_of(labels, label_axes)
    truth = read_ctc_gt(gt)
    if seg.shape != truth.tra.shape:
        raise InputError(f"{labels}: label frames of shape {seg.shape}, expected the ground truth's "
                         f"{truth.tra.shape} ({gt})")
    start, stop = frames if frames else (0, seg.shape[0])
    if stop > seg.shape[0]:
        raise InputError(f"--frames {start}:{stop}: {labels} has {seg.shape[0]} frames")
    # t counts the label frames from 0, as the object tables of 'objects train' do
    tracks = truth.tracks.assign(begin=truth.tracks["begin"] - truth.frames[0],
                                 end=truth.tracks["end"] - truth.frames[0])
    table = class_annotations(seg[start:stop], truth.tra[start:stop], tracks, kind, start=start)
    with atomic_output(out, overwrite=overwrite) as tmp:
        table.to_csv(tmp, index=False)
    return table
