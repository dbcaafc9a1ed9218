"""Option helpers shared by the subcommand modules of the ``gputrack`` command.

>>> import argparse
>>> p = argparse.ArgumentParser()
>>> add_common(p)
>>> p.parse_args(["--device", "cpu"]).device
'cpu'
"""

from __future__ import annotations

import argparse

from .. import backend


def add_common(parser: argparse.ArgumentParser, *, overwrite: bool = True) -> None:
    """``--device``, ``--quiet`` and (unless ``overwrite=False``) ``--overwrite``."""
    parser.add_argument(
        "--device", default="auto", choices=backend.DEVICES, help="compute device (default: auto)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summaries")
    if overwrite:
        parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def add_scheduler(parser: argparse.ArgumentParser) -> None:
    """``--scheduler``: run as Dask tasks (same meaning in every subcommand)."""
    from ..distributed.cluster import SCHEDULER_HELP  # noqa: PLC0415 (no dask import: text only)

    parser.add_argument("--scheduler", metavar="SCHEDULER", help=SCHEDULER_HELP)


def say(args: argparse.Namespace, text: str) -> None:
    """Print a summary line unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(text)


def block_shape(values: list[int] | None) -> tuple[int, ...] | None:
    """``--block-size`` values as a tuple (``None`` when absent)."""
    return tuple(values) if values else None
