"""Compile a CUDA source with the host C++ compiler and launch its kernels on numpy arrays.

``RawModule(code, options, name_expressions)`` mirrors ``cupy.RawModule``: the source is
rewritten (:mod:`.rewrite`), compiled once per source hash with ``g++ -O1 -shared -fPIC``
behind ``cuda_host.h`` and loaded with ctypes. ``get_function(name)`` takes an ``extern "C"``
kernel name or an entry of ``name_expressions``; the kernel is called as
``kernel(grid, block, args, shared_mem=0)``. Each argument is checked against the kernel's
signature (pointer: a C-contiguous array of exactly the pointee's dtype; scalar: a numpy
scalar of exactly the parameter's dtype, Python int/float/bool as int64/float64/bool).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .rewrite import rewrite_source, shims

HERE = Path(__file__).resolve().parent
HEADER = HERE / "cuda_host.h"
SCHEDULE_ENV = "GPUTRACK_EMULATION_SCHEDULE"
FIBERS_ENV = "GPUTRACK_EMULATION_FIBERS"  # "fast" (default: x86-64 stack switch) or "ucontext"

#: yields in random mode: 1 in N pointer accesses, 1 in N read-modify-writes, 1 in N atomics
YIELD_EVERY = {"mem": 4, "rmw": 2, "atomic": 2}
#: blocks in flight at once in random mode
RESIDENT_BLOCKS = 4
MAX_SHARED_BYTES = 48 * 1024

_DTYPES = {
    "b1": np.bool_,
    "i1": np.int8,
    "u1": np.uint8,
    "i2": np.int16,
    "u2": np.uint16,
    "i4": np.int32,
    "u4": np.uint32,
    "i8": np.int64,
    "u8": np.uint64,
    "f4": np.float32,
    "f8": np.float64,
}


class CompileError(RuntimeError):
    """The host compiler rejected a kernel source."""


class LaunchError(RuntimeError):
    """A launch failed: bad configuration, out-of-bounds access, stray atomic."""


class ArgumentError(TypeError):
    """A kernel argument does not match the kernel's parameter."""


class _Config(ctypes.Structure):
    _fields_ = [
        ("grid", ctypes.c_longlong * 3),
        ("block", ctypes.c_longlong * 3),
        ("shared_bytes", ctypes.c_longlong),
        ("resident", ctypes.c_longlong),
        ("random", ctypes.c_longlong),
        ("seed", ctypes.c_ulonglong),
        ("mem_yield", ctypes.c_longlong),
        ("rmw_yield", ctypes.c_longlong),
        ("atomic_yield", ctypes.c_longlong),
        ("counters", ctypes.c_longlong * 8),
    ]


class _Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("nbytes", ctypes.c_longlong)]


def parse_schedule(text: str | None) -> tuple[bool, int]:
    """``"serial"`` or ``"random:SEED"`` as ``(random, seed)``.

    >>> parse_schedule("random:7")
    (True, 7)
    >>> parse_schedule(None)
    (False, 0)
    """
    text = (text or "serial").strip().lower()
    if text == "serial":
        return False, 0
    m = re.fullmatch(r"random(?::(\d+))?", text)
    if not m:
        raise ValueError(f"{SCHEDULE_ENV}={text!r}: expected 'serial' or 'random:SEED'")
    return True, int(m.group(1) or 0)


def cache_dir() -> Path:
    """Where compiled modules are kept (``GPUTRACK_EMULATION_CACHE`` or a per-user temp folder)."""
    env = os.environ.get("GPUTRACK_EMULATION_CACHE")
    path = Path(env) if env else Path(tempfile.gettempdir()) / f"gputrack-emulation-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def compiler() -> str:
    """The host C++ compiler: ``GPUTRACK_EMULATION_CXX``, ``$CXX`` or ``g++``."""
    cxx = os.environ.get("GPUTRACK_EMULATION_CXX") or os.environ.get("CXX") or "g++"
    if shutil.which(cxx) is None:
        raise CompileError(f"no host C++ compiler: {cxx!r} is not on the PATH")
    return cxx


@functools.cache
def _compiler_version(cxx: str) -> str:
    return subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout


def _host_flags(options: tuple[str, ...]) -> list[str]:
    """NVRTC options that mean something on the host (``-std=``, ``-D``, ``-U``); the rest are ignored."""
    std = "-std=c++17"
    flags = []
    for opt in options:
        if opt.startswith(("-std=", "--std=")):
            std = "-std=" + opt.split("=", 1)[1]
        elif opt.startswith(("-D", "-U")):
            flags.append(opt)
    return [std, *flags]


def _source_name(code: str) -> str:
    """The kernels/ file holding ``code``, for compiler messages."""
    root = HERE.parents[2] / "kernels"
    for path in sorted(root.glob("*.cu")):
        if path.read_text() == code:
            return f"kernels/{path.name}"
    return "kernel.cu"


def build(code: str, options: tuple[str, ...] = (), exports: tuple[str, ...] = ()) -> Path:
    """Compile ``code`` with shims for ``exports``; return the shared library (cached)."""
    text, _ = rewrite_source(code)
    src = (
        f'#include "cuda_host.h"\n#line 1 "{_source_name(code)}"\n{text}\n'
        f'#line 1 "<launch shims>"\n{shims(list(exports))}'
    )
    cxx = compiler()
    cmd = [cxx, *_host_flags(options), "-O1", "-shared", "-fPIC", "-fvisibility=hidden", f"-I{HERE}"]
    fibers = os.environ.get(FIBERS_ENV, "fast").strip().lower()
    if fibers not in ("fast", "ucontext"):
        raise ValueError(f"{FIBERS_ENV}={fibers!r}: expected 'fast' or 'ucontext'")
    if fibers == "ucontext":
        cmd.append("-DGPT_UCONTEXT")
    key = hashlib.sha256(
        "\0".join([src, HEADER.read_text(), " ".join(cmd), _compiler_version(cxx)]).encode()
    ).hexdigest()[:24]
    lib = cache_dir() / f"k{key}.so"
    if lib.is_file():
        return lib
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        cpp = Path(tmp) / "module.cpp"
        cpp.write_text(src)
        out = Path(tmp) / "module.so"
        res = subprocess.run([*cmd, str(cpp), "-o", str(out)], capture_output=True, text=True)
        if res.returncode != 0:
            raise CompileError(f"host compile of {_source_name(code)} failed:\n{res.stderr[-6000:]}")
        os.replace(out, lib)
    return lib


class RawModule:
    """A CUDA source compiled for the host, with cupy.RawModule's constructor and ``get_function``.

    Parameters
    ----------
    code
        CUDA C++ source.
    options
        NVRTC options; ``-std=``, ``-D`` and ``-U`` are passed to the host compiler.
    name_expressions
        Template instantiations to export, e.g. ``("ccl_init<unsigned char>",)``.

    Examples
    --------
    >>> import numpy as np
    >>> mod = RawModule(code='extern "C" __global__ void twice(float* x, long long n) {'
    ...                 ' long long i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] *= 2; }')
    >>> x = np.arange(5, dtype=np.float32)
    >>> mod.get_function("twice")((1,), (8,), (x, np.int64(5)))
    >>> x.tolist()
    [0.0, 2.0, 4.0, 6.0, 8.0]
    """

    def __init__(
        self, code: str, options: tuple[str, ...] = (), name_expressions: tuple[str, ...] = (), **_: Any
    ):
        self.code = code
        self.options = tuple(options)
        self.name_expressions = tuple(name_expressions or ())
        _, kernels = rewrite_source(code)
        self.exports = tuple(n for n, extern_c in kernels if extern_c) + self.name_expressions
        self._lib = _load(build(code, self.options, self.exports))
        self._kernels: dict[str, Kernel] = {}

    def get_function(self, name: str) -> Kernel:
        """The kernel ``name`` (an ``extern "C"`` name or a ``name_expressions`` entry)."""
        if name not in self._kernels:
            if name not in self.exports:
                raise LaunchError(
                    f"kernel {name!r} not found: exported are {', '.join(self.exports) or 'none'} "
                    "(templates only through name_expressions)"
                )
            k = self.exports.index(name)
            self._kernels[name] = Kernel(name, self._lib, k)
        return self._kernels[name]


@functools.cache
def _load(path: Path) -> ctypes.CDLL:
    return ctypes.CDLL(str(path))


def _dim3(value: Any, what: str) -> tuple[int, int, int]:
    vals = (value,) if np.isscalar(value) else tuple(value)
    if not 1 <= len(vals) <= 3:
        raise LaunchError(f"{what} {value!r}: expected 1 to 3 dimensions")
    dims = [int(v) for v in vals] + [1] * (3 - len(vals))
    if min(dims) < 1:
        raise LaunchError(f"{what} {value!r}: every dimension must be >= 1")
    return dims[0], dims[1], dims[2]


def _parse_signature(sig: str) -> list[tuple[str, str, bool, int]]:
    """``"pc:f4,s:i8"`` as ``[(kind, dtype code, const, lanes)]``."""
    out = []
    for item in sig.split(",") if sig else []:
        kind, code = item.split(":")
        base, _, lanes = code.partition("x")
        out.append(("pointer" if kind[0] == "p" else "scalar", base, kind == "pc", int(lanes or 1)))
    return out


def _describe(arg: Any) -> str:
    if isinstance(arg, np.ndarray):
        return f"an array of {arg.dtype} {arg.shape}"
    dtype = getattr(arg, "dtype", None)
    return f"{type(arg).__name__}" + (f" of {dtype}" if dtype is not None else "")


class Kernel:
    """One kernel of a :class:`RawModule`; call it like ``cupy.RawKernel``."""

    def __init__(self, name: str, lib: ctypes.CDLL, index: int):
        self.name = name
        sig = getattr(lib, f"gpt_sig_{index}")
        sig.restype = ctypes.c_char_p
        self.params = _parse_signature(sig().decode())
        self._launch = getattr(lib, f"gpt_launch_{index}")
        self._launch.restype = ctypes.c_int
        self._launch.argtypes = [ctypes.POINTER(_Config), ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        #: counters of the last launch: gpt::count(k) totals in [0:7], context switches in [7]
        self.counters = [0] * 8

    def _pointer(self, i: int, arg: Any, code: str, const: bool, lanes: int) -> _Buffer:
        want = np.dtype(_DTYPES[code])
        cai = getattr(arg, "__cuda_array_interface__", None)
        if cai is not None:
            dtype, shape = np.dtype(cai["typestr"]), tuple(cai["shape"])
            ptr, readonly = cai["data"]
            contiguous = cai.get("strides") is None or tuple(cai["strides"]) == _c_strides(
                shape, dtype.itemsize
            )
        elif isinstance(arg, np.ndarray):
            dtype, shape, ptr = arg.dtype, arg.shape, arg.ctypes.data
            readonly, contiguous = not arg.flags.writeable, arg.flags.c_contiguous
        else:
            raise ArgumentError(f"{self.name}: argument {i} is a pointer parameter, got {_describe(arg)}")
        vector = f"x{lanes}" if lanes > 1 else ""
        what = f"{self.name}: argument {i} ({'const ' if const else ''}{want}{vector}*)"
        if dtype != want:
            raise ArgumentError(f"{what}: expected an array of {want}, got {dtype}")
        if lanes > 1 and (not shape or shape[-1] != lanes):
            raise ArgumentError(f"{what}: expected a last axis of {lanes} (vector type), got shape {shape}")
        if not contiguous:
            raise ArgumentError(f"{what}: the array is not C-contiguous")
        if readonly and not const:
            raise ArgumentError(f"{what}: the array is read-only but the kernel may write it")
        return _Buffer(ptr, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)

    def _scalar(self, i: int, arg: Any, code: str) -> ctypes.Array:
        want = np.dtype(_DTYPES[code])
        if isinstance(arg, bool):
            have = np.dtype(np.bool_)
        elif isinstance(arg, int):
            have = np.dtype(np.int64)
        elif isinstance(arg, float):
            have = np.dtype(np.float64)
        elif isinstance(arg, np.generic):
            have = arg.dtype
        else:
            raise ArgumentError(
                f"{self.name}: argument {i} is a {want} scalar parameter, got {_describe(arg)}"
            )
        if have != want:
            raise ArgumentError(
                f"{self.name}: argument {i}: expected a scalar of {want}, got {have} ({arg!r})"
            )
        raw = np.array(arg, dtype=want).tobytes()
        return ctypes.create_string_buffer(raw, max(len(raw), 8))

    def __call__(
        self, grid: Any, block: Any, args: tuple, shared_mem: int = 0, *, schedule: str | None = None
    ):
        grid3, block3 = _dim3(grid, "grid"), _dim3(block, "block")
        threads = block3[0] * block3[1] * block3[2]
        if threads > 1024 or block3[2] > 64:
            raise LaunchError(f"{self.name}: block {block3} exceeds 1024 threads or 64 in z")
        if grid3[0] >= 2**31 or grid3[1] > 65535 or grid3[2] > 65535:
            raise LaunchError(f"{self.name}: grid {grid3} exceeds the CUDA limits")
        if not 0 <= int(shared_mem) <= MAX_SHARED_BYTES:
            raise LaunchError(f"{self.name}: shared_mem={shared_mem} outside 0..{MAX_SHARED_BYTES} bytes")
        args = tuple(args)
        if len(args) != len(self.params):
            raise ArgumentError(f"{self.name}: expected {len(self.params)} arguments, got {len(args)}")
        keep = []
        argv = (ctypes.c_void_p * max(len(args), 1))()
        for i, (arg, (kind, code, const, lanes)) in enumerate(zip(args, self.params)):
            item = (
                self._pointer(i, arg, code, const, lanes) if kind == "pointer" else self._scalar(i, arg, code)
            )
            keep.append(item)
            argv[i] = ctypes.cast(ctypes.pointer(item) if kind == "pointer" else item, ctypes.c_void_p)
        random, seed = parse_schedule(schedule if schedule is not None else os.environ.get(SCHEDULE_ENV))
        cfg = _Config()
        cfg.grid[:] = grid3
        cfg.block[:] = block3
        cfg.shared_bytes = int(shared_mem)
        cfg.resident = RESIDENT_BLOCKS
        cfg.random = int(random)
        cfg.seed = (seed * 0x9E3779B1 + zlib.crc32(self.name.encode())) & (2**64 - 1)
        cfg.mem_yield, cfg.rmw_yield, cfg.atomic_yield = (
            YIELD_EVERY["mem"],
            YIELD_EVERY["rmw"],
            YIELD_EVERY["atomic"],
        )
        err = ctypes.create_string_buffer(2048)
        rc = self._launch(ctypes.byref(cfg), argv, err, len(err))
        self.counters = list(cfg.counters)
        del keep
        if rc:
            raise LaunchError(f"{self.name} <<<{grid3}, {block3}>>>: {err.value.decode(errors='replace')}")


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))
