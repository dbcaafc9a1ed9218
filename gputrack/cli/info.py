"""``gputrack info``: versions, devices, free memory and the backend each stage uses."""

from __future__ import annotations

import argparse
import importlib
import json

from .. import __version__, backend
from ._common import add_common

VERSIONED = ("scipy", "numba", "h5py", "tifffile", "sklearn", "ortools", "zarr", "pandas", "cupy", "cucim")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``info`` parser."""
    p = sub.add_parser("info", help="versions, devices, free memory, backend of each stage")
    add_common(p, overwrite=False)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Versions, devices, free memory and the backend each stage uses."""
    info = backend.describe()
    device = backend.resolve_device(args.device)
    info["gputrack"] = __version__
    info["device"] = device
    info["stages"] = stage_backends(device)
    versions = {name: version_of(name) for name in VERSIONED}
    info["versions"] = versions
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    if args.quiet:
        return 0
    print(f"gputrack {__version__} (python {info['python']}, {info['machine']}, {info['cpu_count']} cores)")
    print(f"host memory available: {info['host_memory_available_bytes'] / 2**30:.1f} GiB")
    gpu = info["gpu"]
    if gpu:
        print(
            f"GPU: {gpu['name']} (compute {gpu['compute_capability']}), "
            f"{gpu['memory_free_bytes'] / 2**30:.1f} of {gpu['memory_total_bytes'] / 2**30:.1f} GiB free, "
            f"cupy {gpu['cupy']}"
        )
    else:
        print(f"GPU: none ({info['gpu_status']})")
    print(
        f"device for this run: {device}"
        + (" (auto fell back to the CPU)" if args.device == "auto" and device == "cpu" else "")
    )
    print("stages:")
    for stage, how in info["stages"].items():
        print(f"  {stage:<10} {how}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    return 0


def version_of(module: str) -> str | None:
    """``module.__version__``, ``"?"`` without one, ``None`` when it does not import."""
    try:
        mod = importlib.import_module(module)
    except Exception:
        return None
    return getattr(mod, "__version__", "?")


def _readers() -> str:
    from ..io import wsi  # noqa: PLC0415

    setting = wsi.tiff_reader_setting()
    cucim = setting != "tifffile" and wsi.cuimage_available()
    return "h5py, tifffile, zarr" + (", cuCIM CuImage (whole-slide RGB TIFF)" if cucim else "")


def stage_backends(device: str) -> dict[str, str]:
    """What each stage runs on for ``device``."""
    if device == "gpu":
        return {
            "io": f"host reads ({_readers()}), one transfer per block",
            "features": "cupy separable convolutions + kernels/eigen.cu",
            "forest": "kernels/forest.cu",
            "segment": "cupyx.scipy.ndimage",
            "objects": "cupy segmented reductions",
            "tracking": "CPU core on object tables (numba, OR-Tools)",
        }
    return {
        "io": _readers(),
        "features": "scipy.ndimage / numba",
        "forest": "numba",
        "segment": "scipy.ndimage",
        "objects": "numpy / numba reductions",
        "tracking": "numba, OR-Tools",
    }
