"""Replay a reference tracking through the annotation API, as a user would click it, and count the clicks.

:func:`replay` rebuilds a reference (e.g. a CTC ground truth read with
:func:`gputrack.tracking.annotation.from_ctc`) on the label frames it refers to, the way a
user of manual tracking would: start a track at each root and click its first object, run the
semi-automatic step, check what it added against the reference, delete from the first wrong
object on, click the next right object by hand where it stopped, and enter each division
(parent and children). It measures how much the semi-automatic step saves: the click counts
(ilastik's mouse actions: a left click assigns, the semi-automatic step and "remove from here
to end" are a right click plus a menu entry) next to those of assigning every object by hand.

Examples
--------
>>> import numpy as np
>>> from gputrack.tracking.annotation import from_ctc
>>> masks = np.zeros((5, 20, 20), np.uint16); masks[:, 5:10, 5:10] = 1
>>> ann, clicks = replay(from_ctc(masks, np.array([[1, 0, 4, 0]])), masks)
>>> clicks["total"], clicks["manual_total"]
(4, 6)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .annotation import (
    MISDETECTION,
    Annotations,
    add_division,
    assign,
    extend_track,
    mark_misdetection,
    new_track,
    remove_label,
)

CLICKS = {"new_track": 1, "assign": 1, "extend": 2, "remove_later": 2, "division": 1, "misdetection": 1}
"""Mouse clicks of each action (a division: the division button; its parent and children are assigns)."""


def _by_track(ann: Annotations) -> dict[int, dict[int, int]]:
    out: dict[int, dict[int, int]] = {}
    for t, label, ids in ann.objects():
        for k in ids:
            out.setdefault(k, {})[t] = label
    return out


def replay(reference: Annotations, label_frames: Sequence[np.ndarray],
           **extend: object) -> tuple[Annotations, dict]:
    """Rebuild ``reference`` on ``label_frames`` with the semi-automatic step; returns it and the clicks.

    ``extend`` goes to :func:`~gputrack.tracking.annotation.extend_track` (``window``,
    ``min_overlap``, ``ilastik_compat``). The counts: ``actions`` per kind, ``total`` clicks,
    ``manual_total`` (every object assigned by hand, no semi-automatic step), ``stops`` (the
    reasons the step stopped, by kind).
    """
    ref = _by_track(reference)
    if MISDETECTION in ref:
        del ref[MISDETECTION]
    parent_of = {c: p for p, (c1, c2, _) in reference.divisions.items() for c in (c1, c2) if c}
    ann = Annotations()
    actions = dict.fromkeys(CLICKS, 0)
    stops: dict[str, int] = {}
    ours: dict[int, int] = {}
    order = sorted(ref, key=lambda k: (min(ref[k]), k))
    pending = [k for k in order if k not in parent_of]
    done = set()
    while pending:
        k = pending.pop(0)
        objs = ref[k]
        if k not in ours:
            ours[k] = new_track(ann)
            actions["new_track"] += 1
            t0 = min(objs)
            assign(ann, ours[k], t0, objs[t0])
            actions["assign"] += 1
        last = max(t for t in objs if objs[t] in ann.labels.get(t, {}) and ours[k] in ann.labels[t][objs[t]])
        end = max(objs)
        while last < end:
            ext = extend_track(ann, ours[k], label_frames, **extend)
            actions["extend"] += 1
            kind = ext.reason.split(" at ")[0].split(":")[0]
            kind = "candidates" if "candidates" in kind else kind
            stops[kind] = stops.get(kind, 0) + 1
            wrong = next((t for t, label in ext.added if objs.get(t) != label), None)
            if wrong is not None:
                remove_label(ann, ours[k], wrong, "later")
                actions["remove_later"] += 1
            last = max(t for t, label in [(last, objs[last]), *ext.added] if objs.get(t) == label
                       and (wrong is None or t < wrong))
            if last < end:
                nxt = min(t for t in objs if t > last)
                assign(ann, ours[k], nxt, objs[nxt])
                actions["assign"] += 1
                last = nxt
        done.add(k)
        if k in reference.divisions:
            c1, c2, tp = reference.divisions[k]
            kids = [c for c in (c1, c2) if c]
            tracks = add_division(ann, ours[k], tp, [ref[c][tp + 1] for c in kids])
            actions["division"] += 1
            actions["assign"] += 1 + len(kids)
            for c, our in zip(kids, tracks):
                ours[c] = our
            pending = kids + pending
    for t, label, ids in reference.objects():
        if MISDETECTION in ids:
            mark_misdetection(ann, t, label)
            actions["misdetection"] += 1
    total = sum(CLICKS[a] * n for a, n in actions.items())
    n_objects = sum(len(v) for v in ref.values())
    manual = len(ref) - len(parent_of) + n_objects + sum(1 + 1 for _ in reference.divisions)
    manual += actions["misdetection"]
    return ann, {"actions": actions, "total": total, "manual_total": manual, "objects": n_objects,
                 "tracks": len(ref), "divisions": len(reference.divisions), "stops": stops}
