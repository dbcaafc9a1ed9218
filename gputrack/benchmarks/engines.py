"""gputrack against ilastik's own engines, stage by stage, timed in the same run.

Each stage function returns one row per case: the medians of ``repeat`` runs of gputrack
and of the peer on the same inputs, the ratio ``peer / gputrack`` (above 1: gputrack is
faster), the throughput and how far the results agree. A peer that is not on the machine
gives ``peer_status`` (e.g. ``"not installed"``) instead of a time.

- :func:`bench_features`: :func:`gputrack.features.compute` (ilastik's 49 channels) vs
  ``fastfilters2.compute_filters`` at the same 7 scales (7 channels each) and vigra's
  filters (ilastik's vigra fallback).
- :func:`bench_forest`: :func:`gputrack.forest.fit` / :func:`~gputrack.forest.predict_proba`
  vs ``vigra.learning.RandomForest`` (the trees split over one forest per thread).
- :func:`bench_objects`: :func:`gputrack.objects.features` vs
  ``vigra.analysis.extractRegionFeatures``, same features, same labels.
- :func:`bench_tracking`: :func:`gputrack.tracking.track` vs laptrack on random walks.

Examples
--------
>>> from gputrack.benchmarks import engines
>>> img = engines.test_image(64)
>>> img.shape, img.dtype.name
((64, 64), 'float32')
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .peers import fastfilters2, fastfilters2_features, run_vigra, vigra_python

SCALES = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)
SLIDE = Path(__file__).resolve().parents[3] / "shared" / "data" / "large-wsi" / "CMU-1-Small-Region.svs"
"""The H&E slide of the shared test data, next to the repository."""


def median_times(fn: Callable[[], Any], repeat: int) -> tuple[list[float], list[float], Any]:
    """Wall-clock and process CPU seconds of ``repeat`` calls of ``fn``, and the last result.

    The CPU seconds (all threads) tell the work apart from waiting for cores on a shared machine.

    Examples
    --------
    >>> times, cpu, out = median_times(lambda: 3, 2)
    >>> len(times), len(cpu), out
    (2, 2, 3)
    """
    times, cpu, out = [], [], None
    for _ in range(max(1, int(repeat))):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu, out


def _row(stage: str, case: str, ours: tuple[list[float], list[float]], peer: str,
         theirs: tuple[list[float], list[float]] | None, status: str, work: float, unit: str,
         **extra: Any) -> dict[str, Any]:
    """One result row: medians, runs, rates and ``ratio`` = peer seconds / gputrack seconds."""
    med = statistics.median(ours[0])
    row = {"stage": stage, "case": case, "gputrack_s": med, "gputrack_runs_s": ours[0],
           "gputrack_cpu_s": statistics.median(ours[1]), "peer": peer, "peer_status": status or "ok",
           "work": work, "unit": unit, "gputrack_rate": work / med}
    if theirs and theirs[0]:
        pmed = statistics.median(theirs[0])
        row.update(peer_s=pmed, peer_runs_s=theirs[0], peer_rate=work / pmed, ratio=pmed / med)
        if theirs[1]:
            row.update(peer_cpu_s=statistics.median(theirs[1]),
                       cpu_ratio=statistics.median(theirs[1]) / max(row["gputrack_cpu_s"], 1e-9))
    row.update(extra)
    return row


def slide_path() -> Path | None:
    """The CMU-1 H&E slide of the shared data (``GPUTRACK_BENCH_SLIDE`` overrides), if present."""
    path = Path(os.environ.get("GPUTRACK_BENCH_SLIDE", SLIDE))
    return path if path.is_file() else None


def test_image(size: int) -> np.ndarray:
    """A ``size x size`` float32 gray crop of the CMU-1 slide (mirrored when larger).

    Without the slide, a smooth random texture with the same value range.
    """
    path = slide_path()
    if path is not None:
        from ..io.images import read_image  # noqa: PLC0415

        rgb = read_image(path).astype(np.float32)
        gray = rgb[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    else:
        from scipy import ndimage as ndi  # noqa: PLC0415

        rng = np.random.default_rng(0)
        gray = ndi.gaussian_filter(rng.normal(size=(size, size)), 3.0)
        gray = (255 * (gray - gray.min()) / np.ptp(gray)).astype(np.float32)
    reps = [int(np.ceil(size / s)) for s in gray.shape]
    if any(r > 1 for r in reps):
        gray = np.pad(gray, [(0, r * s - s) for r, s in zip(reps, gray.shape)], mode="symmetric")
    y0, x0 = ((s - size) // 2 for s in gray.shape)
    return np.ascontiguousarray(gray[y0:y0 + size, x0:x0 + size], dtype=np.float32)


def tissue_classes(image: np.ndarray) -> np.ndarray:
    """Three classes of a stained slide (nuclei, stroma, background) by smoothed intensity."""
    from scipy import ndimage as ndi  # noqa: PLC0415

    smooth = ndi.gaussian_filter(image, 4.0)
    return (np.digitize(smooth, np.quantile(smooth, [0.3, 0.7])) + 1).astype(np.uint8)


def bench_features(image: np.ndarray, repeat: int = 3, workdir: Path | None = None) -> list[dict]:
    """ilastik's 49 feature channels of ``image`` vs fastfilters2 and vigra (2 threads)."""
    from .. import features  # noqa: PLC0415

    features.compute(image[:64, :64], "all", device="cpu")  # compiled code loaded before timing
    *ours, (data, names) = median_times(lambda: features.compute(image, "all", device="cpu"), repeat)
    mpx = image.size / 1e6
    rows = []
    ff, why = fastfilters2()
    ff_times = None
    if ff is not None:
        # first call on one thread: fastfilters2 finishes loading there (its first calls from two
        # threads at once deadlock on the import lock)
        fastfilters2_features(image[:128, :128], SCALES, 1)
        *ff_times, _ = median_times(lambda: fastfilters2_features(image, SCALES, 2), repeat)
    rows.append(_row("features", f"{image.shape[0]}x{image.shape[1]}, {data.shape[-1]} channels", ours,
                     "fastfilters2 (7 scales x 7 channels, 2 threads)", ff_times, why, mpx, "Mpx/s",
                     gputrack_channels=int(data.shape[-1]), peer_channels=49))
    python, why = vigra_python()
    vg_times, extra = None, {}
    if python is not None:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            job = {"repeat": repeat, "threads": 2, "scales": list(SCALES), "sample_step": 8}
            res = run_vigra("features", job, {"image": image}, Path(tmp))
            vg_times = (res["times"], res["cpu_times"][0])
            extra = _feature_agreement(np.load(res["job"]["sample_out"]), data[::8, ::8], names)
    rows.append(_row("features", f"{image.shape[0]}x{image.shape[1]}, {data.shape[-1]} channels", ours,
                     "vigra filters (2 threads)", vg_times, why, mpx, "Mpx/s", **extra))
    return rows


VIGRA_ORDER = ("Gaussian Smoothing", "Laplacian of Gaussian", "Gaussian Gradient Magnitude",
               "Difference of Gaussians", "Structure Tensor Eigenvalues [0]",
               "Structure Tensor Eigenvalues [1]",
               "Hessian of Gaussian Eigenvalues [0]", "Hessian of Gaussian Eigenvalues [1]")
"""Channels of one scale column as ``vigra_worker.py`` writes them (only the first below 0.7)."""


def _feature_agreement(theirs: np.ndarray, ours: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Largest difference per feature family, relative to the channel's range in gputrack's result."""
    index = {}
    for k, name in enumerate(names):
        family, _, rest = name.partition(" (σ=")
        scale, _, tail = rest.partition(")")
        index[(family + (" " + tail.split()[-1] if "[" in tail else ""), float(scale))] = k
    order = [(f, s) for s in SCALES for f in (VIGRA_ORDER if s >= 0.7 else VIGRA_ORDER[:1])]
    if theirs.shape[-1] != len(order) or theirs.shape[:2] != ours.shape[:2]:
        return {"agreement": f"shapes differ: vigra {theirs.shape}, gputrack {ours.shape}"}
    worst: dict[str, float] = {}
    for j, key in enumerate(order):
        k = index[key]
        span = float(np.ptp(ours[..., k])) or 1.0
        err = float(np.abs(theirs[..., j].astype(np.float64) - ours[..., k]).max()) / span
        family = key[0].split(" [")[0]
        worst[family] = max(worst.get(family, 0.0), err)
    return {"max_rel_diff_vs_vigra": worst,
            "note": "Structure Tensor Eigenvalues differ by design: ilastik uses fastfilters' convention "
                    "(gradient at 0.5 s, smoothing at s), vigra's the reverse"}


def bench_forest(X: np.ndarray, y: np.ndarray, n_train: int = 10_000, trees: int = 100, threads: int = 2,
                 repeat: int = 3, workdir: Path | None = None, seed: int = 1) -> list[dict]:
    """Train on ``n_train`` random rows of ``X`` and predict all rows, vs vigra's RandomForest."""
    from .. import forest as gf  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    train = np.sort(rng.choice(X.shape[0], min(n_train, X.shape[0]), replace=False))
    Xt, yt = np.ascontiguousarray(X[train]), y[train]
    gf.fit(Xt[:200], yt[:200], n_trees=2, n_jobs=threads)  # imports and compiled code before timing
    *fit_times, forest = median_times(lambda: gf.fit(Xt, yt, n_trees=trees, n_jobs=threads), repeat)
    gf.predict_proba(forest, X[:1000], device="cpu")
    *pred_times, proba = median_times(lambda: gf.predict_proba(forest, X, device="cpu"), repeat)
    held = np.ones(X.shape[0], bool)
    held[train] = False
    ours_label = forest.classes[proba.argmax(1)]
    quality = {"gputrack_accuracy_held_out": float((ours_label[held] == y[held]).mean())}
    python, why = vigra_python()
    vg_fit = vg_pred = None
    if python is not None:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            res = run_vigra("forest", {"repeat": repeat, "threads": threads, "trees": trees},
                            {"X_train": Xt, "y_train": yt, "X_predict": X}, Path(tmp))
            vg_fit = (res["train_times"], res["cpu_times"][0])
            vg_pred = (res["predict_times"], res["cpu_times"][1])
            vproba = np.load(res["job"]["proba_out"])
        vigra_label = np.unique(yt)[vproba.argmax(1)]
        quality["vigra_accuracy_held_out"] = float((vigra_label[held] == y[held]).mean())
        quality["argmax_agreement_vs_vigra_held_out"] = float((vigra_label[held] == ours_label[held]).mean())
    peer = f"vigra RandomForest ({threads} forests x {trees // threads} trees, {threads} threads)"
    case = f"{trees} trees, {len(train)} px x {X.shape[1]} features"
    return [
        _row("forest training", case, fit_times, peer, vg_fit, why, len(train) / 1e6, "Mpx/s", **quality),
        _row("forest prediction", f"{X.shape[0] / 1e6:.2f} Mpx x {X.shape[1]} features", pred_times, peer,
             vg_pred, why, X.shape[0] / 1e6, "Mpx/s", **quality),
    ]


def ellipses(shape: tuple[int, ...], cell: int, seed: int = 0) -> np.ndarray:
    """Binary mask with one random ellipse (ellipsoid) per ``cell``-sized grid cell.

    Examples
    --------
    >>> int(ellipses((40, 40), 20).sum()) > 0
    True
    """
    rng = np.random.default_rng(seed)
    grid = tuple(s // cell for s in shape)
    radii = rng.uniform(0.2, 0.45, size=grid + (len(shape),)) * cell
    centre = cell / 2 + rng.uniform(-0.05, 0.05, size=grid + (len(shape),)) * cell
    idx = np.indices(shape, sparse=True)
    cells = tuple(np.minimum(ix // cell, g - 1) for ix, g in zip(idx, grid))
    inside = 0.0
    for a, ix in enumerate(idx):
        local = ix - cells[a] * cell
        inside = inside + ((local - centre[(*cells, a)]) / radii[(*cells, a)]) ** 2
    return inside <= 1.0


def object_case(shape: tuple[int, ...], cell: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels (uint32, one object per ellipse) and float32 intensities for :func:`bench_objects`."""
    from scipy import ndimage as ndi  # noqa: PLC0415

    labels, _ = ndi.label(ellipses(shape, cell, seed))
    rng = np.random.default_rng(seed + 1)
    raw = (rng.normal(size=shape) + 2.0 * (labels > 0)).astype(np.float32)
    return labels.astype(np.uint32), raw


def bench_objects(labels: np.ndarray, raw: np.ndarray, repeat: int = 3, workdir: Path | None = None) -> dict:
    """The full object table (all standard features) vs vigra's extractRegionFeatures."""
    from .. import objects  # noqa: PLC0415

    axes = "zyx" if labels.ndim == 3 else "yx"
    objects.features(raw[:8], labels[:8], axes=axes, device="cpu")
    *ours, tab = median_times(lambda: objects.features(raw, labels, axes=axes, device="cpu"), repeat)
    python, why = vigra_python()
    vg_times, extra = None, {}
    if python is not None:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            res = run_vigra("objects", {"repeat": repeat, "features": list(objects.FEATURES)},
                            {"raw": raw, "labels": labels}, Path(tmp))
            vg_times = (res["times"], res["cpu_times"][0])
            import json  # noqa: PLC0415

            theirs = json.loads(Path(res["job"]["table_out"]).read_text())
        extra = _object_agreement(tab, theirs)
    case = f"{'x'.join(map(str, labels.shape))}, {len(tab)} objects"
    return _row("object table", case, ours, f"vigra extractRegionFeatures ({len(objects.FEATURES)} features)",
                vg_times, why, labels.size / 1e6, "Mpx/s", objects=len(tab), **extra)


def _object_agreement(tab: Any, theirs: dict[str, list]) -> dict[str, Any]:
    """Largest relative difference of some features (vigra's coordinates are in array order z, y, x)."""
    out = {}
    for name in ("Count", "Mean", "Variance", "Skewness", "Minimum", "RegionCenter", "RegionRadii"):
        ref = np.asarray(theirs[name], dtype=np.float64)
        if name == "RegionCenter":
            ref = ref[:, ::-1]
        cols = [c for c in tab.columns if c == name or c.startswith(name + "_")]
        ours = tab[cols].to_numpy(np.float64)
        if ref.shape != ours.shape:
            out[name] = f"shape {ours.shape} vs vigra {ref.shape}"
            continue
        scale = np.maximum(np.abs(ref), 1.0)
        out[name] = float(np.nanmax(np.abs(ours - ref) / scale)) if ref.size else 0.0
    return {"max_rel_diff_vs_vigra": out}


def bench_tracking(n_frames: int = 30, n_objects: int = 1000, repeat: int = 3) -> dict:
    """Conservation tracking of random-walk detections vs laptrack's LAP linking on the same points."""
    from ..tracking import TrackingParameters, random_walk_detections, track  # noqa: PLC0415

    det, _truth = random_walk_detections(n_frames, n_objects, division_rate=0.01, step=2.0, seed=0)
    params = TrackingParameters(max_distance=15.0)
    small, _ = random_walk_detections(4, 5, seed=1)
    track(small, params)
    *ours, _ = median_times(lambda: track(det, params), repeat)
    try:
        from laptrack import LapTrack  # noqa: PLC0415
    except ImportError:
        lap_times, why = None, "not installed"
    else:
        coords = [g[["y", "x"]].to_numpy() for _, g in det.groupby("t")]
        lt = LapTrack(metric="sqeuclidean", cutoff=15.0**2, splitting_metric="sqeuclidean",
                      splitting_cutoff=15.0**2, merging_cutoff=False, gap_closing_cutoff=False)
        *lap_times, _ = median_times(lambda: lt.predict(coords), repeat)
        why = ""
    return _row("tracking", f"{n_frames} frames x {n_objects} objects ({len(det)} detections)", ours,
                "laptrack (LAP linking with splitting)", lap_times, why, len(det), "detections/s")


STAGES = ("features", "forest", "objects", "tracking")

SIZES = {
    "tiny": {"image": 256, "train": 2000, "objects_2d": (256, 16), "objects_3d": (48, 12),
             "tracking": (10, 100)},
    "quick": {"image": 1024, "train": 10_000, "objects_2d": (1024, 24), "objects_3d": (96, 12),
              "tracking": (30, 1000)},
    "full": {"image": 2048, "train": 10_000, "objects_2d": (4096, 24), "objects_3d": (192, 12),
             "tracking": (100, 1000)},
}
"""Inputs per preset: image side, training pixels, (side, ellipse cell) of the object cases
(4096² / 24 gives ~29k objects), (frames, objects per frame) of the tracking case."""


def run_suite(stages: tuple[str, ...] = STAGES, preset: str = "quick", repeat: int = 3,
              log: Callable[[str], None] | None = None, workdir: Path | None = None) -> dict[str, Any]:
    """Run the named stages at a preset's sizes; the rows and what the machine was.

    Examples
    --------
    >>> result = run_suite(("tracking",), repeat=1)  # doctest: +SKIP
    >>> result["rows"][0]["stage"]  # doctest: +SKIP
    'tracking'
    """
    from .. import backend  # noqa: PLC0415

    size = SIZES[preset]
    say = log or (lambda text: None)
    rows: list[dict] = []
    t_start = time.perf_counter()
    image = features = None
    if "features" in stages or "forest" in stages:
        image = test_image(size["image"])
    if "features" in stages:
        say(f"features: {image.shape[0]}² image, 49 channels, medians of {repeat}")
        rows += bench_features(image, repeat, workdir)
    if "forest" in stages:
        from .. import features as gfeat  # noqa: PLC0415

        features = gfeat.compute(image, "all", device="cpu").data.reshape(image.size, -1)
        say(f"forest: 100 trees on {size['train']} pixels, predicting {image.size / 1e6:.1f} Mpx")
        rows += bench_forest(features, tissue_classes(image).ravel(), size["train"], repeat=repeat,
                             workdir=workdir)
        del features
    if "objects" in stages:
        for key in ("objects_2d", "objects_3d"):
            side, cell = size[key]
            shape = (side,) * (2 if key == "objects_2d" else 3)
            labels, raw = object_case(shape, cell)
            say(f"objects: {'x'.join(map(str, shape))}, {int(labels.max())} objects")
            rows.append(bench_objects(labels, raw, repeat, workdir))
    if "tracking" in stages:
        frames, n = size["tracking"]
        say(f"tracking: {frames} frames x {n} objects")
        rows.append(bench_tracking(frames, n, repeat))
    return {
        "benchmark": "ilastik_engines",
        "preset": preset,
        "repeat": repeat,
        "stages": list(stages),
        "machine": backend.describe(),
        "device": "cpu",
        "load_avg_1min": os.getloadavg()[0],
        "total_s": time.perf_counter() - t_start,
        "rows": rows,
    }
