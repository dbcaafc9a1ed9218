"""Detection tables: one row per object (t, label, centre, optional probabilities)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import backend
from ..errors import InputError
from ..threads import thread_map

COORDS = ("z", "y", "x")


def detections_from_labels(
    label_frames: Sequence[np.ndarray] | np.ndarray,
    scales: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    start: int = 0,
) -> pd.DataFrame:
    """Build a detection table from per-frame label images.

    Centres are the means of the pixel coordinates of each label (bincount moments), in pixels;
    2D frames give ``z = 0``. Frames on the GPU (cupy) are reduced there: only the
    per-object rows come to the host.

    Parameters
    ----------
    label_frames : sequence of arrays or array
        One ``(y, x)`` or ``(z, y, x)`` integer label image per frame (0 = background), or a
        stacked ``(t, y, x)`` / ``(t, z, y, x)`` array; numpy or cupy.
    scales : (z, y, x) floats
        Physical size of a pixel; stored in ``df.attrs["scales"]`` and used by the graph.
    start : int
        Time index of the first frame.

    Returns
    -------
    pandas.DataFrame
        Columns ``t, label, z, y, x, size`` sorted by ``(t, label)``; ``attrs["shape"]`` holds
        the spatial ``(z, y, x)`` shape and ``attrs["scales"]`` the scales.

    Examples
    --------
    >>> lab = np.zeros((2, 5, 5), int); lab[0, 1, 1] = 3; lab[1, 2, 2:4] = 1
    >>> detections_from_labels(lab)[["t", "label", "y", "x"]].values.tolist()
    [[0.0, 3.0, 1.0, 1.0], [1.0, 1.0, 2.0, 2.5]]
    """
    frames = list(label_frames)
    if not frames:
        raise InputError("label_frames: expected at least one frame, got none")
    scales = tuple(float(s) for s in scales)
    if len(scales) != 3:
        raise InputError(f"scales: expected 3 values (z, y, x), got {len(scales)}")
    shape = _frame_shape(frames[0], 0)

    def rows(i: int):
        xp = backend.namespace_of(frames[i])
        lab = xp.asarray(frames[i])
        own = _frame_shape(lab, i)
        if own != shape:
            raise InputError(f"label frame {i}: shape {own} differs from the first frame's {shape}")
        flat = lab.ravel()
        nz = xp.flatnonzero(flat)
        if nz.size == 0:
            return None
        ids = flat[nz].astype(xp.int64)
        if int(ids.min()) < 0:
            raise InputError(f"label frame {i}: negative labels")
        uniq, inv = xp.unique(ids, return_inverse=True)
        inv = inv.ravel()
        counts = xp.bincount(inv).astype(xp.float64)
        zyx = xp.unravel_index(nz, shape)
        centres = [backend.to_host(xp.bincount(inv, weights=c.astype(xp.float64)) / counts) for c in zyx]
        return (np.full(int(uniq.size), start + i, np.int64), backend.to_host(uniq), *centres,
                backend.to_host(counts).astype(np.int64))

    on_host = all(isinstance(f, np.ndarray) for f in frames)
    # numpy's scans and sorts release the GIL: host frames on every core (device frames in order)
    per_frame = thread_map(rows, range(len(frames))) if on_host else [rows(i) for i in range(len(frames))]
    cols: dict[str, list] = {k: [] for k in ("t", "label", "z", "y", "x", "size")}
    for r in per_frame:
        if r is not None:
            for name, values in zip(cols, r):
                cols[name].append(values)
    data = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in cols.items()}
    df = pd.DataFrame(data)
    df["t"] = df["t"].astype(np.int64)
    df["label"] = df["label"].astype(np.int64)
    df["size"] = df["size"].astype(np.int64)
    df.attrs["shape"] = tuple(int(s) for s in shape)
    df.attrs["scales"] = scales
    df.attrs["frames"] = (start, start + len(frames) - 1)
    return df


def _frame_shape(frame, i: int) -> tuple[int, int, int]:
    """``(z, y, x)`` of one label frame (2-D frames as one plane), checked for dims and dtype."""
    shape = tuple(int(n) for n in frame.shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3:
        raise InputError(f"label frame {i}: expected a 2D or 3D label image, got shape {tuple(frame.shape)}")
    if not np.issubdtype(frame.dtype, np.integer):
        raise InputError(f"label frame {i}: expected integer labels, got dtype {frame.dtype}")
    return shape


def count_columns(detections: pd.DataFrame) -> list[str]:
    """Names of the ``count_prob_k`` columns, in k order (empty if none)."""
    names = [c for c in detections.columns if str(c).startswith("count_prob_")]
    return sorted(names, key=lambda c: int(str(c).rsplit("_", 1)[1]))


def check_detections(detections: pd.DataFrame) -> pd.DataFrame:
    """Validate a detection table and return it sorted by ``(t, label)`` with a fresh index.

    Raises
    ------
    InputError
        If a required column is missing, ``(t, label)`` repeats or probabilities are outside [0, 1].

    Examples
    --------
    >>> df = pd.DataFrame({"t": [1, 0], "label": [1, 1], "y": [0., 1.], "x": [0., 0.]})
    >>> check_detections(df).t.tolist()
    [0, 1]
    """
    if not isinstance(detections, pd.DataFrame):
        raise InputError(f"detections: expected a pandas DataFrame, got {type(detections).__name__}")
    missing = [c for c in ("t", "label", "y", "x") if c not in detections.columns]
    if missing:
        raise InputError(f"detections: missing column(s) {missing}; expected t, label, [z,] y, x")
    attrs = dict(detections.attrs)
    df = detections.copy()
    if "z" not in df.columns:
        df["z"] = 0.0
    df = df.sort_values(["t", "label"], kind="stable").reset_index(drop=True)
    df.attrs.update(attrs)
    key = df["t"].to_numpy(np.int64) * (int(df["label"].max()) + 1 if len(df) else 1) + df["label"].to_numpy(
        np.int64
    )
    if np.any(key[1:] == key[:-1]):  # sorted by (t, label): duplicates are neighbours
        raise InputError("detections: (t, label) pairs must be unique")
    for c in [*count_columns(df), *(["div_prob"] if "div_prob" in df.columns else [])]:
        v = df[c].to_numpy(np.float64)
        if np.any(~np.isfinite(v)) or np.any(v < 0) or np.any(v > 1):
            raise InputError(f"detections: column {c!r} must hold probabilities in [0, 1]")
    for c in COORDS:
        if not np.all(np.isfinite(df[c].to_numpy(np.float64))):
            raise InputError(f"detections: column {c!r} has non-finite centres")
    return df
