"""Tracking as Dask tasks: frames-per-split windows, and the hypotheses graph of long movies.

:func:`track_labels` is :func:`gputrack.tracking.track_labels` with the frames-per-split
windows solved as tasks (the cluster's executor instead of local processes); the stitching
solve runs in the calling process as before, so tracks and divisions across window borders
are kept and the result equals the single-process one.

:func:`build_graph` builds the k-nearest-neighbour hypotheses graph with one task per run
of ``frames_per_task`` frame pairs; links only join consecutive frames, so the pieces
concatenate into exactly the graph of :func:`gputrack.tracking.graph.build_graph`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..tracking import pipeline
from ..tracking.graph import HypothesesGraph, graph_inputs
from ..tracking.knn import frame_pair_knn
from ..tracking.params import TrackingParameters
from ..tracking.result import TrackingResult
from .cluster import connect, wait_all


def track_labels(
    label_frames: Sequence[np.ndarray] | np.ndarray,
    raw_frames: Sequence[np.ndarray] | np.ndarray | None = None,
    *,
    frames_per_split: int,
    scheduler: str | None = None,
    client: Any = None,
    quiet: bool = False,
    **kwargs: Any,
) -> TrackingResult:
    """Track a label sequence with its frames-per-split windows solved as Dask tasks.

    Parameters
    ----------
    label_frames, raw_frames, frames_per_split
        As for :func:`gputrack.tracking.track_labels` (``frames_per_split`` >= 1).
    scheduler, client
        Where the windows run (:func:`gputrack.distributed.connect`).
    quiet
        No dashboard line.
    kwargs
        Other arguments of :func:`gputrack.tracking.track_labels` (``params``, ``scales``, ...).

    Examples
    --------
    >>> res = track_labels(masks, frames_per_split=50, scheduler="local:2")  # doctest: +SKIP
    """
    if not frames_per_split or int(frames_per_split) < 1:
        raise InputError(f"frames_per_split={frames_per_split}: expected >= 1 for distributed tracking")
    with connect(scheduler, client=client, quiet=quiet) as c:
        def windows(fn, jobs):  # the executor's map: one task per window, a bar of finished ones
            futures = c.map(fn, list(jobs), pure=False)
            return wait_all(c, futures, quiet=quiet, desc="windows", unit="window")

        return pipeline.track_labels(label_frames, raw_frames, frames_per_split=int(frames_per_split),
                                     executor=SimpleNamespace(map=windows), **kwargs)


def _pairs_task(pos: np.ndarray, t: np.ndarray, k: int, max_distance: float, link_all: bool, offset: int):
    src, dst = frame_pair_knn(pos, t, k, max_distance, link_all)
    return src + offset, dst + offset


def build_graph(
    detections: pd.DataFrame,
    params: TrackingParameters | None = None,
    *,
    scales: Sequence[float] | None = None,
    frames_per_task: int = 100,
    scheduler: str | None = None,
    client: Any = None,
    quiet: bool = False,
) -> HypothesesGraph:
    """:func:`gputrack.tracking.graph.build_graph` with its frame pairs computed as tasks.

    Each task links the frames ``a .. a + frames_per_task`` (its pairs); consecutive tasks
    share one frame and no pair.

    Examples
    --------
    >>> g = build_graph(detections, frames_per_task=50, scheduler="local:2")  # doctest: +SKIP
    """
    params = params or TrackingParameters()
    step = int(frames_per_task)
    if step < 1:
        raise InputError(f"frames_per_task={frames_per_task}: expected >= 1")
    df, t, pos, k, scales = graph_inputs(detections, params, scales)
    first, last = (int(t.min()), int(t.max())) if t.size else (0, -1)
    with connect(scheduler, client=client, quiet=quiet) as c:
        futures = []
        for a in range(first, last, step):
            lo, hi = np.searchsorted(t, [a, a + step + 1])
            futures.append(c.submit(_pairs_task, pos[lo:hi], t[lo:hi], k, float(params.max_distance),
                                    bool(params.ilastik_compat), int(lo), pure=False))
        pieces = wait_all(c, futures, quiet=quiet, desc="graph", unit="task")
    src = np.concatenate([p[0] for p in pieces]).astype(np.int64) if pieces else np.zeros(0, np.int64)
    dst = np.concatenate([p[1] for p in pieces]).astype(np.int64) if pieces else np.zeros(0, np.int64)
    dist = np.linalg.norm(pos[src] - pos[dst], axis=1) if src.size else np.zeros(0)
    return HypothesesGraph(df, t, pos, src, dst, dist, scales)
