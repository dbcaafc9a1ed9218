"""The gputrack project file: pixel-classification settings, labels and forest in one HDF5 file.

Layout (``format_version`` 1)::

    /                       attrs: format = "gputrack-project", format_version = 1
    /pixel                  attrs: classes, n_channels, label_names, feature_names, spacing,
                            scale (the resize factor of y, x the forest was trained at; 1 when absent)
    /pixel/selection        scales (float64), matrix (bool, 6 x scales), in_2d (bool)
    /pixel/forest           the trained forest (gputrack.forest.save)
    /pixel/labels/imageNNNN attrs: path (the image file, "" for arrays), axes, shape
                            coords (int64, n x ndim), values (class ids): the sparse labels
    /annotations            manual tracking (gputrack.tracking.annotation), optional:
                            objects (int64, n x 3: t, label, track id; -1 misdetection),
                            divisions (int64, k x 4: parent, child 1, child 2 or 0, t parent),
                            tracks (int64: every started track id)

Predicting with a loaded project gives exactly the in-memory classifier's results: the
forest is stored bit for bit and the selection with it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import forest as gforest
from .errors import InputError, MissingInputError
from .features.selection import FeatureSelection
from .io import atomic_output
from .io.hdf5 import open_hdf5
from .pixel import PixelClassifier, read_labels, train

FORMAT = "gputrack-project"
FORMAT_VERSION = 1


@dataclass
class SparseLabels:
    """Labels of one image, stored sparsely: the labelled pixels' coordinates and class ids."""

    path: str
    axes: str
    shape: tuple[int, ...]
    coords: np.ndarray
    values: np.ndarray

    def dense(self) -> np.ndarray:
        """The label image (0 = unlabelled)."""
        out = np.zeros(self.shape, self.values.dtype if self.values.size else np.uint8)
        out[tuple(self.coords.T)] = self.values
        return out


@dataclass
class Project:
    """A loaded project file."""

    path: Path
    classifier: PixelClassifier
    labels: list[SparseLabels] = field(default_factory=list)
    format_version: int = FORMAT_VERSION
    scale: float = 1.0


def sparse_labels(labels: Any, *, path: str = "", axes: str = "") -> SparseLabels:
    """Coordinates and class ids of the labelled pixels of a label image.

    Examples
    --------
    >>> lab = np.zeros((3, 4), np.uint8); lab[1, 2] = 2
    >>> s = sparse_labels(lab)
    >>> s.coords.tolist(), s.values.tolist(), bool((s.dense() == lab).all())
    ([[1, 2]], [2], True)
    """
    arr = read_labels(labels)
    coords = np.argwhere(arr != 0).astype(np.int64)
    return SparseLabels(str(path), axes, tuple(int(n) for n in arr.shape), coords, arr[arr != 0])


def save_project(
    path: str | os.PathLike,
    classifier: PixelClassifier,
    *,
    labels: Sequence[SparseLabels] = (),
    scale: float = 1.0,
    overwrite: bool = False,
) -> Path:
    """Write a classifier (and the labels it was trained on) to a project file, atomically.

    Examples
    --------
    >>> save_project("cells.gtp.h5", clf, labels=[sparse_labels(lab)])   # doctest: +SKIP
    """
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as fh:
        fh.attrs["format"] = FORMAT
        fh.attrs["format_version"] = FORMAT_VERSION
        g = fh.create_group("pixel")
        g.attrs["classes"] = np.asarray(classifier.classes, np.int64)
        g.attrs["n_channels"] = int(classifier.n_channels)
        g.attrs["label_names"] = json.dumps(list(classifier.label_names))
        g.attrs["feature_names"] = json.dumps(list(classifier.feature_names))
        g.attrs["spacing"] = json.dumps(None if classifier.spacing is None else list(classifier.spacing))
        g.attrs["scale"] = float(scale)
        sel = g.create_group("selection")
        sel["scales"] = np.asarray(classifier.selection.scales, np.float64)
        sel["matrix"] = np.asarray(classifier.selection.matrix, bool)
        sel["in_2d"] = np.asarray(classifier.selection.in_2d, bool)
        gforest.save(classifier.forest, g, name="forest")
        lg = g.create_group("labels")
        for i, lab in enumerate(labels):
            e = lg.create_group(f"image{i:04d}")
            e.attrs["path"] = lab.path
            e.attrs["axes"] = lab.axes
            e.attrs["shape"] = np.asarray(lab.shape, np.int64)
            e.create_dataset("coords", data=lab.coords, compression="gzip")
            e.create_dataset("values", data=lab.values, compression="gzip")
    return path


def load_project(path: str | os.PathLike) -> Project:
    """Read a project file written by :func:`train_project` / :func:`save_project`.

    Raises
    ------
    MissingInputError
        No such file.
    InputError
        Not a gputrack project, or a newer format version.

    Examples
    --------
    >>> project = load_project("cells.gtp.h5")                            # doctest: +SKIP
    >>> gputrack.pixel.predict(project.classifier, image)                  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: project file not found")
    if not h5py.is_hdf5(path):
        raise InputError(f"{path}: not a gputrack project (not an HDF5 file)")
    with open_hdf5(path, "gputrack project") as fh:
        if fh.attrs.get("format") != FORMAT or "pixel" not in fh:
            raise InputError(f"{path}: not a gputrack project (no format={FORMAT!r} attribute)")
        version = int(fh.attrs["format_version"])
        if version > FORMAT_VERSION:
            raise InputError(
                f"{path}: project format version {version} is newer than this gputrack's "
                f"({FORMAT_VERSION}); upgrade gputrack"
            )
        g = fh["pixel"]
        sel = FeatureSelection(
            scales=tuple(float(s) for s in g["selection/scales"][()]),
            matrix=np.asarray(g["selection/matrix"][()], bool),
            in_2d=tuple(bool(b) for b in g["selection/in_2d"][()]),
        )
        spacing = json.loads(g.attrs["spacing"])
        clf = PixelClassifier(
            forest=gforest.load(g, name="forest"),
            selection=sel,
            classes=tuple(int(c) for c in g.attrs["classes"]),
            n_channels=int(g.attrs["n_channels"]),
            feature_names=tuple(json.loads(g.attrs["feature_names"])),
            label_names=tuple(json.loads(g.attrs["label_names"])),
            spacing=None if spacing is None else tuple(spacing),
        )
        labels = []
        for key in sorted(g["labels"]):
            e = g["labels"][key]
            labels.append(SparseLabels(
                path=str(e.attrs["path"]), axes=str(e.attrs["axes"]),
                shape=tuple(int(n) for n in e.attrs["shape"]),
                coords=e["coords"][()], values=e["values"][()],
            ))
        scale = float(g.attrs.get("scale", 1.0))
    return Project(path=path, classifier=clf, labels=labels, format_version=version, scale=scale)


def train_project(
    path: str | os.PathLike,
    images: Any,
    labels: Any,
    selection: Any = "all",
    *,
    axes: str | None = None,
    label_names: Sequence[str] | None = None,
    n_trees: int = 100,
    random_state: int = 0,
    device: str | None = "auto",
    scale: float = 1.0,
    overwrite: bool = False,
) -> Project:
    """Train a pixel classifier and write it, with its labels, to a project file.

    Parameters are those of :func:`gputrack.pixel.train`; ``path`` is the project file
    (HDF5; replaced only with ``overwrite``). ``scale < 1`` trains on the images resized
    (area average of ``y, x``, as prediction with ``scale`` does) and on the labels resized
    with them (:func:`gputrack.pixel.labels.scale_labels`); the project records the scale, and
    prediction uses it.

    Returns
    -------
    Project

    Examples
    --------
    >>> project = train_project("cells.gtp.h5", ["a.tif", "b.tif"],
    ...                         ["a_labels.png", "b_labels.png"])          # doctest: +SKIP
    """
    image_list = list(images) if isinstance(images, (list, tuple)) else [images]
    label_list = list(labels) if isinstance(labels, (list, tuple)) else [labels]
    if not 0 < float(scale) <= 1:
        raise InputError(f"scale={scale}: expected 0 < scale <= 1")
    names = [str(img) if isinstance(img, (str, os.PathLike)) else "" for img in image_list]
    fit_images, fit_labels, fit_axes = image_list, label_list, axes
    if scale != 1:
        fit_images, fit_labels, fit_axes = _scaled_inputs(image_list, label_list, axes, float(scale))
    clf = train(fit_images, fit_labels, selection, axes=fit_axes, label_names=label_names, n_trees=n_trees,
                random_state=random_state, device=device)
    stored = [sparse_labels(lab, path=name, axes=fit_axes or "") for name, lab in zip(names, fit_labels)]
    save_project(path, clf, labels=stored, scale=float(scale), overwrite=overwrite)
    return Project(path=Path(path), classifier=clf, labels=stored, scale=float(scale))


def _scaled_inputs(images: list, labels: list, axes: str | None, scale: float):
    """Images and labels resized by ``scale`` (``y, x``) for training at that scale."""
    from .io import open_image  # noqa: PLC0415
    from .pixel.export import read_scaled  # noqa: PLC0415
    from .pixel.labels import scale_labels  # noqa: PLC0415

    out_images, out_labels, found = [], [], None
    for img, lab in zip(images, labels):
        if isinstance(img, (str, os.PathLike)):
            with open_image(img, axes=axes) as src:
                found = src.axes
                small = read_scaled(src, found, scale)
        else:
            arr = np.asarray(img)
            found = axes or ("yxc" if arr.ndim == 3 and arr.shape[-1] <= 4 else "zyx"[-arr.ndim:])
            small = read_scaled(arr, found, scale)
        if axes is not None and found != axes:
            raise InputError(f"{img}: axes {found!r}; every training image needs axes {axes!r}")
        axes = found
        out_images.append(small)
        out_labels.append(scale_labels(read_labels(lab), found.replace("c", ""), scale))
    return out_images, out_labels, axes


def save_annotations(path: str | os.PathLike, annotations: Any) -> Path:
    """Store manual-tracking annotations in the project file ``path`` (created when absent).

    The ``/annotations`` group of an existing project is replaced; the rest of the file is
    kept. The file is rewritten atomically.

    Examples
    --------
    >>> from gputrack.tracking.annotation import Annotations, assign, new_track
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "cells.gtp.h5"
    >>> ann = Annotations(); assign(ann, new_track(ann), 0, 4)
    >>> _ = save_annotations(p, ann); load_annotations(p).labels
    {0: {4: {1}}}
    """
    import shutil

    path = Path(path)
    if path.exists():
        if not h5py.is_hdf5(path):
            raise InputError(f"{path}: not a gputrack project (not an HDF5 file)")
        with open_hdf5(path, "gputrack project") as fh:
            if fh.attrs.get("format") != FORMAT:
                raise InputError(f"{path}: not a gputrack project (no format={FORMAT!r} attribute)")
    rows = [(t, label, k) for t, label, ids in annotations.objects() for k in sorted(ids)]
    divs = [(p, c1, c2, tp) for p, (c1, c2, tp) in sorted(annotations.divisions.items())]
    with atomic_output(path, overwrite=True) as tmp:
        if path.exists():
            shutil.copyfile(path, tmp)
        with h5py.File(tmp, "a") as fh:
            fh.attrs["format"] = FORMAT
            fh.attrs.setdefault("format_version", FORMAT_VERSION)
            if "annotations" in fh:
                del fh["annotations"]
            g = fh.create_group("annotations")
            g.create_dataset("objects", data=np.asarray(rows, np.int64).reshape(-1, 3), compression="gzip")
            g.create_dataset("divisions", data=np.asarray(divs, np.int64).reshape(-1, 4))
            g.create_dataset("tracks", data=np.asarray(sorted(annotations.tracks), np.int64))
    return path


def load_annotations(path: str | os.PathLike):
    """The manual-tracking annotations stored in a project file (:func:`save_annotations`)."""
    from .tracking.annotation import Annotations

    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: project file not found")
    if not h5py.is_hdf5(path):
        raise InputError(f"{path}: not a gputrack project (not an HDF5 file)")
    with open_hdf5(path, "gputrack project") as fh:
        if fh.attrs.get("format") != FORMAT:
            raise InputError(f"{path}: not a gputrack project (no format={FORMAT!r} attribute)")
        if "annotations" not in fh:
            raise InputError(f"{path}: the project holds no tracking annotations (/annotations)")
        g = fh["annotations"]
        ann = Annotations(tracks={int(k) for k in g["tracks"][()]})
        for t, label, k in g["objects"][()].tolist():
            ann.labels.setdefault(t, {}).setdefault(label, set()).add(k)
        for p, c1, c2, tp in g["divisions"][()].tolist():
            ann.divisions[p] = (c1, c2, tp)
    return ann
