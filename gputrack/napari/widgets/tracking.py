"""Tracking dock widget: automatic (conservation) or animal tracking with ilastik's panel, lineage view.

It tracks as ``gputrack track`` does (:func:`gputrack.workflows.tracking.track_frames`): the
costs, border width and α not changed in the panel are estimated from the data (unless
ilastik's quirks are on), and weights learned from manual annotations
(:meth:`TrackingWidget.set_weights`) replace the five weights of the next run.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Image, Labels
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QComboBox, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from ...tracking.estimate import ESTIMATED
from ...tracking.learning import to_parameters
from ..objects import as_int_labels
from ..tracks import PANEL, lineage_image, panel_parameters, result_layers, summary
from ._common import start_worker, user_action
from ._layout import LayerPicker, checkbox, form, spin


class TrackingWidget(QWidget):
    """Conservation tracking of a labels layer (time first) -> tracked labels + Tracks layer."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.result = None
        self.labels_picker = LayerPicker(napari_viewer, Labels)
        self.raw_picker = LayerPicker(napari_viewer, Image)
        self.mode = QComboBox()
        self.mode.addItems(["automatic (divisions)", "animal (no divisions)"])
        self.solver = QComboBox()
        self.solver.addItems(["flow", "ilp"])
        self.timeout = spin(0.0, 0.0, 1e6, decimals=1)
        self.params = {}
        self.touched: set[str] = set()
        self.weights: dict[str, float] | None = None
        for key, label, default, kind in PANEL:
            box = spin(default, 0, 1e6) if kind is int else spin(default, 0.0, 1e9, decimals=3)
            if key in ESTIMATED:
                box.setToolTip("estimated from the data unless changed here (as gputrack track)")
            box.valueChanged.connect(lambda _v, k=key: self.touched.add(k))
            self.params[key] = (label, box)
        self.compat = checkbox("ilastik's quirks (unscaled distances)")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.lineage = QLabel()
        scroll = QScrollArea()
        scroll.setWidget(self.lineage)
        scroll.setMinimumHeight(160)
        run = QPushButton("Track")
        run.clicked.connect(lambda: self.run())
        layout = QVBoxLayout(self)
        layout.addLayout(form([("objects", self.labels_picker), ("raw", self.raw_picker),
                               ("workflow", self.mode), ("solver", self.solver),
                               ("timeout (s, 0 = none)", self.timeout)]
                              + [(label, box) for label, box in self.params.values()]))
        layout.addWidget(self.compat)
        layout.addWidget(run)
        layout.addWidget(self.status)
        layout.addWidget(QLabel("Lineage"))
        layout.addWidget(scroll)

    def parameters(self):
        """The TrackingParameters set in the panel (with the learned weights, when set)."""
        values = {key: box.value() for key, (_, box) in self.params.items()}
        values["ilastik_compat"] = self.compat.isChecked()
        params = panel_parameters(values, animal=self.mode.currentIndex() == 1)
        if self.weights is not None:
            params = to_parameters(self.weights, params)
        return params

    def fixed(self) -> list[str]:
        """The estimated parameters kept as the panel gives them: those changed there, and the
        appearance / disappearance costs of learned weights."""
        kept = set(self.touched) | ({"appearance_cost", "disappearance_cost"} if self.weights else set())
        return [k for k in ESTIMATED if k in kept]

    def set_weights(self, weights) -> None:
        """Use learned weights (:class:`~gputrack.tracking.learning.LearnedWeights` or a dict of the
        five) in the next runs; the panel shows them."""
        self.weights = dict(getattr(weights, "weights", weights))
        shown = to_parameters(self.weights)
        for key in ("detection_weight", "division_weight", "transition_weight", "appearance_cost",
                    "disappearance_cost"):
            box = self.params[key][1]
            box.blockSignals(True)
            box.setValue(getattr(shown, key))
            box.blockSignals(False)
        self.status.setText("learned weights: " + ", ".join(f"{k} {v:.3f}" for k, v in self.weights.items()))

    def compute(self):
        """Track the chosen labels (runs in a worker); returns the result."""
        from ...workflows.tracking import track_frames  # noqa: PLC0415

        labels = as_int_labels(self.labels_picker.layer().data)
        if labels.ndim < 3:
            raise ValueError("tracking needs a time axis: the labels layer is 2D")
        raw_layer = self.raw_picker.layer()
        raw = None
        if raw_layer is not None and raw_layer.data.shape == labels.shape:
            raw = np.asarray(raw_layer.data)
        timeout = self.timeout.value() or None
        return track_frames(labels, raw, params=self.parameters(), solver=self.solver.currentText(),
                            timeout=timeout, fixed=self.fixed())

    @user_action
    def run(self):
        """Track in a worker; show the tracked labels, the Tracks layer and the lineage."""
        if self.labels_picker.layer() is None:
            raise ValueError("choose a labels layer of objects (time first)")
        return start_worker(self.compute, desc="tracking", on_return=self.show_result)

    def show_result(self, result) -> None:
        self.result = result
        for data, kwargs, kind in result_layers(result):
            name = kwargs["name"]
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
            self.viewer.add_layer(_layer(data, kwargs, kind))
        rgb = np.ascontiguousarray(lineage_image(result.lineage))
        h, w, _ = rgb.shape
        self._lineage_rgb = rgb
        self.lineage.setPixmap(QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)))
        self.lineage.adjustSize()
        self.status.setText(summary(result, self.fixed()))


def _layer(data, kwargs, kind):
    from napari.layers import Layer  # noqa: PLC0415

    return Layer.create(data, kwargs, kind)
