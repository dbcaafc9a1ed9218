"""Read an image or an image sequence given as a file or a CTC-style folder of frames.

Command-line inputs can be a single file (HDF5, TIFF, Zarr, PNG, ...) or a folder of
numbered frames (``t000.tif``, ``man_track000.tif``, ``mask0000.tif``, ...). Both come back
as one array with its axis string.

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
from pathlib import Path

import numpy as np

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
        frames = read_frames(p)
        if axes is None:
            axes = "yx" if frames.ndim == 3 else "zyx"
        axes = "t" + axes.lower().replace("t", "")
        return frames, normalize_axes(axes, frames.ndim, source=str(p))
    source = open_image(p, dataset=dataset, axes=axes)
    with source:
        return source.read(), source.axes
