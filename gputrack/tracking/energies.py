"""Energies of the conservation-tracking model (spec §4.5), weighted and convexified."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from ..errors import InputError
from .detections import count_columns
from .graph import HypothesesGraph
from .params import TrackingParameters

PROB_MIN, PROB_MAX = 1e-7, 0.99999999  # traxel clamps (spec §4.2)
NEGLOG_FLOOR = 1e-10  # hytra negLog clamp


@dataclass
class Energies:
    """Per-state energies (already weighted and convexified); state k = 0..M.

    Attributes
    ----------
    detection, appearance, disappearance : (n, M+1) float64
    link : (E, M+1) float64
    division : (n, 2) float64
        [no division, division]; only meaningful where ``division_allowed``.
    division_allowed : (n,) bool
    """

    detection: np.ndarray
    appearance: np.ndarray
    disappearance: np.ndarray
    link: np.ndarray
    division: np.ndarray
    division_allowed: np.ndarray

    @property
    def max_objects(self) -> int:
        return self.detection.shape[1] - 1


def neg_log(p: np.ndarray) -> np.ndarray:
    """-log(p) with p clamped below at 1e-10 (hytra's ``negLog``)."""
    return -np.log(np.maximum(np.asarray(p, np.float64), NEGLOG_FLOOR))


@numba.njit(cache=True)
def _convexify_rows(f, eps):
    out = f.copy()
    n, m1 = out.shape
    for r in range(n):
        m = 0
        for k in range(1, m1):
            if out[r, k] < out[r, m]:
                m = k
        prev = 0.0
        for k in range(m + 1, m1):
            inc = out[r, k] - out[r, k - 1]
            if inc < prev + eps:
                inc = prev + eps
                out[r, k] = out[r, k - 1] + inc
            prev = inc
        prev = 0.0
        for k in range(m - 1, -1, -1):
            inc = out[r, k] - out[r, k + 1]
            if inc < prev + eps:
                inc = prev + eps
                out[r, k] = out[r, k + 1] + inc
            prev = inc
    return out


def convexify(costs: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Make each row of state costs strictly convex (hytra ``convexify``).

    Starting at the cheapest state, walk outwards and replace every increment that is not larger
    than the previous one by at least ``eps`` with previous + ``eps``.

    Examples
    --------
    >>> convexify(np.array([[0.0, 5.0, 5.0]]), eps=1e-6).round(6).tolist()
    [[0.0, 5.0, 10.000001]]
    """
    c = np.ascontiguousarray(np.atleast_2d(np.asarray(costs, np.float64)))
    return _convexify_rows(c, float(eps))


def count_probabilities(detections, max_objects: int, params: TrackingParameters) -> np.ndarray:
    """Object-count probabilities (n, M+1), clamped to [1e-7, 0.99999999] (spec §4.2).

    Uses the ``count_prob_0..K`` columns (K >= M required), else the prior
    ``[1 - p, p, 1e-7, ...]`` with p = ``params.detection_probability``.
    """
    n = len(detections)
    cols = count_columns(detections)
    if cols:
        if len(cols) < max_objects + 1:
            raise InputError(
                f"detections: max_objects={max_objects} needs count_prob_0..count_prob_{max_objects}, "
                f"got {len(cols)} count column(s)"
            )
        p = detections[cols[: max_objects + 1]].to_numpy(np.float64)
    else:
        p = np.full((n, max_objects + 1), PROB_MIN)
        p[:, 0] = 1.0 - params.detection_probability
        p[:, 1] = params.detection_probability
    return np.clip(p, PROB_MIN, PROB_MAX)


def division_probabilities(detections, params: TrackingParameters) -> np.ndarray | None:
    """Division probability per detection (clamped), or None when none is available."""
    if "div_prob" in detections.columns:
        p = detections["div_prob"].to_numpy(np.float64)
    elif params.division_probability is not None:
        p = np.full(len(detections), float(params.division_probability))
    else:
        return None
    return np.clip(p, PROB_MIN, PROB_MAX)


def field_of_view(
    graph: HypothesesGraph, shape: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Field-of-view box (lower, upper) per axis (z, y, x) in the units of ``graph.positions``.

    From the image ``shape`` (or ``detections.attrs["shape"]``): [0, scale * (size - 1)];
    without a shape, the bounding box of the centres. Axes of extent 0 (z in 2D) are ignored by
    :func:`border_multiplier`.
    """
    if shape is None:
        shape = graph.detections.attrs.get("shape")
    if shape is not None:
        shape = np.asarray(shape, np.float64)[-3:]
        lo = np.zeros(3)
        hi = (shape - 1.0) * np.asarray(graph.scales)
        return lo, hi
    if graph.n_nodes == 0:
        return np.zeros(3), np.zeros(3)
    return graph.positions.min(axis=0), graph.positions.max(axis=0)


def border_multiplier(
    positions: np.ndarray, lower: np.ndarray, upper: np.ndarray, border_width: float
) -> np.ndarray:
    """min(1, distance to the nearest face of the box / border width); 1 if the width is 0.

    Examples
    --------
    >>> border_multiplier(np.array([[0., 5., 50.]]), np.zeros(3), np.array([0., 100., 100.]), 10.0)
    array([0.5])
    """
    if border_width <= 0:
        return np.ones(positions.shape[0])
    axes = np.nonzero(upper > lower)[0]
    if axes.size == 0:
        return np.ones(positions.shape[0])
    p = positions[:, axes]
    d = np.minimum(p - lower[axes], upper[axes] - p).min(axis=1)
    return np.where(d > border_width, 1.0, np.maximum(d, 0.0) / border_width)


def compute_energies(
    graph: HypothesesGraph,
    params: TrackingParameters | None = None,
    *,
    shape: Sequence[int] | None = None,
    frames: tuple[int, int] | None = None,
) -> Energies:
    """Detection, transition, division, appearance and disappearance energies (spec §4.5).

    - detection ``w_det * -log P_count(k)``;
    - transition ``w_trans * [-log(1 - p), -log p, ...]`` with ``p = exp(-d / alpha)``;
    - division ``w_div * [-log(1 - P_div), -log P_div]``, allowed where ``P_div > threshold`` and
      the node has at least two outgoing links;
    - appearance ``w_app * [0, m, ..., m]`` with the border multiplier m (0 in the first frame),
      disappearance likewise (0 in the last frame);
    then every vector except division is convexified. With ``params.keep_detections`` the
    "no object" state of a detection costs more than its own appearance + detection +
    disappearance, so that no optimum switches it off.

    Parameters
    ----------
    graph : HypothesesGraph
    params : TrackingParameters, optional
    shape : spatial (z, y, x) image shape for the field of view (default: detections.attrs)
    frames : (first, last) frame of the time range (default: attrs["frames"] or min/max t)

    Returns
    -------
    Energies

    Examples
    --------
    >>> import pandas as pd
    >>> from gputrack.tracking.graph import build_graph
    >>> df = pd.DataFrame({"t": [0, 1], "label": [1, 1], "y": [50., 53.], "x": [50., 54.]})
    >>> g = build_graph(df)
    >>> e = compute_energies(g, shape=(1, 100, 100))
    >>> round(float(e.link[0, 1]), 6)  # 10 * d / 5 with d = 5
    10.0
    """
    params = params or TrackingParameters()
    df = graph.detections
    n, m = graph.n_nodes, int(params.max_objects)
    eps = params.epsilon
    pc = count_probabilities(df, m, params)
    det = convexify(params.detection_weight * neg_log(pc), eps)

    p = np.exp(-graph.distance / params.transition_alpha)
    link = np.empty((graph.n_links, m + 1))
    link[:, 0] = neg_log(1.0 - p)
    link[:, 1:] = neg_log(p)[:, None]
    link = convexify(params.transition_weight * link, eps) if graph.n_links else link.reshape(0, m + 1)

    if frames is None:
        frames = df.attrs.get("frames")
    if frames is None:
        frames = (int(graph.t.min()), int(graph.t.max())) if n else (0, 0)
    lo, hi = field_of_view(graph, shape)
    mult = border_multiplier(graph.positions, lo, hi, params.border_width)
    m_app = np.where(graph.t <= frames[0], 0.0, mult)
    m_dis = np.where(graph.t >= frames[1], 0.0, mult)
    states = np.minimum(np.arange(m + 1), 1)[None, :].astype(np.float64)
    app = convexify(params.appearance_cost * m_app[:, None] * states, eps) if n else np.zeros((0, m + 1))
    dis = convexify(params.disappearance_cost * m_dis[:, None] * states, eps) if n else np.zeros((0, m + 1))

    if params.keep_detections and n:
        # off costs more than appearing, existing and disappearing alone: an optimum keeps it
        det[:, 0] = np.maximum(det[:, 0], det[:, 1] + app[:, 1] + dis[:, 1] + 1.0)
        det = convexify(det, eps)

    div = np.zeros((n, 2))
    allowed = np.zeros(n, bool)
    pdiv = division_probabilities(df, params) if params.with_divisions else None
    if pdiv is not None:
        div[:, 0] = neg_log(1.0 - pdiv)
        div[:, 1] = neg_log(pdiv)
        div *= params.division_weight
        allowed = (pdiv > params.division_threshold) & (graph.out_degree() >= 2)
    return Energies(det, app, dis, link, div, allowed)
