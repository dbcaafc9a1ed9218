"""Exports: object tables as CSV, object class images, tracking results (CTC, CSV, images).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from gputrack import export
>>> lab = np.array([[0, 4, 4]], np.uint8)
>>> export.paint_objects(lab, pd.DataFrame({"label": [4], "class": [2]})).tolist()
[[0, 2, 2]]
"""

from .objects import ilastik_table, object_table_csv, paint_objects, write_object_predictions
from .tracking import (
    IMAGE_NAMES,
    result_images,
    tracking_csv,
    tracking_table,
    write_ctc,
    write_result_images,
)

__all__ = [
    "IMAGE_NAMES",
    "ilastik_table",
    "object_table_csv",
    "paint_objects",
    "result_images",
    "tracking_csv",
    "tracking_table",
    "write_ctc",
    "write_object_predictions",
    "write_result_images",
]
