"""Object classes from a Cell Tracking Challenge ground truth, for training tracking classifiers.

A segmentation's objects are matched to the ground-truth cells by the CTC DET rule (a GT cell
belongs to the object covering more than half of its pixels). An object's *count* class is the
number of GT cells it holds (0 = false detection, capped at ``max_count``); it is *dividing* when
it holds exactly one GT cell that is a mother (a track with two daughters) in its last frame.
The tables feed ``gputrack objects train --kind count|division`` as its ``t, label, class`` CSV.

Examples
--------
>>> import numpy as np
>>> seg = np.array([[[1, 1, 0, 2, 2]]])           # one frame: object 2 covers GT cells 5 and 6
>>> gt = np.array([[[3, 3, 0, 5, 6]]])
>>> match_ground_truth(seg, gt)[["label", "n_gt", "gt_label"]].to_numpy().tolist()
[[1, 1, 3], [2, 2, 0]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KINDS = ("count", "division")


def match_ground_truth(seg: np.ndarray, gt: np.ndarray, *, start: int = 0) -> pd.DataFrame:
    """Per object of ``seg``: how many GT objects it holds and, if exactly one, its GT label.

    Parameters
    ----------
    seg, gt : (t, [z,] y, x) integer arrays
        Segmentation and ground-truth masks of the same frames.
    start : int
        Time of the first frame (the ``t`` column is ``start + k``).

    Returns
    -------
    pandas.DataFrame
        ``t, label, n_gt, gt_label`` (``gt_label`` 0 unless ``n_gt == 1``), one row per object.
    """
    if seg.shape != gt.shape:
        raise ValueError(f"segmentation of shape {seg.shape}, ground truth of shape {gt.shape}")
    rows = []
    for k in range(seg.shape[0]):
        s, g = seg[k].ravel().astype(np.int64), gt[k].ravel().astype(np.int64)
        width = int(s.max()) + 1
        both = (g > 0) & (s > 0)
        pair, overlap = np.unique(g[both] * width + s[both], return_counts=True)
        gl, sl = pair // width, pair % width
        held = overlap * 2 > np.bincount(g)[gl]
        n_gt = np.bincount(sl[held], minlength=width)
        gt_label = np.zeros(width, np.int64)
        gt_label[sl[held]] = gl[held]
        labels = np.unique(s[s > 0])
        rows.append(pd.DataFrame({"t": start + k, "label": labels, "n_gt": n_gt[labels],
                                  "gt_label": np.where(n_gt[labels] == 1, gt_label[labels], 0)}))
    return pd.concat(rows, ignore_index=True)


def mothers(tracks: pd.DataFrame) -> set[tuple[int, int]]:
    """``(t, label)`` of every GT mother in its last frame: tracks with exactly two daughters.

    ``tracks`` has the columns of ``man_track.txt``: ``label, begin, end, parent``.
    """
    children = tracks.loc[tracks["parent"] > 0, "parent"].value_counts()
    end = dict(zip(tracks["label"].astype(int), tracks["end"].astype(int)))
    return {(end[int(m)], int(m)) for m, n in children.items() if n == 2 and int(m) in end}


def class_annotations(
    seg: np.ndarray, gt: np.ndarray, tracks: pd.DataFrame, kind: str, *, start: int = 0,
    max_count: int = 2,
) -> pd.DataFrame:
    """``t, label, class`` of every object of ``seg`` for a ``kind`` ("count" or "division") classifier.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> gt = np.array([[[1, 1, 0, 0]], [[2, 0, 0, 3]]])
    >>> tracks = pd.DataFrame({"label": [1, 2, 3], "begin": [0, 1, 1], "end": [0, 1, 1], "parent": [0, 1, 1]})
    >>> class_annotations(gt, gt, tracks, "division")["class"].tolist()
    [1, 0, 0]
    """
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: expected one of {KINDS}")
    table = match_ground_truth(seg, gt, start=start)
    if kind == "count":
        cls = np.minimum(table["n_gt"].to_numpy(), max_count)
    else:
        dividing = mothers(tracks)
        keys = zip(table["t"].tolist(), table["gt_label"].tolist())
        cls = np.array([(int(t), int(g)) in dividing for t, g in keys], np.int64)
    return pd.DataFrame({"t": table["t"], "label": table["label"], "class": cls.astype(np.int64)})
