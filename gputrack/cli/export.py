"""``gputrack export``: export a saved tracking result in any format."""

from __future__ import annotations

import argparse
import time

from ._common import add_common, say


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``export`` parser."""
    from ..export.formats import FORMATS  # noqa: PLC0415 (a light module: the table only)

    format_names = ", ".join(FORMATS)
    p = sub.add_parser("export", help="export a saved tracking result in any format")
    add_common(p)
    p.add_argument("result", help="tracking_result.h5 written by 'gputrack track'")
    p.add_argument("--format", required=True, help=f"one or more, comma-separated: {format_names}")
    p.add_argument("--out", required=True,
                   help="output path of the format (folder, file or base name); a folder for several formats")
    p.add_argument("--raw", help="raw frames, for formats that carry image data (mamut: BigDataViewer)")
    p.add_argument("--raw-axes", help="axes of the raw file (guessed when absent)")
    p.add_argument("--bdv-xml", help="mamut: use this BigDataViewer XML instead of writing one")
    p.add_argument("--ilastik-compat", action="store_true", help="ilastik's numbering and quirks")
    p.set_defaults(func=run, inputs=("result", "raw", "bdv_xml"), outputs=("out",))


def run(args: argparse.Namespace) -> int:
    """Export a saved tracking result (``tracking_result.h5``) in one or more formats."""
    from ..export.formats import parse_formats  # noqa: PLC0415
    from ..workflows.tracking import export_saved  # noqa: PLC0415

    formats = parse_formats(args.format)
    t0 = time.perf_counter()
    written = export_saved(
        args.result, formats, args.out, raw=args.raw, raw_axes=args.raw_axes, bdv_xml=args.bdv_xml,
        ilastik_compat=args.ilastik_compat, overwrite=args.overwrite,
    )
    seconds = time.perf_counter() - t0
    say(args, f"{','.join(formats)}: {len(written)} output(s) in {seconds:.1f} s -> {args.out}")
    return 0
