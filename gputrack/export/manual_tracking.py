"""Exports of manual-tracking annotations (:mod:`gputrack.tracking.annotation`).

- :func:`divisions_table` / :func:`write_divisions_csv` and :func:`mergers_table` /
  :func:`write_mergers_csv`: ilastik's annotation CSVs (spec §7; columns of
  :mod:`gputrack.export.manual_csv`) with the annotation's own track ids. A one-child
  division has ``track_id_child2 = 0``.
- :func:`write_ctc_annotations`: a CTC folder, ground truth (``TRA/man_trackTTT.tif`` +
  ``man_track.txt``) or result (``maskTTT.tif`` + ``res_track.txt``); pixel = track id. A
  track with a gap in time becomes one CTC track per piece, each piece the child of the one
  before (the CTC's gap link). Mergers and misdetections cannot be written as CTC masks: a
  merger is refused, misdetections and unannotated objects become background.
- :func:`write_h5_events` and :func:`write_geff`: the writers of :mod:`gputrack.export.events`
  and :mod:`gputrack.export.geff` on :func:`gputrack.tracking.annotation.to_result`.

Examples
--------
>>> import numpy as np
>>> from gputrack.tracking.annotation import Annotations, add_division, assign, new_track
>>> ann = Annotations(); k = new_track(ann); assign(ann, k, 0, 1); add_division(ann, k, 0, [2, 3])
(2, 3)
>>> divisions_table(ann).values.tolist()
[[0, 1, 2, 3]]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.atomic import check_writable
from ..tracking.annotation import MISDETECTION, Annotations, check_annotations, to_result, track_objects
from .manual_csv import DIVISION_COLUMNS, MERGER_COLUMNS, _write

__all__ = ["ctc_annotation_tables", "divisions_table", "mergers_table", "write_ctc_annotations",
           "write_divisions_csv", "write_geff", "write_h5_events", "write_mergers_csv"]


def divisions_table(ann: Annotations) -> pd.DataFrame:
    """``timestep_parent, track_id_parent, track_id_child1, track_id_child2`` (children ascending)."""
    rows = []
    for parent, (c1, c2, tp) in ann.divisions.items():
        kids = sorted(c for c in (c1, c2) if c) + [0] * (2 - len([c for c in (c1, c2) if c]))
        rows.append((int(tp), int(parent), *kids))
    rows.sort()
    return pd.DataFrame(rows, columns=list(DIVISION_COLUMNS), dtype=np.int64)


def mergers_table(ann: Annotations) -> pd.DataFrame:
    """``timestep, object_id, track_ids``: every object holding more than one track (ids joined by ``;``)."""
    rows = [(t, label, ";".join(str(k) for k in sorted(ids))) for t, label, ids in ann.objects()
            if len(ids - {MISDETECTION}) > 1]
    return pd.DataFrame(rows, columns=list(MERGER_COLUMNS)).astype(
        {"timestep": np.int64, "object_id": np.int64, "track_ids": str})


def write_divisions_csv(ann: Annotations, path: str | os.PathLike, *, overwrite: bool = False) -> list[Path]:
    """Write :func:`divisions_table` to ``path`` (atomically); returns ``[path]``."""
    path = check_writable(path, overwrite)
    return _write(divisions_table(ann), path, overwrite)


def write_mergers_csv(ann: Annotations, path: str | os.PathLike, *, overwrite: bool = False) -> list[Path]:
    """Write :func:`mergers_table` to ``path`` (atomically); returns ``[path]``."""
    path = check_writable(path, overwrite)
    return _write(mergers_table(ann), path, overwrite)


def ctc_annotation_tables(ann: Annotations,
                          label_frames: Sequence[np.ndarray]) -> tuple[list[np.ndarray], pd.DataFrame]:
    """CTC masks (pixel = CTC track id) and the ``label, begin, end, parent`` table of ``ann``.

    Track ids are kept; the second and later pieces of a track with gaps get new ids above
    every track id (parent = the previous piece). Raises for mergers.
    """
    problems = check_annotations(ann)
    if problems:
        raise InputError(f"annotations: {problems[0]}")
    for t, label, ids in ann.objects():
        if len(ids - {MISDETECTION}) > 1:
            raise InputError(f"annotations: object {label} at t={t} is a merger of tracks "
                             f"{sorted(ids)}; CTC masks hold one track per object")
    tracks = sorted({k for _, _, ids in ann.objects() for k in ids if k > 0})
    next_id = max([*tracks, *ann.divisions, 0]) + 1
    parent_of = {c: p for p, (c1, c2, _) in ann.divisions.items() for c in (c1, c2) if c}
    pieces: dict[int, list[tuple[int, dict[int, int]]]] = {}   # track -> [(ctc id, {t: label})]
    for k in tracks:
        objs = track_objects(ann, k)
        runs: list[dict[int, int]] = []
        for t in sorted(objs):
            if runs and t == max(runs[-1]) + 1:
                runs[-1][t] = objs[t]
            else:
                runs.append({t: objs[t]})
        out = []
        for i, run in enumerate(runs):
            if i == 0:
                out.append((k, run))
            else:
                out.append((next_id, run))
                next_id += 1
        pieces[k] = out
    if next_id - 1 > np.iinfo(np.uint16).max:
        raise InputError("annotations: more than 65535 CTC tracks do not fit uint16 masks")
    luts = [dict() for _ in range(len(label_frames))]
    rows = []
    for k, runs in pieces.items():
        for i, (cid, run) in enumerate(runs):
            if i > 0:
                parent = runs[i - 1][0]
            else:
                p = parent_of.get(k, 0)
                parent = pieces[p][-1][0] if p in pieces else 0
            rows.append((cid, min(run), max(run), parent))
            for t, label in run.items():
                if t >= len(label_frames):
                    raise InputError(f"annotations: object {label} at t={t} is after the last label frame")
                luts[t][label] = cid
    masks = []
    for t, frame in enumerate(label_frames):
        frame = np.asarray(frame)
        lut = np.zeros(int(frame.max()) + 1 if frame.size else 1, np.uint16)
        for label, cid in luts[t].items():
            if label < lut.size:
                lut[label] = cid
        masks.append(lut[frame])
    table = pd.DataFrame(sorted(rows), columns=["label", "begin", "end", "parent"], dtype=np.int64)
    return masks, table


def write_ctc_annotations(ann: Annotations, label_frames: Sequence[np.ndarray], folder: str | os.PathLike, *,
                          ground_truth: bool = True, overwrite: bool = False) -> pd.DataFrame:
    """Write ``ann`` as a CTC folder: ``folder/TRA`` ground truth, or a result folder; returns the table."""
    from ..io.ctc import write_ctc

    masks, table = ctc_annotation_tables(ann, label_frames)
    folder = Path(folder)
    if ground_truth:
        write_ctc(folder / "TRA", masks, table, overwrite=overwrite, prefix="man_track",
                  track_file="man_track.txt")
    else:
        write_ctc(folder, masks, table, overwrite=overwrite)
    return table


def write_h5_events(ann: Annotations, label_frames: Sequence[np.ndarray], path: str | os.PathLike, *,
                    overwrite: bool = False) -> list[Path]:
    """ilastik's H5 event sequence (:func:`gputrack.export.events.write_h5_events`) of ``ann``."""
    from .events import write_h5_events as write

    return write(to_result(ann, label_frames), path, overwrite=overwrite, label_frames=label_frames)


def write_geff(ann: Annotations, label_frames: Sequence[np.ndarray], path: str | os.PathLike, *,
               overwrite: bool = False, scales: Sequence[float] | None = None) -> list[Path]:
    """A geff graph (:func:`gputrack.export.geff.write_geff`) of ``ann``; nodes carry its track ids."""
    from .geff import write_geff as write

    return write(to_result(ann, label_frames, scales=scales or (1.0, 1.0, 1.0)), path, overwrite=overwrite,
                 label_frames=label_frames)
