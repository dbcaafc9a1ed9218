"""The simplest tracker, as a baseline: frame-to-frame Hungarian assignment of centres (no divisions).

Each pair of consecutive frames is solved by :func:`scipy.optimize.linear_sum_assignment` on
the distances between object centres, with a gate: a pair farther apart than ``max_distance``
is never linked (an object unmatched in the next frame ends its track, one unmatched in the
previous frame starts a new one, without a parent). What the benchmarks and tests compare the
conservation tracker against (issue: "LNK never below a frame-to-frame Hungarian").

Examples
--------
>>> lab = np.zeros((3, 20, 20), np.uint16)
>>> lab[:, 5:8, 5:8] = 1; lab[2, 12:15, 12:15] = 2
>>> masks, tracks = hungarian_tracks(lab, max_distance=5.0)
>>> tracks.values.tolist()
[[1, 0, 2, 0], [2, 2, 2, 0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from .detections import COORDS, detections_from_labels


def hungarian_links(
    positions: Sequence[np.ndarray], max_distance: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per frame pair, the rows (i in frame t, j in t + 1) of the gated minimum-distance assignment.

    Parameters
    ----------
    positions : one (n_t, d) array of centres per frame
    max_distance : float
        Links strictly longer than this are not made.

    Returns
    -------
    list of (i, j) index arrays, one per consecutive pair.
    """
    out = []
    big = 1e12
    for a, b in zip(positions[:-1], positions[1:]):
        if len(a) == 0 or len(b) == 0:
            out.append((np.zeros(0, np.int64), np.zeros(0, np.int64)))
            continue
        d = cdist(a, b)
        cost = np.where(d <= max_distance, d, big)
        i, j = linear_sum_assignment(cost)
        ok = d[i, j] <= max_distance
        out.append((i[ok].astype(np.int64), j[ok].astype(np.int64)))
    return out


def hungarian_tracks(
    label_frames: Sequence[np.ndarray] | np.ndarray,
    max_distance: float,
    *,
    scales: Sequence[float] = (1.0, 1.0, 1.0),
) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Track label frames with :func:`hungarian_links`; return CTC masks and track table.

    Parameters
    ----------
    label_frames : (t, [z,] y, x) integer labels
    max_distance : float
        Gate, in the units of ``scales``.
    scales : (z, y, x) pixel size

    Returns
    -------
    masks : list of uint16 arrays (pixel value = track id)
    tracks : DataFrame ``label, begin, end, parent`` (parent always 0)
    """
    frames = [np.asarray(f) for f in label_frames]
    det = detections_from_labels(frames, scales)
    t = det["t"].to_numpy(np.int64)
    pos = det[list(COORDS)].to_numpy(np.float64) * np.asarray(scales, np.float64)
    rows = [np.flatnonzero(t == k) for k in range(len(frames))]
    links = hungarian_links([pos[r] for r in rows], max_distance)
    track = np.zeros(len(det), np.int64)
    next_id = 1
    for k, r in enumerate(rows):
        if k > 0:
            i, j = links[k - 1]
            track[r[j]] = track[rows[k - 1][i]]
        fresh = r[track[r] == 0]
        track[fresh] = np.arange(next_id, next_id + fresh.size)
        next_id += fresh.size
    labels = det["label"].to_numpy(np.int64)
    masks = []
    for k, r in enumerate(rows):
        lut = np.zeros(int(frames[k].max()) + 1, np.uint16)
        lut[labels[r]] = track[r]
        masks.append(lut[frames[k]])
    table = pd.DataFrame({"label": track, "t": t}).groupby("label")["t"].agg(["min", "max"]).reset_index()
    tracks = pd.DataFrame(
        {
            "label": table["label"].to_numpy(np.int64),
            "begin": table["min"].to_numpy(np.int64),
            "end": table["max"].to_numpy(np.int64),
            "parent": np.zeros(len(table), np.int64),
        }
    )
    return masks, tracks
