"""Manual tracking dock widget: clicks, ilastik's shortcuts, semi-automatic step, saved in the project.

Mouse on the objects layer (pan/zoom mode): left click = assign to the active track (or the
pending division / misdetection click), right click = semi-automatic step. Keys (ilastik's):
``s`` new track, ``d`` division, ``f`` false detection, ``q`` / ``a`` next / previous track,
``g`` next unlabelled object, ``e`` / ``r`` toggle the tracking / objects layers.

"Learn weights" learns the tracking weights from the annotations
(:func:`gputrack.workflows.learning.learn_annotations`, as ``gputrack learn``) and hands them to
the viewer's tracking widgets for their next run.
"""

from __future__ import annotations

from pathlib import Path

from napari.layers import Labels
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..manual import ManualSession
from ..objects import as_int_labels
from ._common import info, report, start_worker, user_action
from ._layout import LayerPicker, checkbox, form, spin

LAYER = "Manual Tracking"


class ManualTrackingWidget(QWidget):
    """ilastik's manual tracking applet on :mod:`gputrack.tracking.annotation`."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.session: ManualSession | None = None
        self.picker = LayerPicker(napari_viewer, Labels)
        self.advance = checkbox("next frame after a click", True)
        self.window = spin(40, 4, 10_000)
        self.status = QLabel("choose the objects layer and press Start")
        self.status.setWordWrap(True)
        self.active_label = QLabel("active track: -")
        self.shortcuts = {
            "s": self.new_track, "d": self.start_division, "f": self.start_misdetection,
            "q": lambda: self.step_active(+1), "a": lambda: self.step_active(-1),
            "g": self.next_unlabelled, "e": lambda: self._toggle(LAYER), "r": self._toggle_objects,
        }
        start = QPushButton("Start on this layer")
        start.clicked.connect(lambda: self.start())
        buttons = QHBoxLayout()
        for text, key in (("New track (s)", "s"), ("Division (d)", "d"), ("False det. (f)", "f"),
                          ("Next unlabelled (g)", "g")):
            b = QPushButton(text)
            b.clicked.connect(lambda _=False, k=key: self.key(k))
            buttons.addWidget(b)
        deletes = QHBoxLayout()
        for extent in ("this", "later", "earlier"):
            b = QPushButton(f"Delete {extent}")
            b.clicked.connect(lambda _=False, e=extent: self.delete(e))
            deletes.addWidget(b)
        save = QPushButton("Save into project…")
        save.clicked.connect(self._save_dialog)
        load = QPushButton("Load from project…")
        load.clicked.connect(self._load_dialog)
        tracks = QPushButton("Show as Tracks layer")
        tracks.clicked.connect(lambda: self.show_tracks())
        learn = QPushButton("Learn weights (for Tracking)")
        learn.setToolTip("learn the tracking weights from these annotations; the Tracking widget uses them")
        learn.clicked.connect(lambda: self.learn())
        layout = QVBoxLayout(self)
        layout.addLayout(form([("objects", self.picker), ("window (px)", self.window)]))
        layout.addWidget(self.advance)
        layout.addWidget(start)
        layout.addWidget(self.active_label)
        layout.addLayout(buttons)
        layout.addLayout(deletes)
        layout.addWidget(tracks)
        layout.addWidget(learn)
        layout.addWidget(save)
        layout.addWidget(load)
        layout.addWidget(self.status)
        layout.addStretch()
        self._objects = None
        self.learned = None

    # ------------------------------------------------------------- set-up

    @user_action
    def start(self, layer=None) -> ManualSession:
        """Start annotating ``layer`` (the chosen labels layer): bind the mouse and ilastik's keys."""
        layer = layer or self.picker.layer()
        if layer is None:
            raise ValueError("choose a labels layer of objects (time first)")
        self.session = ManualSession(as_int_labels(layer.data), window=self.window.value())
        if self._objects is not None and self._on_mouse in self._objects.mouse_drag_callbacks:
            self._objects.mouse_drag_callbacks.remove(self._on_mouse)
        self._objects = layer
        layer.mouse_drag_callbacks.append(self._on_mouse)
        layer.mode = "pan_zoom"
        for key in self.shortcuts:
            self.viewer.bind_key(key, lambda _v, k=key: self.key(k), overwrite=True)
            layer.bind_key(key, lambda _l, k=key: self.key(k), overwrite=True)
        self._refresh()
        return self.session

    def key(self, key: str):
        """Run the action of one of ilastik's shortcut keys (user mistakes become notifications)."""
        try:
            return self.shortcuts[key]()
        except Exception as exc:  # noqa: BLE001 - report() re-raises what is not a user mistake
            report(exc)
            return None

    def _need(self) -> ManualSession:
        if self.session is None:
            raise ValueError("press Start first (choose the objects layer)")
        return self.session

    def _frame(self) -> int:
        return int(self.viewer.dims.current_step[0])

    # ------------------------------------------------------------- actions

    def new_track(self) -> int:
        k = self._need().new_track()
        self._refresh(f"started track {k}")
        return k

    def start_division(self) -> None:
        self._need().start_division()
        self._refresh("division: click the parent, then its two children in the next frame")

    def start_misdetection(self) -> None:
        self._need().start_misdetection()
        self._refresh("click the false detection")

    def step_active(self, step: int) -> int:
        k = self._need().step_active(step)
        self._refresh()
        return k

    def next_unlabelled(self):
        found = self._need().next_unlabelled()
        if found is None:
            self._refresh("every object is annotated")
            return None
        t, label = found
        self.viewer.dims.set_current_step(0, t)
        self._objects.selected_label = label
        self._refresh(f"next unlabelled object: {label} in frame {t}")
        return found

    @user_action
    def delete(self, extent: str = "this") -> list[int]:
        frames = self._need().delete(self._frame(), extent)
        self._refresh(f"track {self.session.active} removed from {len(frames)} frame(s)")
        return frames

    def _toggle(self, name: str) -> None:
        if name in self.viewer.layers:
            self.viewer.layers[name].visible = not self.viewer.layers[name].visible

    def _toggle_objects(self) -> None:
        if self._objects is not None:
            self._objects.visible = not self._objects.visible

    # ------------------------------------------------------------- mouse

    def _on_mouse(self, layer, event) -> None:
        if event.type != "mouse_press" or layer.mode != "pan_zoom":
            return
        position = layer.world_to_data(event.position)
        self.mouse(position, right=event.button == 2)

    @user_action
    def mouse(self, position, *, right: bool = False):
        """A click at a data position ``(t, [z,] y, x)``: left = assign (or the pending mode), right =
        the semi-automatic step."""
        session = self._need()
        t, pos = int(round(position[0])), tuple(position[1:])
        if right:
            ext = session.right_click(t, pos)
            self.viewer.dims.set_current_step(0, ext.stopped_at)
            self._refresh(f"track {ext.track}: +{len(ext.added)} objects; stopped: {ext.reason}")
            return ext
        mode = session.mode
        done = session.click(t, pos)
        if mode == "division" and done is None:
            if len(session.pending) == 1:
                self.viewer.dims.set_current_step(0, t + 1)
            self._refresh(f"division: {len(session.pending)} of 3 objects chosen")
            return None
        if mode == "assign" and self.advance.isChecked() and t + 1 < session.frames.shape[0]:
            self.viewer.dims.set_current_step(0, t + 1)
        messages = {"division": f"division of track {done[1]} added", "misdetection": "false detection"}
        self._refresh(messages.get(mode, f"assigned to track {session.active}"))
        return done

    # ------------------------------------------------------------- display and project

    def _refresh(self, text: str | None = None) -> None:
        if self.session is None:
            return
        painted = self.session.painted()
        if LAYER in self.viewer.layers:
            self.viewer.layers[LAYER].data = painted
        else:
            self.viewer.add_labels(painted, name=LAYER, opacity=0.8)
            if self._objects is not None:
                self.viewer.layers.selection.active = self._objects
        n_tracks, n_div = len(self.session.tracks()), len(self.session.ann.divisions)
        self.active_label.setText(f"active track: {self.session.active or '-'} "
                                  f"({n_tracks} tracks, {n_div} divisions)")
        if text:
            self.status.setText(text)

    def show_tracks(self):
        """Add the annotation as a Tracks layer (with its result for the writers)."""
        from ..tracks import result_layers  # noqa: PLC0415

        _, (data, kwargs, _) = result_layers(self._need().result(), name="manual tracks")
        if kwargs["name"] in self.viewer.layers:
            self.viewer.layers.remove(kwargs["name"])
        return self.viewer.add_tracks(data, **kwargs)

    @user_action
    def learn(self):
        """Learn the tracking weights from the annotations in a worker; the viewer's tracking
        widgets use them in their next run (:meth:`TrackingWidget.set_weights`)."""
        from ...workflows.learning import learn_annotations  # noqa: PLC0415

        session = self._need()
        self._refresh("learning the tracking weights…")
        return start_worker(learn_annotations, session.frames, session.ann, desc="learn tracking weights",
                            on_return=self._learned)

    def _learned(self, learned) -> None:
        from .tracking import TrackingWidget  # noqa: PLC0415

        self.learned = learned
        applied = 0
        for widget in self.viewer.window.dock_widgets.values():
            if isinstance(widget, TrackingWidget):
                widget.set_weights(learned)
                applied += 1
        w = ", ".join(f"{k} {v:.3f}" for k, v in learned.weights.items())
        self._refresh(f"learned weights ({learned.rounds} rounds, loss {learned.loss}): {w}"
                      + ("" if applied else "; open the Tracking widget to use them"))

    def save(self, path: str | Path) -> Path:
        out = self._need().save(path)
        self._refresh(f"saved into {path}")
        return out

    def load(self, path: str | Path) -> None:
        self._need().load(path)
        self._refresh(f"loaded {len(self.session.tracks())} tracks from {path}")

    @user_action
    def _save_dialog(self, *_args) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save into project", "", "gputrack project (*.h5)")
        if path:
            info(f"annotations saved into {self.save(path)}")

    @user_action
    def _load_dialog(self, *_args) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load from project", "", "gputrack project (*.h5)")
        if path:
            self.load(path)

