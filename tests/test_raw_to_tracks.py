"""bench/raw_to_tracks.py on a crop of SIM+ 01: scribbles -> pixel classifier -> watershed -> tracks."""

from __future__ import annotations

import numpy as np

from bench import raw_to_tracks as rt
from tests.conftest import shared_path


def test_scribbles_are_thin_and_inside_their_class():
    folder = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01")
    _, gt = rt.load_ctc(folder)
    for t in rt.TRAIN_FRAMES:
        lab = rt.scribbles(gt[t])
        assert (lab > 0).mean() <= rt.MAX_FRACTION
        assert (gt[t][lab == 2] > 0).all() and (gt[t][lab == 1] == 0).all()
        assert (lab == 2).sum() > 100 and (lab == 1).sum() > 100


def test_pipeline_on_a_crop(tmp_path):
    folder = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01")
    raw, gt = rt.load_ctc(folder)
    import tifffile

    tra = np.stack([tifffile.imread(folder.parent / "01_GT" / "TRA" / f"man_track{t:03d}.tif")
                    for t in range(10)])
    crop = (slice(0, 10), slice(300, 540), slice(0, 240))
    gt_dir = rt.write_gt(tmp_path / "01_GT", gt[crop], tra[crop])
    out = rt.run(raw[crop], gt[crop], gt_dir, ["watershed"], "cpu", n_jobs=1, train_frames=(0, 5),
                 max_fraction=0.02)
    res = out["watershed"]
    assert res["objects_left_out_by_tracker"] == 0
    assert res["DET"] >= 0.9 and res["SEG"] >= 0.75 and res["TRA"] >= 0.9
    assert res["segmented_objects"] >= 60
