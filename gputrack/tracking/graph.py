"""Hypotheses graph: k-nearest-neighbour transition candidates between consecutive frames (spec §4.3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .detections import COORDS, check_detections
from .knn import frame_pair_knn
from .params import TrackingParameters


@dataclass
class HypothesesGraph:
    """Candidate links between detections, as flat arrays.

    Attributes
    ----------
    detections : DataFrame
        The checked detection table; row ``i`` is node ``i``.
    t : (n,) int64
        Frame of each node (nodes are sorted by frame).
    positions : (n, 3) float64
        Centres used for distances (physical units, or pixels under ``ilastik_compat``).
    src, dst : (E,) int64
        Link ``e`` goes from node ``src[e]`` in frame ``t`` to ``dst[e]`` in frame ``t + 1``;
        sorted by ``(src, dst)``.
    distance : (E,) float64
        Euclidean length of each link.
    scales : tuple
        The (z, y, x) scales applied to pixel centres.
    """

    detections: pd.DataFrame
    t: np.ndarray
    positions: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    distance: np.ndarray
    scales: tuple

    @property
    def n_nodes(self) -> int:
        return int(self.t.size)

    @property
    def n_links(self) -> int:
        return int(self.src.size)

    def out_degree(self) -> np.ndarray:
        return np.bincount(self.src, minlength=self.n_nodes)

    def in_degree(self) -> np.ndarray:
        return np.bincount(self.dst, minlength=self.n_nodes)


def graph_inputs(
    detections: pd.DataFrame, params: TrackingParameters, scales: Sequence[float] | None = None
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, int, tuple[float, ...]]:
    """Checked detections, their frames, positions in graph units, k and the scales used.

    Positions are physical (pixel coordinates times ``scales``, default the table's
    ``attrs["scales"]``) unless ``params.ilastik_compat``; k is at least 2 with divisions.
    """
    df = check_detections(detections)
    if scales is None:
        scales = df.attrs.get("scales", (1.0, 1.0, 1.0))
    scales = tuple(float(s) for s in scales)
    pix = df[list(COORDS)].to_numpy(np.float64)
    pos = pix if params.ilastik_compat else pix * np.asarray(scales)[None, :]
    t = df["t"].to_numpy(np.int64)
    k = int(params.k_neighbors)
    if params.with_divisions and k < 2:
        k = 2
    return df, t, pos, k, scales


def build_graph(
    detections: pd.DataFrame,
    params: TrackingParameters | None = None,
    *,
    scales: Sequence[float] | None = None,
    offsets: np.ndarray | None = None,
) -> HypothesesGraph:
    """Link each detection to its k nearest neighbours in the next frame, and back (spec §4.3).

    For every pair of consecutive frames (t, t+1) the edge set is the union of the forward
    (each object in t to its k nearest in t+1) and backward (each object in t+1 to its k nearest
    in t) neighbours strictly closer than ``max_distance``. Distances are physical
    (pixel centres times ``scales``) unless ``params.ilastik_compat``, which reproduces ilastik's
    unscaled distances and its "link everything when the target frame has <= k objects" quirk.
    A frame without detections breaks the chain. ``k`` is raised to 2 when divisions are on
    (a parent needs two successors).

    Parameters
    ----------
    detections : DataFrame
        Table with ``t, label, [z,] y, x`` (pixel centres).
    params : TrackingParameters, optional
    scales : (z, y, x), optional
        Pixel size; defaults to ``detections.attrs["scales"]`` or ones.
    offsets : (n, 3) float64, optional
        A motion model: the predicted displacement of each detection (rows in ``(t, label)``
        order, physical units) to the next frame. Neighbours are searched around, and link
        lengths measured from, the predicted position (:mod:`gputrack.tracking.motion`).

    Returns
    -------
    HypothesesGraph

    Examples
    --------
    >>> df = pd.DataFrame({"t": [0, 1, 1], "label": [1, 1, 2], "y": [0., 1., 50.], "x": [0., 0., 0.]})
    >>> g = build_graph(df, TrackingParameters(k_neighbors=1))
    >>> g.src.tolist(), g.dst.tolist()
    ([0, 0], [1, 2])
    """
    params = params or TrackingParameters()
    df, t, pos, k, scales = graph_inputs(detections, params, scales)
    if offsets is not None:
        offsets = np.asarray(offsets, np.float64).reshape(len(df), 3)
    src, dst = frame_pair_knn(pos, t, k, params.max_distance, params.ilastik_compat, offsets)
    moved = pos[src] if offsets is None else pos[src] + offsets[src]
    dist = np.linalg.norm(moved - pos[dst], axis=1) if src.size else np.zeros(0)
    return HypothesesGraph(df, t, pos, src, dst, dist, scales)
