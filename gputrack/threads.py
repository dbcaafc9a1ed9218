"""A thread pool for per-frame work whose inner calls release the GIL (numpy, zlib, nogil numba)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

MAX_THREADS = 4
"""Threads at most (per-frame work gains little past a few cores and holds a frame per thread)."""


def thread_map(fn: Callable[..., T], *items: Iterable[Any]) -> list[T]:
    """``[fn(*args) for args in zip(*items)]`` on up to :data:`MAX_THREADS` threads, in order.

    One item, or one core, runs in the calling thread. The first exception in item order is
    raised.

    Examples
    --------
    >>> thread_map(lambda a, b: a * b, [1, 2, 3], [4, 5, 6])
    [4, 10, 18]
    """
    jobs = list(zip(*items))
    n = min(MAX_THREADS, os.cpu_count() or 1, len(jobs))
    if n <= 1:
        return [fn(*args) for args in jobs]
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda args: fn(*args), jobs))
