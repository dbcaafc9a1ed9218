"""Objects: feature tables computed on the device, division features, priors, classifiers.

Examples
--------
>>> import numpy as np
>>> from gputrack import objects
>>> lab = np.zeros((8, 8), np.uint32); lab[2:5, 2:6] = 1
>>> objects.features(None, lab, ["Count"], device="cpu")["Count"].tolist()
[12.0]
"""

from .classify import (
    DIVISION_FEATURES,
    OBJECT_COUNT_FEATURES,
    ObjectClassifier,
    count_prior,
    division_prior,
    load_classifier,
    predict,
    save_classifier,
    train,
)
from .division import division_features, sequence_division_features
from .features import DEFAULT_FEATURES, DISPLAY_NAMES, FEATURES, csv_column, features
from .regions import RegionMoments, compact_labels, region_moments

__all__ = [
    "DIVISION_FEATURES",
    "OBJECT_COUNT_FEATURES",
    "ObjectClassifier",
    "count_prior",
    "division_features",
    "division_prior",
    "predict",
    "sequence_division_features",
    "train",
    "save_classifier",
    "load_classifier",
    "DEFAULT_FEATURES",
    "DISPLAY_NAMES",
    "FEATURES",
    "RegionMoments",
    "compact_labels",
    "csv_column",
    "features",
    "region_moments",
]
