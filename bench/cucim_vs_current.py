"""Benchmark: cuCIM against gputrack's current paths (tile reading; ``--scale`` resize on a GPU).

(1) Whole-slide tile reading, on the host (cuCIM's ``CuImage`` needs no GPU): the blocks the
    pixel workflow reads (edges ``--blocks``, each grown by the 38-pixel halo of the 2D
    "all features" selection, in the grid order of :func:`gputrack.io.iter_blocks`), and the
    whole image, through :func:`gputrack.io.open_image` with ``GPUTRACK_TIFF_READER=tifffile``
    (tifffile's Zarr store: the current path) and ``=cucim`` (``CuImage.read_region``). Each
    thread count pins the process to that many CPUs (``sched_setaffinity``; CuImage decodes
    with as many workers). Every repeat reads every block once with each reader, the order
    alternating; reported are medians over repeats of blocks/s, MB/s of decoded pixels and
    TIFF tiles/s, and the median of the per-repeat ratios tifffile time / cuCIM time.
(2) ``--scale``: the share of the current host path (:func:`gputrack.pixel.read_scaled`,
    area averaging while reading) spent averaging rather than decoding, which bounds what a
    device resize can save; on a CUDA machine with cuCIM also
    ``cucim.skimage.transform.resize_local_mean`` on the device (full-resolution pixels
    copied up as float32 and as float64, averaged there) against ``read_scaled`` plus the copy
    of its result, with the largest difference, on the slide (a synthetic image of its size without it).
    Without a GPU or cuCIM that part records why it did not run (``--gpu-only`` runs only it:
    a step of ``make gpu-check``).

(Not named ``cucim.py``: run as a script, its folder comes first on ``sys.path`` and such a
name would shadow the ``cucim`` package it measures.)

Usage::

    python bench/cucim_vs_current.py [--slide PATH] [--blocks 256 512 1024] [--threads 1 2]
                          [--repeats 5] [--scales 0.5 0.25] [--out bench/results/cucim.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gputrack.io import open_image, wsi  # noqa: E402
from gputrack.pixel.classifier import block_grid  # noqa: E402
from gputrack.pixel.export import read_scaled, scaled_shape  # noqa: E402

DEFAULT_SLIDE = ROOT.parent / "shared" / "data" / "large-wsi" / "CMU-1-Small-Region.svs"
HALO = 38  # halo of the 2D "all features" selection (largest sigma 10)
READERS = ("tifffile", "cucim")
GPU_DTYPES = ("float32", "float64")  # cuCIM averages in its input's dtype; the host path sums in float64


def _open(path: Path, reader: str):
    old = os.environ.get("GPUTRACK_TIFF_READER")
    os.environ["GPUTRACK_TIFF_READER"] = reader
    try:
        src = open_image(path)
    finally:
        if old is None:
            del os.environ["GPUTRACK_TIFF_READER"]
        else:
            os.environ["GPUTRACK_TIFF_READER"] = old
    assert src.reader == reader, (src.reader, reader)
    return src


def block_regions(shape: tuple[int, ...], edge: int, halo: int) -> list[tuple[slice, slice]]:
    """The ``(y, x)`` regions a blockwise run reads: a grid of ``edge`` blocks grown by ``halo``."""
    regions = []
    for core in block_grid(shape[:2], (edge, edge)):
        regions.append(
            tuple(slice(max(r.start - halo, 0), min(r.stop + halo, n)) for r, n in zip(core, shape))
        )
    return regions


def _tiles(regions, tile: tuple[int, int]) -> int:
    return sum(
        ((ys.stop - 1) // tile[0] - ys.start // tile[0] + 1)
        * ((xs.stop - 1) // tile[1] - xs.start // tile[1] + 1)
        for ys, xs in regions
    )


def _pass(path: Path, reader: str, regions) -> tuple[float, int]:
    """Open, read every region, close: seconds and decoded bytes."""
    t0 = time.perf_counter()
    src = _open(path, reader)
    nbytes = 0
    for region in regions:
        nbytes += src.read(region).nbytes
    src.close()
    return time.perf_counter() - t0, nbytes


def _pin(n: int) -> list[int] | None:
    """Pin this process to ``n`` CPUs; ``None`` when it may run on fewer."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0) | set(_ALL_CPUS))
    if len(cpus) < n:
        return None
    os.sched_setaffinity(0, cpus[:n])
    return cpus[:n]


_ALL_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def tile_reading(path: Path, blocks, threads, repeats: int) -> list[dict]:
    """Part (1): one row per (block edge or "whole", thread count)."""
    try:
        return _tile_reading(path, blocks, threads, repeats)
    finally:
        if _ALL_CPUS:
            os.sched_setaffinity(0, _ALL_CPUS)


def _tile_reading(path: Path, blocks, threads, repeats: int) -> list[dict]:
    probe = open_image(path)
    shape, chunks = probe.shape, probe.chunks
    tile = (chunks[0], chunks[1]) if chunks else (shape[0], shape[1])
    rows = []
    for n_threads in threads:
        pinned = _pin(n_threads)
        if pinned is None:
            rows.append({"threads": n_threads, "skipped": f"fewer than {n_threads} CPUs"})
            continue
        for edge in [*blocks, "whole"]:
            regions = (
                [(slice(0, shape[0]), slice(0, shape[1]))]
                if edge == "whole"
                else block_regions(shape, int(edge), HALO)
            )
            times = {r: [] for r in READERS}
            nbytes = 0
            _pass(path, "tifffile", regions[:1])  # warm the page cache and imports
            _pass(path, "cucim", regions[:1])
            for rep in range(repeats):
                for reader in READERS if rep % 2 == 0 else READERS[::-1]:
                    seconds, nbytes = _pass(path, reader, regions)
                    times[reader].append(seconds)
            n_tiles = _tiles(regions, tile)
            row = {
                "block": edge,
                "halo": 0 if edge == "whole" else HALO,
                "threads": n_threads,
                "cpus": pinned,
                "blocks": len(regions),
                "tiff_tiles": n_tiles,
                "mbytes": nbytes / 1e6,
            }
            for reader in READERS:
                med = statistics.median(times[reader])
                row[reader] = {
                    "seconds": med,
                    "runs": times[reader],
                    "blocks_per_s": len(regions) / med,
                    "mb_per_s": nbytes / 1e6 / med,
                    "tiles_per_s": n_tiles / med,
                }
            ratios = [a / b for a, b in zip(times["tifffile"], times["cucim"])]
            row["speedup_cucim"] = statistics.median(ratios)
            row["speedup_runs"] = ratios
            rows.append(row)
            print(
                f"block {edge!s:>5} threads {n_threads}: tifffile {row['tifffile']['mb_per_s']:6.1f} MB/s, "
                f"cuCIM {row['cucim']['mb_per_s']:6.1f} MB/s ({row['cucim']['blocks_per_s']:.1f} blocks/s), "
                f"cuCIM/tifffile speed {row['speedup_cucim']:.2f}x",
                flush=True,
            )
    return rows


def scale_share(path: Path, scales, repeats: int) -> list[dict]:
    """Part (2) on the host: read_scaled against reading the same strips without averaging."""
    src = open_image(path)  # the default reader
    rows = []
    for scale in scales:
        t_read, t_scaled = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for ys in range(0, src.shape[0], 2048):
                src.read((slice(ys, min(ys + 2048, src.shape[0])),))
            t_read.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            read_scaled(src, src.axes, scale)
            t_scaled.append(time.perf_counter() - t0)
        shares = [1 - r / s for r, s in zip(t_read, t_scaled)]
        rows.append(
            {
                "scale": scale,
                "reader": src.reader,
                "read_s": statistics.median(t_read),
                "read_scaled_s": statistics.median(t_scaled),
                "averaging_share": statistics.median(shares),
            }
        )
        print(
            f"scale {scale}: read {rows[-1]['read_s']:.3f} s, read_scaled {rows[-1]['read_scaled_s']:.3f} s "
            f"({rows[-1]['reader']}): averaging is {100 * rows[-1]['averaging_share']:.0f}% of it",
            flush=True,
        )
    return rows


def resize_image(path: Path) -> tuple[np.ndarray, str]:
    """The GPU resize's input: the slide, or a synthetic RGB image without it."""
    if path.is_file():
        return open_image(path).read(), path.name
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (3000, 2200, 3), dtype=np.uint8), "synthetic 3000x2200x3 uint8"


def gpu_resize(image: np.ndarray, scales, repeats: int) -> dict:
    """Part (2) on a GPU: cuCIM's resize_local_mean on the device against read_scaled + upload."""
    try:
        import cupy as cp  # noqa: PLC0415

        if cp.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device")
        device = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    except Exception as err:  # noqa: BLE001 - any reason there is no usable GPU
        return {"status": "no GPU", "reason": f"{type(err).__name__}: {err}"}
    try:
        from cucim.skimage.transform import resize_local_mean  # noqa: PLC0415
    except Exception as err:  # noqa: BLE001
        return {"status": "no cucim.skimage", "reason": f"{type(err).__name__}: {err}", "device": device}
    rows = []
    for scale in scales:
        out_shape = scaled_shape(image.shape, "yxc", scale)

        def host(scale=scale):
            return cp.asarray(read_scaled(image, "yxc", scale))

        def on_device(dtype, size=out_shape[:2]):
            up = cp.asarray(image).astype(dtype)
            out = resize_local_mean(up, size, grid_mode=True, preserve_range=True, channel_axis=-1)
            return out.astype(cp.float32, copy=False)

        methods = {"host": host, **{k: functools.partial(on_device, getattr(cp, k)) for k in GPU_DTYPES}}
        ref = host()
        diffs = {k: float(cp.abs(ref - methods[k]()).max()) for k in GPU_DTYPES}
        times = {name: [] for name in methods}
        for _ in range(repeats):
            for name, fn in methods.items():
                cp.cuda.Device().synchronize()
                t0 = time.perf_counter()
                fn()
                cp.cuda.Device().synchronize()
                times[name].append(time.perf_counter() - t0)
        row = {
            "scale": scale,
            "shape": list(image.shape),
            "out_shape": list(out_shape),
            "host_s": statistics.median(times["host"]),
        }
        for k in GPU_DTYPES:
            ratios = [h / d for h, d in zip(times["host"], times[k])]
            row[k] = {
                "device_s": statistics.median(times[k]),
                "speedup_device": statistics.median(ratios),
                "max_abs_diff": diffs[k],
                "max_diff_of_range": diffs[k] / 255.0,
            }
        rows.append(row)
        print(
            f"GPU resize {scale} on {device}: host {row['host_s']:.4f} s; cuCIM "
            + ", ".join(
                f"{k} {row[k]['device_s']:.4f} s ({row[k]['speedup_device']:.1f}x, max |diff| {diffs[k]:.1e})"
                for k in GPU_DTYPES
            ),
            flush=True,
        )
    return {"status": "ok", "device": device, "rows": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slide", type=Path, default=DEFAULT_SLIDE)
    ap.add_argument("--blocks", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scales", type=float, nargs="+", default=[0.5, 0.25])
    ap.add_argument("--gpu-only", action="store_true", help="only the device resize (for make gpu-check)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cucim.json")
    args = ap.parse_args(argv)
    if not args.slide.is_file() and not args.gpu_only:
        print(f"{args.slide}: no such slide (pass --slide)")
        return 2
    result = {
        "slide": args.slide.name,
        "python": platform.python_version(),
        "cpus": len(_ALL_CPUS) or os.cpu_count(),
        "cucim": None,
        "repeats": args.repeats,
    }
    if wsi.cuimage_available():
        import cucim  # noqa: PLC0415

        result["cucim"] = cucim.__version__
    if not args.gpu_only:
        if result["cucim"] is None:
            result["tile_reading"] = {"status": "cucim not installed"}
            print("tile reading: cucim not installed")
        else:
            result["tile_reading"] = tile_reading(args.slide, args.blocks, args.threads, args.repeats)
        result["scale_host"] = scale_share(args.slide, args.scales, args.repeats)
    image, what = resize_image(args.slide)
    result["scale_gpu"] = {"image": what, **gpu_resize(image, args.scales, args.repeats)}
    if result["scale_gpu"]["status"] != "ok":
        print(f"GPU resize: {result['scale_gpu']['status']} ({result['scale_gpu']['reason']})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
