"""Objects: feature tables computed on the device, division features, priors, classifiers.

Examples
--------
>>> import numpy as np
>>> from gputrack import objects
>>> lab = np.zeros((8, 8), np.uint32); lab[2:5, 2:6] = 1
>>> objects.features(None, lab, ["Count"], device="cpu")["Count"].tolist()
[12.0]
"""

from .features import DEFAULT_FEATURES, DISPLAY_NAMES, FEATURES, csv_column, features
from .regions import RegionMoments, compact_labels, region_moments

__all__ = [
    "DEFAULT_FEATURES",
    "DISPLAY_NAMES",
    "FEATURES",
    "RegionMoments",
    "compact_labels",
    "csv_column",
    "features",
    "region_moments",
]
