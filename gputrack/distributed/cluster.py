"""Where distributed work runs: a local cluster, an existing scheduler, or one worker per GPU.

``scheduler`` strings (the CLI's ``--scheduler``, the API's ``scheduler=``):

=====================  ==================================================================
``local`` / ``local:N``  a :class:`dask.distributed.LocalCluster` of ``N`` worker processes
                         (default: the CPU count), one thread each, started and shut down
                         around the run
``tcp://HOST:PORT``      an existing scheduler (``dask scheduler``, a dask-jobqueue
                         ``SLURMCluster``'s ``scheduler_address``, ``dask-mpi``, ...)
``PATH.json``            a scheduler file (``dask scheduler --scheduler-file PATH.json``)
``cuda``                 dask-cuda's ``LocalCUDACluster``: one worker per visible GPU
=====================  ==================================================================

An existing :class:`dask.distributed.Client` can be passed instead (``client=``); it is
used and left running.

Examples
--------
>>> parse_scheduler("local:2")
('local', 2)
>>> parse_scheduler("tcp://10.0.0.5:8786")
('address', 'tcp://10.0.0.5:8786')
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import GputrackError, InputError

log = logging.getLogger("gputrack")

SCHEDULER_HELP = (
    "run as Dask tasks: 'local[:N]' (N worker processes on this machine), 'tcp://HOST:PORT' "
    "(an existing scheduler, e.g. a dask-jobqueue SLURM cluster), a scheduler-file .json, or "
    "'cuda' (dask-cuda, one worker per GPU); default: no Dask, one process"
)


def _require_distributed() -> Any:
    try:
        import distributed  # noqa: PLC0415
    except ImportError as err:  # pragma: no cover - the dask extra is part of the test install
        raise GputrackError(
            "--scheduler needs dask.distributed: pip install 'gputrack[dask]'"
        ) from err
    return distributed


def parse_scheduler(scheduler: str) -> tuple[str, Any]:
    """Split a ``scheduler`` string into its kind and argument (see the module table).

    Raises
    ------
    InputError
        An unknown form, or ``local:N`` with ``N < 1``.
    """
    text = str(scheduler).strip()
    low = text.lower()
    if low in ("local", "processes"):
        return "local", None
    if low.startswith("local:"):
        try:
            n = int(text.split(":", 1)[1])
        except ValueError:
            n = 0
        if n < 1:
            raise InputError(f"--scheduler {text!r}: expected local:N with N >= 1 worker processes")
        return "local", n
    if low == "cuda":
        return "cuda", None
    if "://" in text:
        return "address", text
    if low.endswith(".json"):
        if not os.path.exists(text):
            raise InputError(f"--scheduler {text!r}: scheduler file not found")
        return "file", text
    raise InputError(
        f"--scheduler {text!r}: expected local, local:N, tcp://HOST:PORT, a scheduler file .json or cuda"
    )


def _local_cluster(n_workers: int | None, **kwargs: Any) -> Any:
    distributed = _require_distributed()
    n = n_workers or os.cpu_count() or 1
    return distributed.LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
        scheduler_port=0, silence_logs=logging.ERROR, **kwargs,
    )


def _cuda_cluster(**kwargs: Any) -> Any:
    try:
        from dask_cuda import LocalCUDACluster  # noqa: PLC0415
    except ImportError as err:
        raise GputrackError(
            "--scheduler cuda needs dask-cuda (pip install dask-cuda) and a CUDA GPU; "
            "use --scheduler local:N on a machine without one"
        ) from err
    return LocalCUDACluster(dashboard_address=":0", scheduler_port=0, silence_logs=logging.ERROR, **kwargs)


def dashboard(client: Any) -> str | None:
    """The dashboard address of ``client``'s scheduler, or None when it serves none (no bokeh)."""
    try:
        import bokeh  # noqa: F401, PLC0415
    except ImportError:
        info = client.scheduler_info().get("services", {})
        if "dashboard" not in info:
            return None
    return getattr(client, "dashboard_link", None)


@contextlib.contextmanager
def connect(
    scheduler: str | None = None, *, client: Any = None, quiet: bool = False, **cluster_kwargs: Any
) -> Iterator[Any]:
    """A :class:`dask.distributed.Client` for ``scheduler`` (or ``client``), closed afterwards.

    Parameters
    ----------
    scheduler
        See the module table.
    client
        An existing client: yielded as is and not closed.
    quiet
        Do not print the dashboard address.
    cluster_kwargs
        Passed to ``LocalCluster`` / ``LocalCUDACluster`` (e.g. ``memory_limit``).

    Examples
    --------
    >>> with connect("local:1", quiet=True) as c:            # doctest: +SKIP
    ...     c.submit(sum, [1, 2]).result()
    3
    """
    if client is not None:
        yield client
        return
    if scheduler is None:
        raise InputError("connect: pass scheduler= or client=")
    kind, arg = parse_scheduler(scheduler)
    distributed = _require_distributed()
    cluster = None
    if kind == "local":
        cluster = _local_cluster(arg, **cluster_kwargs)
        c = distributed.Client(cluster)
    elif kind == "cuda":
        cluster = _cuda_cluster(**cluster_kwargs)
        c = distributed.Client(cluster)
    else:
        try:
            c = (distributed.Client(arg, timeout="30s") if kind == "address"
                 else distributed.Client(scheduler_file=arg, timeout="30s"))
        except OSError as err:
            raise InputError(f"--scheduler {scheduler!r}: cannot reach the scheduler ({err})") from err
    try:
        n = len(c.scheduler_info().get("workers", {}))
        link = dashboard(c)
        if not quiet:
            where = f", dashboard {link}" if link else " (no dashboard: pip install bokeh)"
            print(f"dask: {n} worker(s) at {c.scheduler.address}{where}", file=sys.stderr)
        log.info("dask scheduler %s with %d workers", c.scheduler.address, n)
        yield c
    finally:
        c.close(timeout=30)
        if cluster is not None:
            cluster.close(timeout=30)


def worker_pids(client: Any) -> dict[str, int]:
    """Process id of every worker, by worker address (for monitoring or tests).

    Examples
    --------
    >>> worker_pids(client)                                 # doctest: +SKIP
    {'tcp://127.0.0.1:40211': 12345, 'tcp://127.0.0.1:40215': 12346}
    """
    return {addr: int(pid) for addr, pid in client.run(os.getpid).items()}


def peak_memory(client: Any) -> dict[str, int]:
    """Peak resident memory (bytes) of every worker process since it started."""
    return client.run(_peak_rss)


def _peak_rss() -> int:
    import resource  # noqa: PLC0415

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(kib) * (1 if sys.platform == "darwin" else 1024)


def wait_all(
    client: Any, futures: Iterable[Any], *, total: int | None = None, done: int = 0, quiet: bool = False,
    desc: str = "tasks", unit: str = "task",
) -> list[Any]:
    """Wait for ``futures`` with a progress bar of finished tasks; results in submission order.

    A failed task raises its error here (after cancelling the others).
    """
    from distributed import as_completed  # noqa: PLC0415
    from tqdm.auto import tqdm  # noqa: PLC0415

    futures = list(futures)
    order = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    bar = tqdm(total=(len(futures) + done) if total is None else total, initial=done, unit=unit, desc=desc,
               disable=quiet or not sys.stderr.isatty())
    try:
        for fut in as_completed(futures):
            results[order[fut.key]] = fut.result()
            bar.update(1)
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        bar.close()
    return results
