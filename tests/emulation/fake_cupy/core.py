"""The device array of the cupy stand-in: numpy underneath, cupy's rules on top.

What it enforces, as cupy does:

- a host ``numpy.ndarray`` is refused by every function, ufunc and operator
  (``TypeError: Unsupported type <class 'numpy.ndarray'>``), also nested in lists;
- ``numpy.asarray(device_array)`` / ``__array__`` raise ``TypeError`` (no implicit copy);
- the explicit transfers are ``cupy.asarray`` / ``cupy.array`` / ``ndarray.set`` (host to
  device, always a copy) and ``ndarray.get`` / ``cupy.asnumpy`` (device to host); indexing
  with or assigning from a numpy array is a host-to-device copy; ``float()``, ``int()``,
  ``bool()``, ``item()`` and ``tolist()`` are device-to-host copies;
- reductions return 0-d device arrays, not numpy scalars.

Every transfer is recorded in :data:`transfers` (direction, bytes, shape), and every
device allocation is accounted in :data:`memory` (used, peak, limit), where an allocation
past the limit, or one matching an injected failure, raises
``cupy.cuda.memory.OutOfMemoryError``.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin


class OutOfMemoryError(MemoryError):
    """cupy's ``cupy.cuda.memory.OutOfMemoryError`` (``size``, ``total``)."""

    def __init__(self, size: int, total: int, limit: int = 0) -> None:
        self.size, self.total, self.limit = int(size), int(total), int(limit)
        msg = f"Out of memory allocating {size:,} bytes (allocated so far: {total:,} bytes"
        msg += f", limit set to: {limit:,} bytes)." if limit else ")."
        super().__init__(msg)


OutOfMemoryError.__module__ = "cupy.cuda.memory"


# --------------------------------------------------------------------------- transfers


@dataclass
class Transfer:
    """One host/device copy."""

    direction: str  # "h2d" or "d2h"
    nbytes: int
    shape: tuple[int, ...]
    dtype: str


@dataclass
class TransferLog:
    """All host/device copies since the last :meth:`reset`."""

    events: list[Transfer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, direction: str, arr: np.ndarray) -> None:
        with self.lock:
            self.events.append(Transfer(direction, int(arr.nbytes), tuple(arr.shape), str(arr.dtype)))

    def reset(self) -> None:
        with self.lock:
            self.events.clear()

    def of(self, direction: str) -> list[Transfer]:
        return [e for e in self.events if e.direction == direction]

    def count(self, direction: str) -> int:
        return len(self.of(direction))

    def nbytes(self, direction: str) -> int:
        return sum(e.nbytes for e in self.of(direction))

    def largest(self, direction: str) -> int:
        return max((e.nbytes for e in self.of(direction)), default=0)


transfers = TransferLog()


# --------------------------------------------------------------------------- memory


@dataclass
class DeviceMemory:
    """Bytes of live device arrays, the peak since :meth:`reset_peak`, and the device size."""

    total: int = 16 << 30
    used: int = 0
    peak: int = 0
    fail_at_least: int | None = None
    fail_times: int = 0
    fail_where: Any = None
    failures: int = 0
    live: dict[int, Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def allocate(self, owner: np.ndarray) -> None:
        key = id(owner)
        with self.lock:
            if key in self.live:
                return
            n = int(owner.nbytes)
            if (
                self.fail_at_least is not None
                and self.fail_times > 0
                and n >= self.fail_at_least
                and (self.fail_where is None or self.fail_where(owner))
            ):
                self.fail_times -= 1
                self.failures += 1
                raise OutOfMemoryError(n, self.used)
            if self.used + n > self.total:
                self.failures += 1
                raise OutOfMemoryError(n, self.used, self.total)
            self.used += n
            self.peak = max(self.peak, self.used)
            self.live[key] = weakref.finalize(owner, self._release, key, n)

    def _release(self, key: int, n: int) -> None:
        with self.lock:
            if self.live.pop(key, None) is not None:
                self.used -= n

    def reset_peak(self) -> None:
        with self.lock:
            self.peak = self.used

    def fail_allocations(self, at_least: int, times: int = 1, where: Any = None) -> None:
        """Make the next ``times`` allocations of ``>= at_least`` bytes raise OutOfMemoryError.

        ``where(array) -> bool`` narrows them (e.g. to one shape: the allocation of one stage).
        """
        with self.lock:
            self.fail_at_least, self.fail_times, self.fail_where = int(at_least), int(times), where

    @contextlib.contextmanager
    def limit(self, total: int):
        """Temporarily give the device ``total`` bytes."""
        old = self.total
        self.total = int(total)
        try:
            yield self
        finally:
            self.total = old

    def clear_faults(self) -> None:
        with self.lock:
            self.fail_at_least, self.fail_times, self.failures, self.fail_where = None, 0, 0, None


memory = DeviceMemory()


def _owner(arr: np.ndarray) -> np.ndarray:
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


# --------------------------------------------------------------------------- wrapping


def _refuse(obj: Any) -> TypeError:
    return TypeError(f"Unsupported type {type(obj)}")


def unwrap(obj: Any) -> Any:
    """Device arrays to their numpy storage; host numpy arrays refused (nested too)."""
    if isinstance(obj, ndarray):
        return obj._a
    if isinstance(obj, np.ndarray):
        raise _refuse(obj)
    if isinstance(obj, list):
        return [unwrap(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(unwrap(v) for v in obj)
    return obj


def wrap(obj: Any) -> Any:
    """numpy results back to device arrays (numpy scalars become 0-d arrays, as in cupy)."""
    if isinstance(obj, np.ndarray):
        return ndarray._from_numpy(obj)
    if isinstance(obj, np.generic):
        return ndarray._from_numpy(np.asarray(obj))
    if isinstance(obj, tuple):
        return tuple(wrap(v) for v in obj)
    if isinstance(obj, list) and obj and all(isinstance(v, np.ndarray) for v in obj):
        return [wrap(v) for v in obj]
    return obj


def call(fn: Any, args: tuple, kwargs: dict) -> Any:
    """Run a numpy callable on device arrays with cupy's argument rules."""
    return wrap(fn(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()}))


def to_device(obj: Any, dtype: Any = None, order: str | None = None) -> ndarray:
    """Host object to a new device array (a recorded host-to-device copy)."""
    if isinstance(obj, (list, tuple)) and any(isinstance(v, ndarray) for v in obj):
        return wrap(np.array(unwrap(obj), dtype=dtype))
    host = np.array(obj, dtype=dtype, order=order or "K", copy=True)
    transfers.record("h2d", host)
    return ndarray._from_numpy(host)


def _index(key: Any) -> Any:
    """Indices: device arrays unwrapped; numpy arrays and lists copied to the device first."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, (np.ndarray, list)):
        return to_device(key)._a
    return key


class ndarray(NDArrayOperatorsMixin):  # noqa: N801 - cupy's name
    """cupy.ndarray stand-in (numpy storage, cupy's conversion rules)."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100
    __hash__ = None

    def __init__(
        self, shape: Any, dtype: Any = float, memptr: Any = None, strides: Any = None, order: str = "C"
    ) -> None:
        arr = np.empty(shape, dtype=dtype, order=order)
        memory.allocate(_owner(arr))
        self._a = arr

    @classmethod
    def _from_numpy(cls, arr: np.ndarray) -> ndarray:
        memory.allocate(_owner(arr))
        obj = object.__new__(cls)
        obj._a = arr
        return obj

    # --- no implicit conversion
    def __array__(self, dtype: Any = None, copy: Any = None):
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly."
        )

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if "out" in kwargs:
            kwargs["out"] = tuple(kwargs["out"])
        return call(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        return call(func, args, kwargs)

    # --- explicit transfers
    def get(self, stream: Any = None, order: str = "C", out: np.ndarray | None = None, blocking: bool = True):
        host = np.array(self._a, order=order, copy=True)
        transfers.record("d2h", host)
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, arr: np.ndarray, stream: Any = None) -> None:
        host = np.asarray(arr)
        if host.shape != self._a.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self._a.shape}, new shape: {host.shape}")
        transfers.record("h2d", host)
        self._a[...] = host

    def _scalar(self) -> Any:
        if self._a.size != 1:
            raise TypeError("only size-1 arrays can be converted to Python scalars")
        transfers.record("d2h", self._a.reshape(-1)[:1])
        return self._a.reshape(-1)[0]

    def __bool__(self) -> bool:
        return bool(self._scalar())

    def __float__(self) -> float:
        return float(self._scalar())

    def __int__(self) -> int:
        return int(self._scalar())

    def __complex__(self) -> complex:
        return complex(self._scalar())

    def item(self, *args: Any) -> Any:
        transfers.record("d2h", self._a.reshape(-1)[:1])
        return self._a.item(*args)

    def tolist(self) -> Any:
        transfers.record("d2h", self._a)
        return self._a.tolist()

    # --- container protocol
    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        for i in range(self._a.shape[0]):
            yield ndarray._from_numpy(self._a[i])

    def __getitem__(self, key: Any) -> Any:
        return wrap(self._a[_index(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(value, ndarray):
            value = value._a
        elif isinstance(value, (np.ndarray, list, tuple)):
            value = to_device(value)._a
        self._a[_index(key)] = value

    def __repr__(self) -> str:
        return repr(self._a)

    def __str__(self) -> str:
        return str(self._a)

    def __copy__(self) -> ndarray:
        return wrap(self._a.copy())

    def __deepcopy__(self, memo: Any) -> ndarray:
        return wrap(self._a.copy())

    def __reduce__(self):
        raise TypeError("cupy arrays are not pickled by the emulation: use .get() first")

    # --- attributes: numpy's, with results wrapped
    @property
    def shape(self) -> tuple[int, ...]:
        return self._a.shape

    @shape.setter
    def shape(self, value: Any) -> None:
        self._a.shape = value

    @property
    def dtype(self) -> np.dtype:
        return self._a.dtype

    @property
    def ndim(self) -> int:
        return self._a.ndim

    @property
    def size(self) -> int:
        return self._a.size

    @property
    def nbytes(self) -> int:
        return self._a.nbytes

    @property
    def itemsize(self) -> int:
        return self._a.itemsize

    @property
    def strides(self) -> tuple[int, ...]:
        return self._a.strides

    @property
    def flags(self) -> Any:
        return self._a.flags

    @property
    def device(self) -> Any:
        from .cuda import Device  # noqa: PLC0415

        return Device(0)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_a":
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):

            def method(*args: Any, **kwargs: Any) -> Any:
                return call(attr, args, kwargs)

            method.__name__ = name
            return method
        return wrap(attr)


ndarray.__module__ = "cupy"
ndarray.__qualname__ = "ndarray"


class ufunc:  # noqa: N801 - cupy's name
    """A numpy ufunc behind cupy's argument rules (``__call__``, ``reduce``, ``at``, ...)."""

    def __init__(self, np_ufunc: np.ufunc) -> None:
        self._u = np_ufunc
        self.__name__ = np_ufunc.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return call(self._u, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._u, name)
        if callable(attr):
            return lambda *a, **k: call(attr, a, k)
        return attr

    def __repr__(self) -> str:
        return f"<ufunc '{self.__name__}'>"


ufunc.__module__ = "cupy"
