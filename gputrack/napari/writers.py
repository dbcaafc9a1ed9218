"""npe2 writers: Labels layers as images, Tracks layers in gputrack's tracking export formats.

A Tracks layer made by the tracking widget carries its :class:`~gputrack.tracking.TrackingResult`
in ``metadata["gputrack_result"]``; it is written by :func:`gputrack.export.export_result`
(``.csv``: ilastik's tracking table, ``.geff``: geff, ``.h5``: the saved result that
``gputrack export`` reads). Any other Tracks layer is written as a CSV of its rows
(``track_id, t, [z,] y, x, parent_track``).

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "labels.tif"
>>> [pathlib.Path(p).name for p in write_labels(str(out), np.ones((4, 4), np.uint16), {})]
['labels.tif']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

TRACK_FORMATS = {".csv": "csv", ".geff": "geff"}


def _axes(data: np.ndarray, meta: dict[str, Any]) -> str:
    axes = (meta.get("metadata") or {}).get("axes")
    if axes:
        return axes
    return {2: "yx", 3: "tyx", 4: "tzyx"}.get(np.ndim(data)) or "".join("tzyx"[-np.ndim(data):])


def write_labels(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write a Labels layer to an image file (TIFF, HDF5, PNG, Zarr by suffix; time first)."""
    from ..io.images import write_image  # noqa: PLC0415

    array = np.asarray(data)
    if array.ndim > 4:
        raise InputError(f"{path}: a labels layer of {array.ndim} dimensions; expected (t, [z,] y, x)")
    return [str(write_image(path, array, axes=_axes(array, meta), overwrite=True))]


def tracks_table(data: np.ndarray, graph: dict[int, list[int]] | None = None) -> pd.DataFrame:
    """The rows of a Tracks layer as a table with the parent track of each track (0: none).

    Examples
    --------
    >>> tracks_table(np.array([[1, 0, 2., 3.], [2, 1, 2., 4.]]), {2: [1]}).values.tolist()
    [[1.0, 0.0, 2.0, 3.0, 0.0], [2.0, 1.0, 2.0, 4.0, 1.0]]
    """
    data = np.asarray(data, np.float64)
    cols = ["track_id", "t", "y", "x"] if data.shape[1] == 4 else ["track_id", "t", "z", "y", "x"]
    df = pd.DataFrame(data, columns=cols)
    parents = {int(k): int(v[0]) for k, v in (graph or {}).items() if len(v)}
    df["parent_track"] = [float(parents.get(int(k), 0)) for k in df["track_id"]]
    return df


def write_tracks(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write a Tracks layer: its tracking result in the format of the suffix, or a CSV of its rows."""
    p = Path(path)
    result = (meta.get("metadata") or {}).get("gputrack_result")
    suffix = p.suffix.lower()
    if result is not None and suffix in (".h5", ".hdf5"):
        from ..tracking.result import save_result  # noqa: PLC0415

        save_result(p, result, overwrite=True)
        return [str(p)]
    if result is not None and suffix in TRACK_FORMATS:
        from ..export.formats import export_result  # noqa: PLC0415

        return [str(q) for q in export_result(result, TRACK_FORMATS[suffix], p, overwrite=True)]
    if suffix != ".csv":
        raise InputError(
            f"{p}: a Tracks layer without a gputrack result is written as .csv only "
            "(track it with the tracking widget for .h5 / .geff)"
        )
    from ..io.atomic import atomic_output  # noqa: PLC0415

    with atomic_output(p, overwrite=True) as tmp:
        tracks_table(data, meta.get("graph")).to_csv(tmp, index=False)
    return [str(p)]
