"""Read an image or an image sequence given as a file or a CTC-style folder of frames.

Command-line inputs can be a single file (HDF5, TIFF, Zarr, PNG, ...) or a folder of
numbered frames (``t000.tif``, ``man_track000.tif``, ``mask0000.tif``, ...). Both come back
as one array with its axis string. A folder written by ``gputrack pixel predict``
(``{stem}_Probabilities.h5`` ... one file per frame, named by :func:`gputrack.pixel.output_name`)
reads as a sequence too: its files in name order along ``t``, each with its stored axes.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from gputrack.io.ctc import write_frames
>>> d = pathlib.Path(tempfile.mkdtemp()) / "seq"
>>> write_frames(d, np.zeros((3, 8, 8), np.uint16))
>>> arr, axes = read_sequence(d)
>>> arr.shape, axes
((3, 8, 8), 'tyx')
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .axes import normalize_axes
from .ctc import read_frames
from .images import open_image


def read_sequence(
    path: str | os.PathLike, *, dataset: str | None = None, axes: str | None = None
) -> tuple[np.ndarray, str]:
    """Read a file or a folder of numbered frames; return ``(array, axes)``.

    Parameters
    ----------
    path
        An image file readable by :func:`gputrack.io.open_image` (a dataset may follow the
        file name, ``file.h5/data``), or a folder of numbered TIFF frames (CTC layout).
    dataset
        Dataset inside an HDF5/Zarr file.
    axes
        Axis string of the data (file) or of one frame (folder, without ``t``); guessed from
        the file's metadata or the shape when absent.

    Returns
    -------
    array, axes
        The data and its axes (letters from ``tczyx``); a folder gives ``t`` first.
    """
    p = Path(path)
    if p.is_dir() and not p.suffix == ".zarr":
        outputs = pixel_outputs(p)
        if outputs:
            return _read_outputs(p, outputs, dataset, axes)
        frames = read_frames(p)
        if axes is None:
            axes = "yx" if frames.ndim == 3 else "zyx"
        axes = "t" + axes.lower().replace("t", "")
        return frames, normalize_axes(axes, frames.ndim, source=str(p))
    source = open_image(p, dataset=dataset, axes=axes)
    with source:
        return source.read(), source.axes


# gputrack's pixel-classification output names (see gputrack.pixel.output_name)
_PIXEL_OUTPUT = re.compile(r"^(?P<stem>.+)_(?P<kind>Probabilities|Simple Segmentation|Uncertainty)"
                           r"\.(?:h5|hdf5|tif|tiff|png|zarr)$")


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def pixel_outputs(folder: str | os.PathLike) -> list[Path]:
    """The files of ``folder`` named like ``gputrack pixel predict`` outputs, in natural order.

    Raises :class:`~gputrack.errors.InputError` when the folder mixes result types.
    """
    found = [q for q in Path(folder).iterdir() if not q.name.startswith(".") and _PIXEL_OUTPUT.match(q.name)]
    kinds = sorted({_PIXEL_OUTPUT.match(q.name)["kind"] for q in found})
    if len(kinds) > 1:
        raise InputError(f"{folder}: holds {' and '.join(kinds)} outputs; give a folder of one kind")
    return sorted(found, key=lambda q: _natural(q.name))


def _read_outputs(folder: Path, files: list[Path], dataset: str | None, axes: str | None):
    arrays, found = [], None
    for f in files:
        with open_image(f, dataset=dataset, axes=axes) as src:
            data, file_axes = src.read(), src.axes
        if "t" in file_axes:
            if data.shape[file_axes.index("t")] != 1:
                raise InputError(f"{f}: a time series; a folder of outputs needs one frame per file")
            data = np.take(data, 0, axis=file_axes.index("t"))
            file_axes = file_axes.replace("t", "")
        if found is not None and (file_axes != found or data.shape != arrays[0].shape):
            raise InputError(
                f"{f}: shape {data.shape} (axes {file_axes}) differs from {files[0].name} "
                f"({arrays[0].shape}, axes {found}); the frames of a sequence need one shape"
            )
        found = file_axes
        arrays.append(data)
    return np.stack(arrays), "t" + found
