"""Manual and semi-automatic tracking behind the napari widget, on :mod:`gputrack.tracking.annotation`.

A :class:`ManualSession` holds the annotation, the active track and the pending click mode, and
turns clicks into edits of the model the way ilastik's manual-tracking applet does:

- a click assigns the object under the cursor to the active track (then the view moves on a
  frame); a right click runs the semi-automatic step from that object (ilastik's "run
  automatic tracking for object"): the object joins the active track, which is extended while
  the next frame holds exactly one overlapping candidate;
- ``d`` (division): the next clicks are the parent (an object of the active track) and its two
  children in the next frame; each child starts a new track;
- ``f`` (false detection): the next click marks its object a misdetection;
- ``s`` starts a new track, ``q`` / ``a`` step the active track up / down, ``g`` goes to the
  next unlabelled object, ``e`` / ``r`` toggle the tracking / objects layers (widget);
- delete the active track's object in this frame, in all later or in all earlier frames.

The annotation is saved into, and loaded from, the project file
(:func:`gputrack.project.save_annotations`).

Examples
--------
>>> import numpy as np
>>> frames = np.zeros((3, 10, 10), np.uint16); frames[:, 2:6, 2:6] = [[[1]], [[2]], [[3]]]
>>> s = ManualSession(frames)
>>> s.new_track()
1
>>> s.click(0, (3, 3)), s.right_click(0, (3, 3)).reason
((0, 1), 'reached the last frame (t=2)')
>>> s.objects(1)
{0: 1, 1: 2, 2: 3}
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..tracking import annotation as am

MISDETECTION_VALUE = 65535
"""Value misdetections get in the painted tracking layer (ilastik exports -1 as 65535)."""


@dataclass
class ManualSession:
    """Annotation state of one label sequence ``(t, [z,] y, x)`` (see the module docstring)."""

    frames: np.ndarray
    ann: am.Annotations = field(default_factory=am.Annotations)
    active: int = 0
    mode: str = "assign"
    pending: list[tuple[int, int]] = field(default_factory=list)
    last_unlabelled: tuple[int, int] | None = None
    window: int = 40

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames)
        if self.frames.ndim < 3:
            raise InputError(f"manual tracking needs (t, [z,] y, x) labels; got shape {self.frames.shape}")

    # ------------------------------------------------------------- tracks

    def new_track(self) -> int:
        """``s``: start a track and make it active."""
        self.active = am.new_track(self.ann)
        return self.active

    def tracks(self) -> list[int]:
        ids = set(self.ann.tracks)
        for _, _, tids in self.ann.objects():
            ids |= {k for k in tids if k > 0}
        return sorted(ids)

    def step_active(self, step: int) -> int:
        """``q`` (+1) / ``a`` (-1): the next / previous started track becomes active."""
        tracks = self.tracks()
        if not tracks:
            raise InputError("no track yet: press s to start one")
        i = tracks.index(self.active) if self.active in tracks else len(tracks) - 1
        self.active = tracks[int(np.clip(i + step, 0, len(tracks) - 1))]
        return self.active

    def objects(self, track: int | None = None) -> dict[int, int]:
        """``{t: label}`` of a track (the active one by default)."""
        return am.track_objects(self.ann, self.active if track is None else track)

    def _active(self) -> int:
        if self.active <= 0:
            raise InputError("no active track: press s to start a track")
        return self.active

    def _label(self, t: int, position: Sequence[float]) -> int:
        label = am.object_at(self.frames, t, position)
        if label == 0:
            raise InputError(f"no object at {tuple(round(float(p)) for p in position)} in frame {t}")
        return label

    # ------------------------------------------------------------- clicks

    def start_division(self) -> None:
        """``d``: the next three clicks are the parent and its two children."""
        self._active()
        self.mode, self.pending = "division", []

    def start_misdetection(self) -> None:
        """``f``: the next click marks its object a false detection."""
        self.mode, self.pending = "misdetection", []

    def cancel(self) -> None:
        self.mode, self.pending = "assign", []

    def click(self, t: int, position: Sequence[float]) -> tuple[int, int] | None:
        """A left click at data ``position`` (``(y, x)`` / ``(z, y, x)``) of frame ``t``.

        Returns the object ``(t, label)`` it acted on; for a division, ``None`` until the third
        click completes it.
        """
        t = int(t)
        label = self._label(t, position)
        if self.mode == "misdetection":
            am.mark_misdetection(self.ann, t, label)
            self.cancel()
            return t, label
        if self.mode == "division":
            return self._division_click(t, label)
        am.assign(self.ann, self._active(), t, label)
        return t, label

    def _division_click(self, t: int, label: int) -> tuple[int, int] | None:
        if not self.pending:
            if self._active() not in self.ann.ids(t, label):
                self.cancel()
                raise InputError(f"the parent (object {label}, frame {t}) must belong to the active "
                                 f"track {self.active}")
            self.pending = [(t, label)]
            return None
        tp = self.pending[0][0]
        if t != tp + 1:
            raise InputError(f"the children of a division are in frame {tp + 1}, not {t}")
        if (t, label) not in self.pending:
            self.pending.append((t, label))
        if len(self.pending) < 3:
            return None
        parent = self.active
        (_, _), (_, c1), (_, c2) = self.pending
        self.cancel()
        children = am.add_division(self.ann, parent, tp, [c1, c2])
        self.active = children[0]
        return tp, parent

    def right_click(self, t: int, position: Sequence[float]) -> am.Extension:
        """The semi-automatic step from the object at ``position``: it joins the active track
        (if not already), then the track is extended while unambiguous."""
        t = int(t)
        label = self._label(t, position)
        track = self._active()
        if track not in self.ann.ids(t, label):
            am.assign(self.ann, track, t, label)
        return am.extend_track(self.ann, track, self.frames, window=self.window)

    # ------------------------------------------------------------- edits

    def delete(self, t: int, extent: str = "this") -> list[int]:
        """Delete the active track's objects in frame ``t`` / all later / all earlier frames."""
        return am.remove_label(self.ann, self._active(), int(t), extent)

    def next_unlabelled(self) -> tuple[int, int] | None:
        """``g``: the next object without annotation after the last one suggested."""
        found = am.next_unlabelled(self.ann, self.frames, after=self.last_unlabelled)
        if found is None and self.last_unlabelled is not None:
            found = am.next_unlabelled(self.ann, self.frames)
        self.last_unlabelled = found
        return found

    def painted(self) -> np.ndarray:
        """The frames with every annotated object painted with its track id (misdetections 65535)."""
        out = np.zeros(self.frames.shape, np.uint32)
        for t, label, ids in self.ann.objects():
            value = MISDETECTION_VALUE if am.MISDETECTION in ids else min(ids)
            out[t][self.frames[t] == label] = value
        return out

    def result(self):
        """The annotation as a tracking result (:func:`gputrack.tracking.annotation.to_result`)."""
        return am.to_result(self.ann, list(self.frames))

    # ------------------------------------------------------------- project

    def save(self, path: str | os.PathLike) -> Any:
        """Store the annotation in the project file ``path`` (created when absent)."""
        from ..project import save_annotations  # noqa: PLC0415

        return save_annotations(path, self.ann)

    def load(self, path: str | os.PathLike) -> None:
        """Replace the annotation by the one stored in the project file ``path``."""
        from ..project import load_annotations  # noqa: PLC0415

        self.ann = load_annotations(path)
        tracks = self.tracks()
        self.active = tracks[-1] if tracks else 0
        self.cancel()
