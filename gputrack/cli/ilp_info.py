"""``gputrack ilp-info``: print what an ilastik project holds."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``ilp-info`` parser."""
    p = sub.add_parser("ilp-info", help="print what an ilastik .ilp project holds")
    p.add_argument("project", help="PROJECT.ilp")
    p.add_argument("--raw-data", nargs="+", help="raw data per lane, replacing the project's paths")
    p.set_defaults(func=run, inputs=("project", "raw_data"))


def run(args: argparse.Namespace) -> int:
    """Print what an ilastik project holds."""
    from ..io.ilp import describe_ilp, read_ilp  # noqa: PLC0415

    raw = list(args.raw_data) if args.raw_data else None
    print(describe_ilp(read_ilp(args.project, raw_data=raw)))
    return 0
