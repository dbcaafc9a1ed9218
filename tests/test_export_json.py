"""JSON model/result/weights: re-loaded into the same graph, solution and energies."""

import json

import numpy as np
import pytest

from gputrack.errors import MissingInputError, OutputExistsError
from gputrack.export.jsongraph import (
    json_energies,
    json_paths,
    json_solution,
    read_json_graph,
    read_json_result,
    read_json_weights,
    write_json,
)
from gputrack.tracking import TrackingParameters, track_labels
from gputrack.tracking.solution import total_energy
from tests.event_fixture import event_result, truth
from tests.test_tracking_mergers import paint


@pytest.fixture(scope="module", params=[(2, True), (2, False), (3, True), (3, False)],
                ids=["2d-resolved", "2d-unresolved", "3d-resolved", "3d-unresolved"])
def scene(request):
    ndim, resolve = request.param
    result, _ = event_result(ndim, resolve)
    return ndim, resolve, result


def _keys(result):
    g = result.solution.graph
    return list(zip(g.t.tolist(), g.detections["label"].tolist()))


def test_files_parse_with_json_module(scene, tmp_path):
    _, _, result = scene
    paths = write_json(result, tmp_path / "run.json")
    assert [p.name for p in paths] == ["run_graph.json", "run_result.json", "run_weights.json"]
    model = json.loads(paths[0].read_text())
    sol_doc = json.loads(paths[1].read_text())
    weights = json.loads(paths[2].read_text())
    assert sorted(model) == sorted(["segmentationHypotheses", "linkingHypotheses", "divisionHypotheses",
                                    "exclusions", "traxelToUniqueId", "settings"])
    assert model["settings"]["statesShareWeights"] is True
    assert model["settings"]["requireSeparateChildrenOfDivision"] is True
    assert model["settings"]["allowPartialMergerAppearance"] is False
    # uuid -> (t, label) through traxelToUniqueId only
    where = {uid: (int(t), int(lab)) for t, m in model["traxelToUniqueId"].items() for lab, uid in m.items()}
    g, s = result.solution.graph, result.solution
    keys = _keys(result)
    assert sorted(where.values()) == sorted(keys)
    lab = g.detections["label"].to_numpy()
    expected_links = {((int(g.t[a]), int(lab[a])), (int(g.t[d]), int(lab[d]))) for a, d in zip(g.src, g.dst)}
    assert {(where[x["src"]], where[x["dest"]]) for x in model["linkingHypotheses"]} == expected_links
    # solution by (t, label)
    count = dict(zip(keys, s.count.tolist()))
    assert {where[d["id"]]: d["value"] for d in sol_doc["detectionResults"]} == count
    flows = {((int(g.t[a]), int(lab[a])), (int(g.t[d]), int(lab[d]))): int(v)
             for a, d, v in zip(g.src, g.dst, s.link_value)}
    assert {(where[x["src"]], where[x["dest"]]): x["value"] for x in sol_doc["linkingResults"]} == flows
    assert all(x["gap"] == 1 for x in sol_doc["linkingResults"])
    divides = {where[d["id"]] for d in sol_doc["divisionResults"] if d["value"]}
    assert divides == {truth["division"][:2]}
    ft = truth["false_detection"]
    assert {where[d["id"]]: d["value"] for d in sol_doc["detectionResults"]}[ft] == 0
    # weights: [transition, detection, division, appearance, disappearance] from the parameters
    p = result.params
    assert weights == {"weights": [p.transition_weight, p.detection_weight, p.division_weight,
                                   p.appearance_cost, p.disappearance_cost]}


def test_features_are_minus_log_probabilities_and_distances(scene, tmp_path):
    """Independent of the energy code: link state 1 = d / alpha, detection = -log P(count)."""
    _, _, result = scene
    write_json(result, tmp_path / "run")
    model = json.loads((tmp_path / "run_graph.json").read_text())
    det = result.solution.graph.detections
    pos = det[["z", "y", "x"]].to_numpy(np.float64)
    for x in model["linkingHypotheses"]:
        d = np.linalg.norm(pos[x["src"]] - pos[x["dest"]])
        assert x["features"][1][0] == pytest.approx(d / result.params.transition_alpha, rel=1e-9)
    probs = det[["count_prob_0", "count_prob_1", "count_prob_2"]].to_numpy()
    checked = 0
    for node in model["segmentationHypotheses"]:
        p = probs[node["id"]]
        if np.allclose(p, [0.02, 0.96, 0.02]):  # already convex: the features are -log p exactly
            np.testing.assert_allclose([f[0] for f in node["features"]], -np.log(p), rtol=1e-9)
            checked += 1
        assert node["timestep"][0] == node["timestep"][1] == int(det["t"].iloc[node["id"]])
        assert len(node["appearanceFeatures"]) == len(node["disappearanceFeatures"]) == 3
    assert checked >= 15
    # division features only where allowed, -log(1 - P), -log P
    allowed = result.energies.division_allowed
    for node in model["segmentationHypotheses"]:
        assert ("divisionFeatures" in node) == bool(allowed[node["id"]])
        if "divisionFeatures" in node:
            pd_ = float(np.clip(det["div_prob"].iloc[node["id"]], 1e-7, 0.99999999))
            np.testing.assert_allclose([f[0] for f in node["divisionFeatures"]],
                                       [-np.log(1 - pd_), -np.log(pd_)], rtol=1e-9)


def test_reload_same_graph_solution_and_energies(scene, tmp_path):
    _, _, result = scene
    write_json(result, tmp_path / "run")
    graph = read_json_graph(tmp_path / "run_graph.json")
    res = read_json_result(tmp_path / "run")
    weights = read_json_weights(tmp_path / "run", graph)
    g, s, e = result.solution.graph, result.solution, result.energies
    keys = _keys(result)
    assert list(zip(graph.nodes["t"], graph.nodes["label"])) == keys
    assert (graph.nodes["t"] == graph.nodes["t_end"]).all()
    links = list(zip(zip(graph.links["src_t"], graph.links["src_label"]),
                     zip(graph.links["dest_t"], graph.links["dest_label"])))
    assert links == [(keys[a], keys[d]) for a, d in zip(g.src, g.dst)]
    sol = json_solution(graph, res)
    np.testing.assert_array_equal(sol["count"], s.count)
    np.testing.assert_array_equal(sol["link_value"], s.link_value)
    np.testing.assert_array_equal(sol["division"], s.division)
    np.testing.assert_array_equal(sol["appearance"], s.appearance)
    np.testing.assert_array_equal(sol["disappearance"], s.disappearance)
    energies = json_energies(graph, weights)
    for name in ("detection", "appearance", "disappearance", "link"):
        np.testing.assert_allclose(getattr(energies, name), getattr(e, name), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(energies.division_allowed, e.division_allowed)
    ok = e.division_allowed
    np.testing.assert_allclose(energies.division[ok], e.division[ok], rtol=1e-12)
    reloaded = total_energy(energies, sol["count"], sol["appearance"], sol["disappearance"],
                            sol["link_value"], sol["division"])
    assert reloaded == pytest.approx(s.energy, rel=1e-12)
    assert graph.settings["optimizerEpGap"] == 0.01


def test_weights_without_divisions_and_paths(tmp_path):
    lab = np.stack([paint((40, 40), [((20, 10 + 2 * t), 4)]) for t in range(4)])
    res = track_labels(lab, params=TrackingParameters(with_divisions=False, appearance_cost=7.0))
    paths = write_json(res, tmp_path / "a_graph.json")
    assert [p.name for p in paths] == ["a_graph.json", "a_result.json", "a_weights.json"]
    assert json.loads(paths[2].read_text()) == {"weights": [10.0, 10.0, 7.0, 500.0]}
    w = read_json_weights(paths[2])
    assert w == {"transition": 10.0, "detection": 10.0, "division": 0.0, "appearance": 7.0,
                 "disappearance": 500.0}
    graph = read_json_graph(tmp_path / "a")
    assert not graph.division_allowed.any()
    assert json_paths(tmp_path / "x_result.json")["weights"] == tmp_path / "x_weights.json"


def test_existing_output_is_not_replaced(tmp_path):
    result, _ = event_result(2, True)
    (tmp_path / "run_weights.json").write_text("old")
    with pytest.raises(OutputExistsError, match="run_weights.json"):
        write_json(result, tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_weights.json"]
    assert (tmp_path / "run_weights.json").read_text() == "old"
    write_json(result, tmp_path / "run", overwrite=True)
    assert json.loads((tmp_path / "run_weights.json").read_text())["weights"][0] == 10.0
    with pytest.raises(MissingInputError, match="nothing_graph.json"):
        read_json_graph(tmp_path / "nothing")
