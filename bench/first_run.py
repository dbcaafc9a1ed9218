"""Benchmark: first run (empty numba cache) against warm runs of ``gputrack demo`` and ``gputrack track``.

Without ``gputrack compile`` a first command compiles every numba function it calls; later runs
load them from the cache. Each case runs as a subprocess with gputrack's and numba's compile
caches (``GPUTRACK_JIT_CACHE``, ``NUMBA_CACHE_DIR``) in a fresh empty folder (cold), then twice
more with that folder (warm). Then a fresh install: ``gputrack compile`` (what ``make`` runs at
install) into new empty caches, and each case's first run after it. Inside the subprocess a numba event
listener records every compilation: seconds per function (exclusive of the numba functions it
compiles on the way), the signatures compiled, cache hits. The cases:

- ``demo``: ``gputrack demo --out OUT`` (30 frames of 256²: features, forest, threshold, objects,
  tracking, exports, scores);
- ``track``: ``gputrack track --raw 01 --labels 01_GT/TRA --export ctc`` on a synthetic CTC folder
  (``bench/track_ctc.py``'s random walk: ``--frames`` × ``--objects`` = 10^5 detections by default).

The machine may be shared: the 1-minute load average is recorded with every run, and the ratio
cold / warm of the same run is reported.

Usage: python bench/first_run.py [--frames 100] [--objects 1000] [--size 1024] [--cases demo track]
       [--out bench/results/first_run.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def compile_report(buffer: list) -> dict:
    """Per-function compile seconds (exclusive of nested compilations) from recorded numba events.

    ``buffer`` holds ``(wall seconds, CPU seconds of this process, event)`` for the start and the
    end of every ``numba:compile`` event; compilations nest (a function compiles its callees).
    """
    stack: list[list] = []  # [name, wall start, cpu start, nested wall, nested cpu, signature]
    per_function: dict[str, dict] = {}
    total = total_cpu = 0.0
    for wall, cpu, event in buffer:
        data = event.data or {}
        py_func = getattr(data.get("dispatcher"), "py_func", None)
        name = f"{getattr(py_func, '__module__', '?')}.{getattr(py_func, '__qualname__', '?')}"
        if event.is_start:
            stack.append([name, wall, cpu, 0.0, 0.0, str(tuple(data.get("args", ())))])
            continue
        name, wall0, cpu0, nested, nested_cpu, sig = stack.pop()
        inclusive, inclusive_cpu = wall - wall0, cpu - cpu0
        if stack:
            stack[-1][3] += inclusive
            stack[-1][4] += inclusive_cpu
        else:
            total += inclusive
            total_cpu += inclusive_cpu
        entry = per_function.setdefault(name, {"seconds": 0.0, "cpu_s": 0.0, "compilations": 0,
                                               "signatures": [], "called_from": []})
        if stack and stack[-1][0] not in entry["called_from"]:
            entry["called_from"].append(stack[-1][0])
        entry["seconds"] += inclusive - nested
        entry["cpu_s"] += inclusive_cpu - nested_cpu
        entry["compilations"] += 1
        entry["signatures"].append(sig)
    for entry in per_function.values():
        entry["seconds"] = round(entry["seconds"], 3)
        entry["cpu_s"] = round(entry["cpu_s"], 3)
    ordered = dict(sorted(per_function.items(), key=lambda kv: -kv[1]["cpu_s"]))
    return {"compile_s": round(total, 2), "compile_cpu_s": round(total_cpu, 2),
            "compilations": sum(e["compilations"] for e in ordered.values()), "functions": ordered}


def recorder():
    """A numba event listener that appends ``(wall, cpu, event)`` to its ``buffer``."""
    from numba.core import event  # noqa: PLC0415

    class Recorder(event.Listener):
        def __init__(self):
            self.buffer = []

        def on_start(self, e):
            self.buffer.append((time.perf_counter(), time.process_time(), e))

        def on_end(self, e):
            self.buffer.append((time.perf_counter(), time.process_time(), e))

    return Recorder()


def dispatcher_counts() -> dict:
    """Cache hits and misses summed over every numba dispatcher of the loaded gputrack modules."""
    from numba.core.registry import CPUDispatcher  # noqa: PLC0415

    hits = misses = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("gputrack"):
            continue
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher):
                stats = value.stats
                hits += sum(stats.cache_hits.values())
                misses += sum(stats.cache_misses.values())
    return {"cache_hits": hits, "cache_misses": misses}


def inner(argv: list[str], report_path: str) -> int:
    """Run ``gputrack ARGV`` in this process with numba's compile events recorded into ``report_path``."""
    t0 = time.perf_counter()
    from numba.core import event  # noqa: PLC0415

    with event.install_listener("numba:compile", recorder()) as listener:
        from gputrack.cli import main  # noqa: PLC0415

        t_import = time.perf_counter() - t0
        rc = main(argv)
    report = {"rc": rc, "wall_in_process_s": round(time.perf_counter() - t0, 2),
              "cpu_in_process_s": round(time.process_time(), 2),
              "import_s": round(t_import, 2), **compile_report(listener.buffer), **dispatcher_counts()}
    Path(report_path).write_text(json.dumps(report, indent=1))
    return rc


def run_case(args_cli: list[str], cache_dir: Path, tmp: Path, tag: str) -> dict:
    """One subprocess run of ``gputrack ARGS_CLI`` with its compile caches in ``cache_dir``
    (``GPUTRACK_JIT_CACHE=cache_dir/gputrack``, ``NUMBA_CACHE_DIR=cache_dir/numba``)."""
    report_path = tmp / f"{tag}.json"
    env = {**os.environ, "GPUTRACK_JIT_CACHE": str(cache_dir / "gputrack"),
           "NUMBA_CACHE_DIR": str(cache_dir / "numba"), "PYTHONPATH": str(ROOT)}
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--inner", str(report_path), "--", *args_cli],
                          env=env, capture_output=True, text=True, cwd=tmp)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    report = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load_avg_before": round(load, 2),
              "load_avg_after": round(os.getloadavg()[0], 2), "returncode": proc.returncode, **report}
    if proc.returncode:
        report["stderr"] = proc.stderr[-2000:]
    return report


def summarise(runs: list[dict]) -> dict:
    """The cold run, the warm runs and the ratio cold / median warm."""
    import numpy as np  # noqa: PLC0415

    cold, warm = runs[0], runs[1:]
    warm_s = float(np.median([r["wall_s"] for r in warm]))
    top = cold.get("functions", {})
    return {
        "cold_wall_s": cold["wall_s"], "warm_wall_s": round(warm_s, 2),
        "cold_over_warm": round(cold["wall_s"] / warm_s, 2),
        "cold_cpu_s": cold["cpu_s"], "warm_cpu_s": round(float(np.median([r["cpu_s"] for r in warm])), 2),
        "cold_compile_s": cold.get("compile_s"), "cold_compile_cpu_s": cold.get("compile_cpu_s"),
        "cold_compilations": cold.get("compilations"),
        "warm_compilations": [r.get("compilations") for r in warm],
        "load_avg": [r["load_avg_before"] for r in runs],
        "cold": {k: v for k, v in cold.items() if k != "functions"},
        "warm": [{k: v for k, v in r.items() if k != "functions"} for r in warm],
        "cold_top_functions": top,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--warm", type=int, default=2, help="warm runs after the cold one")
    parser.add_argument("--cases", nargs="+", default=["demo", "track"], choices=["demo", "track"])
    parser.add_argument("--out", default=str(ROOT / "bench/results/first_run.json"))
    args = parser.parse_args(argv)
    from track_ctc import write_sequence  # noqa: PLC0415

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = {}
        if "demo" in args.cases:
            cases["demo"] = lambda i: ["demo", "--out", str(tmp / f"demo{i}"), "--quiet"]
        if "track" in args.cases:
            raw_dir, tra_dir = write_sequence(tmp / "seq", args.frames, args.objects, args.size)
            cases["track"] = lambda i: ["track", "--raw", str(raw_dir), "--labels", str(tra_dir),
                                        "--export", "ctc", "--out", str(tmp / f"RES{i}"), "--quiet"]
        for name, make in cases.items():
            cache = tmp / f"cache_{name}"
            runs = [run_case(make(i), cache, tmp, f"{name}{i}") for i in range(1 + args.warm)]
            results[name] = summarise(runs)
            print(name, json.dumps({k: v for k, v in results[name].items() if k not in ("cold", "warm",
                                    "cold_top_functions")}), flush=True)
        # a fresh install: `gputrack compile` (what `make` runs) into empty caches, then each
        # command's first run
        installed = tmp / "cache_installed"
        compiled = run_case(["compile", "--quiet"], installed, tmp, "compile")
        keys = ("wall_s", "cpu_s", "compilations", "load_avg_before")
        results["compile"] = {k: compiled.get(k) for k in keys}
        print("compile", json.dumps(results["compile"]), flush=True)
        for name, make in cases.items():
            first = run_case(make("_installed"), installed, tmp, f"{name}_installed")
            results[name]["after_compile"] = {k: first.get(k) for k in keys}
            print(name, "after gputrack compile", json.dumps(results[name]["after_compile"]), flush=True)
    report = {
        "cases": results,
        "detections": args.frames * args.objects, "frames": args.frames, "size": args.size,
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numba": __import__("numba").__version__,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--inner":
        sys.path.insert(0, str(ROOT))
        sys.exit(inner(sys.argv[4:], sys.argv[2]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
