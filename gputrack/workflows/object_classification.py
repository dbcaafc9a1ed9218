"""Object classification from files: feature tables, training and prediction.

Reads a label sequence (and optionally its raw intensities), computes the object feature
table, and trains or applies an object classifier (ilastik's Object Classification);
:func:`classify_objects` trains on annotated objects of a table in memory and predicts all (the
napari widget's clicks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import GputrackError, InputError, MissingInputError

PathLike = str | os.PathLike


def object_table(
    labels: PathLike,
    raw: PathLike | None = None,
    features: Sequence[str] | None = None,
    *,
    label_axes: str | None = None,
    raw_axes: str | None = None,
    scales: Sequence[float] | None = None,
    device: str = "auto",
    scheduler: str | None = None,
    block_size: Sequence[int] | None = None,
    frames_per_task: int = 1,
    quiet: bool = False,
):
    """Object feature table of ``labels`` (with intensities from ``raw`` when given).

    With ``scheduler`` (:mod:`gputrack.distributed`) the table is computed as Dask tasks:
    ``frames_per_task`` frames per task for a time-lapse, blocks of ``block_size`` (default
    4096 per axis) for one frame; the table is the same.

    Returns ``(table, labels, axes)``: the table, the label array and its axes (no ``c``).
    """
    from ..io.axes import transpose_axes  # noqa: PLC0415
    from ..io.sequence import read_sequence  # noqa: PLC0415
    from ..objects import features as object_features  # noqa: PLC0415

    label_array, found_axes = read_sequence(labels, axes=label_axes)
    raw_array = None
    axes = found_axes
    if raw:
        raw_array, found_raw_axes = read_sequence(raw, axes=raw_axes)
        spatial = "".join(a for a in "tzyx" if a in found_axes)
        want = spatial + ("c" if "c" in found_raw_axes else "")
        try:
            raw_array = transpose_axes(raw_array, found_raw_axes, want)
            label_array = transpose_axes(label_array, found_axes, spatial)
        except GputrackError as err:
            raise InputError(
                f"{raw} (axes {found_raw_axes}) does not fit {labels} (axes {found_axes}): {err}"
            ) from None
        if raw_array.shape[: len(spatial)] != label_array.shape:
            raise InputError(
                f"{raw}: shape {raw_array.shape} (axes {want}) does not match labels {labels} "
                f"shape {label_array.shape} (axes {spatial})"
            )
        axes = want
    if scheduler:
        table = _distributed_table(raw_array, label_array, features, axes, scales, device, scheduler,
                                   block_size, frames_per_task, quiet)
    else:
        table = object_features(raw_array, label_array, features, scales=scales, axes=axes, device=device)
    return table, label_array, axes.replace("c", "")


def _distributed_table(raw, labels, features, axes, scales, device, scheduler, block_size, frames_per_task,
                       quiet):
    from .. import distributed  # noqa: PLC0415
    from ..io.axes import transpose_axes  # noqa: PLC0415

    spatial = "".join(a for a in "tzyx" if a in axes)
    labels = transpose_axes(labels, axes.replace("c", ""), spatial)
    if raw is not None:
        raw = transpose_axes(raw, axes, spatial + ("c" if "c" in axes else ""))
    options = dict(scheduler=scheduler, scales=scales, device=device, quiet=quiet)
    if "t" in spatial and labels.shape[0] > 1:
        ax = spatial + ("c" if raw is not None and "c" in axes else "")
        return distributed.frame_tables(raw, labels, features, axes=ax, frames_per_task=frames_per_task,
                                        **options)
    if "t" in spatial:
        labels, raw = labels[0], None if raw is None else raw[0]
    block = tuple(block_size) if block_size else (4096,) * labels.ndim
    if raw is not None and "c" not in axes:
        raw = raw[..., None]
    return distributed.block_table(raw, labels, features, block_shape=block, **options)


def preset_features(names: Sequence[str]) -> list[str]:
    """``["count"]`` / ``["division"]`` -> that feature preset; other names as given."""
    from ..objects import DIVISION_FEATURES, OBJECT_COUNT_FEATURES  # noqa: PLC0415

    presets = {"count": list(OBJECT_COUNT_FEATURES), "division": list(DIVISION_FEATURES)}
    return presets[names[0]] if len(names) == 1 and names[0] in presets else list(names)


def features_file(
    out: PathLike,
    labels: PathLike,
    raw: PathLike | None = None,
    features: Sequence[str] | None = None,
    *,
    ilastik_names: bool = True,
    overwrite: bool = False,
    **read: Any,
):
    """Write the object feature table of ``labels`` (+ ``raw``) to the CSV ``out``; return it."""
    from ..export import object_table_csv  # noqa: PLC0415
    from ..io.atomic import check_writable  # noqa: PLC0415

    out = check_writable(out, overwrite)
    table, _, _ = object_table(labels, raw, features, **read)
    object_table_csv(out, table, ilastik_names=ilastik_names, overwrite=overwrite)
    return table


def train_file(
    out: PathLike,
    annotations: PathLike,
    labels: PathLike,
    raw: PathLike | None = None,
    features: Sequence[str] = ("count",),
    *,
    n_trees: int = 100,
    random_state: int = 0,
    overwrite: bool = False,
    **read: Any,
):
    """Train an object classifier from a CSV of ``t, label, class`` annotations; save it to ``out``.

    Returns ``(classifier, annotations)``.
    """
    import pandas as pd  # noqa: PLC0415

    from ..io.atomic import check_writable  # noqa: PLC0415
    from ..objects import save_classifier, train  # noqa: PLC0415

    out = check_writable(out, overwrite)
    if not Path(annotations).is_file():
        raise MissingInputError(f"{annotations}: no such annotation table")
    table_of_annotations = pd.read_csv(annotations)
    missing = {"t", "label", "class"} - set(table_of_annotations.columns)
    if missing:
        raise InputError(f"{annotations}: columns {sorted(missing)} missing (need t, label, class)")
    table, _, _ = object_table(labels, raw, **read)
    clf = train(
        table, table_of_annotations, preset_features(list(features)), n_trees=n_trees,
        random_state=random_state,
    )
    save_classifier(out, clf, overwrite=overwrite)
    return clf, table_of_annotations


def predict_file(
    out: PathLike,
    classifier: PathLike,
    labels: PathLike,
    raw: PathLike | None = None,
    *,
    image: PathLike | None = None,
    glasbey: bool = False,
    device: str = "auto",
    overwrite: bool = False,
    **read: Any,
):
    """Classify every object; write the predictions table ``out`` and optionally the painted ``image``.

    Classes that are names (strings) are painted as ``1..K`` in the classifier's class
    order; ``predictions.attrs["class_codes"]`` then maps each name to its value.
    Returns the predictions table (``t, label, class`` and probabilities).
    """
    from ..export import object_table_csv, write_object_predictions  # noqa: PLC0415
    from ..io.atomic import check_writable  # noqa: PLC0415
    from ..objects import load_classifier, predict  # noqa: PLC0415

    out = check_writable(out, overwrite)
    if image:
        check_writable(image, overwrite)
        if Path(image).suffix.lower() in (".jpg", ".jpeg"):
            raise InputError(f"--image {image}: JPEG is lossy (class values change); use .png or .tif")
    clf = load_classifier(classifier)
    table, label_array, axes = object_table(labels, raw, device=device, **read)
    predictions = predict(clf, table, device=device)
    merged = table.merge(predictions, on=["t", "label"])
    object_table_csv(out, merged, overwrite=overwrite)
    if image:
        painted = predictions
        if predictions["class"].dtype.kind not in "biu":
            codes = {c: i + 1 for i, c in enumerate(clf.classes)}
            painted = predictions.assign(**{"class": predictions["class"].map(codes).astype("int64")})
            predictions.attrs["class_codes"] = {str(c): v for c, v in codes.items()}
        write_object_predictions(
            image, label_array, painted, glasbey=glasbey, axes=axes, overwrite=overwrite
        )
    return predictions


def annotation_table(annotations: Mapping[tuple[int, int], int]) -> pd.DataFrame:
    """``{(t, label): class}`` -> table ``t, label, class`` (sorted)."""
    rows = sorted((int(t), int(lab), int(c)) for (t, lab), c in annotations.items())
    return pd.DataFrame(rows, columns=["t", "label", "class"]).astype(np.int64)


def classify_objects(
    table: pd.DataFrame,
    annotations: Mapping[tuple[int, int], int],
    features: Sequence[str],
    *,
    n_trees: int = 100,
    random_state: int = 0,
) -> pd.DataFrame:
    """Train on annotated objects (``{(t, label): class}``, e.g. clicked in napari) and predict every
    object of ``table``: ``t, label, class, p_<class>..., uncertainty``.

    Raises
    ------
    InputError
        Fewer than two classes clicked, or a clicked object that is not in the table.
    """
    from ..objects import predict, train  # noqa: PLC0415

    ann = annotation_table(annotations)
    if ann["class"].nunique() < 2:
        raise InputError(f"click objects of at least two classes (have {sorted(ann['class'].unique())})")
    known = ann.merge(table[["t", "label"]], on=["t", "label"], how="left", indicator=True)
    missing = known[known["_merge"] == "left_only"]
    if len(missing):
        t, lab = missing.iloc[0][["t", "label"]]
        raise InputError(f"clicked object {lab} of frame {t} is not in the object table")
    clf = train(table, ann, list(features), n_trees=n_trees, random_state=random_state)
    return predict(clf, table)
