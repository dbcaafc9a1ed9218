"""Benchmark: pixel classification of one tiled TIFF on 1 and 2 Dask workers, and Dask's per-task cost.

A smooth ``size x size`` uint8 TIFF (tiles of 512) is classified to a simple segmentation in
blocks of ``--block`` (``(size / block)^2`` tasks) with a small forest on 4 feature channels:

- one process: :func:`gputrack.pixel.classify_file` (the baseline, no Dask);
- ``local:1`` and ``local:2``: :func:`gputrack.distributed.classify_file` on a LocalCluster of 1 and 2
  worker processes (one thread each); cluster start-up is timed apart from the run;
- every output is compared with the baseline (bit for bit);
- per-task overhead: ``--tasks`` empty tasks submitted and gathered on the 2-worker cluster (tasks/s).

Usage::

    python bench/scale_out.py [--size 8192] [--block 1024] [--tasks 2000] [--out bench/results/scale_out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gputrack import backend, pixel  # noqa: E402
from gputrack import distributed as gd  # noqa: E402

SEL = {"GaussianSmoothing": [1.0], "LaplacianOfGaussian": [1.6], "HessianOfGaussianEigenvalues": [1.0]}


def tiled_tiff(path: Path, n: int, tile: int = 512) -> Path:
    import tifffile  # noqa: PLC0415
    from scipy import ndimage  # noqa: PLC0415

    def tiles():
        for i in range(n // tile):
            for j in range(n // tile):
                t = ndimage.gaussian_filter(np.random.default_rng(i * 100_003 + j).random((tile, tile)), 6)
                yield ((t - t.min()) / np.ptp(t) * 255).astype(np.uint8)

    tifffile.imwrite(path, tiles(), shape=(n, n), dtype=np.uint8, tile=(tile, tile), bigtiff=True)
    return path


def classifier():
    from scipy import ndimage  # noqa: PLC0415

    img = ndimage.gaussian_filter(np.random.default_rng(0).random((128, 128)), 4)
    img = ((img - img.min()) / np.ptp(img) * 255).astype(np.uint8)
    lab = np.zeros(img.shape, np.uint8)
    lab[img < 90], lab[img > 170] = 1, 2
    lab[::2] = 0
    return pixel.train(img, lab, SEL, n_trees=8, device="cpu", n_jobs=1)


def same(a: Path, b: Path) -> bool:
    import zarr  # noqa: PLC0415

    x, y = zarr.open_array(str(a), mode="r"), zarr.open_array(str(b), mode="r")
    step = 2048
    return all(np.array_equal(x[lo : lo + step], y[lo : lo + step]) for lo in range(0, x.shape[0], step))


def on_cluster(clf, image, out, n_workers, block, n_tasks):
    import distributed  # noqa: PLC0415

    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, scheduler_port=0, silence_logs=40)
    client = distributed.Client(cluster)
    client.run(lambda: __import__("gputrack.pixel"))  # workers import the package once
    start = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        gd.classify_file(clf, image, out, client=client, export="simple-segmentation", block_size=block,
                         device="cpu", quiet=True)
        run = time.perf_counter() - t0
        peaks = gd.peak_memory(client)
        overhead = None
        if n_tasks:
            t0 = time.perf_counter()
            client.gather(client.map(int, range(n_tasks), pure=False))
            overhead = time.perf_counter() - t0
    finally:
        client.close(timeout=30)
        cluster.close(timeout=30)
    res = {"workers": n_workers, "startup_s": start, "run_s": run,
           "peak_worker_rss_mib": max(peaks.values()) / 2**20}
    if overhead is not None:
        res.update({"empty_tasks": n_tasks, "empty_tasks_s": overhead, "tasks_per_s": n_tasks / overhead,
                    "ms_per_task": 1e3 * overhead / n_tasks})
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=8192, help="image edge (default 8192)")
    ap.add_argument("--block", type=int, default=1024, help="block edge (default 1024)")
    ap.add_argument("--tasks", type=int, default=2000, help="empty tasks for the overhead (default 2000)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale_out.json"))
    a = ap.parse_args()
    clf = classifier()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image = tiled_tiff(tmp / "image.tif", a.size)
        t0 = time.perf_counter()
        ref = pixel.classify_file(clf, image, tmp / "one.zarr", export="simple-segmentation",
                                  block_size=a.block, device="cpu", quiet=True)
        one = time.perf_counter() - t0
        runs = []
        for n in (1, 2):
            out = tmp / f"dask{n}.zarr"
            r = on_cluster(clf, image, out, n, a.block, a.tasks if n == 2 else 0)
            r["identical_to_one_process"] = same(ref, out)
            runs.append(r)
    mpx = a.size * a.size / 1e6
    result = {
        "machine": backend.describe(), "cpu_count": os.cpu_count(), "size": a.size, "block": a.block,
        "n_tasks": (a.size // a.block) ** 2, "n_features": clf.forest.n_features,
        "n_trees": clf.forest.n_trees,
        "one_process_s": one, "one_process_mpx_per_s": mpx / one,
        "dask": runs,
        "speedup_2_vs_1_workers": runs[0]["run_s"] / runs[1]["run_s"],
        "ratio_2_workers_vs_one_process": one / runs[1]["run_s"],
    }
    print(f"{a.size}^2, {result['n_tasks']} blocks of {a.block}: one process {one:.1f} s")
    for r in runs:
        print(f"  local:{r['workers']}: {r['run_s']:.1f} s (+ {r['startup_s']:.1f} s start-up), "
              f"peak worker {r['peak_worker_rss_mib']:.0f} MiB, identical {r['identical_to_one_process']}")
    print(f"  2 vs 1 workers: {result['speedup_2_vs_1_workers']:.2f}x; "
          f"empty tasks: {runs[1]['tasks_per_s']:.0f}/s ({runs[1]['ms_per_task']:.2f} ms each)")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
