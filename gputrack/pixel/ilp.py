"""Run ilastik pixel-classification projects: their own stored forests, or retrained ones.

:func:`predict_ilp` takes a project's feature selection and evaluates the project's stored
vigra forests (compiled by :func:`gputrack.forest.read_ilp_forests`) on our features,
which reproduces ilastik's probabilities; ``retrain=True`` trains our forest on the
project's labels instead. Autocontext projects run their stages in a chain: stage
``s + 1`` sees the raw channels plus stage ``s``'s probabilities converted to the raw
dtype (``floor(255 p)`` for uint8, ``floor(max p)`` for other integer types, ``p`` itself
for float images), as ilastik does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import forest as gforest
from ..errors import InputError, MissingInputError
from ..features import normalize_selection
from ..io.axes import guess_axes
from ..io.ilp import IlpProject, label_image, open_lane, read_ilp
from ..io.images import open_image
from .classifier import EXPORTS, PixelClassifier, as_image, predict, train


def _lane_image(project: IlpProject, lane: int) -> tuple[np.ndarray, str]:
    entry = project.lanes[lane].raw
    try:
        image = open_lane(project, lane)
    except MissingInputError:
        shown = getattr(entry, "path", None) or getattr(entry, "file_path", "?")
        raise MissingInputError(
            f"{project.path}: lane {lane} raw data not found: {shown}; pass the image explicitly "
            f"(predict_ilp(..., images=[...]) or raw_data={{{lane}: 'path'}}; CLI: --raw-data PATH)"
        ) from None
    axes = entry.axes if entry.axes and len(entry.axes) == image.ndim else None
    _, axes = as_image(image, axes)
    return image, axes


def _stage_input(image: np.ndarray, axes: str, previous: np.ndarray | None) -> tuple[np.ndarray, str]:
    """Raw image (+ previous stage's probabilities in the raw dtype) for an autocontext stage."""
    if previous is None:
        return image, axes
    if "c" not in axes:
        image, axes = image[..., None], axes + "c"
    raw = np.moveaxis(image, axes.index("c"), -1)
    if raw.dtype.kind in "iu":
        top = np.iinfo(raw.dtype).max
        # floor(top p) is ill-conditioned at multiples of 1/n_trees: snap float noise first
        conv = np.floor(np.round(previous.astype(np.float64) * top, 3)).astype(raw.dtype)
    else:
        conv = previous.astype(raw.dtype)
    spatial = axes.replace("c", "")
    return np.concatenate([raw, conv], axis=-1), spatial + "c"


def _stored_classifier(project: IlpProject, stage: int, n_channels: int) -> PixelClassifier:
    st = project.pixel_stages[stage]
    if st.has_forest and not st.forest_usable:
        raise InputError(
            f"{project.path}: {st.group}/ClassifierForests holds a {st.classifier_type}, not vigra random "
            "forests; pass retrain=True (CLI: --retrain) to train one on the project's labels"
        )
    if not st.has_forest:
        raise InputError(
            f"{project.path}: pixel-classification stage {stage} has no trained classifier; "
            "pass retrain=True (CLI: --retrain) to train one on the project's labels"
        )
    fs = st.features
    sel = normalize_selection(fs.matrix, scales=fs.scales, in_2d=fs.compute_in_2d)
    forest = gforest.read_ilp_forests(project.path, group=f"{st.group}/ClassifierForests")
    k = max(len(st.label_names), max(int(c) for c in forest.classes))
    names = tuple(st.label_names) + tuple(f"Label {i}" for i in range(len(st.label_names) + 1, k + 1))
    return PixelClassifier(
        forest=forest,
        selection=sel,
        classes=tuple(range(1, k + 1)),
        n_channels=n_channels,
        feature_names=tuple(st.feature_names),
        label_names=names,
    )


def ilp_classifiers(
    ilp_path: str | os.PathLike | IlpProject,
    *,
    retrain: bool = False,
    raw_data: dict[int, str] | list[str] | None = None,
    n_trees: int = 100,
    random_state: int = 0,
    device: str | None = "auto",
) -> list[PixelClassifier]:
    """The pixel classifiers of an ilastik project, one per stage (two for autocontext).

    Parameters
    ----------
    ilp_path
        The ``.ilp`` file (or a project read with :func:`gputrack.io.ilp.read_ilp`).
    retrain
        Train our forests on the project's labels (needs every labelled lane's raw data)
        instead of using the stored vigra forests.
    raw_data
        Replacement raw-data paths per lane (see :func:`gputrack.io.ilp.read_ilp`).
    n_trees, random_state, device
        Training settings when ``retrain``.

    Returns
    -------
    list of PixelClassifier

    Examples
    --------
    >>> clfs = ilp_classifiers("PixelClass.ilp")       # doctest: +SKIP
    >>> clfs[0].classes, len(clfs[0].feature_names)   # doctest: +SKIP
    ((1, 2), 13)
    """
    project = ilp_path if isinstance(ilp_path, IlpProject) else read_ilp(ilp_path, raw_data=raw_data)
    stages = [s for s in project.pixel_stages if s.features is not None]
    if not stages:
        why = f" ({project.problems[0]})" if project.problems else ""
        raise InputError(f"{project.path}: no pixel-classification feature selection in the project{why}")
    if not retrain:
        out, nc = [], _lane_channels(project)
        for s in range(len(stages)):
            clf = _stored_classifier(project, s, nc)
            out.append(clf)
            nc = nc + clf.n_classes
        return out
    lost = [line for st in stages for line in st.label_problems]
    if lost:
        raise InputError(
            f"{project.path}: cannot retrain, {len(lost)} label block(s) cannot be placed: {lost[0]}"
            " (the stored forest predicts without them: leave out --retrain)"
        )
    lanes = [i for i in range(len(project.lanes)) if _has_labels(project, i)]
    if not lanes:
        raise InputError(f"{project.path}: the project has no pixel labels to retrain on")
    inputs = {i: _lane_image(project, i) for i in lanes}
    previous: dict[int, np.ndarray | None] = dict.fromkeys(lanes)
    out = []
    for s, st in enumerate(stages):
        fs = st.features
        sel = normalize_selection(fs.matrix, scales=fs.scales, in_2d=fs.compute_in_2d)
        imgs, labs, img_axes = [], [], None
        for i in lanes:
            img, axes = _stage_input(*inputs[i], previous[i])
            lab_axes = axes.replace("c", "")
            shape = tuple(n for a, n in zip(axes, img.shape) if a != "c")
            labs.append(label_image(project, i, shape, axes=lab_axes, stage=s))
            imgs.append(img)
            img_axes = axes
        clf = train(imgs, labs, sel, axes=img_axes, label_names=st.label_names or None,
                    n_trees=n_trees, random_state=random_state, device=device)
        out.append(clf)
        if s + 1 < len(stages):
            for i, img in zip(lanes, imgs):
                previous[i] = predict(clf, img, axes=img_axes, device=device)
    return out


def _lane_channels(project: IlpProject) -> int:
    """Channels of the project's raw data (1 when no lane says)."""
    for lane in project.lanes:
        raw = lane.raw
        if raw is not None and raw.shape is not None and raw.axes and len(raw.shape) == len(raw.axes):
            return int(raw.shape[raw.axes.index("c")]) if "c" in raw.axes else 1
    return 1


def _has_labels(project: IlpProject, lane: int) -> bool:
    return any(lane < len(st.label_blocks) and st.label_blocks[lane] for st in project.pixel_stages)


def predict_chain(
    classifiers: Sequence[PixelClassifier],
    image: Any,
    *,
    axes: str | None = None,
    output: str = "probabilities",
    block_shape: Sequence[int] | None = None,
    device: str | None = "auto",
) -> np.ndarray:
    """Run a chain of classifiers (autocontext); the last stage gives ``output``.

    A single classifier is plain :func:`~gputrack.pixel.predict`.
    """
    image, axes = as_image(image, axes)
    if len(classifiers) > 1 and hasattr(image, "read"):
        image = image.read()  # autocontext stages run in memory
    previous = None
    for s, clf in enumerate(classifiers):
        stage_img, stage_axes = _stage_input(image, axes, previous)
        last = s == len(classifiers) - 1
        previous = predict(clf, stage_img, axes=stage_axes, output=output if last else "probabilities",
                           block_shape=block_shape, device=device)
    return previous


def _image_axes(image: Any) -> str:
    """Axes of an image file (from its metadata) or of an array (guessed from its shape)."""
    if isinstance(image, (str, os.PathLike)):
        with open_image(image) as source:
            return source.axes
    return guess_axes(np.shape(image))


def predict_ilp(
    ilp_path: str | os.PathLike,
    images: Sequence[Any] | Any | None = None,
    out: str | os.PathLike | None = None,
    *,
    retrain: bool = False,
    export: str = "probabilities",
    format: str = "h5",
    axes: str | None = None,
    raw_data: dict[int, str] | list[str] | None = None,
    n_trees: int = 100,
    random_state: int = 0,
    block_shape: Sequence[int] | None = None,
    device: str | None = "auto",
    overwrite: bool = False,
    glasbey: bool = False,
    lut: str | os.PathLike | np.ndarray | None = None,
) -> list[np.ndarray] | list[Path]:
    """Classify images with an ilastik pixel-classification project.

    Parameters
    ----------
    ilp_path
        The ``.ilp`` project.
    images
        Images to classify (arrays or paths, one or a list). Default: the project's own
        lanes (their raw data must be found; see ``raw_data``).
    out
        Output folder; outputs are named ``{stem}_{Result}.{format}`` (see
        :func:`gputrack.pixel.output_name`; lanes are named after their raw file). Without
        it, the results are returned as arrays.
    retrain
        Train our forest on the project's labels instead of running its stored forest.
    export
        ``"probabilities"``, ``"simple-segmentation"`` or ``"uncertainty"``.
    format
        Output format when ``out`` is given (``h5``, ``tif``, ``png``, ``zarr``).
    axes
        Axes of the given images (default: from the files / by ``ndim``).
    raw_data
        Replacement raw-data paths for the project's lanes.
    n_trees, random_state
        Forest settings when ``retrain``.
    block_shape, device
        As for :func:`gputrack.pixel.predict`.
    overwrite, glasbey, lut
        Replace existing outputs; Fiji's Glasbey LUT, or a lookup table (ImageJ ``.lut``,
        CSV of class -> RGB), for PNG segmentations.

    Returns
    -------
    list of numpy.ndarray, or list of Path
        One result per image (non-channel axes of the image, classes last for
        probabilities), or the written files.

    Raises
    ------
    MissingInputError
        A lane's raw data is missing (the message names the lane, the path and how to
        pass the image).
    InputError
        An image with another channel count than the project's (e.g. RGB into a
        one-channel project), or a project without a classifier (and no ``retrain``).

    Examples
    --------
    >>> [p] = predict_ilp("PixelClass.ilp")                 # doctest: +SKIP
    >>> p.shape                                            # doctest: +SKIP
    (128, 128, 2)
    """
    if export not in EXPORTS:
        raise InputError(f"export {export!r}: expected one of {', '.join(EXPORTS)}")
    project = read_ilp(ilp_path, raw_data=raw_data)
    classifiers = ilp_classifiers(project, retrain=retrain, n_trees=n_trees,
                                  random_state=random_state, device=device)
    if images is None:
        if not project.lanes:
            raise InputError(f"{project.path}: the project has no image lanes; pass images=")
        items = []
        for i in range(len(project.lanes)):
            img, img_axes = _lane_image(project, i)
            entry = project.lanes[i].raw
            stem = Path(entry.file_path.split(".h5/")[0]).stem if entry.file_path else f"lane{i}"
            items.append((img, img_axes, stem))
    else:
        seq = list(images) if isinstance(images, (list, tuple)) else [images]
        items = []
        for j, img in enumerate(seq):
            stem = Path(img).stem if isinstance(img, (str, os.PathLike)) else f"image{j}"
            items.append((img, axes or _image_axes(img), stem))
    results = []
    for img, img_axes, stem in items:
        result = predict_chain(classifiers, img, axes=img_axes, output=export,
                               block_shape=block_shape, device=device)
        if out is None:
            results.append(result)
            continue
        from .export import write_result  # noqa: PLC0415

        results.append(write_result(result, Path(out), stem, classifiers[-1], export=export,
                                    format=format, axes=img_axes, overwrite=overwrite, glasbey=glasbey,
                                    lut=lut))
    return results
