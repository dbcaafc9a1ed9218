"""Anisotropic Gaussian pre-smoothing of the Threshold and Size Filter applet.

ilastik (``OpAnisotropicGaussianSmoothing5d``) smooths every channel of every time frame
with vigra's ``gaussianSmoothing``: one sigma per spatial axis, kernel radius
``int(2.0 * sigma + 0.5)`` (window ratio 2), reflective borders without repeating the edge
pixel (scipy's ``mode="mirror"``), float32. Singleton axes are dropped (2D data is
smoothed in 2D). **If the sigma of any non-singleton axis is below 0.1, nothing is
smoothed at all** -- the whole step is bypassed, not just that axis.

Examples
--------
>>> import numpy as np
>>> img = np.zeros((9, 9), np.float32); img[4, 4] = 1
>>> round(float(smooth(img, 1.0, device="cpu").sum()), 5)  # kernel radius int(2 * 1.0 + 0.5) = 2
1.0
>>> bool((smooth(img, (1.0, 0.05), device="cpu") == img).all())  # one sigma < 0.1: no smoothing
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend
from ..errors import InputError
from ..features.correlate import correlate1d_ordered
from ..io.axes import guess_axes, normalize_axes, transpose_axes

TRUNCATE = 2.0
"""Kernel truncation in sigmas (vigra window ratio used by ilastik's thresholding)."""

MIN_SIGMA = 0.1
"""A sigma below this on any non-singleton axis disables smoothing."""


def spatial_sigmas(sigma: float | Sequence[float], spatial_shape: Sequence[int]) -> tuple[float, ...] | None:
    """Per-axis sigmas for a ``(z, y, x)`` volume, or ``None`` when smoothing is off.

    Parameters
    ----------
    sigma
        One value for all axes, or one per spatial axis of the image in ``z, y, x`` order
        (2 values for ``y, x`` or 3 for ``z, y, x``; for 2D data a ``z`` value is ignored).
    spatial_shape
        Shape ``(z, y, x)`` of one frame.

    Returns
    -------
    tuple of float or None
        Sigmas ``(z, y, x)`` with 0 on singleton axes, or ``None`` when any
        non-singleton axis has a sigma below :data:`MIN_SIGMA`.

    Examples
    --------
    >>> spatial_sigmas(1.0, (1, 64, 64))
    (0.0, 1.0, 1.0)
    >>> spatial_sigmas((0.05, 1.0, 1.0), (1, 64, 64))  # z is singleton: ignored
    (0.0, 1.0, 1.0)
    >>> spatial_sigmas((2.0, 0.0, 1.0), (8, 64, 64)) is None
    True
    """
    if isinstance(sigma, (int, float)):
        sig = (float(sigma),) * 3
    else:
        sig = tuple(float(s) for s in sigma)
        if len(sig) == 2:
            sig = (0.0,) + sig
        if len(sig) != 3:
            raise InputError(f"sigma: expected one value or one per spatial axis (z, y, x), got {sigma!r}")
    if any(s < 0 for s in sig):
        raise InputError(f"sigma: expected values >= 0, got {sigma!r}")
    active = [n > 1 for n in spatial_shape]
    if any(a and s < MIN_SIGMA for a, s in zip(active, sig)):
        return None
    return tuple(s if a else 0.0 for a, s in zip(active, sig))


def smooth_volume(volume: Any, sigmas: tuple[float, ...] | None) -> Any:
    """Smooth one ``(z, y, x)`` float32 volume (numpy or cupy) with :func:`spatial_sigmas` output."""
    if sigmas is None:
        return volume
    if backend.device_of(volume) == "cpu":
        import scipy.ndimage as ndi  # noqa: PLC0415

        return ndi.gaussian_filter(volume, sigmas, mode="mirror", truncate=TRUNCATE, output=volume.dtype)
    # cupyx's gaussian_filter would sum a float32 volume in float32 and move thresholds'
    # pixels; the passes here are scipy's kernels with double accumulation, as on the CPU
    out = volume
    for axis, sg in enumerate(sigmas):
        if sg > 1e-15:
            out = correlate1d_ordered(out, scipy_gaussian_weights(sg), axis).astype(volume.dtype, copy=False)
    return out


def scipy_gaussian_weights(sigma: float, truncate: float = TRUNCATE) -> np.ndarray:
    """The weights of ``scipy.ndimage.gaussian_filter1d(sigma, truncate=truncate)`` (order 0).

    Examples
    --------
    >>> scipy_gaussian_weights(1.0).size  # radius int(2 * 1.0 + 0.5) = 2
    5
    """
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (float(sigma) * float(sigma)) * x**2)
    return phi / phi.sum()


def smooth(
    image: Any,
    sigma: float | Sequence[float] = 1.0,
    *,
    axes: str | None = None,
    device: str | None = "auto",
) -> Any:
    """Smooth every channel of every frame as ilastik's threshold applet does.

    Parameters
    ----------
    image
        Image with axes from ``tzyxc`` (numpy or cupy).
    sigma
        One sigma, or one per spatial axis in ``z, y, x`` order; see :func:`spatial_sigmas`.
    axes
        Axis string; default guessed from the shape.
    device
        ``"auto"``, ``"cpu"`` or ``"gpu"``.

    Returns
    -------
    array of float32
        Same shape as ``image``, on ``device``.

    Examples
    --------
    >>> import numpy as np
    >>> smooth(np.ones((4, 4)), 1.0, device="cpu").dtype
    dtype('float32')
    """
    dev = backend.resolve_device(device)
    xp = backend.array_module(dev)
    ax = guess_axes(image.shape) if axes is None else normalize_axes(axes, image.shape, "image")
    data = backend.to_device(transpose_axes(image, ax, "tzyxc"), dev, dtype=xp.float32)
    sig = spatial_sigmas(sigma, data.shape[1:4])
    out = xp.empty_like(data)
    for t in range(data.shape[0]):
        for c in range(data.shape[4]):
            vol = xp.ascontiguousarray(data[t, :, :, :, c])
            out[t, :, :, :, c] = smooth_volume(vol, sig)
    return transpose_axes(out, "tzyxc", ax)
