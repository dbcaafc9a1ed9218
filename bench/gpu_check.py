"""``make gpu-check``: gputrack's GPU paths on a CUDA machine in one command and one table.

Steps, each its own process with its own time limit, log (``OUT/<step>.log``) and line in
the table: the environment; NVRTC compile of every kernel and every template
instantiation the code launches (``cupy.RawModule`` through ``backend.load_kernel``, with
registers and local memory); ``pytest -m gpu`` on the files that hold GPU tests; GPU vs CPU
timings and equality of each stage on small inputs; the GPU benchmarks in quick settings
(cuCIM's device resize against the host ``--scale`` path among them);
compute-sanitizer memcheck, racecheck and synccheck on tiny runs of every kernel. The whole
run keeps to a budget (default 480 s): a step that would start with less than its minimum
left is skipped, a step past its limit is killed. Results also go to ``OUT/gpu_check.json``.

Usage::

    python bench/gpu_check.py [--out DIR] [--budget 480] [--only nvrtc,pytest]

Example (the table)::

    step          status      time  summary
    env           ok          3.1s  NVIDIA H200, cc 9.0, cupy 13.6.0, 139.8 GiB
    nvrtc         ok         18.0s  compiled 36/36 kernels, max 40 registers, 0 B local
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "kernels"
DEFAULT_BUDGET = 480.0
_EXTERN_C = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)')


# --------------------------------------------------------------------------- kernel inventory


def name_expressions() -> dict[str, tuple[str, ...]]:
    """The template instantiations the Python code launches, per ``kernels/`` file."""
    predict = importlib.import_module("gputrack.forest.predict")
    labeling = importlib.import_module("gputrack.segment.labeling")
    templates = {
        "forest.cu": tuple(predict._NAME_EXPRESSIONS),
        "objects_ccl.cu": tuple(labeling._NAME_EXPRESSIONS),
    }
    # every file of kernels/ (files of extern "C" kernels only have no name expressions)
    return {path.name: templates.get(path.name, ()) for path in sorted(KERNELS.glob("*.cu"))}


def kernel_options() -> dict[str, tuple[str, ...]]:
    """NVRTC options of the ``kernels/`` files the code does not load with the default ones."""
    fused_gpu = importlib.import_module("gputrack.features.fused_gpu")
    return {fused_gpu.SOURCE: tuple(fused_gpu.OPTIONS)}


def kernel_jobs() -> list[tuple[str, str, tuple[str, ...]]]:
    """Every kernel the code can launch: ``(file, name, name_expressions)``."""
    jobs = []
    for fname, exprs in name_expressions().items():
        for name in _EXTERN_C.findall((KERNELS / fname).read_text()):
            jobs.append((fname, name, exprs))
        jobs += [(fname, e, exprs) for e in dict.fromkeys(exprs)]
    return jobs


# --------------------------------------------------------------------------- steps


@dataclass
class Step:
    """One isolated command: a name, argv, a time limit, and how to read its output."""

    name: str
    argv: list[str]
    timeout: float
    summarize: Callable[[int, str], tuple[bool, str]] = field(repr=False)
    min_time: float = 10.0
    requires: str | None = None  # an executable that must exist, else the step is skipped


@dataclass
class Result:
    name: str
    status: str  # ok | FAIL | TIMEOUT | skipped
    seconds: float
    summary: str
    log: str


def _last(pattern: str, text: str) -> str | None:
    found = re.findall(pattern, text, flags=re.MULTILINE)
    return found[-1] if found else None


def summarize_lines(rc: int, text: str) -> tuple[bool, str]:
    """The last non-empty line of the output; ok iff the exit status is 0."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return rc == 0, (lines[-1] if lines else f"exit {rc}, no output")


def summarize_pytest(rc: int, text: str) -> tuple[bool, str]:
    """pytest's final counts (``36 passed, 1 skipped in 40.1s``); ok iff pytest exited 0.

    >>> summarize_pytest(0, "....\\n===== 3 passed, 1 skipped in 2.0s =====")
    (True, '3 passed, 1 skipped in 2.0s')
    """
    line = _last(r"^=*\s*(\d+ (?:passed|failed|error|errors|skipped|deselected).*?)\s*=*$", text)
    return rc == 0, line or f"pytest exit {rc}"


def summarize_sanitizer(rc: int, text: str) -> tuple[bool, str]:
    """compute-sanitizer's summary plus the checks' own verdict; ok iff 0 errors and the checks passed.

    >>> summarize_sanitizer(0, "TINY KERNEL CHECKS: OK\\n========= ERROR SUMMARY: 0 errors")
    (True, 'ERROR SUMMARY: 0 errors; TINY KERNEL CHECKS: OK')
    """
    summary = _last(r"((?:ERROR|RACECHECK|SYNCCHECK) SUMMARY:.*)$", text)
    verdict = _last(r"(TINY KERNEL CHECKS:.*)$", text)
    errors = re.search(r"(\d+) errors?", summary or "")
    ok = rc == 0 and summary is not None and errors is not None and int(errors.group(1)) == 0
    ok = ok and verdict is not None and verdict.endswith("OK")
    return ok, "; ".join(s for s in (summary, verdict) if s) or f"exit {rc}, no sanitizer summary"


def _sanitizer() -> str:
    found = shutil.which("compute-sanitizer")
    if found:
        return found
    for base in (os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"):
        path = Path(base) / "bin" / "compute-sanitizer"
        if base and path.is_file():
            return str(path)
    return "compute-sanitizer"


def gpu_test_files() -> list[str]:
    """Test files holding ``-m gpu`` tests (naming them avoids collecting modules with optional imports)."""
    files = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        if re.search(r"pytest\.mark\.gpu|mark\.gpu\b", path.read_text()):
            files.append(str(path.relative_to(ROOT)))
    return files


def default_steps(out: Path) -> list[Step]:
    """The steps of ``make gpu-check``, most important first."""
    py = sys.executable
    me = str(Path(__file__).resolve())
    san = _sanitizer()
    pytest_argv = [py, "-m", "pytest", "-m", "gpu", "-q", "-rfE", "-p", "no:cacheprovider", "-o", "addopts="]
    return [
        Step("env", [py, me, "--worker", "env"], 40, summarize_lines, min_time=5, requires="nvidia-smi"),
        Step("nvrtc", [py, me, "--worker", "compile"], 100, summarize_lines),
        Step("pytest-gpu", [*pytest_argv, *gpu_test_files()], 210, summarize_pytest, min_time=30),
        Step(
            "memcheck",
            [
                san,
                "--tool",
                "memcheck",
                "--leak-check",
                "no",
                "--print-limit",
                "20",
                py,
                me,
                "--worker",
                "tiny",
            ],
            70,
            summarize_sanitizer,
            requires=san,
        ),
        Step(
            "racecheck",
            [
                san,
                "--tool",
                "racecheck",
                "--print-limit",
                "10",
                py,
                me,
                "--worker",
                "tiny",
                "--kernels",
                "forest,ccl,features",
            ],
            60,
            summarize_sanitizer,
            requires=san,
        ),
        Step(
            "synccheck",
            [
                san,
                "--tool",
                "synccheck",
                "--print-limit",
                "10",
                py,
                me,
                "--worker",
                "tiny",
                "--kernels",
                "forest,features",
            ],
            40,
            summarize_sanitizer,
            requires=san,
        ),
        Step(
            "timings",
            [py, me, "--worker", "timings", "--out", str(out / "gpu_timings.json")],
            60,
            summarize_lines,
        ),
        Step(
            "bench-forest",
            [
                py,
                str(ROOT / "bench" / "forest.py"),
                "--sizes",
                "1000000",
                "--no-sklearn",
                "--out",
                str(out / "bench_forest.json"),
            ],
            60,
            summarize_lines,
            min_time=20,
        ),
        Step(
            "bench-objects",
            [
                py,
                str(ROOT / "bench" / "objects.py"),
                "--quick",
                "--no-peer",
                "--out",
                str(out / "bench_objects.json"),
            ],
            60,
            summarize_lines,
            min_time=20,
        ),
        Step(
            "bench-features",
            [
                py,
                str(ROOT / "bench" / "features.py"),
                "--quick",
                "--no-peers",
                "--out",
                str(out / "bench_features.json"),
            ],
            90,
            summarize_lines,
            min_time=30,
        ),
        Step(
            "bench-cucim",
            [
                py,
                str(ROOT / "bench" / "cucim_vs_current.py"),
                "--gpu-only",
                "--repeats",
                "3",
                "--out",
                str(out / "bench_cucim.json"),
            ],
            45,
            summarize_lines,
            min_time=15,
        ),
    ]


def run_step(step: Step, out: Path, left: float, env: dict[str, str] | None = None) -> Result:
    """Run one step in its own process group, killed after ``min(step.timeout, left)`` seconds."""
    log = out / f"{step.name}.log"
    if step.requires and shutil.which(step.requires) is None and not Path(step.requires).is_file():
        return Result(step.name, "skipped", 0.0, f"{step.requires} not found", str(log))
    if left < step.min_time:
        return Result(
            step.name, "skipped", 0.0, f"budget: {left:.0f} s left, needs {step.min_time:.0f} s", str(log)
        )
    limit = min(step.timeout, left)
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        try:
            proc = subprocess.Popen(
                step.argv, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True
            )
        except OSError as err:
            return Result(step.name, "FAIL", 0.0, f"cannot start: {err}", str(log))
        try:
            rc = proc.wait(timeout=limit)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc, timed_out = proc.wait(), True
    seconds = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    ok, summary = step.summarize(rc, text)
    if timed_out:
        return Result(step.name, "TIMEOUT", seconds, f"killed after {limit:.0f} s; {summary}", str(log))
    return Result(step.name, "ok" if ok else "FAIL", seconds, summary, str(log))


def run_steps(
    steps: Sequence[Step], out: Path, budget: float, env: dict[str, str] | None = None
) -> list[Result]:
    """Run ``steps`` in order within ``budget`` seconds in all."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = []
    for step in steps:
        left = budget - (time.perf_counter() - start)
        results.append(run_step(step, out, left, env))
        print(format_row(results[-1]), flush=True)
    return results


def format_row(r: Result, width: int = 100) -> str:
    summary = r.summary if len(r.summary) <= width else r.summary[: width - 3] + "..."
    return f"{r.name:<15}{r.status:<9}{r.seconds:>7.1f}s  {summary}"


def format_table(results: Sequence[Result]) -> str:
    """One table: a row per step and a total.

    >>> print(format_table([Result("env", "ok", 1.25, "NVIDIA H200", "env.log")]))
    step           status      time  summary
    env            ok           1.2s  NVIDIA H200
    total                       1.2s  1 ok
    """
    lines = [f"{'step':<15}{'status':<9}{'time':>8}  summary"]
    lines += [format_row(r) for r in results]
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in counts.items())
    lines.append(f"{'total':<24}{sum(r.seconds for r in results):>7.1f}s  {tally}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- workers (run on the GPU)


def worker_env() -> None:
    from gputrack import backend

    smi = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    )
    print(smi.stdout.strip())
    info = backend.describe()
    print(json.dumps(info, indent=1, default=str))
    gpu = info.get("gpu") or {}
    if not gpu:
        print(f"no GPU: {info.get('gpu_status')}")
        sys.exit(1)
    mem = gpu["memory_total_bytes"] / 2**30
    print(
        f"{gpu['name']}, cc {gpu['compute_capability']}, cupy {gpu['cupy']}, {mem:.1f} GiB, "
        f"driver {smi.stdout.strip().split(',')[-1].strip()}"
    )


_ATTRS = {"regs": "num_regs", "local": "local_size_bytes", "shared": "shared_size_bytes"}


def worker_compile() -> None:
    from gputrack import backend

    jobs = kernel_jobs()
    options = kernel_options()
    ok, regs, local = 0, 0, 0
    for fname, name, exprs in jobs:
        t0 = time.perf_counter()
        try:
            opts = options.get(fname, ("-std=c++17",))
            kernel = backend.load_kernel(fname, name, options=opts, name_expressions=exprs)
            attrs = getattr(kernel, "attributes", {}) or {}
            regs = max(regs, int(attrs.get("num_regs", 0)))
            local = max(local, int(attrs.get("local_size_bytes", 0)))
            resources = " ".join(f"{k}={attrs.get(a)}" for k, a in _ATTRS.items())
            print(f"OK   {fname:15s} {name:40s} {resources} ({time.perf_counter() - t0:.2f} s)")
            ok += 1
        except Exception as err:  # noqa: BLE001 - every failure is reported, the step goes on
            print(f"FAIL {fname:15s} {name:40s} {type(err).__name__}: {str(err)[:3000]}")
    print(f"compiled {ok}/{len(jobs)} kernels, max {regs} registers, {local} B local")
    sys.exit(0 if ok == len(jobs) else 1)


def _small_forest(n_classes: int, n_features: int, seed: int):
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    from gputrack.forest import from_sklearn

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, n_features)).astype(np.float32)
    y = (X[:, 0] * 2 + X[:, 1 % n_features] * n_classes).astype(int) % n_classes
    rf = RandomForestClassifier(n_estimators=5, max_depth=8, random_state=seed).fit(X[:1000], y[:1000])
    return from_sklearn(rf), X[1000:]


def worker_tiny(kernels: set[str]) -> None:
    """Each kernel once on a tiny input against its CPU twin (what the sanitizers watch)."""
    import numpy as np
    import scipy.ndimage as ndi

    from gputrack import backend, forest
    from gputrack import features as gf
    from gputrack.features import eigen, fused_gpu
    from gputrack.objects import regions
    from gputrack.segment import labeling

    bad = 0

    def check(what: str, ok: bool) -> None:
        nonlocal bad
        print(f"{what}: {'OK' if ok else 'DIFFERS'}")
        bad += not ok

    rng = np.random.default_rng(0)
    if "forest" in kernels:  # STAGE with several block sizes, no STAGE (500 features), MAXC = 0 (40 classes)
        for n_classes, n_features in ((3, 49), (40, 6), (3, 500)):
            f, X = _small_forest(n_classes, n_features, n_classes)
            gpu = backend.to_host(forest.predict_proba(f, backend.to_device(X[:300], "gpu"), device="gpu"))
            check(
                f"forest {n_classes} classes {n_features} features",
                np.array_equal(gpu, forest.predict_proba(f, X[:300], device="cpu")),
            )
    if "eigen" in kernels:
        for k in (3, 6):
            c = [rng.normal(size=1000).astype(np.float32) for _ in range(k)]
            g = eigen.symmetric_eigenvalues([backend.to_device(v, "gpu") for v in c], device="gpu")
            cpu = eigen.symmetric_eigenvalues(c, device="cpu")
            check(f"eigen {k} components", np.allclose(backend.to_host(g), cpu, rtol=1e-6, atol=1e-6))
    if "features" in kernels:  # features2d.cu: odd sizes, default tiles and tiles smaller than the halos
        img = (ndi.gaussian_filter(rng.random((37, 38)), 1.5) * 255).astype(np.float32)
        sel = {f: [0.3, 1.6, 10.0] for f in gf.FEATURE_IDS}
        cpu = gf.compute(img, sel, device="cpu").data
        for tile in (fused_gpu.TILE, (3, 5)):
            default, fused_gpu.TILE = fused_gpu.TILE, tile
            try:
                gpu = gf.compute(backend.to_device(img, "gpu"), sel, device="gpu").data
            finally:
                fused_gpu.TILE = default
            check(f"features2d tile {tile}", np.array_equal(backend.to_host(gpu), cpu))
    if "ccl" in kernels:
        m = ndi.gaussian_filter(rng.random((20, 40, 30)), 1.3) > 0.5
        a, n = labeling.label_volume(m, "cpu")
        b, nb = labeling.label_volume(backend.to_device(m, "gpu"), "gpu")
        check("ccl", n == nb and np.array_equal(backend.to_host(b), a))
    if "regions" in kernels:
        lab, _ = ndi.label(ndi.gaussian_filter(rng.random((10, 40, 30)), 1.3) > 0.5)
        vals = rng.random(lab.shape + (2,)).astype(np.float32)
        c = regions.region_moments(lab, vals, "cpu")
        g = regions.region_moments(backend.to_device(lab, "gpu"), backend.to_device(vals, "gpu"), "gpu")
        same = all(
            np.allclose(getattr(c, k), getattr(g, k), rtol=1e-9, atol=1e-9)
            for k in (
                "count",
                "coord_mean",
                "bbox_min",
                "bbox_max",
                "coord_central",
                "value_sum",
                "value_min",
                "value_max",
                "value_central",
            )
        )
        check("regions", same)
    print("TINY KERNEL CHECKS:", "OK" if not bad else f"{bad} FAILED")
    sys.exit(0 if not bad else 1)


def worker_timings(out: str | None, edge: int = 1024) -> None:
    """GPU vs CPU seconds (best of 3, warm) and agreement of each stage on small inputs.

    Features on ``edge``^2, forest on 500 * ``edge`` rows, labels and objects on
    (2 ``edge``)^2, one all-foreground label image of (4 ``edge``)^2 (longest union chains).
    """
    import numpy as np
    import scipy.ndimage as ndi

    from gputrack import backend, forest, objects, segment
    from gputrack import features as gf

    def timed(fn, device, repeat=3):
        fn()
        backend.synchronize(device)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            backend.synchronize(device)
            best = min(best, time.perf_counter() - t0)
        return best

    rng = np.random.default_rng(0)
    img = (ndi.gaussian_filter(rng.random((edge, edge)), 2) * 255).astype(np.float32)
    x = backend.to_device(img, "gpu")
    res: dict[str, float] = {"edge": edge}
    res["features_edge_gpu_s"] = timed(lambda: gf.compute(x, "all", device="gpu"), "gpu")
    res["features_edge_cpu_s"] = timed(lambda: gf.compute(img, "all", device="cpu"), "cpu", repeat=1)
    same_features = np.array_equal(
        backend.to_host(gf.compute(x, "all", device="gpu").data), gf.compute(img, "all", device="cpu").data
    )
    f, X = _small_forest(3, 49, 0)
    Xbig = np.tile(X, (edge // 2, 1))
    Xd = backend.to_device(Xbig, "gpu")
    res["forest_rows_gpu_s"] = timed(lambda: forest.predict_proba(f, Xd, device="gpu"), "gpu")
    res["forest_rows_cpu_s"] = timed(lambda: forest.predict_proba(f, Xbig, device="cpu"), "cpu", repeat=1)
    same_forest = np.array_equal(
        backend.to_host(forest.predict_proba(f, Xd, device="gpu")),
        forest.predict_proba(f, Xbig, device="cpu"),
    )
    mask = ndi.gaussian_filter(rng.random((2 * edge, 2 * edge)), 3) > 0.5
    md = backend.to_device(mask, "gpu")
    res["label_2edge_gpu_s"] = timed(lambda: segment.label(md, device="gpu"), "gpu")
    res["label_2edge_cpu_s"] = timed(lambda: segment.label(mask, device="cpu"), "cpu", repeat=1)
    ones = backend.to_device(np.ones((4 * edge, 4 * edge), bool), "gpu")
    res["label_all_foreground_4edge_gpu_s"] = timed(
        lambda: segment.label(ones, device="gpu"), "gpu", repeat=1
    )
    lab_cpu = segment.label(mask, device="cpu")
    same_labels = np.array_equal(backend.to_host(segment.label(md, device="gpu")), lab_cpu)
    raw = rng.random(mask.shape).astype(np.float32)
    rd, ld = backend.to_device(raw, "gpu"), backend.to_device(lab_cpu, "gpu")
    res["objects_2edge_gpu_s"] = timed(lambda: objects.features(rd, ld, device="gpu"), "gpu", repeat=2)
    res["objects_2edge_cpu_s"] = timed(lambda: objects.features(raw, lab_cpu, device="cpu"), "cpu", repeat=1)
    res["objects_count"] = int(lab_cpu.max())
    if out:
        Path(out).write_text(json.dumps({"describe": backend.describe(), **res}, indent=1, default=str))
    print(json.dumps(res, indent=1))
    speed = ", ".join(
        f"{k.split('_')[0]} {res[k.replace('gpu', 'cpu')] / res[k]:.0f}x"
        for k in res
        if k.endswith("_gpu_s") and k.replace("gpu", "cpu") in res
    )
    print(
        f"GPU vs CPU: {speed}; features equal: {same_features}, forest equal: {same_forest}, "
        f"labels equal: {same_labels}"
    )
    sys.exit(0 if same_features and same_forest and same_labels else 1)


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(os.environ.get("OUT", "out/gpu-check")),
        help="folder for the logs, JSON results and the table (default $OUT or out/gpu-check)",
    )
    ap.add_argument(
        "--budget", type=float, default=DEFAULT_BUDGET, help="seconds for all steps (default 480)"
    )
    ap.add_argument("--only", default=None, help="comma-separated step names to run (default: all)")
    ap.add_argument("--worker", choices=("env", "compile", "tiny", "timings"), help=argparse.SUPPRESS)
    ap.add_argument("--kernels", default="forest,eigen,ccl,regions,features", help=argparse.SUPPRESS)
    ap.add_argument("--edge", type=int, default=1024, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        workers = {
            "env": worker_env,
            "compile": worker_compile,
            "tiny": lambda: worker_tiny(set(args.kernels.split(","))),
            "timings": lambda: worker_timings(
                str(args.out) if str(args.out).endswith(".json") else None, args.edge
            ),
        }
        workers[args.worker]()
        return 0
    steps = default_steps(args.out)
    if args.only:
        wanted = set(args.only.split(","))
        steps = [s for s in steps if s.name in wanted]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault(
        "GPUTRACK_EMULATION", "0"
    )  # on a machine without a GPU, GPU tests skip instead of emulating
    results = run_steps(steps, args.out, args.budget, env)
    table = format_table(results)
    print("\n" + table)
    (args.out / "gpu_check.txt").write_text(table + "\n")
    (args.out / "gpu_check.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0 if all(r.status in ("ok", "skipped") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
