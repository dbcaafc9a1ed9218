"""``gputrack demo``: run the pipeline on the embedded synthetic data and print its scores."""

from __future__ import annotations

import argparse

from ._common import add_common, nonnegative, positive_count, seed


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` parser."""
    p = sub.add_parser("demo", help="run the pipeline on the embedded synthetic data")
    add_common(p)
    p.add_argument("--out", default="out/demo", help="output folder")
    p.add_argument("--frames", type=positive_count, default=30, help="frames of the synthetic time-lapse")
    p.add_argument("--seed", type=seed, default=0, help="random seed (data and forest)")
    p.add_argument("--trees", type=positive_count, default=50, help="trees of the pixel classifier")
    p.add_argument("--min-size", type=positive_count, default=20, help="smallest object in pixels")
    p.add_argument("--appearance-cost", type=nonnegative, default=100.0,
                   help="appearance = disappearance cost")
    p.set_defaults(func=run, outputs=("out",))


def run(args: argparse.Namespace) -> int:
    """The whole pipeline on the embedded synthetic time-lapse, scored against its ground truth."""
    from ..workflows.demo import demo_summary, run_demo  # noqa: PLC0415

    report = run_demo(
        args.out, frames=args.frames, seed=args.seed, trees=args.trees, min_size=args.min_size,
        appearance_cost=args.appearance_cost, device=args.device, overwrite=args.overwrite,
    )
    if not args.quiet:
        print("\n".join(demo_summary(report)))
    return 0
