"""Tracking with learning: annotations (CTC GT, ilastik or gputrack project, or in memory) -> weights."""

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
    from ..tracking.learning import save_weights

    check_writable(out, overwrite)
    kw = {"solver": solver, "c": c, "max_rounds": max_rounds}
    if str(annotations).lower().endswith(".ilp"):
        from .ilastik_tracking import learn_from_ilp

        learned, _, _ = learn_from_ilp(annotations, **kw)
    else:
        ann, label_frames = read_annotations(annotations, labels, label_axes)
        learned = learn_annotations(label_frames, ann, frames=frames, **kw)
    save_weights(out, learned, overwrite=overwrite, extra={"annotations": str(annotations)})
    return learned


def learn_annotations(
    label_frames,
    annotations,
    *,
    frames: Sequence[int] | None = None,
    solver: str = "ilp",
    c: float = 1.0,
    max_rounds: int = 100,
):
    """Learn the five weights from annotations of label frames ``(t, [z,] y, x)`` in memory.

    What :func:`learn_file` runs on what it read (the napari manual-tracking widget calls it on
    the annotations made in the viewer). ``frames``: learn from ``(first, last)`` only.
    Returns :class:`~gputrack.tracking.learning.LearnedWeights`.

    Examples
    --------
    >>> import numpy as np
    >>> from gputrack.tracking.annotation import from_ctc
    >>> lab = np.zeros((4, 40, 40), np.uint16)
    >>> for t in range(4):
    ...     lab[t, 5:10, 5 + 2 * t:10 + 2 * t] = 1; lab[t, 25:30, 30 - 2 * t:35 - 2 * t] = 2
    >>> ann = from_ctc(lab, np.array([[1, 0, 3, 0], [2, 0, 3, 0]]))
    >>> learn_annotations(lab, ann).loss
    0
    """
    from ..tracking.learning import learn_weights, training_problem

    if next(iter(annotations.objects()), None) is None:
        raise InputError("no annotations to learn from: annotate tracks first")
    crops = [{"time": (int(frames[0]), int(frames[1]))}] if frames else None
    return learn_weights(training_problem(label_frames, annotations, crops=crops), solver=solver, c=c,
                         max_rounds=max_rounds)
