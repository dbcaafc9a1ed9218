"""Tracking with learning from files: annotations (CTC GT, ilastik or gputrack project) -> weights JSON."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError, MissingInputError

PathLike = str | os.PathLike


def read_annotations(source: PathLike, labels: PathLike | None = None, label_axes: str | None = None):
    """Annotations and the label frames they refer to, from a CTC GT folder or a gputrack project file.

    Returns ``(annotations, label_frames)``. A CTC GT's frames default to its TRA masks; a
    project file needs ``labels``.
    """
    from ..tracking.annotation import read_ctc_annotations
    from .tracking import read_frames_of

    source = Path(source)
    if not source.exists():
        raise MissingInputError(f"{source}: annotations not found")
    if source.is_dir():
        ann, tra = read_ctc_annotations(source)
        frames = list(tra) if labels is None else list(read_frames_of(labels, label_axes))
        return ann, frames
    from ..project import load_annotations

    ann = load_annotations(source)
    if labels is None:
        raise InputError(f"{source}: give --labels, the label frames the annotations refer to")
    return ann, list(read_frames_of(labels, label_axes))


def learn_file(
    annotations: PathLike,
    out: PathLike,
    *,
    labels: PathLike | None = None,
    label_axes: str | None = None,
    frames: Sequence[int] | None = None,
    solver: str = "ilp",
    c: float = 1.0,
    max_rounds: int = 100,
    overwrite: bool = False,
):
    """Learn the five weights from ``annotations`` and write them (with the report) to ``out``.

    ``annotations`` is a CTC ground-truth folder, an ilastik ``.ilp`` (its TrackingAnnotations,
    crops, objects and classifiers) or a gputrack project file with annotations (then
    ``labels`` names the label frames). ``frames``: learn from ``(first, last)`` only.
    """
    from ..io.atomic import check_writable
    from ..tracking.learning import learn_weights, save_weights, training_problem

    check_writable(out, overwrite)
    kw = {"solver": solver, "c": c, "max_rounds": max_rounds}
    if str(annotations).lower().endswith(".ilp"):
        from .ilastik_tracking import learn_from_ilp

        learned, _, _ = learn_from_ilp(annotations, **kw)
    else:
        ann, label_frames = read_annotations(annotations, labels, label_axes)
        crops = [{"time": (int(frames[0]), int(frames[1]))}] if frames else None
        learned = learn_weights(training_problem(label_frames, ann, crops=crops), **kw)
    save_weights(out, learned, overwrite=overwrite, extra={"annotations": str(annotations)})
    return learned
