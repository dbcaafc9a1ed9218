"""gputrack bench: peers run on the same inputs and agree; table, JSON, plot and README written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gputrack.benchmarks import engines, peers, report
from gputrack.cli import main


def _without_vigra(monkeypatch):
    monkeypatch.setenv("GPUTRACK_VIGRA_PYTHON", "none")
    peers.vigra_python.cache_clear()


def test_object_table_against_vigra_on_the_same_objects(tmp_path):
    peers.vigra_python.cache_clear()
    if peers.vigra_python()[0] is None:
        pytest.skip("no Python with vigra")
    labels, raw = engines.object_case((160, 200), 20, seed=2)
    row = engines.bench_objects(labels, raw, repeat=1, workdir=tmp_path)
    assert row["objects"] == len(np.unique(labels)) - 1 and row["peer_status"] == "ok"
    assert row["ratio"] == pytest.approx(row["peer_s"] / row["gputrack_s"])
    diff = row["max_rel_diff_vs_vigra"]
    assert diff["Count"] == 0 and diff["Minimum"] == 0
    assert max(diff[k] for k in ("Mean", "Variance", "Skewness", "RegionCenter", "RegionRadii")) < 1e-9


def test_missing_peer_is_reported_not_fatal(tmp_path, monkeypatch):
    _without_vigra(monkeypatch)
    labels, raw = engines.object_case((96, 96), 16)
    row = engines.bench_objects(labels, raw, repeat=2, workdir=tmp_path)
    assert row["peer_status"].startswith("not installed") and "ratio" not in row
    assert len(row["gputrack_runs_s"]) == 2
    table = report.markdown_table({"rows": [row]})
    assert "not installed" in table and "—" in table
    peers.vigra_python.cache_clear()


def test_cli_writes_table_json_plot_and_readme(tmp_path, monkeypatch, capsys):
    _without_vigra(monkeypatch)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{report.README_START}\nold\n{report.README_END}\nafter\n")
    out = tmp_path / "bench"
    code = main(["bench", "--stage", "tracking", "--stage", "objects", "--size", "tiny", "--repeat", "1",
                 "--out", str(out), "--readme", str(readme)])
    assert code == 0
    result = json.loads((out / "bench.json").read_text())
    assert [r["stage"] for r in result["rows"]] == ["object table", "object table", "tracking"]
    row = result["rows"][-1]
    assert row["unit"] == "detections/s" and row["gputrack_s"] > 0 and row["case"].startswith("10 frames")
    assert (out / "bench.md").read_text() == report.markdown_table(result)
    assert (out / "bench.png").read_bytes()[:4] == b"\x89PNG"
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n") and text.endswith("after\n") and "old" not in text
    assert "gputrack bench --size tiny --repeat 1 --stage objects --stage tracking" in text
    assert "| tracking |" in text
    assert "| tracking |" in capsys.readouterr().out
    assert main(["bench", "--readme", str(tmp_path / "missing.md"), "--out", str(out)]) == 2
    assert main(["bench", "--stage", "tracking", "--out", str(out)]) == 2  # earlier results, no --overwrite
    assert "--overwrite" in capsys.readouterr().err
    peers.vigra_python.cache_clear()
