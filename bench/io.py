"""Benchmark: block-by-block reading of a large tiled TIFF against tifffile's whole read.

Writes a 16384 x 16384 uint8 TIFF with 512 x 512 tiles (to ``--workdir`` or a temporary
folder), then measures, each in fresh child processes so that readings do not
contaminate each other:

(a) ``gputrack``: :func:`gputrack.io.images.iter_blocks` over 2048 x 2048 blocks, summing
    each block (memory holds one block at a time);
(b) ``tifffile``: ``tifffile.imread`` of the whole image, then its sum (the peer).

For each method one child measures time and the process RSS high-water mark
(``resource.getrusage``; also minus the resident set right after imports), another the peak
of Python-level allocations (``tracemalloc``; numpy buffers are included, the C
decoders' scratch memory is not). Prints a table and writes JSON.

Usage::

    python bench/io.py [--size 16384] [--tile 512] [--block 2048] [--repeats 3]
                       [--workdir DIR] [--out bench/results/io.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

METHODS = ("gputrack_blocks", "tifffile_whole")


def _maxrss_bytes() -> int:
    """The process's resident-set high-water mark."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB


def _rss_now_bytes() -> int:
    """The current resident set (Linux ``/proc``; the high-water mark elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return _maxrss_bytes()


def _run_method(method: str, path: str, block: int) -> int:
    """Read the image with ``method`` and return the sum of its pixels."""
    if method == "gputrack_blocks":
        from gputrack.io.images import iter_blocks, open_image  # noqa: PLC0415

        total = 0
        with open_image(path) as src:
            for b in iter_blocks(src, block):
                total += int(b.data.sum(dtype=np.uint64))
        return total
    import tifffile  # noqa: PLC0415

    return int(tifffile.imread(path).sum(dtype=np.uint64))


def _child(method: str, path: str, block: int, measure: str) -> None:
    # import everything the methods use before the baseline reading
    import tifffile  # noqa: F401, PLC0415
    import zarr  # noqa: F401, PLC0415

    import gputrack.io.images  # noqa: F401, PLC0415

    result: dict[str, float | int | str] = {"method": method, "measure": measure}
    if measure == "tracemalloc":
        import tracemalloc  # noqa: PLC0415

        tracemalloc.start()
        result["sum"] = _run_method(method, path, block)
        result["tracemalloc_peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    else:
        baseline = _rss_now_bytes()
        t0 = time.perf_counter()
        result["sum"] = _run_method(method, path, block)
        result["seconds"] = time.perf_counter() - t0
        result["rss_baseline_bytes"] = baseline
        result["rss_peak_bytes"] = _maxrss_bytes()
        result["rss_peak_over_baseline_bytes"] = result["rss_peak_bytes"] - baseline
    print(json.dumps(result))


def _spawn(method: str, path: Path, block: int, measure: str) -> dict:
    cmd = [sys.executable, __file__, "--child", method, "--image", str(path), "--block", str(block)]
    cmd += ["--measure", measure]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {method}/{measure} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _make_image(path: Path, size: int, tile: int) -> None:
    from gputrack.io.images import write_image  # noqa: PLC0415

    y = np.arange(size, dtype=np.uint32)[:, None]
    x = np.arange(size, dtype=np.uint32)[None, :]
    image = ((y * 7 + x * 13 + (x ^ y)) % 256).astype(np.uint8)
    write_image(path, image, axes="yx", chunks=(tile, tile), overwrite=True)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384, help="image edge in pixels")
    parser.add_argument("--tile", type=int, default=512, help="TIFF tile edge")
    parser.add_argument("--block", type=int, default=2048, help="block edge for block-by-block reading")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (best is reported)")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the TIFF (default: temporary)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "io.json")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--make", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--image", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=("rss", "tracemalloc"), default="rss", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.image, args.block, args.measure)
        return None
    if args.make:
        _make_image(Path(args.image), args.size, args.tile)
        return None

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        path = Path(tmp) / f"bench_{args.size}_tiles{args.tile}.tif"
        # the image is made in a child too: a child's RSS high-water mark starts at its
        # parent's (fork/vfork + exec), so this process must stay small
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--make", "--image", str(path)]
        subprocess.run(cmd + ["--size", str(args.size), "--tile", str(args.tile)], check=True)
        write_seconds = time.perf_counter() - t0
        file_bytes = path.stat().st_size
        results: dict[str, dict] = {}
        for method in METHODS:
            runs = [_spawn(method, path, args.block, "rss") for _ in range(max(1, args.repeats))]
            traced = _spawn(method, path, args.block, "tracemalloc")
            best = min(runs, key=lambda r: r["seconds"])
            results[method] = {
                "seconds_best": best["seconds"],
                "seconds_all": [r["seconds"] for r in runs],
                "throughput_mpix_s": args.size**2 / best["seconds"] / 1e6,
                "throughput_mb_s": args.size**2 / best["seconds"] / 1e6,  # uint8: 1 byte per pixel
                "rss_peak_bytes": max(r["rss_peak_bytes"] for r in runs),
                "rss_baseline_bytes": max(r["rss_baseline_bytes"] for r in runs),
                "rss_peak_over_baseline_bytes": max(r["rss_peak_over_baseline_bytes"] for r in runs),
                "tracemalloc_peak_bytes": traced["tracemalloc_peak_bytes"],
                "sum": best["sum"],
            }
    sums = {r["sum"] for r in results.values()} | {traced["sum"]}
    if len(sums) != 1:
        raise SystemExit(f"methods disagree on the pixel sum: {results}")
    from gputrack import backend  # noqa: PLC0415

    ours, peer = results["gputrack_blocks"], results["tifffile_whole"]
    report = {
        "benchmark": "io: block-by-block read of a tiled TIFF vs tifffile.imread whole",
        "machine": backend.describe(),
        "image": {
            "shape": [args.size, args.size],
            "dtype": "uint8",
            "tile": [args.tile, args.tile],
            "bytes": args.size**2,
            "file_bytes": file_bytes,
            "compression": None,
            "write_seconds": write_seconds,
        },
        "block": [args.block, args.block],
        "repeats": args.repeats,
        "results": results,
        "ratios": {
            "time_gputrack_over_tifffile": ours["seconds_best"] / peer["seconds_best"],
            "rss_over_baseline_tifffile_over_gputrack": peer["rss_peak_over_baseline_bytes"]
            / max(ours["rss_peak_over_baseline_bytes"], 1),
            "tracemalloc_tifffile_over_gputrack": peer["tracemalloc_peak_bytes"]
            / max(ours["tracemalloc_peak_bytes"], 1),
        },
    }
    mib = 2**20
    print(
        f"image {args.size}x{args.size} uint8, tiles {args.tile}, blocks {args.block}; best of {args.repeats}"
    )
    header = ("method", "time s", "MB/s", "RSS peak MiB", "RSS +base MiB", "tracemalloc MiB")
    print(f"{header[0]:<18}" + "".join(f"{h:>16}" for h in header[1:]))
    for name, r in results.items():
        cells = (
            f"{r['seconds_best']:.3f}",
            f"{r['throughput_mb_s']:.0f}",
            f"{r['rss_peak_bytes'] / mib:.1f}",
            f"{r['rss_peak_over_baseline_bytes'] / mib:.1f}",
            f"{r['tracemalloc_peak_bytes'] / mib:.1f}",
        )
        print(f"{name:<18}" + "".join(f"{c:>16}" for c in cells))
    print("ratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in report["ratios"].items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
