"""Opening HDF5 inputs with one-line errors for missing, truncated or damaged files.

>>> import tempfile, pathlib
>>> bad = pathlib.Path(tempfile.mkdtemp()) / "cut.h5"
>>> _ = bad.write_bytes(b"\\x89HDF\\r\\n\\x1a\\n" + bytes(100))
>>> try:
...     open_hdf5(bad, "tracking result")
... except Exception as err:
...     print(type(err).__name__)
InputError
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from ..errors import InputError, MissingInputError


def open_hdf5(path: str | os.PathLike, what: str = "HDF5 file") -> h5py.File:
    """``h5py.File(path, "r")``, or a one-line error naming ``path`` and ``what`` was expected.

    Raises :class:`~gputrack.errors.MissingInputError` when there is no such file and
    :class:`~gputrack.errors.InputError` when it is not HDF5, truncated or damaged.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: no such file (expected a {what})")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        reason = " ".join(str(err).split())[:160]
        kind = "truncated" if "truncated" in reason else "damaged or not HDF5"
        raise InputError(f"{path}: cannot read this {what}: the file is {kind} ({reason})") from None
