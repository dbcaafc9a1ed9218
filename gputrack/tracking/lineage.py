"""Track and lineage ids from a solution (spec §4.11), and conversion to Cell Tracking Challenge tables."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numba
import numpy as np
import pandas as pd

from ..errors import InputError
from ..threads import thread_map
from .solution import Solution


@numba.njit(cache=True)
def _propagate(n, count, in_ptr, in_src, out_active, division, first_id):
    track = np.full(n, -1, np.int64)
    lineage = np.full(n, -1, np.int64)
    parent = np.zeros(n, np.int64)
    next_track = first_id
    next_lineage = first_id
    for j in range(n):
        if count[j] == 0:
            continue
        src = -1
        for p in range(in_ptr[j], in_ptr[j + 1]):
            if track[in_src[p]] >= 0:
                src = in_src[p]
                break
        if src < 0:
            track[j] = next_track
            lineage[j] = next_lineage
            next_track += 1
            next_lineage += 1
        elif division[src] or out_active[src] > 1:
            track[j] = next_track
            next_track += 1
            lineage[j] = lineage[src]
            parent[j] = track[src]
        else:
            track[j] = track[src]
            lineage[j] = lineage[src]
            parent[j] = parent[src]
    return track, lineage, parent


def lineages(solution: Solution, *, first_id: int = 1) -> pd.DataFrame:
    """Track id, lineage id and parent track of every detection.

    A track starts at each active detection without active incoming link (new lineage), continues
    along single active links, and at a division each child starts a new track in the same
    lineage whose parent is the mother's track. A merger reached from several tracks keeps the
    first (lowest-index) one. Unlike ilastik (ids from 2, one id passed to all successors of an
    unresolved merger) ids start at ``first_id`` and every branch gets its own track id, so the
    result is a valid CTC lineage. False detections (count 0) get -1.

    Returns
    -------
    DataFrame
        The detection table's ``t, label`` plus ``count, track_id, lineage_id, parent_track``
        (0 = no parent) and ``divides``.

    Examples
    --------
    >>> from gputrack.tracking import track
    >>> df = pd.DataFrame({"t": [0, 1], "label": [1, 1], "y": [5., 6.], "x": [5., 5.]})
    >>> lineages(track(df))[["track_id", "lineage_id", "parent_track"]].values.tolist()
    [[1, 1, 0], [1, 1, 0]]
    """
    g = solution.graph
    n = g.n_nodes
    active = solution.link_value > 0
    src, dst = g.src[active], g.dst[active]
    order = np.lexsort((src, dst))
    in_src = src[order].astype(np.int64)
    in_ptr = np.zeros(n + 1, np.int64)
    np.add.at(in_ptr, dst + 1, 1)
    in_ptr = np.cumsum(in_ptr)
    out_active = np.bincount(src, minlength=n).astype(np.int64)
    track, lineage, parent = _propagate(
        n, solution.count.astype(np.int64), in_ptr, in_src, out_active, solution.division.astype(np.bool_),
        int(first_id),
    )
    df = g.detections
    return pd.DataFrame(
        {
            "t": df["t"].to_numpy(),
            "label": df["label"].to_numpy(),
            "count": solution.count,
            "track_id": track,
            "lineage_id": lineage,
            "parent_track": parent,
            "divides": solution.division,
        }
    )


def track_table(lineage: pd.DataFrame) -> pd.DataFrame:
    """CTC track table ``label, begin, end, parent`` (one row per track) from :func:`lineages`.

    Examples
    --------
    >>> lin = pd.DataFrame({"t": [0, 1, 1], "track_id": [1, 2, 3], "parent_track": [0, 1, 1]})
    >>> track_table(lin).values.tolist()
    [[1, 0, 0, 0], [2, 1, 1, 1], [3, 1, 1, 1]]
    """
    act = lineage[lineage["track_id"] >= 0]
    grp = act.groupby("track_id")
    out = pd.DataFrame(
        {"begin": grp["t"].min(), "end": grp["t"].max(), "parent": grp["parent_track"].first()}
    ).reset_index(names="label")
    return out[["label", "begin", "end", "parent"]].astype(np.int64)


def relabel(
    solution: Solution,
    label_frames: Sequence[np.ndarray] | np.ndarray,
    *,
    by: str = "track",
    start: int | None = None,
    first_id: int = 1,
    false_detection: int = 0,
    dtype=np.uint32,
) -> list[np.ndarray]:
    """Label images with each object's track id or lineage id (ilastik's "Tracking-Result").

    Parameters
    ----------
    solution : Solution
    label_frames : sequence of arrays
        The segmentation the detections came from (frame ``k`` = time ``start + k``).
    by : {"track", "lineage"}
    start : int, optional
        Time of the first frame (default: ``attrs["frames"][0]`` of the detections, or 0).
    first_id : int
        First id (ilastik uses 2, reserving 1 for false detections).
    false_detection : int
        Value of objects the solution switched off (ilastik: 1).
    dtype : numpy dtype of the output

    Returns
    -------
    list of arrays, one per frame; background and objects absent from the table are 0.

    Examples
    --------
    >>> from gputrack.tracking import detections_from_labels, track
    >>> lab = np.zeros((2, 4, 4), int); lab[0, 1, 1] = 5; lab[1, 1, 2] = 9
    >>> [int(f.max()) for f in relabel(track(detections_from_labels(lab)), lab)]
    [1, 1]
    """
    if by not in ("track", "lineage"):
        raise InputError(f"relabel: by must be 'track' or 'lineage', got {by!r}")
    lin = lineages(solution, first_id=first_id)
    col = "track_id" if by == "track" else "lineage_id"
    if start is None:
        start = int(solution.graph.detections.attrs.get("frames", (0, 0))[0])
    by_t = {t: grp for t, grp in lin.groupby("t")}

    def one(k: int) -> np.ndarray:
        lab = np.asarray(label_frames[k])
        lut = np.zeros(int(lab.max()) + 1 if lab.size else 1, dtype)
        grp = by_t.get(start + k)
        if grp is not None:
            labels = grp["label"].to_numpy()
            ids = grp[col].to_numpy()
            ok = (labels >= 0) & (labels < lut.size)
            lut[labels[ok]] = np.where(ids[ok] >= 0, ids[ok], false_detection)
        # np.take releases the GIL: frames relabel on every core
        return np.take(lut, lab if lab.dtype.kind == "u" else np.clip(lab, 0, None))

    return thread_map(one, range(len(label_frames)))


def to_ctc(
    solution: Solution, label_frames: Sequence[np.ndarray] | np.ndarray, *, start: int | None = None
) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Relabel the segmentation by track id and build the CTC track table.

    Parameters
    ----------
    solution : Solution
        Solved on detections whose ``label`` values are the labels of ``label_frames``.
    label_frames : sequence of arrays
        One label image per frame, frame ``k`` being time ``start + k``.
    start : int, optional
        Time of the first frame (default: the detections' ``attrs["frames"][0]`` or 0).

    Returns
    -------
    masks : list of uint16 arrays
        Pixel value = track id (false detections and unknown labels become 0).
    tracks : DataFrame
        ``label, begin, end, parent`` (CTC ``res_track.txt`` content); frames count from the
        first label frame (mask ``k`` is time ``start + k``), as a CTC folder numbers them.
    """
    lin = lineages(solution, first_id=1)
    if len(lin) and lin["track_id"].max() > np.iinfo(np.uint16).max:
        raise InputError("to_ctc: more than 65535 tracks do not fit CTC's uint16 masks")
    if start is None:
        start = int(solution.graph.detections.attrs.get("frames", (0, 0))[0])
    masks = relabel(solution, label_frames, by="track", start=start, dtype=np.uint16)
    tracks = track_table(lin)
    tracks[["begin", "end"]] -= start
    return masks, tracks


def write_ctc_result(
    solution: Solution,
    label_frames: Sequence[np.ndarray] | np.ndarray,
    folder: str | os.PathLike,
    *,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Write a CTC result folder (``maskTTT.tif`` + ``res_track.txt``) with ``gputrack.io.ctc``.

    Returns the track table that was written.
    """
    from ..io.ctc import write_ctc

    masks, tracks = to_ctc(solution, label_frames)
    write_ctc(folder, masks, tracks, overwrite=overwrite)
    return tracks
