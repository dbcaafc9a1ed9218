"""Exports: object tables as CSV and object class images (more formats join here).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from gputrack import export
>>> lab = np.array([[0, 4, 4]], np.uint8)
>>> export.paint_objects(lab, pd.DataFrame({"label": [4], "class": [2]})).tolist()
[[0, 2, 2]]
"""

from .objects import ilastik_table, object_table_csv, paint_objects, write_object_predictions

__all__ = ["ilastik_table", "object_table_csv", "paint_objects", "write_object_predictions"]
