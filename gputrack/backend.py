"""Device choice, array namespaces, host/device transfer and CUDA kernel loading.

Numeric code in gputrack is written once against the array namespace ``xp`` (numpy or
cupy) and the ndimage namespace (``scipy.ndimage`` or ``cupyx.scipy.ndimage``) returned
here, so the same function runs on the CPU and on an NVIDIA GPU.

Device names
------------
``"auto"``
    The GPU when cupy is importable and sees a CUDA device, else the CPU (logged).
``"cpu"``
    numpy / scipy / numba.
``"gpu"``
    cupy / cupyx; a :class:`~gputrack.errors.DeviceError` when no GPU is usable.

The environment variable ``GPUTRACK_DEVICE`` replaces ``"auto"`` (and ``None``).

Example
-------
>>> from gputrack import backend
>>> dev = backend.resolve_device("cpu")
>>> xp = backend.array_module(dev)
>>> x = backend.to_device([1.0, 2.0], dev)
>>> float(xp.sum(x))
3.0
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .errors import DeviceError, InputError

log = logging.getLogger("gputrack")

DEVICES = ("auto", "cpu", "gpu")


# --------------------------------------------------------------------------- CPU threads


def prefer_workqueue_threads() -> str:
    """Make numba's ``workqueue`` threading layer the default, unless one was chosen.

    gputrack's CPU twins run many short parallel passes. With numba's OpenMP layer each
    parallel region waits for spinning threads; on a machine shared with other processes
    that made the two-thread pixel features 3x slower than one thread (2048^2, all channels:
    14 s vs 3.9 s) while the workqueue layer took 4.6 s. Called when :mod:`gputrack` is
    imported; ``NUMBA_THREADING_LAYER`` set by the user always wins.

    Returns
    -------
    str
        The layer numba is (or will be) configured to use.
    """
    chosen = os.environ.get("NUMBA_THREADING_LAYER")
    if chosen:
        return chosen
    numba = sys.modules.get("numba")
    if numba is None:  # read by numba when it is imported
        os.environ["NUMBA_THREADING_LAYER"] = "workqueue"
        return "workqueue"
    if numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "workqueue"
    return str(numba.config.THREADING_LAYER)


prefer_workqueue_threads()


# --------------------------------------------------------------------------- devices


@functools.lru_cache(maxsize=1)
def _cupy_status() -> tuple[ModuleType | None, str]:
    """Import cupy and check for a usable device; return (module or None, reason)."""
    try:
        import cupy  # noqa: PLC0415
    except Exception as err:  # ImportError, or a broken CUDA install
        return None, f"cupy is not importable ({type(err).__name__}: {err})"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:
        return None, f"cupy finds no CUDA driver ({err})"
    if n < 1:
        return None, "cupy finds no CUDA device"
    return cupy, f"{n} CUDA device(s)"


def gpu_available() -> bool:
    """True when cupy is importable and sees at least one CUDA device."""
    return _cupy_status()[0] is not None


def resolve_device(device: str | None = "auto") -> str:
    """Turn ``"auto" | "cpu" | "gpu" | None`` into ``"cpu"`` or ``"gpu"``.

    Parameters
    ----------
    device
        Requested device. ``None`` and ``"auto"`` defer to ``GPUTRACK_DEVICE`` and then to
        what is available.

    Returns
    -------
    str
        ``"cpu"`` or ``"gpu"``.

    Raises
    ------
    DeviceError
        ``"gpu"`` was asked for and no GPU is usable.
    InputError
        The name is not one of ``auto``, ``cpu``, ``gpu``.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    if device is None or device == "auto":
        env = os.environ.get("GPUTRACK_DEVICE", "").strip().lower()
        if env and env != "auto":
            if env not in DEVICES:
                raise InputError(f"GPUTRACK_DEVICE={env!r}: expected one of {', '.join(DEVICES)}")
            return resolve_device(env)
        cp, reason = _cupy_status()
        if cp is None:
            _log_fallback_once(reason)
            return "cpu"
        return "gpu"
    name = str(device).strip().lower()
    if name == "cpu":
        return "cpu"
    if name in ("gpu", "cuda"):
        cp, reason = _cupy_status()
        if cp is None:
            raise DeviceError(
                f"device='gpu' was requested but no GPU is usable: {reason}; "
                "use device='cpu' or 'auto', or install gputrack[cuda12]"
            )
        return "gpu"
    raise InputError(f"device {device!r}: expected one of {', '.join(DEVICES)}")


@functools.cache
def _log_fallback_once(reason: str) -> None:
    log.info("device='auto': using the CPU (%s)", reason)


def array_module(device: str | None = "auto") -> ModuleType:
    """The array namespace of a device: ``numpy`` or ``cupy``."""
    if resolve_device(device) == "gpu":
        return _cupy_status()[0]
    return np


def ndimage_module(device: str | None = "auto") -> ModuleType:
    """The ndimage namespace of a device: ``scipy.ndimage`` or ``cupyx.scipy.ndimage``."""
    if resolve_device(device) == "gpu":
        import cupyx.scipy.ndimage as cndi  # noqa: PLC0415

        return cndi
    import scipy.ndimage as ndi  # noqa: PLC0415

    return ndi


def namespace_of(array: Any) -> ModuleType:
    """The array namespace an existing array belongs to (numpy or cupy)."""
    if type(array).__module__.startswith("cupy"):
        return _cupy_status()[0]
    return np


def device_of(array: Any) -> str:
    """``"gpu"`` for a cupy array, ``"cpu"`` otherwise."""
    return "gpu" if type(array).__module__.startswith("cupy") else "cpu"


def to_device(array: Any, device: str | None = "auto", dtype: Any = None) -> Any:
    """Move (or convert) an array to a device; a no-op when it is already there."""
    if resolve_device(device) == "gpu":
        cp = _cupy_status()[0]
        return cp.asarray(array, dtype=dtype)
    return np.asarray(to_host(array), dtype=dtype)


def to_host(array: Any) -> np.ndarray:
    """Return a numpy array, copying from the GPU when needed."""
    if type(array).__module__.startswith("cupy"):
        return array.get()
    return np.asarray(array)


def synchronize(device: str | None = "auto") -> None:
    """Wait for queued GPU work (for timing); nothing on the CPU."""
    if resolve_device(device) == "gpu":
        _cupy_status()[0].cuda.Device().synchronize()


# --------------------------------------------------------------------------- memory


def free_memory(device: str | None = "auto") -> int:
    """Free memory in bytes on the device (GPU: free device memory + cupy's pool cache).

    On the CPU this is the available system memory (``MemAvailable``).
    """
    if resolve_device(device) == "gpu":
        cp = _cupy_status()[0]
        free, _total = cp.cuda.runtime.memGetInfo()
        pool = cp.get_default_memory_pool()
        return int(free + pool.free_bytes())
    return _host_available_memory()


def _host_available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def block_shape(
    shape: Sequence[int],
    bytes_per_element: float,
    *,
    device: str | None = "auto",
    budget: int | None = None,
    fraction: float = 0.25,
    halo: int | Sequence[int] = 0,
    minimum: int = 32,
) -> tuple[int, ...]:
    """Largest block of ``shape`` whose working set fits a memory budget.

    The block keeps the full extent of leading axes when it can and shrinks the spatial
    axes evenly (the last axes are treated as spatial). The working set is
    ``prod(block + 2*halo) * bytes_per_element``.

    Parameters
    ----------
    shape
        Shape of the (spatial) array to cover.
    bytes_per_element
        Bytes that the computation needs per element of a block (all temporaries).
    device
        Device whose free memory sets the budget.
    budget
        Explicit budget in bytes; default ``fraction`` of the device's free memory.
    fraction
        Share of free memory to use when ``budget`` is not given.
    halo
        Halo added on each side of every axis (scalar or per axis).
    minimum
        Smallest block edge considered.

    Returns
    -------
    tuple of int
        Block shape, each edge in ``[min(minimum, n), n]``.

    Examples
    --------
    >>> block_shape((10000, 10000), 4, budget=4 * 1024 * 1024)
    (625, 1250)
    """
    shape = tuple(int(s) for s in shape)
    halos = (halo,) * len(shape) if np.isscalar(halo) else tuple(halo)
    if budget is None:
        budget = int(free_memory(device) * fraction)
    budget = max(int(budget), 1)
    block = list(shape)

    def cost(b: Sequence[int]) -> float:
        return float(np.prod([bi + 2 * h for bi, h in zip(b, halos)])) * bytes_per_element

    while cost(block) > budget:
        # halve the largest edge that can still shrink
        i = max(range(len(block)), key=lambda k: block[k] if block[k] > minimum else -1)
        if block[i] <= minimum:
            break
        block[i] = max(minimum, (block[i] + 1) // 2)
    return tuple(min(b, s) for b, s in zip(block, shape))


def is_out_of_memory(err: BaseException) -> bool:
    """True for a device (cupy) or host out-of-memory error."""
    if isinstance(err, MemoryError):
        return True
    name = type(err).__name__
    return name in ("OutOfMemoryError", "CUDARuntimeError") and "memory" in str(err).lower()


def free_cached_memory(device: str | None = "auto") -> None:
    """Release cupy's cached pool blocks (after an out-of-memory error)."""
    if resolve_device(device) == "gpu":
        cp = _cupy_status()[0]
        cp.get_default_memory_pool().free_all_blocks()
        cp.get_default_pinned_memory_pool().free_all_blocks()


# --------------------------------------------------------------------------- kernels


def kernels_dir() -> Path:
    """Folder holding the CUDA sources (``kernels/`` in a checkout, ``gputrack/kernels`` in a wheel)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "kernels", here.parent / "kernels"):
        if candidate.is_dir() and any(candidate.glob("*.cu")):
            return candidate
    return here.parent / "kernels"


def kernel_source(filename: str) -> str:
    """Text of one ``kernels/*.cu`` file."""
    path = kernels_dir() / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path}: CUDA kernel source not found")
    return path.read_text()


@functools.cache
def _raw_module(filename: str, options: tuple[str, ...], name_expressions: tuple[str, ...]):
    cp = _cupy_status()[0]
    if cp is None:
        raise DeviceError(f"cannot load kernel {filename}: {_cupy_status()[1]}")
    kwargs: dict[str, Any] = {"code": kernel_source(filename), "options": options}
    if name_expressions:
        kwargs["name_expressions"] = name_expressions
    return cp.RawModule(**kwargs)


def load_kernel(
    filename: str,
    name: str,
    *,
    options: Sequence[str] = ("-std=c++17",),
    name_expressions: Sequence[str] = (),
):
    """Compile (once, cached) ``kernels/<filename>`` and return the kernel ``name``.

    ``name`` may be a template instantiation listed in ``name_expressions``
    (e.g. ``"forest_predict<float>"``).
    """
    module = _raw_module(filename, tuple(options), tuple(name_expressions))
    return module.get_function(name)


def describe() -> dict[str, Any]:
    """Devices, versions and free memory, for ``gputrack info`` and benchmark JSON."""
    import platform  # noqa: PLC0415

    cp, reason = _cupy_status()
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "host_memory_available_bytes": _host_available_memory(),
        "numpy": np.__version__,
        "gpu": None,
        "gpu_status": reason,
        "default_device": "gpu" if cp is not None else "cpu",
    }
    if cp is not None:
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        free, total = cp.cuda.runtime.memGetInfo()
        name = props["name"]
        info["gpu"] = {
            "name": name.decode() if isinstance(name, bytes) else str(name),
            "compute_capability": f"{props['major']}.{props['minor']}",
            "memory_total_bytes": int(total),
            "memory_free_bytes": int(free),
            "cupy": cp.__version__,
        }
    return info
