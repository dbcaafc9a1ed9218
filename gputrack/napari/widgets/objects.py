"""Object classification dock widget: click objects into classes, train, see classes and uncertainty."""

from __future__ import annotations

import numpy as np
from napari.layers import Image, Labels
from qtpy.QtWidgets import (
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...workflows.object_classification import annotation_table, classify_objects
from ..objects import as_int_labels, default_features, label_assist, object_at, object_table, paint
from ._common import start_worker, user_action
from ._layout import LayerPicker, form, spin


class ObjectClassificationWidget(QWidget):
    """ilastik's object classification: click objects of the chosen labels layer into classes."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.annotations: dict[tuple[int, int], int] = {}
        self.predictions = None
        self.table = None
        self.labels_picker = LayerPicker(napari_viewer, Labels)
        self.raw_picker = LayerPicker(napari_viewer, Image)
        self.active = spin(1, 1, 255)
        self.class_names = QLineEdit("class 1, class 2")
        self.features = QLineEdit("")
        self.features.setPlaceholderText("ilastik's object-count features")
        self.trees = spin(100, 1, 1000)
        self.status = QLabel("click objects with the labels layer selected")
        self.assist = QTableWidget(0, 4)
        self.assist.setHorizontalHeaderLabels(["frame", "label", "size", "size / median"])
        self.assist.cellDoubleClicked.connect(self._jump)
        train = QPushButton("Train and predict")
        train.clicked.connect(lambda: self.run())
        assist = QPushButton("Label assist (sizes)")
        assist.clicked.connect(lambda: self.fill_assist())
        layout = QVBoxLayout(self)
        layout.addLayout(form([("objects", self.labels_picker), ("raw", self.raw_picker),
                               ("classes", self.class_names), ("active class", self.active),
                               ("features", self.features), ("trees", self.trees)]))
        layout.addWidget(train)
        layout.addWidget(self.status)
        layout.addWidget(assist)
        layout.addWidget(self.assist)
        self._hooked = None
        self.labels_picker.currentTextChanged.connect(self._hook)
        self._hook()

    def _hook(self, *_args) -> None:
        layer = self.labels_picker.layer()
        if self._hooked is not None and self._on_click in self._hooked.mouse_drag_callbacks:
            self._hooked.mouse_drag_callbacks.remove(self._on_click)
        if layer is not None:
            layer.mouse_drag_callbacks.append(self._on_click)
        self._hooked = layer

    def _on_click(self, layer, event) -> None:
        if event.type == "mouse_press" and layer.mode == "pan_zoom":
            self.click(layer.world_to_data(event.position))

    def click(self, position) -> tuple[int, int] | None:
        """Assign the object at a data position to the active class (clicking it again un-assigns)."""
        labels = self.labels_picker.layer()
        key = object_at(labels.data, position)
        if key is None:
            return None
        cls = self.active.value()
        if self.annotations.get(key) == cls:
            del self.annotations[key]
        else:
            self.annotations[key] = cls
        self.status.setText(f"{len(self.annotations)} objects annotated")
        self._show_annotations()
        return key

    def _show_annotations(self) -> None:
        labels = as_int_labels(self.labels_picker.layer().data)
        ann = annotation_table(self.annotations)
        painted = paint(labels, ann) if len(ann) else np.zeros(labels.shape, np.uint8)
        self._layer("Object annotations", painted, "labels", opacity=0.9)

    def _layer(self, name, data, kind, **kwargs):
        if name in self.viewer.layers:
            self.viewer.layers[name].data = data
            return self.viewer.layers[name]
        add = self.viewer.add_labels if kind == "labels" else self.viewer.add_image
        return add(data, name=name, **kwargs)

    def feature_names(self, has_raw: bool) -> list[str]:
        text = self.features.text().strip()
        return [f.strip() for f in text.split(",") if f.strip()] if text else default_features(has_raw)

    def compute(self):
        """Feature table, training and prediction (runs in a worker)."""
        labels = as_int_labels(self.labels_picker.layer().data)
        raw_layer = self.raw_picker.layer()
        raw = None if raw_layer is None else np.asarray(raw_layer.data)
        if raw is not None and raw.shape != labels.shape:
            raw = None
        names = self.feature_names(raw is not None)
        table = object_table(raw, labels, names)
        pred = classify_objects(table, self.annotations, names, n_trees=self.trees.value())
        return table, pred, paint(labels, pred), paint(labels, pred, "uncertainty")

    @user_action
    def run(self):
        """Train on the clicked objects and predict every object in a worker."""
        if self.labels_picker.layer() is None:
            raise ValueError("choose a labels layer of objects")

        def done(out):
            self.table, self.predictions, classes, unc = out
            self._layer("Object classes", classes, "labels", opacity=0.7)
            self._layer("Object uncertainty", unc, "image", colormap="magma", contrast_limits=(0, 1),
                        blending="additive", visible=False)
            counts = self.predictions["class"].value_counts().sort_index()
            self.status.setText("predicted: " + ", ".join(f"class {c}: {n}" for c, n in counts.items()))

        return start_worker(self.compute, desc="object classification", on_return=done)

    @user_action
    def fill_assist(self):
        """Fill the label-assist table (sizes of every object in every frame, largest first)."""
        labels = as_int_labels(self.labels_picker.layer().data)
        rows = label_assist(labels, self.table)
        self.assist.setRowCount(len(rows))
        for i, r in enumerate(rows.itertuples(index=False)):
            for k, v in enumerate((r[0], r[1], r[2], round(float(r[4]), 2))):
                self.assist.setItem(i, k, QTableWidgetItem(str(v)))
        self.assist.resizeColumnsToContents()
        return rows

    def _jump(self, row: int, _col: int) -> None:
        t, label = int(self.assist.item(row, 0).text()), int(self.assist.item(row, 1).text())
        layer = self.labels_picker.layer()
        if layer.ndim > 2:
            self.viewer.dims.set_current_step(0, t)
        layer.selected_label = label
        layer.show_selected_label = True

