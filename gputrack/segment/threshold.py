"""ilastik's "Threshold and Size Filter": smoothing, a threshold method, size filter.

Semantics (ilastik ``opThresholdTwoLevels``, spec section 2), per time frame:

1. float32; with ``drange=(lo, hi)`` values are normalised by ``(v - lo) / (hi - lo)``.
2. Gaussian smoothing of each used channel (:mod:`gputrack.segment.smoothing`; any sigma
   below 0.1 on a non-singleton axis switches smoothing off).
3. ``"simple"``: foreground = ``smoothed[channel] >= threshold`` (inclusive).
   ``"hysteresis"``: cores = ``smoothed[core_channel] >= high_threshold``, labelled and
   size-filtered with the same limits; foreground = components of
   ``final >= threshold`` that contain at least one pixel of a surviving core, where
   ``final`` is ``smoothed[channel]``, or ``smoothed[channel] + smoothed[core_channel]``
   when the two channels differ (ilastik sums them).
   ``"watershed"`` (ilastik's "don't merge objects", method 3): the same cores, grown by a
   seeded watershed over ``final`` down to ``threshold``, so touching objects with
   separate cores stay apart (:mod:`gputrack.segment.watershed`).
   ``"graphcut"`` (method 2): ``smoothed[channel]`` rescaled so that ``threshold`` maps to
   0.5, foreground = the minimiser of a binary Potts energy with weight ``beta``
   (:mod:`gputrack.segment.graphcut`).
4. Face-connected components (4 in 2D, 6 in 3D), then the size filter: an object is kept
   iff ``min_size <= pixel count <= max_size``.
5. Labels are ``uint32``, consecutive from 1 in raster order of first occurrence
   (see :mod:`gputrack.segment.labeling`), identical on CPU and GPU.

Boolean masks skip steps 1-3 (they are already foreground). Label images from elsewhere
go through :func:`gputrack.segment.size_filter` directly.

Examples
--------
>>> import numpy as np
>>> img = np.zeros((1, 12), np.float32)
>>> img[0, 1:4] = 0.5; img[0, 6:9] = 0.3; img[0, 8] = 0.9
>>> threshold(img, threshold=0.5, sigma=0, min_size=1, device="cpu")
array([[0, 1, 1, 1, 0, 0, 0, 0, 2, 0, 0, 0]], dtype=uint32)
>>> threshold(img, method="hysteresis", threshold=0.25, high_threshold=0.8, sigma=0,
...           min_size=1, device="cpu")
array([[0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0]], dtype=uint32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import backend
from ..errors import InputError
from ..io.axes import guess_axes, normalize_axes, transpose_axes
from .graphcut import cut, rescale
from .labeling import filter_sizes, label_volume, select_labels
from .smoothing import smooth_volume, spatial_sigmas
from .watershed import flood, inverted

METHODS = ("simple", "hysteresis", "graphcut", "watershed")
"""Threshold methods; ``ILASTIK_METHODS`` maps ilastik's ``CurOperator`` numbers to them."""

ILASTIK_METHODS = {0: "simple", 1: "hysteresis", 2: "graphcut", 3: "watershed"}


def threshold(
    image: Any,
    *,
    method: str = "simple",
    threshold: float = 0.5,
    high_threshold: float = 0.8,
    beta: float = 0.2,
    sigma: float | Sequence[float] = 1.0,
    channel: int = 0,
    core_channel: int | None = None,
    min_size: int = 10,
    max_size: int | None = 1_000_000,
    drange: tuple[float, float] | None = None,
    axes: str | None = None,
    device: str | None = "auto",
) -> Any:
    """Segment an image (typically a probability map) into labelled objects.

    Parameters
    ----------
    image
        Image with axes from ``tzyxc`` (numpy or cupy), e.g. ``yx``, ``yxc``, ``tzyxc``.
    method
        ``"simple"``, ``"hysteresis"`` (ilastik's "two-level"), ``"graphcut"`` (a Potts
        graph cut around ``threshold``) or ``"watershed"`` (ilastik's "don't merge
        objects": cores grown by a seeded watershed).
    threshold
        Threshold of the final image (ilastik's LowThreshold); ``value >= threshold`` is
        foreground.
    high_threshold
        Core threshold for ``"hysteresis"`` and ``"watershed"``.
    beta
        Weight of the Potts term of ``"graphcut"`` (ilastik's default 0.2), >= 0.
    sigma
        Smoothing sigma, one value or one per spatial axis (``z, y, x``); default 1.0
        as in ilastik. Any value < 0.1 (on a non-singleton axis) disables smoothing.
    channel, core_channel
        Channel of the final threshold and of the cores (``core_channel`` defaults to
        ``channel``).
    min_size, max_size
        Inclusive size limits in pixels (ilastik defaults 10 and 1,000,000);
        ``max_size=None`` is unlimited.
    drange
        Value range ``(lo, hi)`` of the data, normalised to ``[0, 1]`` when given.
    axes
        Axis string; default guessed from the shape (:func:`gputrack.io.axes.guess_axes`).
    device
        ``"auto"``, ``"cpu"`` or ``"gpu"``.

    Returns
    -------
    array of uint32
        Labels with the axes of ``image`` minus ``c``, on ``device``.

    Raises
    ------
    InputError
        Unknown method, channel out of range, negative sizes, or a threshold outside
        ``[0, 1]`` on a floating-point image whose values lie in ``[0, 1]`` (a probability
        map, where such a threshold selects nothing or everything).

    Examples
    --------
    >>> import numpy as np
    >>> prob = np.zeros((10, 10, 2), np.float32); prob[2:5, 2:5, 1] = 1.0
    >>> lab = threshold(prob, channel=1, sigma=0, min_size=9, axes="yxc", device="cpu")
    >>> lab.shape, int(lab.max())
    ((10, 10), 1)
    """
    if method not in METHODS:
        raise InputError(f"threshold method {method!r}: expected one of {', '.join(METHODS)}")
    if min_size < 0 or (max_size is not None and max_size < min_size):
        raise InputError(f"size filter: expected 0 <= min_size <= max_size, got {min_size}, {max_size}")
    if method == "graphcut" and not (beta >= 0 and 0 < threshold < 1):
        raise InputError(f"graph cut: expected beta >= 0 and 0 < threshold < 1, got beta {beta}, "
                         f"threshold {threshold}")
    dev = backend.resolve_device(device)
    xp = backend.array_module(dev)
    ax = guess_axes(image.shape) if axes is None else normalize_axes(axes, image.shape, "image")
    data = backend.to_device(transpose_axes(image, ax, "tzyxc"), dev)  # once, before any reduction
    n_channels = data.shape[4]
    core = channel if core_channel is None else core_channel
    for name, c in (("channel", channel), ("core_channel", core)):
        if not 0 <= c < n_channels:
            raise InputError(
                f"image: {name}={c} but axis 'c' has {n_channels} channel(s); expected 0..{n_channels - 1}"
            )
    is_mask = data.dtype == bool
    if not is_mask:
        _check_threshold(data, xp, drange, threshold, high_threshold, method)
    sig = spatial_sigmas(sigma, data.shape[1:4])
    out = xp.zeros(data.shape[:4], dtype=xp.uint32)
    for t in range(data.shape[0]):
        frame = data[t]
        if is_mask:
            lab, n = label_volume(frame[..., channel], dev)
        else:
            lab, n = _threshold_frame(
                frame, xp, method, threshold, high_threshold, sig, channel, core, min_size, max_size, drange,
                beta,
            )
        out[t] = filter_sizes(lab, n, min_size, max_size)
    out_axes = ax.replace("c", "")
    return transpose_axes(out, "tzyx", out_axes)


def _check_threshold(data: Any, xp: Any, drange, low: float, high: float, method: str) -> None:
    if drange is not None:
        lo, hi = (float(v) for v in drange)
        if not hi > lo:
            raise InputError(f"drange: expected lo < hi, got {drange!r}")
        probability_like = True
    else:
        probability_like = data.dtype.kind == "f" and data.size > 0
        if probability_like:
            probability_like = float(xp.nanmin(data)) >= 0.0 and float(xp.nanmax(data)) <= 1.0
    if not probability_like:
        return
    two_level = method in ("hysteresis", "watershed")
    checks = [("threshold", low)] + ([("high_threshold", high)] if two_level else [])
    for name, value in checks:
        if not 0.0 <= value <= 1.0:
            raise InputError(
                f"image: {name}={value} is outside [0, 1], the range of this probability map; "
                "expected a value in [0, 1]"
            )


def _threshold_frame(frame, xp, method, low, high, sig, channel, core, min_size, max_size, drange, beta):
    """Labels of one ``(z, y, x, c)`` frame before the final size filter."""

    def smoothed(c: int) -> Any:
        vol = xp.ascontiguousarray(frame[..., c], dtype=xp.float32)
        if drange is not None:
            lo, hi = (float(v) for v in drange)
            vol = ((vol - xp.float32(lo)) / xp.float32(hi - lo)).astype(xp.float32)
        return smooth_volume(vol, sig)

    final = smoothed(channel)
    if method == "simple":
        return label_volume(final >= xp.float32(low))
    if method == "graphcut":
        return label_volume(cut(rescale(final, low), beta))
    core_img = final if core == channel else smoothed(core)
    if core != channel:
        final = final + core_img
    cores, n_cores = label_volume(core_img >= xp.float32(high))
    cores = filter_sizes(cores, n_cores, min_size, max_size)
    if method == "watershed":
        cost, stop = inverted(final, low)
        return label_volume(flood(cost, cores, stop))
    lab, n = label_volume(final >= xp.float32(low))
    touched = xp.zeros(n + 1, dtype=bool)
    touched[lab[cores > 0]] = True
    lab = select_labels(lab, touched)
    return lab, int(touched[1:].sum())
