"""Benchmark: the tracker's defaults on ground-truth masks nobody tuned on, against a Hungarian linker.

Every input is a sequence of ground-truth masks given as detections, tracked with
:func:`gputrack.tracking.track_labels` and its defaults (labels trusted, α / border width /
appearance and disappearance costs estimated, the drift motion model when it lowers the energy)
and with the frame-to-frame Hungarian linker :func:`gputrack.tracking.baseline.hungarian_tracks`
(scipy ``linear_sum_assignment``), whose gate is given its best value on each input (the
strongest version of that peer: gates 5, 10, 20, 40, 80 px and the tracker's own reach). Scored
with py-ctcmetrics (LNK, DET, BC(0)).

Inputs:
- Fluo-N2DH-SIM+ 01 (``../shared/data/ctc-fluo-n2dh-sim-01``): 65 frames, 28 divisions;
- py-ctcmetrics' own GT fixture (``../shared/data/ctc-metrics-fixture``);
- synthetic colonies (:func:`gputrack.tracking.synthetic.colony_labels`, fixed seeds) as
  stand-ins for bacteria-like data: dense disks with divisions and an outward drift
  (expansion) and swirl (rotation) large against the spacing, reported with the share of moves
  longer than half the nearest-neighbour spacing.

Usage: python bench/track_defaults.py [--data ../shared/data] [--out bench/results/track_defaults.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gputrack.io.ctc import write_ctc  # noqa: E402
from gputrack.tracking import to_ctc, track_labels  # noqa: E402
from gputrack.tracking.baseline import hungarian_tracks  # noqa: E402
from gputrack.tracking.evaluate import ctc_scores  # noqa: E402
from gputrack.tracking.synthetic import colony_labels  # noqa: E402

COLONIES = {
    "colony expanding": dict(
        n_frames=40, shape=(256, 256), n_cells=60, expansion=0.05, division_rate=0.04, seed=0
    ),
    "colony swirl": dict(
        n_frames=40, shape=(256, 256), n_cells=60, expansion=0.02, rotation=0.05, division_rate=0.04, seed=1
    ),
    "colony dense": dict(
        n_frames=30,
        shape=(200, 200),
        n_cells=150,
        radius=2.5,
        expansion=0.04,
        step=1.5,
        division_rate=0.05,
        seed=2,
    ),
}
SCORES = ("DET", "LNK", "BC")


def _scores(masks, tracks, gt: Path, tmp: Path, name: str) -> dict:
    res = tmp / name
    write_ctc(res, masks, tracks)
    s = ctc_scores(res, gt, SCORES)
    return {k: round(s[k], 4) for k in ("DET", "LNK", "BC(0)", "tp_div(0)", "fp_div(0)") if k in s}


def write_gt(root: Path, labels: np.ndarray, tracks) -> Path:
    """A CTC ``NN_GT/TRA`` folder of synthetic masks; returns ``NN_GT``."""
    gt = root / "01_GT"
    (gt / "TRA").mkdir(parents=True)
    for t, frame in enumerate(labels):
        tifffile.imwrite(gt / "TRA" / f"man_track{t:03d}.tif", frame)
    np.savetxt(gt / "TRA" / "man_track.txt", tracks[["label", "begin", "end", "parent"]].to_numpy(), fmt="%d")
    return gt


def large_move_share(labels: np.ndarray, tracks) -> float:
    """Share of GT moves longer than half the distance to the nearest other object."""
    from gputrack.tracking import detections_from_labels  # noqa: PLC0415

    det = detections_from_labels(labels)
    long = total = 0
    for t in range(labels.shape[0] - 1):
        a, b = det[det.t == t], det[det.t == t + 1]
        if len(a) < 2 or len(b) == 0:
            continue
        pa = dict(zip(a.label, a[["y", "x"]].to_numpy()))
        spacing = cKDTree(a[["y", "x"]].to_numpy()).query(a[["y", "x"]].to_numpy(), k=2)[0][:, 1]
        sp = dict(zip(a.label, spacing))
        for lab, p in zip(b.label, b[["y", "x"]].to_numpy()):
            if lab in pa:
                total += 1
                long += np.linalg.norm(p - pa[lab]) > sp[lab] / 2
    return long / max(total, 1)


def run_one(name: str, labels: np.ndarray, gt: Path, tmp: Path) -> dict:
    t0 = time.perf_counter()
    result = track_labels(labels)
    seconds = time.perf_counter() - t0
    masks, tracks = to_ctc(result.solution, labels)
    ours = _scores(masks, tracks, gt, tmp, name.replace(" ", "_") + "_ours")
    ours["seconds"] = round(seconds, 2)
    ours["estimated"] = {k: v for k, v in result.estimated.items()}
    reach = float(result.estimated.get("reach", 40.0))
    best = None
    for gate in sorted({5.0, 10.0, 20.0, 40.0, 80.0, round(reach, 1)}):
        hm, ht = hungarian_tracks(labels, gate)
        s = _scores(hm, ht, gt, tmp, f"{name.replace(' ', '_')}_h{gate}")
        s["gate"] = gate
        if best is None or s["LNK"] > best["LNK"]:
            best = s
    n_obj = int(sum(len(np.unique(f)) - 1 for f in labels))
    kept = int((result.solution.count > 0).sum())
    return {
        "input": name,
        "frames": int(labels.shape[0]),
        "objects": n_obj,
        "kept": kept,
        "ours": ours,
        "hungarian": best,
    }


def run(data: Path) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sim = data / "ctc-fluo-n2dh-sim-01" / "Fluo-N2DH-SIM+" / "01_GT"
        if sim.is_dir():
            frames = np.stack([tifffile.imread(f) for f in sorted((sim / "TRA").glob("man_track*.tif"))])
            rows.append(run_one("Fluo-N2DH-SIM+ 01", frames, sim, tmp))
        fix = data / "ctc-metrics-fixture" / "GT"
        if fix.is_dir():
            frames = np.stack([tifffile.imread(f) for f in sorted((fix / "TRA").glob("man_track*.tif"))])
            rows.append(run_one("ctc-metrics fixture", frames, fix, tmp))
        for name, kw in COLONIES.items():
            labels, tracks = colony_labels(**kw)
            gt = write_gt(tmp / name.replace(" ", "_"), labels, tracks)
            row = run_one(name, labels, gt, tmp)
            row["divisions"] = int((tracks["parent"] > 0).sum() // 2)
            row["large_moves"] = round(large_move_share(labels, tracks), 3)
            rows.append(row)
    return rows


def table_text(rows: list[dict]) -> str:
    lines = [
        "| input | objects (kept) | ours LNK / DET / BC(0) | Hungarian LNK / DET (gate) "
        "| estimated α, border, app., disapp.; motion |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        o, h, e = r["ours"], r["hungarian"], r["ours"]["estimated"]
        est = (
            f"{e.get('transition_alpha')}, {e.get('border_width')}, {e.get('appearance_cost')}, "
            f"{e.get('disappearance_cost')}; {e.get('motion')}"
        )
        extra = (
            f" ({r['divisions']} div., {100 * r['large_moves']:.0f} % large moves)"
            if "divisions" in r
            else ""
        )
        lines.append(
            f"| {r['input']}{extra} | {r['objects']} ({r['kept']}) | {o['LNK']} / {o['DET']} / "
            f"{o.get('BC(0)')} | {h['LNK']} / {h['DET']} ({h['gate']}) | {est} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "track_defaults.json"))
    args = ap.parse_args(argv)
    rows = run(Path(args.data))
    print(table_text(rows))
    out = {
        "benchmark": "track_defaults",
        "machine": platform.node(),
        "cpu_count": os.cpu_count(),
        "device": "cpu",
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
