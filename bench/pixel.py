"""Benchmark: pixel classification end to end, gputrack vs scikit-image + scikit-learn.

A synthetic ``size x size`` image (a smooth random field split into 3 classes, seen
through noise), ``--labels`` labelled pixels drawn at random from the truth, all 49
ilastik feature channels (2D), a 100-tree forest:

- ours: ``gputrack.pixel.train`` + ``gputrack.pixel.predict`` (CPU; GPU where present);
- peer: ``skimage.feature.multiscale_basic_features`` + ``sklearn RandomForestClassifier(100)``
  in the same run on the same image and labels (its own feature set);
- forest inference alone on the same 49-feature matrix: ``gputrack.forest.predict_proba`` vs
  scikit-learn ``predict_proba``;
- a synthetic tiled uint8 TIFF slide (``--slide-size``, 30000 by default) classified from disk
  to an 8-bit PNG in a child process: wall time and the child's peak RSS.

Usage::

    python bench/pixel.py [--size 2048] [--slide-size 30000] [--quick] [--out bench/results/pixel.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gputrack import backend, pixel  # noqa: E402
from gputrack import features as gfeat  # noqa: E402
from gputrack import forest as gforest  # noqa: E402


def synthetic(side: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 image of a noisy smooth field and its 3-class truth."""
    rng = np.random.default_rng(seed)
    small = ndi.gaussian_filter(rng.normal(size=(side // 4 + 1, side // 4 + 1)), 3.0)
    field = ndi.zoom(small, 4, order=1)[:side, :side]
    field /= field.std()
    truth = (np.digitize(field, np.quantile(field, [0.4, 0.75])) + 1).astype(np.uint8)
    img = (field * 30 + 120 + rng.normal(scale=25, size=field.shape)).clip(0, 255).astype(np.uint8)
    return img, truth


def sparse_labels(truth: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lab = np.zeros(truth.shape, np.uint8)
    flat = rng.choice(truth.size, size=n, replace=False)
    lab.flat[flat] = truth.flat[flat]
    return lab


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def end_to_end(img, lab, truth, trees, device):
    clf, t_train = timed(lambda: pixel.train(img, lab, "all", n_trees=trees, device=device))
    seg, t_pred = timed(lambda: pixel.predict(clf, img, output="simple-segmentation", device=device))
    backend.synchronize(device)
    return {"device": device, "train_s": t_train, "predict_s": t_pred,
            "mpx_per_s": img.size / 1e6 / (t_train + t_pred), "predict_mpx_per_s": img.size / 1e6 / t_pred,
            "accuracy": float((seg == truth).mean()), "n_features": clf.forest.n_features}


def peer(img, lab, truth, trees):
    from skimage.feature import multiscale_basic_features  # noqa: PLC0415
    from sklearn.ensemble import RandomForestClassifier  # noqa: PLC0415

    t0 = time.perf_counter()
    f = multiscale_basic_features(img.astype(np.float32) / 255, sigma_min=0.7, sigma_max=10)
    rf = RandomForestClassifier(trees, n_jobs=-1, random_state=0).fit(f[lab > 0], lab[lab > 0])
    t1 = time.perf_counter()
    seg = rf.predict(f.reshape(-1, f.shape[-1])).reshape(img.shape)
    t2 = time.perf_counter()
    return {"name": "skimage multiscale_basic_features + sklearn RandomForestClassifier", "train_s": t1 - t0,
            "predict_s": t2 - t1, "mpx_per_s": img.size / 1e6 / (t2 - t0), "n_features": int(f.shape[-1]),
            "accuracy": float((seg == truth).mean())}


def inference(img, lab, trees):
    from sklearn.ensemble import RandomForestClassifier  # noqa: PLC0415

    feats, _ = gfeat.compute(img, "all", device="cpu")
    X = feats.reshape(-1, feats.shape[-1])
    m = lab.ravel() > 0
    forest, est = gforest.fit(X[m], lab.ravel()[m], n_trees=trees, backend="sklearn",
                              return_estimator=True)
    assert isinstance(est, RandomForestClassifier)
    out = {"n_samples": int(X.shape[0]), "n_features": int(X.shape[1])}
    devices = ["cpu"] + (["gpu"] if backend.gpu_available() else [])
    for dev in devices:
        gforest.predict_proba(forest, X[:1000], device=dev)
        _, t = timed(lambda dev=dev: gforest.predict_proba(forest, X, device=dev))
        out[f"gputrack_{dev}_s"] = t
        out[f"gputrack_{dev}_mpx_per_s"] = X.shape[0] / 1e6 / t
    _, t = timed(lambda: est.predict_proba(X))
    out["sklearn_s"] = t
    out["sklearn_mpx_per_s"] = X.shape[0] / 1e6 / t
    out["ratio_cpu_vs_sklearn"] = out["sklearn_s"] / out["gputrack_cpu_s"]
    return out


CHILD = """
import sys, time, resource
sys.path.insert(0, {root!r})
from gputrack import pixel
from gputrack.project import load_project
clf = load_project({proj!r}).classifier
t = time.perf_counter()
pixel.classify_file(clf, {tif!r}, {png!r}, export="simple-segmentation", device={dev!r}, quiet=True,
                    block_size={block})
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def slide(side: int, trees: int, device: str, block: int) -> dict:
    import tifffile  # noqa: PLC0415

    from gputrack.project import save_project  # noqa: PLC0415

    tile, _ = synthetic(1024, seed=5)
    small, truth = synthetic(512, seed=6)
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as d:
        d = Path(d)
        tif = d / "slide.tif"

        def tiles():
            for y in range(0, side, 256):
                for x in range(0, side, 256):
                    t = np.zeros((256, 256), np.uint8)
                    part = tile[y % 1024 : y % 1024 + 256, x % 1024 : x % 1024 + 256]
                    t[: part.shape[0], : part.shape[1]] = part
                    yield t

        _, t_write = timed(lambda: tifffile.imwrite(tif, tiles(), shape=(side, side), dtype=np.uint8,
                                                     tile=(256, 256), bigtiff=True))
        clf = pixel.train(small, sparse_labels(truth, 2000), "all", n_trees=trees, device=device)
        proj = d / "clf.h5"
        save_project(proj, clf)
        code = CHILD.format(root=str(ROOT), proj=str(proj), tif=str(tif), png=str(d / "out.png"), dev=device,
                            block=block)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        wall, rss_kb = res.stdout.split()[-2:]
        return {"side": side, "megapixels": side * side / 1e6, "tiff_write_s": t_write, "device": device,
                "block": block, "n_trees": trees, "n_features": clf.forest.n_features, "time_s": float(wall),
                "mpx_per_s": side * side / 1e6 / float(wall), "peak_rss_gb": int(rss_kb) / 1024**2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--labels", type=int, default=10000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--slide-size", type=int, default=30000)
    ap.add_argument("--slide-trees", type=int, default=100)
    ap.add_argument("--block", type=int, default=1024)
    ap.add_argument("--quick", action="store_true", help="512 px image, 3000 px slide, 20 trees")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "pixel.json"))
    a = ap.parse_args()
    if a.quick:
        a.size, a.slide_size, a.trees, a.slide_trees, a.labels = 512, 3000, 20, 20, 2000
    warm_img, warm_truth = synthetic(256, seed=9)  # compile numba kernels outside the timings
    end_to_end(warm_img, sparse_labels(warm_truth, 500), warm_truth, 2, "cpu")
    img, truth = synthetic(a.size)
    lab = sparse_labels(truth, a.labels)
    result = {"machine": backend.describe(), "size": a.size, "n_labels": a.labels, "n_trees": a.trees,
              "quick": a.quick, "ours": [end_to_end(img, lab, truth, a.trees, "cpu")]}
    if backend.gpu_available():
        result["ours"].append(end_to_end(img, lab, truth, a.trees, "gpu"))
    result["peer"] = peer(img, lab, truth, a.trees)
    result["ratio_end_to_end_cpu_vs_peer"] = result["ours"][0]["mpx_per_s"] / result["peer"]["mpx_per_s"]
    result["inference"] = inference(img, lab, a.trees)
    dev = "gpu" if backend.gpu_available() else "cpu"
    result["slide"] = slide(a.slide_size, a.slide_trees, dev, a.block)
    result["slide"]["note"] = (
        "full 30000x30000 run" if a.slide_size == 30000 else
        f"--slide-size {a.slide_size}: smaller than the 30000^2 goal (shared CPU machine)")
    print(json.dumps(result, indent=1))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"written {out}; peak RSS of this process {rss:.2f} GB")


if __name__ == "__main__":
    main()
