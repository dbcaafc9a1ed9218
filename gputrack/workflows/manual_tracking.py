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
