"""Divisions and mergers tables in the style of ilastik's manual tracking (spec §7).

``divisions.csv``: one row per division::

    timestep_parent,track_id_parent,track_id_child1,track_id_child2

``timestep_parent`` is the time of the mother's last frame; the children's track ids are in
ascending order.

``mergers.csv``: one row per merged object::

    timestep,object_id,track_ids

``track_ids`` are the ids of the tracks inside the object, joined by ``;`` in ascending order.

- Unresolved merger (a detection carrying ``count > 1`` objects): ``object_id`` is its label
  and the tracks are those that *enter* it, the way a manual tracker keeps each track's id
  through a merger: the merger's own track, plus the track of every non-merger detection
  linked into it, plus (for a merger lasting several frames) the tracks of the preceding
  merger. The tracks leaving a merger are new tracks (children of the merger's track in
  :func:`gputrack.tracking.lineages`) and are not listed. A merger that appears with several
  objects at once can list fewer ids than its count.
- Resolved merger (merger resolution cut the object into pieces): ``object_id`` is the
  **original** label of the merged object in the segmentation (the ``mergerLabelId`` of the
  tracking table; the Object-Identities image holds only the pieces) and the tracks are those
  of its pieces.

Ids are the result's track ids (from 1), as manual tracking numbers them; false detections
never appear. The CSV dialect is ilastik's (``csv`` module, comma, no spaces).

Differences from ilastik
------------------------
ilastik writes these files only from manual tracking (where the user tags every object with
track ids); here they are derived from an automatic tracking result. ilastik writes
``\\r\\n`` line ends (Python's csv default); these files use ``\\n``.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from gputrack.tracking import track_labels
>>> lab = np.zeros((3, 16, 16), np.uint16); lab[:, 4:8, 4:8] = 2
>>> out = pathlib.Path(tempfile.mkdtemp()) / "divisions.csv"
>>> print(write_divisions_csv(track_labels(lab), out)[0].read_text(), end="")
timestep_parent,track_id_parent,track_id_child1,track_id_child2
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.atomic import atomic_output, check_writable
from ..tracking.result import TrackingResult

__all__ = ["DIVISION_COLUMNS", "MERGER_COLUMNS", "divisions_table", "mergers_table", "write_divisions_csv",
           "write_mergers_csv"]

DIVISION_COLUMNS = ("timestep_parent", "track_id_parent", "track_id_child1", "track_id_child2")
MERGER_COLUMNS = ("timestep", "object_id", "track_ids")


def _track_ids(result: TrackingResult) -> np.ndarray:
    det, lin = result.detections, result.lineage
    if len(lin) != len(det) or not np.array_equal(lin["label"].to_numpy(), det["label"].to_numpy()):
        raise InputError("tracking result: lineage table and detections do not match row for row")
    return lin["track_id"].to_numpy(np.int64)


def _active_adjacency(a: np.ndarray, b: np.ndarray, value: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """CSR of the active links by ``a``: node ``i`` links to ``ends[ptr[i]:ptr[i + 1]]``."""
    active = value > 0
    a, b = np.asarray(a)[active], np.asarray(b)[active]
    order = np.argsort(a, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(a, minlength=n))])
    return ptr, b[order]


def divisions_table(result: TrackingResult) -> pd.DataFrame:
    """One row per division: mother's time and track, the daughters' tracks (ascending).

    Examples
    --------
    >>> import numpy as np
    >>> from gputrack.tracking import TrackingParameters, track_labels
    >>> lab = np.zeros((2, 24, 24), np.uint16); lab[0, 8:14, 8:14] = 1
    >>> lab[1, 4:9, 8:14] = 1; lab[1, 13:18, 8:14] = 2
    >>> res = track_labels(lab, params=TrackingParameters(division_probability=0.9))
    >>> divisions_table(res).values.tolist()
    [[0, 1, 2, 3]]
    """
    sol = result.solution
    g = sol.graph
    track = _track_ids(result)
    out_ptr, out_dst = _active_adjacency(g.src, g.dst, sol.link_value, g.n_nodes)
    rows = []
    for i in np.flatnonzero(sol.division):
        children = np.sort(track[out_dst[out_ptr[i]:out_ptr[i + 1]]])
        if children.size != 2:
            raise InputError(f"tracking result: division at t={int(g.t[i])} has {children.size} active "
                             "children, expected 2")
        rows.append((int(g.t[i]), int(track[i]), int(children[0]), int(children[1])))
    rows.sort()
    return pd.DataFrame(rows, columns=list(DIVISION_COLUMNS), dtype=np.int64)


def mergers_table(result: TrackingResult) -> pd.DataFrame:
    """One row per merged object: time, label, and its tracks joined by ``;`` (module docstring)."""
    sol = result.solution
    g = sol.graph
    det = g.detections
    track = _track_ids(result)
    label = det["label"].to_numpy(np.int64)
    t = np.asarray(g.t, np.int64)
    rows: list[tuple[int, int, str]] = []

    # unresolved: walk in time order (nodes are sorted by frame) so preceding mergers are known
    in_ptr, in_src = _active_adjacency(g.dst, g.src, sol.link_value, g.n_nodes)
    merged = sol.count > 1
    inside: dict[int, set[int]] = {}
    for i in np.flatnonzero(merged):
        ids = {int(track[i])} if track[i] > 0 else set()
        for p in in_src[in_ptr[i]:in_ptr[i + 1]]:
            if merged[p]:
                ids |= inside.get(int(p), set())
            elif track[p] > 0:
                ids.add(int(track[p]))
        inside[int(i)] = ids
        rows.append((int(t[i]), int(label[i]), ";".join(str(k) for k in sorted(ids))))

    # resolved: pieces grouped by (time, original label)
    if "merger_label" in det.columns:
        pieces = det["merger_label"].to_numpy(np.int64) > 0
        if pieces.any():
            frame = pd.DataFrame({"t": t[pieces], "object": det["merger_label"].to_numpy(np.int64)[pieces],
                                  "track": track[pieces]})
            frame = frame[frame["track"] > 0]
            for (tt, obj), grp in frame.groupby(["t", "object"]):
                ids = sorted(set(grp["track"].tolist()))
                rows.append((int(tt), int(obj), ";".join(str(k) for k in ids)))
    rows.sort()
    return pd.DataFrame(rows, columns=list(MERGER_COLUMNS)).astype(
        {"timestep": np.int64, "object_id": np.int64, "track_ids": str})


def _write(table: pd.DataFrame, path: Path, overwrite: bool) -> list[Path]:
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter=",", lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows(table.itertuples(index=False, name=None))
    return [path]


def write_divisions_csv(
    result: TrackingResult,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    label_frames: Sequence[np.ndarray] | None = None,
) -> list[Path]:
    """Write :func:`divisions_table` to the CSV file ``path`` (atomically).

    ``label_frames`` is unused (accepted for a uniform writer interface). Returns ``[path]``.
    """
    path = check_writable(path, overwrite)
    return _write(divisions_table(result), path, overwrite)


def write_mergers_csv(
    result: TrackingResult,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    label_frames: Sequence[np.ndarray] | None = None,
) -> list[Path]:
    """Write :func:`mergers_table` to the CSV file ``path`` (atomically).

    ``label_frames`` is unused (accepted for a uniform writer interface). Returns ``[path]``.
    """
    path = check_writable(path, overwrite)
    return _write(mergers_table(result), path, overwrite)
