"""gputrack as Dask tasks: a local cluster, an existing scheduler (SLURM via dask-jobqueue), dask-cuda.

Each stage that has independent pieces runs them as tasks: pixel classification per block
(of one huge image or of many files, into one chunked Zarr output, resumable), object
tables per frame or per block (objects crossing block borders merged exactly), tracking
windows of frames-per-split and the hypotheses graph per run of frame pairs. Results equal
the single-process ones. The stage modules load on first use (the command line imports
this package for ``--scheduler``'s help only).

>>> from gputrack.distributed import parse_scheduler
>>> parse_scheduler("local:2")
('local', 2)
"""

from __future__ import annotations

import importlib
from typing import Any

from .cluster import SCHEDULER_HELP, connect, parse_scheduler, peak_memory, wait_all, worker_pids

_LAZY = {
    "block_table": "objects",
    "frame_tables": "objects",
    "merge_moments": "objects",
    "classify_file": "pixel",
    "classify_files": "pixel",
    "build_graph": "tracking",
    "track_labels": "tracking",
}

__all__ = ["SCHEDULER_HELP", "connect", "parse_scheduler", "peak_memory", "wait_all", "worker_pids", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in ("objects", "pixel", "tracking"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
