"""ilastik's object-classification projects run headless: objects, features, stored forest, predictions.

From an Object Classification ``.ilp`` (from prediction maps, from a binary or a label image):

- objects: the project's cached label image (``ObjectExtraction/LabelImage_v2``), so labels are
  those of its annotations and cached predictions; a project "from label image" caches none and
  its objects are its ``Label Image`` input (labels as they are); otherwise (no cache) the
  project's threshold and size filter on its prediction maps (as ``track --ilp``);
- features: the cached object features (``ObjectExtraction/RegionFeatures``), ordered as the
  stored classifier expects (:func:`gputrack.io.ilp.objects.object_feature_matrix`); ilastik's
  convex-hull, skeleton and neighbourhood features are not computed by gputrack, so a project
  without cached features is refused with the features it would need;
- classifier: the stored vigra forests (``ObjectClassification/ClassifierForests``,
  :func:`gputrack.forest.read_ilp_forests`).

:func:`predict_ilp` returns the per-object table (``t, label, class, class name`` and one
probability column per class); :func:`stored_object_probabilities` reads ilastik's cached
result (``ObjectClassification/CachedProbabilities``) to compare with.

Examples
--------
>>> table, labels = predict_ilp("ObjectClassification.ilp")            # doctest: +SKIP
>>> table[["t", "label", "class", "class_name"]].head()                # doctest: +SKIP
"""

from __future__ import annotations

import os

import h5py
import numpy as np
import pandas as pd

from ..errors import InputError

PathLike = str | os.PathLike

__all__ = ["compare_object_predictions", "ilp_object_labels", "predict_ilp", "predict_ilp_file",
           "stored_object_probabilities"]

_APPLET = "ObjectClassification"


def ilp_object_labels(project, lane: int = 0) -> np.ndarray:
    """The objects of a lane as ``(t, [z,] y, x)`` labels (a single image gets ``t`` of 1).

    The cached label image when the project has one, else its ``Label Image`` input, else its
    threshold on its prediction maps (:func:`~gputrack.workflows.ilastik_tracking.ilp_segmentation`).
    """
    from ..io.axes import transpose_axes
    from ..io.ilp import open_lane
    from ..io.ilp.objects import feature_applet, read_label_frames
    from .ilastik_tracking import ilp_segmentation

    if feature_applet(project.path) is not None:
        return read_label_frames(project.path, lane)
    role = next((r for r in ("Label Image", "Segmentation Image") if r in project.roles), None)
    if role == "Label Image":
        data = np.asarray(open_lane(project, lane, role=role))
        axes = project.lanes[lane].inputs[role].axes
        want = "".join(a for a in "tzyx" if a in axes)
        if "c" in axes:
            data = np.take(data, 0, axis=axes.index("c"))
            axes = axes.replace("c", "")
        labels = transpose_axes(data, axes, want)
        if "t" not in want:
            labels = labels[None]
        return np.ascontiguousarray(labels.astype(np.uint32))
    if role is not None:
        raise InputError(f"{project.path}: lane {lane} caches no label image; its {role!r} input would "
                         "need ilastik's connected components (run object extraction in ilastik)")
    return ilp_segmentation(project, lane)


def stored_object_probabilities(path: PathLike, lane: int = 0) -> dict[int, np.ndarray]:
    """ilastik's cached object probabilities: ``{t: (n_labels + 1, n_classes)}`` (row 0 = background)."""
    out = {}
    with h5py.File(path, "r") as f:
        g = f.get(f"{_APPLET}/CachedProbabilities/{lane:04d}")
        if isinstance(g, h5py.Group):
            for t in g:
                if t.isdigit() and isinstance(g[t], h5py.Dataset):
                    out[int(t)] = np.asarray(g[t][()], np.float64)
    return dict(sorted(out.items()))


def predict_ilp(path: PathLike, lane: int = 0, *, project=None, device: str = "cpu"):
    """Classify every object of a lane with the project's stored forest.

    Returns ``(table, labels)``: ``t, label, class`` (ilastik's class id, 1..K),
    ``class_name`` and ``probability_<name>`` per class (the classifier's class order), and
    the ``(t, [z,] y, x)`` label frames the table refers to.
    """
    from ..forest import predict_proba, read_ilp_forests
    from ..io.ilp import read_ilp
    from ..io.ilp.objects import object_feature_matrix, read_object_features

    project = project or read_ilp(path)
    info = project.object_classifiers.get(_APPLET)
    if info is None:
        raise InputError(f"{path}: not an object-classification project (no {_APPLET} applet)")
    if not info.has_forest:
        raise InputError(f"{path}: the project stores no trained object classifier "
                         f"({_APPLET}/ClassifierForests); train it in ilastik first")
    selected = {k: v for k, v in info.selected_features.items() if k != "Default features"}
    try:
        feats = read_object_features(path, lane, applet="ObjectExtraction")
    except InputError:
        plugins = ", ".join(f"{k} ({len(v)})" for k, v in sorted(selected.items()))
        raise InputError(f"{path}: lane {lane} caches no object features (ObjectExtraction/RegionFeatures) "
                         f"and gputrack does not compute ilastik's selection [{plugins}]; run object "
                         "extraction in ilastik and save the project") from None
    labels = ilp_object_labels(project, lane)
    forest = read_ilp_forests(path, group=f"{_APPLET}/ClassifierForests")
    classes = [int(c) for c in (info.known_labels or range(1, forest.n_classes + 1))]
    names = [info.label_names[c - 1] if 0 < c <= len(info.label_names) else f"Label {c}" for c in classes]
    rows = []
    for t in range(labels.shape[0]):
        if t not in feats:
            raise InputError(f"{path}: no cached object features for frame {t} of lane {lane}")
        X = object_feature_matrix(feats[t], selected)
        if X.shape[1] != forest.n_features:
            raise InputError(f"{path}: the stored forest expects {forest.n_features} features, the cached "
                             f"selection gives {X.shape[1]}")
        ids = np.unique(labels[t])
        ids = ids[ids > 0]
        if ids.size and ids.max() >= X.shape[0]:
            raise InputError(f"{path}: frame {t} has label {int(ids.max())} beyond its {X.shape[0] - 1} "
                             "cached objects")
        if not ids.size:
            continue
        p = np.asarray(predict_proba(forest, X[ids], device=device), np.float64)
        frame = pd.DataFrame({"t": t, "label": ids.astype(np.int64)})
        best = np.argmax(p, axis=1)
        frame["class"] = np.asarray(classes, np.int64)[best]
        frame["class_name"] = np.asarray(names, object)[best]
        for k, name in enumerate(names):
            frame[f"probability_{name}"] = p[:, k]
        rows.append(frame)
    columns = ["t", "label", "class", "class_name", *[f"probability_{n}" for n in names]]
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)
    table.attrs["class_names"] = dict(zip(classes, names))
    return table, labels


def compare_object_predictions(table: pd.DataFrame, stored: dict[int, np.ndarray]) -> dict[str, float]:
    """Agreement with ilastik's cached probabilities: compared objects, same class, largest difference."""
    probs = table[[c for c in table.columns if str(c).startswith("probability_")]].to_numpy(np.float64)
    n = same = 0
    worst = 0.0
    for t, rows in table.groupby("t").indices.items():
        ref = stored.get(int(t))
        if ref is None:
            continue
        lab = table["label"].to_numpy()[rows]
        keep = lab < ref.shape[0]
        mine, theirs = probs[rows][keep], ref[lab[keep]]
        n += int(keep.sum())
        same += int((mine.argmax(1) == theirs.argmax(1)).sum())
        if mine.size:
            worst = max(worst, float(np.abs(mine - theirs).max()))
    return {"objects": n, "same_class": same, "max_abs_difference": worst}


def predict_ilp_file(
    path: PathLike,
    out: PathLike,
    *,
    lane: int = 0,
    image: PathLike | None = None,
    glasbey: bool = False,
    export_dir: PathLike | None = None,
    overwrite: bool = False,
) -> dict:
    """:func:`predict_ilp`, written: the table ``out`` (CSV), optionally the painted ``image``, and
    the export the project selects into ``export_dir`` (default: ``out``'s folder;
    :mod:`gputrack.workflows.ilp_exports`).

    Returns ``{"table", "labels", "comparison", "project_export"}`` (``comparison``:
    :func:`compare_object_predictions` against the project's cached predictions, ``None`` when it
    caches none; ``project_export``: the files of the selected export).
    """
    from pathlib import Path

    from ..export import object_table_csv, paint_objects, write_object_predictions
    from ..io.atomic import check_writable
    from .ilp_exports import write_project_export

    out = check_writable(out, overwrite)
    if image is not None:
        check_writable(image, overwrite)
    export_dir = Path(out).parent if export_dir is None else Path(export_dir)
    table, labels = predict_ilp(path, lane)
    axes = "tzyx" if labels.ndim == 4 else "tyx"

    probs = [c for c in table.columns if str(c).startswith("probability_")]
    painted = np.asarray(paint_objects(labels, table, "class", axes=axes))
    sources = {"Object Predictions": (painted, axes), "Object Identities": (labels, axes),
               "Object Probabilities": (_paint_probabilities(labels, table, probs), axes + "c")}
    # the selected export first: it checks its own files, the table and image are checked above
    written = write_project_export(path, export_dir, kind="objects", images=sources, lane=lane,
                                   overwrite=overwrite)
    stored = stored_object_probabilities(path, lane)
    comparison = compare_object_predictions(table, stored) if stored else None
    object_table_csv(out, table, ilastik_names=False, overwrite=overwrite)
    if image is not None:
        write_object_predictions(image, labels, table[["t", "label", "class"]], glasbey=glasbey, axes=axes,
                                 overwrite=overwrite)
    return {"table": table, "labels": labels, "comparison": comparison, "project_export": written}


def _paint_probabilities(labels: np.ndarray, table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """``labels.shape + (len(columns),)`` float32: each object's class probabilities on its pixels."""
    out = np.zeros((*labels.shape, len(columns)), np.float32)
    for t, rows in table.groupby("t").indices.items():
        frame = labels[int(t)]
        lut = np.zeros((int(frame.max()) + 1, len(columns)), np.float32)
        ids = table["label"].to_numpy()[rows]
        keep = ids <= frame.max()
        lut[ids[keep]] = table[columns].to_numpy(np.float32)[rows][keep]
        out[int(t)] = lut[frame]
    return out
