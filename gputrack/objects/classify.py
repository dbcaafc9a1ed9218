"""Object classification: priors without training, and random-forest object classifiers.

Priors (no labels needed)
-------------------------
:func:`count_prior` -- with ``r = Count / median(Count)`` over the whole sequence (the
typical single-object size), class ``k`` (0 = false detection, 1, 2, ... objects) gets
``P(k) ∝ exp(-(r - k)^2 / (2 sigma^2 max(k, 0.5)))``: an object of the typical size is
most likely one object, twice the size two objects, a tiny one a false detection; the
width grows with ``k`` because merged objects vary more in size. Rows sum to 1.

:func:`division_prior` -- a score in ``[0, 1]`` from the division features that is high
when the two nearest successors are on opposite sides of the object (angle), equally far
away (a non-dividing object has one very close successor: itself), of equal size, and
together about as large as the object::

    P = (angle / 180)^2 * (d0 / d1) * ChildrenRatio_Count * exp(-ln(ParentChildrenRatio_Count)^2 / 0.5)

with ``d0 <= d1`` the two smallest distances (0 when fewer than two candidates).

Classifiers
-----------
:func:`train` fits a random forest (:func:`gputrack.forest.fit`, scikit-learn, 100 trees,
``random_state=0``) on labelled rows of a feature table; :func:`predict` returns
``(t, label, class)``, per-class probabilities and the uncertainty ``1 - (p1 - p2)`` (p1, p2
the two largest probabilities, ilastik's margin uncertainty). NaN / inf features become 0
(ilastik's ``MISSING_VALUE``). Presets :data:`OBJECT_COUNT_FEATURES` and
:data:`DIVISION_FEATURES` are ilastik's default selections (standard features only; the
skeleton / convex-hull plugins are not computed here).

Examples
--------
>>> import pandas as pd
>>> tab = pd.DataFrame({"t": [0, 0, 0], "label": [1, 2, 3], "Count": [100.0, 210.0, 5.0]})
>>> count_prior(tab, max_objects=2).round(2).values.tolist()
[[0.0, 0.98, 0.02], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

OBJECT_COUNT_FEATURES = ("Count", "Variance", "Mean", "RegionRadii", "RegionAxes")
"""ilastik's default Object Count features (Standard group)."""

DIVISION_FEATURES = (
    "Count",
    "Variance",
    "Mean",
    "ChildrenRatio_Mean",
    "ParentChildrenAngle_RegionCenter",
    "ParentChildrenRatio_Mean",
    "ChildrenRatio_Count",
    "ParentChildrenRatio_Count",
    "SquaredDistances_0",
    "SquaredDistances_1",
    "SquaredDistances_2",
)
"""ilastik's default Division Detection features (ChildrenRatio_SquaredDistances is never computed)."""

COUNT_CLASSES = ("False Detection", "1 Object", "2 Objects")
DIVISION_CLASSES = ("Not Dividing", "Dividing")


def count_prior(table: pd.DataFrame, *, max_objects: int = 2, sigma: float = 0.25) -> pd.DataFrame:
    """Object-count probabilities from size (see the module docstring for the formula).

    Returns
    -------
    pandas.DataFrame
        Columns ``p0`` (false detection), ``p1``, ..., ``p{max_objects}``, rows as ``table``.
    """
    if max_objects < 1 or sigma <= 0:
        raise InputError(f"count prior: expected max_objects >= 1 and sigma > 0, got {max_objects}, {sigma}")
    count = table["Count"].to_numpy(float)
    typical = float(np.median(count)) if count.size else 1.0
    r = count / max(typical, 1e-12)
    k = np.arange(max_objects + 1, dtype=float)
    width = sigma * np.sqrt(np.maximum(k, 0.5))
    logp = -((r[:, None] - k[None]) ** 2) / (2 * width[None] ** 2)
    logp -= logp.max(axis=1, keepdims=True) if count.size else 0.0
    p = np.exp(logp)
    p /= p.sum(axis=1, keepdims=True)
    return pd.DataFrame(p, columns=[f"p{i}" for i in range(max_objects + 1)], index=table.index)


def division_prior(division: pd.DataFrame) -> np.ndarray:
    """Division probabilities from a division feature table (formula in the module docstring).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"SquaredDistances_0": [5.0, 1.0], "SquaredDistances_1": [5.0, 9.0],
    ...                   "ChildrenRatio_Count": [1.0, 0.5], "ParentChildrenRatio_Count": [1.0, 0.6],
    ...                   "ParentChildrenAngle_RegionCenter": [180.0, 40.0]})
    >>> division_prior(d).round(3).tolist()
    [1.0, 0.002]
    """
    d0 = division["SquaredDistances_0"].to_numpy(float)
    d1 = division["SquaredDistances_1"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        near = np.where((d1 > 0) & (d1 < 9999.0), d0 / d1, 0.0)
        pcr = division["ParentChildrenRatio_Count"].to_numpy(float)
        size = np.where(pcr > 0, np.exp(-(np.log(np.where(pcr > 0, pcr, 1.0)) ** 2) / 0.5), 0.0)
    angle = np.clip(division["ParentChildrenAngle_RegionCenter"].to_numpy(float) / 180.0, 0, 1)
    cr = np.clip(division["ChildrenRatio_Count"].to_numpy(float), 0, 1)
    return np.nan_to_num(angle**2 * near * cr * size)


def feature_columns(table: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """Table columns of feature names (``RegionRadii`` -> ``RegionRadii_0``, ...), in order.

    Examples
    --------
    >>> import pandas as pd
    >>> feature_columns(pd.DataFrame(columns=["t", "Count", "RegionRadii_0", "RegionRadii_1"]),
    ...                 ["RegionRadii", "Count"])
    ['RegionRadii_0', 'RegionRadii_1', 'Count']
    """
    cols = []
    for name in names:
        found = [
            c
            for c in table.columns
            if c == name or (c.rsplit("_", 1)[0] == name and c.rsplit("_", 1)[1].isdigit())
        ]
        if not found:
            raise InputError(f"object classifier: the feature table has no column {name!r}")
        cols += found
    return cols


def feature_matrix(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """float32 matrix of ``columns`` with NaN / inf replaced by 0 (ilastik's missing value)."""
    X = table[list(columns)].to_numpy(np.float64)
    return np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


@dataclass
class ObjectClassifier:
    """A trained object classifier: the forest and the feature columns it reads."""

    forest: Any
    columns: list[str]
    classes: np.ndarray


def train(
    table: pd.DataFrame,
    labels: pd.DataFrame,
    features: Sequence[str],
    *,
    n_trees: int = 100,
    random_state: int = 0,
) -> ObjectClassifier:
    """Train a random forest on the labelled objects of a feature table.

    Parameters
    ----------
    table
        Feature table with ``t``, ``label`` and the features (several tables may be merged).
    labels
        ``t``, ``label``, ``class`` (integer classes, e.g. 0 / 1) of the annotated objects.
    features
        Feature names (e.g. :data:`DIVISION_FEATURES`).
    n_trees, random_state
        Forest size and seed.

    Returns
    -------
    ObjectClassifier
    """
    from .. import forest as gforest  # noqa: PLC0415

    columns = feature_columns(table, features)
    known = pd.MultiIndex.from_frame(table[["t", "label"]].astype(np.int64))
    asked = pd.MultiIndex.from_frame(labels[["t", "label"]].astype(np.int64))
    unknown = asked[~asked.isin(known)]
    if len(unknown):
        shown = ", ".join(f"(t={t}, label={lab})" for t, lab in list(unknown)[:3])
        raise InputError(
            f"object classifier: {len(unknown)} annotated object(s) are not in the label image: {shown}"
            f"{' ...' if len(unknown) > 3 else ''}; annotate objects that exist in the label frames"
        )
    merged = table.merge(labels[["t", "label", "class"]], on=["t", "label"], how="inner")
    if merged.empty:
        raise InputError(
            "object classifier: no labelled object matches a row (t, label) of the feature table"
        )
    y = merged["class"].to_numpy()
    if np.unique(y).size < 2:
        raise InputError("object classifier: the labels need at least two classes")
    model = gforest.fit(
        feature_matrix(merged, columns), y, n_trees=n_trees, random_state=random_state, n_jobs=1
    )
    return ObjectClassifier(forest=model, columns=columns, classes=np.asarray(model.classes))


def predict(
    classifier: ObjectClassifier, table: pd.DataFrame, *, device: str | None = "auto"
) -> pd.DataFrame:
    """Classes, probabilities and uncertainty of every object of a table.

    Returns
    -------
    pandas.DataFrame
        ``t``, ``label``, ``class``, ``p_<class>`` per class, ``uncertainty``.
    """
    from .. import backend  # noqa: PLC0415
    from .. import forest as gforest  # noqa: PLC0415

    missing = [c for c in classifier.columns if c not in table.columns]
    if missing:
        raise InputError(
            f"object classifier: uses {len(missing)} feature(s) the table lacks ({', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}); intensity features need the raw data (--raw)"
        )
    X = feature_matrix(table, classifier.columns)
    proba = backend.to_host(gforest.predict_proba(classifier.forest, X, device=device)).astype(np.float64)
    out = pd.DataFrame({"t": table["t"].to_numpy(), "label": table["label"].to_numpy()})
    out["class"] = classifier.classes[np.argmax(proba, axis=1)] if len(X) else np.zeros(0, int)
    for j, c in enumerate(classifier.classes):
        out[f"p_{c}"] = proba[:, j]
    top = np.sort(proba, axis=1)[:, ::-1]
    out["uncertainty"] = 1.0 - (top[:, 0] - top[:, 1]) if proba.shape[1] > 1 else 0.0
    return out


CLASSIFIER_FORMAT = 1
"""Format version of object classifier files written by :func:`save_classifier`."""


def save_classifier(
    path: str | os.PathLike, classifier: ObjectClassifier, *, overwrite: bool = False
) -> Path:
    """Write an object classifier (forest, feature columns, classes) to one HDF5 file, atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> rng = np.random.default_rng(0)
    >>> table = pd.DataFrame({"t": 0, "label": np.arange(1, 41), "Count": rng.random(40) * 100})
    >>> labels = table[["t", "label"]].assign(**{"class": (table["Count"] > 50).astype(int)})
    >>> clf = train(table, labels, ["Count"], n_trees=5)
    >>> path = save_classifier(pathlib.Path(tempfile.mkdtemp()) / "clf.h5", clf)
    >>> load_classifier(path).columns
    ['Count']
    """
    import json  # noqa: PLC0415

    import h5py  # noqa: PLC0415

    from .. import forest as gforest  # noqa: PLC0415
    from ..io.atomic import atomic_output  # noqa: PLC0415

    with atomic_output(path, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["gputrack_object_classifier"] = CLASSIFIER_FORMAT
            f.attrs["columns"] = json.dumps(list(classifier.columns))
            f.create_dataset("classes", data=np.asarray(classifier.classes))
            gforest.save(classifier.forest, f, name="forest")
    return Path(path)


def load_classifier(path: str | os.PathLike) -> ObjectClassifier:
    """Read an object classifier written by :func:`save_classifier`."""
    import json  # noqa: PLC0415

    import h5py  # noqa: PLC0415

    from .. import forest as gforest  # noqa: PLC0415
    from ..errors import MissingInputError  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: no such object classifier file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise InputError(f"{path}: not an HDF5 file (expected an object classifier)") from None
    with f:
        version = f.attrs.get("gputrack_object_classifier")
        if version is None:
            raise InputError(f"{path}: not a gputrack object classifier")
        if int(version) != CLASSIFIER_FORMAT:
            raise InputError(
                f"{path}: object classifier format {int(version)}, this gputrack reads {CLASSIFIER_FORMAT}"
            )
        return ObjectClassifier(
            forest=gforest.load(f, name="forest"),
            columns=list(json.loads(f.attrs["columns"])),
            classes=_decoded(f["classes"][()]),
        )


def _decoded(classes: np.ndarray) -> np.ndarray:
    """Class names stored as bytes (HDF5 strings) back to ``str``; numbers unchanged."""
    if classes.dtype.kind in "SO":
        return np.asarray([c.decode() if isinstance(c, bytes) else str(c) for c in classes], dtype=object)
    return classes
