"""The pixel classifier: train a forest on labelled pixels, predict block by block.

Outputs follow ilastik (spec §1.8): **probabilities** (float32, one channel per class in
label order; a class without labels gets probability 0), **simple segmentation** (uint8,
argmax + 1, i.e. the class id) and **uncertainty** (1 - (p_1 - p_2), the margin between
the two most probable classes).

Prediction walks the image in blocks (:func:`gputrack.features.iter_feature_blocks`): a
block's features go straight to the forest on the same device, and only the block's
output leaves it, so the feature stack of a large image never exists.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend
from .. import forest as gforest
from ..errors import InputError
from ..features import iter_feature_blocks, normalize_selection
from ..features.compute import check_axes
from ..features.selection import FeatureSelection
from .labels import feature_halo, read_labels, reader, region_features, training_samples

EXPORTS = ("probabilities", "simple-segmentation", "uncertainty")


@dataclass
class PixelClassifier:
    """A trained pixel classifier: the feature selection, the forest and the classes.

    Attributes
    ----------
    forest
        The compiled forest (:class:`gputrack.forest.Forest`); its ``classes`` are the
        class ids that had labels.
    selection
        The feature selection (:class:`gputrack.features.FeatureSelection`).
    classes
        Output channel class ids, ``1..K`` (ilastik's label order); ids without labels get
        probability 0.
    n_channels
        Channels of the images it was trained on (an image must have as many).
    feature_names
        ilastik's names of the feature columns the forest expects.
    label_names
        One name per class (``"Label 1"``, ... by default).
    spacing
        Pixel size per spatial axis the features were computed with, or ``None``.
    """

    forest: gforest.Forest
    selection: FeatureSelection
    classes: tuple[int, ...]
    n_channels: int
    feature_names: tuple[str, ...]
    label_names: tuple[str, ...]
    spacing: tuple[float, ...] | None = None

    @property
    def n_classes(self) -> int:
        """Number of output channels."""
        return len(self.classes)


# --------------------------------------------------------------------------- images


def as_image(image: Any, axes: str | None = None) -> tuple[Any, str]:
    """An array or lazily read image (path / :class:`~gputrack.io.ImageSource`) and its axes.

    Examples
    --------
    >>> as_image(np.zeros((8, 9)))[1]
    'yx'
    """
    if isinstance(image, (str, os.PathLike)):
        from ..io import open_image  # noqa: PLC0415

        image = open_image(image)
    if hasattr(image, "read") and hasattr(image, "axes"):
        src_axes = axes or image.axes
        if len(src_axes) != image.ndim:
            raise InputError(f"{image.path}: axes={src_axes!r} do not fit the shape {image.shape}")
        return image, check_axes(src_axes, image.ndim)
    if not type(image).__module__.startswith("cupy"):
        image = np.asarray(image)
    return image, check_axes(axes, image.ndim)


def _channels(shape: Sequence[int], axes: str) -> int:
    return int(shape[axes.index("c")]) if "c" in axes else 1


def _describe(image: Any) -> str:
    return str(image.path) if hasattr(image, "path") else f"image of shape {tuple(image.shape)}"


def check_image(classifier: PixelClassifier, image: Any, axes: str) -> None:
    """Raise a one-line :class:`InputError` when ``image`` cannot go through ``classifier``."""
    nc = _channels(image.shape, axes)
    if nc != classifier.n_channels:
        kind = "an RGB image" if nc in (3, 4) else f"{nc} channel(s)"
        raise InputError(
            f"{_describe(image)} has {kind} (axes {axes!r}) but the classifier was trained on "
            f"{classifier.n_channels}-channel images; convert it (e.g. to grey) or pass the right axes="
        )


# --------------------------------------------------------------------------- training


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def train(
    images: Any,
    labels: Any,
    selection: Any = "all",
    *,
    axes: str | None = None,
    label_names: Sequence[str] | None = None,
    n_trees: int = 100,
    random_state: int = 0,
    spacing: Sequence[float] | None = None,
    device: str | None = "auto",
    n_jobs: int | None = -1,
    forest_backend: str = "gputrack",
) -> PixelClassifier:
    """Train a pixel classifier on every labelled pixel of one or many images.

    Parameters
    ----------
    images
        One image or a list: arrays, paths (any format of :func:`gputrack.io.open_image`,
        read lazily around the labels) or :class:`~gputrack.io.ImageSource`.
    labels
        One label image per image: arrays or files (TIFF, PNG scribbles, HDF5, Zarr; see
        :func:`read_labels`), 0 = unlabelled, ``k`` = class ``k``; the image's shape
        without its channel axis.
    selection
        Feature selection (see :func:`gputrack.features.compute`; default all 49/61
        channels).
    axes
        Axes of every image (default: the file's axes, or by ``ndim`` for arrays).
    label_names
        Class names; their number fixes the number of output channels (at least the
        largest label id).
    n_trees, random_state, n_jobs, forest_backend
        Forest settings (see :func:`gputrack.forest.fit`).
    spacing, device
        As for :func:`gputrack.features.compute`.

    Returns
    -------
    PixelClassifier

    Raises
    ------
    InputError
        Labels of another shape than their image, no labels, one class only, images with
        different channel counts.

    Examples
    --------
    >>> img = np.zeros((40, 40), np.float32); img[:, 20:] = 1
    >>> lab = np.zeros((40, 40), np.uint8); lab[5:10, 2:6] = 1; lab[5:10, 30:35] = 2
    >>> clf = train(img, lab, {"GaussianSmoothing": [1.0]}, n_trees=10, device="cpu", n_jobs=1)
    >>> predict(clf, img, output="simple-segmentation", device="cpu")[0, [0, 39]].tolist()
    [1, 2]
    """
    image_list, label_list = _as_list(images), _as_list(labels)
    if len(image_list) != len(label_list):
        raise InputError(
            f"{len(image_list)} image(s) but {len(label_list)} label image(s): expected one each"
        )
    sel = normalize_selection(selection)
    xs, ys, names, n_channels = [], [], None, None
    for img, lab in zip(image_list, label_list):
        img, img_axes = as_image(img, axes)
        lab_arr = read_labels(lab)
        nc = _channels(img.shape, img_axes)
        if n_channels is not None and nc != n_channels:
            raise InputError(f"{_describe(img)} has {nc} channel(s), image 0 has {n_channels}")
        n_channels = nc
        if not np.any(lab_arr):
            continue
        X, y, img_names = training_samples(
            img, lab_arr, sel, axes=img_axes, spacing=spacing, device=device
        )
        if names is not None and img_names != names:
            raise InputError(
                f"{_describe(img)} gives other feature channels than image 0 (2D vs 3D?): "
                "train on images of the same dimensionality"
            )
        names = img_names
        xs.append(X)
        ys.append(y)
    if not xs:
        raise InputError("no labelled pixels in the labels: label at least two classes")
    X, y = np.concatenate(xs), np.concatenate(ys)
    present = np.unique(y)
    if len(present) < 2:
        raise InputError(
            f"labels contain one class only (id {int(present[0])}): label at least two classes"
        )
    k = int(present.max())
    if label_names is not None:
        if len(label_names) < k:
            raise InputError(f"{len(label_names)} label_names for label ids up to {k}: expected at least {k}")
        k = len(label_names)
    forest = gforest.fit(
        X, y, n_trees=n_trees, random_state=random_state, n_jobs=n_jobs,
        feature_names=names, backend=forest_backend,
    )
    return PixelClassifier(
        forest=forest,
        selection=sel,
        classes=tuple(range(1, k + 1)),
        n_channels=int(n_channels),
        feature_names=tuple(names),
        label_names=tuple(label_names or (f"Label {i}" for i in range(1, k + 1))),
        spacing=None if spacing is None else tuple(float(s) for s in spacing),
    )


# --------------------------------------------------------------------------- outputs


def simple_segmentation(probabilities: Any, classes: Sequence[int] | None = None) -> Any:
    """Class id of the most probable class (ilastik: argmax + 1), uint8 (uint16 above 255).

    Examples
    --------
    >>> simple_segmentation(np.array([[0.2, 0.8], [0.6, 0.4]], np.float32)).tolist()
    [1, 0]
    >>> simple_segmentation(np.array([[0.2, 0.8], [0.6, 0.4]], np.float32), classes=[1, 2]).tolist()
    [2, 1]
    """
    xp = backend.namespace_of(probabilities)
    idx = xp.argmax(probabilities, axis=-1)
    if classes is None:
        return idx.astype(np.uint8 if probabilities.shape[-1] <= 256 else np.uint16)
    lut = xp.asarray(np.asarray(classes, dtype=np.uint8 if max(classes) < 256 else np.uint16))
    return lut[idx]


def uncertainty(probabilities: Any) -> Any:
    """ilastik's uncertainty: ``1 - (p_1 - p_2)`` of the two largest probabilities, float32.

    Examples
    --------
    >>> uncertainty(np.array([[0.2, 0.8], [0.5, 0.5]], np.float32)).tolist()
    [0.3999999761581421, 1.0]
    """
    xp = backend.namespace_of(probabilities)
    if probabilities.shape[-1] < 2:
        return xp.zeros(probabilities.shape[:-1], np.float32) + 1
    top = xp.sort(probabilities, axis=-1)[..., -2:]
    return (1 - (top[..., 1] - top[..., 0])).astype(np.float32)


def export_block(classifier: PixelClassifier, probabilities: Any, export: str) -> Any:
    """Turn a probabilities block into the requested export (see :data:`EXPORTS`)."""
    if export == "probabilities":
        return probabilities
    if export == "simple-segmentation":
        return simple_segmentation(probabilities, classifier.classes)
    if export == "uncertainty":
        return uncertainty(probabilities)
    raise InputError(f"export {export!r}: expected one of {', '.join(EXPORTS)}")


def forest_probabilities(classifier: PixelClassifier, features: Any, device: str | None = "auto") -> Any:
    """Probabilities of a feature block ``(..., F)`` -> ``(..., K)`` in ``classifier.classes`` order.

    Stays on the device of ``features`` on a GPU run; channels of classes the forest never
    saw are 0. A C-contiguous block (what :func:`~gputrack.features.iter_feature_blocks`
    yields) is flattened without a copy.
    """
    xp = backend.namespace_of(features)
    flat = features.reshape(-1, features.shape[-1])
    dev = backend.device_of(features) if device in (None, "auto") else backend.resolve_device(device)
    p = gforest.predict_proba(classifier.forest, flat, device=dev)
    p = xp.asarray(p) if backend.device_of(p) == backend.device_of(features) else backend.to_device(
        p, backend.device_of(features)
    )
    known = [int(c) for c in classifier.forest.classes]
    if known == list(classifier.classes):
        out = p
    else:
        out = xp.zeros((flat.shape[0], classifier.n_classes), np.float32)
        cols = [classifier.classes.index(c) for c in known]
        out[:, xp.asarray(np.asarray(cols))] = p
    return out.reshape(features.shape[:-1] + (classifier.n_classes,)).astype(np.float32, copy=False)


def predict_blocks(
    classifier: PixelClassifier,
    image: Any,
    *,
    axes: str | None = None,
    export: str = "probabilities",
    block_shape: Sequence[int] | None = None,
    device: str | None = "auto",
    skip: Callable[[tuple[slice, ...]], bool] | None = None,
) -> Iterator[tuple[tuple[slice, ...], Any]]:
    """Classify an image block by block.

    Parameters
    ----------
    classifier
        A trained :class:`PixelClassifier`.
    image
        Array, path or :class:`~gputrack.io.ImageSource` (read lazily, one block plus halo
        at a time).
    axes
        The image's axes (default: the file's, or by ``ndim``).
    export
        ``"probabilities"``, ``"simple-segmentation"`` or ``"uncertainty"``.
    block_shape
        Block edges for the non-channel axes in the image's order (default: from free
        memory).
    device
        ``"auto"``, ``"cpu"`` or ``"gpu"``.
    skip
        With ``block_shape``: ``skip(region) -> True`` leaves a block out before its
        features are computed (resuming a run).

    Yields
    ------
    region : tuple of slice
        The block's place among the image's non-channel axes.
    block : array
        The export for that region (on the device; class channels last for
        probabilities).

    Examples
    --------
    >>> img = np.zeros((40, 40), np.float32); img[:, 20:] = 1
    >>> lab = np.zeros((40, 40), np.uint8); lab[5:10, 2:6] = 1; lab[5:10, 30:35] = 2
    >>> clf = train(img, lab, {"GaussianSmoothing": [1.0]}, n_trees=5, device="cpu", n_jobs=1)
    >>> [r for r, _ in predict_blocks(clf, img, block_shape=(40, 20), device="cpu")]
    [(slice(0, 40, None), slice(0, 20, None)), (slice(0, 40, None), slice(20, 40, None))]
    """
    if export not in EXPORTS:
        raise InputError(f"export {export!r}: expected one of {', '.join(EXPORTS)}")
    device = backend.resolve_device(device)
    image, axes = as_image(image, axes)
    check_image(classifier, image, axes)

    def classify(feats: Any) -> Any:
        if feats.shape[-1] != classifier.forest.n_features:
            raise InputError(
                f"{_describe(image)} gives {feats.shape[-1]} feature channels, the classifier's forest "
                f"expects {classifier.forest.n_features} (2D vs 3D image, or other channels?)"
            )
        p = forest_probabilities(classifier, feats, device)
        del feats
        return export_block(classifier, p, export)

    if block_shape is None:  # the forest runs inside the blocks' out-of-memory retry
        yield from iter_feature_blocks(
            image, classifier.selection, None, axes=axes, shape=image.shape,
            spacing=classifier.spacing, device=device, transform=classify,
        )
        return
    for region, feats in _grid_features(classifier, image, axes, block_shape, device, skip):
        yield region, classify(feats)


def block_grid(shape: Sequence[int], block_shape: Sequence[int]) -> list[tuple[slice, ...]]:
    """Regions of a C-order grid of blocks over ``shape`` (edge blocks clipped).

    Examples
    --------
    >>> block_grid((5, 4), (3, 4))
    [(slice(0, 3, None), slice(0, 4, None)), (slice(3, 5, None), slice(0, 4, None))]
    """
    if len(block_shape) != len(shape) or any(int(b) < 1 for b in block_shape):
        raise InputError(f"block_shape={tuple(block_shape)}: expected {len(shape)} positive edges")
    starts = [range(0, n, int(b)) for n, b in zip(shape, block_shape)]
    return [
        tuple(slice(c, min(c + int(b), n)) for c, b, n in zip(corner, block_shape, shape))
        for corner in itertools.product(*starts)
    ]


def _grid_features(classifier, image, axes, block_shape, device, skip):
    full = [n for a, n in zip(axes, image.shape) if a != "c"]
    halo = feature_halo(classifier.selection, image.shape, axes, classifier.spacing)
    read = reader(image)
    for region in block_grid(full, block_shape):
        if skip is not None and skip(region):
            continue
        feats, _ = region_features(read, region, axes=axes, shape=image.shape, selection=classifier.selection,
                                   halo=halo, spacing=classifier.spacing, device=device)
        yield region, feats


def output_shape(
    classifier: PixelClassifier, shape: Sequence[int], axes: str, export: str
) -> tuple[int, ...]:
    """Shape of an export of an image of ``shape`` (``axes``): non-channel axes (+ classes)."""
    base = tuple(int(n) for a, n in zip(axes, shape) if a != "c")
    return base + (classifier.n_classes,) if export == "probabilities" else base


def output_dtype(classifier: PixelClassifier, export: str) -> np.dtype:
    """dtype of an export: float32, or uint8 (uint16 beyond 255 classes) for segmentation."""
    if export == "simple-segmentation":
        return np.dtype(np.uint8 if max(classifier.classes) < 256 else np.uint16)
    return np.dtype(np.float32)


def predict(
    classifier: PixelClassifier,
    image: Any,
    *,
    axes: str | None = None,
    output: str = "probabilities",
    block_shape: Sequence[int] | None = None,
    device: str | None = "auto",
    keep_on_device: bool = False,
) -> Any:
    """Classify a whole image into memory (see :func:`predict_blocks` for large images).

    Parameters
    ----------
    classifier, image, axes, block_shape, device
        As for :func:`predict_blocks`.
    output
        ``"probabilities"`` (float32, classes last), ``"simple-segmentation"`` (uint8
        class ids) or ``"uncertainty"`` (float32).
    keep_on_device
        On a GPU run, assemble the blocks on the device and return a cupy array (for the
        next stage, e.g. the threshold); default: a numpy array.

    Returns
    -------
    array
        The image's non-channel axes in their order (plus the class axis for
        probabilities); numpy, or cupy with ``keep_on_device`` on a GPU run.

    Examples
    --------
    >>> img = np.zeros((40, 40), np.float32); img[:, 20:] = 1
    >>> lab = np.zeros((40, 40), np.uint8); lab[5:10, 2:6] = 1; lab[5:10, 30:35] = 2
    >>> clf = train(img, lab, {"GaussianSmoothing": [1.0]}, n_trees=5, device="cpu", n_jobs=1)
    >>> predict(clf, img, device="cpu").shape
    (40, 40, 2)
    """
    image, img_axes = as_image(image, axes)
    device = backend.resolve_device(device)
    on_device = keep_on_device and device == "gpu"
    xp = backend.array_module(device) if on_device else np
    out = xp.empty(output_shape(classifier, image.shape, img_axes, output), output_dtype(classifier, output))
    for region, block in predict_blocks(
        classifier, image, axes=img_axes, export=output, block_shape=block_shape, device=device
    ):
        out[region] = block if on_device else backend.to_host(block)
    return out

