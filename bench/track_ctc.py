"""Benchmark: ``gputrack track`` end to end on a CTC folder (read masks, track, write the CTC result).

Writes a synthetic CTC sequence once per run in a temporary folder: ``--frames`` frames of
``--size``² pixels with ``--objects`` disks (radius 4) per frame following
``gputrack.tracking.random_walk_detections`` (1 % divisions per frame), label masks
``SEQ_GT/TRA/man_trackTTT.tif`` and raw ``SEQ/tTTT.tif``. Then runs
``gputrack track --raw SEQ --labels SEQ_GT/TRA --out RES --export ctc`` in-process
(``gputrack.cli.main``) with stage times (read, detections, graph = graph + energies, solve, export),
and once more as a subprocess for its wall time; then once more in-process with
``--solver ilp --timeout 1`` (issue #6: 10^5 detections must come back within 3 s of solving, with
a valid labelling and its gap: the ILP cannot even be loaded in 1 s, so the flow's warm start and
whatever shortest-path rounds fit are returned with their Lagrangian bound).

Usage: python bench/track_ctc.py [--frames 100] [--objects 1000] [--size 1024]
       [--out bench/results/track_ctc.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gputrack.tracking import load_result, random_walk_detections  # noqa: E402

_ENTRY = "import sys; from gputrack.cli import main; sys.exit(main(sys.argv[1:]))"


def write_sequence(root: Path, frames: int, objects: int, size: int, seed: int = 0) -> tuple[Path, Path]:
    """Raw and mask folders of a random-walk sequence (disks of radius 4, label = detection label)."""
    spacing = size / np.sqrt(objects) * 0.9
    det, _ = random_walk_detections(frames, objects, spacing=spacing, step=2.0, seed=seed)
    raw_dir, tra_dir = root / "01", root / "01_GT" / "TRA"
    raw_dir.mkdir(parents=True)
    tra_dir.mkdir(parents=True)
    yy, xx = np.mgrid[-4:5, -4:5]
    disk = yy**2 + xx**2 <= 16
    dy, dx = yy[disk], xx[disk]

    def one(t: int) -> None:
        d = det[det["t"] == t]
        lab = np.zeros((size, size), np.uint16)
        y = np.clip(np.round(d["y"].to_numpy()).astype(int), 4, size - 5)
        x = np.clip(np.round(d["x"].to_numpy()).astype(int), 4, size - 5)
        lab[y[:, None] + dy, x[:, None] + dx] = d["label"].to_numpy()[:, None]
        tifffile.imwrite(tra_dir / f"man_track{t:03d}.tif", lab)
        tifffile.imwrite(raw_dir / f"t{t:03d}.tif", ((lab > 0) * 1000 + 100).astype(np.uint16))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(frames)))
    return raw_dir, tra_dir


def timed_stages() -> dict[str, float]:
    """Wrap the stage functions the CLI calls so that their seconds add up in the returned dict."""
    import gputrack.export.formats as formats
    import gputrack.io.sequence as sequence
    import gputrack.tracking.ilp as ilp
    import gputrack.tracking.pipeline as pipeline
    import gputrack.tracking.result as result

    track = sys.modules["gputrack.tracking.track"]  # the package attribute is the function

    times: dict[str, float] = {}
    targets = [(sequence, "read_sequence", "read"), (pipeline, "detections_from_labels", "detections"),
               (pipeline, "build_graph", "graph"), (pipeline, "geometric_division_probability", "graph"),
               (track, "build_graph", "graph"), (track, "compute_energies", "graph"),
               (track, "solve_flow", "solve"), (ilp, "solve_ilp", "solve"),
               (formats, "export_many", "export"),
               (result, "save_result", "export")]
    for module, name, stage in targets:
        real = getattr(module, name)

        def wrapper(*args, _real=real, _stage=stage, **kwargs):
            t0 = time.perf_counter()
            try:
                return _real(*args, **kwargs)
            finally:
                times[_stage] = times.get(_stage, 0.0) + time.perf_counter() - t0

        setattr(module, name, wrapper)
    return times


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--out", default="bench/results/track_ctc.json")
    args = parser.parse_args(argv)
    from gputrack.cli import main as cli_main

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        raw_dir, tra_dir = write_sequence(tmp, args.frames, args.objects, args.size)
        write_s = time.perf_counter() - t0
        # warm-up (numba compilation from the cache, imports) on a 3-frame copy
        small = tmp / "small"
        small_raw, small_tra = write_sequence(small, 3, 20, 64)
        cli_main(["track", "--raw", str(small_raw), "--labels", str(small_tra), "--out", str(small / "RES"),
                  "--export", "ctc"])
        times = timed_stages()
        cmd = ["track", "--raw", str(raw_dir), "--labels", str(tra_dir), "--export", "ctc"]
        t0 = time.perf_counter()
        rc = cli_main([*cmd, "--out", str(tmp / "RES")])
        in_process = time.perf_counter() - t0
        n_det = sum(1 for _ in (tmp / "RES").glob("mask*.tif"))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _ENTRY, *cmd, "--out", str(tmp / "RES2")],
                              capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        subprocess_s = time.perf_counter() - t0
        # the same with the ILP and a 1 s timeout (its fallback: the flow stopped at the time limit)
        flow_times = dict(times)
        t0 = time.perf_counter()
        ilp_rc = cli_main([*cmd, "--solver", "ilp", "--timeout", "1", "--out", str(tmp / "RES3")])
        ilp_in_process = time.perf_counter() - t0
        ilp_result = load_result(tmp / "RES3" / "tracking_result.h5").solution
        ilp_times = {k: round(v - flow_times.get(k, 0.0), 2) for k, v in times.items()}
    report = {
        "frames": args.frames, "objects_per_frame": args.objects, "size": args.size,
        "write_input_s": round(write_s, 2), "exit_code": rc, "mask_files": n_det,
        "in_process_s": round(in_process, 2),
        "stages_s": {k: round(v, 2) for k, v in flow_times.items()},
        "subprocess_s": round(subprocess_s, 2), "subprocess_rc": proc.returncode,
        "ilp_timeout_1": {
            "exit_code": ilp_rc, "in_process_s": round(ilp_in_process, 2), "stages_s": ilp_times,
            "solver": ilp_result.solver, "energy": round(ilp_result.energy, 1),
            "bound": round(ilp_result.bound, 1), "gap": round(ilp_result.gap, 4),
            "divisions": int(ilp_result.division.sum()),
        },
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    if proc.returncode:
        report["subprocess_stderr"] = proc.stderr[-2000:]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
