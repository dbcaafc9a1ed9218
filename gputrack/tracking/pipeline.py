"""From a segmented time-lapse to a tracking result in one call (what ``gputrack track`` runs).

Examples
--------
>>> import numpy as np
>>> lab = np.zeros((4, 30, 30), np.uint16)
>>> for t in range(4):
...     lab[t, 5:10, 5 + 2 * t:10 + 2 * t] = 1
>>> res = track_labels(lab)
>>> res.lineage[["t", "track_id"]].values.tolist()
[[0, 1], [1, 1], [2, 1], [3, 1]]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import backend
from ..errors import InputError
from . import mergers as _mergers
from .detections import check_detections, detections_from_labels
from .division_prior import geometric_division_probability
from .estimate import estimate_parameters
from .graph import build_graph
from .lineage import lineages
from .motion import neighbourhood_offsets, relative_energy
from .params import TrackingParameters
from .result import TrackingResult
from .track import solve_graph


def _as_frames(frames, what: str) -> list[np.ndarray]:
    if frames is None:
        raise InputError(f"{what}: expected a sequence of frames, got None")
    if isinstance(frames, np.ndarray) or backend.device_of(frames) == "gpu":
        if frames.ndim < 3:
            raise InputError(f"{what}: expected (t, y, x) or (t, z, y, x) frames, got shape {frames.shape}")
        return list(frames)
    return [f if backend.device_of(f) == "gpu" else np.asarray(f) for f in frames]


def check_sequence(label_frames, raw_frames=None) -> list[np.ndarray]:
    """Validate a label sequence (and the raw sequence beside it); return the label frames.

    Raises
    ------
    InputError
        No frames, frames of different shapes or non-integer labels, or raw frames whose number
        or spatial shape differs from the labels' (raw may carry a trailing channel axis).

    Examples
    --------
    >>> len(check_sequence(np.zeros((2, 4, 4), np.uint8)))
    2
    """
    labels = _as_frames(label_frames, "label frames")
    if not labels:
        raise InputError("label frames: the sequence is empty; expected at least one frame")
    shape = labels[0].shape
    for k, f in enumerate(labels):
        if f.shape != shape:
            raise InputError(f"label frames: frame {k} has shape {f.shape}, expected {shape} like frame 0")
        if not np.issubdtype(f.dtype, np.integer):
            raise InputError(f"label frames: frame {k} has dtype {f.dtype}, expected integer labels")
    if raw_frames is not None:
        raw = _as_frames(raw_frames, "raw frames")
        if len(raw) != len(labels):
            raise InputError(f"raw frames: {len(raw)} frames, but the label sequence has {len(labels)}")
        for k, r in enumerate(raw):
            if r.shape != shape and r.shape[:-1] != shape:
                raise InputError(
                    f"raw frames: frame {k} has shape {r.shape}, expected {shape} (or with a channel axis)"
                )
    return labels


def _aligned(values, det: pd.DataFrame, what: str, columns: Sequence[str] | None = None) -> np.ndarray:
    """Values per detection: an array in (t, label) order, or a table keyed by ``t, label``."""
    if isinstance(values, pd.DataFrame):
        if not {"t", "label"} <= set(values.columns):
            raise InputError(f"{what}: a table needs columns t, label; got {list(values.columns)}")
        cols = [c for c in values.columns if c not in ("t", "label")] if columns is None else list(columns)
        merged = det[["t", "label"]].merge(values, on=["t", "label"], how="left", validate="one_to_one")
        if merged[cols].isna().any().any():
            raise InputError(f"{what}: no value for some detections (t, label) of the label frames")
        return merged[cols].to_numpy(np.float64)
    arr = np.asarray(values, np.float64)
    if arr.shape[0] != len(det):
        raise InputError(f"{what}: {arr.shape[0]} rows for {len(det)} detections (in t, label order)")
    return arr


def track_labels(
    label_frames: Sequence[np.ndarray] | np.ndarray,
    raw_frames: Sequence[np.ndarray] | np.ndarray | None = None,
    *,
    params: TrackingParameters | None = None,
    solver: str = "flow",
    scales: Sequence[float] | None = None,
    frames_per_split: int | None = None,
    n_jobs: int = 1,
    resolve_mergers: bool = True,
    timeout: float | None = None,
    count_probabilities: pd.DataFrame | np.ndarray | None = None,
    division_probabilities: pd.DataFrame | np.ndarray | None = None,
    start: int = 0,
    executor: Any = None,
    estimate: bool | None = None,
    fixed: Sequence[str] = (),
    motion: str | None = None,
    keep_detections: bool | None = None,
) -> TrackingResult:
    """Track the objects of a label sequence: detections, priors, graph, solve, mergers, lineages.

    Parameters
    ----------
    label_frames : (t, [z,] y, x) array or sequence of frames
        Segmentation, one integer label image per frame (0 = background).
    raw_frames : sequence of frames, optional
        The raw images; only checked against the labels (same number of frames, same spatial
        shape) so that a mismatched pair of folders is caught before tracking.
    params : TrackingParameters, optional
        Used as given. Omitted: ilastik's GUI weights with the data-driven defaults — labels
        trusted, α / border width / appearance and disappearance costs estimated, the drift
        motion model when it lowers the energy (see ``estimate``, ``motion``,
        ``keep_detections``).
    solver : {"flow", "ilp"}
    scales : (z, y, x) pixel size; every tracking distance is physical.
    frames_per_split : int, optional
        Solve time windows of this many frames in parallel and stitch them
        (:func:`gputrack.tracking.split.track_split`); None or 0 solves globally.
    n_jobs : int
        Processes for the windows.
    resolve_mergers : bool
        Split detections carrying several objects (only when ``params.max_objects > 1``).
    timeout : float, optional
        ILP time limit in seconds (> 0).
    count_probabilities : table or array, optional
        Object-count probabilities P(0..K), K >= max_objects: a table with ``t, label`` and one
        column per count (e.g. ``p0, p1, p2``), or an array in (t, label) order. Default: the
        size prior :func:`gputrack.objects.count_prior` when ``max_objects > 1``, else
        ``params.detection_probability``.
    division_probabilities : table or array, optional
        P(divides) per detection (table with ``t, label`` and one value column, or array).
        Default: :func:`geometric_division_probability` when divisions are on and
        ``params.division_probability`` is None.
    start : int
        Time of the first frame.
    executor : concurrent.futures.Executor, optional
        Solves the frames-per-split windows (e.g. a Dask client's ``get_executor()``).
    estimate : bool, optional
        Estimate α, the border width and the appearance/disappearance costs from the detections
        (:func:`gputrack.tracking.estimate.estimate_parameters`). Default: only when ``params``
        is omitted.
    fixed : names of estimated parameters to keep as ``params`` gives them (what a user set).
    motion : {"auto", "none", "drift"}, optional
        Transition model. "drift" re-solves with neighbourhood-consistent displacements from the
        first solution (:mod:`gputrack.tracking.motion`), "auto" keeps that re-solve only when
        it lowers the energy. Default: "auto" when ``params`` is omitted (and no
        ``frames_per_split``), else "none".
    keep_detections : bool, optional
        Every labelled object is real (``params.keep_detections``). Default: ``params``' value;
        with ``params`` omitted, True unless count probabilities or mergers (``max_objects >
        1``, whose size prior may call an object false) are given.

    Returns
    -------
    TrackingResult
        ``result.estimated`` reports the estimated parameters and the motion model used.
    """
    defaults = params is None
    params = params or TrackingParameters()
    if timeout is not None and not timeout > 0:
        raise InputError(f"timeout must be a positive number of seconds, got {timeout}")
    frames = check_sequence(label_frames, raw_frames)
    det = detections_from_labels(frames, scales if scales is not None else (1.0, 1.0, 1.0), start=start)
    if len(det) == 0:
        raise InputError(f"label frames: no objects in any of the {len(frames)} frames")
    det = check_detections(det)
    m = int(params.max_objects)
    data_driven = defaults and not params.ilastik_compat
    if keep_detections is None:
        keep_detections = params.keep_detections or (data_driven and count_probabilities is None and m == 1)
    if keep_detections != params.keep_detections:
        params = params.replace(keep_detections=bool(keep_detections))
    estimated: dict = {}
    if estimate if estimate is not None else data_driven:
        params, estimated = estimate_parameters(det, params, fixed=fixed)
    motion = motion or ("auto" if data_driven and not frames_per_split else "none")
    if motion not in ("auto", "none", "drift"):
        raise InputError(f"motion must be 'auto', 'none' or 'drift', got {motion!r}")
    if count_probabilities is not None:
        p = _aligned(count_probabilities, det, "count_probabilities")
        if p.ndim != 2 or p.shape[1] < m + 1:
            raise InputError(f"count_probabilities: need P(0..{m}) per detection, got shape {p.shape}")
        for k in range(p.shape[1]):
            det[f"count_prob_{k}"] = p[:, k]
    elif m > 1:
        from ..objects import count_prior

        prior = count_prior(pd.DataFrame({"Count": det["size"].to_numpy(np.float64)}), max_objects=m)
        for k in range(m + 1):
            det[f"count_prob_{k}"] = prior[f"p{k}"].to_numpy()
    if division_probabilities is not None:
        pdiv = _aligned(division_probabilities, det, "division_probabilities")
        det["div_prob"] = pdiv.reshape(len(det), -1)[:, -1]
    geometric = (division_probabilities is None and params.with_divisions
                 and params.division_probability is None)
    if geometric and frames_per_split:
        det["div_prob"] = geometric_division_probability(det, params=params)
    det = check_detections(det)
    t0 = time.perf_counter()
    if frames_per_split:
        from .split import track_split

        sol = track_split(det, params, frames_per_split=frames_per_split, n_jobs=n_jobs, solver=solver,
                          timeout=timeout, executor=executor)
    else:
        sol = _solve(det, params, solver, timeout, geometric)
        if motion != "none":
            sol, estimated["motion"] = _with_drift(sol, det, params, solver, timeout, geometric,
                                                   force=motion == "drift")
    # label frames on the GPU stayed there for the detections; the result keeps host frames
    # (identities for the exports), and merger resolution fits the mergers' pixels on the host
    identities = [backend.to_host(f) for f in frames]
    if resolve_mergers and m > 1:
        sol, identities = _mergers.resolve_mergers(sol, identities, params, start=start)
    sol.seconds = max(sol.seconds, time.perf_counter() - t0)
    lin = lineages(sol)
    d = sol.graph.detections
    lin["merger_label"] = d["merger_label"].to_numpy() if "merger_label" in d else np.zeros(len(d), np.int64)
    result = TrackingResult(sol, lin, params, identities, None, start)
    result.estimated = estimated
    return result


def _solve(det, params, solver, timeout, geometric, offsets=None):
    """:func:`track`, with the geometric division prior (when ``geometric``) from the same graph."""
    graph = build_graph(det, params, offsets=offsets)
    if geometric:
        graph.detections["div_prob"] = geometric_division_probability(
            graph.detections, graph, params, offsets=offsets)
    return solve_graph(graph, params, solver=solver, timeout=timeout)


def _with_drift(sol, det, params, solver, timeout, geometric, *, force=False, rounds=3):
    """Re-solve with neighbourhood drift offsets while that lowers the energy (or once, forced)."""
    best, best_e, used = sol, relative_energy(sol), "none"
    for _ in range(rounds):
        off = neighbourhood_offsets(best)
        if not np.any(off):
            break
        trial = _solve(det, params, solver, timeout, geometric, off)
        e = relative_energy(trial)
        if not (force and used == "none") and e >= best_e - 1e-9 * max(1.0, abs(best_e)):
            break
        best, best_e, used = trial, e, "drift"
    return best, used
