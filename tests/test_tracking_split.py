"""Frames per split: overlapping windows solved in parallel and stitched, against the global solve."""

import numpy as np
import pytest

from gputrack.errors import InputError
from gputrack.tracking import (
    TrackingParameters,
    check_detections,
    constraint_violations,
    detections_from_labels,
    geometric_division_probability,
    random_walk_detections,
    split_windows,
    track,
    track_split,
)
from tests.conftest import shared_path


def _f1(sol, truth_pairs):
    g = sol.graph
    a = sol.active_links
    pred = set(zip(g.src[a].tolist(), g.dst[a].tolist()))
    tp = len(pred & truth_pairs)
    return 2 * tp / (len(pred) + len(truth_pairs))


def _border_divisions(sol, windows_cores):
    """Rows of dividing detections whose frame is the last frame of a window core."""
    ends = {b for _, b in windows_cores}
    return set(np.flatnonzero(sol.division & np.isin(sol.graph.t, list(ends))).tolist())


def _cores(first, last, f):
    return [(a, min(last, a + f - 1)) for a in range(first, last + 1, f)]


def test_split_windows_cover_every_frame_pair_inside_a_window():
    for f in (3, 10, 15):
        wins = split_windows(0, 64, f, overlap=2)
        assert wins[0][0] == 0 and wins[-1][1] == 64
        for t in range(64):  # each link t -> t+1 is at least 2 frames from some window's edges
            assert any(a + 2 <= t + 1 and t <= b - 2 or (a == 0 and t <= b - 2) or (b == 64 and a + 2 <= t)
                       for a, b in wins)
    with pytest.raises(InputError, match="frames_per_split"):
        split_windows(0, 10, 0)


@pytest.mark.parametrize("frames_per_split,n_jobs", [(10, 1), (15, 2), (20, 1)])
def test_random_walk_split_matches_global(frames_per_split, n_jobs):
    det, truth = random_walk_detections(60, 60, division_rate=0.02, seed=3)
    pairs = set(zip(truth.src.tolist(), truth.dst.tolist()))
    whole = track(det)
    split = track_split(det, frames_per_split=frames_per_split, n_jobs=n_jobs)
    assert constraint_violations(split) == []
    assert abs(_f1(split, pairs) - _f1(whole, pairs)) <= 0.002
    assert _f1(whole, pairs) > 0.9
    border = _border_divisions(whole, _cores(0, 59, frames_per_split))
    assert border, "the test needs divisions at window borders"
    assert border <= set(np.flatnonzero(split.division).tolist())
    assert split.energy == pytest.approx(whole.energy, rel=1e-3)


def test_sim_gt_split_matches_global():
    tifffile = pytest.importorskip("tifffile")
    tra = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01_GT", "TRA")
    frames = [tifffile.imread(f) for f in sorted(tra.glob("man_track*.tif"))]
    gt = np.loadtxt(tra / "man_track.txt", dtype=np.int64)
    det = check_detections(detections_from_labels(frames))
    params = TrackingParameters(appearance_cost=100, disappearance_cost=100, detection_probability=1 - 1e-6)
    det["div_prob"] = geometric_division_probability(det, params=params)
    # truth: the same label in consecutive frames, and mother end -> daughter start
    row = {(t, lab): i for i, (t, lab) in enumerate(zip(det.t.tolist(), det.label.tolist()))}
    pairs = {(row[(t, lab)], row[(t + 1, lab)]) for (t, lab) in row if (t + 1, lab) in row}
    ends = {int(lab): int(e) for lab, _, e, _ in gt}
    for lab, b, _, p in gt:
        if p > 0 and (ends[p], p) in row and (b, lab) in row:
            pairs.add((row[(ends[p], p)], row[(b, lab)]))
    whole = track(det, params)
    f1_whole = _f1(whole, pairs)
    assert f1_whole > 0.99
    for f in (10, 16):
        split = track_split(det, params, frames_per_split=f, n_jobs=2 if f == 16 else 1)
        assert constraint_violations(split) == []
        assert abs(_f1(split, pairs) - f1_whole) <= 0.002
        border = _border_divisions(whole, _cores(0, len(frames) - 1, f))
        assert border <= set(np.flatnonzero(split.division).tolist())
    assert len(_border_divisions(whole, _cores(0, len(frames) - 1, 10))) >= 1


def test_bad_split_arguments():
    det, _ = random_walk_detections(10, 5)
    with pytest.raises(InputError, match="overlap"):
        track_split(det, frames_per_split=4, overlap=1)
    with pytest.raises(InputError, match="n_jobs"):
        track_split(det, frames_per_split=4, n_jobs=0)
