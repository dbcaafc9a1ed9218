"""Live pixel classification behind the napari widget: scribbles -> forest -> region outputs.

The widget paints scribbles into Labels layers; :func:`train_scribbles` trains one forest on
every (image, scribbles) pair with labels, and :func:`predict_region` classifies only the
visible region of an image. The region's features are computed on the region plus the
filters' halo, so the region's probabilities equal the same region of a whole-image
prediction (``gputrack pixel predict``). :func:`live_steps` splits the work into steps a
worker thread yields between, so painting again cancels a running update.

Examples
--------
>>> import numpy as np
>>> img = np.zeros((40, 40), np.float32); img[:, 20:] = 1
>>> scr = np.zeros((40, 40), np.uint8); scr[5:10, 2:6] = 1; scr[5:10, 30:35] = 2
>>> clf = train_scribbles([img], [scr], {"GaussianSmoothing": [1.0]}, n_trees=5, device="cpu")
>>> out = predict_region(clf, img, (slice(0, 10), slice(15, 25)), device="cpu")
>>> out["simple-segmentation"][0].tolist()
[1, 1, 1, 1, 1, 2, 2, 2, 2, 2]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..errors import InputError
from ..features.selection import (
    DEFAULT_SCALES,
    DISPLAY_NAMES,
    FEATURE_IDS,
    MINIMUM_SCALE,
    normalize_selection,
)

OUTPUTS = ("probabilities", "simple-segmentation", "uncertainty")


def selection_matrix(selection: Any = None) -> np.ndarray:
    """ilastik's feature table: bool ``(6, 7)`` over :data:`FEATURE_IDS` x ilastik's default scales.

    Examples
    --------
    >>> m = selection_matrix({"GaussianSmoothing": [1.0, 3.5]})
    >>> m.shape, int(m.sum()), m[0].tolist()
    ((6, 7), 2, [False, False, True, False, True, False, False])
    """
    m = np.zeros((len(FEATURE_IDS), len(DEFAULT_SCALES)), bool)
    if selection is None:
        return m
    sel = normalize_selection(selection)
    for f, s, _ in sel.pairs():
        if s not in DEFAULT_SCALES:
            raise InputError(f"feature {f} at scale {s}: the table has scales {list(DEFAULT_SCALES)}")
        m[FEATURE_IDS.index(f), DEFAULT_SCALES.index(s)] = True
    return m


def matrix_selection(matrix: np.ndarray) -> dict[str, list[float]]:
    """The ``{feature: [scales]}`` selection of a ticked table (:func:`selection_matrix`'s inverse).

    Raises a one-line :class:`InputError` for an empty table or a scale below ilastik's
    minimum for that feature (0.3 for Gaussian smoothing, 0.7 for the others).
    """
    m = np.asarray(matrix, bool)
    out: dict[str, list[float]] = {}
    for i, f in enumerate(FEATURE_IDS):
        for k, s in enumerate(DEFAULT_SCALES):
            if m[i, k]:
                if s < MINIMUM_SCALE[f]:
                    raise InputError(f"{DISPLAY_NAMES[f]} at σ {s}: the smallest scale is {MINIMUM_SCALE[f]}")
                out.setdefault(f, []).append(float(s))
    if not out:
        raise InputError("no features selected: tick at least one feature and scale in the table")
    return out


def labelled_pairs(images: Sequence[Any], scribbles: Sequence[Any]) -> list[tuple[Any, np.ndarray]]:
    """The (image, scribbles) pairs that hold labels, scribble shapes checked against their images."""
    pairs = []
    for img, scr in zip(images, scribbles):
        scr = np.asarray(scr)
        if scr.shape != np.shape(img)[: scr.ndim]:
            raise InputError(
                f"scribbles of shape {scr.shape} do not fit their image of shape {np.shape(img)}"
            )
        if scr.any():
            pairs.append((img, scr))
    return pairs


def train_scribbles(
    images: Sequence[Any],
    scribbles: Sequence[Any],
    selection: Any,
    *,
    axes: str | None = None,
    label_names: Sequence[str] | None = None,
    n_trees: int = 100,
    random_state: int = 0,
    device: str | None = "auto",
):
    """Train one pixel classifier on every image with scribbles (:func:`gputrack.pixel.train`).

    Raises
    ------
    InputError
        No scribbles, or scribbles of one class only.
    """
    from ..pixel import train  # noqa: PLC0415

    pairs = labelled_pairs(images, scribbles)
    classes = np.unique(np.concatenate([np.unique(s) for _, s in pairs])) if pairs else np.zeros(0)
    classes = classes[classes > 0]
    if len(classes) < 2:
        raise InputError(
            f"paint at least two classes to train (found {len(classes)}: {classes.tolist()})"
        )
    return train([p[0] for p in pairs], [p[1] for p in pairs], selection, axes=axes,
                 label_names=label_names, n_trees=n_trees, random_state=random_state, device=device)


def live_steps(
    classifier,
    image: Any,
    region: Sequence[slice],
    *,
    axes: str | None = None,
    device: str | None = "auto",
) -> Iterator[tuple[str, Any]]:
    """Classify ``region`` of ``image`` in steps; yields ``("features", None)`` then ``("outputs", dict)``.

    A worker thread runs this generator; quitting it between the steps cancels the update.
    """
    from ..pixel.classifier import as_image, check_image  # noqa: PLC0415
    from ..pixel.labels import feature_halo, reader, region_features  # noqa: PLC0415

    src, src_axes = as_image(image, axes)
    check_image(classifier, src, src_axes)
    shape = tuple(src.shape)
    halo = feature_halo(classifier.selection, shape, src_axes, classifier.spacing)
    feats, _ = region_features(reader(src), region, axes=src_axes, shape=shape,
                               selection=classifier.selection, halo=halo,
                               spacing=classifier.spacing, device=device)
    yield "features", None
    yield "outputs", region_outputs(classifier, feats, device=device)


def region_outputs(classifier, features: Any, *, device: str | None = "auto") -> dict[str, np.ndarray]:
    """Probabilities, simple segmentation and uncertainty of a feature block, on the host."""
    from ..pixel import forest_probabilities, simple_segmentation, uncertainty  # noqa: PLC0415

    prob = forest_probabilities(classifier, features, device=device)
    return {
        "probabilities": backend.to_host(prob),
        "simple-segmentation": backend.to_host(simple_segmentation(prob, classifier.classes)),
        "uncertainty": backend.to_host(uncertainty(prob)),
    }


def predict_region(
    classifier, image: Any, region: Sequence[slice], *, axes: str | None = None, device: str | None = "auto"
) -> dict[str, np.ndarray]:
    """The three outputs of ``region`` (one slice per non-channel axis of ``image``).

    Equal to the same region of :func:`gputrack.pixel.predict` on the whole image.
    """
    steps = list(live_steps(classifier, image, region, axes=axes, device=device))
    return steps[-1][1]


def paste(target: np.ndarray, region: Sequence[slice], values: np.ndarray) -> np.ndarray:
    """Write a region's values into a whole-image output array (allocated by the caller)."""
    target[tuple(region)] = values
    return target
