"""Structured learning of the tracking weights, and ilastik's Tracking-with-Learning projects."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gputrack.errors import InputError
from gputrack.tracking import TrackingParameters, total_energy, track
from gputrack.tracking.annotation import Annotations, add_division, assign, from_ctc, new_track
from gputrack.tracking.learning import (
    WEIGHT_NAMES,
    features,
    hamming_loss,
    learn_weights,
    load_weights,
    save_weights,
    to_parameters,
    training_problem,
    weighted_energies,
)
from tests.conftest import shared_path

INPUT = ("ilastik-testdata", "tests", "test_ilastik", "data", "inputdata")


def _dividing_sequence():
    """Two cells drifting; the first divides at t=2 into two daughters moving apart."""
    lab = np.zeros((5, 60, 60), np.uint16)
    ann = Annotations()
    a, b = new_track(ann), new_track(ann)
    for t in range(5):
        lab[t, 40:46, 5 + 3 * t:11 + 3 * t] = 9       # cell b
        assign(ann, b, t, 9)
    for t in range(3):
        lab[t, 20:28, 20:28] = 1
        assign(ann, a, t, 1)
    for t in range(3, 5):
        d = 4 * (t - 2)
        lab[t, 14 - d:21 - d, 20:28] = 2
        lab[t, 27 + d:34 + d, 20:28] = 3
    c1, c2 = add_division(ann, a, 2, [2, 3])
    assign(ann, c1, 4, 2)
    assign(ann, c2, 4, 3)
    return lab, ann


def test_energy_is_linear_in_the_weights():
    lab, ann = _dividing_sequence()
    p = training_problem(lab, ann)
    rng = np.random.default_rng(0)
    sol = track(p.graph.detections, TrackingParameters(division_probability=0.5))
    for w in rng.uniform(0, 3, size=(3, 5)):
        e = weighted_energies(p.unit, w)
        phi = features(p.unit, p.count, p.appearance, p.disappearance, p.link_value, p.division)
        assert np.isclose(w @ phi, total_energy(e, p.count, p.appearance, p.disappearance, p.link_value,
                                                p.division.astype(bool)))
    assert sol is not None


def test_training_problem_holds_the_annotated_labelling():
    lab, ann = _dividing_sequence()
    p = training_problem(lab, ann)
    assert p.graph.n_nodes == 5 + 3 + 4
    assert p.count.tolist() == [1] * 12 and p.division.sum() == 1
    assert p.link_value.sum() == 4 + 2 + 2 + 2       # b: 4 moves; a: 2; division: 2; daughters: 2
    t = p.graph.t
    # tracks start in the first frame and end in the last (free there, as ilastik's are)
    assert p.appearance.tolist() == (t == 0).astype(int).tolist()
    assert p.disappearance.tolist() == (t == 4).astype(int).tolist()
    assert np.all(p.unit.appearance[t == 0] == 0) and np.all(p.unit.appearance[t == 1, 1] > 0)
    with pytest.raises(InputError, match="no annotated object"):
        training_problem(lab, Annotations())


def test_learning_reproduces_the_annotation_and_beats_a_bad_start():
    lab, ann = _dividing_sequence()
    p = training_problem(lab, ann)
    # weights that get the division wrong: a huge division cost
    bad = np.array([1.0, 50.0, 0.01, 0.1, 0.1])
    from gputrack.tracking.ilp import solve_ilp

    assert hamming_loss(p, solve_ilp(p.graph, weighted_energies(p.unit, bad))) > 0
    learned = learn_weights(p)
    assert learned.converged and learned.loss == 0
    assert np.isclose(np.linalg.norm(list(learned.weights.values())), 1.0)
    assert min(learned.weights.values()) >= 0
    assert learned.loss_curve[0] > learned.loss_curve[-1]
    # the flow oracle learns weights that reproduce it as well
    assert learn_weights(p, solver="flow").loss == 0


def test_weights_files(tmp_path):
    w = dict(zip(WEIGHT_NAMES, [0.5, 0.1, 0.2, 0.6, 0.3]))
    save_weights(tmp_path / "w.json", w)
    assert load_weights(tmp_path / "w.json") == w
    (tmp_path / "dpct.json").write_text(json.dumps({"weights": [0.2, 0.5, 0.1, 0.6, 0.3]}))
    assert load_weights(tmp_path / "dpct.json") == w          # dpct order: trans, det, div, app, dis
    assert to_parameters(w).appearance_cost == 6.0
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InputError, match="expected"):
        load_weights(tmp_path / "bad.json")


def test_learning_from_ilastik_annotations_reproduces_ilastiks_tracking():
    """mitocheckStructuredLearningTracking.ilp: learned from its annotations, loss 0, ilastik's events."""
    from gputrack.io.ilp import read_ilp
    from gputrack.workflows.ilastik_tracking import compare_events, learn_from_ilp, stored_events

    path = shared_path(*INPUT, "mitocheckStructuredLearningTracking.ilp")
    learned, problems, (frames, det, params) = learn_from_ilp(path)
    assert learned.loss == 0 and problems[0].graph.n_nodes == 25
    assert compare_events(stored_events(path), track(det, to_parameters(learned, params))) == []
    ilastik = read_ilp(path).tracking.learned_weights
    # ilastik's detection and appearance weights dominate as ours do; its transition weight is ~0
    # (1.3e-10), which leaves the pairing of daughters to ties: ours orders them as its events do
    ours = learned.weights
    assert ours["detection"] > ours["division"] > ours["transition"]
    assert ilastik["detection"] > ilastik["division"]
    assert abs(ours["appearance"] / ours["detection"] - ilastik["appearance"] / ilastik["detection"]) < 0.1


@pytest.mark.slow
def test_learning_on_sim_sparse_subtracks_generalises(tmp_path):
    """SIM+ 01: three annotated crops of 8 frames; the learned weights track held-out frames 32-64."""
    from gputrack.export.manual_tracking import write_ctc_annotations
    from gputrack.io.ctc import read_ctc_gt
    from gputrack.tracking import track_labels, write_ctc_result
    from gputrack.tracking.evaluate import ctc_scores

    gt = read_ctc_gt(shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01_GT"))
    ann = from_ctc(gt.tra, gt.tracks)
    frames = list(gt.tra)
    crops = [{"time": (0, 7), "y": (100, 350), "x": (100, 350)},
             {"time": (10, 17), "y": (350, 600), "x": (300, 550)}]
    problems = [training_problem(frames, ann, crops=[c]) for c in crops]
    learned = learn_weights(problems, solver="flow")
    assert learned.loss == 0
    held = Annotations()
    for t, label, ids in ann.objects():
        if t >= 32:
            held.labels.setdefault(t - 32, {})[label] = set(ids)
    held.divisions = {p: (c1, c2, tp - 32) for p, (c1, c2, tp) in ann.divisions.items() if 32 <= tp < 64}
    write_ctc_annotations(held, frames[32:], tmp_path / "GT")
    scores = {}
    for name, params in (("default", TrackingParameters()), ("learned", to_parameters(learned))):
        res = track_labels(frames[32:], params=params)
        write_ctc_result(res.solution, frames[32:], tmp_path / name)
        scores[name] = ctc_scores(tmp_path / name, tmp_path / "GT", ("TRA", "LNK"))
    assert scores["learned"]["TRA"] > scores["default"]["TRA"] > 0.99


@pytest.mark.parametrize("name", ["mitocheckStructuredLearningTracking",
                                  "mitocheckStructuredLearningTrackingMergers"])
def test_ilp_segmentation_equals_ilastiks_cached_label_image(name):
    from gputrack.io.ilp import read_ilp
    from gputrack.io.ilp.objects import read_label_frames
    from gputrack.workflows.ilastik_tracking import ilp_segmentation

    path = shared_path(*INPUT, f"{name}.ilp")
    assert np.array_equal(ilp_segmentation(read_ilp(path)), read_label_frames(path))
