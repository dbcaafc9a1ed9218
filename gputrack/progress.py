"""Progress of long runs: a tqdm bar on a terminal, plain lines in logs.

When stderr is a terminal, :func:`progress` is a tqdm bar. Otherwise (batch jobs, logs) it
writes one line to stderr at every tenth of the work, and :func:`note` one line per
finished file, so that a log shows where a run is. ``quiet`` silences both.

>>> bar = progress(4, "blocks", quiet=True)
>>> bar.update(4); bar.close()
"""

from __future__ import annotations

import sys
import time
from typing import Any


class _Lines:
    """A tqdm-like counter that prints ``desc: 30% (3/10 unit, 2.1 s)`` at each 10 %."""

    def __init__(self, total: int, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit = max(int(total), 0), desc, unit
        self.n, self.shown, self.t0 = 0, 0, time.perf_counter()

    def update(self, k: int = 1) -> None:
        self.n += int(k)
        if not self.total:
            return
        tenth = min(10, self.n * 10 // self.total)
        if tenth > self.shown:
            self.shown = tenth
            seconds = time.perf_counter() - self.t0
            done = f"{self.n}/{self.total} {self.unit}, {seconds:.1f} s"
            print(f"gputrack: {self.desc}: {tenth * 10}% ({done})", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


class _Silent:
    def update(self, k: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress(total: int, desc: str, *, quiet: bool = False, unit: str = "block") -> Any:
    """A progress counter with ``update(k)`` and ``close()`` (see the module notes)."""
    if quiet:
        return _Silent()
    if sys.stderr.isatty():
        from tqdm.auto import tqdm  # noqa: PLC0415

        return tqdm(total=total, unit=unit, desc=desc)
    return _Lines(total, desc, unit)


def note(text: str, *, quiet: bool = False) -> None:
    """One line on stderr when stderr is not a terminal (a log) and not ``quiet``."""
    if not quiet and not sys.stderr.isatty():
        print(f"gputrack: {text}", file=sys.stderr, flush=True)
