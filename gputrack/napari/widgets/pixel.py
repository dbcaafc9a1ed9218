"""Pixel classification dock widget: scribbles, ilastik's feature table, live outputs, export.

Paint into a scribbles Labels layer (one per image, "Add scribbles"); every stroke retrains the
forest on all images with scribbles and re-predicts the visible region of the current frame in a
worker thread (a new stroke cancels a running update). Outputs appear as layers
``Probability <class>``, ``Segmentation`` and ``Uncertainty``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.layers import Image, Labels
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QComboBox, QFileDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from ... import backend
from ...workflows.pixel_classification import OUTPUTS, predict_region_steps, train_scribbles
from ..layers import visible_region
from ..live import matrix_selection, selection_matrix
from ._common import camera_of, info, start_worker, user_action
from ._layout import FeatureTable, LayerPicker, checkbox, form, spin

DEFAULT_FEATURES = {
    "GaussianSmoothing": [0.7, 1.6, 3.5],
    "LaplacianOfGaussian": [1.6, 3.5],
    "GaussianGradientMagnitude": [1.6],
    "HessianOfGaussianEigenvalues": [3.5],
}
SCRIBBLES_KEY = "gputrack_scribbles_for"
COLORMAPS = ("green", "magenta", "cyan", "yellow", "red", "blue")
"""Colour of class k (k = 1, 2, ...): its scribbles, its probability layer and its segmentation."""


def class_colormap():
    """Labels colours of the classes: class k in the top colour of ``COLORMAPS[k - 1]``, as its
    probability layer (ilastik paints scribbles, probabilities and segmentation alike)."""
    from napari.utils.colormaps import DirectLabelColormap, ensure_colormap  # noqa: PLC0415

    colors = {k + 1: ensure_colormap(name).colors[-1] for k, name in enumerate(COLORMAPS)}
    return DirectLabelColormap(color_dict={None: "white", 0: "transparent", **colors})


def image_axes(layer) -> str:
    """Axes of an image layer's data: ``metadata['axes']``, else ``[t,] y, x[, c]`` (time first)."""
    axes = layer.metadata.get("axes")
    if axes:
        return axes
    nd = layer.data.ndim - (1 if layer.rgb else 0)
    return {2: "yx", 3: "tyx", 4: "tzyx"}.get(nd, "tzyx") + ("c" if layer.rgb else "")


class PixelClassificationWidget(QWidget):
    """ilastik's pixel classification applet in a dock widget."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.classifier = None
        self.worker = None
        self.region = None
        self.updates = 0
        self.image_picker = LayerPicker(napari_viewer, Image)
        self.table = FeatureTable(selection_matrix(DEFAULT_FEATURES))
        self.trees = spin(100, 1, 1000)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "gpu"])
        self.live = checkbox("Live update", True)
        self.export_kind = QComboBox()
        self.export_kind.addItems(OUTPUTS)
        self.status = QLabel(f"device: {backend.resolve_device('auto')}")
        add = QPushButton("Add scribbles")
        add.clicked.connect(lambda: self.add_scribbles())
        train = QPushButton("Train and predict view")
        train.clicked.connect(lambda: self.update_live(retrain=True))
        export = QPushButton("Export…")
        export.clicked.connect(self._export_dialog)
        save = QPushButton("Save project…")
        save.clicked.connect(self._save_dialog)
        layout = QVBoxLayout(self)
        layout.addLayout(form([("image", self.image_picker)]))
        layout.addWidget(add)
        layout.addWidget(QLabel("Features (ilastik's table)"))
        layout.addWidget(self.table)
        layout.addLayout(form([("trees", self.trees), ("device", self.device)]))
        layout.addWidget(self.live)
        layout.addWidget(train)
        layout.addLayout(form([("export", self.export_kind)]))
        layout.addWidget(export)
        layout.addWidget(save)
        layout.addWidget(self.status)
        layout.addStretch()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(200)
        self._retrain = False
        self._timer.timeout.connect(lambda: self.update_live(retrain=self._retrain))
        camera = camera_of(napari_viewer)
        camera.events.center.connect(self._view_changed)
        camera.events.zoom.connect(self._view_changed)
        napari_viewer.dims.events.current_step.connect(self._view_changed)
        for layer in napari_viewer.layers:
            self._watch(layer)
        napari_viewer.layers.events.inserted.connect(lambda e: self._watch(e.value))

    # ----------------------------------------------------------------- layers

    def _watch(self, layer) -> None:
        if isinstance(layer, Labels) and SCRIBBLES_KEY in layer.metadata:
            layer.events.paint.connect(self._painted)

    def add_scribbles(self, image_layer=None) -> Labels:
        """A Labels layer to paint scribbles into for ``image_layer`` (the chosen image by default)."""
        image_layer = image_layer or self.image_picker.layer()
        if image_layer is None:
            raise ValueError("open an image first")
        axes = image_axes(image_layer)
        shape = tuple(n for a, n in zip(axes, image_layer.data.shape) if a != "c")
        name = f"{image_layer.name} scribbles"
        if name in self.viewer.layers:
            return self.viewer.layers[name]
        layer = self.viewer.add_labels(np.zeros(shape, np.uint8), name=name, colormap=class_colormap(),
                                       opacity=1.0, metadata={SCRIBBLES_KEY: image_layer.name})
        # a brush of about 1/128 of the image's side (5 px on a 690 x 628 frame), class 1 first
        layer.brush_size = int(np.clip(round(min(shape[-2:]) / 128), 3, 15))
        layer.selected_label = 1
        layer.mode = "paint"
        self.status.setText("paint class 1, then class 2 (= / - or the label box change the class)")
        return layer

    def pairs(self) -> tuple[list[np.ndarray], list[np.ndarray], list[Labels]]:
        """Images and scribbles of every scribbles layer (its image must still be open)."""
        images, scribbles, layers = [], [], []
        for layer in self.viewer.layers:
            target = layer.metadata.get(SCRIBBLES_KEY) if isinstance(layer, Labels) else None
            if target in self.viewer.layers and np.asarray(layer.data).any():
                images.append(np.asarray(self.viewer.layers[target].data))
                scribbles.append(np.asarray(layer.data))
                layers.append(layer)
        return images, scribbles, layers

    def selection(self) -> dict[str, list[float]]:
        return matrix_selection(self.table.matrix())

    def train(self):
        """Train the forest on every image's scribbles now (UI thread); returns the classifier."""
        images, scribbles, layers = self.pairs()
        axes = image_axes(self.viewer.layers[layers[0].metadata[SCRIBBLES_KEY]]) if layers else None
        self.classifier = train_scribbles(images, scribbles, self.selection(), axes=axes,
                                          n_trees=self.trees.value(), device=self.device.currentText())
        return self.classifier

    def current_region(self, layer) -> tuple[slice, ...]:
        """The visible part of ``layer`` in the current frame, as slices over its non-channel axes."""
        axes = image_axes(layer)
        shape = [n for a, n in zip(axes, layer.data.shape) if a != "c"]
        full = visible_region(layer.data.shape[: len(shape)], layer.corner_pixels[:, : len(shape)])
        point = layer.world_to_data(self.viewer.dims.point)
        displayed = set(self.viewer.dims.displayed)
        offset = self.viewer.dims.ndim - layer.ndim
        region = []
        for d, n in enumerate(shape):
            if d + offset in displayed:
                region.append(full[d])
            else:
                k = int(np.clip(round(point[d]), 0, n - 1))
                region.append(slice(k, k + 1))
        return tuple(region)

    # ----------------------------------------------------------------- live

    def _painted(self, _event=None) -> None:
        if self.live.isChecked():
            self._retrain = True
            self._timer.start()

    def _view_changed(self, _event=None) -> None:
        if self.live.isChecked() and self.classifier is not None:
            self._timer.start()

    @user_action
    def update_live(self, retrain: bool = True):
        """Cancel a running update; (re)train when asked and predict the visible region in a worker."""
        self._retrain = False
        if self.worker is not None:
            self.worker.quit()
        layer = self.image_picker.layer()
        if layer is None:
            raise ValueError("open an image first")
        images, scribbles, layers = self.pairs()
        selection, n_trees, device = self.selection(), self.trees.value(), self.device.currentText()
        axes = image_axes(layer)
        region = self.current_region(layer)
        data = np.asarray(layer.data)
        classifier = None if retrain or self.classifier is None else self.classifier

        def job():
            clf = classifier or train_scribbles(images, scribbles, selection, axes=axes,
                                                n_trees=n_trees, device=device)
            yield "classifier", clf
            yield from predict_region_steps(clf, data, region, axes=axes, device=device)

        self.status.setText("updating…")
        self.worker = start_worker(job, desc="pixel classification", on_yield=self._step)
        self.worker.finished.connect(lambda: self.status.setText(f"{self.updates} update(s)"))
        self.region = region
        return self.worker

    def _step(self, step) -> None:
        kind, value = step
        if kind == "classifier":
            self.classifier = value
        elif kind == "outputs":
            self.show_outputs(value, self.region)

    def show_outputs(self, outputs: dict[str, np.ndarray], region: tuple[slice, ...]) -> None:
        """Paste a region's outputs into the output layers (created on first use)."""
        layer = self.image_picker.layer()
        axes = image_axes(layer)
        shape = tuple(n for a, n in zip(axes, layer.data.shape) if a != "c")
        clf = self.classifier
        prob = outputs["probabilities"]
        for k, name in enumerate(clf.label_names):
            self._paste(f"Probability {name}", shape, np.float32, region, prob[..., k], "image",
                        colormap=COLORMAPS[k % len(COLORMAPS)], contrast_limits=(0, 1),
                        blending="additive", opacity=0.6, visible=k == 0)
        self._paste("Segmentation", shape, np.uint8, region, outputs["simple-segmentation"], "labels",
                    visible=False, colormap=class_colormap())
        self._paste("Uncertainty", shape, np.float32, region, outputs["uncertainty"], "image",
                    colormap="magma", contrast_limits=(0, 1), blending="additive", visible=False)
        self.updates += 1

    def _paste(self, name, shape, dtype, region, values, kind, **kwargs) -> None:
        if name in self.viewer.layers and self.viewer.layers[name].data.shape == shape:
            out = self.viewer.layers[name]
            out.data[region] = values
            out.refresh()
            return
        data = np.zeros(shape, dtype)
        data[region] = values
        if kind == "labels":
            self.viewer.add_labels(data, name=name, opacity=0.5, **kwargs)
        else:
            self.viewer.add_image(data, name=name, **kwargs)

    # ----------------------------------------------------------------- outputs

    def export(self, path: str | Path, output: str | None = None) -> Path:
        """Classify the whole chosen image and write one output to ``path`` (format by suffix), as
        ``gputrack pixel predict`` does (:func:`gputrack.pixel.classify_file`)."""
        from ...pixel import classify_file  # noqa: PLC0415

        layer = self.image_picker.layer()
        output = output or self.export_kind.currentText()
        clf = self.classifier or self.train()
        return classify_file(clf, np.asarray(layer.data), path, export=output, axes=image_axes(layer),
                             device=self.device.currentText(), overwrite=True, quiet=True)

    def save_project(self, path: str | Path) -> Path:
        """Write the classifier and every image's scribbles to a gputrack project file."""
        from ...project import save_project, sparse_labels  # noqa: PLC0415

        clf = self.classifier or self.train()
        _, _, layers = self.pairs()
        stored = []
        for layer in layers:
            image = self.viewer.layers[layer.metadata[SCRIBBLES_KEY]]
            source = image.source.path or ""
            stored.append(sparse_labels(np.asarray(layer.data), path=str(source),
                                        axes=image_axes(image).replace("c", "")))
        return save_project(path, clf, labels=stored, overwrite=True)

    @user_action
    def _export_dialog(self, *_args) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export", "", "Images (*.tif *.h5 *.png *.zarr)")
        if path:
            start_worker(self.export, path, desc=f"export {self.export_kind.currentText()}",
                         on_return=lambda p: info(f"wrote {p}"))

    @user_action
    def _save_dialog(self, *_args) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save project", "", "gputrack project (*.h5)")
        if path:
            info(f"wrote {self.save_project(path)}")
