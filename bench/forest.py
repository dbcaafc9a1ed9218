"""Benchmark: random-forest inference, gputrack (numba CPU twin, CUDA kernel) vs scikit-learn.

On a GPU with ``nvforest-cu12`` installed, RAPIDS nvForest (the successor of cuML's FIL) is
timed as the GPU peer on the same device-resident features (``nvforest_gpu_s``).

A 100-tree forest grown to purity (ilastik's settings) on 49 pixel features of a synthetic
image: a hidden smooth field split into 3 classes, observed through noise, with 7 filters at
7 scales (Gaussian, gradient magnitude, Laplacian of Gaussian, difference of Gaussians,
both Hessian eigenvalues, smoothed squared gradient). 10,000 labelled pixels train the
forest; inference runs on every pixel of 1-4 megapixel images. scikit-learn's
``predict_proba`` (``n_jobs=-1``) is timed in the same run on the same data, and the
maximum difference between the two is reported.

Usage::

    python bench/forest.py [--sizes 1000000,4000000] [--repeat 1] [--out bench/results/forest.json]

Wall-clock times decide the speed-up; the process CPU time of each side (all its threads)
is recorded too, because on a shared machine the wall clock also counts waiting for cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from sklearn.ensemble import RandomForestClassifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gputrack import backend  # noqa: E402
from gputrack import forest as gf  # noqa: E402
from gputrack.forest import nvforest  # noqa: E402

SCALES = (0.7, 1.0, 1.6, 3.5, 5.0, 10.0, 15.0)


def synthetic_image(side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy image of a smooth random field and its 3-class ground truth (by field level)."""
    rng = np.random.default_rng(seed)
    field = ndi.gaussian_filter(rng.normal(size=(side, side)), 12.0)
    field /= field.std()
    truth = np.digitize(field, np.quantile(field, [0.4, 0.75])) + 1
    image = field + rng.normal(scale=0.8, size=field.shape) + 0.3 * np.sin(np.arange(side) / 9.0)
    return image.astype(np.float32), truth.astype(np.uint8)


def pixel_features(image: np.ndarray) -> np.ndarray:
    """49 ilastik-like features per pixel, ``(n_pixels, 49)`` float32."""
    cols = []
    for s in SCALES:
        g = ndi.gaussian_filter(image, s)
        gy, gx = np.gradient(g)
        hyy, hyx = np.gradient(gy)
        _, hxx = np.gradient(gx)
        half_trace = (hxx + hyy) / 2
        root = np.sqrt(((hxx - hyy) / 2) ** 2 + hyx**2)
        cols += [
            g,
            np.hypot(gx, gy),
            hxx + hyy,
            g - ndi.gaussian_filter(image, 0.66 * s),
            half_trace + root,
            half_trace - root,
            ndi.gaussian_filter(gx * gx + gy * gy, s / 2),
        ]
    return np.stack([c.ravel() for c in cols], axis=1).astype(np.float32)


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Best wall-clock seconds of ``repeat`` calls, and the last result."""
    return timed_cpu(fn, repeat)[::2]


def timed_cpu(fn, repeat: int = 1) -> tuple[float, float, object]:
    """Best wall-clock and best process CPU seconds (all threads) of ``repeat`` calls.

    The CPU time tells the work done apart from waiting for cores on a shared machine.
    """
    best, best_cpu, result = np.inf, np.inf, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, result


def tree_stats(rf: RandomForestClassifier) -> dict:
    depths, leaf_depths = [], []
    for est in rf.estimators_:
        t = est.tree_
        depth = np.zeros(t.node_count, dtype=np.int64)
        for i in range(t.node_count):  # parents precede children in sklearn's node order
            if t.children_left[i] >= 0:
                depth[t.children_left[i]] = depth[t.children_right[i]] = depth[i] + 1
        depths.append(t.max_depth)
        leaf_depths.append(depth[t.children_left < 0].mean())
    return {
        "n_trees": len(rf.estimators_),
        "n_nodes": int(sum(e.tree_.node_count for e in rf.estimators_)),
        "max_depth": int(max(depths)),
        "mean_leaf_depth": float(np.mean(leaf_depths)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,4000000", help="pixel counts (comma-separated)")
    ap.add_argument("--train", type=int, default=10_000, help="labelled training pixels")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn peer")
    ap.add_argument("--repeat", type=int, default=1, help="CPU timings: best of this many runs")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "forest.json"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    t0 = time.perf_counter()
    side = int(np.ceil(np.sqrt(max(sizes))))
    image, truth = synthetic_image(side, seed=0)
    features = pixel_features(image)
    labels = truth.ravel()
    t_features = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    train = rng.choice(features.shape[0], args.train, replace=False)
    t0 = time.perf_counter()
    forest, rf = gf.fit(features[train], labels[train], n_trees=args.trees, random_state=0,
                        n_jobs=-1, backend="sklearn", return_estimator=True)
    t_fit = time.perf_counter() - t0
    stats = tree_stats(rf)
    print(f"features {features.shape} in {t_features:.1f} s; fit {args.trees} trees on {args.train} px "
          f"in {t_fit:.1f} s; nodes {stats['n_nodes']}, max depth {stats['max_depth']}, "
          f"mean leaf depth {stats['mean_leaf_depth']:.1f}")

    gpu = backend.gpu_available()
    gf.predict_proba(forest, features[:1000], device="cpu")  # numba compile / cache load
    if gpu:
        gf.predict_proba(forest, features[:1000], device="gpu")  # kernel compile
    rows = []
    for n in sizes:
        X = features[:n]
        row: dict = {"pixels": n, "n_features": X.shape[1]}
        t_cpu, c_cpu, p_cpu = timed_cpu(lambda X=X: gf.predict_proba(forest, X, device="cpu"), args.repeat)
        row["gputrack_cpu_s"] = t_cpu
        row["gputrack_cpu_process_cpu_s"] = c_cpu
        row["gputrack_cpu_mpx_s"] = n / t_cpu / 1e6
        row["accuracy_vs_truth"] = float((forest.classes[p_cpu.argmax(1)] == labels[:n]).mean())
        if gpu:
            import cupy as cp  # noqa: PLC0415

            t_gpu_host, p_gpu = timed(lambda X=X: gf.predict_proba(forest, X, device="gpu"), repeat=3)
            Xd = cp.asarray(X)

            def on_device(Xd=Xd):
                out = gf.predict_proba(forest, Xd)
                backend.synchronize("gpu")
                return out

            t_gpu, _ = timed(on_device, repeat=5)
            row.update(
                gputrack_gpu_s=t_gpu,
                gputrack_gpu_mpx_s=n / t_gpu / 1e6,
                gputrack_gpu_with_transfer_s=t_gpu_host,
                gputrack_gpu_with_transfer_mpx_s=n / t_gpu_host / 1e6,
                max_abs_diff_gpu_vs_cpu=float(np.abs(p_gpu - p_cpu).max()),
            )
            if nvforest.available():  # the GPU peer: RAPIDS nvForest (cuML FIL's successor)
                model = nvforest.load(rf, device="gpu")
                nvforest.predict_proba(model, Xd[:1000])  # warm-up

                def peer(Xd=Xd, model=model):
                    out = nvforest.predict_proba(model, Xd)
                    backend.synchronize("gpu")
                    return out

                t_nvf, p_nvf = timed(peer, repeat=5)
                row.update(
                    nvforest_gpu_s=t_nvf,
                    nvforest_gpu_mpx_s=n / t_nvf / 1e6,
                    gpu_speedup_vs_nvforest=t_nvf / t_gpu,
                    max_abs_diff_vs_nvforest=float(np.abs(backend.to_host(p_nvf) - p_cpu).max()),
                )
            del Xd
        if not args.no_sklearn:
            t_sk, c_sk, p_sk = timed_cpu(lambda X=X: rf.set_params(n_jobs=-1).predict_proba(X), args.repeat)
            row.update(
                sklearn_s=t_sk,
                sklearn_process_cpu_s=c_sk,
                cpu_time_ratio_vs_sklearn=c_sk / c_cpu,
                sklearn_mpx_s=n / t_sk / 1e6,
                cpu_speedup_vs_sklearn=t_sk / t_cpu,
                max_abs_diff_vs_sklearn=float(np.abs(p_sk - p_cpu).max()),
            )
            if gpu:
                row["gpu_speedup_vs_sklearn"] = t_sk / row["gputrack_gpu_s"]
        rows.append(row)

    head = f"{'pixels':>10} {'ours CPU s':>11} {'Mpx/s':>7}"
    if gpu:
        head += f" {'ours GPU s':>11} {'Mpx/s':>8} {'+xfer Mpx/s':>12}"
    if not args.no_sklearn:
        head += f" {'sklearn s':>10} {'Mpx/s':>7} {'CPU x':>6} {'cpu-time x':>10} {'max |diff|':>11}"
    print(head)
    for r in rows:
        line = f"{r['pixels']:>10} {r['gputrack_cpu_s']:>11.3f} {r['gputrack_cpu_mpx_s']:>7.2f}"
        if gpu:
            line += (f" {r['gputrack_gpu_s']:>11.4f} {r['gputrack_gpu_mpx_s']:>8.1f}"
                     f" {r['gputrack_gpu_with_transfer_mpx_s']:>12.1f}")
        if not args.no_sklearn:
            line += (f" {r['sklearn_s']:>10.3f} {r['sklearn_mpx_s']:>7.2f}"
                     f" {r['cpu_speedup_vs_sklearn']:>6.2f} {r['cpu_time_ratio_vs_sklearn']:>10.2f}"
                     f" {r['max_abs_diff_vs_sklearn']:>11.2e}")
        print(line)

    result = {
        "benchmark": "forest_predict_proba",
        "machine": backend.describe(),
        "device": "gpu" if gpu else "cpu",
        "setup": {
            "n_trees": args.trees,
            "train_pixels": args.train,
            "n_features": int(features.shape[1]),
            "n_classes": int(forest.n_classes),
            "fit_s": t_fit,
            **stats,
        },
        "peer": "scikit-learn RandomForestClassifier.predict_proba(n_jobs=-1)"
        + ("; nvForest predict_proba on device" if gpu and nvforest.available() else ""),
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
