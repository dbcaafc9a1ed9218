"""CUDA kernels on the host: ``kernels/*.cu`` compiled by g++ and run one fiber per CUDA thread.

The runtime that lets CI (no GPU) execute the project's CUDA kernels, with cupy's
``RawModule`` interface::

    from tests.emulation.cuda_host import RawModule
    module = RawModule(code=src, options=("-std=c++17",), name_expressions=("ccl_init<unsigned char>",))
    kernel = module.get_function("ccl_init<unsigned char>")    # or an extern "C" name
    kernel((blocks,), (threads,), (img, parent, np.int64(n)), shared_mem=0)

``args`` are numpy arrays (C-contiguous, exactly the pointee's dtype, written in place;
objects with ``__cuda_array_interface__`` work too) and numpy scalars of exactly the
parameter's dtype (Python int / float / bool count as int64 / float64 / bool, as in cupy).
Mismatches raise :class:`ArgumentError` (a real launch would silently misread them).

Scheduling, from ``GPUTRACK_EMULATION_SCHEDULE`` (read at each launch) or the
``schedule=`` keyword of a launch:

``serial`` (default)
    Blocks in raster order, one at a time; each thread of a block runs until it reaches
    ``__syncthreads`` (a real barrier) or exits, then the next one.
``random:SEED``
    Up to ``RESIDENT_BLOCKS`` blocks in flight, admitted in a seeded random order; at every
    atomic, every barrier and (with a probability) every access through a pointer parameter
    the running thread yields to a random ready thread. ``p[i] += v`` on a parameter is
    load, yield, store: a non-atomic update loses updates as it would on a GPU.

Launches check bounds of accesses through pointer parameters and that atomics target an
argument buffer or shared memory; shared memory starts as 0xff bytes (NaN / -1).
Fibers are ucontext contexts; on x86-64 a stack switch of the callee-saved registers
replaces ``swapcontext`` (whose signal-mask system calls made launches ~10x slower);
``GPUTRACK_EMULATION_FIBERS=ucontext`` compiles the plain ucontext path.
Compiled modules are cached by source hash in ``GPUTRACK_EMULATION_CACHE`` (default: a
per-user folder in the temp dir); ``GPUTRACK_EMULATION_CXX`` selects the compiler.
"""

from . import runtime
from .runtime import (
    FIBERS_ENV,
    SCHEDULE_ENV,
    ArgumentError,
    CompileError,
    Kernel,
    LaunchError,
    RawModule,
    parse_schedule,
)

__all__ = [
    "FIBERS_ENV",
    "SCHEDULE_ENV",
    "ArgumentError",
    "CompileError",
    "Kernel",
    "LaunchError",
    "RawModule",
    "parse_schedule",
    "runtime",
]
