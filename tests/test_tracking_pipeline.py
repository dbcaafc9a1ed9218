"""track_labels: the one call behind ``gputrack track`` — accuracy, timeout, bad input."""

import contextlib
import io
import time

import numpy as np
import pytest

from gputrack.errors import InputError
from gputrack.export import write_ctc
from gputrack.io.ctc import read_frames, write_frames
from gputrack.tracking import (
    TrackingParameters,
    constraint_violations,
    random_walk_detections,
    track,
    track_labels,
)
from tests.conftest import shared_path
from tests.test_tracking_mergers import paint


def _sim():
    tifffile = pytest.importorskip("tifffile")
    tra = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01_GT", "TRA")
    return tra, np.stack([tifffile.imread(f) for f in sorted(tra.glob("man_track*.tif"))])


def test_sim_gt_masks_through_the_pipeline(tmp_path):
    ctc_metrics = pytest.importorskip("ctc_metrics")
    tra, frames = _sim()
    params = TrackingParameters(appearance_cost=100, disappearance_cost=100, detection_probability=1 - 1e-6)
    t0 = time.perf_counter()
    res = track_labels(frames, frames.astype(np.float32), params=params)
    seconds = time.perf_counter() - t0
    assert constraint_violations(res.solution) == []
    write_ctc(res, tmp_path / "01_RES")
    with contextlib.redirect_stdout(io.StringIO()):
        m = ctc_metrics.evaluate_sequence(str(tmp_path / "01_RES"), str(tra.parent),
                                          metrics=["LNK", "DET", "TRA", "BC"])
    print(f"track_labels SIM+ 01 GT: {seconds:.2f} s, LNK {m['LNK']:.4f} DET {m['DET']:.4f} "
          f"TRA {m['TRA']:.4f} divisions {m['tp_div(0)']}/28 fp {m['fp_div(0)']}")
    assert m["LNK"] >= 0.995 and m["DET"] >= 0.999
    assert m["tp_div(0)"] >= 25


def test_timeout_must_be_positive():
    lab = np.zeros((2, 10, 10), np.uint8)
    lab[:, 2:4, 2:4] = 1
    for bad in (0, -1):
        with pytest.raises(InputError, match="timeout must be a positive"):
            track_labels(lab, solver="ilp", timeout=bad)
    det, _ = random_walk_detections(3, 3)
    with pytest.raises(InputError, match="timeout"):
        track(det, solver="ilp", timeout=0)


def test_ilp_timeout_small_instance_is_valid():
    det, _ = random_walk_detections(20, 100, seed=2)
    sol = track(det, solver="ilp", timeout=1)
    assert constraint_violations(sol) == []


def test_label_frames_of_different_shapes():
    with pytest.raises(InputError, match=r"frame 1 has shape \(5, 4\), expected \(4, 4\)"):
        track_labels([np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8)])


def test_ctc_folder_with_a_missing_frame(tmp_path):
    frames = np.zeros((4, 8, 8), np.uint16)
    frames[:, 2:4, 2:4] = 1
    write_frames(tmp_path / "TRA", frames, prefix="man_track")
    (tmp_path / "TRA" / "man_track002.tif").unlink()
    with pytest.raises(InputError, match="2") as err:
        track_labels(read_frames(tmp_path / "TRA", contiguous=True))
    assert "\n" not in str(err.value)


def test_raw_and_labels_of_different_length():
    lab = np.zeros((3, 8, 8), np.uint8)
    with pytest.raises(InputError, match="raw frames: 2 frames, but the label sequence has 3"):
        track_labels(lab, np.zeros((2, 8, 8)))
    with pytest.raises(InputError, match="raw frames: frame 0 has shape"):
        track_labels(lab, np.zeros((3, 9, 8)))
    lab[:, 1:3, 1:3] = 1
    assert len(track_labels(lab, np.zeros((3, 8, 8, 2))).lineage) == 3  # a channel axis is fine


def test_empty_sequences():
    with pytest.raises(InputError, match="empty"):
        track_labels([])
    with pytest.raises(InputError, match="no objects in any of the 3 frames"):
        track_labels(np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(InputError, match="integer labels"):
        track_labels(np.zeros((3, 8, 8), np.float32))


def test_frame_without_objects_ends_and_restarts_tracks(tmp_path):
    frames = np.stack([paint((30, 30), [((10, 10 + t), 4), ((20, 20), 3)]) for t in range(5)])
    frames[2] = 0
    # short tracks: cheaper to appear / disappear than to switch the objects off
    params = TrackingParameters(appearance_cost=100, disappearance_cost=100, detection_probability=1 - 1e-6)
    res = track_labels(frames, params=params)
    lin = res.lineage
    assert (lin.t != 2).all() and (lin["count"] == 1).all()
    before = set(lin.track_id[lin.t < 2])
    after = set(lin.track_id[lin.t > 2])
    assert len(before) == 2 and len(after) == 2 and not before & after
    pytest.importorskip("ctc_metrics")
    from ctc_metrics.scripts.validate import validate_sequence

    write_ctc(res, tmp_path / "RES")
    with contextlib.redirect_stdout(io.StringIO()):
        assert validate_sequence(str(tmp_path / "RES"), threads=1)["Valid"] == 1
    assert read_frames(tmp_path / "RES")[2].max() == 0
