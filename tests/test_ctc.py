"""Tests of gputrack.io.ctc against the CTC data, numpy and py-ctcmetrics."""

from __future__ import annotations

import re
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import tifffile

from gputrack.errors import InputError, MissingInputError, OutputExistsError
from gputrack.io.ctc import (
    check_tracks,
    iter_frames,
    lineage_summary,
    list_frames,
    read_ctc_gt,
    read_frames,
    read_tracks,
    tracks_from_masks,
    write_ctc,
    write_frames,
)
from tests.conftest import shared_path

SIM = ("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+")


def _evaluate(res, gt):
    from ctc_metrics.scripts.evaluate import evaluate_sequence

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate_sequence(str(res), str(gt), ["Valid", "DET", "SEG", "TRA", "LNK"], threads=1)


def _sequence(ndim: int, n_frames: int = 5, seed: int = 1) -> tuple[np.ndarray, dict[int, int]]:
    """Moving boxes with one division (label 1 -> 2, 3 at frame 3)."""
    rng = np.random.default_rng(seed)
    shape = (n_frames, 4, 20, 24) if ndim == 3 else (n_frames, 20, 24)
    masks = np.zeros(shape, np.uint16)
    for t in range(n_frames):
        frame = masks[t] if ndim == 2 else masks[t, 1:3]
        if t < 3:
            frame[..., 2 + t : 6 + t, 3:8] = 1
        else:
            frame[..., 2:5, 3:7] = 2
            frame[..., 9:12, 3:7] = 3
        frame[..., 14:17, 10 + t : 13 + t] = 40000
        frame[..., rng.integers(0, 3), 20:23] = 7
    return masks, {2: 1, 3: 1}


# --------------------------------------------------------------------------- real data


def test_sim_ground_truth_counts():
    gt_dir = shared_path(*SIM, "01_GT")
    gt = read_ctc_gt(gt_dir)
    summary = lineage_summary(gt.tracks)
    assert gt.tra.shape == (65, 690, 628) and gt.tra.dtype == np.uint16
    assert gt.frames == list(range(65))
    assert summary["n_frames"] == 65
    assert summary["n_tracks"] == 95
    assert summary["n_divisions"] == 28
    assert summary["n_single_child_parents"] == 3
    assert len(gt.seg_frames) == 65

    # independent numpy check of man_track.txt against the TRA masks and the raw text
    rows = np.loadtxt(gt_dir / "TRA" / "man_track.txt", dtype=np.int64).reshape(-1, 4)
    np.testing.assert_array_equal(gt.tracks.to_numpy(), rows)
    counts = np.bincount(rows[rows[:, 3] > 0, 3])
    assert (counts >= 2).sum() == 28
    present = np.zeros((65, int(gt.tra.max()) + 1), bool)
    for t in range(65):
        present[t, np.unique(gt.tra[t])] = True
    for label, begin, end, _ in rows:
        frames = np.flatnonzero(present[:, label])
        np.testing.assert_array_equal(frames, np.arange(begin, end + 1))
    assert set(np.flatnonzero(present.any(axis=0))) - {0} == set(rows[:, 0])
    assert check_tracks(gt.tra, gt.tracks) == []


def test_sim_raw_frames_and_iterator():
    raw_dir = shared_path(*SIM, "01")
    listing = list_frames(raw_dir)
    assert [t for t, _ in listing] == list(range(65))
    raw = read_frames(raw_dir, frames=[0, 10, 64])
    assert raw.shape == (3, 690, 628) and raw.dtype == np.uint16
    np.testing.assert_array_equal(raw[1], tifffile.imread(raw_dir / "t010.tif"))
    numbers = [t for t, image in iter_frames(raw_dir, frames=[5, 3]) if image.shape == (690, 628)]
    assert numbers == [5, 3]


def test_tracks_from_sim_masks_match_man_track():
    gt = read_ctc_gt(shared_path(*SIM, "01_GT"))
    parents = {int(a): int(b) for a, b in zip(gt.tracks["label"], gt.tracks["parent"]) if b}
    rebuilt = tracks_from_masks(gt.tra[:, ::2, ::2], parents)  # subsampled: fast, no label lost here
    expected = gt.tracks.sort_values("label").reset_index(drop=True)
    pd.testing.assert_frame_equal(rebuilt, expected)


def test_ctc_metrics_accepts_written_copy(tmp_path):
    fixture = shared_path("ctc-metrics-fixture")
    gt = read_ctc_gt(fixture / "GT")
    res_masks = read_frames(fixture / "res")
    res_tracks = read_tracks(fixture / "res" / "res_track.txt")
    seg = read_frames(fixture / "GT" / "SEG", contiguous=False)
    seg_numbers = [t for t, _ in gt.seg_frames]

    gt_copy = tmp_path / "GT"
    write_ctc(gt_copy / "TRA", gt.tra, gt.tracks, prefix="man_track", track_file="man_track.txt")
    shutil.copytree(fixture / "GT" / "SEG", gt_copy / "SEG")
    res_copy = tmp_path / "res"
    write_ctc(res_copy, res_masks, res_tracks)

    original = _evaluate(fixture / "res", fixture / "GT")
    ours = _evaluate(res_copy, gt_copy)
    assert ours["Valid"] == 1
    for key in ("DET", "SEG", "TRA", "LNK", "AOGM"):
        assert ours[key] == pytest.approx(original[key]), key

    # a damaged result must score lower through the same pipeline (the wiring is live)
    damaged = res_masks.copy()
    lost = int(res_tracks["label"].iloc[0])
    damaged[4:][damaged[4:] == lost] = 0  # the track ends two frames early
    damaged_tracks = tracks_from_masks(damaged, dict(zip(res_tracks["label"], res_tracks["parent"])))
    write_ctc(tmp_path / "damaged", damaged, damaged_tracks)
    worse = _evaluate(tmp_path / "damaged", gt_copy)
    assert worse["DET"] < original["DET"]
    assert seg.shape[0] == len(seg_numbers)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("ndim", [2, 3])
def test_round_trip(tmp_path, ndim):
    masks, parents = _sequence(ndim)
    tracks = tracks_from_masks(masks, parents)
    assert tracks.loc[tracks["label"] == 2, ["begin", "end", "parent"]].values.tolist() == [[3, 4, 1]]
    write_ctc(tmp_path / "01_RES", masks, tracks)
    back = read_frames(tmp_path / "01_RES")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, masks)
    pd.testing.assert_frame_equal(read_tracks(tmp_path / "01_RES" / "res_track.txt"), tracks)
    if ndim == 3:  # one TIFF page per z slice, as the CTC expects
        with tifffile.TiffFile(tmp_path / "01_RES" / "mask000.tif") as tif:
            assert len(tif.pages) == masks.shape[1]
            np.testing.assert_array_equal(tif.pages[1].asarray(), masks[0, 1])


@pytest.mark.parametrize("digits", [4, 6])
def test_frame_number_widths(tmp_path, digits):
    masks, parents = _sequence(2, n_frames=4)
    write_ctc(tmp_path / "r", masks, tracks_from_masks(masks, parents), digits=digits)
    names = sorted(p.name for p in (tmp_path / "r").glob("mask*.tif"))
    assert names == [f"mask{t:0{digits}d}.tif" for t in range(4)]
    assert [t for t, _ in list_frames(tmp_path / "r")] == [0, 1, 2, 3]
    np.testing.assert_array_equal(read_frames(tmp_path / "r"), masks)
    # raw frames written by hand with 6 digits starting at 998
    raw = tmp_path / "raw"
    raw.mkdir()
    for t in (998, 999, 1000):
        tifffile.imwrite(raw / f"t{t:0{digits}d}.tif", np.full((3, 3), t, np.uint16))
    assert [t for t, _ in list_frames(raw)] == [998, 999, 1000]
    assert read_frames(raw)[:, 0, 0].tolist() == [998, 999, 1000]


def test_digits_grow_with_frame_count(tmp_path):
    write_frames(tmp_path / "01", np.zeros((1001, 2, 2), np.uint8))
    names = sorted(p.name for p in (tmp_path / "01").iterdir())
    assert names[0] == "t0000.tif" and names[-1] == "t1000.tif"


def test_write_is_atomic_and_refuses_overwrite(tmp_path):
    masks, parents = _sequence(2)
    tracks = tracks_from_masks(masks, parents)
    out = tmp_path / "01_RES"
    write_ctc(out, masks, tracks)
    with pytest.raises(OutputExistsError):
        write_ctc(out, masks, tracks)
    write_ctc(out, masks[:2], None, overwrite=True)
    assert len(list_frames(out)) == 2
    bad = masks.astype(np.int64)
    bad[-1, 0, 0] = 70000
    with pytest.raises(InputError, match="70000"):
        write_ctc(tmp_path / "bad", bad, None)
    assert not (tmp_path / "bad").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_RES"]


def test_lineage_summary_counts_against_pandas():
    rows = np.array(
        [[1, 0, 4, 0], [2, 5, 9, 1], [3, 5, 9, 1], [4, 0, 3, 0], [5, 6, 9, 4],
         [6, 0, 2, 0], [7, 3, 5, 6], [8, 3, 5, 6], [9, 3, 5, 6], [10, 10, 12, 2], [11, 10, 12, 2]]
    )
    s = lineage_summary(rows)
    kids = pd.Series(rows[rows[:, 3] > 0, 3]).value_counts()
    assert s["n_tracks"] == 11
    assert s["n_divisions"] == int((kids >= 2).sum()) == 3
    assert s["n_single_child_parents"] == 1 and s["n_multi_child_parents"] == 1
    assert s["n_roots"] == 3 and s["n_gap_links"] == 1
    assert (s["first_frame"], s["last_frame"], s["n_frames"]) == (0, 12, 13)
    assert s["max_depth"] == 3
    assert s["mean_length"] == pytest.approx(np.mean(rows[:, 2] - rows[:, 1] + 1))


def test_check_tracks_finds_problems():
    masks, parents = _sequence(2)
    tracks = tracks_from_masks(masks, parents)
    assert check_tracks(masks, tracks) == []
    masks[2][masks[2] == 40000] = 0
    problems = check_tracks(masks, tracks)
    assert problems == ["track 40000: absent from frame(s) 2 inside [0, 4]"]
    with pytest.raises(InputError, match="disagree"):
        write_ctc("/nonexistent/never", masks, tracks)


# --------------------------------------------------------------------------- errors


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(InputError, match=re.escape(str(tmp_path))):
        list_frames(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="no CTC frame files"):
        read_frames(tmp_path)
    with pytest.raises(InputError, match="got a file"):
        list_frames(tmp_path / "notes.txt")
    with pytest.raises(MissingInputError):
        list_frames(tmp_path / "missing")
    with pytest.raises(MissingInputError, match="TRA"):
        read_ctc_gt(tmp_path)


def test_gaps_mixed_prefixes_and_duplicates(tmp_path):
    for t in (0, 1, 2, 5, 6, 9):
        tifffile.imwrite(tmp_path / f"t{t:03d}.tif", np.zeros((2, 2), np.uint8))
    assert len(list_frames(tmp_path)) == 6
    with pytest.raises(InputError, match=r"missing frame\(s\) 3-4, 7-8"):
        read_frames(tmp_path)
    assert read_frames(tmp_path, contiguous=False).shape == (6, 2, 2)
    with pytest.raises(InputError, match=r"frame\(s\) 4 not found"):
        read_frames(tmp_path, frames=[0, 4])
    tifffile.imwrite(tmp_path / "mask000.tif", np.zeros((2, 2), np.uint16))
    with pytest.raises(InputError, match="mixes"):
        list_frames(tmp_path)
    assert len(list_frames(tmp_path, prefix="mask")) == 1
    tifffile.imwrite(tmp_path / "t0001.tif", np.zeros((2, 2), np.uint8))
    with pytest.raises(InputError, match="appears twice"):
        list_frames(tmp_path, prefix="t")


def test_mismatched_frame_shapes(tmp_path):
    tifffile.imwrite(tmp_path / "t000.tif", np.zeros((2, 2), np.uint8))
    tifffile.imwrite(tmp_path / "t001.tif", np.zeros((3, 2), np.uint8))
    with pytest.raises(InputError, match="frame 1 has shape"):
        read_frames(tmp_path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1 0 4 0\n2 5 x 1\n", r":2: expected 4 integers"),
        ("1 0 4 0\n\n2 5 9\n", r":3: expected 4 integers"),
        ("1 0 4 0\n2 5 3 1\n", r":2: track 2 has begin 5, end 3"),
        ("1 0 4 0\n1 5 9 0\n", r":2: label 1 already defined on line 1"),
        ("1 0 4 0\n2 5 9 7\n", r":2: track 2 has parent 7, which is not a track"),
        ("1 0 4 0\n2 4 9 1\n", r":2: track 2 begins at frame 4"),
        ("0 0 4 0\n", r":1: label 0 out of range"),
        ("70000 0 4 0\n", r":1: label 70000 out of range"),
    ],
)
def test_malformed_track_files(tmp_path, text, match):
    path = tmp_path / "man_track.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        read_tracks(path)


def test_track_file_tabs_and_blank_lines(tmp_path):
    path = tmp_path / "res_track.txt"
    path.write_text("1\t0\t4\t0\n\n2\t5\t9\t1\n")
    tracks = read_tracks(path)
    assert tracks.dtypes.tolist() == [np.dtype(np.int64)] * 4
    assert tracks.values.tolist() == [[1, 0, 4, 0], [2, 5, 9, 1]]
    path.write_text("")
    assert read_tracks(path).shape == (0, 4)
    with pytest.raises(MissingInputError):
        read_tracks(tmp_path / "nope.txt")


def test_check_tracks_array_verdict_agrees_with_the_line_by_line_check(monkeypatch):
    # the array test that lets consistent pairs skip the per-label loops must say "consistent"
    # exactly when the loops find nothing, on valid pairs and on every kind of corruption
    from gputrack.io import ctc

    rng = np.random.default_rng(7)
    masks = np.zeros((6, 12, 12), np.uint16)
    masks[0:3, 1, 1] = 1
    masks[3:6, 1, 2], masks[3:5, 5, 5] = 2, 3
    masks[1:6, 8, 8] = 4
    good = np.array([[1, 0, 2, 0], [2, 3, 5, 1], [3, 3, 4, 1], [4, 1, 5, 0]])
    cases = [good, good[:3], good[[0, 0, 1, 2, 3]], np.zeros((0, 4), int)]
    for _ in range(200):
        bad = good.copy()
        r, c = rng.integers(0, 4), rng.integers(0, 4)
        bad[r, c] += rng.choice([-2, -1, 1, 2, 5])
        cases.append(bad)
    holes = masks.copy()
    holes[2, 8, 8] = 0
    verdicts = []
    for m in (masks, holes, masks[:, :, :4]):
        for table in cases:
            fast = ctc._tracks_consistent(ctc._labels_per_frame(m), ctc._as_tracks(table), 0)
            with monkeypatch.context() as mp:
                mp.setattr(ctc, "_tracks_consistent", lambda *a: False)
                lines = ctc.check_tracks(m, table)
            unique = len(set(table[:, 0].tolist())) == len(table)
            # a table listing a track twice is left to the loops (they may accept it)
            assert fast == (lines == []) if unique else not fast, (table.tolist(), lines)
            verdicts.append(fast)
    assert any(verdicts) and not all(verdicts)
