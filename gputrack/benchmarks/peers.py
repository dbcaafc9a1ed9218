"""ilastik's own engines as benchmark peers: fastfilters2 in this process, vigra in its own Python.

vigra (Debian's ``python3-vigra``) is built against the system Python's numpy and cannot be
imported here; :func:`run_vigra` writes the inputs as ``.npy`` files, runs
``vigra_worker.py`` with that Python and reads back its timings (taken inside the worker)
and results. :func:`vigra_python` finds that interpreter (``GPUTRACK_VIGRA_PYTHON``, ``none``
to leave vigra out; else ``/usr/bin/python3`` or ``python3`` on the ``PATH``), or says why
there is none.

Examples
--------
>>> from gputrack.benchmarks import peers
>>> python, why = peers.vigra_python()
>>> python is None or why == ""
True
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

WORKER = Path(__file__).with_name("vigra_worker.py")


@functools.cache
def vigra_python() -> tuple[str | None, str]:
    """A Python interpreter that imports vigra, and ``""``; or ``None`` and the reason.

    Examples
    --------
    >>> python, why = vigra_python()
    >>> isinstance(why, str)
    True
    """
    chosen = os.environ.get("GPUTRACK_VIGRA_PYTHON")
    if chosen == "none":
        return None, "not installed (GPUTRACK_VIGRA_PYTHON=none)"
    candidates = [chosen] if chosen else ["/usr/bin/python3", shutil.which("python3")]
    tried = []
    for python in dict.fromkeys(c for c in candidates if c):
        if not Path(python).exists() or Path(python).resolve() == Path(sys.executable).resolve():
            continue
        tried.append(python)
        try:
            done = subprocess.run([python, "-c", "import vigra; print(vigra.version)"],
                                  capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return python, ""
    return None, "not installed (no Python with vigra found: " + (", ".join(tried) or "none") + ")"


def fastfilters2() -> tuple[Any | None, str]:
    """The ``fastfilters2`` module, or ``None`` and ``"not installed"``."""
    try:
        import fastfilters2 as ff  # noqa: PLC0415
    except ImportError:
        return None, "not installed"
    return ff, ""



def fastfilters2_features(image: np.ndarray, scales: Sequence[float], threads: int = 2) -> list[np.ndarray]:
    """fastfilters2's 7 channels of each scale, the scales spread over ``threads`` threads.

    fastfilters2 computes one scale per call on one thread, so ``threads`` calls run at once
    (it releases the GIL): what ilastik's thread pool does with it. Call it once with
    ``threads=1`` first: fastfilters2's first calls from two threads at once can deadlock while
    it finishes loading.
    """
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    import fastfilters2 as ff  # noqa: PLC0415

    image = np.ascontiguousarray(image, dtype=np.float32)  # (it crashes on images below ~100 px)
    if threads <= 1:
        return [ff.compute_filters(image, s) for s in scales]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda s: ff.compute_filters(image, s), scales))


def run_vigra(stage: str, job: dict[str, Any], arrays: dict[str, np.ndarray], workdir: Path,
              timeout: float = 1800.0) -> dict[str, Any]:
    """Run one stage of ``vigra_worker.py`` on ``arrays`` (saved as ``.npy`` in ``workdir``).

    Parameters
    ----------
    stage
        ``"features"``, ``"forest"`` or ``"objects"``.
    job
        Stage parameters (``repeat``, ``threads``, ...); output paths are added here.
    arrays
        Inputs by job key (``image``, ``X_train``, ...).
    workdir
        Folder for the exchanged files.
    timeout
        Seconds before the worker is stopped.

    Returns
    -------
    dict
        The worker's JSON result; ``*_out`` keys of the job hold its output files.
    """
    python, why = vigra_python()
    if python is None:
        raise RuntimeError(why)
    workdir.mkdir(parents=True, exist_ok=True)
    job = dict(job, stage=stage)
    for key, arr in arrays.items():
        path = workdir / f"{stage}_{key}.npy"
        np.save(path, np.ascontiguousarray(arr))
        job[key] = str(path)
    for key in ("sample_out", "proba_out", "table_out", "result_out"):
        suffix = "json" if key in ("table_out", "result_out") else "npy"
        job.setdefault(key, str(workdir / f"{stage}_{key}.{suffix}"))
    job_path = workdir / f"{stage}_job.json"
    job_path.write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run([python, str(WORKER), str(job_path)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"vigra worker ({stage}) failed: {tail[0]}")
    result = json.loads(Path(job["result_out"]).read_text())
    result["job"] = job
    return result
