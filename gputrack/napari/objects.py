"""Object classification by clicking, behind the napari widget: picked objects -> forest -> classes.

Objects are keyed by ``(t, label)`` as in every gputrack table. :func:`object_at` finds the
object under a click, :func:`gputrack.workflows.object_classification.classify_objects` trains on
the clicked objects and predicts every object, :func:`paint` shows its classes, and
:func:`label_assist` is ilastik's label-assist table: every object's size and frame, largest
first, to find mergers and fragments across the frames.

Examples
--------
>>> import numpy as np
>>> lab = np.zeros((2, 10, 10), np.uint16); lab[:, 1:3, 1:3] = 1; lab[:, 5:9, 5:9] = 2
>>> object_at(lab, (1, 6.2, 7.9))
(1, 2)
>>> label_assist(lab)[["t", "label", "Count"]].values.tolist()[:2]
[[0, 2, 16], [1, 2, 16]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError


def object_at(labels: np.ndarray, position: Sequence[float]) -> tuple[int, int] | None:
    """``(t, label)`` of the object at a data position of ``(t, [z,] y, x)`` labels (``None``: background).

    2D labels (no time axis) give ``t = 0``.
    """
    labels = np.asarray(labels)
    idx = tuple(int(np.clip(round(p), 0, n - 1)) for p, n in zip(position, labels.shape))
    value = int(labels[idx])
    if value == 0:
        return None
    return (idx[0] if labels.ndim > 2 else 0), value


def _frames(array: np.ndarray) -> tuple[np.ndarray, str]:
    return array, {2: "yx", 3: "tyx", 4: "tzyx"}[array.ndim]


def object_table(raw: np.ndarray | None, labels: np.ndarray, features: Sequence[str] | None = None):
    """Object features of ``(t, [z,] y, x)`` (or ``yx``) labels with their raw intensities."""
    from ..objects import features as object_features  # noqa: PLC0415

    labels, axes = _frames(np.asarray(labels))
    if raw is not None and np.shape(raw) != labels.shape:
        raise InputError(
            f"raw image of shape {np.shape(raw)} does not fit the labels of shape {labels.shape}"
        )
    table = object_features(raw, labels, features, axes=axes, device="auto")
    if "t" not in table.columns:
        table.insert(0, "t", 0)
    return table


def paint(labels: np.ndarray, predictions: pd.DataFrame, column: str = "class") -> np.ndarray:
    """Paint a per-object column (class ids, or uncertainty as float) into ``(t, [z,] y, x)`` labels."""
    labels = np.asarray(labels)
    if column == "class":
        from ..export.objects import paint_objects  # noqa: PLC0415

        axes = {2: "yx", 3: "tyx", 4: "tzyx"}[labels.ndim]
        table = predictions if labels.ndim > 2 else predictions.drop(columns="t")
        return np.asarray(paint_objects(labels, table, column, axes=axes))
    frames = labels if labels.ndim > 2 else labels[None]
    out = np.zeros(frames.shape, np.float32)
    for t, group in predictions.groupby("t"):
        lut = np.zeros(int(frames[t].max()) + 1, np.float32)
        ok = group["label"].to_numpy() < len(lut)
        lut[group["label"].to_numpy()[ok]] = group[column].to_numpy(np.float32)[ok]
        out[t] = lut[frames[t]]
    return out if labels.ndim > 2 else out[0]


def label_assist(labels: np.ndarray, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """ilastik's label assist: ``t, label, Count`` and the frame's median size, largest object first.

    ``table`` (with a ``Count`` column) is used when given, else the sizes are counted.
    """
    if table is None or "Count" not in table.columns:
        labels = np.asarray(labels)
        frames = labels if labels.ndim > 2 else labels[None]
        rows = []
        for t, frame in enumerate(frames):
            counts = np.bincount(frame.ravel())
            ids = np.flatnonzero(counts)
            ids = ids[ids > 0]
            rows.append(pd.DataFrame({"t": t, "label": ids, "Count": counts[ids]}))
        table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["t", "label", "Count"])
    out = table[["t", "label", "Count"]].copy()
    out["frame median"] = out.groupby("t")["Count"].transform("median")
    out["size / median"] = out["Count"] / out["frame median"]
    return out.sort_values(["Count", "t", "label"], ascending=[False, True, True], kind="stable").reset_index(
        drop=True
    )


def default_features(has_raw: bool) -> list[str]:
    """ilastik's default object-count selection (geometry only without raw intensities)."""
    from ..objects import OBJECT_COUNT_FEATURES  # noqa: PLC0415

    return [f for f in OBJECT_COUNT_FEATURES if has_raw or f not in ("Mean", "Variance")]


def as_int_labels(data: Any) -> np.ndarray:
    """A Labels layer's data as a numpy integer array."""
    arr = np.asarray(data)
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"labels layer holds {arr.dtype} values; expected integer object ids")
    return arr
