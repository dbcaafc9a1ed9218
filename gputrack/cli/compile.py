"""``gputrack compile``: compile gputrack's CPU code now, into its cache, instead of on first use."""

from __future__ import annotations

import argparse
import tempfile
import time

from ._common import add_common, say


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compile`` parser."""
    p = sub.add_parser(
        "compile", help="compile the CPU code of every stage now (make runs it at install)",
        description="Run every stage once on small synthetic data so that numba compiles their CPU code "
                    "into gputrack's cache (gputrack/_jitcache, or GPUTRACK_JIT_CACHE); later runs on "
                    "this machine load it instead of compiling. Run once after pip install.",
    )
    add_common(p, overwrite=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Warm gputrack's compile cache and say what it cost."""
    from ..jitcache import cache_root, warm_up  # noqa: PLC0415

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gputrack-compile-") as tmp:
        n = warm_up(tmp)
    where = cache_root() or "numba's cache (GPUTRACK_JIT_CACHE=off)"
    say(args, f"compiled {n} functions in {time.perf_counter() - start:.1f} s into {where}")
    return 0
