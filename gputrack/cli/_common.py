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

CHANNEL_HELP = (
    "probability channel of the objects; default: 1 (the second class; the first is the background) "
    "for inputs with 2 or more channels, 0 for a single channel"
)

THRESHOLD_METHODS = ("simple", "hysteresis", "graphcut", "watershed")
"""``--method`` choices, ilastik's threshold methods 0-3 (gputrack.segment.threshold.METHODS)."""


def add_threshold_method(parser: argparse.ArgumentParser, when: str = "") -> None:
    """``--method`` and ``--high-threshold`` of ilastik's threshold applet."""
    parser.add_argument(
        "--method", choices=THRESHOLD_METHODS, default="simple",
        help=when + "simple: one threshold; hysteresis: objects above --threshold that reach "
        "--high-threshold; graphcut: a Potts graph cut of the probability around --threshold "
        "(--beta); watershed (ilastik's \"don't merge objects\"): the cores above "
        "--high-threshold grown down to --threshold by a seeded watershed, touching objects kept apart",
    )
    parser.add_argument("--high-threshold", type=nonnegative, default=0.8,
                        help=when + "core threshold of hysteresis and watershed, >= --threshold")
    parser.add_argument("--beta", type=nonnegative, default=0.2,
                        help=when + "graphcut: weight of a label change between neighbouring pixels")


def add_common(parser: argparse.ArgumentParser, *, overwrite: bool = True) -> None:
    """``--device``, ``--quiet`` and (unless ``overwrite=False``) ``--overwrite``."""
    parser.add_argument(
        "--device", default="auto", choices=backend.DEVICES, help="compute device (default: auto)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summaries")
    if overwrite:
        parser.add_argument(
            "--overwrite", action="store_true",
            help="replace existing outputs; only files gputrack writes are replaced, others kept",
        )


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


def _number(kind, text: str, what: str, ok) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {what}") from None
    if value != value or value in (float("inf"), float("-inf")) or not ok(value):
        raise argparse.ArgumentTypeError(f"{text}: expected {what}")
    return value


def nonnegative(text: str) -> float:
    """A finite number >= 0 (costs, weights, sizes, sigmas)."""
    return _number(float, text, "a number >= 0", lambda v: v >= 0)


def positive(text: str) -> float:
    """A finite number > 0 (scales, time limits)."""
    return _number(float, text, "a number > 0", lambda v: v > 0)


def fraction(text: str) -> float:
    """A number in [0, 1] (probability thresholds)."""
    return _number(float, text, "a number between 0 and 1", lambda v: 0 <= v <= 1)


def count(text: str) -> int:
    """An integer >= 0."""
    return int(_number(int, text, "a whole number >= 0", lambda v: v >= 0))


def positive_count(text: str) -> int:
    """An integer >= 1."""
    return int(_number(int, text, "a whole number >= 1", lambda v: v >= 1))


def seed(text: str) -> int:
    """A random seed: an integer in [0, 2**32 - 1]."""
    return int(_number(int, text, "a seed between 0 and 4294967295", lambda v: 0 <= v < 2**32))


def frame_range(text: str) -> tuple[int, int]:
    """``START:STOP`` (Python's half-open range of frame numbers, STOP > START >= 0).

    >>> frame_range("32:65")
    (32, 65)
    """
    start, sep, stop = text.partition(":")
    try:
        a, b = int(start), int(stop)
    except ValueError:
        a, b = -1, -1
    if not sep or a < 0 or b <= a:
        raise argparse.ArgumentTypeError(f"{text!r}: expected START:STOP frame numbers, STOP > START >= 0")
    return a, b


class Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line on stderr and exit status 2."""

    def error(self, message: str):  # noqa: D102 (argparse's hook)
        self.exit(2, f"gputrack: error: {self.prog}: {message} (see {self.prog} --help)\n")
