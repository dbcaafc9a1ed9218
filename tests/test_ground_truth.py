"""Object classes from a CTC ground truth, GT restricted to a frame range, and ``track --frames``."""

import numpy as np
import pandas as pd
import pytest

from gputrack.cli import main
from gputrack.datasets import synthetic_timelapse, write_synthetic_ctc
from gputrack.io.ctc import read_ctc_gt, read_tracks, restrict_ground_truth, write_ctc
from gputrack.objects.ground_truth import class_annotations, match_ground_truth
from gputrack.tracking.evaluate import ctc_scores
from tests.conftest import shared_path


def _held_by_loops(seg, gt):
    """The CTC DET rule by brute force: GT cell g is held by s when |g & s| > |g| / 2."""
    held = {}
    for t in range(seg.shape[0]):
        for g in np.unique(gt[t][gt[t] > 0]):
            cell = gt[t] == g
            for s in np.unique(seg[t][cell]):
                if s and 2 * np.count_nonzero(cell & (seg[t] == s)) > np.count_nonzero(cell):
                    held.setdefault((t, int(s)), []).append(int(g))
    return held


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    root = tmp_path_factory.mktemp("seq")
    data = synthetic_timelapse(n_frames=12, shape=(96, 96), n_cells=6, seed=5, mergers=False)
    write_synthetic_ctc(root, data)
    return root


def test_matching_follows_the_ctc_rule(sequence):
    gt = read_ctc_gt(sequence / "01_GT")
    rng = np.random.default_rng(0)
    # a segmentation with merges (two GT cells in one object), splits and a false object
    seg = gt.tra.astype(np.int64).copy()
    seg[:, :, 40:] = np.where(seg[:, :, 40:] > 0, seg[:, :, 40:] + 100, 0)
    seg[np.isin(seg, [3, 4, 103, 104])] = 2
    seg[:, 2:6, 2:6] = 999
    seg[rng.random(seg.shape) < 0.05] = 0
    table = match_ground_truth(seg, gt.tra)
    held = _held_by_loops(seg, gt.tra)
    for row in table.itertuples():
        cells = held.get((row.t, row.label), [])
        assert row.n_gt == len(cells)
        assert row.gt_label == (cells[0] if len(cells) == 1 else 0)
    assert (table["n_gt"] == 2).any() and (table["n_gt"] == 0).any()


def test_division_classes_are_the_gt_mothers_in_their_last_frame(sequence):
    gt = read_ctc_gt(sequence / "01_GT")
    table = class_annotations(gt.tra, gt.tra, gt.tracks, "division")
    tracks = np.loadtxt(sequence / "01_GT" / "TRA" / "man_track.txt", dtype=int).reshape(-1, 4)
    daughters = np.bincount(tracks[:, 3], minlength=tracks[:, 0].max() + 1)
    expected = {(int(e), int(lb)) for lb, _, e, _ in tracks if lb < daughters.size and daughters[lb] == 2}
    got = {(int(t), int(lb)) for t, lb, c in table.itertuples(index=False) if c == 1}
    assert got == expected and len(expected) > 0
    count = class_annotations(gt.tra, gt.tra, gt.tracks, "count")
    assert (count["class"] == 1).all() and len(count) == len(table)


def test_restricted_ground_truth_scores_itself_perfectly(sequence, tmp_path):
    gt = read_ctc_gt(sequence / "01_GT")
    part = restrict_ground_truth(gt, 4, 10, tmp_path / "01_GT")
    back = read_ctc_gt(part)
    assert back.tra.shape[0] == 6 and np.array_equal(back.tra, gt.tra[4:10])
    assert back.tracks["begin"].min() == 0 and back.tracks["end"].max() == 5
    write_ctc(tmp_path / "res", back.tra, back.tracks)
    s = ctc_scores(tmp_path / "res", part, ("DET", "TRA", "LNK"))
    assert s["DET"] == 1.0 and s["TRA"] == 1.0


def test_cli_annotate_classes_train_and_track_a_frame_range(sequence, tmp_path, capsys):
    tra, gt = sequence / "01_GT" / "TRA", sequence / "01_GT"
    ann = tmp_path / "div.csv"
    assert main(["annotate", "classes", "--labels", str(tra), "--gt", str(gt), "--kind", "division",
                 "--frames", "0:6", "--out", str(ann), "-q"]) == 0
    table = pd.read_csv(ann)
    assert table["t"].between(0, 5).all() and set(table["class"]) <= {0, 1}
    assert main(["track", "--labels", str(tra), "--raw", str(sequence / "01"), "--frames", "6:12",
                 "--gt", str(gt), "--export", "ctc,csv", "--out", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    assert "DET 1.0000" in out
    res = read_tracks(tmp_path / "res" / "res_track.txt")
    assert res["begin"].min() == 0 and res["end"].max() == 5  # CTC result numbered from 0
    csv = pd.concat([pd.read_csv(p) for p in (tmp_path / "res").glob("*.csv")])
    if "t" in csv.columns:
        assert csv["t"].min() == 6  # the tables keep the input's frame numbers


@pytest.mark.parametrize("frames", ["5", "7:3", "a:b", "-1:4"])
def test_bad_frame_ranges_are_one_line_and_exit_2(sequence, tmp_path, capsys, frames):
    assert main(["track", "--labels", str(sequence / "01_GT" / "TRA"), f"--frames={frames}", "--out",
                 str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "START:STOP" in err


def test_frames_past_the_end_and_mismatched_labels_are_input_errors(sequence, tmp_path, capsys):
    tra, gt = sequence / "01_GT" / "TRA", sequence / "01_GT"
    assert main(["track", "--labels", str(tra), "--frames", "4:40", "--out", str(tmp_path / "r")]) == 2
    assert "has 12 frames" in capsys.readouterr().err
    other = tmp_path / "other"
    data = synthetic_timelapse(n_frames=5, shape=(96, 96), n_cells=3, seed=1, mergers=False)
    write_synthetic_ctc(other, data)
    assert main(["annotate", "classes", "--labels", str(other / "01_GT" / "TRA"), "--gt", str(gt),
                 "--kind", "count", "--out", str(tmp_path / "c.csv")]) == 2
    assert "expected the ground truth's" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "c.csv").exists()


def test_sim_division_classes_match_man_track():
    root = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+")
    gt = read_ctc_gt(root / "01_GT")
    table = class_annotations(gt.tra[:32], gt.tra[:32], gt.tracks, "division")
    t = gt.tracks
    n_daughters = t.loc[t["parent"] > 0, "parent"].value_counts()
    mothers = t[t["label"].isin(n_daughters[n_daughters == 2].index) & (t["end"] < 32)]
    assert table["class"].sum() == len(mothers) == 15
