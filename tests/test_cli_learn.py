"""``gputrack learn``, ``track --ilp / --weights`` and ``annotate`` on real projects."""

from __future__ import annotations

import json

import pytest

from gputrack.cli import main
from tests.conftest import shared_path

INPUT = ("ilastik-testdata", "tests", "test_ilastik", "data", "inputdata")


def test_learn_then_track_an_ilastik_project(tmp_path, capsys):
    ilp = shared_path(*INPUT, "mitocheckStructuredLearningTracking.ilp")
    assert main(["learn", "--annotations", str(ilp), "--out", str(tmp_path / "w.json"), "--quiet"]) == 0
    report = json.loads((tmp_path / "w.json").read_text())
    assert report["loss"] == 0 and set(report["weights"]) == {"detection", "division", "transition",
                                                              "appearance", "disappearance"}
    assert main(["track", "--ilp", str(ilp), "--weights", str(tmp_path / "w.json"),
                 "--out", str(tmp_path / "res"), "--export", "ctc,divisions-csv"]) == 0
    out = capsys.readouterr().out
    assert "6 tracks, 2 divisions" in out and "events equal to the project's stored result" in out
    assert (tmp_path / "res" / "res_track.txt").is_file() and (tmp_path / "res" / "divisions.csv").is_file()
    # the output exists: refused without --overwrite, exit 2
    assert main(["track", "--ilp", str(ilp), "--out", str(tmp_path / "res"), "--quiet"]) == 2


def test_annotate_import_info_export(tmp_path, capsys):
    gt = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01_GT")
    project = tmp_path / "p.h5"
    assert main(["annotate", "import", "--from", str(gt), "--project", str(project)]) == 0
    assert main(["annotate", "info", "--project", str(project)]) == 0
    assert "2607 annotated objects in 65 frames: 95 tracks, 31 divisions" in capsys.readouterr().out
    assert main(["annotate", "export", "--project", str(project), "--format", "divisions-csv",
                 "--out", str(tmp_path / "d.csv")]) == 0
    rows = (tmp_path / "d.csv").read_text().splitlines()
    assert rows[0] == "timestep_parent,track_id_parent,track_id_child1,track_id_child2" and len(rows) == 32
    assert main(["annotate", "export", "--project", str(project), "--format", "ctc-gt",
                 "--out", str(tmp_path / "GT")]) == 2          # needs --labels
    assert "needs --labels" in capsys.readouterr().err
    assert main(["learn", "--annotations", str(project), "--out", str(tmp_path / "w.json")]) == 2


def test_annotate_extend_follows_gt_tracks_and_stops_at_divisions(tmp_path, capsys):
    """``annotate extend`` on the SIM+ 01 GT masks (first 25 frames): each extension stays on its GT
    track and stops at its end with the reason the GT explains (its two children, or the last frame)."""
    import numpy as np
    import tifffile

    from gputrack.project import load_annotations

    gt = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01_GT", "TRA")
    tracks = np.loadtxt(gt / "man_track.txt", dtype=np.int64).reshape(-1, 4)
    n_frames = 25
    labels = tmp_path / "gt.tif"
    frames = [tifffile.imread(gt / f"man_track{t:03d}.tif") for t in range(n_frames)]
    tifffile.imwrite(labels, np.stack(frames))
    project = tmp_path / "ann.gtp.h5"
    for k, label in enumerate((11, 1, 12), start=1):
        begin, end = (int(v) for v in tracks[tracks[:, 0] == label, 1:3][0])
        end = min(end, n_frames - 1)
        args = ["annotate", "extend", "--project", str(project), "--labels", str(labels),
                "--label-axes", "tyx", "--track", "new", "--from", f"{begin},{label}"]
        assert main(args) == 0
        said = capsys.readouterr().out
        children = sorted(tracks[tracks[:, 3] == label, 0].tolist())
        stop = f"stopped at t={end}: "
        if end == n_frames - 1:
            assert stop + f"reached the last frame (t={end})" in said
        else:
            assert len(children) == 2 and stop + f"2 candidates at t={end + 1}: labels {children}" in said
        ann = load_annotations(project)
        mine = sorted((t, lab) for t, labs in ann.labels.items() for lab, ids in labs.items() if k in ids)
        assert mine == [(t, label) for t in range(begin, end + 1)]
    # extending a finished track again adds nothing and says why
    again = ["annotate", "extend", "--project", str(project), "--labels", str(labels), "--label-axes", "tyx",
             "--track", "1"]
    assert main(again) == 0
    assert "0 object(s) added" in capsys.readouterr().out
    # bad input: one line, exit 2, the project left as it was
    before = project.read_bytes()
    assert main(["annotate", "extend", "--project", str(project), "--labels", str(labels),
                 "--label-axes", "tyx", "--track", "new", "--from", "0,9999"]) == 2
    assert "frame 0 of" in capsys.readouterr().err and project.read_bytes() == before
    assert main(["annotate", "extend", "--project", str(tmp_path / "none.h5"), "--labels", str(labels),
                 "--track", "new"]) == 2
    assert "--from" in capsys.readouterr().err and not (tmp_path / "none.h5").exists()


def test_track_with_weights_uses_the_learned_costs(tmp_path, capsys):
    """Learned weights include appearance and disappearance: they are not replaced by estimates."""
    from gputrack.datasets import synthetic_timelapse, write_synthetic_ctc
    from gputrack.tracking.result import load_result

    data = synthetic_timelapse(n_frames=8, shape=(96, 96), n_cells=5, seed=2, mergers=False)
    write_synthetic_ctc(tmp_path / "d", data)
    weights = {"detection": 0.5, "division": 0.3, "transition": 0.6, "appearance": 0.4, "disappearance": 0.35}
    (tmp_path / "w.json").write_text(json.dumps({"weights": weights}))
    tra = str(tmp_path / "d" / "01_GT" / "TRA")
    assert main(["track", "--labels", tra, "--weights", str(tmp_path / "w.json"),
                 "--out", str(tmp_path / "r")]) == 0
    p = load_result(tmp_path / "r" / "tracking_result.h5").params
    assert p.appearance_cost == pytest.approx(4.0) and p.disappearance_cost == pytest.approx(3.5)
    assert p.transition_weight == pytest.approx(6.0)
