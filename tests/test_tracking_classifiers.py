"""Trained division classifier vs the priors when tracking Fluo-N2DH-SIM+ 01 frames 32-64 (issue #6).

The helpers (labels from the GT, the restricted GT folder, scoring) live in
``bench/track_classifiers.py``, which also runs the object-count classifier and writes the JSON.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_path

pytest.importorskip("ctc_metrics")
pytest.importorskip("tifffile")

SPLIT = 32


@pytest.fixture(scope="module")
def sim():
    from bench.track_classifiers import SEQUENCE, load_sequence, object_table

    root = shared_path(*SEQUENCE)
    raw, lab, tracks = load_sequence(root)
    return root, raw, lab, tracks, object_table(raw, lab)


@pytest.fixture(scope="module")
def restricted(sim, tmp_path_factory):
    from gputrack.io.ctc import read_ctc_gt, restrict_ground_truth

    root, _raw, lab, _tracks, _tab = sim
    return restrict_ground_truth(read_ctc_gt(root / "01_GT"), SPLIT, lab.shape[0],
                                 tmp_path_factory.mktemp("gt") / "01_GT")


def test_division_classes_from_man_track(sim):
    from bench.track_classifiers import division_classes

    _root, _raw, _lab, tracks, tab = sim
    y = division_classes(tab, tracks)
    parents, n = np.unique(tracks[tracks[:, 3] > 0, 3], return_counts=True)
    assert y.sum() == np.sum(n == 2) == 28
    # every positive is the last frame of a parent track
    end = dict(zip(tracks[:, 0].tolist(), tracks[:, 2].tolist()))
    pos = tab[y == 1]
    assert all(end[int(lb)] == int(t) and int(lb) in parents for t, lb in zip(pos["t"], pos["label"]))


def test_restricted_ground_truth_scores_itself_perfectly(sim, restricted, tmp_path):
    import tifffile

    from bench.track_classifiers import METRICS
    from gputrack.io.ctc import write_ctc
    from gputrack.tracking.evaluate import ctc_scores

    _root, _raw, lab, tracks, _tab = sim
    gt_tracks = np.loadtxt(restricted / "TRA" / "man_track.txt", dtype=np.int64).reshape(-1, 4)
    tra = restricted / "TRA"
    masks = [tifffile.imread(tra / f"man_track{t:03d}.tif") for t in range(lab.shape[0] - SPLIT)]
    np.testing.assert_array_equal(np.stack(masks), lab[SPLIT:])
    res = tmp_path / "01_RES"
    write_ctc(res, masks, gt_tracks)
    s = ctc_scores(res, restricted, METRICS)
    assert s["LNK"] == s["DET"] == s["TRA"] == 1.0
    # divisions whose mother is still present at frame 32 (independent count from man_track.txt)
    kids = tracks[(tracks[:, 3] > 0) & (tracks[:, 1] > SPLIT)]
    parents, n = np.unique(kids[:, 3], return_counts=True)
    assert s["tp_div(0)"] == np.sum(n == 2) == 13 and s["fp_div(0)"] == 0


def test_trained_division_classifier_against_prior(sim, restricted, tmp_path):
    from bench.track_classifiers import division_classes, score_run
    from gputrack import objects
    from gputrack.tracking import TrackingParameters, track_labels

    _root, _raw, lab, tracks, tab = sim
    train = tab[tab["t"] < SPLIT]
    labels = train[["t", "label"]].assign(**{"class": division_classes(train, tracks)})
    clf = objects.train(train, labels, objects.DIVISION_FEATURES)
    p_div = objects.predict(clf, tab[tab["t"] >= SPLIT], device="cpu")[["t", "label", "p_1"]]
    frames = lab[SPLIT:]
    rows = []
    for cost in (100.0, 500.0):
        params = TrackingParameters(
            appearance_cost=cost, disappearance_cost=cost, detection_probability=1 - 1e-6
        )
        prior = score_run(track_labels(frames, params=params, start=SPLIT), SPLIT, restricted,
                          tmp_path / f"prior_{cost:.0f}")
        trained = score_run(
            track_labels(frames, params=params, start=SPLIT, division_probabilities=p_div),
            SPLIT, restricted, tmp_path / f"trained_{cost:.0f}",
        )
        rows.append((cost, prior, trained))
    last = lab.shape[0] - 1
    print(f"\nSIM+ 01 frames {SPLIT}-{last}, GT masks, division classifier trained on 0-{SPLIT - 1}")
    print(f"{'cost':>5} {'run':<8} {'LNK':>7} {'TRA':>7} {'DET':>7} {'BC(0)':>7} {'div tp':>6} {'fp':>3} "
          f"{'recall':>6} {'prec':>6}")
    for cost, *runs in rows:
        for name, s in zip(("prior", "trained"), runs):
            print(f"{cost:>5.0f} {name:<8} {s['LNK']:>7.4f} {s['TRA']:>7.4f} {s['DET']:>7.4f} "
                  f"{s['BC(0)']:>7.4f} "
                  f"{int(s['tp_div(0)']):>6} {int(s['fp_div(0)']):>3} {s['division_recall']:>6.3f} "
                  f"{s['division_precision']:>6.3f}")
    for _cost, prior, trained in rows:
        # the classifier (15 mitoses to learn from) adds at most one false division and is at
        # least as precise as the prior
        assert trained["division_precision"] >= 11 / 12
        assert trained["division_precision"] >= prior["division_precision"]
        # but it misses the mitosis of a cell that appeared one frame earlier, which the prior finds
        assert trained["division_recall"] >= 0.84
        assert trained["LNK"] >= prior["LNK"] - 0.01
    # with appearance/disappearance cost 100 the acceptance bar of issue #6 holds on the test half,
    # with and without training
    assert rows[0][1]["LNK"] >= 0.995 and rows[0][2]["LNK"] >= 0.995
    assert rows[0][1]["division_recall"] >= 12 / 13


def test_match_ground_truth_counts_cells_held(sim):
    from bench.track_classifiers import match_ground_truth

    _root, _raw, lab, _tracks, _tab = sim
    gt = lab[:3]
    # the GT matched to itself: every object holds exactly itself
    m = match_ground_truth(gt, gt)
    assert (m["n_gt"] == 1).all() and (m["gt_label"] == m["label"]).all()
    # two GT cells united into one object: it holds both, the other objects themselves
    merged = gt.copy()
    a, b = np.unique(gt[0])[1:3]
    merged[0][merged[0] == b] = a
    m0 = match_ground_truth(merged, gt).query("t == 0").set_index("label")
    assert m0.loc[a, "n_gt"] == 2 and m0.loc[a, "gt_label"] == 0 and b not in m0.index
    assert (m0.drop(index=a)["n_gt"] == 1).all()
    # an object covering less than half of a cell holds none
    part = np.zeros_like(gt[:1])
    ys, xs = np.nonzero(gt[0] == a)
    part[0, ys[: ys.size // 3], xs[: xs.size // 3]] = 7
    assert match_ground_truth(part, gt[:1])["n_gt"].tolist() == [0]


def test_count_classifier_gain_on_a_segmentation(sim, restricted, tmp_path):
    from bench.track_classifiers import segmentation_runs

    _root, raw, lab, tracks, _tab = sim
    runs, info, _ = segmentation_runs(raw, lab, tracks, SPLIT, (100.0,), restricted, tmp_path)
    by = {r["run"]: r for r in runs}
    print("\n" + "\n".join(f"{r['run']:<20} M={r['max_objects']} LNK {r['LNK']:.4f} TRA {r['TRA']:.4f} "
                           f"DET {r['DET']:.4f}" for r in runs))
    # the thresholded segmentation merges touching cells: real work for a count classifier
    assert int(info["objects_by_gt_count"].get("2", 0)) > 50
    assert info["count_accuracy_test"] > 0.9
    both, prior = by["seg division+count"], by["seg prior"]
    # trained on frames 0-31, the classifiers resolve mergers on 32-64: TRA, DET and LNK rise
    assert both["TRA"] > prior["TRA"] + 0.01
    assert both["DET"] > prior["DET"] + 0.01
    assert both["LNK"] > prior["LNK"] + 0.03
    assert both["LNK"] > by["seg prior M=2"]["LNK"]
