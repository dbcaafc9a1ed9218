"""1-D Gaussian and Gaussian-derivative kernels as ilastik builds them.

ilastik's feature operators (through fastfilters, derived from vigra's ``gaussian.gxx``)
use sampled Gaussians multiplied by the derivative polynomial, truncated at
``radius = floor(window * sigma + 0.5)``, the second-order kernel with its mean removed,
and every kernel normalised by its moments (ilastik-spec.md §1.4, §1.5):

- order 0: ``sum(k) == 1``
- order n: ``sum(k[j] * j**n / n!) == 1`` (so a correlation with the kernel is the n-th
  derivative of a polynomial of degree n).

scipy's own ``gaussian_filter`` kernels are normalised differently and give measurably
different features, so gputrack builds these weights itself and applies them with
``correlate1d(..., mode="mirror")``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

PRESMOOTH_WINDOW = 3.5
"""Truncation ratio of the pre-smoothing Gaussian (ilastik ``window_size_smoother``)."""

FEATURE_WINDOW = 2.0
"""Truncation ratio of the feature operators (ilastik ``window_size_feature``)."""


def kernel_radius(sigma: float, window: float) -> int:
    """Half-width of a truncated kernel: ``floor(window * sigma + 0.5)`` (0 for sigma ~ 0).

    Examples
    --------
    >>> kernel_radius(1.0, 2.0), kernel_radius(0.7, 2.0), kernel_radius(9.95, 3.5)
    (2, 1, 35)
    """
    if abs(sigma) < 1e-6:
        return 0
    return int(math.floor(window * sigma + 0.5))


@functools.lru_cache(maxsize=256)
def _gaussian_weights(sigma: float, order: int, window: float) -> tuple[float, ...]:
    radius = kernel_radius(sigma, window)
    if order > 0:
        # a derivative needs at least one neighbour on each side (radius 0 is degenerate)
        radius = max(radius, 1)
    if radius == 0:
        return (1.0,)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    if order == 0:
        k = g / g.sum()
    elif order == 1:
        k = x * g
        k = k / np.sum(k * x)
    elif order == 2:
        k = (1.0 - (x / sigma) ** 2) * g
        k = k - k.mean()
        k = k / (np.sum(k * x * x) / 2.0)
    else:
        raise ValueError(f"Gaussian derivative order {order}: expected 0, 1 or 2")
    # ilastik stores its kernels in single precision
    return tuple(float(v) for v in k.astype(np.float32))


def gaussian_kernel(sigma: float, order: int = 0, window: float = FEATURE_WINDOW) -> np.ndarray:
    """Correlation weights of a truncated, moment-normalised Gaussian derivative.

    Parameters
    ----------
    sigma
        Standard deviation in pixels (> 0; below 1e-6 gives the identity kernel).
    order
        Derivative order: 0, 1 or 2.
    window
        Truncation ratio; the kernel has ``2 * floor(window * sigma + 0.5) + 1`` taps
        (at least 3 for derivatives).

    Returns
    -------
    numpy.ndarray
        float64 weights ``w`` for ``out[i] = sum_j w[j] * in[i + j - radius]``
        (``scipy.ndimage.correlate1d``). Order 1 estimates ``+d/dx``.

    Examples
    --------
    >>> k = gaussian_kernel(1.0, order=1)
    >>> len(k), round(float((k * np.arange(-2, 3)).sum()), 6)
    (5, 1.0)
    """
    if sigma < 0:
        raise ValueError(f"sigma={sigma}: expected a non-negative scale")
    return np.asarray(_gaussian_weights(float(sigma), int(order), float(window)), dtype=np.float64)
