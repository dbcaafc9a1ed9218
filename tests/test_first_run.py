"""First run: gputrack's compile cache (``gputrack compile``) and what an empty one costs.

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


def _env(cache: Path) -> dict:
    """A subprocess environment whose compile caches (gputrack's and numba's) are ``cache``."""
    return {**os.environ, "GPUTRACK_JIT_CACHE": str(cache / "gputrack"),
            "NUMBA_CACHE_DIR": str(cache / "numba"), "PYTHONPATH": str(ROOT)}


def _gputrack(args: list[str], cache: Path, report: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", _COUNT, str(report), *args], env=_env(cache),
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(report.read_text())


def _track(folder: Path, cache: Path, out: Path, report: Path) -> dict:
    args = ["track", "--raw", str(folder / "01"), "--labels", str(folder / "01_GT" / "TRA"),
            "--export", "ctc", "--out", str(out), "--quiet"]
    return _gputrack(args, cache, report)


_EIG2 = """
import json, sys
import numpy as np
from numba.core import event

names = []
class Count(event.Listener):
    def on_start(self, e):
        names.append(e.data["dispatcher"].py_func.__qualname__)
    def on_end(self, e):
        pass

with event.install_listener("numba:compile", Count()):
    from gputrack.features.eigen import _eig2_cpu
    a, out0, out1 = np.arange(3.0), np.empty(3), np.empty(3)
    _eig2_cpu(a, a, a, out0, out1)
print(json.dumps(names))
"""


def _eig2(env: dict) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", _EIG2], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_gputrack_functions_cache_in_gputracks_folder(tmp_path):
    """gputrack's compiled code goes to GPUTRACK_JIT_CACHE (not NUMBA_CACHE_DIR) and loads from it;
    ``off`` hands it back to numba's own places."""
    env = _env(tmp_path)
    assert _eig2(env) == ["_eig2_cpu"]
    cached = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.nbi"))
    assert len(cached) == 1 and cached[0].parent == Path("gputrack/features"), cached  # the package's layout
    assert _eig2(env) == []  # loaded, not compiled
    env["GPUTRACK_JIT_CACHE"] = "off"
    assert _eig2(env) == ["_eig2_cpu"]
    assert [p.parent.parent for p in tmp_path.rglob("*.nbi") if "numba" in p.parts] == [tmp_path / "numba"]
    assert _eig2(env) == []


@pytest.mark.slow
def test_gputrack_compile_covers_demo_and_track(tmp_path):
    """After ``gputrack compile`` a demo and a track on a CTC folder compile nothing."""
    done = _gputrack(["compile", "--quiet"], tmp_path / "cache", tmp_path / "compile.json")
    assert done["rc"] == 0 and len(done["compiled"]) > 100
    demo = _gputrack(["demo", "--out", str(tmp_path / "demo"), "--frames", "12", "--quiet"],
                     tmp_path / "cache", tmp_path / "demo.json")
    assert demo["rc"] == 0 and demo["compiled"] == []
    data = synthetic_timelapse(n_frames=6, shape=(128, 112), n_cells=10, seed=3)
    write_synthetic_ctc(tmp_path / "data", data)
    track = _track(tmp_path / "data", tmp_path / "cache", tmp_path / "res", tmp_path / "track.json")
    assert track["rc"] == 0 and track["compiled"] == []


@pytest.mark.slow
def test_track_first_run_compilations(tmp_path):
    data = synthetic_timelapse(n_frames=6, shape=(96, 96), n_cells=8, seed=1)
    write_synthetic_ctc(tmp_path / "data", data)
    cache = tmp_path / "caches"
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


def test_flow_tracking_does_not_import_or_tools(tmp_path):
    # OR-Tools' MathOpt costs about 0.35 s to import: only the ILP solver loads it
    code = ("import sys; import gputrack.tracking, gputrack.workflows.tracking, gputrack.cli.track; "
            "print('ortools' in sys.modules); from gputrack.tracking import solve_ilp; "
            "print('ortools.math_opt' in sys.modules, callable(solve_ilp))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout.split()
    assert out == ["False", "True", "True"]


def test_first_command_on_an_empty_cache_says_why_it_is_slow_once(tmp_path):
    env = {**os.environ, "GPUTRACK_JIT_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}

    def synth(k: int) -> str:
        cmd = [sys.executable, "-m", "gputrack", "synth", "--frames", "2", "--out", str(tmp_path / f"s{k}")]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return proc.stderr

    assert "gputrack compile" in synth(0)
    assert "first run" not in synth(1)
    # a built cache (an entry of numba's index) gives no hint either
    (tmp_path / "cache").mkdir(exist_ok=True)
    (tmp_path / "cache" / ".first-run").unlink()
    (tmp_path / "cache" / "tracking").mkdir()
    (tmp_path / "cache" / "tracking" / "flow.solve-1.py311.nbi").write_bytes(b"")
    assert "first run" not in synth(2)


def test_gputrack_compile_takes_the_first_run_mark_silently(tmp_path, monkeypatch, caplog):
    # compile runs the stages itself: neither it nor its inner runs print the hint
    import argparse
    import logging

    from gputrack.cli import _first_run_hint

    monkeypatch.setenv("GPUTRACK_JIT_CACHE", str(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING, logger="gputrack"):
        _first_run_hint(argparse.ArgumentParser(prog="gputrack compile"))
        _first_run_hint(argparse.ArgumentParser(prog="gputrack demo"))
    assert (tmp_path / "cache" / ".first-run").exists()
    assert "first run" not in caplog.text
    monkeypatch.setenv("GPUTRACK_JIT_CACHE", str(tmp_path / "other"))
    with caplog.at_level(logging.WARNING, logger="gputrack"):
        _first_run_hint(argparse.ArgumentParser(prog="gputrack demo"))
    assert "gputrack compile" in caplog.text
