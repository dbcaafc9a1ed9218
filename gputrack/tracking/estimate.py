"""Tracking parameters estimated from the detections themselves (no ground truth, no tuning).

- α, the scale of the transition probability ``exp(-d / α)``: the maximum-likelihood fit of that
  exponential to the displacements of mutual nearest neighbours between consecutive frames
  (their mean);
- the border width: ``4 r / (3 pi)`` for the median object radius ``r`` (from ``size``), the
  depth of the centre of a disk that is half inside the field of view, where a cell that enters
  or leaves is seen (at least α);
- the appearance and disappearance costs: the transition energy ``w * D / α`` of a link of
  length ``D = max(reach, 2 r)``, with the reach twice the 99th percentile of the
  displacements: a track starts (or ends) rather than linking farther than a move reaches or
  than a daughter lies from its mother (one cell diameter).

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"t": [0, 1, 2], "label": [1, 1, 1], "y": [10., 12., 14.], "x": [10.] * 3})
>>> p, report = estimate_parameters(df)
>>> p.transition_alpha
2.0
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .detections import COORDS, check_detections
from .params import TrackingParameters

ESTIMATED = ("transition_alpha", "border_width", "appearance_cost", "disappearance_cost")
"""Parameters :func:`estimate_parameters` sets (unless fixed)."""


def _positions(df: pd.DataFrame, params: TrackingParameters) -> np.ndarray:
    pix = df[list(COORDS)].to_numpy(np.float64)
    if params.ilastik_compat:
        return pix
    return pix * np.asarray(df.attrs.get("scales", (1.0, 1.0, 1.0)), np.float64)[None, :]


def _frame_ranges(t: np.ndarray):
    frames, starts = np.unique(t, return_index=True)
    ends = np.append(starts[1:], t.size)
    return frames, starts, ends


def mutual_displacements(detections: pd.DataFrame, params: TrackingParameters | None = None) -> np.ndarray:
    """Distances of mutual nearest neighbours between consecutive frames (physical units).

    A pair (i in frame t, j in t + 1) counts when j is the nearest of i in t + 1 and i the nearest
    of j in t: robust to cells that appear, vanish or divide.

    Examples
    --------
    >>> df = pd.DataFrame({"t": [0, 0, 1, 1], "label": [1, 2, 1, 2], "y": [0., 50., 3., 54.],
    ...                    "x": [0.] * 4})
    >>> mutual_displacements(df).tolist()
    [3.0, 4.0]
    """
    params = params or TrackingParameters()
    df = check_detections(detections)
    pos = _positions(df, params)
    frames, starts, ends = _frame_ranges(df["t"].to_numpy(np.int64))
    out = []
    for f in range(frames.size - 1):
        if frames[f + 1] != frames[f] + 1:
            continue
        a, b = pos[starts[f] : ends[f]], pos[starts[f + 1] : ends[f + 1]]
        da, ia = cKDTree(b).query(a)
        _, ib = cKDTree(a).query(b)
        mutual = ib[ia] == np.arange(a.shape[0])
        out.append(da[mutual])
    return np.concatenate(out) if out else np.zeros(0)


def estimate_parameters(
    detections: pd.DataFrame,
    params: TrackingParameters | None = None,
    *,
    fixed: Iterable[str] = (),
) -> tuple[TrackingParameters, dict]:
    """Estimate α, the border width and the appearance/disappearance costs from the detections.

    Parameters
    ----------
    detections : DataFrame
        ``t, label, [z,] y, x`` (pixel centres; ``attrs["scales"]``), optionally ``size``.
    params : TrackingParameters, optional
        Starting values; the weights are kept.
    fixed : names of :data:`ESTIMATED` parameters to keep as given.

    Returns
    -------
    params : TrackingParameters
        With the estimated fields replaced.
    report : dict
        The estimates and what they rest on (``pairs`` of mutual neighbours, ``radius``,
        ``reach``), for printing.
    """
    params = params or TrackingParameters()
    fixed = set(fixed)
    df = check_detections(detections)
    report: dict = {}
    d = mutual_displacements(df, params)
    report["pairs"] = int(d.size)
    if d.size < 2:
        return params, report
    alpha = max(float(d.mean()), 1e-3)
    reach = 2.0 * float(np.quantile(d, 0.99))
    changes: dict = {}
    if "transition_alpha" not in fixed:
        changes["transition_alpha"] = round(alpha, 3)
    alpha = changes.get("transition_alpha", params.transition_alpha)
    radius = 0.0
    if "size" in df.columns:
        ndim = 3 if np.ptp(df["z"].to_numpy(np.float64)) > 0 else 2
        scales = np.asarray(df.attrs.get("scales", (1.0, 1.0, 1.0)), np.float64)
        voxel = 1.0 if params.ilastik_compat else float(np.prod(scales[-ndim:]))
        vol = df["size"].to_numpy(np.float64) * voxel
        unit = np.pi if ndim == 2 else 4.0 / 3.0 * np.pi
        radius = float(np.median((vol / unit) ** (1.0 / ndim)))
    report["radius"] = round(radius, 3)
    if "border_width" not in fixed:
        changes["border_width"] = round(max(4.0 * radius / (3.0 * np.pi), alpha), 3)
    if "appearance_cost" not in fixed or "disappearance_cost" not in fixed:
        cost = round(float(params.transition_weight * max(reach, 2.0 * radius) / alpha), 3)
        for name in ("appearance_cost", "disappearance_cost"):
            if name not in fixed:
                changes[name] = cost
    report["reach"] = round(reach, 3)
    out = params.replace(**changes)
    report.update({k: getattr(out, k) for k in ESTIMATED})
    return out, report
