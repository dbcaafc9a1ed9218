"""Benchmark: raw pixels -> tracks on Fluo-N2DH-SIM+ 01 with defaults, scored with py-ctcmetrics.

Pipeline (nothing tuned on the sequence):

1. scribbles on two frames (the first and the middle one: 0 and 32), derived from the
   ground-truth segmentation by :func:`scribbles`, covering at most 0.2 % of those frames' pixels;
2. a pixel classifier (:func:`gputrack.pixel.train`, forest defaults: 100 trees) on
   :data:`FEATURES`, a common ilastik choice (ilastik itself preselects nothing);
3. probabilities of every frame (:func:`gputrack.pixel.predict`);
4. ilastik's threshold applet with its defaults (sigma 1, threshold 0.5, high threshold
   0.8, sizes 10..1,000,000) and method ``--method`` (default ``watershed``, "don't merge
   objects", which keeps touching nuclei with their own cores apart);
5. :func:`gputrack.tracking.track_labels` with its defaults (segmented objects are trusted
   detections, parameters estimated from the data);
6. DET, SEG, TRA, LNK (py-ctcmetrics) against ``01_GT``; also DET / SEG of the
   segmentation alone and the number of segmented objects the tracker left out.

Scribbles (:func:`scribbles`, deterministic): every ``k``-th ground-truth cell (``n_cells``
per frame, by label id) gets a 1-pixel horizontal stroke through its centroid row inside the
cell eroded by 3 pixels (class 2, "nucleus"); background strokes (class 1) are the pixels of
that row 2-8 pixels outside any cell within 40 pixels of the centroid, plus every third
pixel at least 6 pixels from any cell on ``n_rows`` evenly spaced rows (at most 40 per row).

``--sequence hela`` (or ``all``) repeats the pipeline on
../shared/data/ctc-fluo-n2dl-hela-02-errseg (20 frames; the challenge's reference
segmentation stands in for the ground truth; without tracking GT, its ids give one-object
tracks, so only DET and SEG mean something there).

Usage: python bench/raw_to_tracks.py [--data ../shared/data] [--device auto] [--method watershed ...]
       [--sequence sim|hela|all] [--out bench/results/raw_to_tracks.json]
(results of the sequences run replace theirs in ``--out``, the others are kept)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gputrack import backend, pixel, segment  # noqa: E402
from gputrack.io.ctc import tracks_from_masks, write_ctc  # noqa: E402
from gputrack.tracking import to_ctc, track_labels  # noqa: E402
from gputrack.tracking.evaluate import ctc_scores  # noqa: E402

FEATURES = {
    "GaussianSmoothing": [0.7, 1.6, 3.5],
    "LaplacianOfGaussian": [1.6, 3.5],
    "GaussianGradientMagnitude": [1.6, 3.5],
    "HessianOfGaussianEigenvalues": [1.6, 3.5],
}
"""Pixel features: smoothing, edges and blob shape at nucleus-boundary and nucleus scales."""

TRAIN_FRAMES = (0, 32)
"""Frames with scribbles on SIM+ 01: the first and the middle one (``(0, n // 2)`` elsewhere)."""
MAX_FRACTION = 0.002


def scribbles(gt: np.ndarray, n_cells: int = 8, n_rows: int = 6) -> np.ndarray:
    """Thin strokes (1 = background, 2 = nucleus) derived from a GT label frame.

    Examples
    --------
    >>> gt = np.zeros((60, 80), np.uint16); gt[10:30, 10:30] = 1; gt[35:55, 40:70] = 2
    >>> lab = scribbles(gt, n_cells=2, n_rows=2)
    >>> sorted(np.unique(lab).tolist()), bool((gt[lab == 2] > 0).all()), bool((gt[lab == 1] == 0).all())
    ([0, 1, 2], True, True)
    """
    lab = np.zeros(gt.shape, np.uint8)
    outside = ndi.distance_transform_edt(gt == 0)
    ids = [int(i) for i in np.unique(gt) if i > 0]
    step = max(1, len(ids) // n_cells)
    for i in ids[::step][:n_cells]:
        cell = gt == i
        core = ndi.binary_erosion(cell, iterations=3)
        cy, cx = ndi.center_of_mass(cell)
        r = int(round(cy))
        lab[r, core[r]] = 2
        cols = np.arange(gt.shape[1])
        ring = (outside[r] >= 2) & (outside[r] <= 8) & (np.abs(cols - cx) <= 40)
        lab[r, ring] = 1
    for r in np.linspace(8, gt.shape[0] - 9, n_rows).astype(int):
        cols = np.flatnonzero(outside[r] >= 6)[::3][:40]
        lab[r, cols] = 1
    return lab


def load_ctc(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Raw frames and GT segmentation frames of a CTC sequence folder ``NN`` / ``NN_GT``."""
    raw = np.stack([tifffile.imread(f) for f in sorted(folder.glob("t*.tif"))])
    gt_dir = folder.parent / (folder.name + "_GT") / "SEG"
    gt = np.stack([tifffile.imread(f) for f in sorted(gt_dir.glob("man_seg*.tif"))])
    return raw, gt


def probabilities(raw: np.ndarray, gt: np.ndarray, train_frames=TRAIN_FRAMES, device: str = "auto",
                  n_jobs: int = -1) -> tuple[np.ndarray, dict]:
    """Train on scribbles of ``train_frames`` and predict every frame: ``(t, y, x, 2)``."""
    labs = [scribbles(gt[t]) for t in train_frames]
    n_scribbled = int(sum((lab > 0).sum() for lab in labs))
    n_pixels = int(sum(lab.size for lab in labs))
    t0 = time.perf_counter()
    clf = pixel.train([raw[t] for t in train_frames], labs, FEATURES, device=device, n_jobs=n_jobs)
    t1 = time.perf_counter()
    prob = np.stack([pixel.predict(clf, frame, device=device) for frame in raw])
    info = {
        "train_frames": list(train_frames),
        "scribbled_pixels": n_scribbled,
        "scribbled_fraction": n_scribbled / n_pixels,
        "train_s": t1 - t0,
        "predict_s": time.perf_counter() - t1,
    }
    return prob, info


def write_gt(folder: Path, gt: np.ndarray, tra: np.ndarray | None = None) -> Path:
    """A CTC ``_GT`` folder: ``SEG`` from ``gt``, ``TRA`` from ``tra`` (default ``gt``) with
    tracks from its ids (no lineage: for DET / SEG and links of data without tracking GT)."""
    masks = (gt if tra is None else tra).astype(np.uint16)
    write_ctc(folder / "TRA", masks, tracks_from_masks(masks), prefix="man_track",
              track_file="man_track.txt", check=False)
    seg = folder / "SEG"
    seg.mkdir(parents=True)
    for t, frame in enumerate(gt.astype(np.uint16)):
        tifffile.imwrite(seg / f"man_seg{t:03d}.tif", frame)
    return folder


def score(labels: np.ndarray, gt_dir: Path, work: Path, method: str) -> dict:
    """Segment-only and tracked scores of one label sequence (py-ctcmetrics)."""
    t0 = time.perf_counter()
    result = track_labels(labels)
    track_s = time.perf_counter() - t0
    masks, tracks = to_ctc(result.solution, labels)
    res = work / f"{method}_RES"
    write_ctc(res, masks, tracks)
    tracked = ctc_scores(res, gt_dir, ["DET", "SEG", "TRA", "LNK"])
    seg_only = work / f"{method}_SEG"
    seg_masks = relabel_unique(labels)
    write_ctc(seg_only, seg_masks, tracks_from_masks(seg_masks))
    segmented = ctc_scores(seg_only, gt_dir, ["DET", "SEG"])
    n_objects = int(sum(len(np.unique(f)) - 1 for f in labels))
    n_kept = int(sum(len(np.unique(f)) - 1 for f in masks))
    return {
        **{k: round(v, 4) for k, v in tracked.items()},
        "segmentation_DET": round(segmented["DET"], 4),
        "segmentation_SEG": round(segmented["SEG"], 4),
        "segmented_objects": n_objects,
        "objects_left_out_by_tracker": n_objects - n_kept,
        "track_s": round(track_s, 2),
    }


def relabel_unique(labels: np.ndarray) -> np.ndarray:
    """Give every object of every frame its own id (one-frame tracks: scores the segmentation)."""
    out = np.zeros(labels.shape, np.uint16)
    nxt = 0
    for t, frame in enumerate(labels):
        m = frame > 0
        out[t][m] = frame[m].astype(np.int64) + nxt
        nxt += int(frame.max())
    return out


def run(raw: np.ndarray, gt: np.ndarray, gt_dir: Path, methods, device: str, n_jobs: int = -1,
        train_frames=None, max_fraction: float = MAX_FRACTION) -> dict:
    """Train, predict, segment with each of ``methods``, track and score; a dict of results."""
    train_frames = (0, len(raw) // 2) if train_frames is None else train_frames
    prob, info = probabilities(raw, gt, train_frames, device=device, n_jobs=n_jobs)
    if info["scribbled_fraction"] > max_fraction:
        raise ValueError(f"scribbles cover {info['scribbled_fraction']:.4%} of the training frames")
    out = {"pixel_classifier": {k: (round(v, 5) if isinstance(v, float) else v) for k, v in info.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        for method in methods:
            t0 = time.perf_counter()
            labels = np.asarray(backend.to_host(
                segment.threshold(prob, method=method, channel=1, axes="tyxc", device=device)))
            seg_s = time.perf_counter() - t0
            out[method] = {**score(labels, gt_dir, Path(tmp), method), "segment_s": round(seg_s, 2)}
            print(method, out[method], flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--method", nargs="+", default=["watershed", "hysteresis", "simple"])
    ap.add_argument("--sequence", choices=("sim", "hela", "all"), default="sim")
    ap.add_argument("--jobs", type=int, default=-1)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "raw_to_tracks.json"))
    args = ap.parse_args(argv)
    data = Path(args.data)
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.is_file() else {}
    report.update({"machine": platform.platform(), "device": backend.resolve_device(args.device),
                   "features": FEATURES, "defaults": "threshold 0.5, high 0.8, sigma 1, sizes 10..1e6; "
                   "track_labels defaults"})
    if args.sequence in ("sim", "all"):
        sim = data / "ctc-fluo-n2dh-sim-01" / "Fluo-N2DH-SIM+" / "01"
        raw, gt = load_ctc(sim)
        report["Fluo-N2DH-SIM+ 01"] = run(raw, gt, sim.parent / "01_GT", args.method, args.device, args.jobs)
    if args.sequence in ("hela", "all"):
        hela = data / "ctc-fluo-n2dl-hela-02-errseg"
        raw = tifffile.imread(hela / "Fluo_Hela_02_img.tif")
        gt = tifffile.imread(hela / "Fluo_Hela_02_ERR_SEG.tif")
        with tempfile.TemporaryDirectory() as tmp:
            gt_dir = write_gt(Path(tmp) / "02_GT", gt)
            report["Fluo-N2DL-HeLa 02 (reference segmentation as GT)"] = {
                "note": "no tracking GT: one-object tracks from the reference ids, TRA and LNK meaningless",
                **run(raw, gt, gt_dir, args.method, args.device, args.jobs)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
