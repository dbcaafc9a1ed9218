"""Manual tracking from files: import annotations into a project file, export them in every format."""

from __future__ import annotations

import os

from ..errors import InputError

PathLike = str | os.PathLike

FORMATS = ("ctc-gt", "ctc", "divisions-csv", "mergers-csv", "h5-events", "geff")
"""Export formats of :func:`export_annotations`."""


def import_annotations(source: PathLike, project: PathLike, *, lane: int = 0):
    """Store the annotations of a CTC GT folder or an ilastik ``.ilp`` in the project file ``project``."""
    from ..project import save_annotations
    from ..tracking.annotation import from_ilp, read_ctc_annotations

    if str(source).lower().endswith(".ilp"):
        ann = from_ilp(source, lane)
    else:
        ann, _ = read_ctc_annotations(source)
    save_annotations(project, ann)
    return ann


def export_annotations(project: PathLike, labels: PathLike, fmt: str, out: PathLike, *,
                       label_axes: str | None = None, overwrite: bool = False):
    """Write a project's annotations on the label frames ``labels`` as ``fmt`` (:data:`FORMATS`)."""
    from ..export import manual_tracking as mt
    from ..project import load_annotations
    from .tracking import read_frames_of

    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    ann = load_annotations(project)
    if fmt == "divisions-csv":
        return mt.write_divisions_csv(ann, out, overwrite=overwrite)
    if fmt == "mergers-csv":
        return mt.write_mergers_csv(ann, out, overwrite=overwrite)
    frames = list(read_frames_of(labels, label_axes))
    if fmt in ("ctc-gt", "ctc"):
        return mt.write_ctc_annotations(ann, frames, out, ground_truth=fmt == "ctc-gt", overwrite=overwrite)
    if fmt == "h5-events":
        return mt.write_h5_events(ann, frames, out, overwrite=overwrite)
    return mt.write_geff(ann, frames, out, overwrite=overwrite)


def extend_in_project(project: PathLike, labels: PathLike, track: int | None, *,
                      start: tuple[int, int] | None = None, window: int | tuple[int, ...] = 40,
                      last: int | None = None, ilastik_compat: bool = False, label_axes: str | None = None):
    """The semi-automatic step on a project file: extend ``track`` and save the annotations.

    ``track=None`` starts a new track (``start`` is then needed). ``start=(t, label)`` first
    assigns that object to the track (the track's first or a further object). The project is
    created when it does not exist yet and ``start`` is given. Returns ``(extension, annotations)``
    (:func:`gputrack.tracking.annotation.extend_track`).
    """
    from pathlib import Path

    from ..project import load_annotations, save_annotations
    from ..tracking.annotation import Annotations, assign, extend_track, new_track
    from .tracking import read_frames_of

    if start is None and track is None:
        raise InputError("a new track needs its first object: give --from T,LABEL")
    if Path(project).exists() or start is None:
        ann = load_annotations(project)
    else:
        ann = Annotations()
    frames = list(read_frames_of(labels, label_axes))
    if start is not None:
        t, label = (int(v) for v in start)
        if not 0 <= t < len(frames):
            raise InputError(f"--from {t},{label}: frame {t} is not in {labels} ({len(frames)} frames)")
        if label <= 0 or not (frames[t] == label).any():
            raise InputError(f"--from {t},{label}: frame {t} of {labels} has no object {label}")
        track = new_track(ann) if track is None else track
        assign(ann, track, t, label)
    extension = extend_track(ann, track, frames, window=window, last=last, ilastik_compat=ilastik_compat)
    save_annotations(project, ann)
    return extension, ann
