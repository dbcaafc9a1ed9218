"""``gputrack learn``, ``track --ilp / --weights`` and ``annotate`` on real projects."""

from __future__ import annotations

import json

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
