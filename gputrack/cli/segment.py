"""``gputrack segment``: threshold + size filter (ilastik's ThresholdTwoLevels)."""

from __future__ import annotations

import argparse

from ._common import CHANNEL_HELP, add_common, add_threshold_method, count, nonnegative, say


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``segment`` parser."""
    p = sub.add_parser("segment", help="threshold + size filter: probabilities or a mask -> labels")
    add_common(p)
    p.add_argument("input", help="probabilities / mask: an image file or a folder of frames")
    p.add_argument(
        "--out", required=True, help="label image file (.h5, .tif, .zarr) or a folder of mask frames"
    )
    p.add_argument("--dataset", help="dataset inside an HDF5/Zarr input")
    p.add_argument("--axes", help="axes of the input, e.g. tyxc (guessed when absent)")
    add_threshold_method(p)
    p.add_argument("--threshold", type=nonnegative, default=0.5,
                   help="(low) threshold, inclusive, in the input units (0-1 for probabilities)")
    p.add_argument(
        "--sigma", type=nonnegative, nargs="+", default=[1.0], help="smoothing sigma, one or per axis (z y x)"
    )
    p.add_argument("--channel", type=count,
                   help=CHANNEL_HELP)
    p.add_argument("--core-channel", type=count,
                   help="hysteresis, watershed: channel of the cores (default: --channel)")
    p.add_argument("--min-size", type=count, default=10, help="smallest object kept, in pixels")
    p.add_argument("--max-size", type=count, default=1_000_000, help="largest object kept, in pixels")
    p.set_defaults(func=run, inputs=("input",), outputs=("out",))


def run(args: argparse.Namespace) -> int:
    """Threshold and size filter (ilastik's ThresholdTwoLevels) on probabilities or a mask."""
    from ..workflows.segmentation import segment_file  # noqa: PLC0415

    done = segment_file(
        args.input,
        args.out,
        dataset=args.dataset,
        axes=args.axes,
        method=args.method,
        threshold=args.threshold,
        high_threshold=args.high_threshold,
        beta=args.beta,
        sigma=args.sigma if len(args.sigma) > 1 else args.sigma[0],
        channel=args.channel,
        core_channel=args.core_channel,
        min_size=args.min_size,
        max_size=args.max_size,
        device=args.device,
        overwrite=args.overwrite,
    )
    say(
        args,
        f"segmented {args.input} ({done['shape']}, axes {done['axes']}, channel {done['channel']}) "
        f"in {done['seconds']:.2f} s "
        f"-> {done['out']}",
    )
    return 0
