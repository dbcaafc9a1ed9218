"""Axis strings: validating, guessing, reordering, and ilastik/vigra ``axistags``.

An axis string names the axes of an array, one lowercase letter per axis, from ``tczyx``
(time, channel, z, y, x). Upper case is accepted everywhere and folded to lower case.
gputrack's internal order is ``tzyxc``; ilastik files use ``txyzc``; conversion happens
only at I/O boundaries, with :func:`transpose_axes`.

Examples
--------
>>> import numpy as np
>>> guess_axes((5, 64, 64))
'zyx'
>>> a = np.zeros((4, 30, 20, 1, 2))          # ilastik order t, x, y, z, c
>>> transpose_axes(a, "txyzc", "tzyxc").shape
(4, 1, 20, 30, 2)
>>> parse_axistags(make_axistags("txyzc"))
'txyzc'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..backend import namespace_of
from ..errors import InputError

AXIS_LETTERS = "tczyx"
"""Letters an axis string may use."""

INTERNAL_AXES = "tzyxc"
"""gputrack's internal axis order."""

ILASTIK_AXES = "txyzc"
"""Axis order of ilastik's HDF5 files."""

# vigra AxisType flags (vigra/axistags.hxx): Channels=1, Space=2, Angle=4, Time=8, Frequency=16
_TYPE_FLAGS = {"c": 1, "z": 2, "y": 2, "x": 2, "t": 8}


def normalize_axes(axes: str, ndim: int | Sequence[int], source: str = "array") -> str:
    """Validate an axis string against an array and return it in lower case.

    Parameters
    ----------
    axes
        Axis letters from ``tczyx`` (any case), one per array axis, each at most once.
    ndim
        Number of array axes, or the array's shape (then named in the error message).
    source
        What the axes belong to (a file name, ``"labels"``, ...), named in the error.

    Returns
    -------
    str
        The axis string in lower case.

    Raises
    ------
    InputError
        On unknown or repeated letters or a length that differs from ``ndim``; the
        one-line message names ``source`` and the shape.

    Examples
    --------
    >>> normalize_axes("TYX", (3, 64, 64))
    'tyx'
    """
    if isinstance(ndim, int):
        n, what = ndim, f"{ndim} dimensions"
    else:
        shape = tuple(int(s) for s in ndim)
        n, what = len(shape), f"shape {shape}"
    if not isinstance(axes, str):
        raise InputError(f"{source}: axes must be a string of letters from {AXIS_LETTERS!r}, got {axes!r}")
    low = axes.lower()
    unknown = sorted({a for a in low if a not in AXIS_LETTERS})
    if unknown:
        raise InputError(
            f"{source}: axes {axes!r} contain unknown letter(s) {''.join(unknown)!r}; "
            f"use letters from {AXIS_LETTERS!r}"
        )
    repeated = sorted({a for a in low if low.count(a) > 1})
    if repeated:
        raise InputError(f"{source}: axes {axes!r} repeat letter(s) {''.join(repeated)!r}")
    if len(low) != n:
        raise InputError(f"{source}: axes {axes!r} ({len(low)} letters) do not fit {what}")
    return low


def guess_axes(shape: Sequence[int], *, rgb_ok: bool = True) -> str:
    """Guess the axes of an array from its shape.

    ===== =========================================== ==========
    ndim  shape                                       axes
    ===== =========================================== ==========
    1     any                                         ``x``
    2     any                                         ``yx``
    3     last axis 3 or 4 and ``rgb_ok``             ``yxc``
    3     otherwise                                   ``zyx``
    4     last axis 3 or 4 and ``rgb_ok``             ``zyxc``
    4     otherwise                                   ``tzyx``
    5     any                                         ``tzyxc``
    ===== =========================================== ==========

    Parameters
    ----------
    shape
        Array shape.
    rgb_ok
        Treat a last axis of length 3 or 4 as colour channels.

    Returns
    -------
    str
        Axis string in gputrack's internal order.

    Raises
    ------
    InputError
        For 0 or more than 5 dimensions.

    Examples
    --------
    >>> guess_axes((512, 512, 3)), guess_axes((512, 512, 3), rgb_ok=False)
    ('yxc', 'zyx')
    """
    shape = tuple(int(s) for s in shape)
    nd = len(shape)
    rgb = rgb_ok and nd >= 3 and shape[-1] in (3, 4)
    if nd == 1:
        return "x"
    if nd == 2:
        return "yx"
    if nd == 3:
        return "yxc" if rgb else "zyx"
    if nd == 4:
        return "zyxc" if rgb else "tzyx"
    if nd == 5:
        return "tzyxc"
    raise InputError(f"cannot guess axes for shape {shape}: pass axes= with letters from {AXIS_LETTERS!r}")


def fill_unknown_axes(letters: Sequence[str | None]) -> str:
    """Complete an axis string whose unknown positions are ``None``.

    Unknown axes get the unused letters among ``t``, ``z``, ``c``, chosen as
    :func:`guess_axes` would: one unknown axis is ``z``, two are ``t, z``, three are
    ``t, z, c``, assigned in order of appearance.

    Examples
    --------
    >>> fill_unknown_axes([None, "y", "x"])
    'zyx'
    >>> fill_unknown_axes([None, None, "y", "x"])
    'tzyx'
    """
    letters = list(letters)
    unknown = [i for i, a in enumerate(letters) if a is None]
    if not unknown:
        return "".join(letters)  # type: ignore[arg-type]
    free = [a for a in ("z", "t", "c") if a not in letters][: len(unknown)]
    if len(free) < len(unknown):
        raise InputError(
            f"cannot name {len(unknown)} unknown axes next to {''.join(a or '?' for a in letters)!r}"
        )
    free.sort(key=INTERNAL_AXES.index)
    for i, a in zip(unknown, free):
        letters[i] = a
    return "".join(letters)  # type: ignore[arg-type]


def transpose_axes(array: Any, src: str, dst: str) -> Any:
    """Reorder the axes of ``array`` from ``src`` to ``dst``.

    Axes in ``dst`` but not in ``src`` are inserted with length 1; axes in ``src`` but
    not in ``dst`` are dropped when they have length 1. Works on numpy and cupy arrays
    and returns a view where possible.

    Parameters
    ----------
    array
        numpy or cupy array whose axes are ``src``.
    src, dst
        Axis strings (letters from ``tczyx``).

    Returns
    -------
    array
        Array of the same namespace with axes ``dst``.

    Raises
    ------
    InputError
        When ``src`` does not fit the array, or an axis of length > 1 would be dropped.

    Examples
    --------
    >>> import numpy as np
    >>> transpose_axes(np.zeros((64, 32, 3)), "yxc", "tzyxc").shape
    (1, 1, 64, 32, 3)
    >>> transpose_axes(np.zeros((1, 64, 32)), "zyx", "xy").shape
    (32, 64)
    """
    src = normalize_axes(src, array.shape, source="source axes")
    dst = normalize_axes(dst, len(dst), source="target axes")
    xp = namespace_of(array)
    drop = [i for i, a in enumerate(src) if a not in dst]
    big = [src[i] for i in drop if array.shape[i] != 1]
    if big:
        raise InputError(
            f"cannot convert axes {src!r} {tuple(array.shape)} to {dst!r}: axis "
            f"{big[0]!r} has length {array.shape[src.index(big[0])]}, not 1"
        )
    if drop:
        index = tuple(0 if a not in dst else slice(None) for a in src)
        array = array[index]
        src = "".join(a for a in src if a in dst)
    order = [src.index(a) for a in dst if a in src]
    array = xp.transpose(array, order) if order != list(range(len(order))) else array
    kept = "".join(a for a in dst if a in src)
    shape = [array.shape[kept.index(a)] if a in kept else 1 for a in dst]
    return array.reshape(shape) if len(shape) != array.ndim else array


def parse_axistags(axistags: str | bytes) -> str:
    """Axis string of an ilastik/vigra ``axistags`` attribute.

    Parameters
    ----------
    axistags
        The JSON text (str or bytes) ilastik stores on its HDF5 datasets, of the form
        ``{"axes": [{"key": "t", "typeFlags": 8, ...}, ...]}``.

    Returns
    -------
    str
        The axis keys in order, lower case.

    Raises
    ------
    InputError
        When the text is not such JSON or names unknown axes.

    Examples
    --------
    >>> parse_axistags('{"axes": [{"key": "y"}, {"key": "x"}, {"key": "c"}]}')
    'yxc'
    """
    if isinstance(axistags, (bytes, bytearray)):
        axistags = axistags.decode("utf-8", errors="replace")
    try:
        keys = [str(ax["key"]) for ax in json.loads(str(axistags))["axes"]]
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"axistags are not vigra axistags JSON ({type(err).__name__}: {err})") from None
    return normalize_axes("".join(keys), len(keys), source="axistags")


def make_axistags(axes: str) -> str:
    """The ilastik/vigra ``axistags`` JSON for an axis string.

    Parameters
    ----------
    axes
        Axis string (letters from ``tczyx``).

    Returns
    -------
    str
        JSON text as ilastik writes it (``key``, vigra ``typeFlags``, ``resolution``,
        ``description`` per axis).

    Examples
    --------
    >>> import json
    >>> [a["typeFlags"] for a in json.loads(make_axistags("tyxc"))["axes"]]
    [8, 2, 2, 1]
    """
    axes = normalize_axes(axes, len(axes), source="axistags")
    tags = [{"key": a, "typeFlags": _TYPE_FLAGS[a], "resolution": 0, "description": ""} for a in axes]
    return json.dumps({"axes": tags}, indent=2)
