"""Benchmark: tracking weights learned on Fluo-N2DH-SIM+ 01, applied unchanged to held-out frames.

Learns the five weights (``gputrack.tracking.learning``) from

- ``full``: the complete ground truth of frames 0-31 (every object, track and division);
- ``sparse``: a few annotated sub-tracks: the GT objects inside three crops of 8 frames and
  250 x 250 pixels (what a user annotates in ilastik's Training applet);

then tracks (``track_labels`` on the GT segmentation, flow solver, the geometric division
prior) frames 32-64 (held out: no frame of them was seen in learning) and the whole sequence,
with ilastik's default weights and with each learned set, scored by py-ctcmetrics against the
GT (clipped to the same frames). Writes one JSON with the weights, loss curves and scores.

Usage: python bench/learning_sim.py [--solver ilp] [--out bench/results/learning_sim.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gputrack.export.manual_tracking import write_ctc_annotations  # noqa: E402
from gputrack.io.ctc import read_ctc_gt  # noqa: E402
from gputrack.tracking import TrackingParameters, track_labels, write_ctc_result  # noqa: E402
from gputrack.tracking.annotation import Annotations, from_ctc  # noqa: E402
from gputrack.tracking.evaluate import ctc_scores  # noqa: E402
from gputrack.tracking.learning import learn_weights, to_parameters, training_problem  # noqa: E402

GT = Path(__file__).resolve().parents[2] / "shared/data/ctc-fluo-n2dh-sim-01/Fluo-N2DH-SIM+/01_GT"
METRICS = ("TRA", "DET", "LNK", "BC")


def clip(ann: Annotations, t0: int, t1: int) -> Annotations:
    """The annotations of frames t0..t1, shifted to start at 0 (divisions inside the range)."""
    out = Annotations()
    for t, label, ids in ann.objects():
        if t0 <= t <= t1:
            out.labels.setdefault(t - t0, {})[label] = set(ids)
            out.tracks |= {k for k in ids if k > 0}
    for p, (c1, c2, tp) in ann.divisions.items():
        if t0 <= tp < t1:
            out.divisions[p] = (c1, c2, tp - t0)
    return out


def score(frames, params, gt_dir: Path, work: Path, name: str) -> dict:
    res = track_labels(frames, params=params)
    write_ctc_result(res.solution, frames, work / name)
    return {k: round(v, 5) for k, v in ctc_scores(work / name, gt_dir, METRICS).items()
            if k in ("TRA", "DET", "LNK", "BC(0)", "tp_div(0)", "fp_div(0)", "fn_div(0)")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solver", default="ilp", choices=("ilp", "flow"), help="inference oracle (default ilp)")
    ap.add_argument("--out", default="bench/results/learning_sim.json", help="JSON output path")
    args = ap.parse_args()
    gt = read_ctc_gt(GT)
    ann = from_ctc(gt.tra, gt.tracks)
    frames = list(gt.tra)
    report: dict = {"machine": platform.node(), "python": platform.python_version(), "sequence": str(GT),
                    "solver": args.solver, "learned": {}, "scores": {}}
    sets = {
        "full": dict(crops=[{"time": (0, 31)}]),
        "sparse": dict(crops=[{"time": (0, 7), "y": (100, 350), "x": (100, 350)},
                              {"time": (10, 17), "y": (350, 600), "x": (300, 550)},
                              {"time": (20, 27), "y": (50, 300), "x": (350, 600)}]),
    }
    weights = {"default": None}
    for name, kw in sets.items():
        t0 = time.perf_counter()
        problems = [training_problem(frames, ann, crops=[c]) for c in kw["crops"]]
        built = time.perf_counter() - t0
        learned = learn_weights(problems, solver=args.solver)
        d = learned.as_dict()
        d.update(nodes=sum(p.graph.n_nodes for p in problems), links=sum(p.graph.n_links for p in problems),
                 divisions=int(sum(p.division.sum() for p in problems)), build_seconds=built)
        report["learned"][name] = d
        weights[name] = learned.weights
        print(name, {k: round(v, 4) for k, v in learned.weights.items()}, "loss", learned.loss,
              "rounds", learned.rounds, f"{learned.seconds:.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        held = clip(ann, 32, 64)
        write_ctc_annotations(held, frames[32:], work / "held_GT")
        for name, w in weights.items():
            params = TrackingParameters() if w is None else to_parameters(w)
            report["scores"][name] = {
                "frames 32-64 (held out)": score(frames[32:], params, work / "held_GT", work, f"{name}_held"),
                "frames 0-64": score(frames, params, GT, work, f"{name}_all"),
            }
            print(name, report["scores"][name], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
