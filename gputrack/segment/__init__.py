"""Threshold and size filter (ilastik's "Threshold and Size Filter" applet) and labelling.

Examples
--------
>>> import numpy as np
>>> from gputrack import segment
>>> prob = np.zeros((20, 20), np.float32)
>>> prob[2:8, 2:8] = 0.9
>>> lab = segment.threshold(prob, threshold=0.5, sigma=0, min_size=10, device="cpu")
>>> int(lab.max()), int((lab == 1).sum())
(1, 36)
"""

from .labeling import filter_sizes, label, label_volume, select_labels, size_filter
from .smoothing import smooth
from .threshold import threshold

__all__ = ["filter_sizes", "label", "label_volume", "select_labels", "size_filter", "smooth", "threshold"]
