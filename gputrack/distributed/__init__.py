"""gputrack as Dask tasks: a local cluster, an existing scheduler (SLURM via dask-jobqueue), dask-cuda.

Each stage that has independent pieces runs them as tasks: pixel classification per block
(of one huge image or of many files, into one chunked Zarr output, resumable), object
tables per frame or per block (objects crossing block borders merged exactly), tracking
windows of frames-per-split and the hypotheses graph per run of frame pairs. Results equal
the single-process ones.

>>> from gputrack.distributed import parse_scheduler
>>> parse_scheduler("local:2")
('local', 2)
"""

from .cluster import SCHEDULER_HELP, connect, parse_scheduler, peak_memory, wait_all, worker_pids
from .objects import block_table, frame_tables, merge_moments
from .pixel import classify_file, classify_files
from .tracking import build_graph, track_labels

__all__ = [
    "SCHEDULER_HELP",
    "block_table",
    "build_graph",
    "classify_file",
    "classify_files",
    "connect",
    "frame_tables",
    "merge_moments",
    "parse_scheduler",
    "peak_memory",
    "track_labels",
    "wait_all",
    "worker_pids",
]
