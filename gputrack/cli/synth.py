"""``gputrack synth``: write the synthetic time-lapse with ground truth in CTC layout."""

from __future__ import annotations

import argparse

from ._common import add_common, positive_count, say, seed


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``synth`` parser."""
    p = sub.add_parser("synth", help="write a synthetic time-lapse with ground truth (CTC layout)")
    add_common(p)
    p.add_argument("--out", required=True, help="output folder (01/, 01_GT/, 01_scribbles.tif)")
    p.add_argument("--frames", type=positive_count, default=40, help="number of frames")
    p.add_argument("--shape", type=positive_count, nargs="+", default=[256, 256],
                   help="frame shape: y x, or z y x")
    p.add_argument("--cells", type=positive_count, default=12, help="cells in the first frame")
    p.add_argument("--seed", type=seed, default=0, help="random seed")
    p.set_defaults(func=run, outputs=("out",))


def run(args: argparse.Namespace) -> int:
    """Write the synthetic time-lapse with ground truth in CTC layout."""
    from ..datasets import synthetic_timelapse, write_synthetic_ctc  # noqa: PLC0415
    from ..io.atomic import check_writable  # noqa: PLC0415

    check_writable(args.out, args.overwrite)
    shape = tuple(args.shape)
    data = synthetic_timelapse(n_frames=args.frames, shape=shape, n_cells=args.cells, seed=args.seed)
    out = write_synthetic_ctc(args.out, data, overwrite=args.overwrite)
    say(args, f"wrote {args.frames} frames of {shape} with ground truth to {out}")
    return 0
