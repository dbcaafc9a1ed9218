"""The tracking model and its solution as hytra/ilastik JSON (spec §8.4), with the weights file.

Three files from one base name (``path`` ``out/run``, ``out/run.json`` or ``out/run_graph.json``
all give the base ``out/run``):

- ``<base>_graph.json``: the model, as hytra's ``toTrackingGraph`` writes it and the solvers
  (dpct, multiHypothesesTracking) read it: ``segmentationHypotheses`` (one per detection:
  ``id``, ``features`` [[f0], ... [fM]] detection cost per object count, ``appearanceFeatures``,
  ``disappearanceFeatures``, ``divisionFeatures`` [[no division], [division]] only where a
  division is allowed, ``timestep`` [t, t]), ``linkingHypotheses`` (``src``, ``dest``,
  ``features`` per link value), ``divisionHypotheses`` [], ``exclusions`` [],
  ``traxelToUniqueId`` {"t": {"label": id}} and ``settings``;
- ``<base>_result.json``: ``detectionResults`` [{id, value}] (objects per detection),
  ``linkingResults`` [{src, dest, value, gap}], ``divisionResults`` [{id, value}] (every node);
- ``<base>_weights.json``: {"weights": [transition, detection, division, appearance,
  disappearance]} (division left out when no node may divide, as hytra's ``weightsListToDict``).

Ids are node indices of the result's graph (0 ..), times are absolute frame times.
Features are unweighted per-state costs and the solver multiplies them by the weights, so
``weight * features`` is exactly the energy the tracker minimised: :func:`json_energies`
rebuilds :class:`~gputrack.tracking.energies.Energies` from the files and
:func:`json_solution` the solution arrays.

Differences from ilastik
------------------------
- Features are the energies our solver used divided by their weight, i.e. already
  convexified (hytra convexifies when it loads the model; a convex vector stays unchanged up
  to the epsilon). ilastik writes the raw ``-log p`` before convexification.
- Resolved merger pieces carry their own detection and link costs; ilastik gives them zero
  probabilities (a clamped cost of 23.03 per state).
- ``settings`` also records ``allowLengthOneTracks`` (true, as ilastik sets it on the solver).
- A weight of 0 makes its features unrecoverable; they are written as zeros.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from gputrack.tracking import track_labels
>>> lab = np.zeros((3, 16, 16), np.uint16); lab[:, 4:8, 4:8] = 2
>>> base = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> [p.name for p in write_json(track_labels(lab), base)]
['run_graph.json', 'run_result.json', 'run_weights.json']
>>> read_json_result(base).links["value"].tolist()
[1, 1]
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, MissingInputError
from ..io.atomic import atomic_output, check_writable
from ..tracking.energies import Energies
from ..tracking.result import TrackingResult

__all__ = ["JsonGraph", "JsonResult", "json_energies", "json_paths", "json_solution", "read_json_graph",
           "read_json_result", "read_json_weights", "write_json"]

WEIGHT_NAMES = ("transition", "detection", "division", "appearance", "disappearance")
SETTINGS = {
    "statesShareWeights": True,
    "allowPartialMergerAppearance": False,
    "requireSeparateChildrenOfDivision": True,
    "optimizerEpGap": 0.01,
    "optimizerVerbose": True,
    "optimizerNumThreads": 1,
    "allowLengthOneTracks": True,
}
_KINDS = ("graph", "result", "weights")


def json_paths(path: str | os.PathLike) -> dict[str, Path]:
    """The ``graph``, ``result`` and ``weights`` file paths of a base name.

    Examples
    --------
    >>> sorted(p.name for p in json_paths("out/run.json").values())
    ['run_graph.json', 'run_result.json', 'run_weights.json']
    """
    path = Path(path)
    name = path.name
    if name.endswith(".json"):
        name = name[: -len(".json")]
        for kind in _KINDS:
            if name.endswith(f"_{kind}"):
                name = name[: -len(kind) - 1]
                break
    if not name:
        raise InputError(f"{path}: JSON export needs a base name, e.g. out/run")
    return {kind: path.with_name(f"{name}_{kind}.json") for kind in _KINDS}


def _features(energy: np.ndarray, weight: float) -> np.ndarray:
    return energy / weight if weight != 0 else np.zeros_like(energy)


def _listify(row: list[float]) -> list[list[float]]:
    return [[v] for v in row]


def _documents(result: TrackingResult) -> tuple[dict, dict, dict]:
    sol = result.solution
    g, e, p = sol.graph, sol.energies, result.params
    det = g.detections
    n = g.n_nodes
    t = np.asarray(g.t, np.int64)
    label = det["label"].to_numpy(np.int64)
    lineage = result.lineage
    if len(lineage) != n:
        raise InputError("tracking result: lineage table and detections do not match row for row")
    weights = [float(p.transition_weight), float(p.detection_weight), float(p.division_weight),
               float(p.appearance_cost), float(p.disappearance_cost)]
    f_det = _features(e.detection, weights[1]).tolist()
    f_app = _features(e.appearance, weights[3]).tolist()
    f_dis = _features(e.disappearance, weights[4]).tolist()
    f_div = _features(e.division, weights[2]).tolist()
    f_link = _features(e.link, weights[0]).tolist()
    t_list, label_list = t.tolist(), label.tolist()
    allowed = e.division_allowed.tolist()
    nodes = []
    to_uuid: dict[str, dict[str, int]] = {}
    for i in range(n):
        node = {"id": i, "features": _listify(f_det[i]), "appearanceFeatures": _listify(f_app[i]),
                "disappearanceFeatures": _listify(f_dis[i])}
        if allowed[i]:
            node["divisionFeatures"] = _listify(f_div[i])
        node["timestep"] = [t_list[i], t_list[i]]
        nodes.append(node)
        to_uuid.setdefault(str(t_list[i]), {})[str(label_list[i])] = i
    links = [{"src": s, "dest": d, "features": _listify(f_link[k])}
             for k, (s, d) in enumerate(zip(g.src.tolist(), g.dst.tolist()))]
    model = {"segmentationHypotheses": nodes, "linkingHypotheses": links, "divisionHypotheses": [],
             "exclusions": [], "traxelToUniqueId": to_uuid, "settings": dict(SETTINGS)}
    solution = {
        "detectionResults": [{"id": i, "value": v} for i, v in enumerate(sol.count.tolist())],
        "linkingResults": [{"src": s, "dest": d, "value": v, "gap": 1}
                           for s, d, v in zip(g.src.tolist(), g.dst.tolist(), sol.link_value.tolist())],
        "divisionResults": [{"id": i, "value": bool(v)} for i, v in enumerate(sol.division.tolist())],
    }
    if not e.division_allowed.any():
        del weights[2]
    return model, solution, {"weights": weights}


def write_json(
    result: TrackingResult,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    label_frames: Sequence[np.ndarray] | None = None,
    indent: int | None = None,
) -> list[Path]:
    """Write ``<base>_graph.json``, ``<base>_result.json`` and ``<base>_weights.json``.

    Parameters
    ----------
    result : TrackingResult
    path : base name (``out/run``; a ``.json`` or ``_graph.json`` suffix is stripped)
    overwrite : replace existing files (all three are checked before any is written)
    label_frames : unused (the JSON holds no images); accepted for a uniform writer interface
    indent : JSON indentation; None (default) writes compact files fast, hytra's files use 4

    Returns
    -------
    list of Path : graph, result and weights files.
    """
    paths = json_paths(path)
    for p in paths.values():
        check_writable(p, overwrite)
    docs = dict(zip(_KINDS, _documents(result)))
    with contextlib.ExitStack() as stack:
        for kind, p in paths.items():
            tmp = stack.enter_context(atomic_output(p, overwrite=overwrite))
            # json.dumps (not json.dump) so compact output goes through the C encoder
            text = json.dumps(docs[kind], indent=indent, separators=(",", ": ") if indent else (",", ":"))
            tmp.write_text(text)
    return list(paths.values())


@dataclass
class JsonGraph:
    """A hypotheses graph read from ``<base>_graph.json``.

    Attributes
    ----------
    nodes : DataFrame
        One row per segmentation hypothesis, in file order: ``id``, ``t`` and ``label`` (its
        first traxel), ``t_end`` (last traxel's time; differs from ``t`` for tracklets).
    links : DataFrame
        ``src``, ``dest`` (ids), ``src_index``, ``dest_index`` (rows of ``nodes``) and the
        (``src_t``, ``src_label``) -> (``dest_t``, ``dest_label``) traxels they join.
    traxels : DataFrame
        ``t``, ``label``, ``id``: every traxel of ``traxelToUniqueId``.
    detection, appearance, disappearance : (n, M+1) arrays of unweighted features
    link : (E, M+1) array
    division : (n, 2) array, NaN where the node has no ``divisionFeatures``
    settings : dict
    """

    nodes: pd.DataFrame
    links: pd.DataFrame
    traxels: pd.DataFrame
    detection: np.ndarray
    appearance: np.ndarray
    disappearance: np.ndarray
    link: np.ndarray
    division: np.ndarray
    settings: dict = field(default_factory=dict)

    @property
    def division_allowed(self) -> np.ndarray:
        return ~np.isnan(self.division[:, 0])


@dataclass
class JsonResult:
    """A solution read from ``<base>_result.json``: ``detections`` (id, value),
    ``links`` (src, dest, value, gap) and ``divisions`` (id, value: bool) tables."""

    detections: pd.DataFrame
    links: pd.DataFrame
    divisions: pd.DataFrame


def _file(path: str | os.PathLike, kind: str) -> Path:
    path = Path(path)
    target = path if path.name.endswith(f"_{kind}.json") else json_paths(path)[kind]
    if not target.is_file():
        raise MissingInputError(f"{target}: JSON {kind} file not found")
    return target


def _load(target: Path, keys: Sequence[str]) -> dict:
    try:
        with open(target) as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as err:
        raise InputError(f"{target}: not valid JSON ({err})") from None
    missing = [k for k in keys if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise InputError(f"{target}: expected key(s) {missing}")
    return doc


def _matrix(rows: list, width: int | None = None) -> np.ndarray:
    a = np.asarray([[v[0] if isinstance(v, list) else v for v in r] for r in rows], np.float64)
    return a.reshape(len(rows), width if width is not None else (a.shape[1] if a.ndim == 2 else 0))


def read_json_graph(path: str | os.PathLike) -> JsonGraph:
    """Read ``<base>_graph.json`` (ours or hytra's/ilastik's); ``path`` is the file or the base.

    Examples
    --------
    See the module docstring.
    """
    target = _file(path, "graph")
    doc = _load(target, ("segmentationHypotheses", "linkingHypotheses", "traxelToUniqueId"))
    rows = [(int(t), int(lab), int(uid))
            for t, m in doc["traxelToUniqueId"].items() for lab, uid in m.items()]
    traxels = pd.DataFrame(rows, columns=["t", "label", "id"]).sort_values(["id", "t"], kind="stable")
    per_id = traxels.groupby("id")
    first, last = per_id.first(), per_id.last()
    seg = doc["segmentationHypotheses"]
    ids = np.asarray([int(s["id"]) for s in seg], np.int64)
    unknown = np.setdiff1d(ids, first.index.to_numpy())
    if unknown.size:
        raise InputError(f"{target}: segmentation hypotheses {unknown[:5].tolist()} "
                         "missing from traxelToUniqueId")
    nodes = pd.DataFrame({"id": ids, "t": first.loc[ids, "t"].to_numpy(),
                          "label": first.loc[ids, "label"].to_numpy(),
                          "t_end": last.loc[ids, "t"].to_numpy()})
    index_of = pd.Series(np.arange(ids.size), index=ids)
    lk = doc["linkingHypotheses"]
    src = np.asarray([int(x["src"]) for x in lk], np.int64)
    dest = np.asarray([int(x["dest"]) for x in lk], np.int64)
    si, di = index_of.loc[src].to_numpy(), index_of.loc[dest].to_numpy()
    links = pd.DataFrame({"src": src, "dest": dest, "src_index": si, "dest_index": di,
                          "src_t": last.loc[src, "t"].to_numpy(),
                          "src_label": last.loc[src, "label"].to_numpy(),
                          "dest_t": nodes["t"].to_numpy()[di], "dest_label": nodes["label"].to_numpy()[di]})
    det = _matrix([s["features"] for s in seg])
    width = det.shape[1]
    zeros = [[0.0]] * width
    app = _matrix([s.get("appearanceFeatures", zeros) for s in seg], width)
    dis = _matrix([s.get("disappearanceFeatures", zeros) for s in seg], width)
    div = _matrix([s.get("divisionFeatures", [[np.nan], [np.nan]]) for s in seg], 2)
    link = _matrix([x["features"] for x in lk], width)
    return JsonGraph(nodes, links, traxels.reset_index(drop=True), det, app, dis, link, div,
                     dict(doc.get("settings", {})))


def read_json_result(path: str | os.PathLike) -> JsonResult:
    """Read ``<base>_result.json``; ``path`` is the file or the base name."""
    target = _file(path, "result")
    doc = _load(target, ("detectionResults", "linkingResults"))
    det = pd.DataFrame([(int(d["id"]), int(d["value"])) for d in doc["detectionResults"]],
                       columns=["id", "value"])
    links = pd.DataFrame([(int(x["src"]), int(x["dest"]), int(x["value"]), int(x.get("gap", 1)))
                          for x in doc["linkingResults"]], columns=["src", "dest", "value", "gap"])
    divs = pd.DataFrame([(int(d["id"]), bool(d["value"])) for d in doc.get("divisionResults") or []],
                        columns=["id", "value"]).astype({"id": np.int64, "value": bool})
    return JsonResult(det.astype(np.int64), links.astype(np.int64), divs)


def read_json_weights(path: str | os.PathLike, graph: JsonGraph | None = None) -> dict[str, float]:
    """Read ``<base>_weights.json`` into {transition, detection, division, appearance, disappearance}.

    A 4-entry list (no division weight) gives ``division`` 0. With 4 or 5 entries either is
    accepted; ``graph`` (when given) must then agree: 5 entries if any node may divide.
    """
    target = _file(path, "weights")
    w = [float(v) for v in _load(target, ("weights",))["weights"]]
    if len(w) == 4:
        if graph is not None and graph.division_allowed.any():
            raise InputError(f"{target}: 4 weights but the graph has division features; expected 5")
        w.insert(2, 0.0)
    if len(w) != 5:
        raise InputError(f"{target}: expected 4 or 5 weights [transition, detection, (division), "
                         f"appearance, disappearance], got {len(w)}")
    return dict(zip(WEIGHT_NAMES, w))


def json_energies(graph: JsonGraph, weights: dict[str, float]) -> Energies:
    """The weighted energies of a JSON model (weights from :func:`read_json_weights`).

    Rows follow ``graph.nodes`` and ``graph.links``; nodes without division features get a
    zero division row and ``division_allowed`` False.
    """
    allowed = graph.division_allowed
    div = np.where(allowed[:, None], graph.division, 0.0) * weights["division"]
    return Energies(graph.detection * weights["detection"], graph.appearance * weights["appearance"],
                    graph.disappearance * weights["disappearance"], graph.link * weights["transition"],
                    div, allowed)


def json_solution(graph: JsonGraph, result: JsonResult) -> dict[str, np.ndarray]:
    """Solution arrays in the order of ``graph.nodes`` / ``graph.links``.

    Returns
    -------
    dict
        ``count`` (n,), ``link_value`` (E,), ``division`` (n,) bool, and the implied
        ``appearance`` = count - inflow and ``disappearance`` = count + division - outflow.
    """
    n = len(graph.nodes)
    index_of = pd.Series(np.arange(n), index=graph.nodes["id"].to_numpy())
    count = np.zeros(n, np.int64)
    count[index_of.loc[result.detections["id"].to_numpy()].to_numpy()] = result.detections["value"].to_numpy()
    division = np.zeros(n, bool)
    if len(result.divisions):
        rows = index_of.loc[result.divisions["id"].to_numpy()].to_numpy()
        division[rows] = result.divisions["value"].to_numpy()
    key = pd.MultiIndex.from_arrays([graph.links["src"].to_numpy(), graph.links["dest"].to_numpy()])
    got = pd.Series(result.links["value"].to_numpy(), index=pd.MultiIndex.from_arrays(
        [result.links["src"].to_numpy(), result.links["dest"].to_numpy()]))
    link_value = got.reindex(key).fillna(0).to_numpy(np.int64)
    si, di = graph.links["src_index"].to_numpy(), graph.links["dest_index"].to_numpy()
    inflow = np.bincount(di, weights=link_value, minlength=n).astype(np.int64)
    outflow = np.bincount(si, weights=link_value, minlength=n).astype(np.int64)
    return {"count": count, "link_value": link_value, "division": division,
            "appearance": count - inflow, "disappearance": count + division.astype(np.int64) - outflow}
