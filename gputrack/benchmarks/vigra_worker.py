"""Times vigra, ilastik's own engine, on ``.npy`` inputs, in the Python that has vigra.

Debian's ``python3-vigra`` is built for the system Python and its numpy, so it cannot be
imported next to gputrack; :mod:`gputrack.benchmarks.peers` runs this file with that Python
(``/usr/bin/python3 vigra_worker.py job.json``). It imports only numpy and vigra, times each
stage inside this process (medians are taken by the caller) and writes the times and a
sample of the results as ``.npy`` files and a JSON summary named by the job.

Stages, as ilastik calls vigra:

- ``features``: the pixel features of ilastik's vigra fallback (pre-smoothing at
  ``sqrt(s^2 - 1)`` with window 3.5, then Gaussian, LoG, gradient magnitude, DoG,
  structure-tensor and Hessian eigenvalues at ``min(s, 1)`` with window 2), the filter
  calls spread over ``threads`` Python threads (vigra releases the GIL);
- ``forest``: ``vigra.learning.RandomForest``, ``threads`` forests of ``trees / threads``
  trees trained and predicting in parallel threads, probabilities averaged (ilastik's
  ``ParallelVigraRfLazyflowClassifier``);
- ``objects``: ``vigra.analysis.extractRegionFeatures`` with the named features.
"""

from __future__ import annotations

import json
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

vigra = None  # imported by main(): this module also loads where vigra is missing

CPU = []


def _timed(fn, repeat):
    """Wall-clock seconds of each call (process CPU seconds appended to CPU), last result."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    CPU.append(cpu)
    return times, out


def _feature_tasks(pre, scale):
    s = min(scale, 1.0)
    f = vigra.filters
    tasks = [lambda: f.gaussianSmoothing(pre, s, window_size=2.0)]
    if scale >= 0.7:
        tasks += [
            lambda: f.laplacianOfGaussian(pre, s, window_size=2.0),
            lambda: f.gaussianGradientMagnitude(pre, s, window_size=2.0),
            lambda: (f.gaussianSmoothing(pre, s, window_size=2.0)
                     - f.gaussianSmoothing(pre, 0.66 * s, window_size=2.0)),
            lambda: f.structureTensorEigenvalues(pre, s, 0.5 * s, window_size=2.0),
            lambda: f.hessianOfGaussianEigenvalues(pre, s, window_size=2.0),
        ]
    return tasks


def features(job):
    image = vigra.taggedView(np.load(job["image"]).astype(np.float32), "yx")
    scales, threads = job["scales"], int(job["threads"])

    def run():
        with ThreadPoolExecutor(threads) as pool:
            pres = list(pool.map(
                lambda s: vigra.filters.gaussianSmoothing(
                    image, math.sqrt(s * s - 1) if s > 1 else s, window_size=3.5),
                scales))
            tasks = [t for pre, s in zip(pres, scales) for t in _feature_tasks(pre, s)]
            return list(pool.map(lambda t: t(), tasks))

    times, out = _timed(run, job["repeat"])
    step = int(job.get("sample_step", 8))
    chans = []
    for a in out:
        a = np.asarray(a)
        a = a[..., None] if a.ndim == 2 else a
        chans.append(a[::step, ::step])
    np.save(job["sample_out"], np.concatenate(chans, axis=-1).astype(np.float32))
    return {"times": times, "channels": sum(c.shape[-1] for c in chans)}


def forest(job):
    X = np.ascontiguousarray(np.load(job["X_train"]), dtype=np.float32)
    y = np.load(job["y_train"]).astype(np.uint32).reshape(-1, 1)
    Xp = np.ascontiguousarray(np.load(job["X_predict"]), dtype=np.float32)
    threads, trees = int(job["threads"]), int(job["trees"])
    per = [trees // threads + (k < trees % threads) for k in range(threads)]
    forests = []

    def train():
        rfs = [vigra.learning.RandomForest(treeCount=n) for n in per]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda kv: kv[1].learnRF(X, y, randomSeed=kv[0] + 1), enumerate(rfs)))
        forests[:] = rfs
        return rfs

    train_times, _ = _timed(train, job["repeat"])

    def predict():
        with ThreadPoolExecutor(threads) as pool:
            probs = list(pool.map(lambda rf: rf.predictProbabilities(Xp), forests))
        return sum(p * n for p, n in zip(probs, per)) / trees

    predict_times, proba = _timed(predict, job["repeat"])
    np.save(job["proba_out"], proba.astype(np.float32))
    return {"train_times": train_times, "predict_times": predict_times,
            "n_nodes": None, "trees": per}


def objects(job):
    raw = np.ascontiguousarray(np.load(job["raw"]), dtype=np.float32)
    lab = np.ascontiguousarray(np.load(job["labels"]), dtype=np.uint32)
    axes = "zyx" if lab.ndim == 3 else "yx"
    raw, lab = vigra.taggedView(raw, axes), vigra.taggedView(lab, axes)
    names = job["features"]

    def run():
        return vigra.analysis.extractRegionFeatures(raw, lab, names, ignoreLabel=0)

    times, acc = _timed(run, job["repeat"])
    out = {}
    for name in names:
        out[name] = np.asarray(acc[name]).reshape(len(np.asarray(acc["Count"])), -1)[1:].tolist()
    with open(job["table_out"], "w") as fh:
        json.dump(out, fh)
    return {"times": times, "n_objects": len(out["Count"])}


def main(argv):
    global vigra
    import vigra  # noqa: PLC0415

    with open(argv[1]) as fh:
        job = json.load(fh)
    result = {"features": features, "forest": forest, "objects": objects}[job["stage"]](job)
    result["vigra_version"] = vigra.version
    result["cpu_times"] = CPU
    with open(job["result_out"], "w") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
