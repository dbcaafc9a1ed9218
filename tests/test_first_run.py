"""First run with an empty numba cache: how much ``gputrack track`` compiles, and that it is all cached.

Wall time on a shared machine is noise; the number of numba compilations (counted from numba's
``numba:compile`` events in the subprocess) is what a change to the compiled code moves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gputrack.datasets import synthetic_timelapse, write_synthetic_ctc

ROOT = Path(__file__).resolve().parents[1]

# every numba compilation of a `gputrack track` run (gputrack's functions and the numba library
# functions they use) is counted: 39 on a CTC folder of 10 x 200 detections (100 before it was cut)
MAX_COMPILATIONS = 50

_COUNT = """
import json, sys
from numba.core import event

class Count(event.Listener):
    def __init__(self):
        self.names = []
    def on_start(self, e):
        f = e.data["dispatcher"].py_func
        self.names.append(f"{f.__module__}.{f.__qualname__}")
    def on_end(self, e):
        pass

with event.install_listener("numba:compile", Count()) as count:
    from gputrack.cli import main
    rc = main(sys.argv[2:])
json.dump({"rc": rc, "compiled": count.names}, open(sys.argv[1], "w"))
"""


def _track(folder: Path, cache: Path, out: Path, report: Path) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    args = ["track", "--raw", str(folder / "01"), "--labels", str(folder / "01_GT" / "TRA"),
            "--export", "ctc", "--out", str(out), "--quiet"]
    proc = subprocess.run([sys.executable, "-c", _COUNT, str(report), *args], env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(report.read_text())


@pytest.mark.slow
def test_track_first_run_compilations(tmp_path):
    data = synthetic_timelapse(n_frames=6, shape=(96, 96), n_cells=8, seed=1)
    write_synthetic_ctc(tmp_path / "data", data)
    cache = tmp_path / "numba_cache"
    cache.mkdir()
    cold = _track(tmp_path / "data", cache, tmp_path / "res1", tmp_path / "cold.json")
    assert cold["rc"] == 0
    compiled = cold["compiled"]
    assert 0 < len(compiled) <= MAX_COMPILATIONS, sorted(compiled)
    # one specialisation per gputrack function: a second signature doubles its compile time
    ours = [name for name in compiled if name.startswith("gputrack.")]
    assert len(ours) == len(set(ours)), sorted(ours)
    # the second run loads every function from the cache (cache=True everywhere on the path)
    warm = _track(tmp_path / "data", cache, tmp_path / "res2", tmp_path / "warm.json")
    assert warm["rc"] == 0
    assert warm["compiled"] == []
    first = sorted(p.name for p in (tmp_path / "res1").iterdir())
    assert first == sorted(p.name for p in (tmp_path / "res2").iterdir())
    for name in first:
        if name.endswith(".tif") or name.endswith(".txt"):
            assert (tmp_path / "res1" / name).read_bytes() == (tmp_path / "res2" / name).read_bytes()
