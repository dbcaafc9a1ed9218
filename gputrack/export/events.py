"""ilastik's H5 event sequence: one HDF5 file per frame with its labels and tracking events.

A folder holding ``%05d.h5`` per frame (spec §8.3). The file number is the frame's **time**
``t = result.start + k`` for the ``k``-th label frame (ilastik numbers files by time step too),
so a result tracked from frame 10 on starts with ``00010.h5``. Every label frame gets a file,
also frames without objects.

Layout of each file::

    /segmentation/labels      uint32, gzip; the Object-Identities frame (merger pieces relabelled)
                              in ilastik's axis order (1, x, y, z, 1) with ``axistags`` "txyzc"
    /objects/meta/id          uint32, every non-zero label of the frame (sorted)
    /objects/meta/valid       uint32, ones
    /tracking/<Event>         int32 (N, k), attribute ``Format`` (ilastik's text)

==================  ===  ==========================================================================
event               k    rows (labels; "previous" = frame t - 1, "current" = this file's frame t)
==================  ===  ==========================================================================
``Moves``           2    previous, current: every active link into frame t, division links included
``Splits``          3    parent (previous), child 1, child 2 (current; children in label order)
``Mergers``         2    label (current), object count: detections carrying more than one object
``Appearances``     1    current labels whose objects do not come from frame t - 1
``Disappearances``  1    previous labels whose objects do not continue into frame t
``MultiFrameMoves`` 3    from, to, from-time: links over gaps (never produced: our graphs link
                         consecutive frames only; written empty for completeness)
``ResolvedMergers`` 2    piece label (current), original merger label (segmentation): the pieces
                         merger resolution cut a merged object into (gputrack's addition)
==================  ===  ==========================================================================

Rows are sorted. Appearances and disappearances are events *between* two files, like moves
and splits: the first file has none (its objects start the sequence), and objects still
present in the last frame do not disappear. A merger appearing as one detection carrying
two objects is one ``Appearances`` row (its count is in ``Mergers``).

Differences from ilastik
------------------------
- ``Appearances`` and ``Disappearances`` are filled (ilastik declares but never fills them
  in the conservation-tracking plugin; its manual-tracking event export uses the same
  meaning as here, which is also why a ``Disappearances`` label refers to the previous frame
  although the ``Format`` text, kept verbatim, says "disappeared in current file").
- Every event dataset is written, with shape ``(0, k)`` when empty, so readers need no
  existence checks; ``ilastik_compat=True`` omits empty ones as ilastik does.
- Resolved mergers: the Object-Identities image no longer holds the merged object, only its
  pieces, which are ordinary detections (they move, appear, disappear like any other); so
  ``Mergers`` lists only unresolved mergers (as ilastik, whose resolved graph has none) and
  the new ``ResolvedMergers`` keeps the piece -> original label relation that ilastik drops.
- One file per label frame, also frames without graph nodes (ilastik: frames with nodes).

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from gputrack.tracking import track_labels
>>> lab = np.zeros((3, 16, 16), np.uint16); lab[:, 4:8, 4:8] = 2
>>> out = pathlib.Path(tempfile.mkdtemp()) / "events"
>>> [p.name for p in write_h5_events(track_labels(lab), out)]
['00000.h5', '00001.h5', '00002.h5']
>>> read_h5_events(out)[1]["Moves"].tolist()
[[2, 2]]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError, MissingInputError
from ..io.atomic import atomic_output, check_writable
from ..io.axes import make_axistags, parse_axistags, transpose_axes
from ..tracking.result import TrackingResult

__all__ = ["EVENT_COLUMNS", "EVENT_FORMATS", "h5_events", "read_h5_events", "write_h5_events"]

EVENT_COLUMNS = {
    "Moves": 2,
    "Splits": 3,
    "Mergers": 2,
    "Appearances": 1,
    "Disappearances": 1,
    "MultiFrameMoves": 3,
    "ResolvedMergers": 2,
}
"""Event datasets under ``/tracking`` and their number of columns."""

EVENT_FORMATS = {
    "Moves": "from (previous file), to (current file)",
    "Splits": "ancestor (previous file), descendant (current file), descendant (current file)",
    "Mergers": "descendant (current file), number of objects",
    "Appearances": "cell label appeared in current file",
    "Disappearances": "cell label disappeared in current file",
    "MultiFrameMoves": "from (given by timestep), to (current file), timestep",
    "ResolvedMergers": "descendant (current file), merger label (segmentation)",
}
"""The ``Format`` attribute of each event dataset (ilastik's texts; ResolvedMergers is ours)."""


def _group(times: np.ndarray, rows: np.ndarray, first: int, last: int) -> dict[int, np.ndarray]:
    """Rows split by time (only times first..last), each block sorted lexicographically."""
    keep = (times >= first) & (times <= last)
    times, rows = times[keep], rows[keep]
    order = np.lexsort((*rows.T[::-1], times))
    times, rows = times[order], rows[order]
    bounds = np.searchsorted(times, np.arange(first, last + 2))
    return {first + j: rows[bounds[j]:bounds[j + 1]] for j in range(last - first + 1)}


def h5_events(result: TrackingResult, n_frames: int | None = None) -> dict[int, dict[str, np.ndarray]]:
    """Tracking events per frame time, as written to the event files (module docstring).

    Parameters
    ----------
    result : TrackingResult
    n_frames : int, optional
        Number of frames from ``result.start`` (default: up to the last detection).

    Returns
    -------
    dict
        time -> {event name -> (N, k) int64 array}, for every time
        ``result.start .. result.start + n_frames - 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from gputrack.tracking import track_labels
    >>> lab = np.zeros((2, 16, 16), np.uint16); lab[0, 4:8, 4:8] = 3; lab[1, 5:9, 4:8] = 7
    >>> h5_events(track_labels(lab))[1]["Moves"].tolist()
    [[3, 7]]
    """
    sol = result.solution
    g = sol.graph
    det = g.detections
    t = np.asarray(g.t, np.int64)
    label = det["label"].to_numpy(np.int64)
    first = int(result.start)
    if n_frames is None:
        n_frames = int(t.max()) - first + 1 if t.size else 0
    last = first + int(n_frames) - 1

    active = sol.link_value > 0
    src, dst = np.asarray(g.src)[active], np.asarray(g.dst)[active]
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "Moves": (t[dst], np.stack([label[src], label[dst]], axis=1))}

    divides = np.flatnonzero(sol.division)
    on_div = np.isin(src, divides)
    dsrc, dlab = src[on_div], label[dst[on_div]]
    order = np.lexsort((dlab, dsrc))
    dsrc, dlab = dsrc[order], dlab[order]
    counts = np.bincount(dsrc, minlength=g.n_nodes)[divides]
    if np.any(counts != 2):
        i = int(divides[np.flatnonzero(counts != 2)[0]])
        raise InputError(f"tracking result: division of (t={int(t[i])}, label={int(label[i])}) has "
                         f"{int(np.bincount(dsrc, minlength=g.n_nodes)[i])} active children, expected 2")
    parts["Splits"] = (t[divides] + 1,
                       np.stack([label[divides], dlab[0::2], dlab[1::2]], axis=1).reshape(-1, 3))

    merged = np.flatnonzero(sol.count > 1)
    parts["Mergers"] = (t[merged], np.stack([label[merged], sol.count[merged]], axis=1))
    app = np.flatnonzero((sol.appearance > 0) & (t > first))
    parts["Appearances"] = (t[app], label[app][:, None])
    dis = np.flatnonzero(sol.disappearance > 0)
    parts["Disappearances"] = (t[dis] + 1, label[dis][:, None])
    parts["MultiFrameMoves"] = (np.zeros(0, np.int64), np.zeros((0, 3), np.int64))
    pieces = np.zeros(0, np.int64)
    merger = np.zeros(g.n_nodes, np.int64)
    if "merger_label" in det.columns:
        merger = det["merger_label"].to_numpy(np.int64)
        pieces = np.flatnonzero(merger > 0)
    parts["ResolvedMergers"] = (t[pieces], np.stack([label[pieces], merger[pieces]], axis=1))

    grouped = {name: _group(tt, np.asarray(rows, np.int64).reshape(-1, EVENT_COLUMNS[name]), first, last)
               for name, (tt, rows) in parts.items()}
    return {tt: {name: grouped[name][tt] for name in EVENT_COLUMNS} for tt in range(first, last + 1)}


def _checked_frames(result: TrackingResult, label_frames) -> list[np.ndarray]:
    """The label frames, checked to hold every detection of the result."""
    frames = result.frames() if label_frames is None else [np.asarray(f) for f in label_frames]
    if not frames:
        raise InputError("tracking result: no label frames; expected one label image per frame")
    shapes = {f.shape for f in frames}
    if len(shapes) != 1 or frames[0].ndim not in (2, 3):
        raise InputError(f"label frames: expected 2D or 3D frames of one shape, got shapes {sorted(shapes)}")
    det = result.detections
    t = det["t"].to_numpy(np.int64)
    label = det["label"].to_numpy(np.int64)
    start = int(result.start)
    if t.size and (t.min() < start or t.max() >= start + len(frames)):
        raise InputError(f"label frames: {len(frames)} frames from t={start} do not cover the detections "
                         f"(t={int(t.min())}..{int(t.max())})")
    for k, frame in enumerate(frames):
        want = label[t == start + k]
        missing = want[~np.isin(want, np.unique(frame))]
        if missing.size:
            raise InputError(f"label frames: frame t={start + k} lacks detection label(s) "
                             f"{missing[:5].tolist()}; pass the result's Object-Identities frames")
    return frames


def _to_ilastik(frame: np.ndarray) -> np.ndarray:
    src = "yx" if frame.ndim == 2 else "zyx"
    return np.ascontiguousarray(transpose_axes(frame, src, "txyzc"), dtype=np.uint32)


def write_h5_events(
    result: TrackingResult,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    label_frames: Sequence[np.ndarray] | None = None,
    ilastik_compat: bool = False,
) -> list[Path]:
    """Write the H5 event sequence (module docstring) into the folder ``path``, atomically.

    Parameters
    ----------
    result : TrackingResult
    path : output folder (created; must not exist unless ``overwrite``)
    overwrite : replace an existing folder
    label_frames : sequence of (z,) y, x arrays, optional
        Object identities, frame ``k`` at time ``result.start + k``; default ``result.frames()``.
    ilastik_compat : omit empty event datasets, as ilastik does.

    Returns
    -------
    list of Path : the files written, in time order.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and not ``overwrite`` (nothing is written).
    InputError
        If there are no label frames, or they do not hold the result's detections.
    """
    path = check_writable(path, overwrite)
    frames = _checked_frames(result, label_frames)
    events = h5_events(result, len(frames))
    start = int(result.start)
    axistags = make_axistags("txyzc")
    names = [f"{start + k:05d}.h5" for k in range(len(frames))]
    with atomic_output(path, overwrite=overwrite, directory=True) as tmp:
        for k, frame in enumerate(frames):
            with h5py.File(tmp / names[k], "w") as f:
                labels = _to_ilastik(frame)
                ds = f.create_dataset("segmentation/labels", data=labels, compression="gzip")
                ds.attrs["axistags"] = axistags
                ids = np.unique(labels)
                ids = ids[ids > 0].astype(np.uint32)
                f.create_dataset("objects/meta/id", data=ids, dtype=np.uint32)
                f.create_dataset("objects/meta/valid", data=np.ones(ids.shape, np.uint32))
                group = f.create_group("tracking")
                for name, rows in events[start + k].items():
                    if ilastik_compat and (rows.shape[0] == 0 or name == "ResolvedMergers"):
                        continue
                    ds = group.create_dataset(name, data=rows.astype(np.int32), dtype=np.int32)
                    ds.attrs["Format"] = EVENT_FORMATS[name]
    return [path / n for n in names]


def _natural_labels(ds: h5py.Dataset) -> np.ndarray:
    data = ds[()]
    if "axistags" in ds.attrs:
        axes = parse_axistags(ds.attrs["axistags"])
    else:
        axes = {5: "txyzc", 4: "xyzc", 3: "xyz", 2: "xy"}.get(data.ndim)
        if axes is None:
            raise InputError(f"{ds.file.filename}: /segmentation/labels has {data.ndim} axes and no axistags")
    zyx = transpose_axes(data, axes, "zyx")
    return zyx[0] if zyx.shape[0] == 1 else zyx


def read_h5_events(folder: str | os.PathLike) -> dict[int, dict[str, np.ndarray]]:
    """Read an H5 event sequence (ours or ilastik's) back.

    Parameters
    ----------
    folder : the folder of ``%05d.h5`` files

    Returns
    -------
    dict
        time (from the file name) -> {``"labels"``: the label frame as (y, x) or (z, y, x)
        (y, x when the file has one z plane), ``"ids"``, ``"valid"``, and every event name of
        :data:`EVENT_COLUMNS` -> (N, k) int64 array (empty when the file lacks it)}.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingInputError(f"{folder}: H5 event folder not found")
    files = sorted(p for p in folder.glob("*.h5") if p.stem.isdigit())
    if not files:
        raise InputError(f"{folder}: no H5 event files (%05d.h5) found")
    out: dict[int, dict[str, np.ndarray]] = {}
    for p in files:
        with h5py.File(p, "r") as f:
            if "segmentation/labels" not in f:
                raise InputError(f"{p}: not an H5 event file (no /segmentation/labels)")
            frame = {"labels": _natural_labels(f["segmentation/labels"]),
                     "ids": f["objects/meta/id"][()].astype(np.int64) if "objects/meta/id" in f
                     else np.zeros(0, np.int64),
                     "valid": f["objects/meta/valid"][()] if "objects/meta/valid" in f
                     else np.zeros(0, np.uint32)}
            group = f["tracking"] if "tracking" in f else {}
            for name, k in EVENT_COLUMNS.items():
                rows = group[name][()] if name in group else np.zeros((0, k))
                frame[name] = np.asarray(rows, np.int64).reshape(-1, k)
            out[int(p.stem)] = frame
    return out
