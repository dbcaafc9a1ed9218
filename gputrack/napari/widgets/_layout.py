"""Small Qt building blocks: labelled forms, layer pickers, ilastik's feature table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
)

from ...features.selection import DEFAULT_SCALES, DISPLAY_NAMES, FEATURE_IDS, MINIMUM_SCALE


class LayerPicker(QComboBox):
    """A combo box of the viewer's layers of one type, kept in sync with the layer list."""

    def __init__(self, viewer, layer_type: type, parent=None):
        super().__init__(parent)
        self._viewer, self._type = viewer, layer_type
        viewer.layers.events.inserted.connect(self.refresh)
        viewer.layers.events.removed.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args) -> None:
        current = self.currentText()
        names = [ly.name for ly in self._viewer.layers if isinstance(ly, self._type)]
        self.blockSignals(True)
        self.clear()
        self.addItems(names)
        if current in names:
            self.setCurrentText(current)
        self.blockSignals(False)

    def layer(self):
        """The chosen layer, or ``None``."""
        name = self.currentText()
        return self._viewer.layers[name] if name in self._viewer.layers else None


def spin(value: float, low: float, high: float, *, decimals: int | None = None, step: float = 1.0):
    """An int spin box (``decimals=None``) or a float spin box."""
    if decimals is None:
        box = QSpinBox()
        box.setRange(int(low), int(high))
        box.setValue(int(value))
    else:
        box = QDoubleSpinBox()
        box.setDecimals(decimals)
        box.setRange(low, high)
        box.setSingleStep(step)
        box.setValue(value)
    return box


def form(rows: Sequence[tuple[str, object]]) -> QFormLayout:
    """A form layout of ``(label, widget)`` rows."""
    layout = QFormLayout()
    for label, widget in rows:
        layout.addRow(label, widget)
    return layout


SHORT_NAMES = {
    "GaussianSmoothing": "Gaussian",
    "LaplacianOfGaussian": "Laplacian",
    "GaussianGradientMagnitude": "Gradient mag.",
    "DifferenceOfGaussians": "Diff. of Gauss.",
    "StructureTensorEigenvalues": "Struct. tensor",
    "HessianOfGaussianEigenvalues": "Hessian",
}


class FeatureTable(QTableWidget):
    """ilastik's feature-selection table: one row per filter family, one column per scale."""

    def __init__(self, matrix: np.ndarray | None = None, parent=None):
        super().__init__(len(FEATURE_IDS), len(DEFAULT_SCALES), parent)
        self.setVerticalHeaderLabels([SHORT_NAMES[f] for f in FEATURE_IDS])
        self.setHorizontalHeaderLabels([f"{s:g}" for s in DEFAULT_SCALES])
        for i, f in enumerate(FEATURE_IDS):
            self.verticalHeaderItem(i).setToolTip(DISPLAY_NAMES[f])
        for i, f in enumerate(FEATURE_IDS):
            for k, s in enumerate(DEFAULT_SCALES):
                item = QTableWidgetItem()
                if s < MINIMUM_SCALE[f]:
                    item.setFlags(Qt.ItemFlag.NoItemFlags)
                else:
                    item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
                    item.setCheckState(Qt.CheckState.Unchecked)
                self.setItem(i, k, item)
        self.horizontalHeader().setDefaultSectionSize(30)
        self.horizontalHeader().setMinimumSectionSize(24)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setFixedHeight(22 * len(FEATURE_IDS) + self.horizontalHeader().sizeHint().height() + 4)
        # the whole table in view (ilastik shows every scale at once): no scroll bars
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(self.verticalHeader().sizeHint().width() + 30 * len(DEFAULT_SCALES)
                             + 2 * self.frameWidth() + 4)
        self.setToolTip("rows: filter families, columns: scales σ (ilastik's feature selection)")
        if matrix is not None:
            self.set_matrix(matrix)

    def matrix(self) -> np.ndarray:
        m = np.zeros((self.rowCount(), self.columnCount()), bool)
        for i in range(self.rowCount()):
            for k in range(self.columnCount()):
                m[i, k] = self.item(i, k).checkState() == Qt.CheckState.Checked
        return m

    def set_matrix(self, matrix: np.ndarray) -> None:
        for i in range(self.rowCount()):
            for k in range(self.columnCount()):
                item = self.item(i, k)
                if item.flags() & Qt.ItemFlag.ItemIsEnabled:
                    item.setCheckState(Qt.CheckState.Checked if matrix[i, k] else Qt.CheckState.Unchecked)


def checkbox(text: str, checked: bool = False) -> QCheckBox:
    box = QCheckBox(text)
    box.setChecked(checked)
    return box
