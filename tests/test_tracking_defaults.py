"""Data-driven tracking defaults: trusted labels, estimated parameters, the drift motion model.

Scored with py-ctcmetrics against ground truth, and against the frame-to-frame Hungarian linker
(scipy ``linear_sum_assignment``) on the same input.
"""

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
import tifffile

from gputrack.tracking import TrackingParameters, detections_from_labels, track_labels
from gputrack.tracking.baseline import hungarian_links, hungarian_tracks
from gputrack.tracking.estimate import estimate_parameters, mutual_displacements
from gputrack.tracking.synthetic import colony_labels, random_walk_detections
from tests.conftest import shared_path


def _score(masks, tracks, gt, out):
    from gputrack.io.ctc import write_ctc
    from gputrack.tracking.evaluate import ctc_scores

    write_ctc(out, masks, tracks)
    return ctc_scores(out, gt, ("DET", "LNK", "BC"))


def _write_gt(root, labels, tracks):
    tra = root / "01_GT" / "TRA"
    tra.mkdir(parents=True)
    for t, f in enumerate(labels):
        tifffile.imwrite(tra / f"man_track{t:03d}.tif", f)
    np.savetxt(tra / "man_track.txt", tracks[["label", "begin", "end", "parent"]].to_numpy(), fmt="%d")
    return tra.parent


def _best_hungarian(labels, gt, tmp_path):
    best = 0.0
    for gate in (5.0, 10.0, 20.0, 40.0):
        m, t = hungarian_tracks(labels, gate)
        best = max(best, _score(m, t, gt, tmp_path / f"h{gate}")["LNK"])
    return best


def test_hungarian_links_match_scipy_on_a_permutation():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, (30, 2))
    perm = rng.permutation(30)
    b = a[perm] + rng.normal(0, 0.1, (30, 2))
    (i, j), = hungarian_links([a, b], max_distance=5.0)
    assert np.array_equal(perm[j], i)
    (i, j), = hungarian_links([a, b + 500.0], max_distance=5.0)  # all beyond the gate
    assert i.size == 0


def test_alpha_is_the_mean_of_true_moves():
    det, truth = random_walk_detections(30, 200, step=2.0, spacing=40.0, division_rate=0.0, seed=3)
    pos = det[["y", "x"]].to_numpy()
    true_mean = float(np.linalg.norm(pos[truth["dst"]] - pos[truth["src"]], axis=1).mean())
    params, report = estimate_parameters(det)
    assert params.transition_alpha == pytest.approx(true_mean, rel=0.03)
    assert report["pairs"] > 0.95 * len(truth)
    # appearance costs: the transition energy of the farther of the reach and a cell diameter
    assert params.appearance_cost == pytest.approx(10 * report["reach"] / params.transition_alpha, rel=1e-3)


def test_mutual_displacements_ignore_a_far_daughter():
    df = pd.DataFrame({"t": [0, 1, 1], "label": [1, 1, 2], "y": [0.0, 2.0, 30.0], "x": [0.0, 0.0, 0.0]})
    assert mutual_displacements(df).tolist() == [2.0]


def test_labels_are_trusted_by_default():
    # a lone object in one frame: ilastik's defaults switch it off (appearing + disappearing costs
    # 1000, switching off 10 * -log(0.01) = 46); given label images are trusted
    lab = np.zeros((5, 60, 60), np.uint16)
    for t in range(5):
        lab[t, 10:16, 10 + 2 * t:16 + 2 * t] = 1
    lab[2, 40:44, 40:44] = 2
    res = track_labels(lab)
    assert (res.solution.count > 0).all()
    compat = track_labels(lab, params=TrackingParameters(ilastik_compat=True))
    assert compat.estimated == {} and not compat.params.keep_detections
    assert (compat.solution.count == 0).sum() == 1


def test_sim_defaults_from_the_cli(tmp_path, capsys):
    pytest.importorskip("ctc_metrics")
    from gputrack.cli import main

    gt = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01_GT")
    out = tmp_path / "res"
    assert main(["track", "--labels", str(gt / "TRA"), "--out", str(out)]) == 0
    err = capsys.readouterr()
    text = err.out + err.err
    assert "estimated from" in text and "transition_alpha" in text
    from gputrack.tracking.evaluate import ctc_scores

    s = ctc_scores(out, gt, ("DET", "LNK", "BC"))
    print(f"SIM+ 01 CLI defaults: LNK {s['LNK']:.4f} DET {s['DET']:.4f} divisions {s['tp_div(0)']}/28 "
          f"fp {s['fp_div(0)']}")
    assert s["DET"] == 1.0
    assert s["LNK"] >= 0.998
    assert s["tp_div(0)"] >= 27


@pytest.mark.slow
def test_sim_defaults_beat_hungarian(tmp_path):
    pytest.importorskip("ctc_metrics")
    from gputrack.tracking import to_ctc

    gt = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01_GT")
    frames = np.stack([tifffile.imread(f) for f in sorted((gt / "TRA").glob("man_track*.tif"))])
    masks, table = to_ctc(track_labels(frames).solution, frames)
    ours = _score(masks, table, gt, tmp_path / "ours")["LNK"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert ours >= _best_hungarian(frames, gt, tmp_path)


@pytest.mark.parametrize("kw", [
    dict(n_frames=20, n_cells=40, expansion=0.05, division_rate=0.04, seed=0),
    dict(n_frames=20, shape=(160, 160), n_cells=80, radius=2.5, expansion=0.04, step=1.5, division_rate=0.05,
         seed=2),
])
def test_colony_defaults_beat_hungarian(kw, tmp_path):
    pytest.importorskip("ctc_metrics")
    from gputrack.tracking import to_ctc

    labels, tracks = colony_labels(**kw)
    gt = _write_gt(tmp_path, labels, tracks)
    res = track_labels(labels)
    masks, table = to_ctc(res.solution, labels)
    ours = _score(masks, table, gt, tmp_path / "ours")
    hung = _best_hungarian(labels, gt, tmp_path)
    none = track_labels(labels, motion="none", params=res.params, keep_detections=True)
    m2, t2 = to_ctc(none.solution, labels)
    static = _score(m2, t2, gt, tmp_path / "static")
    print(f"colony: ours LNK {ours['LNK']:.4f} (motion {res.estimated['motion']}), without the motion "
          f"model {static['LNK']:.4f}, Hungarian {hung:.4f}")
    assert ours["DET"] == 1.0
    assert ours["LNK"] > hung
    assert ours["LNK"] >= static["LNK"] - 1e-9


def test_drift_offsets_recover_a_uniform_shift():
    from gputrack.tracking import track
    from gputrack.tracking.motion import neighbourhood_offsets

    rng = np.random.default_rng(1)
    p0 = rng.uniform(0, 200, (50, 2))
    p1 = p0 + np.array([7.0, -4.0]) + rng.normal(0, 0.2, (50, 2))
    df = pd.DataFrame({"t": np.repeat([0, 1], 50), "label": np.tile(np.arange(1, 51), 2),
                       "y": np.r_[p0[:, 0], p1[:, 0]], "x": np.r_[p0[:, 1], p1[:, 1]]})
    off = neighbourhood_offsets(track(df, TrackingParameters(with_divisions=False)))
    assert np.allclose(off[:50, 1:], [7.0, -4.0], atol=0.5)


def test_offsets_in_the_graph_measure_from_the_predicted_position():
    from gputrack.tracking import build_graph

    df = pd.DataFrame({"t": [0, 1, 1], "label": [1, 1, 2], "y": [0.0, 10.0, 3.0], "x": [0.0, 0.0, 0.0]})
    plain = build_graph(df, TrackingParameters(k_neighbors=1, with_divisions=False))
    assert plain.dst.tolist() == [1, 2] and plain.distance.tolist() == [10.0, 3.0]
    moved = build_graph(df, TrackingParameters(k_neighbors=1, with_divisions=False),
                        offsets=np.array([[0.0, 10.0, 0.0], [0, 0, 0], [0, 0, 0]]))
    assert dict(zip(moved.dst.tolist(), moved.distance.tolist()))[1] == 0.0


def test_detections_from_colony_masks_have_the_gt_tracks():
    labels, tracks = colony_labels(n_frames=8, n_cells=20, seed=4)
    det = detections_from_labels(labels)
    for lab, b, e in tracks[["label", "begin", "end"]].itertuples(index=False):
        assert set(det.loc[det["label"] == lab, "t"]) == set(range(b, e + 1))
