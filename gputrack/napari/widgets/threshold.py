"""Threshold and size filter dock widget (ilastik's applet) with a live preview of the current frame.

Both segment through :func:`gputrack.workflows.segmentation.segment_array` (what ``gputrack
segment`` runs).
"""

from __future__ import annotations

import numpy as np
from napari.layers import Image
from qtpy.QtWidgets import QComboBox, QLabel, QPushButton, QVBoxLayout, QWidget

from ...segment.threshold import METHODS
from ._common import start_worker, user_action
from ._layout import LayerPicker, checkbox, form, spin
from .pixel import image_axes


class ThresholdWidget(QWidget):
    """Smooth, threshold (any method of :data:`METHODS`) and size-filter an image or probability layer."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.picker = LayerPicker(napari_viewer, Image)
        self.method = QComboBox()
        self.method.addItems(list(METHODS))
        self.threshold = spin(0.5, -1e9, 1e9, decimals=3, step=0.05)
        self.high = spin(0.8, -1e9, 1e9, decimals=3, step=0.05)
        self.sigma = spin(1.0, 0.0, 50.0, decimals=2, step=0.5)
        self.channel = spin(0, 0, 255)
        self.min_size = spin(10, 0, 10**9)
        self.max_size = spin(1_000_000, 1, 10**9)
        self.live = checkbox("Live preview (current frame)", True)
        self.status = QLabel("")
        apply = QPushButton("Apply to all frames")
        apply.clicked.connect(lambda: self.apply())
        layout = QVBoxLayout(self)
        layout.addLayout(form([
            ("input", self.picker), ("method", self.method), ("threshold", self.threshold),
            ("high threshold", self.high), ("smoothing σ", self.sigma), ("channel", self.channel),
            ("min size", self.min_size), ("max size", self.max_size),
        ]))
        layout.addWidget(self.live)
        layout.addWidget(apply)
        layout.addWidget(self.status)
        layout.addStretch()
        for box in (self.threshold, self.high, self.sigma, self.channel, self.min_size, self.max_size):
            box.valueChanged.connect(self._changed)
        self.method.currentTextChanged.connect(self._changed)
        self.picker.currentTextChanged.connect(self._changed)
        napari_viewer.dims.events.current_step.connect(self._changed)

    def options(self) -> dict:
        """The keyword arguments of :func:`gputrack.segment.threshold` set in the widget."""
        return dict(method=self.method.currentText(), threshold=self.threshold.value(),
                    high_threshold=self.high.value(), sigma=self.sigma.value(),
                    channel=self.channel.value(), min_size=self.min_size.value(),
                    max_size=self.max_size.value())

    def _input(self):
        layer = self.picker.layer()
        if layer is None:
            raise ValueError("choose an image or probability layer to threshold")
        return layer, np.asarray(layer.data), image_axes(layer)

    def _changed(self, *_args) -> None:
        if self.live.isChecked() and self.picker.layer() is not None:
            self.preview()

    def _segment(self, data, axes: str, what: str) -> np.ndarray:
        from ...workflows.segmentation import segment_array  # noqa: PLC0415

        return segment_array(data, axes, what=what, device="auto", **self.options())[0]

    @user_action
    def preview(self) -> np.ndarray:
        """Segment the current frame only and show it in ``Threshold preview``."""
        layer, data, axes = self._input()
        if axes.startswith("t"):
            t = int(np.clip(round(layer.world_to_data(self.viewer.dims.point)[0]), 0, data.shape[0] - 1))
            frame, frame_axes = data[t], axes[1:]
        else:
            t, frame, frame_axes = None, data, axes
        what = layer.name if t is None else f"{layer.name} (frame {t})"
        labels = self._segment(frame, frame_axes, what)
        full_shape = tuple(n for a, n in zip(axes, data.shape) if a != "c")
        name = "Threshold preview"
        if name not in self.viewer.layers or self.viewer.layers[name].data.shape != full_shape:
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
            self.viewer.add_labels(np.zeros(full_shape, np.uint32), name=name, opacity=0.6)
        out = self.viewer.layers[name]
        out.data[...] = 0
        if t is None:
            out.data[...] = labels
        else:
            out.data[t] = labels
        out.refresh()
        self.status.setText(f"{int(labels.max())} objects in this frame")
        return labels

    def segment(self) -> np.ndarray:
        """Labels of every frame (what ``gputrack segment`` computes with these options)."""
        layer, data, axes = self._input()
        return self._segment(data, axes, layer.name)

    @user_action
    def apply(self):
        """Segment all frames in a worker; the result becomes the ``Objects`` labels layer."""

        def done(labels):
            if "Objects" in self.viewer.layers:
                self.viewer.layers["Objects"].data = labels
            else:
                self.viewer.add_labels(labels, name="Objects")
            self.status.setText(f"{int(labels.max())} labels in all frames")

        self._input()
        return start_worker(self.segment, desc="threshold and size filter", on_return=done)
