"""Small readers of values as ilastik stores them in a project: strings, scalars, lists, colours.

ilastik writes strings as bytes, numpy bytes, object or void scalars depending on its
version; these helpers decode all of them, so the section readers need not care.

Examples
--------
>>> import numpy as np
>>> from gputrack.io.ilp.stored import _text
>>> _text(np.bytes_(b"Raw Data"))
'Raw Data'
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np


def _text(value: Any) -> str:
    """Decode a stored string (bytes, numpy bytes, object or void) to ``str``."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, np.void):
        value = value.tobytes()
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _value(group: h5py.Group, name: str, default: Any = None) -> Any:
    """A scalar dataset as a Python value (strings decoded), or ``default``."""
    obj = group.get(name)
    if not isinstance(obj, h5py.Dataset):
        return default
    value = obj[()]
    if isinstance(value, (bytes, np.bytes_, np.void, str)):
        return _text(value)
    if isinstance(value, np.ndarray):
        return value
    return value.item() if isinstance(value, np.generic) else value


def _string_list(group: h5py.Group, name: str) -> list[str]:
    """A stored list of strings; empty when absent or flagged ``isEmpty``."""
    obj = group.get(name)
    if not isinstance(obj, h5py.Dataset) or bool(obj.attrs.get("isEmpty", False)):
        return []
    data = np.atleast_1d(obj[()])
    if data.dtype.kind not in "SOUV":
        return []
    return [_text(v) for v in data]


def _colors(group: h5py.Group, name: str) -> np.ndarray:
    obj = group.get(name)
    if not isinstance(obj, h5py.Dataset) or bool(obj.attrs.get("isEmpty", False)):
        return np.zeros((0, 3), np.uint8)
    data = np.asarray(obj[()])
    if data.ndim != 2 or data.shape[1] < 3:
        return np.zeros((0, 3), np.uint8)
    return data[:, :3].astype(np.uint8)
