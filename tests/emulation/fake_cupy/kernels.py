"""``cupy.RawModule`` / ``cupy.RawKernel`` of the stand-in, over the host CUDA runtime.

The kernels of ``kernels/*.cu`` are compiled for the host and launched one fiber per CUDA
thread by ``tests/emulation/cuda_host`` (its own module); this file only applies cupy's
argument rules: device arrays are passed as their storage, a host numpy array is refused
(``TypeError``, as cupy), Python ``int`` / ``float`` / ``bool`` become ``int64`` /
``float64`` / ``bool`` (as cupy passes them), so a kernel taking ``int`` given a Python int is
caught by the runtime's signature check. Without the runtime, compiling a module skips the
test with "kernel runtime not available".
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from .core import ndarray

_RUNTIME_MODULES = ("tests.emulation.cuda_host",)


def kernel_runtime() -> Any:
    """The host CUDA runtime module, or ``None`` when it is not in this checkout."""
    for name in _RUNTIME_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _unavailable(what: str) -> None:
    import pytest  # noqa: PLC0415

    pytest.skip(f"kernel runtime not available ({what}): tests/emulation/cuda_host is missing")


def _kernel_arg(arg: Any) -> Any:
    if isinstance(arg, ndarray):
        return arg._a
    if isinstance(arg, np.ndarray):
        raise TypeError(f"Unsupported type {type(arg)}")
    if isinstance(arg, np.generic):
        return arg
    if isinstance(arg, bool):
        return np.bool_(arg)
    if isinstance(arg, int):
        return np.int64(arg)
    if isinstance(arg, float):
        return np.float64(arg)
    raise TypeError(f"Unsupported type {type(arg)}")


class RawKernel:
    """A compiled kernel: ``kernel(grid, block, args, shared_mem=0)``."""

    def __init__(self, fn: Any, name: str) -> None:
        self._fn = fn
        self.name = name

    def __call__(self, grid: Any, block: Any, args: Any, *, shared_mem: int = 0, stream: Any = None,
                 enable_cooperative_groups: bool = False) -> None:
        grid = (grid,) if isinstance(grid, int) else tuple(int(g) for g in grid)
        block = (block,) if isinstance(block, int) else tuple(int(b) for b in block)
        self._fn(grid, block, tuple(_kernel_arg(a) for a in args), shared_mem=int(shared_mem))


class RawModule:
    """``cupy.RawModule(code=..., options=..., name_expressions=...)``."""

    def __init__(self, code: str | None = None, path: str | None = None, options: Any = (),
                 backend: str = "nvrtc", translate_cucomplex: bool = False, *,
                 enable_cooperative_groups: bool = False, name_expressions: Any = None,
                 jitify: bool = False) -> None:
        runtime = kernel_runtime()
        if runtime is None:
            _unavailable("RawModule")
        if code is None and path is not None:
            with open(path) as fh:
                code = fh.read()
        kwargs: dict[str, Any] = {"code": code, "options": tuple(options)}
        if name_expressions:
            kwargs["name_expressions"] = tuple(name_expressions)
        self._module = runtime.RawModule(**kwargs)

    def get_function(self, name: str) -> RawKernel:
        return RawKernel(self._module.get_function(name), name)


def raw_kernel(code: str, name: str, options: Any = (), **kwargs: Any) -> RawKernel:
    """``cupy.RawKernel(code, name, options)``."""
    return RawModule(code=code, options=options).get_function(name)
