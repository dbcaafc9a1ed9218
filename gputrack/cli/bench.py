"""``gputrack bench``: gputrack against ilastik's own engines (fastfilters2, vigra) and laptrack.

Runs the stages of :mod:`gputrack.benchmarks.engines` (the default ``--quick`` sizes finish
in under 3 minutes on a 2-core machine), prints a markdown table and writes ``bench.json``, ``bench.md`` and
``bench.png`` to ``--out``; ``--readme FILE`` also rewrites the marked benchmark section of
that README. Peers that are missing are reported as "not installed".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ._common import positive_count


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``bench`` parser."""
    p = sub.add_parser("bench", help="benchmark the stages against ilastik's engines on this machine")
    p.add_argument("--stage", action="append", choices=("all", "features", "forest", "objects", "tracking"),
                   help="stage to run, repeatable (default: all)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", choices=("tiny", "quick", "full"), default="quick",
                      help="input sizes: tiny (a smoke test), quick (1024² image, 1024² and 96³ objects, "
                           "30 x 1000 tracked objects) or full (2048² image, 4096² with ~29k objects, 192³)")
    size.add_argument("--quick", dest="size", action="store_const", const="quick", help="--size quick")
    size.add_argument("--full", dest="size", action="store_const", const="full", help="--size full")
    p.add_argument("--repeat", type=positive_count, default=3, help="runs per timing (medians reported)")
    p.add_argument("--out", default="out/bench", help="output folder")
    p.add_argument("--readme", metavar="FILE", help="also rewrite the marked benchmark section of FILE")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier bench.json/.md/.png in --out; other files are kept")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines or table")
    p.set_defaults(func=run, outputs=("out",))


def run(args: argparse.Namespace) -> int:
    """Run the benchmarks and write the table, JSON, plot (and README section)."""
    from ..benchmarks import engines, report  # noqa: PLC0415

    chosen = args.stage or ["all"]
    stages = engines.STAGES if "all" in chosen else tuple(s for s in engines.STAGES if s in chosen)
    if args.readme and not Path(args.readme).is_file():
        raise InputError(f"{args.readme}: no such file (--readme)")
    earlier = [p for p in (Path(args.out) / f"bench{s}" for s in (".json", ".md", ".png")) if p.exists()]
    if earlier and not args.overwrite:
        raise InputError(f"{earlier[0]}: exists; pass --overwrite to replace it")
    log = None if args.quiet else (lambda text: print(f"gputrack bench: {text}", flush=True))
    result = engines.run_suite(stages, args.size, args.repeat, log=log)
    written = report.write_outputs(result, Path(args.out))
    if args.readme:
        command = "gputrack bench" + ("" if args.size == "quick" else f" --size {args.size}")
        command += f" --repeat {args.repeat}"
        if tuple(stages) != engines.STAGES:
            command += "".join(f" --stage {s}" for s in stages)
        report.update_readme(Path(args.readme), result, command)
        written.append(Path(args.readme))
    if not args.quiet:
        print(report.markdown_table(result), end="")
        print(f"gputrack bench: {result['total_s']:.0f} s; wrote {', '.join(map(str, written))}")
    return 0
