"""``gputrack synth``: write the synthetic time-lapse with ground truth in CTC layout."""

from __future__ import annotations

import argparse

from ._common import add_common, say


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``synth`` parser."""
    p = sub.add_parser("synth", help="write a synthetic time-lapse with ground truth (CTC layout)")
    add_common(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--shape", type=int, nargs="+", default=[256, 256], help="y x, or z y x")
    p.add_argument("--cells", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the synthetic time-lapse with ground truth in CTC layout."""
    from ..datasets import synthetic_timelapse, write_synthetic_ctc  # noqa: PLC0415

    shape = tuple(args.shape)
    data = synthetic_timelapse(n_frames=args.frames, shape=shape, n_cells=args.cells, seed=args.seed)
    out = write_synthetic_ctc(args.out, data, overwrite=args.overwrite)
    say(args, f"wrote {args.frames} frames of {shape} with ground truth to {out}")
    return 0
