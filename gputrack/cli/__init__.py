"""The ``gputrack`` command: a thin layer that parses options, calls a workflow and reports.

One module per subcommand; each has ``register(subparsers)``, which adds its parser and
sets ``func`` (called with the parsed arguments, returns the exit status). To add a
subcommand, write its module and name it in :data:`COMMANDS`.

User mistakes (:class:`gputrack.errors.GputrackError`) are printed on one line and the
command exits with status 2; no traceback.

Example
-------
>>> from gputrack.cli import main
>>> main(["info", "--device", "cpu", "--quiet"])
0
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from ..errors import GputrackError, one_line

log = logging.getLogger("gputrack")

#: Subcommand modules of this package, in the order ``gputrack --help`` lists them.
COMMANDS = ("info", "synth", "ilp_info", "pixel", "segment", "objects", "track", "export", "demo")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gputrack`` command."""
    parser = argparse.ArgumentParser(
        prog="gputrack",
        description="ilastik-style pixel classification, objects and tracking on GPUs and CPUs",
    )
    parser.add_argument("--version", action="version", version=f"gputrack {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _configure_logging(verbose: bool) -> None:
    """gputrack's messages on stderr; readers' warnings (tifffile, ...) only with ``-v``."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("gputrack: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    for name in ("tifffile", "h5py", "zarr", "numcodecs"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gputrack`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except GputrackError as err:
        print(f"gputrack: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gputrack: interrupted", file=sys.stderr)
        return 130
