"""The demo: the whole pipeline on the embedded synthetic time-lapse, scored against its truth.

synthetic time-lapse -> pixel classifier trained on its scribbles -> probabilities ->
threshold + size filter -> object table -> conservation tracking -> CTC result, CSV tables,
overlays of 5 frames and the lineage tree -> py-ctcmetrics against the ground truth.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .. import backend

DEMO_FEATURES = {
    "GaussianSmoothing": [0.7, 1.6, 3.5],
    "LaplacianOfGaussian": [1.6, 3.5],
    "GaussianGradientMagnitude": [1.0, 3.5],
    "HessianOfGaussianEigenvalues": [1.6, 3.5],
}


def run_demo(
    out: str | os.PathLike = "out/demo",
    *,
    frames: int = 30,
    shape: tuple[int, int] = (256, 256),
    seed: int = 0,
    trees: int = 50,
    min_size: int = 20,
    appearance_cost: float = 100.0,
    device: str = "auto",
    overwrite: bool = False,
) -> dict:
    """Run the demo into the folder ``out``; return its report (also written as ``summary.json``).

    The report holds the device, frame count and shape, foreground IoU against the ground
    truth, object / track / division counts, py-ctcmetrics scores and stage times.
    """
    import numpy as np  # noqa: PLC0415

    from .. import pixel  # noqa: PLC0415
    from ..datasets import synthetic_timelapse, write_synthetic_ctc  # noqa: PLC0415
    from ..export import object_table_csv, tracking_csv, write_ctc  # noqa: PLC0415
    from ..io.atomic import atomic_output, check_writable  # noqa: PLC0415
    from ..io.ctc import lineage_summary, read_tracks  # noqa: PLC0415
    from ..io.images import write_image  # noqa: PLC0415
    from ..objects import features as object_features  # noqa: PLC0415
    from ..segment import threshold  # noqa: PLC0415
    from ..tracking import TrackingParameters  # noqa: PLC0415
    from ..tracking.evaluate import ctc_scores  # noqa: PLC0415
    from ..tracking.pipeline import track_labels  # noqa: PLC0415
    from ..tracking.result import save_result  # noqa: PLC0415
    from .pictures import result_tracks, write_pictures  # noqa: PLC0415

    out = check_writable(out, overwrite)
    device = backend.resolve_device(device)
    times: dict[str, float] = {}

    def timed(name: str, fn, *a, **kw):
        t0 = time.perf_counter()
        value = fn(*a, **kw)
        backend.synchronize(device)
        times[name] = time.perf_counter() - t0
        return value

    with atomic_output(out, overwrite=overwrite, directory=True) as tmp:
        data = timed("synthesise", synthetic_timelapse, n_frames=frames, shape=tuple(shape), seed=seed)
        write_synthetic_ctc(tmp / "data", data)
        scribbled = [t for t in range(data.raw.shape[0]) if data.scribbles[t].any()]
        clf = timed(
            "pixel train",
            pixel.train,
            [data.raw[t] for t in scribbled],
            [data.scribbles[t] for t in scribbled],
            DEMO_FEATURES,
            axes="yx",
            label_names=["background", "nucleus", "contact"][: int(data.scribbles.max())],
            n_trees=trees,
            random_state=seed,
            device=device,
        )
        # pixels stay on the device: probabilities, labels, object tables and detections are
        # computed there; per-pixel arrays come to the host only to be written
        prob = timed(
            "pixel predict", pixel.predict, clf, data.raw, axes="tyx", device=device, keep_on_device=True
        )
        write_image(tmp / "probabilities.h5", backend.to_host(prob), axes="tyxc")
        labels = timed(
            "segment",
            threshold,
            prob,
            threshold=0.5,
            sigma=1.0,
            channel=1,
            min_size=min_size,
            axes="tyxc",
            device=device,
        )
        del prob
        table = timed("objects", object_features, data.raw, labels, axes="tyx", device=device)
        object_table_csv(tmp / "objects.csv", table)
        params = TrackingParameters(appearance_cost=appearance_cost, disappearance_cost=appearance_cost)
        result = timed("track", track_labels, labels, data.raw, params=params)
        labels = np.stack(result.label_frames)  # the host copy made for the exports
        t0 = time.perf_counter()
        res_dir = tmp / "data" / "01_RES"
        write_ctc(result, res_dir)
        tracking_csv(tmp / "tracking.csv", result)
        save_result(tmp / "tracking_result.h5", result)
        tracks = read_tracks(res_dir / "res_track.txt")
        write_pictures(tmp, *result_tracks(result), raw=data.raw)
        times["export"] = time.perf_counter() - t0
        scores = timed("evaluate", ctc_scores, res_dir, tmp / "data" / "01_GT")

        gt_summary = lineage_summary(data.tracks)
        fg, gt = labels > 0, data.labels > 0
        report = {
            "device": device,
            "frames": int(data.raw.shape[0]),
            "shape": list(data.raw.shape[1:]),
            "foreground_iou": float((fg & gt).sum() / max((fg | gt).sum(), 1)),
            "objects": int(len(table)),
            "gt_objects": int(sum(len(np.unique(f)) - 1 for f in data.labels)),
            "tracks": int(len(tracks)),
            "gt_tracks": int(gt_summary["n_tracks"]),
            "divisions_true": int(gt_summary["n_divisions"]),
            "divisions_found": int(lineage_summary(tracks)["n_divisions"]),
            "divisions_correct": int(scores.get("tp_div(0)", -1)),
            "scores": {k: scores[k] for k in ("Valid", "DET", "TRA", "LNK", "BC(0)") if k in scores},
            "seconds": {k: round(v, 3) for k, v in times.items()},
        }
        (tmp / "summary.json").write_text(json.dumps(report, indent=2))
    report["out"] = str(Path(out))
    return report


def demo_summary(report: dict) -> list[str]:
    """The lines ``gputrack demo`` prints for a report of :func:`run_demo`."""
    s = report["scores"]
    lines = [
        f"gputrack demo on {report['device']}: {report['frames']} frames of {tuple(report['shape'])}",
        "  synthetic time-lapse -> pixel classifier (scribbles) -> threshold -> objects -> tracking",
    ]
    rows = [
        ("foreground IoU vs GT", f"{report['foreground_iou']:.3f}"),
        ("objects (GT)", f"{report['objects']} ({report['gt_objects']})"),
        ("tracks (GT)", f"{report['tracks']} ({report['gt_tracks']})"),
        (
            "divisions true / found / correct",
            f"{report['divisions_true']} / {report['divisions_found']} / {report['divisions_correct']}",
        ),
    ]
    rows += [(name, f"{value:.4f}") for name, value in s.items()]
    rows += [(f"time: {k}", f"{v:.2f} s") for k, v in report["seconds"].items()]
    width = max(len(r[0]) for r in rows)
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    lines.append(
        f"  outputs in {report['out']}/ (data/01_RES CTC result, tracking.csv, objects.csv, "
        "overlay_tTTTT.png, lineage.png)"
    )
    return lines
