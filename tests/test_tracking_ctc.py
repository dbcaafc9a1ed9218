"""Tracking the Cell Tracking Challenge Fluo-N2DH-SIM+ 01 ground-truth masks without training."""

import contextlib
import io
import os

import numpy as np
import pytest

from tests.conftest import shared_path


def _load():
    tifffile = pytest.importorskip("tifffile")
    tra = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01_GT", "TRA")
    files = sorted(tra.glob("man_track*.tif"))
    frames = [tifffile.imread(f) for f in files]
    gt = np.loadtxt(tra / "man_track.txt", dtype=np.int64)
    return tra, frames, gt


def test_sim_gt_masks_lnk_and_divisions(tmp_path):
    ctc_metrics = pytest.importorskip("ctc_metrics")
    from gputrack.tracking import (
        TrackingParameters,
        check_detections,
        detections_from_labels,
        geometric_division_probability,
        to_ctc,
        track,
    )

    tra, frames, gt = _load()
    det = check_detections(detections_from_labels(frames))
    # every GT object is real: detection probability at the clamp ceiling; cells entering the field
    # mid-movie are legitimate, so appearance/disappearance cost 100 instead of the GUI's 500
    params = TrackingParameters(appearance_cost=100, disappearance_cost=100, detection_probability=1 - 1e-6)
    det["div_prob"] = geometric_division_probability(det, params=params)
    sol = track(det, params)
    ilp = track(det, params, solver="ilp", timeout=60)
    assert sol.energy == pytest.approx(ilp.energy, rel=1e-3)
    masks, tracks = to_ctc(sol, frames)
    from gputrack.io.ctc import write_ctc

    res = tmp_path / "01_RES"
    write_ctc(res, masks, tracks)
    with contextlib.redirect_stdout(io.StringIO()):
        r = ctc_metrics.evaluate_sequence(str(res), str(tra.parent), metrics=["LNK", "DET", "TRA", "BC"])
    n_div_gt = int(np.sum(np.bincount(gt[gt[:, 3] > 0, 3]) == 2))
    print(f"SIM+ 01 GT masks: LNK {r['LNK']:.4f} DET {r['DET']:.4f} TRA {r['TRA']:.4f} "
          f"divisions {r['tp_div(0)']}/{n_div_gt} (fp {r['fp_div(0)']})")
    # issue #6 asks LNK >= 0.995 and 25 of 28 divisions; the best peer (motile) reaches 0.999
    assert r["LNK"] >= 0.999
    assert r["tp_div(0)"] >= 27
    assert os.path.exists(res / "res_track.txt")
