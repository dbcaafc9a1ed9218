"""Hypotheses graph: k-nearest-neighbour transition candidates between consecutive frames (spec §4.3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .detections import COORDS, check_detections
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


def _knn_pairs(query: np.ndarray, ref: np.ndarray, tree: cKDTree, k: int, max_distance: float,
               link_all: bool):
    """Pairs (query index, ref index, distance) of the k nearest ``ref`` points (``tree``) of each query."""
    kk = min(k, ref.shape[0])
    if link_all and ref.shape[0] <= k:  # ilastik quirk: small target frames are linked entirely
        qi = np.repeat(np.arange(query.shape[0]), ref.shape[0])
        ri = np.tile(np.arange(ref.shape[0]), query.shape[0])
        return qi, ri, np.linalg.norm(query[qi] - ref[ri], axis=1)
    workers = -1 if query.shape[0] >= 5000 else 1  # threads only pay off on large frames
    # the upper bound prunes the search; farther points come back as inf and are dropped
    d, idx = tree.query(query, k=kk, workers=workers, distance_upper_bound=max_distance)
    d = d.reshape(query.shape[0], kk)
    idx = idx.reshape(query.shape[0], kk)
    keep = d < max_distance
    qi = np.nonzero(keep)[0]
    return qi, idx[keep], d[keep]


def _frame_tree(points: np.ndarray) -> cKDTree:
    """k-d tree of one frame's centres (unbalanced, uncompacted: faster to build, as fast to query here)."""
    return cKDTree(points, balanced_tree=False, compact_nodes=False)


def _unique_sorted(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an integer array (sort + neighbour test; np.unique is far slower here)."""
    s = np.sort(keys)
    if s.size == 0:
        return s
    first = np.empty(s.size, bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    return s[first]


def build_graph(
    detections: pd.DataFrame,
    params: TrackingParameters | None = None,
    *,
    scales: Sequence[float] | None = None,
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
    frames, starts = np.unique(t, return_index=True)
    ends = np.append(starts[1:], t.size)
    srcs, dsts = [], []
    trees = {}  # each frame's tree serves the links back to f - 1 and on to f + 1
    for f in range(frames.size - 1):
        if frames[f + 1] != frames[f] + 1:
            continue  # empty frame in between: no links across it
        a0, a1, b0, b1 = starts[f], ends[f], starts[f + 1], ends[f + 1]
        pa, pb = pos[a0:a1], pos[b0:b1]
        ta = trees.pop(f, None)
        ta = _frame_tree(pa) if ta is None else ta
        trees[f + 1] = tb = _frame_tree(pb)
        qi, ri, _ = _knn_pairs(pa, pb, tb, k, params.max_distance, params.ilastik_compat)
        srcs.append(qi + a0)
        dsts.append(ri + b0)
        qi, ri, _ = _knn_pairs(pb, pa, ta, k, params.max_distance, params.ilastik_compat)
        srcs.append(ri + a0)
        dsts.append(qi + b0)
    if srcs:
        src = np.concatenate(srcs).astype(np.int64)
        dst = np.concatenate(dsts).astype(np.int64)
        key = _unique_sorted(src * t.size + dst)
        src, dst = key // t.size, key % t.size
    else:
        src = np.zeros(0, np.int64)
        dst = np.zeros(0, np.int64)
    dist = np.linalg.norm(pos[src] - pos[dst], axis=1) if src.size else np.zeros(0)
    return HypothesesGraph(df, t, pos, src, dst, dist, scales)
