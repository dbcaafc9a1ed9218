"""``gputrack learn``: the five tracking weights learned from annotations (structured SVM)."""

from __future__ import annotations

import argparse

from ._common import add_common, frame_range, say


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``learn`` parser."""
    p = sub.add_parser("learn", help="learn the tracking weights from annotated tracks (structured learning)")
    add_common(p)
    p.add_argument("--annotations", required=True,
                   help="a CTC ground-truth folder (NN_GT), an ilastik .ilp with TrackingAnnotations, or a "
                        "gputrack project file with annotations")
    p.add_argument("--labels", help="label frames the annotations refer to (default: the GT's TRA masks; "
                                    "the .ilp's own objects)")
    p.add_argument("--label-axes", help="axes of the label file (guessed when absent)")
    p.add_argument("--out", required=True, help="weights JSON (for 'gputrack track --weights')")
    p.add_argument("--frames", type=frame_range, metavar="START:STOP",
                   help="learn from frames START..STOP-1 only, as in 'track --frames' (default: all)")
    p.add_argument("--solver", choices=("ilp", "flow"), default="ilp",
                   help="inference oracle (default ilp: exact)")
    p.add_argument("--c", type=float, default=1.0, help="slack weight C of the SVM (default 1.0)")
    p.add_argument("--max-rounds", type=int, default=100, help="cutting-plane rounds (default 100)")
    p.set_defaults(func=run, inputs=("annotations", "labels"), outputs=("out",))


def run(args: argparse.Namespace) -> int:
    """Learn the weights and write them with their report (loss curve, rounds) as JSON."""
    from ..workflows.learning import learn_file  # noqa: PLC0415

    first_last = (args.frames[0], args.frames[1] - 1) if args.frames else None
    learned = learn_file(args.annotations, args.out, labels=args.labels, label_axes=args.label_axes,
                         frames=first_last, solver=args.solver, c=args.c, max_rounds=args.max_rounds,
                         overwrite=args.overwrite)
    w = ", ".join(f"{k} {v:.4f}" for k, v in learned.weights.items())
    say(args, f"weights (unit norm): {w}; training loss {learned.loss} after {learned.rounds} rounds "
              f"({learned.seconds:.1f} s) -> {args.out}")
    return 0
