"""A division probability without a classifier, from the geometry of the two nearest successors."""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from .graph import HypothesesGraph, build_graph
from .params import TrackingParameters

SIZE_FLOOR = 0.4
"""Share of the angle cue kept when the size cues say "no division" (see
:func:`geometric_division_probability`)."""


@numba.njit(cache=True)
def _two_nearest(src, dst, d, n):  # pragma: no cover - compiled
    """Per node its nearest and second-nearest successor (-1 if none); ties to the earlier link."""
    best = np.full((n, 2), -1, np.int64)
    bd = np.full((n, 2), np.inf)
    for e in range(src.size):
        s = src[e]
        if best[s, 0] < 0 or d[e] < bd[s, 0]:
            best[s, 1], bd[s, 1] = best[s, 0], bd[s, 0]
            best[s, 0], bd[s, 0] = dst[e], d[e]
        elif best[s, 1] < 0 or d[e] < bd[s, 1]:
            best[s, 1], bd[s, 1] = dst[e], d[e]
    return best


def geometric_division_probability(
    detections: pd.DataFrame,
    graph: HypothesesGraph | None = None,
    params: TrackingParameters | None = None,
    *,
    floor: float = SIZE_FLOOR,
    offsets: np.ndarray | None = None,
) -> np.ndarray:
    """Division probability of each detection from its two nearest linked successors c1, c2.

    A mother splits into two daughters that lie on opposite sides of it and together have about
    its size, the nearest one clearly smaller than the mother. With sizes ``s`` and centres ``p``:

    - ``c = (1 - cos angle(c1 - p, c2 - p)) / 2`` (daughters on opposite sides; 0 when a
      successor sits exactly at ``p``),
    - ``a = sigmoid((0.85 - s(c1) / s(mother)) / 0.05)`` (nearest successor clearly smaller),
    - ``b = exp(-log((s(c1) + s(c2)) / s(mother))^2 / (2 * 0.25^2))`` (daughters sum to the mother),

    and P = c * (f + (1 - f) * a * b) with ``f = floor`` (0 for detections with fewer than two
    successors). The angle decides; the sizes raise P from ``c * f`` to ``c``. Sizes are not
    allowed to rule a division out: around mitosis segmented sizes jump (on the GT masks of CTC
    Fluo-N2DH-SIM+ 01, 2 of 28 mothers have daughters *larger* than themselves, and one of them
    appeared one frame before it divides). Without a ``size`` column, ``a * b`` is replaced by
    the symmetry of the two distances ``min(d1, d2) / max(d1, d2)``. On the GT masks of SIM+ 01
    non-dividing cells have a nearest successor of about their own size (5th percentile 0.8),
    dividing ones of 0.3-0.7.

    The floor 0.4 was chosen on frames 0-31 of SIM+ 01 (GT masks, appearance cost 100 and 500),
    where every floor from 0.25 to 0.5 gives the best LNK and finds all 15 divisions; 0 (sizes
    decisive) misses one. ``bench/track_classifiers.py`` reports frames 32-64 and the whole
    sequence.

    Parameters
    ----------
    detections : DataFrame
        With ``t, label, [z,] y, x`` and optionally ``size``.
    graph : HypothesesGraph, optional
        Candidate links (built with ``params`` if not given).
    params : TrackingParameters, optional
    floor : float
        P of a mother whose daughters lie exactly opposite when the size cues say "no".
    offsets : (n, 3) float64, optional
        The motion model of the graph (:func:`build_graph`): sides are judged around the
        mother's predicted position.

    Returns
    -------
    (n,) float64 array aligned with ``graph.detections`` (sorted by ``t, label``).

    Examples
    --------
    >>> df = pd.DataFrame({"t": [0, 1, 1], "label": [1, 1, 2], "y": [10., 6., 14.], "x": [10., 10., 10.],
    ...                    "size": [100, 50, 50]})
    >>> float(geometric_division_probability(df)[0]) > 0.9
    True
    """
    params = params or TrackingParameters()
    if graph is None:
        graph = build_graph(detections, params, offsets=offsets)
    df = graph.detections
    n = graph.n_nodes
    prob = np.zeros(n)
    if graph.n_links == 0:
        return prob
    pos = graph.positions
    d = graph.distance
    best = _two_nearest(np.asarray(graph.src, np.int64), np.asarray(graph.dst, np.int64),
                        np.asarray(d, np.float64), n)
    mothers = np.flatnonzero(best[:, 1] >= 0)
    c1, c2 = best[mothers, 0], best[mothers, 1]
    centre = pos[mothers] if offsets is None else pos[mothers] + np.asarray(offsets, np.float64)[mothers]
    v1, v2 = pos[c1] - centre, pos[c2] - centre
    n1, n2 = np.linalg.norm(v1, axis=1), np.linalg.norm(v2, axis=1)
    # a successor exactly at the mother's centre lies on no side of it: no evidence (cos 1)
    moved = n1 * n2 > 0
    cos = np.where(moved, np.einsum("ij,ij->i", v1, v2) / np.where(moved, n1 * n2, 1.0), 1.0)
    c = (1.0 - np.clip(cos, -1.0, 1.0)) / 2.0
    if "size" in df.columns:
        s = df["size"].to_numpy(np.float64)
        sm = np.maximum(s[mothers], 1e-12)
        a = 1.0 / (1.0 + np.exp(np.clip((s[c1] / sm - 0.85) / 0.05, -50.0, 50.0)))
        r = np.maximum((s[c1] + s[c2]) / sm, 1e-12)
        b = np.exp(-(np.log(r) ** 2) / (2 * 0.25**2))
        size_cue = a * b
    else:
        size_cue = np.minimum(n1, n2) / np.maximum(np.maximum(n1, n2), 1e-12)
    prob[mothers] = c * (floor + (1.0 - floor) * size_cue)
    return prob
