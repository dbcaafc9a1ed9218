"""ilastik's feature-selection table behind the pixel classification widget.

The table is a boolean matrix, rows = filter families (:data:`FEATURE_IDS`), columns = ilastik's
scales; :func:`selection_matrix` and :func:`matrix_selection` convert between it and a
``{feature: [scales]}`` selection. Training on the scribbles and the live prediction of the
visible region are :func:`gputrack.workflows.pixel_classification.train_scribbles` and
:func:`~gputrack.workflows.pixel_classification.predict_region_steps`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..features.selection import (
    DEFAULT_SCALES,
    DISPLAY_NAMES,
    FEATURE_IDS,
    MINIMUM_SCALE,
    normalize_selection,
)


def selection_matrix(selection: Any = None) -> np.ndarray:
    """ilastik's feature table: bool ``(6, 7)`` over :data:`FEATURE_IDS` x ilastik's default scales.

    Examples
    --------
    >>> m = selection_matrix({"GaussianSmoothing": [1.0, 3.5]})
    >>> m.shape, int(m.sum()), m[0].tolist()
    ((6, 7), 2, [False, False, True, False, True, False, False])
    """
    m = np.zeros((len(FEATURE_IDS), len(DEFAULT_SCALES)), bool)
    if selection is None:
        return m
    sel = normalize_selection(selection)
    for f, s, _ in sel.pairs():
        if s not in DEFAULT_SCALES:
            raise InputError(f"feature {f} at scale {s}: the table has scales {list(DEFAULT_SCALES)}")
        m[FEATURE_IDS.index(f), DEFAULT_SCALES.index(s)] = True
    return m


def matrix_selection(matrix: np.ndarray) -> dict[str, list[float]]:
    """The ``{feature: [scales]}`` selection of a ticked table (:func:`selection_matrix`'s inverse).

    Raises a one-line :class:`InputError` for an empty table or a scale below ilastik's
    minimum for that feature (0.3 for Gaussian smoothing, 0.7 for the others).
    """
    m = np.asarray(matrix, bool)
    out: dict[str, list[float]] = {}
    for i, f in enumerate(FEATURE_IDS):
        for k, s in enumerate(DEFAULT_SCALES):
            if m[i, k]:
                if s < MINIMUM_SCALE[f]:
                    raise InputError(f"{DISPLAY_NAMES[f]} at σ {s}: the smallest scale is {MINIMUM_SCALE[f]}")
                out.setdefault(f, []).append(float(s))
    if not out:
        raise InputError("no features selected: tick at least one feature and scale in the table")
    return out
