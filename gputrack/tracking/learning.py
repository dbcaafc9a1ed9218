"""Tracking with learning: the five tracking weights learned from annotations by a structured SVM (spec §6).

The tracking energy is linear in the weights ``w = (detection, division, transition,
appearance, disappearance)``: ``E_w(y) = w . phi(y)``, where ``phi_c(y)`` is the energy of the
labelling ``y`` under component ``c`` alone with unit weight (:func:`compute_energies` with
every weight 1). Given annotated labellings ``y*`` (sparse sub-tracks in crops, or a full
ground truth), :func:`learn_weights` solves the margin-rescaled structured SVM

    min_w  1/2 |w|^2 + C xi   s.t.  w . (phi(y) - phi(y*)) >= Delta(y*, y) - xi  for all y,  w >= 0

by 1-slack cutting planes: each round the most violated labelling (loss-augmented inference
``argmin_y E_w(y) - Delta(y*, y)``) is found by gputrack's exact ILP (OR-Tools/HiGHS; no
commercial solver) and added to the working set, whose quadratic program (6 variables) is
solved by SLSQP; rounds stop when no labelling violates its constraint by more than ``tol``.
``Delta`` is the Hamming loss over the model's indicator variables: detection counts, link
values and divisions (appearance and disappearance follow from them by flow conservation).
Learned weights are scaled to unit L2 norm, as ilastik does.

Training model (:func:`training_problem`), as ilastik builds it: the graph holds the annotated
objects only (tracks and misdetections, inside the crops) and the k-nearest-neighbour links
between them, plus every annotated link the neighbour search missed (ilastik raises k instead);
a crop is taken as fully annotated, so an annotated track starting or ending inside it appears
or disappears there (its first and last frame are free, as a sequence's are), except next to a
frame without any annotated object, where appearing and disappearing cost nothing (the
annotation says nothing there). A division whose children are not annotated (ilastik's
"annotate divisions" tooltip marks the parent only) is left out; one the classifier did not
allow (probability below the threshold) is allowed in the training model.

Differences from ilastik: ilastik's tracking with learned weights uses a hard-coded detection
weight of 10 with the other learned (unit-norm) weights (a quirk); :func:`to_parameters` uses
all learned weights, scaled together (the optimum does not depend on the scale).

Examples
--------
>>> import numpy as np
>>> from gputrack.tracking.annotation import from_ctc
>>> lab = np.zeros((4, 40, 40), np.uint16)
>>> for t in range(4):
...     lab[t, 5:10, 5 + 2 * t:10 + 2 * t] = 1; lab[t, 25:30, 30 - 2 * t:35 - 2 * t] = 2
>>> problem = training_problem(lab, from_ctc(lab, np.array([[1, 0, 3, 0], [2, 0, 3, 0]])))
>>> learned = learn_weights(problem)
>>> learned.loss
0
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, MissingInputError
from .annotation import MISDETECTION, Annotations, check_annotations
from .detections import COORDS, check_detections, detections_from_labels
from .energies import Energies, compute_energies
from .graph import HypothesesGraph, build_graph
from .params import TrackingParameters

__all__ = ["WEIGHT_NAMES", "LearnedWeights", "TrainingProblem", "features", "hamming_loss", "learn_weights",
           "load_weights", "save_weights", "to_parameters", "training_problem", "weighted_energies"]

WEIGHT_NAMES = ("detection", "division", "transition", "appearance", "disappearance")
"""The learned weights, in this order (ilastik's names)."""

_PARAM = {"detection": "detection_weight", "division": "division_weight", "transition": "transition_weight",
          "appearance": "appearance_cost", "disappearance": "disappearance_cost"}


@dataclass
class TrainingProblem:
    """One annotated training model: graph, unit-weight energies and the annotated labelling."""

    graph: HypothesesGraph
    unit: Energies
    count: np.ndarray
    link_value: np.ndarray
    division: np.ndarray
    forced_divisions: int = 0
    skipped_divisions: int = 0

    @property
    def appearance(self) -> np.ndarray:
        inflow = np.bincount(self.graph.dst, weights=self.link_value, minlength=self.graph.n_nodes)
        return (self.count - inflow).astype(np.int64)

    @property
    def disappearance(self) -> np.ndarray:
        outflow = np.bincount(self.graph.src, weights=self.link_value, minlength=self.graph.n_nodes)
        return (self.count + self.division - outflow).astype(np.int64)


@dataclass
class LearnedWeights:
    """Result of :func:`learn_weights`.

    Attributes
    ----------
    weights : dict
        The five weights (unit L2 norm), by :data:`WEIGHT_NAMES`.
    loss : int
        Hamming loss of the tracking with ``weights`` on the training models (0 = the
        annotations are reproduced).
    loss_curve : list of int
        Hamming loss of the most violated labelling in each round.
    objective_curve : list of float
        SSVM objective ``1/2 |w|^2 + C xi`` of each round's working set.
    rounds, converged, seconds
    """

    weights: dict[str, float]
    loss: int
    loss_curve: list[int] = field(default_factory=list)
    objective_curve: list[float] = field(default_factory=list)
    rounds: int = 0
    converged: bool = False
    seconds: float = 0.0
    raw_weights: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"weights": self.weights, "loss": int(self.loss),
                "loss_curve": [int(v) for v in self.loss_curve],
                "objective_curve": [float(v) for v in self.objective_curve], "rounds": int(self.rounds),
                "converged": bool(self.converged), "seconds": float(self.seconds),
                "raw_weights": self.raw_weights, "order": list(WEIGHT_NAMES)}


def _unit_parameters(params: TrackingParameters) -> TrackingParameters:
    return params.replace(**{name: 1.0 for name in _PARAM.values()})


def weighted_energies(unit: Energies, w: Sequence[float]) -> Energies:
    """Energies with weights ``w`` (in :data:`WEIGHT_NAMES` order) from unit-weight energies."""
    w_det, w_div, w_trans, w_app, w_dis = (float(v) for v in w)
    return Energies(w_det * unit.detection, w_app * unit.appearance, w_dis * unit.disappearance,
                    w_trans * unit.link, w_div * unit.division, unit.division_allowed.copy())


def features(unit: Energies, count, appearance, disappearance, link_value, division) -> np.ndarray:
    """``phi(y)``: the energy of a labelling under each unit-weight component (:data:`WEIGHT_NAMES` order)."""
    idx = np.arange(unit.detection.shape[0])
    allowed = unit.division_allowed
    det = unit.detection[idx, count].sum()
    div = unit.division[allowed, np.asarray(division)[allowed].astype(np.int64)].sum()
    link = unit.link[np.arange(len(link_value)), link_value].sum() if len(link_value) else 0.0
    app = unit.appearance[idx, appearance].sum()
    dis = unit.disappearance[idx, disappearance].sum()
    return np.array([det, div, link, app, dis], np.float64)


def _with_links(graph: HypothesesGraph, extra: set[tuple[int, int]]) -> HypothesesGraph:
    have = set(zip(graph.src.tolist(), graph.dst.tolist()))
    add = sorted(extra - have)
    if not add:
        return graph
    pairs = sorted(have | set(add))
    src = np.array([a for a, _ in pairs], np.int64)
    dst = np.array([b for _, b in pairs], np.int64)
    dist = np.linalg.norm(graph.positions[src] - graph.positions[dst], axis=1)
    return HypothesesGraph(graph.detections, graph.t, graph.positions, src, dst, dist, graph.scales)


def _in_crops(det: pd.DataFrame, crops) -> np.ndarray:
    if not crops:
        return np.ones(len(det), bool)
    keep = np.zeros(len(det), bool)
    t = det["t"].to_numpy()
    pos = det[list(COORDS)].to_numpy(np.float64)
    for crop in crops:
        t0, t1 = crop["time"]
        inside = (t >= t0) & (t <= t1)
        for axis, name in enumerate(COORDS):
            if name in crop:
                lo, hi = crop[name]
                inside &= (pos[:, axis] >= lo) & (pos[:, axis] < hi)
        keep |= inside
    return keep


def training_problem(
    label_frames: Sequence[np.ndarray] | np.ndarray | None,
    annotations: Annotations,
    params: TrackingParameters | None = None,
    *,
    detections: pd.DataFrame | None = None,
    crops: Sequence[dict] | None = None,
    scales: Sequence[float] = (1.0, 1.0, 1.0),
) -> TrainingProblem:
    """The training model of ``annotations`` on the objects of ``label_frames`` (module docstring).

    Parameters
    ----------
    label_frames : the segmentation (frame ``t`` = ``label_frames[t]``); or None with ``detections``
    annotations : the annotated tracks (:mod:`gputrack.tracking.annotation`)
    params : tracking parameters (neighbours, distances, division threshold, ...); the weights
        in it are ignored
    detections : the detection table with ``count_prob_k`` / ``div_prob`` when classifiers
        give them (default: from ``label_frames``, with the geometric division prior)
    crops : ``[{"time": (t0, t1), "y": (lo, hi), "x": (lo, hi), ...}]`` annotated regions
        (centres inside); default: everything annotated
    scales : (z, y, x) pixel size
    """
    params = params or TrackingParameters()
    problems = [p for p in check_annotations(annotations) if "has no object at" not in p]
    if problems:
        raise InputError(f"annotations: {problems[0]}")
    if detections is None:
        if label_frames is None:
            raise InputError("training_problem: give label_frames or detections")
        det = detections_from_labels(label_frames, scales)
        if params.with_divisions and params.division_probability is None:
            from .division_prior import geometric_division_probability

            det["div_prob"] = geometric_division_probability(det, params=params)
    else:
        det = detections
    attrs = dict(det.attrs)
    det = check_detections(det)
    ids = [annotations.ids(a, b) for a, b in zip(det["t"].tolist(), det["label"].tolist())]
    keep = np.array([bool(s) for s in ids]) & _in_crops(det, crops)
    if not keep.any():
        raise InputError("annotations: no annotated object among the detections (check labels and crops)")
    sub = det[keep].reset_index(drop=True)
    sub.attrs.update(attrs)
    t_sub = sub["t"].to_numpy(np.int64)
    sub.attrs["frames"] = (int(t_sub.min()), int(t_sub.max())) if not crops else (
        int(min(c["time"][0] for c in crops)), int(max(c["time"][1] for c in crops)))
    ids = [s - {MISDETECTION} for s, k in zip(ids, keep) if k]
    graph = build_graph(sub, params, scales=scales)
    row = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(sub["t"], sub["label"]))}
    by_track: dict[int, dict[int, int]] = {}
    for i, s in enumerate(ids):
        for k in s:
            by_track.setdefault(k, {})[int(t_sub[i])] = i
    links: dict[tuple[int, int], int] = {}
    for objs in by_track.values():
        for tt, i in objs.items():
            if tt + 1 in objs:
                links[(i, objs[tt + 1])] = links.get((i, objs[tt + 1]), 0) + 1
    parents = []
    skipped = 0
    for parent, (c1, c2, tp) in annotations.divisions.items():
        p = by_track.get(parent, {}).get(tp)
        kids = [by_track.get(c, {}).get(tp + 1) for c in (c1, c2) if c]
        if p is None or any(k is None for k in kids):
            skipped += p is not None   # the division lies (partly) outside the crops or annotations
            continue
        for k in kids:
            links[(p, k)] = 1
        if len(kids) == 2:
            parents.append(p)
    graph = _with_links(graph, set(links))
    unit = compute_energies(graph, _unit_parameters(params), shape=attrs.get("shape"),
                            frames=sub.attrs["frames"])
    count = np.array([len(s) for s in ids], np.int64)
    if count.max() > params.max_objects:
        raise InputError(f"annotations: an object carries {int(count.max())} tracks but max_objects is "
                         f"{params.max_objects}")
    key = {(a, b): e for e, (a, b) in enumerate(zip(graph.src.tolist(), graph.dst.tolist()))}
    value = np.zeros(graph.n_links, np.int64)
    for pair, v in links.items():
        value[key[pair]] = v
    division = np.zeros(graph.n_nodes, np.int64)
    division[parents] = 1
    forced = int((~unit.division_allowed[parents]).sum()) if parents else 0
    unit.division_allowed[parents] = True
    # a frame without annotated objects says nothing about its neighbours' appearing/disappearing
    annotated = list(set(t_sub.tolist()))
    unit.appearance[~np.isin(t_sub - 1, annotated)] = 0.0
    unit.disappearance[~np.isin(t_sub + 1, annotated)] = 0.0
    del row
    return TrainingProblem(graph, unit, count, value, division, forced, skipped)


def hamming_loss(problem: TrainingProblem, solution) -> int:
    """Hamming loss of a solution against the annotated labelling: counts, link values, divisions."""
    allowed = problem.unit.division_allowed
    return int((solution.count != problem.count).sum() + (solution.link_value != problem.link_value).sum()
               + (solution.division.astype(np.int64)[allowed] != problem.division[allowed]).sum())


def _loss_augmented(problem: TrainingProblem, w: np.ndarray) -> Energies:
    e = weighted_energies(problem.unit, w)
    n = problem.graph.n_nodes
    det = e.detection - 1.0
    det[np.arange(n), problem.count] += 1.0
    link = e.link - 1.0
    if problem.link_value.size:
        link[np.arange(problem.link_value.size), problem.link_value] += 1.0
    div = e.division.copy()
    allowed = e.division_allowed
    div[allowed] -= 1.0
    div[np.flatnonzero(allowed), problem.division[allowed]] += 1.0
    return Energies(det, e.appearance, e.disappearance, link, div, allowed)


def _solve(problem: TrainingProblem, energies: Energies, solver: str):
    if solver == "ilp":
        from .ilp import solve_ilp

        return solve_ilp(problem.graph, energies)
    if solver == "flow":
        from .flow import solve_flow

        return solve_flow(problem.graph, energies)
    raise InputError(f"solver must be 'ilp' or 'flow', got {solver!r}")


def _phi(problem: TrainingProblem, sol=None) -> np.ndarray:
    if sol is None:
        return features(problem.unit, problem.count, problem.appearance, problem.disappearance,
                        problem.link_value, problem.division)
    return features(problem.unit, sol.count, sol.appearance, sol.disappearance, sol.link_value, sol.division)


def _qp(constraints: list[tuple[np.ndarray, float]], c: float,
        w0: np.ndarray) -> tuple[np.ndarray, float, float]:
    """min 1/2 |w|^2 + c xi  s.t.  w . a_j >= b_j - xi,  w >= 0, xi >= 0 (SLSQP on 6 variables)."""
    from scipy.optimize import minimize

    a = np.array([cj for cj, _ in constraints])
    b = np.array([bj for _, bj in constraints])
    scale = max(1.0, float(np.abs(a).max()))

    def objective(x):
        return 0.5 * x[:5] @ x[:5] + c * x[5]

    def gradient(x):
        return np.concatenate([x[:5], [c]])

    cons = [{"type": "ineq", "fun": lambda x: (a @ x[:5] - b + x[5]) / scale,
             "jac": lambda x: np.hstack([a, np.ones((len(b), 1))]) / scale}]
    x0 = np.concatenate([w0, [max(0.0, float((b - a @ w0).max()))]])
    res = minimize(objective, x0, jac=gradient, constraints=cons, bounds=[(0, None)] * 6, method="SLSQP",
                   options={"maxiter": 500, "ftol": 1e-12})
    x = np.maximum(res.x, 0.0)
    xi = max(0.0, float((b - a @ x[:5]).max()))
    return x[:5], xi, float(0.5 * x[:5] @ x[:5] + c * xi)


def learn_weights(
    problems: TrainingProblem | Sequence[TrainingProblem],
    *,
    c: float = 1.0,
    max_rounds: int = 100,
    tol: float = 1e-3,
    solver: str = "ilp",
) -> LearnedWeights:
    """Learn the five weights from annotated training models by a 1-slack cutting-plane SSVM.

    Parameters
    ----------
    problems : one or several :func:`training_problem` results (their losses add up)
    c : weight of the slack (ilastik's regulariser lambda = 1 is c = 1)
    max_rounds : most cutting-plane rounds
    tol : stop when the most violated constraint exceeds the slack by at most this
    solver : inference oracle, ``"ilp"`` (exact, default) or ``"flow"``

    Returns
    -------
    LearnedWeights
    """
    if isinstance(problems, TrainingProblem):
        problems = [problems]
    problems = list(problems)
    t0 = time.perf_counter()
    targets = [_phi(p) for p in problems]
    w = np.zeros(5)
    constraints: list[tuple[np.ndarray, float]] = []
    xi = 0.0
    loss_curve, objective_curve = [], []
    converged = False
    rounds = 0
    while rounds < max_rounds:
        rounds += 1
        a = np.zeros(5)
        b = 0.0
        for p, phi_star in zip(problems, targets):
            sol = _solve(p, _loss_augmented(p, w), solver)
            a += _phi(p, sol) - phi_star
            b += hamming_loss(p, sol)
        loss_curve.append(int(b))
        violation = b - float(w @ a)
        if violation <= xi + tol:
            converged = True
            objective_curve.append(float(0.5 * w @ w + c * xi))
            break
        constraints.append((a, b))
        w, xi, obj = _qp(constraints, c, w)
        objective_curve.append(obj)
    norm = float(np.linalg.norm(w))
    unit = w / norm if norm > 0 else w
    loss = sum(hamming_loss(p, _solve(p, weighted_energies(p.unit, unit), solver)) for p in problems)
    return LearnedWeights(dict(zip(WEIGHT_NAMES, unit.tolist())), int(loss), loss_curve, objective_curve,
                          rounds, converged, time.perf_counter() - t0, dict(zip(WEIGHT_NAMES, w.tolist())))


def to_parameters(weights: dict[str, float] | LearnedWeights, params: TrackingParameters | None = None, *,
                  scale: float = 10.0) -> TrackingParameters:
    """Tracking parameters with the learned weights (times ``scale``; the optimum ignores the scale).

    Examples
    --------
    >>> to_parameters({"detection": 0.6, "division": 0.0, "transition": 0.8, "appearance": 0.0,
    ...                "disappearance": 0.0}).transition_weight
    8.0
    """
    if isinstance(weights, LearnedWeights):
        weights = weights.weights
    missing = [k for k in WEIGHT_NAMES if k not in weights]
    if missing:
        raise InputError(f"weights: missing {missing}; expected {', '.join(WEIGHT_NAMES)}")
    params = params or TrackingParameters()
    return params.replace(**{_PARAM[k]: float(scale) * float(weights[k]) for k in WEIGHT_NAMES})


def save_weights(path: str | os.PathLike, learned: LearnedWeights | dict, *, overwrite: bool = False,
                 extra: dict | None = None) -> Path:
    """Write learned weights (and their report) as JSON ``{"weights": {...}, ...}`` atomically."""
    from ..io.atomic import atomic_output

    data = learned.as_dict() if isinstance(learned, LearnedWeights) else {"weights": dict(learned)}
    data.update(extra or {})
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
    return path


def load_weights(path: str | os.PathLike) -> dict[str, float]:
    """The five weights of a weights JSON file (:func:`save_weights`, or ``{"weights": [trans, det, div,
    app, dis]}`` as dpct / multiHypothesesTracking write them)."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: weights file not found")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a JSON weights file ({err})") from None
    w = data.get("weights") if isinstance(data, dict) else None
    if isinstance(w, list) and len(w) in (4, 5):
        names = ("transition", "detection", "division", "appearance", "disappearance") if len(w) == 5 else \
            ("transition", "detection", "appearance", "disappearance")
        w = dict(zip(names, (float(v) for v in w)))
        w.setdefault("division", 0.0)
    if not isinstance(w, dict) or any(k not in w for k in WEIGHT_NAMES):
        raise InputError(f"{path}: expected {{\"weights\": {{{', '.join(WEIGHT_NAMES)}}}}}")
    return {k: float(w[k]) for k in WEIGHT_NAMES}
