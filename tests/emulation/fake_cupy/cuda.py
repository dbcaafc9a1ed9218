"""``cupy.cuda`` of the stand-in: one emulated device, its memory, streams, runtime calls."""

from __future__ import annotations

import types
from typing import Any

from .core import OutOfMemoryError, memory

DEVICE_NAME = "gputrack emulated CUDA device (host)"


class CUDARuntimeError(RuntimeError):
    """cupy's ``cupy.cuda.runtime.CUDARuntimeError``."""


CUDARuntimeError.__module__ = "cupy_backends.cuda.api.runtime"


def _get_device_count() -> int:
    return 1


def _mem_get_info() -> tuple[int, int]:
    return max(memory.total - memory.used, 0), memory.total


def _get_device_properties(device: int) -> dict[str, Any]:
    if device != 0:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    return {
        "name": DEVICE_NAME.encode(),
        "major": 9,
        "minor": 0,
        "totalGlobalMem": memory.total,
        "multiProcessorCount": 1,
        "maxThreadsPerBlock": 1024,
        "warpSize": 32,
        "sharedMemPerBlock": 48 << 10,
    }


runtime = types.SimpleNamespace(
    getDeviceCount=_get_device_count,
    memGetInfo=_mem_get_info,
    getDeviceProperties=_get_device_properties,
    CUDARuntimeError=CUDARuntimeError,
    deviceSynchronize=lambda: None,
    runtimeGetVersion=lambda: 12080,
    driverGetVersion=lambda: 12080,
    is_hip=False,
)


class Device:
    """``cupy.cuda.Device``: device 0 only."""

    def __init__(self, device: int | None = None) -> None:
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    def synchronize(self) -> None:
        """All emulated work is synchronous."""

    def use(self) -> None:
        """Device 0 is always current."""

    @property
    def mem_info(self) -> tuple[int, int]:
        return _mem_get_info()

    @property
    def compute_capability(self) -> str:
        return "90"

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"


class Stream:
    """``cupy.cuda.Stream``: work is synchronous, so streams only need to exist."""

    null: Stream

    def __init__(self, null: bool = False, non_blocking: bool = False, ptds: bool = False) -> None:
        self.ptr = 0

    def synchronize(self) -> None:
        """Nothing is queued."""

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


Stream.null = Stream(null=True)


def get_current_stream() -> Stream:
    return Stream.null


class MemoryPool:
    """``cupy.cuda.MemoryPool``: reports the accounting of :data:`core.memory`."""

    def used_bytes(self) -> int:
        return memory.used

    def total_bytes(self) -> int:
        return memory.used

    def free_bytes(self) -> int:
        return 0

    def free_all_blocks(self, stream: Any = None) -> None:
        """Nothing is cached."""

    def n_free_blocks(self) -> int:
        return 0

    def set_limit(self, size: int | None = None, fraction: float | None = None) -> None:
        if fraction is not None:
            size = int(fraction * memory.total)
        memory.total = int(size) if size else 16 << 30

    def get_limit(self) -> int:
        return memory.total


class PinnedMemoryPool:
    """``cupy.cuda.PinnedMemoryPool``."""

    def free_all_blocks(self) -> None:
        """Nothing is cached."""

    def n_free_blocks(self) -> int:
        return 0


memory_module = types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError, MemoryPool=MemoryPool)
