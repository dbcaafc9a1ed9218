"""Manual and semi-automatic track annotation: a plain data model and the edits on it (spec §7).

The model is ilastik's manual-tracking state, without any GUI state:

- ``Annotations.labels[t][label]`` is the set of track ids of object ``label`` in frame ``t``
  (``{-1}`` = misdetection, several ids = a merger);
- ``Annotations.divisions[parent]`` is ``(child_1, child_2, t_parent)``: track ``parent``'s
  last object (at ``t_parent``) divides into the first objects (at ``t_parent + 1``) of the two
  child tracks; ``child_2 = 0`` is a parent with one child (a daughter outside the
  segmentation; the Cell Tracking Challenge allows it, ilastik's GUI does not);
- ``Annotations.tracks`` is every started track id (also tracks without objects yet).

API (all functions change ``ann`` in place and raise :class:`gputrack.errors.InputError` with
one line saying which rule an edit breaks):

==========================================  ======================================================
``new_track(ann)``                          start a track: the next free id (ilastik's numbering)
``assign(ann, track, t, label)``            add object ``(t, label)`` to a track (mergers allowed)
``object_at(frames, t, position)``          the label under a pixel position
``assign_at(ann, track, frames, t, pos)``   ``assign`` the object under a pixel position
``mark_misdetection(ann, t, label)``        tag an object as a misdetection (track id -1)
``add_division(ann, parent, t, children)``  the parent's object at ``t`` divides into one or two
                                            objects of ``t + 1``; each child gets a new track
``remove_division(ann, parent)``            undo a division (child tracks keep their objects)
``remove_label(ann, track, t, extent)``     delete a track id on this / all ``"later"`` / all
                                            ``"earlier"`` frames (from ``t``, inclusive)
``remove_track(ann, track)``                delete a track everywhere
``next_unlabelled(ann, frames, after)``     the next object without any annotation
``extend_track(ann, track, frames)``        the semi-automatic step (below); returns an
                                            :class:`Extension` saying what it added and why it
                                            stopped
``track_objects(ann, track)``               ``{t: label}`` of a track
``check_annotations(ann)``                  every broken rule of an imported model, as text
``to_result(ann, frames)``                  the annotation as a :class:`TrackingResult` (for
                                            the exports of :mod:`gputrack.export.manual_tracking`)
``from_ctc(masks, tracks)``, ``read_ctc_annotations(folder)``, ``from_ilp(project)``  import
==========================================  ======================================================

Rules (ilastik's, plus the two that make the model a valid lineage): one object per track per
frame; a misdetection carries no track; a division parent has no object after ``t_parent``;
a child track has no object before ``t_parent + 1`` and its first object is there; a track is
the child of at most one division; labels involved in a division are removed only after the
division.

Semi-automatic step (ilastik's "run automatic tracking for object"): from the track's last
object, frame by frame, the objects of the next frame that overlap the previous object inside
a window of ``window`` pixels per axis (ilastik: 40) are the candidates; the track is extended
while there is exactly one, it overlaps at least ``min_overlap`` (0.2) of the previous object's
pixels in the window and it carries no annotation yet. ilastik keeps the window where the user
clicked for the whole run, so a moving object leaves it after a few frames; here the window
follows the object (centred on the previous object's centre) unless ``ilastik_compat=True``.
ilastik adds the active track to a candidate that already belongs to another track (making a
merger the user did not ask for); here the step stops there and says so.

Examples
--------
>>> import numpy as np
>>> frames = np.zeros((4, 20, 20), np.uint16)
>>> for t in range(4):
...     frames[t, 5:10, 5 + t:10 + t] = 3 + t      # one object drifting right, a new label each frame
>>> ann = Annotations()
>>> k = new_track(ann); assign(ann, k, 0, 3)
>>> ext = extend_track(ann, k, frames)
>>> track_objects(ann, k), ext.reason
({0: 3, 1: 4, 2: 5, 3: 6}, 'reached the last frame (t=3)')
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = [
    "MISDETECTION", "Annotations", "Extension", "add_division", "assign", "assign_at", "check_annotations",
    "extend_track", "from_ctc", "from_ilp", "mark_misdetection", "new_track", "next_unlabelled", "object_at",
    "read_ctc_annotations", "remove_division", "remove_label", "remove_track", "to_result", "track_objects",
]

MISDETECTION = -1
"""The track id of a misdetection (ilastik's ``misdetIdx``)."""


@dataclass
class Annotations:
    """Manual tracking state: object track ids, divisions, started tracks (module docstring).

    Attributes
    ----------
    labels : dict
        ``labels[t][label]`` = set of track ids (``{-1}`` misdetection, > 1 id a merger).
    divisions : dict
        ``divisions[parent_track] = (child_1, child_2, t_parent)`` (``child_2 = 0``: one child).
    tracks : set
        Every started track id.
    """

    labels: dict[int, dict[int, set[int]]] = field(default_factory=dict)
    divisions: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    tracks: set[int] = field(default_factory=set)

    def ids(self, t: int, label: int) -> set[int]:
        """Track ids of object ``(t, label)`` (empty set when unannotated)."""
        return set(self.labels.get(int(t), {}).get(int(label), ()))

    def objects(self) -> Iterable[tuple[int, int, set[int]]]:
        """``(t, label, ids)`` of every annotated object, in time and label order."""
        for t in sorted(self.labels):
            for label in sorted(self.labels[t]):
                if self.labels[t][label]:
                    yield t, label, self.labels[t][label]


@dataclass
class Extension:
    """What :func:`extend_track` did: the objects it added, where and why it stopped."""

    track: int
    added: list[tuple[int, int]]
    stopped_at: int
    reason: str


def _tid(track: int) -> int:
    track = int(track)
    if track == 0 or track < MISDETECTION:
        raise InputError(f"track id {track}: expected a positive id (or -1 for a misdetection)")
    return track


def track_objects(ann: Annotations, track: int) -> dict[int, int]:
    """``{t: label}`` of the objects carrying ``track`` (time order).

    Examples
    --------
    >>> ann = Annotations(); k = new_track(ann); assign(ann, k, 2, 7)
    >>> track_objects(ann, k)
    {2: 7}
    """
    track = int(track)
    out = {}
    for t in sorted(ann.labels):
        for label, ids in ann.labels[t].items():
            if track in ids:
                out[t] = label
    return out


def _parent_of(ann: Annotations, track: int) -> tuple[int, int] | None:
    """``(parent, t_parent)`` of a child track, or None."""
    for parent, (c1, c2, tp) in ann.divisions.items():
        if track in (c1, c2):
            return parent, tp
    return None


def new_track(ann: Annotations) -> int:
    """Start a track: ``max(existing, 0) + 1``, skipping ids that are multiples of 255 or 256 (ilastik).

    Examples
    --------
    >>> ann = Annotations(tracks={1, 254})
    >>> new_track(ann)
    257
    """
    used = set(ann.tracks)
    for frame in ann.labels.values():
        for ids in frame.values():
            used |= ids
    new = max([*used, 0]) + 1
    if new % 255 == 0:
        new += 2
    elif new % 256 == 0:
        new += 1
    ann.tracks.add(new)
    return new


def assign(ann: Annotations, track: int, t: int, label: int) -> None:
    """Add object ``(t, label)`` to ``track`` (an object holding several tracks is a merger).

    Raises
    ------
    InputError
        The object is a misdetection, the track already has another object in frame ``t``,
        the track divided before ``t`` or is a division child starting after ``t``.

    Examples
    --------
    >>> ann = Annotations(); k = new_track(ann); assign(ann, k, 0, 5)
    >>> assign(ann, k, 0, 6)
    Traceback (most recent call last):
    ...
    gputrack.errors.InputError: track 1 already has object 5 in frame 0 (one object per track per frame)
    """
    track, t, label = _tid(track), int(t), int(label)
    if track == MISDETECTION:
        mark_misdetection(ann, t, label)
        return
    if label <= 0:
        raise InputError(f"frame {t}: label {label} is background; expected an object label > 0")
    frame = ann.labels.setdefault(t, {})
    ids = frame.get(label, set())
    if MISDETECTION in ids:
        raise InputError(f"object {label} in frame {t} is a misdetection; it cannot join track {track}")
    if track in ids:
        return
    for other, other_ids in frame.items():
        if track in other_ids:
            raise InputError(f"track {track} already has object {other} in frame {t} "
                             "(one object per track per frame)")
    if track in ann.divisions and t > ann.divisions[track][2]:
        raise InputError(f"track {track} divides at t={ann.divisions[track][2]}; it has no objects after "
                         f"that (frame {t} belongs to its children)")
    parent = _parent_of(ann, track)
    if parent is not None and t <= parent[1]:
        raise InputError(f"track {track} is a child of track {parent[0]}'s division at t={parent[1]}; "
                         f"its objects start at t={parent[1] + 1}, not {t}")
    frame[label] = ids | {track}
    ann.tracks.add(track)


def object_at(label_frames: Sequence[np.ndarray], t: int, position: Sequence[float]) -> int:
    """The label under pixel ``position`` (``(y, x)`` or ``(z, y, x)``) of frame ``t``; 0 = background.

    Examples
    --------
    >>> object_at(np.array([[[0, 4], [0, 0]]]), 0, (0, 1))
    4
    """
    frame = np.asarray(label_frames[int(t)])
    pos = tuple(int(round(float(p))) for p in position)
    if len(pos) != frame.ndim:
        raise InputError(f"position {tuple(position)}: expected {frame.ndim} coordinates for frame {t} "
                         f"of shape {frame.shape}")
    if any(p < 0 or p >= s for p, s in zip(pos, frame.shape)):
        raise InputError(f"position {tuple(position)}: outside frame {t} of shape {frame.shape}")
    return int(frame[pos])


def assign_at(ann: Annotations, track: int, label_frames: Sequence[np.ndarray], t: int,
              position: Sequence[float]) -> int:
    """:func:`assign` the object under a pixel position; returns its label."""
    label = object_at(label_frames, t, position)
    if label == 0:
        raise InputError(f"position {tuple(position)} in frame {t}: no object there (background)")
    assign(ann, track, t, label)
    return label


def mark_misdetection(ann: Annotations, t: int, label: int) -> None:
    """Tag object ``(t, label)`` as a misdetection (track id -1); refused if it belongs to a track."""
    t, label = int(t), int(label)
    ids = ann.labels.setdefault(t, {}).get(label, set())
    tracks = sorted(ids - {MISDETECTION})
    if tracks:
        raise InputError(f"object {label} in frame {t} belongs to track(s) {tracks}; remove them before "
                         "marking it a misdetection")
    ann.labels[t][label] = {MISDETECTION}


def add_division(ann: Annotations, parent: int, t: int, children: Sequence[int],
                 child_tracks: Sequence[int] | None = None) -> tuple[int, ...]:
    """Track ``parent``'s object at ``t`` divides into the objects ``children`` (labels) of ``t + 1``.

    Each child object starts a new track (or joins ``child_tracks``, which must have no object
    before ``t + 1``). One child is allowed (the other daughter is not segmented). Returns the
    child track ids.

    Examples
    --------
    >>> ann = Annotations(); k = new_track(ann); assign(ann, k, 0, 1)
    >>> add_division(ann, k, 0, [4, 5])
    (2, 3)
    >>> ann.divisions
    {1: (2, 3, 0)}
    """
    parent, t = _tid(parent), int(t)
    children = [int(c) for c in children]
    if parent == MISDETECTION:
        raise InputError("a misdetection (track -1) cannot divide")
    if len(children) not in (1, 2) or len(set(children)) != len(children):
        raise InputError(f"division of track {parent}: expected one or two distinct child objects, "
                         f"got {children}")
    objs = track_objects(ann, parent)
    if t not in objs:
        raise InputError(f"division: track {parent} has no object in frame {t} (the parent must carry it)")
    later = [tt for tt in objs if tt > t]
    if later:
        raise InputError(f"division of track {parent} at t={t}: the track continues at t={later[0]}; "
                         "remove its later labels first")
    if parent in ann.divisions:
        raise InputError(f"track {parent} already divides at t={ann.divisions[parent][2]}")
    for c in children:
        ids = ann.ids(t + 1, c)
        if MISDETECTION in ids:
            raise InputError(f"division child: object {c} in frame {t + 1} is a misdetection")
    if child_tracks is None:
        child_tracks = []
        for _ in children:
            child_tracks.append(new_track(ann))
    child_tracks = [_tid(k) for k in child_tracks]
    if len(child_tracks) != len(children):
        raise InputError(f"division: {len(children)} child objects but {len(child_tracks)} child tracks")
    for k in child_tracks:
        if k == parent or _parent_of(ann, k) is not None:
            raise InputError(f"division: track {k} is already a division child (or the parent)")
        early = [tt for tt in track_objects(ann, k) if tt <= t]
        if early:
            raise InputError(f"division: child track {k} has an object at t={early[0]}, before t={t + 1}")
    ann.divisions[parent] = (child_tracks[0], child_tracks[1] if len(child_tracks) > 1 else 0, t)
    try:
        for c, k in zip(children, child_tracks):
            assign(ann, k, t + 1, c)
    except InputError:
        del ann.divisions[parent]
        raise
    return tuple(child_tracks)


def remove_division(ann: Annotations, parent: int) -> None:
    """Undo the division of track ``parent`` (the tracks keep their objects)."""
    if int(parent) not in ann.divisions:
        raise InputError(f"track {parent} has no division")
    del ann.divisions[int(parent)]


def _in_division(ann: Annotations, track: int, t: int) -> int | None:
    for parent, (c1, c2, tp) in ann.divisions.items():
        if (track == parent and t == tp) or (track in (c1, c2) and t == tp + 1):
            return parent
    return None


def remove_label(ann: Annotations, track: int, t: int, extent: str = "this") -> list[int]:
    """Delete ``track`` from its object at ``t`` (``"this"``), at every ``t' >= t`` (``"later"``)
    or every ``t' <= t`` (``"earlier"``); returns the frames changed.

    Refused (nothing changed) where the track is part of a division in one of those frames:
    remove the division first (ilastik's rule).
    """
    track, t = _tid(track), int(t)
    if extent not in ("this", "later", "earlier"):
        raise InputError(f"remove_label: extent must be 'this', 'later' or 'earlier', got {extent!r}")
    objs = track_objects(ann, track)
    if extent == "this":
        if t not in objs:
            raise InputError(f"track {track} has no object in frame {t}")
        frames = [t]
    else:
        frames = [tt for tt in objs if (tt >= t if extent == "later" else tt <= t)]
    for tt in frames:
        parent = _in_division(ann, track, tt)
        if parent is not None:
            raise InputError(f"track {track} at t={tt} is part of track {parent}'s division; "
                             "remove the division first")
    for tt in frames:
        label = objs[tt]
        ann.labels[tt][label].discard(track)
        if not ann.labels[tt][label]:
            del ann.labels[tt][label]
    return frames


def remove_track(ann: Annotations, track: int) -> None:
    """Delete ``track`` everywhere (refused while it takes part in a division)."""
    track = _tid(track)
    for parent, (c1, c2, _) in ann.divisions.items():
        if track in (parent, c1, c2):
            raise InputError(f"track {track} takes part in track {parent}'s division; "
                             "remove the division first")
    objs = track_objects(ann, track)
    if objs:
        remove_label(ann, track, min(objs), "later")
    ann.tracks.discard(track)


def _frame_labels(frame: np.ndarray) -> np.ndarray:
    labels = np.unique(np.asarray(frame))
    return labels[labels > 0].astype(np.int64)


def next_unlabelled(ann: Annotations, label_frames: Sequence[np.ndarray],
                    after: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """The first object after ``(t, label)`` (time, then label order) without any annotation, or None.

    Examples
    --------
    >>> frames = np.array([[[1, 2]], [[3, 0]]])
    >>> ann = Annotations(); assign(ann, new_track(ann), 0, 1)
    >>> next_unlabelled(ann, frames), next_unlabelled(ann, frames, after=(0, 2))
    ((0, 2), (1, 3))
    """
    t0, l0 = (0, 0) if after is None else (int(after[0]), int(after[1]))
    for t in range(max(t0, 0), len(label_frames)):
        done = ann.labels.get(t, {})
        for label in _frame_labels(label_frames[t]).tolist():
            if (t == t0 and label <= l0) or done.get(label):
                continue
            return t, label
    return None


def _window(centre: Sequence[float], shape: Sequence[int], window: Sequence[int]) -> tuple[slice, ...]:
    """ilastik's window: ``[p - w/2, p - w/2 + w)`` per axis, clipped to the frame."""
    out = []
    for p, s, w in zip(centre, shape, window):
        begin = max(0, int(p - w / 2))
        out.append(slice(begin, min(begin + int(w), int(s))))
    return tuple(out)


def _centre(frame: np.ndarray, label: int) -> np.ndarray:
    return np.argwhere(frame == label).mean(axis=0)


def extend_track(
    ann: Annotations,
    track: int,
    label_frames: Sequence[np.ndarray],
    *,
    window: int | Sequence[int] = 40,
    min_overlap: float = 0.2,
    last: int | None = None,
    ilastik_compat: bool = False,
) -> Extension:
    """The semi-automatic step: extend ``track`` from its last object while it is unambiguous.

    Parameters
    ----------
    ann : Annotations
    track : the track to extend (it needs at least one object)
    label_frames : the segmentation, frame ``t`` = ``label_frames[t]``
    window : pixels per axis (one int, or ``(y, x)`` / ``(z, y, x)``); ilastik: 40
    min_overlap : least fraction of the previous object's pixels in the window that the
        candidate must cover (ilastik: 0.2)
    last : last frame to reach (default: the last frame)
    ilastik_compat : keep the window fixed where the track's last object was (ilastik) instead
        of following the object

    Returns
    -------
    Extension
        ``added`` objects ``(t, label)``, ``stopped_at`` (the track's new last frame) and
        ``reason``: ``"2 candidates at t=...: labels [...]"``, ``"no object at t=... overlaps
        ..."``, ``"too little overlap at t=..."``, ``"... already belongs to track(s) ..."``,
        ``"... is a misdetection"``, ``"track ... divides at t=..."`` or ``"reached the last
        frame (t=...)"``.
    """
    track = _tid(track)
    objs = track_objects(ann, track)
    if not objs:
        raise InputError(f"track {track} has no object yet; assign its first object before extending it")
    t, label = max(objs.items())
    end = len(label_frames) - 1 if last is None else min(int(last), len(label_frames) - 1)
    if track in ann.divisions:
        return Extension(track, [], t, f"track {track} divides at t={ann.divisions[track][2]}")
    prev = np.asarray(label_frames[t])
    win = np.broadcast_to(np.asarray(window, np.int64), (prev.ndim,)) if np.ndim(window) == 0 else \
        np.asarray(window, np.int64)
    if win.size != prev.ndim:
        raise InputError(f"window {tuple(np.atleast_1d(window))}: expected one value per axis of the "
                         f"{prev.ndim}D frames")
    box = _window(_centre(prev, label), prev.shape, win)
    added: list[tuple[int, int]] = []
    reason = f"reached the last frame (t={end})"
    while t < end:
        if not ilastik_compat:
            box = _window(_centre(prev, label), prev.shape, win)
        cur = np.asarray(label_frames[t + 1])
        mask = prev[box] == label
        hits = cur[box][mask]
        cand = np.unique(hits[hits > 0])
        if cand.size != 1:
            reason = (f"no object at t={t + 1} overlaps track {track}'s object {label}" if cand.size == 0
                      else f"{cand.size} candidates at t={t + 1}: labels {cand.tolist()}")
            break
        overlap = int(np.count_nonzero(hits))
        if overlap < min_overlap * np.count_nonzero(mask):
            reason = f"too little overlap at t={t + 1} ({overlap} of {int(np.count_nonzero(mask))} pixels)"
            break
        c = int(cand[0])
        ids = ann.ids(t + 1, c)
        if MISDETECTION in ids:
            reason = f"object {c} at t={t + 1} is a misdetection"
            break
        if ids:
            reason = f"object {c} at t={t + 1} already belongs to track(s) {sorted(ids)}"
            break
        try:
            assign(ann, track, t + 1, c)
        except InputError as err:
            reason = str(err)
            break
        added.append((t + 1, c))
        t, label, prev = t + 1, c, cur
    return Extension(track, added, t, reason)


def check_annotations(ann: Annotations) -> list[str]:
    """Every topology rule (module docstring) that ``ann`` breaks, one line each (empty if none)."""
    problems = []
    where: dict[int, dict[int, list[int]]] = {}
    for t, label, ids in ann.objects():
        if MISDETECTION in ids and len(ids) > 1:
            tracks = sorted(ids - {MISDETECTION})
            problems.append(f"object {label} at t={t}: misdetection and track(s) {tracks}")
        for k in ids - {MISDETECTION}:
            where.setdefault(k, {}).setdefault(t, []).append(label)
    for k, frames in sorted(where.items()):
        for t, labels in sorted(frames.items()):
            if len(labels) > 1:
                problems.append(f"track {k}: objects {sorted(labels)} at t={t} "
                                "(one object per track per frame)")
    seen_child: dict[int, int] = {}
    for parent, (c1, c2, tp) in sorted(ann.divisions.items()):
        frames = where.get(parent, {})
        if tp not in frames:
            problems.append(f"division of track {parent} at t={tp}: the parent has no object there")
        if any(t > tp for t in frames):
            problems.append(f"division of track {parent} at t={tp}: the parent continues after it")
        for c in (c1, c2):
            if c == 0:
                continue
            if c in seen_child:
                problems.append(f"track {c}: child of two divisions (tracks {seen_child[c]} and {parent})")
            seen_child[c] = parent
            cf = where.get(c, {})
            if tp + 1 not in cf:
                problems.append(f"division of track {parent}: child track {c} has no object at t={tp + 1}")
            if any(t <= tp for t in cf):
                problems.append(f"division of track {parent}: child track {c} has objects before t={tp + 1}")
    return problems


def _lineage_roots(ann: Annotations) -> dict[int, int]:
    parent_of = {c: p for p, (c1, c2, _) in ann.divisions.items() for c in (c1, c2) if c}
    roots = {}
    for k in ann.tracks | set(parent_of) | set(ann.divisions):
        r, seen = k, {k}
        while r in parent_of and parent_of[r] not in seen:
            r = parent_of[r]
            seen.add(r)
        roots[k] = r
    return roots


def to_result(ann: Annotations, label_frames: Sequence[np.ndarray], *,
              scales: Sequence[float] = (1.0, 1.0, 1.0)):
    """The annotation as a :class:`~gputrack.tracking.TrackingResult` on all objects of ``label_frames``.

    Count = number of tracks (0 for misdetections and unannotated objects); links join the
    objects of one track in consecutive frames (value = tracks shared) and a division parent
    to its children; the lineage table carries the annotation's own track ids (a merger the
    lowest of its ids). Exports of a tracking result then work on annotations
    (:mod:`gputrack.export.manual_tracking`).
    """
    from .detections import detections_from_labels
    from .energies import Energies
    from .graph import HypothesesGraph
    from .result import TrackingResult
    from .solution import Solution

    problems = check_annotations(ann)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"annotations: {problems[0]}{more}")
    det = detections_from_labels(label_frames, scales)
    n = len(det)
    t = det["t"].to_numpy(np.int64)
    label = det["label"].to_numpy(np.int64)
    row = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(t, label))}
    ids = [ann.ids(a, b) - {MISDETECTION} for a, b in zip(t.tolist(), label.tolist())]
    for tt, lab, _ in ann.objects():
        if (tt, lab) not in row:
            raise InputError(f"annotations: object {lab} at t={tt} is not in the label frames")
    count = np.array([len(s) for s in ids], np.int64)
    links: dict[tuple[int, int], int] = {}
    for k in sorted({k for s in ids for k in s}):
        objs = track_objects(ann, k)
        for a in objs:
            if a + 1 in objs:
                key = (row[(a, objs[a])], row[(a + 1, objs[a + 1])])
                links[key] = links.get(key, 0) + 1
    division = np.zeros(n, bool)
    for parent, (c1, c2, tp) in ann.divisions.items():
        p = row[(tp, track_objects(ann, parent)[tp])]
        kids = [c for c in (c1, c2) if c]
        for c in kids:
            links[(p, row[(tp + 1, track_objects(ann, c)[tp + 1])])] = 1
        division[p] = len(kids) == 2
    pairs = sorted(links)
    src = np.array([a for a, _ in pairs], np.int64)
    dst = np.array([b for _, b in pairs], np.int64)
    value = np.array([links[p] for p in pairs], np.int64)
    inflow = np.bincount(dst, weights=value, minlength=n).astype(np.int64)
    outflow = np.bincount(src, weights=value, minlength=n).astype(np.int64)
    pos = det[["z", "y", "x"]].to_numpy(np.float64) * np.asarray(scales, np.float64)
    dist = np.linalg.norm(pos[src] - pos[dst], axis=1) if src.size else np.zeros(0)
    graph = HypothesesGraph(det, t, pos, src, dst, dist, tuple(float(s) for s in scales))
    m = max(1, int(count.max()) if n else 1)
    zeros = np.zeros((n, m + 1))
    energies = Energies(zeros, zeros.copy(), zeros.copy(), np.zeros((src.size, m + 1)), np.zeros((n, 2)),
                        division.copy())
    sol = Solution(graph, energies, count, np.maximum(count - inflow, 0),
                   np.maximum(count + division - outflow, 0), value, division, 0.0, "annotation")
    roots = _lineage_roots(ann)
    parent_of = {c: p for p, (c1, c2, _) in ann.divisions.items() for c in (c1, c2) if c}
    track = np.array([min(s) if s else -1 for s in ids], np.int64)
    first = {k: min(track_objects(ann, k)) for k in set(track.tolist()) if k > 0}
    lineage = pd.DataFrame({
        "t": t, "label": label, "count": count, "track_id": track,
        "lineage_id": np.array([roots.get(int(k), int(k)) if k > 0 else -1 for k in track], np.int64),
        "parent_track": np.array([parent_of.get(int(k), 0) if k > 0 and t[i] == first[k] else 0
                                  for i, k in enumerate(track)], np.int64),
        "divides": division, "merger_label": np.zeros(n, np.int64),
    })
    frames = [np.asarray(f) for f in label_frames]
    return TrackingResult(sol, lineage, label_frames=frames, start=0)


def from_ctc(masks: Sequence[np.ndarray] | np.ndarray, tracks: pd.DataFrame | np.ndarray) -> Annotations:
    """Annotations from CTC masks (label = track id) and their ``label, begin, end, parent`` table.

    Objects keep their mask labels as object labels and as track ids. A parent with two
    children is a division; a parent with one child that begins right after it is a one-child
    division; a child that begins later (a gap link) continues its parent's track id.
    """
    from ..io.ctc import _as_tracks

    table = _as_tracks(tracks)
    ann = Annotations()
    children: dict[int, list[int]] = {}
    for lab, _, _, parent in table.itertuples(index=False):
        if parent:
            children.setdefault(int(parent), []).append(int(lab))
    end = dict(zip(table["label"].tolist(), table["end"].tolist()))
    begin = dict(zip(table["label"].tolist(), table["begin"].tolist()))
    same = {}   # gap-link child -> the track id it continues
    for parent, kids in children.items():
        if len(kids) > 2:
            raise InputError(f"tracks: parent {parent} has {len(kids)} children; a division has one or two")
        if len(kids) == 1 and begin[kids[0]] > end[parent] + 1:
            same[kids[0]] = parent
    def _root(k: int) -> int:
        while k in same:
            k = same[k]
        return k
    for t in range(len(masks)):
        for lab in _frame_labels(masks[t]).tolist():
            ann.labels.setdefault(t, {})[lab] = {_root(lab)}
            ann.tracks.add(_root(lab))
    for parent, kids in children.items():
        if len(kids) == 1 and kids[0] in same:
            continue
        kids = sorted(kids)
        if any(begin[k] != end[parent] + 1 for k in kids):
            raise InputError(f"tracks: children {kids} of {parent} do not begin at t={end[parent] + 1}")
        ann.divisions[_root(parent)] = (kids[0], kids[1] if len(kids) > 1 else 0, int(end[parent]))
    return ann


def read_ctc_annotations(folder: str | os.PathLike) -> tuple[Annotations, np.ndarray]:
    """Annotations and TRA masks of a CTC ground-truth folder (``NN_GT``): :func:`from_ctc`."""
    from ..io.ctc import read_ctc_gt

    gt = read_ctc_gt(folder)
    return from_ctc(gt.tra, gt.tracks), gt.tra


def from_ilp(project, lane: int = 0) -> Annotations:
    """Annotations of an ilastik project's ``TrackingAnnotations`` or ``ManualTracking`` (one lane).

    ``project`` is a path or a :func:`gputrack.io.ilp.read_ilp` project. Crops are merged.
    """
    from ..io.ilp import read_ilp

    if isinstance(project, (str, os.PathLike)):
        project = read_ilp(project)
    stored = project.annotations
    if stored is None:
        raise InputError(f"{project.path}: no TrackingAnnotations or ManualTracking annotations")
    ann = Annotations()
    for t, objects in stored.labels.get(lane, {}).items():
        for label, ids in objects.items():
            if ids:
                ann.labels.setdefault(int(t), {})[int(label)] = {int(k) for k in ids}
                ann.tracks |= {int(k) for k in ids if int(k) > 0}
    for parent, (c1, c2, tp) in stored.divisions.get(lane, {}).items():
        ann.divisions[int(parent)] = (int(c1), int(c2), int(tp))
    return ann
