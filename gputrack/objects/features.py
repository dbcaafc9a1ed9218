"""Object feature tables with vigra / ilastik names and definitions.

Definitions (vigra region accumulators as ilastik uses them, spec section 3.2; population
statistics, dividing by the pixel count ``N``):

==============================  ===============================================================
``Count``                       number of pixels
``Sum``, ``Mean``               sum and mean of the values
``Variance``                    ``sum (v - mean)^2 / N``
``Skewness``                    ``sqrt(N) sum (v - m)^3 / (sum (v - m)^2)^1.5``
``Kurtosis``                    ``N sum (v - m)^4 / (sum (v - m)^2)^2 - 3`` (excess)
``Minimum``, ``Maximum``        extreme values
``RegionCenter``                mean coordinate
``RegionRadii``                 square roots of the eigenvalues of the coordinate covariance
                                (population), largest first
``RegionAxes``                  the eigenvectors: ``RegionAxes_{i*ndim + j}`` is coordinate
                                ``i`` of the ``j``-th principal axis (largest eigenvalue first),
                                vigra's row-major flattening of the eigenvector matrix
``Coord<Minimum>``              bounding box start
``Coord<Maximum>``              bounding box end, **exclusive** (ilastik adds 1)
``Coord<Principal<Skewness>>``  skewness of the coordinates projected on each principal axis
``Coord<Principal<Kurtosis>>``  excess kurtosis of the same projections
==============================  ===============================================================

Columns and axes: every coordinate feature is reported in ilastik's **x, y, z** order
(2 components for 2D, 3 for 3D): ``RegionCenter_0`` is x. Vector features are split into
``Name_0``, ``Name_1``, ...; value features are scalars ``Mean`` for one channel and
``Mean_0``, ``Mean_1``, ... (one per channel) for several, as ilastik's tables. Eigenvector
signs are arbitrary in vigra; here each axis is oriented so that its largest-magnitude
component is positive, ties (within ``SIGN_TOLERANCE``) going to the first component in
x, y, z order, so the sign does not depend on the summation order (and principal skewness
has a defined sign). Objects of constant value
get ``Variance`` 0 and ``Skewness`` / ``Kurtosis`` NaN (vigra's 0/0); degenerate principal
axes give NaN principal skewness / kurtosis. :data:`DISPLAY_NAMES` gives ilastik's display
names for CSV columns (``csv_column``).

With ``scales=(z, y, x)`` (physical pixel size) every coordinate feature is in physical
units (coordinates multiplied by the scale before any statistic); ``Count`` stays a pixel
count. Without scales the numbers equal vigra's.

Examples
--------
>>> import numpy as np
>>> lab = np.zeros((6, 8), np.uint32); lab[1:3, 2:6] = 4
>>> raw = np.arange(48, dtype=np.float32).reshape(6, 8)
>>> tab = features(raw, lab, ["Count", "Mean", "RegionCenter", "Coord<Maximum>"], device="cpu")
>>> tab.columns.tolist()
['t', 'label', 'Count', 'Mean', 'RegionCenter_0', 'RegionCenter_1', 'Coord<Maximum>_0', 'Coord<Maximum>_1']
>>> tab.iloc[0].tolist()
[0.0, 4.0, 8.0, 15.5, 3.5, 1.5, 6.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations_with_replacement, product
from typing import Any

import numpy as np
import pandas as pd

from .. import backend
from ..errors import InputError
from ..io.axes import guess_axes, normalize_axes, transpose_axes
from .regions import RegionMoments, region_moments

VALUE_FEATURES = ("Count", "Sum", "Mean", "Variance", "Skewness", "Kurtosis", "Minimum", "Maximum")
COORD_FEATURES = (
    "RegionCenter",
    "RegionRadii",
    "RegionAxes",
    "Coord<Minimum>",
    "Coord<Maximum>",
    "Coord<Principal<Skewness>>",
    "Coord<Principal<Kurtosis>>",
)
FEATURES = VALUE_FEATURES + COORD_FEATURES
"""All standard object features, in table column order."""

DEFAULT_FEATURES = ("Coord<Minimum>", "Coord<Maximum>", "RegionCenter", "Count")
"""ilastik's always-computed "Default features"."""

DISPLAY_NAMES = {
    "Count": "Size in pixels",
    "Sum": "Total Intensity",
    "Mean": "Mean Intensity",
    "Variance": "Variance of Intensity",
    "Skewness": "Skewness of Intensity",
    "Kurtosis": "Kurtosis of Intensity",
    "Minimum": "Minimum intensity",
    "Maximum": "Maximum intensity",
    "RegionCenter": "Center of the object",
    "RegionRadii": "Radii of the object",
    "RegionAxes": "Principal components of the object",
    "Coord<Minimum>": "Bounding Box Minimum",
    "Coord<Maximum>": "Bounding Box Maximum",
}
"""ilastik display names (its CSV export replaces spaces by underscores)."""

_VALUE_ONLY = {"Sum", "Mean", "Variance", "Skewness", "Kurtosis", "Minimum", "Maximum"}


def csv_column(column: str) -> str:
    """ilastik CSV column name of a table column (``RegionCenter_0`` -> ``Center_of_the_object_0``).

    Examples
    --------
    >>> csv_column("RegionCenter_1"), csv_column("Count"), csv_column("Coord<Principal<Kurtosis>>_0")
    ('Center_of_the_object_1', 'Size_in_pixels', 'Coord<Principal<Kurtosis>>_0')
    """
    base, _, suffix = column.rpartition("_")
    if base and suffix.isdigit() and base in DISPLAY_NAMES:
        return DISPLAY_NAMES[base].replace(" ", "_") + "_" + suffix
    return DISPLAY_NAMES.get(column, column).replace(" ", "_")


def features(
    raw: Any | None,
    labels: Any,
    features: Sequence[str] | None = None,
    *,
    scales: Sequence[float] | None = None,
    axes: str | None = None,
    device: str | None = "auto",
) -> pd.DataFrame:
    """Object feature table, one row per object and frame.

    Parameters
    ----------
    raw
        Intensities with axes ``axes`` (may include ``c`` for several channels), or
        ``None`` for geometric features only.
    labels
        Label image (integer ids, 0 = background) with the axes of ``raw`` minus ``c``.
        Ids are used as they are (not relabelled); huge or sparse ids are fine.
    features
        Feature names from :data:`FEATURES`; default all (without ``raw``: the geometric
        ones and ``Count``).
    scales
        Physical pixel size ``(z, y, x)`` (or ``(y, x)`` for 2D) applied to coordinate
        features; default pixel units.
    axes
        Axes of ``raw`` (or of ``labels`` when ``raw`` is None), default guessed.
    device
        ``"auto"``, ``"cpu"`` or ``"gpu"``; only the table comes back to the host.

    Returns
    -------
    pandas.DataFrame
        Columns ``t``, ``label`` and the features (see the module docstring), sorted by
        ``t`` then ``label``. Frames without objects contribute no rows.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((2, 5, 5), np.uint8); lab[1, 1:4, 1:3] = 2
    >>> features(None, lab, ["Count", "RegionRadii"], axes="tyx", device="cpu").round(3).values.tolist()
    [[1.0, 2.0, 6.0, 0.816, 0.5]]
    """
    dev = backend.resolve_device(device)
    names = _check_names(features, raw is not None)
    if raw is not None:
        ax = guess_axes(raw.shape) if axes is None else normalize_axes(axes, raw.shape, "raw")
        lab_axes = ax.replace("c", "")
        raw5 = transpose_axes(raw, ax, "tzyxc")
    else:
        ax = guess_axes(labels.shape, rgb_ok=False) if axes is None else axes
        lab_axes = ax.replace("c", "")
        raw5 = None
    lab_axes = normalize_axes(lab_axes, labels.shape, "labels")
    lab4 = transpose_axes(labels, lab_axes, "tzyx")
    if raw5 is not None and tuple(raw5.shape[:4]) != tuple(lab4.shape):
        raise InputError(
            f"raw: shape {tuple(raw.shape)} (axes {ax!r}) does not match labels shape {tuple(labels.shape)}"
        )
    ndim = 3 if lab4.shape[1] > 1 else 2
    scale = _scales(scales, ndim)
    n_channels = 0 if raw5 is None else raw5.shape[4]
    frames = []
    for t in range(lab4.shape[0]):
        values = None if raw5 is None else backend.to_device(raw5[t], dev)
        mom = region_moments(backend.to_device(lab4[t], dev), values, dev)
        frames.append(table_from_moments(mom, names, ndim, scale, t=t))
    if not frames:
        return _empty(names, ndim, n_channels)
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if out.empty:
        return _empty(names, ndim, n_channels)
    return out


def _check_names(features: Sequence[str] | None, have_raw: bool) -> tuple[str, ...]:
    if features is None:
        return FEATURES if have_raw else tuple(f for f in FEATURES if f not in _VALUE_ONLY)
    names = tuple(features)
    unknown = [f for f in names if f not in FEATURES]
    if unknown:
        raise InputError(f"object features: unknown feature(s) {unknown}; expected names from {FEATURES}")
    if not have_raw and any(f in _VALUE_ONLY for f in names):
        raise InputError("object features: intensity features need a raw image, got raw=None")
    return tuple(f for f in FEATURES if f in names)


def _scales(scales: Sequence[float] | None, ndim: int) -> np.ndarray:
    """Scale per coordinate in x, y(, z) order."""
    if scales is None:
        return np.ones(ndim)
    s = [float(v) for v in scales]
    if len(s) == 3 and ndim == 2:
        s = s[1:]
    if len(s) != ndim or any(v <= 0 for v in s):
        raise InputError(f"scales: expected {ndim} positive values (z, y, x order), got {list(scales)}")
    return np.asarray(s[::-1])


def _columns(names: Sequence[str], ndim: int, n_channels: int) -> list[str]:
    cols = []
    for name in names:
        if name in _VALUE_ONLY:
            cols += [name] if n_channels == 1 else [f"{name}_{c}" for c in range(n_channels)]
        elif name == "Count":
            cols.append(name)
        elif name == "RegionAxes":
            cols += [f"{name}_{k}" for k in range(ndim * ndim)]
        else:
            cols += [f"{name}_{k}" for k in range(ndim)]
    return cols


def _empty(names: Sequence[str], ndim: int, n_channels: int) -> pd.DataFrame:
    cols = {"t": np.zeros(0, np.int64), "label": np.zeros(0, np.int64)}
    cols.update({c: np.zeros(0) for c in _columns(names, ndim, n_channels)})
    return pd.DataFrame(cols)


def _full_tensor(unique: np.ndarray, degree: int, keep: Sequence[int]) -> np.ndarray:
    """(n, d, ..., d) symmetric tensor over the axes ``keep`` from its lexicographic unique
    components (of the 3-D tensor), gathered in one indexing step."""
    column = {combo: q for q, combo in enumerate(combinations_with_replacement(range(3), degree))}
    index = [column[tuple(sorted(axes))] for axes in product(keep, repeat=degree)]
    return unique[:, index].reshape((unique.shape[0],) + (len(keep),) * degree)


SIGN_TOLERANCE = 1e-5
"""Components of a unit principal axis within this of its largest magnitude count as tied."""


def _principal_axes(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors (columns, sign-normalised) of (n, d, d).

    Each axis is oriented so that its first component (x, y, z order) whose magnitude is
    within :data:`SIGN_TOLERANCE` of the largest is positive. A plain ``argmax(|v|)`` flips
    an axis on a diagonal (two equal magnitudes) with the last bits of the moment sums, so
    CPU and GPU sums (or two summation orders) could disagree; with the tolerance a tie is
    resolved by position, and a flip needs magnitudes exactly ``SIGN_TOLERANCE`` apart.
    """
    evals, evecs = np.linalg.eigh(cov)
    evals, evecs = evals[:, ::-1], evecs[:, :, ::-1]
    mag = np.abs(evecs)  # (n, component, axis)
    near = mag >= mag.max(axis=1, keepdims=True) - SIGN_TOLERANCE
    first = np.argmax(near, axis=1)  # (n, d): first component tied with the largest, per axis
    sign = np.sign(np.take_along_axis(evecs, first[:, None, :], axis=1))
    sign[sign == 0] = 1.0
    return evals, evecs * sign


def table_from_moments(
    mom: RegionMoments, names: Sequence[str], ndim: int, scale: np.ndarray, t: int = 0
) -> pd.DataFrame:
    """Finish the features of one frame from its moment sums (host, numpy).

    ``scale`` is per coordinate in x, y(, z) order.
    """
    n = mom.ids.size
    n_channels = mom.value_sum.shape[1]
    cols: dict[str, np.ndarray] = {"t": np.full(n, t, np.int64), "label": mom.ids.astype(np.int64)}
    N = mom.count
    # coordinate statistics in x, y(, z) order and physical units
    keep = [2, 1, 0] if ndim == 3 else [2, 1]
    center = mom.coord_mean[:, keep] * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        t2 = _full_tensor(mom.coord_central[:, :6], 2, keep) * np.multiply.outer(scale, scale)
        cov = t2 / np.maximum(N, 1)[:, None, None]
        need_axes = {"RegionRadii", "RegionAxes", "Coord<Principal<Skewness>>", "Coord<Principal<Kurtosis>>"}
        if need_axes & set(names) and n:
            evals, evecs = _principal_axes(cov)
        else:
            evals, evecs = np.zeros((n, ndim)), np.zeros((n, ndim, ndim))
        p2 = evals * N[:, None]
        for name in names:
            if name == "Count":
                cols[name] = N.copy()
            elif name in _VALUE_ONLY:
                vals = _value_feature(name, mom, N)
                if n_channels == 1:
                    cols[name] = vals[:, 0]
                else:
                    for c in range(n_channels):
                        cols[f"{name}_{c}"] = vals[:, c]
            else:
                if name == "RegionCenter":
                    vals = center
                elif name == "RegionRadii":
                    vals = np.sqrt(np.maximum(evals, 0.0))
                elif name == "RegionAxes":
                    vals = evecs.reshape(n, ndim * ndim)
                elif name == "Coord<Minimum>":
                    vals = mom.bbox_min[:, keep] * scale
                elif name == "Coord<Maximum>":
                    vals = (mom.bbox_max[:, keep] + 1) * scale
                elif name == "Coord<Principal<Skewness>>":
                    t3 = _full_tensor(mom.coord_central[:, 6:16], 3, keep)
                    t3 = t3 * np.einsum("a,b,c->abc", scale, scale, scale)
                    p3 = np.einsum("nabc,naj,nbj,ncj->nj", t3, evecs, evecs, evecs, optimize=True)
                    vals = np.sqrt(N)[:, None] * p3 / p2**1.5
                else:  # Coord<Principal<Kurtosis>>
                    t4 = _full_tensor(mom.coord_central[:, 16:31], 4, keep)
                    t4 = t4 * np.einsum("a,b,c,d->abcd", scale, scale, scale, scale)
                    p4 = np.einsum("nabcd,naj,nbj,ncj,ndj->nj", t4, evecs, evecs, evecs, evecs, optimize=True)
                    vals = N[:, None] * p4 / p2**2 - 3.0
                for k in range(vals.shape[1]):
                    cols[f"{name}_{k}"] = np.asarray(vals[:, k], dtype=np.float64)
    return pd.DataFrame(cols)


def _value_feature(name: str, mom: RegionMoments, N: np.ndarray) -> np.ndarray:
    Nc = np.maximum(N, 1)[:, None]
    m2, m3, m4 = (mom.value_central[:, :, k] for k in range(3))
    constant = mom.value_min == mom.value_max
    if name == "Sum":
        return mom.value_sum
    if name == "Mean":
        return mom.value_sum / Nc
    if name == "Minimum":
        return mom.value_min.astype(np.float64)
    if name == "Maximum":
        return mom.value_max.astype(np.float64)
    if name == "Variance":
        return np.where(constant, 0.0, m2 / Nc)
    if name == "Skewness":
        return np.where(constant, np.nan, np.sqrt(Nc) * m3 / m2**1.5)
    return np.where(constant, np.nan, Nc * m4 / m2**2 - 3.0)  # Kurtosis
