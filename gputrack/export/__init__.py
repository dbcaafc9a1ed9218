"""Exports: object tables as CSV, object class images, tracking results in every format.

Submodules load on first use, so ``gputrack.export.formats`` (the table of tracking formats)
is cheap to import. Tracking formats: see :mod:`gputrack.export.formats`.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from gputrack import export
>>> lab = np.array([[0, 4, 4]], np.uint8)
>>> export.paint_objects(lab, pd.DataFrame({"label": [4], "class": [2]})).tolist()
[[0, 2, 2]]
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "ilastik_table": "objects",
    "object_table_csv": "objects",
    "paint_objects": "objects",
    "write_object_predictions": "objects",
    "IMAGE_NAMES": "tracking",
    "result_images": "tracking",
    "tracking_csv": "tracking",
    "tracking_table": "tracking",
    "write_ctc": "tracking",
    "write_result_images": "tracking",
    "FORMATS": "formats",
    "export_many": "formats",
    "export_result": "formats",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'gputrack.export' has no attribute {name!r}")
    return getattr(importlib.import_module(f"gputrack.export.{_WHERE[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
