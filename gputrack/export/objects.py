"""Object outputs: feature / prediction tables as CSV, and class images painted per object.

CSV tables (:func:`object_table_csv`)
-------------------------------------
One row per object and frame, sorted by ``t`` then ``label``. With ``ilastik_names=True``
the layout is ilastik's object table (its ``ExportFile`` identifiers, spec §7 / §8.1,
display names with spaces replaced by ``_``):

=================================  ========================================================
``object_id``                      running index over the whole table, from 0
``timestep``                       frame (``t``)
``labelimage_oid``                 id of the object in the label image (``label``)
``Predicted_Class``                ``class`` of a prediction table, when present
``Probability_of_<c>``             ``p_<c>``, when present (then ``uncertainty`` as is)
``Center_of_the_object_<k>``       ``RegionCenter_k`` (x, y, z order), **floats**
``Bounding_Box_Minimum_<k>``       ``Coord<Minimum>_k``
``Bounding_Box_Maximum_<k>``       ``Coord<Maximum>_k`` (exclusive)
``Size_in_pixels``                 ``Count``
other features                     sorted by their vigra name (then component), each under
                                   its display name (:func:`gputrack.objects.csv_column`):
                                   ``Mean_Intensity``, ``Radii_of_the_object_0``, ...;
                                   names without display text (division features,
                                   ``Coord<Principal<Skewness>>_0``, ...) stay as they are
=================================  ========================================================

``Size_in_pixels`` and the bounding box are written as integers when all their values are
integers (pixel units, as ilastik writes them), floats otherwise (physical scales).
ilastik's tracking CSV truncates the centres to integers (a quirk, spec §8.1); here they
keep full precision unless ``ilastik_compat=True``. Floats are written with the shortest
representation that reads back to the same double, so a table survives a round trip
through :func:`pandas.read_csv` exactly. Missing values are written as ``nan``.

Class images (:func:`paint_objects`, :func:`write_object_predictions`)
----------------------------------------------------------------------
ilastik's "Object Predictions" export: a ``uint8`` image where every pixel of an object
carries the object's class and the background (and objects absent from the table) is 0.
Painting is vectorised per frame: a dense lookup table indexed by the label image when the
ids are small; otherwise a lookup of the listed ids (a hash on the CPU, applied to each run
of equal ids along the rows rather than to each pixel; ``searchsorted`` on the GPU), so
sparse ids (up to ``2**63``) need no giant table. It runs with the namespace of the labels
(numpy, or cupy on the GPU).

Examples
--------
>>> import numpy as np, pandas as pd
>>> lab = np.array([[0, 1, 1], [0, 7, 0]], np.uint32)
>>> pred = pd.DataFrame({"t": [0, 0], "label": [1, 7], "class": [2, 1]})
>>> paint_objects(lab, pred).tolist()
[[0, 2, 2], [0, 1, 0]]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import backend
from ..errors import InputError
from ..io.atomic import atomic_output, check_writable
from ..io.axes import guess_axes, normalize_axes, transpose_axes
from ..io.images import write_image
from ..io.lut import fiji_glasbey
from ..objects import csv_column

__all__ = ["ilastik_table", "object_table_csv", "paint_objects", "write_object_predictions"]

_DEFAULT_GROUP = ("RegionCenter", "Coord<Minimum>", "Coord<Maximum>", "Count")
_INTEGER_GROUP = ("Coord<Minimum>", "Coord<Maximum>", "Count")
_PREDICTION_COLUMNS = ("class", "uncertainty")


def _split(column: str) -> tuple[str, int]:
    """``("RegionCenter", 1)`` for ``RegionCenter_1``; ``(name, -1)`` for a scalar column."""
    base, _, suffix = column.rpartition("_")
    if base and suffix.isdigit():
        return base, int(suffix)
    return column, -1


def _integral(values: np.ndarray) -> bool:
    return values.dtype.kind in "biu" or bool(np.all(np.isfinite(values) & (values == np.round(values))))


def ilastik_table(table: pd.DataFrame, *, ilastik_compat: bool = False) -> pd.DataFrame:
    """An object table renamed and reordered as ilastik's CSV export (module docstring).

    Parameters
    ----------
    table
        Feature and / or prediction table with ``label`` (and ``t``; frame 0 when absent),
        e.g. from :func:`gputrack.objects.features`, optionally merged with
        :func:`gputrack.objects.predict`.
    ilastik_compat
        Truncate the centres to integers as ilastik's tracking CSV does.

    Returns
    -------
    pandas.DataFrame
        The renamed, reordered table (a copy), one row per object, sorted by frame and id.

    Examples
    --------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"t": [0], "label": [3], "Count": [12.0], "Mean": [1.5],
    ...                     "RegionCenter_0": [2.5], "RegionCenter_1": [4.0]})
    >>> ilastik_table(tab).columns.tolist()[3:]
    ['Center_of_the_object_0', 'Center_of_the_object_1', 'Size_in_pixels', 'Mean_Intensity']
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"object table: expected a pandas DataFrame, got {type(table).__name__}")
    if "label" not in table.columns:
        raise InputError(f"object table: no 'label' column; columns are {list(table.columns)}")
    dup = [c for c in table.columns if list(table.columns).count(c) > 1]
    if dup:
        raise InputError(f"object table: repeated column(s) {sorted(set(dup))}")
    t = table["t"].to_numpy() if "t" in table.columns else np.zeros(len(table), np.int64)
    order = np.lexsort((table["label"].to_numpy(), t))
    src = table.iloc[order].reset_index(drop=True)
    t = t[order]
    out: dict[str, Any] = {
        "object_id": np.arange(len(src), dtype=np.int64),
        "timestep": t.astype(np.int64) if _integral(np.asarray(t, dtype=float)) else t,
        "labelimage_oid": src["label"].to_numpy(),
    }
    rest = [c for c in src.columns if c not in ("t", "label")]
    has_class = "class" in rest
    if has_class:
        out["Predicted_Class"] = src["class"].to_numpy()
        for c in rest:
            if c.startswith("p_"):
                out["Probability_of_" + c[2:].replace(" ", "_")] = src[c].to_numpy()
        if "uncertainty" in rest:
            out["uncertainty"] = src["uncertainty"].to_numpy()
        rest = [c for c in rest if c not in _PREDICTION_COLUMNS and not c.startswith("p_")]
    for name in _DEFAULT_GROUP:
        cols = sorted((c for c in rest if _split(c)[0] == name), key=lambda c: _split(c)[1])
        for c in cols:
            values = src[c].to_numpy()
            if name in _INTEGER_GROUP and _integral(values):
                values = values.astype(np.int64)
            elif name == "RegionCenter" and ilastik_compat:
                values = np.trunc(values).astype(np.int64)
            out[csv_column(c)] = values
        rest = [c for c in rest if c not in cols]
    for c in sorted(rest, key=_split):
        name = csv_column(c)
        if name in out:
            raise InputError(f"object table: columns {c!r} and another both map to CSV column {name!r}")
        out[name] = src[c].to_numpy()
    return pd.DataFrame(out)


def object_table_csv(
    path: str | os.PathLike,
    table: pd.DataFrame,
    *,
    ilastik_names: bool = True,
    ilastik_compat: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write an object table (features, predictions) as CSV, atomically.

    Parameters
    ----------
    path
        Output ``.csv`` file.
    table
        Object table with ``t`` and ``label`` (see :func:`ilastik_table`).
    ilastik_names
        ilastik's columns, names and order (module docstring); ``False`` writes the table
        as it is, with gputrack's column names.
    ilastik_compat
        With ``ilastik_names``: truncate centres to integers as ilastik does.
    overwrite
        Replace an existing file (otherwise :class:`~gputrack.errors.OutputExistsError`).

    Returns
    -------
    Path
        The written path.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> tab = pd.DataFrame({"t": [0, 0], "label": [2, 1], "Count": [12.0, 9.0],
    ...                     "RegionCenter_0": [2.5, 7.25], "RegionCenter_1": [4.0, 1.0]})
    >>> print(object_table_csv(d / "objects.csv", tab).read_text().strip())
    object_id,timestep,labelimage_oid,Center_of_the_object_0,Center_of_the_object_1,Size_in_pixels
    0,0,1,7.25,1.0,9
    1,0,2,2.5,4.0,12
    """
    path = check_writable(path, overwrite)
    out = ilastik_table(table, ilastik_compat=ilastik_compat) if ilastik_names else table
    if not isinstance(out, pd.DataFrame):
        raise InputError(f"object table: expected a pandas DataFrame, got {type(out).__name__}")
    with atomic_output(path, overwrite=overwrite) as tmp:
        out.to_csv(tmp, index=False, na_rep="nan", lineterminator="\n")
    return path


def _class_values(table: pd.DataFrame, column: str) -> np.ndarray:
    for name in (column, "label"):
        if name not in table.columns:
            raise InputError(
                f"paint objects: the table has no column {name!r}; columns are {list(table.columns)}"
            )
    raw = table[column].to_numpy()
    if raw.dtype.kind not in "biuf":
        raise InputError(
            f"paint objects: column {column!r} must hold integer classes 0..255, got dtype {raw.dtype}"
        )
    values = raw.astype(np.float64)
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0) | (values > 255)
    if bad.any():
        raise InputError(
            f"paint objects: column {column!r} must hold integer classes 0..255 (uint8), "
            f"got {raw[bad][0]!r} for label {table['label'].to_numpy()[bad][0]}"
        )
    return values.astype(np.uint8)


def _keys_for(labels_dtype: np.dtype, keys: np.ndarray) -> np.ndarray:
    """Mask of table ids representable in the label dtype (and not background)."""
    info = np.iinfo(labels_dtype)
    hi = min(int(info.max), int(np.iinfo(np.int64).max))
    return (keys >= 1) & (keys <= hi)


def _paint_frame(xp: Any, frame: Any, keys: np.ndarray, values: np.ndarray) -> Any:
    """uint8 image: ``values[i]`` where ``frame == keys[i]``, else 0 (keys unique, > 0)."""
    out_shape = frame.shape
    if keys.size == 0 or frame.size == 0:
        return xp.zeros(out_shape, dtype=xp.uint8)
    if frame.dtype.kind == "i" and int(frame.min()) < 0:
        raise InputError(
            f"paint objects: labels hold negative ids (minimum {int(frame.min())}); expected ids >= 0"
        )
    top = max(int(keys.max()), int(frame.max()))
    dev = backend.device_of(frame)
    if top < max(1 << 16, frame.size):  # dense lookup table, indexed by the label image
        lut = xp.zeros(top + 1, dtype=xp.uint8)
        lut[backend.to_device(keys.astype(np.int64), dev)] = backend.to_device(values, dev)
        return lut[frame]
    order = np.argsort(keys, kind="stable")
    sorted_keys = backend.to_device(keys[order].astype(frame.dtype), dev)
    sorted_values = backend.to_device(values[order], dev)
    flat = frame.ravel()
    if xp is np:  # look up runs of equal ids only (label images are piecewise constant)
        starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
        idx = pd.Index(sorted_keys).get_indexer(flat[starts])  # hash lookup, -1 = not listed
        painted = np.where(idx >= 0, sorted_values[idx], np.uint8(0)).astype(np.uint8)
        return np.repeat(painted, np.diff(np.r_[starts, flat.size])).reshape(out_shape)
    return _search(xp, sorted_keys, sorted_values, flat).reshape(out_shape)


def _search(xp: Any, sorted_keys: Any, sorted_values: Any, ids: Any) -> Any:
    """``sorted_values[i]`` where ``ids == sorted_keys[i]``, else 0."""
    idx = xp.searchsorted(sorted_keys, ids)
    xp.minimum(idx, sorted_keys.size - 1, out=idx)
    hit = sorted_keys[idx] == ids
    return xp.where(hit, sorted_values[idx], xp.uint8(0)).astype(xp.uint8)


def paint_objects(labels: Any, table: pd.DataFrame, column: str = "class", *, axes: str | None = None) -> Any:
    """Paint a per-object value (a class) into the pixels of every object.

    Parameters
    ----------
    labels
        Label image (integer ids, 0 = background; numpy or cupy), e.g. ``yx``, ``zyx``,
        ``tyx``, ``tzyx``.
    table
        Table with ``label``, ``column`` and, for labels with a ``t`` axis, ``t`` (rows of
        frame ``t`` paint frame ``t``; without ``t`` every frame uses all rows).
    column
        Column with the values to paint: integers 0..255 (``class`` of
        :func:`gputrack.objects.predict`).
    axes
        Axes of ``labels``; default guessed (``tzyx`` for 4D, ``zyx`` for 3D).

    Returns
    -------
    array of uint8
        Same shape and namespace as ``labels``; objects missing from the table are 0.

    Raises
    ------
    InputError
        Non-integer labels, missing columns, values outside 0..255, a ``(t, label)``
        pair listed twice, or several frames in the table for labels without ``t``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> lab = np.zeros((2, 3, 3), np.uint16); lab[0, 0, :2] = 5; lab[1, 2, 2] = 5
    >>> tab = pd.DataFrame({"t": [0, 1], "label": [5, 5], "class": [1, 3]})
    >>> paint_objects(lab, tab, axes="tyx")[:, :, 2].tolist()
    [[0, 0, 0], [0, 0, 3]]
    """
    xp = backend.namespace_of(labels)
    if labels.dtype.kind not in "biu":
        raise InputError(f"paint objects: labels must be an integer label image, got dtype {labels.dtype}")
    if labels.dtype.kind == "b":
        labels = labels.astype(xp.uint8)
    ax = _label_axes(labels, axes)
    if "c" in ax:
        raise InputError(f"paint objects: labels must not have a channel axis, got axes {ax!r}")
    values = _class_values(table, column)
    keys = table["label"].to_numpy()
    if keys.dtype.kind not in "biuf":
        raise InputError(f"paint objects: column 'label' must hold integer ids, got dtype {keys.dtype}")
    keys = keys.astype(np.int64)
    has_t = "t" in table.columns
    frames_t = table["t"].to_numpy().astype(np.int64) if has_t else np.zeros(len(table), np.int64)
    keep = _keys_for(labels.dtype, keys)
    keys, values, frames_t = keys[keep], values[keep], frames_t[keep]
    if "t" not in ax:
        if has_t and np.unique(frames_t).size > 1:
            raise InputError(
                f"paint objects: the table has {np.unique(frames_t).size} frames (column 't') "
                f"but labels have no 't' axis (axes {ax!r})"
            )
        frames_t = np.zeros_like(frames_t)
    elif not has_t:
        frames_t = None
    spatial = ax.replace("t", "")
    stack = transpose_axes(labels, ax, "t" + spatial)
    out = xp.zeros(stack.shape, dtype=xp.uint8)
    if frames_t is None:
        _check_unique(keys, None)
        for t in range(stack.shape[0]):
            out[t] = _paint_frame(xp, stack[t], keys, values)
    else:
        order = np.lexsort((keys, frames_t))
        keys, values, frames_t = keys[order], values[order], frames_t[order]
        _check_unique(keys, frames_t)
        bounds = np.searchsorted(frames_t, np.arange(stack.shape[0] + 1))
        for t in range(stack.shape[0]):
            lo, hi = bounds[t], bounds[t + 1]
            out[t] = _paint_frame(xp, stack[t], keys[lo:hi], values[lo:hi])
    return transpose_axes(out, "t" + spatial, ax)


def _label_axes(labels: Any, axes: str | None) -> str:
    if axes is None:
        return guess_axes(labels.shape, rgb_ok=False)
    return normalize_axes(axes, labels.shape, "labels")


def _check_unique(keys: np.ndarray, frames_t: np.ndarray | None) -> None:
    if frames_t is None:
        s = np.sort(keys)
        same = s[1:] == s[:-1]
        if same.any():
            raise InputError(f"paint objects: label {s[1:][same][0]} is listed twice in the table")
        return
    same = (keys[1:] == keys[:-1]) & (frames_t[1:] == frames_t[:-1])  # sorted by (t, label)
    if same.any():
        i = int(np.flatnonzero(same)[0]) + 1
        raise InputError(
            f"paint objects: object (t={frames_t[i]}, label={keys[i]}) is listed twice in the table"
        )


def write_object_predictions(
    path: str | os.PathLike,
    labels: Any,
    predictions: pd.DataFrame,
    *,
    glasbey: bool = False,
    overwrite: bool = False,
    axes: str | None = None,
) -> Path:
    """Write ilastik's "Object Predictions" image: each object's pixels carry its class.

    Parameters
    ----------
    path
        Output image; the suffix picks the format (``.png``, ``.tif``, ``.h5``, ... as
        :func:`gputrack.io.images.write_image`). A PNG holds one 2D frame.
    labels
        Label image (see :func:`paint_objects`).
    predictions
        Table with ``t``, ``label``, ``class`` (:func:`gputrack.objects.predict`).
    glasbey
        Write a paletted PNG whose colours are Fiji's Glasbey LUT
        (:func:`gputrack.io.lut.fiji_glasbey`; class 0, the background, is white); pixel
        values stay the class indices.
    overwrite
        Replace an existing file (otherwise :class:`~gputrack.errors.OutputExistsError`).
    axes
        Axes of ``labels``; default guessed. The image is written with these axes
        (HDF5 records them as ilastik ``axistags``).

    Returns
    -------
    Path
        The written path.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, pandas as pd
    >>> from gputrack.io.images import read_image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> lab = np.zeros((4, 4), np.uint32); lab[1:3, 1:3] = 9
    >>> pred = pd.DataFrame({"t": [0], "label": [9], "class": [2]})
    >>> p = write_object_predictions(d / "pred.png", lab, pred, glasbey=True)
    >>> read_image(p)[1].tolist()
    [0, 2, 2, 0]
    """
    path = check_writable(path, overwrite)
    if glasbey and path.suffix.lower() != ".png":
        raise InputError(f"{path}: glasbey=True writes a paletted PNG; use a .png output")
    ax = _label_axes(labels, axes)
    painted = paint_objects(labels, predictions, "class", axes=ax)
    if path.suffix.lower() == ".png":  # one 2D frame: drop singleton t / z
        keep = "".join(a for a, n in zip(ax, painted.shape) if a in "yx" or n != 1)
        painted = transpose_axes(painted, ax, keep)
        ax = keep
    palette = fiji_glasbey() if glasbey else None
    return write_image(path, painted, axes=ax, overwrite=overwrite, palette=palette)
