"""A strict, numpy-backed stand-in for ``cupy`` / ``cupyx.scipy.ndimage`` (tests only).

gputrack's GPU code runs against it in CI, where no GPU exists: :func:`install` puts it in
``sys.modules`` as ``cupy``, ``cupy.cuda``, ``cupyx``, ``cupyx.scipy.ndimage`` (the
``gpu_emulation`` fixture of ``tests/conftest.py`` does so for each ``-m gpu`` test). It
is stricter than a plain numpy alias on purpose, so that what fails on a real GPU fails here:

- host arrays are refused where cupy refuses them, and implicit device-to-host conversion
  raises (:mod:`.core`);
- ``cupyx.scipy.ndimage`` accumulates linear filters in cupy's dtypes (float32 for float32
  input) (:mod:`.ndimage`);
- kernels of ``kernels/*.cu`` run through the project's host CUDA runtime (:mod:`.kernels`);
- host/device copies are counted (:data:`transfers`) and device memory is accounted, with
  a limit and injectable out-of-memory errors (:data:`memory`).

Example
-------
>>> import numpy as np
>>> from tests.emulation import fake_cupy as cp
>>> a = cp.asarray(np.arange(4.0))
>>> float(cp.sum(a * 2))
12.0
>>> cp.add(a, np.ones(4))
Traceback (most recent call last):
...
TypeError: Unsupported type <class 'numpy.ndarray'>
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as _np

from . import cuda as _cuda
from . import ndimage as _ndimage
from .core import OutOfMemoryError, memory, ndarray, to_device, transfers, ufunc, unwrap, wrap
from .kernels import RawModule, kernel_runtime, raw_kernel

__version__ = "13.6.0+gputrack.emulation"
EMULATED = True

RawKernel = raw_kernel

_POOL = _cuda.MemoryPool()
_PINNED = _cuda.PinnedMemoryPool()


def asarray(
    a: Any, dtype: Any = None, order: Any = None, *, copy: Any = None, blocking: bool = False
) -> ndarray:
    """Device array of ``a``: no copy for a device array, a host-to-device copy otherwise."""
    if isinstance(a, ndarray):
        out = a._a if dtype is None else a._a.astype(dtype, copy=bool(copy))
        if order in ("C", "F") and not (out.flags.c_contiguous if order == "C" else out.flags.f_contiguous):
            out = _np.asarray(out, order=order)
        return wrap(out) if out is not a._a or copy else a
    return to_device(a, dtype=dtype, order=order)


def array(obj: Any, dtype: Any = None, copy: bool = True, order: str = "K", subok: bool = False,
          ndmin: int = 0, *, blocking: bool = False) -> ndarray:
    """``cupy.array``: a copy on the device (host input: a host-to-device copy)."""
    if isinstance(obj, ndarray):
        return wrap(_np.array(obj._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin))
    out = to_device(obj, dtype=dtype, order=order)
    return out if ndmin <= out.ndim else wrap(_np.array(out._a, ndmin=ndmin))


asanyarray = asarray


def asnumpy(
    a: Any, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True
) -> _np.ndarray:
    """Host copy of a device array (numpy input returned as a numpy array)."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return _np.asarray(a, order=order)


def ascontiguousarray(a: Any, dtype: Any = None) -> ndarray:
    """C-contiguous device array; a host array is refused as cupy's typed argument does."""
    if not isinstance(a, ndarray):
        raise TypeError(
            "Argument 'a' has incorrect type "
            f"(expected cupy._core.core._ndarray_base, got {type(a).__name__})"
        )
    out = _np.ascontiguousarray(a._a, dtype=dtype)
    return a if out is a._a else wrap(out)


def get_array_module(*args: Any) -> types.ModuleType:
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else _np


def get_default_memory_pool() -> _cuda.MemoryPool:
    return _POOL


def get_default_pinned_memory_pool() -> _cuda.PinnedMemoryPool:
    return _PINNED


def is_available() -> bool:
    return True


cuda = types.ModuleType("cupy.cuda")
cuda.runtime = _cuda.runtime
cuda.Device = _cuda.Device
cuda.Stream = _cuda.Stream
cuda.get_current_stream = _cuda.get_current_stream
cuda.MemoryPool = _cuda.MemoryPool
cuda.PinnedMemoryPool = _cuda.PinnedMemoryPool
cuda.memory = _cuda.memory_module
cuda.OutOfMemoryError = OutOfMemoryError
cuda.is_available = is_available


class _Namespace(types.ModuleType):
    """A numpy submodule (``linalg``, ``fft``, ``random``) behind cupy's argument rules."""

    def __init__(self, name: str, target: types.ModuleType) -> None:
        super().__init__(name)
        self._target = target

    def __getattr__(self, name: str) -> Any:
        return _lookup(self._target, name)


def _lookup(target: Any, name: str) -> Any:
    attr = getattr(target, name)
    if isinstance(attr, _np.ufunc):
        return ufunc(attr)
    if isinstance(attr, type) or isinstance(attr, types.ModuleType) and name not in _SUBMODULES:
        return attr
    if callable(attr):

        def fn(*args: Any, **kwargs: Any) -> Any:
            return wrap(attr(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()}))

        fn.__name__ = name
        fn.__qualname__ = name
        return fn
    return attr


_SUBMODULES = {"linalg", "fft", "random"}
linalg = _Namespace("cupy.linalg", _np.linalg)
fft = _Namespace("cupy.fft", _np.fft)
random = _Namespace("cupy.random", _np.random)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return _lookup(_np, name)


# --------------------------------------------------------------------------- installing


def _modules() -> dict[str, types.ModuleType]:
    me = sys.modules[__name__]
    cupyx = types.ModuleType("cupyx")
    scipy = types.ModuleType("cupyx.scipy")
    scipy.ndimage = _ndimage
    cupyx.scipy = scipy
    cupyx.EMULATED = True
    return {
        "cupy": me,
        "cupy.cuda": cuda,
        "cupy.cuda.runtime": cuda.runtime,
        "cupy.cuda.memory": cuda.memory,
        "cupyx": cupyx,
        "cupyx.scipy": scipy,
        "cupyx.scipy.ndimage": _ndimage,
    }


def install(monkeypatch: Any) -> types.ModuleType:
    """Put the stand-in in ``sys.modules`` (undone by ``monkeypatch``); returns ``cupy``."""
    for key, module in _modules().items():
        monkeypatch.setitem(sys.modules, key, module)
    return sys.modules[__name__]


def reset() -> None:
    """Forget recorded transfers, the memory peak and injected failures."""
    transfers.reset()
    memory.clear_faults()
    memory.reset_peak()


__all__ = [
    "EMULATED", "OutOfMemoryError", "RawKernel", "RawModule", "array", "asarray", "asnumpy",
    "ascontiguousarray", "cuda", "get_array_module", "get_default_memory_pool", "install",
    "kernel_runtime", "memory", "ndarray", "reset", "transfers",
]
