"""Pixel classification from files: train a project file, classify images or folders.

>>> from gputrack.workflows.pixel_classification import predict_files
>>> predict_files([], "out.h5")
Traceback (most recent call last):
...
gputrack.errors.InputError: give --project PROJECT.h5 (from 'gputrack pixel train') or --ilp PROJECT.ilp
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError

PathLike = str | os.PathLike


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
    overwrite: bool = False,
):
    """Train a pixel classifier on image files + sparse label files; write the project file.

    Returns the :class:`gputrack.project.Project` written to ``out``.
    """
    from ..project import train_project  # noqa: PLC0415

    if len(images) != len(labels):
        raise InputError(
            f"{len(images)} images but {len(labels)} label files: give one label file per image"
        )
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
        overwrite=overwrite,
    )


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
    scale: float = 1.0,
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

    One image file and an ``out`` with a suffix writes that file; otherwise ``out`` is a
    folder of ``{stem}_{Result}.{format}`` files. With ``scheduler`` (see
    :mod:`gputrack.distributed`) the blocks of every image run as Dask tasks (same output).
    Returns the paths written.
    """
    from ..pixel import classify_file, classify_files, predict_ilp  # noqa: PLC0415

    if ilp:
        if scheduler:
            raise InputError("--scheduler is not available with --ilp yet; use --project, or no --scheduler")
        if scale != 1.0:
            raise InputError(
                "--scale is not available with --ilp (the project's features are defined at its scale)"
            )
        return predict_ilp(
            ilp,
            list(images) or None,
            out,
            retrain=retrain,
            export=export,
            format=format,
            axes=axes,
            raw_data=list(raw_data) if raw_data else None,
            block_shape=block_size,
            device=device,
            overwrite=overwrite,
            glasbey=glasbey,
            lut=lut,
        )
    if not project:
        raise InputError("give --project PROJECT.h5 (from 'gputrack pixel train') or --ilp PROJECT.ilp")
    if not images:
        raise InputError("no images to classify: pass image files or a folder")
    from ..project import load_project  # noqa: PLC0415

    clf = load_project(project).classifier
    out = Path(out)
    first = Path(images[0]) if len(images) == 1 else None
    one = first is not None and (first.is_file() or first.suffix.lower() == ".zarr") and bool(out.suffix)
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
        export=export,
        axes=axes,
        scale=scale,
        output_scale=output_scale,
        glasbey=glasbey,
        lut=lut,
        block_size=block_size,
        device=device,
        overwrite=overwrite,
        quiet=quiet,
        ngff_version=ngff_version,
    )
    if one:
        return [classify_file(clf, images[0], out, **options)]
    return classify_files(clf, list(images), out, format=format, **options)
