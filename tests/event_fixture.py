"""A small tracking result with every event the exports must carry, in 2D or 3D.

Six frames. Object ``A`` divides into two daughters at t = 3; objects ``B`` and ``C`` touch at
t = 2 and t = 3 (one label carrying two objects: a merger) and separate again; a one-frame
speck at t = 2 has a count probability of 0.99 for "no object" (a false detection). Built
with :func:`gputrack.tracking.track_labels`, ``max_objects=2``.

``event_result(ndim, resolve_mergers)`` returns ``(result, raw)`` where ``raw`` is a float32
``(t, [z,] y, x)`` image sequence matching the labels; ``truth`` describes the intended events
in terms of (t, label) so tests can assert them without trusting our own solver.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gputrack.tracking import TrackingParameters, track_labels

SHAPE_2D = (48, 64)
SHAPE_3D = (8, 48, 64)

# (t, label) -> centre (y, x), radius;  label numbers are per frame
_OBJECTS = {
    # the dividing cell A (label 1 before, 1 and 2 after the division at t = 3)
    **{(t, 1): ((12, 12 + 2 * t), 4) for t in range(3)},
    (3, 1): ((8, 18), 3), (3, 2): ((17, 18), 3),
    (4, 1): ((6, 19), 3), (4, 2): ((19, 19), 3),
    (5, 1): ((5, 20), 3), (5, 2): ((20, 20), 3),
    # B (label 3) and C (label 4) approach, merge at t = 2, 3 (label 3), separate at t = 4
    (0, 3): ((34, 30), 3), (0, 4): ((34, 46), 3),
    (1, 3): ((34, 33), 3), (1, 4): ((34, 43), 3),
    (4, 3): ((34, 33), 3), (4, 4): ((34, 43), 3),
    (5, 3): ((34, 30), 3), (5, 4): ((34, 46), 3),
    # a speck at t = 2 only (label 5)
    (2, 5): ((42, 56), 1),
}
_MERGED = {(2, 3): ((34, 38), (8, 4)), (3, 3): ((34, 38), (8, 4))}  # centre, half-axes (x, y)

truth = {
    "division": (2, 1, [(3, 1), (3, 2)]),  # parent (t, label) -> daughters
    "mergers": [(2, 3, 2), (3, 3, 2)],  # (t, label, objects)
    "false_detection": (2, 5),
    "n_frames": 6,
}


def _frame(t: int, ndim: int) -> np.ndarray:
    shape = SHAPE_2D if ndim == 2 else SHAPE_3D
    grids = np.indices(shape)
    y, x = grids[-2], grids[-1]
    zterm = 0.0 if ndim == 2 else ((grids[0] - shape[0] / 2) / 2.5) ** 2
    lab = np.zeros(shape, np.uint16)
    for (tt, label), ((cy, cx), r) in _OBJECTS.items():
        if tt == t:
            lab[((y - cy) ** 2 + (x - cx) ** 2) / r**2 + zterm <= 1.0] = label
    for (tt, label), ((cy, cx), (ax, ay)) in _MERGED.items():
        if tt == t:
            lab[((y - cy) / ay) ** 2 + ((x - cx) / ax) ** 2 + zterm <= 1.0] = label
    return lab


def event_labels(ndim: int = 2) -> np.ndarray:
    """(t, [z,] y, x) uint16 label sequence of the scene."""
    return np.stack([_frame(t, ndim) for t in range(truth["n_frames"])])


def event_result(ndim: int = 2, resolve_mergers: bool = True):
    """Track the scene; returns ``(TrackingResult, raw)``."""
    labels = event_labels(ndim)
    raw = np.where(labels > 0, 200.0, 20.0).astype(np.float32)
    raw += np.random.default_rng(0).normal(0, 2, raw.shape).astype(np.float32)
    rows = []
    for t in range(labels.shape[0]):
        for label in np.unique(labels[t])[1:]:
            p = {(2, 5): (0.99, 0.01, 0.0), (2, 3): (0.01, 0.04, 0.95), (3, 3): (0.01, 0.04, 0.95)}
            p0, p1, p2 = p.get((t, int(label)), (0.02, 0.96, 0.02))
            rows.append((t, int(label), p0, p1, p2))
    counts = pd.DataFrame(rows, columns=["t", "label", "p0", "p1", "p2"])
    params = TrackingParameters(max_objects=2, max_distance=20.0, appearance_cost=200.0,
                                disappearance_cost=200.0)
    result = track_labels(labels, raw, params=params, count_probabilities=counts,
                          resolve_mergers=resolve_mergers)
    return result, raw
