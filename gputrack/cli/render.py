"""``gputrack render``: pictures of a tracking result (frame overlays and the lineage tree)."""

from __future__ import annotations

import argparse

from ._common import count, positive_count, say


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``render`` parser."""
    from ..workflows.pictures import DEFAULT_FRAMES, TREE_FORMATS  # noqa: PLC0415 (constants only)

    p = sub.add_parser("render", help="pictures of a tracking result: frame overlays and the lineage tree")
    p.add_argument("result", help="tracking_result.h5 of 'gputrack track', or a CTC result folder "
                                  "(maskTTT.tif + res_track.txt)")
    p.add_argument("--out", required=True,
                   help="output folder: overlay_tTTTT.png per chosen frame and lineage.png (or --format)")
    p.add_argument("--raw", help="raw frames drawn under the objects, contrast-stretched (default: none, "
                                 "the objects on a dark background)")
    p.add_argument("--raw-axes", help="axes of the raw file (guessed when absent)")
    p.add_argument("--frames", type=count, nargs="+", metavar="T",
                   help=f"frame numbers to draw (default: {DEFAULT_FRAMES} evenly spaced over the sequence)")
    p.add_argument("--tail", type=count, default=10,
                   help="draw each track's centroids over this many earlier frames (0: none)")
    p.add_argument("--size", type=positive_count, default=800,
                   help="smallest long side of an overlay in pixels (smaller frames are upscaled)")
    p.add_argument("--format", choices=TREE_FORMATS, default="png", help="file format of the lineage tree")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing pictures; only files gputrack writes are replaced, others kept")
    p.set_defaults(func=run, inputs=("result", "raw"), outputs=("out",))


def run(args: argparse.Namespace) -> int:
    """Write the overlays and the lineage tree of a tracking result."""
    from ..workflows.pictures import render_file  # noqa: PLC0415

    written = render_file(args.result, args.out, raw=args.raw, raw_axes=args.raw_axes, frames=args.frames,
                          tail=args.tail, tree_format=args.format, min_side=args.size,
                          overwrite=args.overwrite)
    say(args, f"{len(written) - 1} overlay(s) and {written[-1].name} -> {args.out}")
    return 0
