"""Pixel classification: train a project file, classify images or folders; live scribbles.

:func:`train_scribbles` trains one forest on every (image, scribbles) pair with labels (the
napari widget's painted layers), and :func:`predict_region` classifies only a region of an
image (the visible one): its features are computed on the region plus the filters' halo, so
the region's outputs equal the same region of a whole-image prediction (``gputrack pixel
predict``). :func:`predict_region_steps` splits that work into steps a worker thread yields
between, so painting again cancels a running update.

>>> from gputrack.workflows.pixel_classification import predict_files
>>> predict_files([], "out.h5")
Traceback (most recent call last):
...
gputrack.errors.InputError: give --project PROJECT.h5 (from 'gputrack pixel train') or --ilp PROJECT.ilp
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend
from ..errors import InputError

PathLike = str | os.PathLike

OUTPUTS = ("probabilities", "simple-segmentation", "uncertainty")
"""The outputs of :func:`predict_region` (ilastik's export sources)."""


def train_files(
    out: PathLike,
    images: Sequence[PathLike],
    labels: Sequence[PathLike],
    features: Any = "all",
    *,
    axes: str | None = None,
    label_names: Sequence[str] | None = None,
    n_trees: int = 100,
    random_state: int = 0,
    device: str = "auto",
    scale: float = 1.0,
    overwrite: bool = False,
):
    """Train a pixel classifier on image files + sparse label files; write the project file.

    ``scale < 1`` trains on the images and labels resized by it (``y, x``); the project
    records the scale and ``predict_files`` predicts at it. Returns the
    :class:`gputrack.project.Project` written to ``out``.
    """
    from ..io.atomic import check_writable  # noqa: PLC0415
    from ..project import train_project  # noqa: PLC0415

    if len(images) != len(labels):
        raise InputError(
            f"{len(images)} images but {len(labels)} label files: give one label file per image"
        )
    check_writable(out, overwrite)
    return train_project(
        out,
        list(images),
        list(labels),
        features,
        axes=axes,
        label_names=label_names,
        n_trees=n_trees,
        random_state=random_state,
        device=device,
        scale=scale,
        overwrite=overwrite,
    )


def block_size_warning(classifier, block_size: Sequence[int] | None) -> str | None:
    """A warning with an estimate when ``block_size`` is so small that halos dominate the work.

    Each block computes its features over itself plus a halo on every side; the work relative
    to one pass over the image is ``prod((b + 2 h) / b)``.
    """
    if not block_size:
        return None
    from ..features.blockwise import halo_for  # noqa: PLC0415

    halo = halo_for(classifier.selection, spacing=classifier.spacing)[-len(block_size):]
    factor = 1.0
    for b, h in zip(block_size, halo):
        factor *= (b + 2 * h) / b
    if factor < 4:
        return None
    shown = " ".join(str(b) for b in block_size)
    return (
        f"--block-size {shown}: blocks of {shown} px with a feature halo of {max(halo)} px each "
        f"do about {factor:.0f}x the work of one pass over the image; use 256 or more (default: from memory)"
    )


def _is_file_name(out: Path) -> bool:
    from ..pixel.export import FORMATS  # noqa: PLC0415

    suffix = out.suffix.lower().lstrip(".")
    return suffix in FORMATS and (suffix == "zarr" or not out.is_dir())


def predict_files(
    images: Sequence[PathLike],
    out: PathLike,
    *,
    project: PathLike | None = None,
    ilp: PathLike | None = None,
    retrain: bool = False,
    export: str = "probabilities",
    format: str = "h5",
    axes: str | None = None,
    raw_data: Sequence[PathLike] | None = None,
    block_size: tuple[int, ...] | None = None,
    scale: float | None = None,
    output_scale: str = "input",
    glasbey: bool = False,
    device: str = "auto",
    overwrite: bool = False,
    quiet: bool = False,
    lut: PathLike | None = None,
    scheduler: str | None = None,
    ngff_version: str = "0.4",
) -> list[Path]:
    """Classify image files or folders with a project file or an ilastik ``.ilp``.

    One image and an ``out`` with an output suffix (``.h5``, ``.tif``, ``.png``, ``.zarr``)
    writes that file; otherwise ``out`` is a folder of ``{stem}_{Result}.{format}`` files (a
    folder of images with a file name as ``out`` is refused). ``scale`` defaults to the
    scale the project was trained at; another scale is refused (features would see objects
    at another size). With ``scheduler`` (see :mod:`gputrack.distributed`) the blocks of
    every image run as Dask tasks (same output). Returns the paths written.
    """
    import logging  # noqa: PLC0415

    from ..io.atomic import check_writable  # noqa: PLC0415
    from ..pixel import classify_file, classify_files, predict_ilp  # noqa: PLC0415

    out = Path(out)
    # one image: a file, a dataset inside one (movie.h5/data) or a Zarr store; a folder is a batch
    single = len(images) == 1 and (not Path(images[0]).is_dir() or Path(images[0]).suffix.lower() == ".zarr")
    if _is_file_name(out) and images and not single:
        raise InputError(
            f"--out {out}: {'a folder' if len(images) == 1 else f'{len(images)} inputs'} of images "
            "write one output each; give a folder as --out"
        )
    if ilp:
        if scheduler:
            raise InputError("--scheduler is not available with --ilp yet; use --project, or no --scheduler")
        if scale not in (None, 1.0):
            raise InputError(
                "--scale is not available with --ilp (the project's features are defined at its scale)"
            )
        if not _is_file_name(out):
            return predict_ilp(
                ilp, list(images) or None, out, retrain=retrain, export=export, format=format, axes=axes,
                raw_data=list(raw_data) if raw_data else None, block_shape=block_size, device=device,
                overwrite=overwrite, glasbey=glasbey, lut=lut,
            )
        return [_ilp_to_file(ilp, images, out, retrain=retrain, export=export, axes=axes, raw_data=raw_data,
                             block_size=block_size, device=device, overwrite=overwrite, glasbey=glasbey,
                             lut=lut)]
    if not project:
        raise InputError("give --project PROJECT.h5 (from 'gputrack pixel train') or --ilp PROJECT.ilp")
    if not images:
        raise InputError("no images to classify: pass image files or a folder")
    from ..project import load_project  # noqa: PLC0415

    loaded = load_project(project)
    if scale is None:
        scale = loaded.scale
    elif abs(float(scale) - loaded.scale) > 1e-9:
        raise InputError(
            f"--scale {scale}: {project} was trained at scale {loaded.scale:g}; predicting at another "
            f"scale changes what the features see (areas come out wrong). Omit --scale, or train at "
            f"this scale with 'gputrack pixel train --scale {scale}'"
        )
    clf = loaded.classifier
    warning = block_size_warning(clf, block_size)
    if warning:
        logging.getLogger("gputrack").warning(warning)
    one = single and _is_file_name(out)
    if one:
        check_writable(out, overwrite)
    if scheduler:
        from .. import distributed  # noqa: PLC0415

        if scale != 1.0:
            raise InputError("--scale is not available with --scheduler (blocks are classified at full size)")
        options = dict(scheduler=scheduler, export=export, axes=axes, glasbey=glasbey, lut=lut,
                       block_size=block_size, device=device, overwrite=overwrite, quiet=quiet,
                       ngff_version=ngff_version)
        if one:
            return [distributed.classify_file(clf, images[0], out, **options)]
        return distributed.classify_files(clf, list(images), out, format=format, **options)
    options = dict(
        export=export, axes=axes, scale=scale, output_scale=output_scale, glasbey=glasbey, lut=lut,
        block_size=block_size, device=device, overwrite=overwrite, quiet=quiet, ngff_version=ngff_version,
    )
    if one:
        return [classify_file(clf, images[0], out, **options)]
    return classify_files(clf, list(images), out, format=format, **options)


def _ilp_to_file(ilp, images, out: Path, *, raw_data, **options) -> Path:
    """An ilastik project's result for its one image (or lane) written to the file ``out``."""
    import tempfile  # noqa: PLC0415

    from ..io.atomic import check_writable  # noqa: PLC0415
    from ..pixel import predict_ilp  # noqa: PLC0415

    check_writable(out, options.pop("overwrite"))
    fmt = out.suffix.lower().lstrip(".")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        raw = list(raw_data) if raw_data else None
        written = predict_ilp(ilp, list(images) or None, tmp, format=fmt, overwrite=True, raw_data=raw,
                              block_shape=options.pop("block_size"), **options)
        if len(written) != 1:
            raise InputError(f"--out {out}: the project has {len(written)} images; give a folder as --out")
        os.replace(written[0], out)
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


def predict_region_steps(
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
    steps = list(predict_region_steps(classifier, image, region, axes=axes, device=device))
    return steps[-1][1]
