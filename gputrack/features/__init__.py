"""ilastik pixel features: six filter families, any scales, 2D / 3D / in-2D, CPU and GPU.

>>> import numpy as np
>>> from gputrack import features
>>> img = np.zeros((32, 32), np.float32)
>>> data, names = features.compute(img, {"GaussianSmoothing": [1.0]}, device="cpu")
>>> data.shape, names
((32, 32, 1), ['Gaussian Smoothing (σ=1.0) in 2D'])
"""

from .blockwise import feature_names, halo_for, iter_feature_blocks
from .compute import Features, compute
from .eigen import symmetric_eigenvalues
from .filters import feature_stack, operator_sigma, presmooth_sigma
from .kernels import gaussian_kernel, kernel_radius
from .selection import (
    DEFAULT_SCALES,
    DISPLAY_NAMES,
    FEATURE_IDS,
    FeatureSelection,
    channel_names,
    feature_id,
    normalize_selection,
)

__all__ = [
    "DEFAULT_SCALES",
    "DISPLAY_NAMES",
    "FEATURE_IDS",
    "FeatureSelection",
    "Features",
    "channel_names",
    "compute",
    "feature_id",
    "feature_names",
    "feature_stack",
    "gaussian_kernel",
    "halo_for",
    "iter_feature_blocks",
    "kernel_radius",
    "normalize_selection",
    "operator_sigma",
    "presmooth_sigma",
    "symmetric_eigenvalues",
]
