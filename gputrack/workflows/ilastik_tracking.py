"""ilastik's tracking projects run headless: objects, classifier priors, parameters, learning, tracking.

From a tracking ``.ilp`` (Automatic Tracking, Tracking with Learning, Animal Tracking):

- objects: the project's cached label image (``TrackingFeatureExtraction/LabelImage_v2``) when
  present, so labels are those its annotations and stored events use; else the project's
  threshold and size filter on its prediction maps (:func:`ilp_segmentation`);
- priors: the stored count and division classifiers (vigra forests) applied to the cached
  object features in ilastik's feature order (:mod:`gputrack.io.ilp.objects`); without them the
  defaults of :func:`gputrack.tracking.track_labels`;
- parameters: the stored tracking parameters (or learned weights), ilastik's unscaled
  distances (``ilastik_compat``);
- :func:`learn_from_ilp`: structured learning (:mod:`gputrack.tracking.learning`) from the
  project's ``TrackingAnnotations`` inside its crops (``CropSelection``).

Examples
--------
>>> frames, det, params = ilp_detections("tracking.ilp")            # doctest: +SKIP
>>> learned = learn_from_ilp("tracking.ilp")                          # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import h5py
import numpy as np
import pandas as pd

from ..errors import InputError, MissingInputError
from .ilp_exports import project_export

PathLike = str | os.PathLike

_COUNT_APPLET = "CountClassification"
_DIVISION_APPLET = "DivisionDetection"


def ilp_parameters(project, *, learned: bool = True):
    """gputrack :class:`~gputrack.tracking.TrackingParameters` from a project's stored settings.

    ``learned``: use the structured-learning weights when the project holds them (all five;
    ilastik itself replaces the detection weight by 10 there).
    """
    from ..tracking import TrackingParameters

    stored = project.tracking
    if stored is None:
        raise InputError(f"{project.path}: no tracking parameters (not a tracking project)")
    weights = {"detection_weight": stored.detection_weight, "division_weight": stored.division_weight,
               "transition_weight": stored.transition_weight, "appearance_cost": stored.appearance_cost,
               "disappearance_cost": stored.disappearance_cost}
    lw = stored.learned_weights or {}
    names = ("detection", "division", "transition", "appearance", "disappearance")
    if learned and all(k in lw for k in names):
        weights = {"detection_weight": lw["detection"], "division_weight": lw["division"],
                   "transition_weight": lw["transition"], "appearance_cost": lw["appearance"],
                   "disappearance_cost": lw["disappearance"]}
    return TrackingParameters(
        max_objects=max(1, int(stored.max_obj)), with_divisions=bool(stored.with_divisions),
        border_width=float(stored.border_aware_width), k_neighbors=max(1, int(stored.max_nearest_neighbors)),
        max_distance=float(stored.max_dist), division_threshold=float(stored.division_threshold),
        ilastik_compat=True, **{k: float(v) for k, v in weights.items()})


def _class_probabilities(path: PathLike, project, applet: str, feats, frames, det: pd.DataFrame):
    """Per-detection probabilities of a stored object classifier, columns = its known labels."""
    from ..forest import predict_proba, read_ilp_forests
    from ..io.ilp.objects import object_feature_matrix

    info = project.object_classifiers.get(applet)
    if info is None or not info.has_forest:
        return None
    forest = read_ilp_forests(path, group=f"{applet}/ClassifierForests")
    out = np.zeros((len(det), forest.n_classes if hasattr(forest, "n_classes") else len(forest.classes)))
    t = det["t"].to_numpy(np.int64)
    label = det["label"].to_numpy(np.int64)
    for tt in np.unique(t):
        if int(tt) not in feats:
            raise InputError(f"{path}: no cached object features for frame {int(tt)}")
        X = object_feature_matrix(feats[int(tt)], info.selected_features)
        if X.shape[1] != forest.n_features:
            raise InputError(f"{path}: {applet} forest expects {forest.n_features} features, the cached "
                             f"selection gives {X.shape[1]}")
        rows = np.flatnonzero(t == tt)
        if label[rows].max() >= X.shape[0]:
            raise InputError(f"{path}: frame {int(tt)} has labels beyond the cached features")
        count = feats[int(tt)].get("Default features", {}).get("Count")
        if count is not None and "size" in det.columns and not np.array_equal(
                np.asarray(count).reshape(-1)[label[rows]], det["size"].to_numpy()[rows]):
            raise InputError(f"{path}: frame {int(tt)}'s objects are not those of the cached features "
                             "(sizes differ)")
        out[rows] = np.asarray(predict_proba(forest, X[label[rows]], device="cpu"), np.float64)
    return out


def ilp_detections(path: PathLike, lane: int = 0, *, project=None, probabilities: PathLike | None = None,
                   probability_axes: str | None = None):
    """Label frames, detection table (with ``count_prob_k`` / ``div_prob``) and parameters of a project.

    Returns ``(frames, detections, params)``; ``detections.attrs["notes"]`` says which stored
    classifier could not be applied (an incomplete feature cache) and was replaced by
    gputrack's prior.
    """
    from ..io.ilp import read_ilp
    from ..io.ilp.objects import feature_applet, read_label_frames, read_object_features
    from ..tracking import detections_from_labels
    from ..tracking.division_prior import geometric_division_probability

    project = project or read_ilp(path)
    params = ilp_parameters(project)
    if feature_applet(path) is not None and probabilities is None:
        frames = read_label_frames(path, lane)
    else:
        frames = ilp_segmentation(project, lane, probabilities=probabilities, axes=probability_axes)
    det = detections_from_labels(frames)
    feats = None
    try:
        feats = read_object_features(path, lane)
    except InputError:
        feats = None
    notes = []

    def stored_classifier(applet):
        # a project whose feature cache is incomplete (ilastik recomputes it; gputrack does not
        # compute ilastik's convex-hull and skeleton features) runs with gputrack's priors instead
        try:
            return _class_probabilities(path, project, applet, feats, frames, det) if feats else None
        except InputError as err:
            notes.append(f"{applet} not applied ({err}); gputrack's prior used instead")
            return None

    count = stored_classifier(_COUNT_APPLET)
    if count is not None:
        for k in range(count.shape[1]):
            det[f"count_prob_{k}"] = count[:, k]
        for k in range(count.shape[1], params.max_objects + 1):
            det[f"count_prob_{k}"] = 0.0
    div = stored_classifier(_DIVISION_APPLET) if params.with_divisions else None
    if div is not None:
        det["div_prob"] = div[:, -1]
    elif params.with_divisions:
        det["div_prob"] = geometric_division_probability(det, params=params)
    det.attrs["notes"] = notes
    return frames, det, params


def ilp_segmentation(project, lane: int = 0, *, probabilities: PathLike | None = None,
                     axes: str | None = None) -> np.ndarray:
    """The project's threshold and size filter on its prediction maps: ``(t, [z,] y, x)`` labels.

    ``probabilities`` replaces the lane's prediction maps (a file, ``file.h5/dataset`` or a
    folder; ``axes`` as in :func:`gputrack.io.sequence.read_sequence`, guessed when absent).
    Labels are numbered by gputrack's connected components, so they can differ from the
    label ids ilastik cached (and its annotations refer to).

    Raises
    ------
    MissingInputError
        The prediction maps are not where the project says (and none are given): one line
        naming the missing file and how to supply it.
    """
    from ..io.axes import transpose_axes
    from ..io.ilp import open_lane
    from ..segment import threshold
    from ..segment.threshold import METHODS

    th = project.threshold
    if th is None:
        raise InputError(f"{project.path}: no threshold settings and no cached label image")
    if th.method not in METHODS:
        raise InputError(f"{project.path}: threshold method {th.method!r} is not supported headless "
                         f"({', '.join(METHODS)})")
    role = "Prediction Maps" if "Prediction Maps" in project.roles else None
    if probabilities is not None:
        from ..io.sequence import read_sequence

        data, axes = read_sequence(probabilities, axes=axes)
        data = np.asarray(data)
        if "c" not in axes:
            data, axes = data[..., None], axes + "c"
    else:
        try:
            data = np.asarray(open_lane(project, lane, role=role))
        except MissingInputError:
            entry = project.lanes[lane].inputs[role or project.roles[0]]
            shown = f"{entry.path}/{entry.dataset}" if entry.dataset else str(entry.path or entry.file_path)
            raise MissingInputError(
                f"{project.path}: lane {lane} caches no label image and its {entry.role!r} input is missing: "
                f"{shown}; supply it with --probabilities FILE (probabilities=)") from None
        axes = project.lanes[lane].inputs[role or project.roles[0]].axes or "txyzc"
    want = "".join(a for a in "tzyxc" if a in axes)
    tzyxc = transpose_axes(data, axes, want)
    for i, a in enumerate("tzyxc"):
        if a not in want:
            tzyxc = np.expand_dims(tzyxc, i)
    sig = tuple(float(th.sigmas.get(a, 1.0)) for a in "zyx")
    labels = threshold(tzyxc, method=th.method, threshold=th.low_threshold, high_threshold=th.high_threshold,
                       beta=0.2 if th.beta is None else th.beta,
                       sigma=sig, channel=th.channel, core_channel=th.core_channel, min_size=th.min_size,
                       max_size=th.max_size, axes="tzyxc", device="cpu")
    labels = np.asarray(labels)
    return labels[:, 0] if labels.shape[1] == 1 else labels


def ilp_crops(path: PathLike, lane: int = 0) -> list[dict]:
    """The annotation crops of a Tracking-with-Learning project as ``{"time", "y", "x"[, "z"]}`` ranges."""
    crops = []
    with h5py.File(path, "r") as f:
        g = f.get(f"CropSelection/Crops/{lane:04d}")
        if not isinstance(g, h5py.Group):
            return crops
        for name in g:
            c = g[name]
            starts, stops = c["starts"][()], c["stops"][()]
            t0, t1 = (int(v) for v in c["time"][()])
            crop = {"time": (t0, t1), "x": (float(starts[0]), float(stops[0])),
                    "y": (float(starts[1]), float(stops[1]))}
            if len(starts) > 2 and int(stops[2]) - int(starts[2]) > 1:
                crop["z"] = (float(starts[2]), float(stops[2]))
            crops.append(crop)
    return crops


def learn_from_ilp(path: PathLike, lane: int = 0, *, solver: str = "ilp", **kwargs):
    """Learn the five weights from a project's annotations (one training model per crop).

    Returns ``(learned, problems, (frames, detections, params))``.
    """
    from ..io.ilp import read_ilp
    from ..tracking.annotation import from_ilp
    from ..tracking.learning import learn_weights, training_problem

    project = read_ilp(path)
    ann = from_ilp(project, lane)
    frames, det, params = ilp_detections(path, lane, project=project)
    crops = ilp_crops(path, lane) or [None]
    problems = [training_problem(frames, ann, params, detections=det, crops=[c] if c else None)
                for c in crops]
    learned = learn_weights(problems, solver=solver, **kwargs)
    return learned, problems, (frames, det, params)


def stored_events(path: PathLike, lane: int = 0) -> dict[int, dict[str, np.ndarray]]:
    """ilastik's stored tracking result (``EventsVector``): ``{t: {"mov", "div", ..., "res"}}``.

    ``res`` (merger resolutions) maps a merger's label to its pieces' labels (and an energy).
    """
    out: dict[int, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        g = None
        for applet in ("StructuredTracking", "ConservationTracking"):
            g = f.get(f"{applet}/EventsVector/{lane:04d}")
            if isinstance(g, h5py.Group):
                break
        if not isinstance(g, h5py.Group):
            return out
        for t in g:
            if isinstance(g[t], h5py.Group):
                ev = {k: np.asarray(g[t][k][()]) for k in g[t] if isinstance(g[t][k], h5py.Dataset)}
                res = g[t].get("res")
                if isinstance(res, h5py.Group):  # merger resolutions: {merger label: pieces + energy}
                    ev["res"] = {int(k): np.asarray(res[k][()]) for k in res}
                out[int(t)] = ev
    return dict(sorted(out.items()))


def events_of(solution, kinds: Sequence[str] = ("mov", "div")) -> dict[int, dict[str, set]]:
    """Moves ``(from, to)`` and divisions ``(parent, child, child)`` by target frame, as label tuples."""
    g = solution.graph
    t = g.t
    label = g.detections["label"].to_numpy(np.int64)
    out: dict[int, dict[str, set]] = {}
    active = solution.link_value > 0
    for s, d in zip(g.src[active].tolist(), g.dst[active].tolist()):
        if solution.division[s]:
            continue
        out.setdefault(int(t[d]), {}).setdefault("mov", set()).add((int(label[s]), int(label[d])))
    for s in np.flatnonzero(solution.division).tolist():
        kids = sorted(int(label[d]) for d, a in zip(g.dst.tolist(), g.src.tolist()) if a == s and
                      solution.link_value[np.flatnonzero((g.src == s) & (g.dst == d))[0]] > 0)
        out.setdefault(int(t[s]) + 1, {}).setdefault("div", set()).add((int(label[s]), *kids))
    return out


def _stored_pieces(stored: dict[int, dict[str, np.ndarray]]) -> dict[tuple[int, int], int]:
    """``{(t, piece label): merger label}`` from ilastik's ``res`` groups (pieces, then an energy)."""
    out = {}
    for t, ev in stored.items():
        for merger, row in (ev.get("res") or {}).items():
            for piece in np.asarray(row).ravel()[:-1]:
                out[(int(t), int(piece))] = int(merger)
    return out


def _our_pieces(solution) -> dict[tuple[int, int], int]:
    det = solution.graph.detections
    if "merger_label" not in det.columns:
        return {}
    rows = det[det["merger_label"] > 0]
    return {(int(t), int(lab)): int(m) for t, lab, m in zip(rows["t"], rows["label"], rows["merger_label"])}


def _collapsed(t: int, kind: str, events: set, pieces: dict[tuple[int, int], int]) -> set:
    """Events with merger pieces replaced by the merger they were split from."""
    if not pieces:
        return events
    parent = pieces.get
    out = set()
    for row in events:
        a = parent((t - 1, row[0]), row[0])
        rest = tuple(parent((t, b), b) for b in row[1:])
        out.add((a, *(sorted(rest) if kind == "div" else rest)))
    return out


def compare_events(stored: dict[int, dict[str, np.ndarray]], solution, *,
                   pieces: str = "labels") -> list[str]:
    """Differences between ilastik's stored events and a solution's (moves and divisions per frame).

    Division children are compared as a set (ilastik's order is not sorted); ilastik's trailing
    energy column is ignored, and so are its moves from a dividing parent to its children
    (ilastik 1.2.0 stores a division's children in ``mov`` as well as in ``div``).
    ``pieces="mergers"`` compares resolved merger pieces by the merger they were split from
    (ilastik's ``res`` events, gputrack's ``merger_label``): the pieces' own labels depend on
    how the Gaussian mixture split the merger and in which order it numbered them. Returns one
    line per differing frame and kind (empty = equal).
    """
    if pieces not in ("labels", "mergers"):
        raise ValueError(f"pieces must be 'labels' or 'mergers', not {pieces!r}")
    ours = events_of(solution)
    theirs_pieces = _stored_pieces(stored) if pieces == "mergers" else {}
    our_pieces = _our_pieces(solution) if pieces == "mergers" else {}
    lines = []
    frames = sorted(set(stored) | set(ours))
    for t in frames:
        for kind in ("mov", "div"):
            rows = stored.get(t, {}).get(kind, np.zeros((0, 3)))
            ref = {(int(r[0]), int(r[1])) if kind == "mov" else (int(r[0]), *sorted((int(r[1]), int(r[2]))))
                   for r in np.atleast_2d(rows) if len(r)}
            if kind == "mov":  # ilastik 1.2.0 also lists a division's two children as moves
                divs = np.atleast_2d(stored.get(t, {}).get("div", np.zeros((0, 3))))
                ref -= {(int(r[0]), int(c)) for r in divs if len(r) for c in r[1:3]}
            got = ours.get(t, {}).get(kind, set())
            ref, got = _collapsed(t, kind, ref, theirs_pieces), _collapsed(t, kind, got, our_pieces)
            if ref != got:
                lines.append(f"t={t} {kind}: ilastik {sorted(ref)}, gputrack {sorted(got)}")
    return lines


def track_ilp(
    path: PathLike,
    out: PathLike | None = None,
    *,
    lane: int = 0,
    exports: str | Sequence[str] = "ctc",
    weights: dict[str, float] | None = None,
    solver: str = "flow",
    probabilities: PathLike | None = None,
    probability_axes: str | None = None,
    overwrite: bool = False,
    pictures: bool = False,
) -> dict:
    """Run a tracking project headless: its objects, priors and parameters (or ``weights``), exports.

    Writes the ``exports``, ``tracking_result.h5`` and the export the project selects
    (:mod:`gputrack.workflows.ilp_exports`; its file name with ``{dataset_dir}`` = ``out``)
    into the folder ``out`` (when given),
    with ``pictures`` also the overlays and lineage tree (:mod:`gputrack.workflows.pictures`).
    A Tracking-with-Learning project runs as ilastik runs it: its learned weights with the
    detection weight 10. ``probabilities`` replaces the project's prediction maps (segmented
    with its threshold instead of its cached label image). Returns ``{"out", "result", "params",
    "differences", "merger_differences", "notes", "project_export"}`` (``project_export``: the
    files of the selected export):
    ``differences`` lists the frames where the events differ from those ilastik stored in the
    project (``None`` when it stores none), ``merger_differences`` the same with merger pieces
    compared by the merger they were split from (:func:`compare_events`).
    """
    from ..export.formats import export_many, parse_formats
    from ..io.atomic import atomic_output, check_writable
    from ..io.ilp import read_ilp
    from ..tracking import track_labels
    from ..tracking.learning import to_parameters
    from ..tracking.result import save_result

    exports = parse_formats(exports) if isinstance(exports, str) else list(exports)
    if out is not None:
        out = check_writable(out, overwrite)
    project = read_ilp(path)
    if out is not None:
        project_export(path, "tracking")  # the project's export settings are checked before solving
    frames, det, params = ilp_detections(path, lane, project=project, probabilities=probabilities,
                                         probability_axes=probability_axes)
    if weights is not None:
        params = to_parameters(weights, params)
    elif project.tracking.learned_weights:
        # ilastik tracks a Tracking-with-Learning project with the learned division, transition,
        # appearance and disappearance weights but its hard-coded detection weight 10
        params = dataclasses.replace(params, detection_weight=10.0)
    counts = [c for c in det.columns if str(c).startswith("count_prob_")]
    result = track_labels(
        frames, params=params, solver=solver,
        count_probabilities=det[["t", "label", *counts]] if counts else None,
        division_probabilities=det[["t", "label", "div_prob"]] if "div_prob" in det.columns else None)
    stored = stored_events(path, lane)
    differences = compare_events(stored, result.solution) if stored else None
    merger_differences = compare_events(stored, result.solution, pieces="mergers") if stored else None
    written = []
    if out is not None:
        with atomic_output(out, overwrite=overwrite, directory=True) as tmp:
            export_many(result, exports, tmp, ilastik_compat=True)
            save_result(tmp / "tracking_result.h5", result)
            written = [out / p.relative_to(tmp) for p in _write_selected_export(path, tmp, result, lane)]
            if pictures:
                from .pictures import result_tracks, write_pictures

                write_pictures(tmp, *result_tracks(result))
    return {"out": out, "result": result, "params": params, "differences": differences,
            "merger_differences": merger_differences, "notes": det.attrs.get("notes", []),
            "project_export": written}


def _write_selected_export(path: PathLike, folder, result, lane: int) -> list:
    """The project's selected export (:mod:`gputrack.workflows.ilp_exports`) of a tracking result."""
    from ..export.formats import ILASTIK_COMPAT, export_result
    from ..export.tracking import result_images
    from .ilp_exports import write_project_export

    images = result_images(result, ilastik_compat=True)
    axes = "tzyx" if np.ndim(images["Tracking-Result"][0]) == 3 else "tyx"
    stacks = {name: (np.stack(frames).astype(np.uint32), axes) for name, frames in images.items()}

    def plugin(fmt, target):
        options = {"ilastik_compat": True} if fmt in ILASTIK_COMPAT else {}
        return export_result(result, fmt, target, **options)

    return write_project_export(path, folder, kind="tracking", images=stacks, plugin=plugin, lane=lane)
