"""``make gpu-check`` (bench/gpu_check.py): the step runner, the table, the summaries, the kernel list.

The steps themselves need a CUDA machine; here fake steps exercise isolation, time limits,
budget and reporting, and the workers that run the kernels are run under the GPU
emulation (``-m gpu``) on small inputs.
"""

from __future__ import annotations

import json
import re
import sys
import time

import pytest

from bench import gpu_check as gc
from tests.emulation.cuda_host.rewrite import rewrite_source


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_runner_isolates_times_and_reports(tmp_path):
    steps = [
        gc.Step("good", py("print('compiled 3/3 kernels')"), 20, gc.summarize_lines, min_time=0),
        gc.Step("bad", py("import sys; print('boom'); sys.exit(3)"), 20, gc.summarize_lines, min_time=0),
        # the child survives its parent unless the whole process group is killed
        gc.Step(
            "slow",
            py("import subprocess; print('start', flush=True); subprocess.run(['sleep', '60'])"),
            1.5,
            gc.summarize_lines,
            min_time=0,
        ),
        gc.Step("absent", ["no-such-tool"], 20, gc.summarize_lines, min_time=0, requires="no-such-tool"),
        gc.Step("late", py("print(1)"), 20, gc.summarize_lines, min_time=1000),
    ]
    t0 = time.perf_counter()
    results = gc.run_steps(steps, tmp_path / "out", budget=60)
    assert time.perf_counter() - t0 < 15  # the sleeping grandchild was killed with its group
    got = {r.name: (r.status, r.summary) for r in results}
    assert got["good"] == ("ok", "compiled 3/3 kernels")
    assert got["bad"] == ("FAIL", "boom")
    assert got["slow"][0] == "TIMEOUT" and got["slow"][1].startswith("killed after 2 s; start")
    assert got["absent"] == ("skipped", "no-such-tool not found")
    assert got["late"][0] == "skipped" and "budget" in got["late"][1]
    assert (tmp_path / "out" / "bad.log").read_text() == "boom\n"
    assert 1.4 < results[2].seconds < 10


def test_table_has_a_row_per_step_and_a_total():
    results = [
        gc.Result("env", "ok", 2.04, "NVIDIA H200, cc 9.0", "env.log"),
        gc.Result("pytest-gpu", "FAIL", 61.5, "2 failed, 34 passed in 60.0s", "p.log"),
        gc.Result("memcheck", "skipped", 0.0, "compute-sanitizer not found", "m.log"),
        gc.Result("bench-forest", "ok", 12.0, "x" * 300, "b.log"),
    ]
    lines = gc.format_table(results).splitlines()
    assert lines[0].split() == ["step", "status", "time", "summary"]
    assert [ln.split()[0] for ln in lines[1:]] == ["env", "pytest-gpu", "memcheck", "bench-forest", "total"]
    assert lines[2].split()[:3] == ["pytest-gpu", "FAIL", "61.5s"]
    assert lines[-1].split()[1] == "75.5s" and lines[-1].endswith("2 ok, 1 FAIL, 1 skipped")
    assert len(lines[4]) < 140 and lines[4].endswith("...")
    # the columns line up
    assert len({ln.index("s  ") for ln in lines[1:]}) == 1


@pytest.mark.parametrize(
    ("text", "rc", "ok"),
    [
        ("TINY KERNEL CHECKS: OK\n========= ERROR SUMMARY: 0 errors\n", 0, True),
        ("TINY KERNEL CHECKS: OK\n========= ERROR SUMMARY: 2 errors\n", 1, False),
        ("TINY KERNEL CHECKS: 1 FAILED\n========= ERROR SUMMARY: 0 errors\n", 1, False),
        (
            "========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)\nTINY KERNEL CHECKS: OK",
            0,
            True,
        ),
        (
            "========= RACECHECK SUMMARY: 3 hazards displayed (3 errors, 0 warnings)\nTINY KERNEL CHECKS: OK",
            0,
            False,
        ),
        ("Traceback ...\nImportError: cupy", 1, False),
    ],
)
def test_sanitizer_summary(text, rc, ok):
    assert gc.summarize_sanitizer(rc, text)[0] is ok


def test_pytest_summary():
    text = "..F.\nFAILED tests/test_x.py::test_a - assert 1 == 2\n"
    text += "==== 1 failed, 35 passed, 1 skipped in 40.21s ===="
    assert gc.summarize_pytest(1, text) == (False, "1 failed, 35 passed, 1 skipped in 40.21s")
    assert gc.summarize_pytest(2, "ERROR: file not found")[0] is False


def test_kernel_list_covers_every_kernel():
    """Every extern "C" kernel and every instantiation the code launches is compiled by the nvrtc step."""
    jobs = gc.kernel_jobs()
    names = {(f, n) for f, n, _ in jobs}
    assert len(names) == len(jobs)
    for path in sorted(gc.KERNELS.glob("*.cu")):
        _, kernels = rewrite_source(path.read_text())
        for name, extern_c in kernels:
            if extern_c:
                assert (path.name, name) in names
            else:
                assert any(f == path.name and re.match(rf"{name}\s*<", n) for f, n in names), name
    assert sum(f == "forest.cu" for f, _ in names) == 12
    assert sum(f == "objects_ccl.cu" for f, _ in names) == 18


def test_main_without_a_gpu_reports_and_writes(tmp_path, capsys):
    rc = gc.main(["--out", str(tmp_path), "--only", "env", "--budget", "30"])
    table = (tmp_path / "gpu_check.txt").read_text()
    assert table.splitlines()[1].startswith("env")
    rows = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [r["name"] for r in rows] == ["env"]
    if rows[0]["status"] == "skipped":  # no nvidia-smi here
        assert rc == 0 and "nvidia-smi not found" in rows[0]["summary"]
    assert "total" in capsys.readouterr().out


@pytest.mark.gpu
def test_workers_run_every_kernel(capsys):
    """The nvrtc and tiny workers on the (emulated or real) GPU: every kernel compiles and equals its twin."""
    with pytest.raises(SystemExit) as done:
        gc.worker_compile()
    out = capsys.readouterr().out
    assert done.value.code == 0, out
    assert f"compiled {len(gc.kernel_jobs())}/{len(gc.kernel_jobs())} kernels" in out
    with pytest.raises(SystemExit) as done:
        gc.worker_tiny({"forest", "eigen", "ccl", "regions", "features"})
    out = capsys.readouterr().out
    assert done.value.code == 0, out
    assert out.strip().endswith("TINY KERNEL CHECKS: OK")
