"""Tracking exports: Cell Tracking Challenge folder, ilastik's tracking table (CSV), result images.

All read a :class:`gputrack.tracking.TrackingResult` (from
:func:`gputrack.tracking.track_labels` or :func:`gputrack.tracking.load_result`) and never re-solve.

Ids: track and lineage ids start at 1 (CTC's convention) and false detections (objects the
tracker switched off) have -1 in tables and 0 in images. ``ilastik_compat=True`` gives ilastik's
numbering instead: ids from 2, false detections 1 in images (spec §4.11, §4.12).

Tracking table (:func:`tracking_table`, :func:`tracking_csv`), one row per detection sorted by
frame and label, in ilastik's tracking table layout (spec §8.1):

=============================  ===========================================================
``object_id``                  running index from 0
``timestep``                   frame
``labelimage_oid``             label in the Object-Identities image (merger pieces: new label)
``lineageId``, ``trackId``     ids (-1 for false detections)
``parentTrackId``              track id of the division parent on a daughter track, else 0
``mergerLabelId``              original label of a resolved merger piece, else 0
``Center_of_the_object_<k>``   centre in x, y[, z] order (pixels); floats, truncated to
                               integers only with ``ilastik_compat`` (ilastik's quirk)
``Size_in_pixels``             object size, when known
=============================  ===========================================================

Examples
--------
>>> import numpy as np
>>> from gputrack.tracking import track_labels
>>> lab = np.zeros((3, 16, 16), np.uint16); lab[:, 4:8, 4:8] = 2
>>> tracking_table(track_labels(lab))[["timestep", "labelimage_oid", "trackId"]].values.tolist()
[[0, 2, 1], [1, 2, 1], [2, 2, 1]]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.atomic import atomic_output, check_writable
from ..tracking.lineage import relabel, write_ctc_result
from ..tracking.result import TrackingResult
from .objects import ilastik_table

__all__ = ["IMAGE_NAMES", "result_images", "tracking_csv", "tracking_table", "write_ctc",
           "write_result_images"]

IMAGE_NAMES = ("Tracking-Result", "Object-Identities", "Merger-Result")
"""Names of the result images (ilastik's export sources, spec §4.12)."""


def _frames(result: TrackingResult, label_frames) -> list[np.ndarray]:
    if label_frames is not None:
        return [np.asarray(f) for f in label_frames]
    return result.frames()


def write_ctc(
    result: TrackingResult,
    folder: str | os.PathLike,
    *,
    label_frames: Sequence[np.ndarray] | None = None,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Write a CTC result folder: ``maskTTT.tif`` (uint16, pixel = track id) and ``res_track.txt``.

    3D frames are written as multi-page TIFFs in (z, y, x) page order (ilastik writes pages
    along x: a quirk not copied). Wraps :func:`gputrack.tracking.write_ctc_result`.

    Parameters
    ----------
    result : TrackingResult
    folder : output folder (e.g. ``01_RES``)
    label_frames : sequence of arrays, optional
        Object identities; default ``result.label_frames`` (or its ``label_path``).
    overwrite : replace an existing folder

    Returns
    -------
    DataFrame : the track table written (``label, begin, end, parent``).
    """
    frames = _frames(result, label_frames)
    return write_ctc_result(result.solution, frames, folder, overwrite=overwrite)


def tracking_table(result: TrackingResult, *, ilastik_compat: bool = False) -> pd.DataFrame:
    """ilastik's tracking table (module docstring) as a DataFrame.

    Parameters
    ----------
    result : TrackingResult
    ilastik_compat : bool
        Ids from 2 and centres truncated to integers, as ilastik writes them.
    """
    det = result.detections
    lin = result.lineage
    if len(lin) != len(det) or not np.array_equal(lin["label"].to_numpy(), det["label"].to_numpy()):
        raise InputError("tracking result: lineage table and detections do not match row for row")
    shape = det.attrs.get("shape", (1,))
    is3d = len(shape) == 3 and int(shape[0]) > 1
    feats = {"t": det["t"].to_numpy(), "label": det["label"].to_numpy()}
    for k, c in enumerate(("x", "y", "z") if is3d else ("x", "y")):
        feats[f"RegionCenter_{k}"] = det[c].to_numpy(np.float64)
    if "size" in det.columns:
        feats["Count"] = det["size"].to_numpy()
    base = ilastik_table(pd.DataFrame(feats), ilastik_compat=ilastik_compat)
    order = np.lexsort((det["label"].to_numpy(), det["t"].to_numpy()))
    shift = 1 if ilastik_compat else 0
    track = lin["track_id"].to_numpy(np.int64)[order]
    lineage = lin["lineage_id"].to_numpy(np.int64)[order]
    parent = lin["parent_track"].to_numpy(np.int64)[order]
    # parentTrackId only on the first frame of a daughter track
    first = np.ones(track.size, bool)
    seen: set[int] = set()
    for r in range(track.size):
        if track[r] in seen:
            first[r] = False
        else:
            seen.add(int(track[r]))
    merger = np.zeros(track.size, np.int64)
    if "merger_label" in lin:
        merger = lin["merger_label"].to_numpy(np.int64)[order]
    ids = {
        "lineageId": np.where(lineage >= 0, lineage + shift, -1),
        "trackId": np.where(track >= 0, track + shift, -1),
        "parentTrackId": np.where((parent > 0) & first & (track >= 0), parent + shift, 0),
        "mergerLabelId": merger,
    }
    cols = list(base.columns)
    out = base[cols[:3]].copy()
    for name, v in ids.items():
        out[name] = v
    for c in cols[3:]:
        out[c] = base[c].to_numpy()
    return out


def tracking_csv(
    path: str | os.PathLike,
    result: TrackingResult,
    *,
    ilastik_compat: bool = False,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Write :func:`tracking_table` as CSV (atomically); returns the table written.

    Floats are written with the shortest representation that reads back exactly.
    """
    path = check_writable(path, overwrite)
    table = tracking_table(result, ilastik_compat=ilastik_compat)
    with atomic_output(path, overwrite=overwrite) as tmp:
        table.to_csv(tmp, index=False, lineterminator="\n")
    return table


def result_images(
    result: TrackingResult,
    label_frames: Sequence[np.ndarray] | None = None,
    *,
    by: str = "lineage",
    ilastik_compat: bool = False,
) -> dict[str, list[np.ndarray]]:
    """The tracking applet's output images (spec §4.12), one uint32 array per frame each.

    - ``Tracking-Result``: every object painted with its lineage id (``by="lineage"``, as
      ilastik) or track id (``by="track"``); false detections 0 (1 under ``ilastik_compat``).
    - ``Object-Identities``: the label image the detections refer to (merger pieces relabelled).
    - ``Merger-Result``: the id of ``Tracking-Result`` on resolved merger pieces (and on
      unresolved mergers, count > 1), 0 elsewhere.

    Parameters
    ----------
    result : TrackingResult
    label_frames : sequence of arrays, optional
        Object identities (default: those of ``result``).
    by : {"lineage", "track"}
    ilastik_compat : ids from 2, false detections 1.

    Returns
    -------
    dict name -> list of arrays
    """
    frames = _frames(result, label_frames)
    shift = 1 if ilastik_compat else 0
    tracking = relabel(result.solution, frames, by=by, start=result.start, first_id=1 + shift,
                       false_detection=1 if ilastik_compat else 0, dtype=np.uint32)
    lin = result.lineage
    merged = (lin["merger_label"].to_numpy() > 0) if "merger_label" in lin else np.zeros(len(lin), bool)
    merged |= lin["count"].to_numpy() > 1
    merger_images = []
    for k, (frame, painted) in enumerate(zip(frames, tracking)):
        sel = merged & (lin["t"].to_numpy() == result.start + k)
        labels = lin["label"].to_numpy()[sel]
        keep = np.isin(frame, labels) if labels.size else np.zeros(frame.shape, bool)
        merger_images.append(np.where(keep, painted, 0).astype(np.uint32))
    identities = [np.asarray(f).astype(np.uint32) for f in frames]
    return {"Tracking-Result": tracking, "Object-Identities": identities, "Merger-Result": merger_images}


def write_result_images(
    folder: str | os.PathLike,
    result: TrackingResult,
    label_frames: Sequence[np.ndarray] | None = None,
    *,
    names: Sequence[str] = IMAGE_NAMES,
    by: str = "lineage",
    ilastik_compat: bool = False,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write result images as ``<folder>/<name>.h5`` (dataset ``data``, axes ``t[z]yx``), atomically.

    Returns
    -------
    dict name -> path written
    """
    unknown = [n for n in names if n not in IMAGE_NAMES]
    if unknown:
        raise InputError(f"result images: unknown name(s) {unknown}; expected some of {list(IMAGE_NAMES)}")
    import h5py

    images = result_images(result, label_frames, by=by, ilastik_compat=ilastik_compat)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names:
        path = check_writable(folder / f"{name}.h5", overwrite)
        stack = np.stack(images[name])
        with atomic_output(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
            ds = f.create_dataset("data", data=stack, compression="gzip", chunks=(1, *stack.shape[1:]))
            ds.attrs["axes"] = "tyx" if stack.ndim == 3 else "tzyx"
            ds.attrs["start"] = int(result.start)
        out[name] = path
    return out
