"""Thresholding from files: probabilities or a mask -> a label image or mask frames.

ilastik's ThresholdTwoLevels applet as a file-to-file step: read a sequence, smooth,
threshold (simple, hysteresis, graph cut or watershed), size filter, label, write.

The channel rule (``channel=None``), the same for ``segment`` and ``track
--probabilities``: a single-channel input (a mask, one probability map) uses channel 0; an
input with two or more channels (pixel-classification probabilities) uses channel 1, the
second class, since the first class is the background in ilastik's and gputrack's
conventions (label 1 = background scribbles).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from .. import backend
from ..errors import InputError

PathLike = str | os.PathLike


def default_channel(shape: tuple[int, ...], axes: str) -> int:
    """The channel of the objects when none is given (see the module notes).

    >>> default_channel((10, 10, 2), "yxc"), default_channel((10, 10), "yx")
    (1, 0)
    """
    if "c" not in axes or shape[axes.index("c")] < 2:
        return 0
    return 1


def check_levels(method: str, threshold: float, high_threshold: float) -> None:
    """Refuse a core threshold below the threshold for the two-level methods (one line)."""
    if method in ("hysteresis", "watershed") and high_threshold < threshold:
        raise InputError(
            f"--high-threshold {high_threshold} is below --threshold {threshold}: {method} grows "
            "cores above the high threshold down to the low one; expected high >= low"
        )


def check_finite(image: Any, what: str) -> None:
    """Warn (one line) when ``image`` holds NaN or Inf values, which threshold as background."""
    import logging  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    arr = np.asarray(image)
    if arr.dtype.kind == "f":
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            logging.getLogger("gputrack").warning(
                "%s: %d NaN/Inf values (%.2g%% of the pixels) count as background",
                what, bad, 100 * bad / arr.size,
            )


def write_labels(out: Path, labels: Any, axes: str, overwrite: bool) -> None:
    """Labels to an image file (by suffix), or to a folder of ``maskTTT.tif`` frames."""
    from ..io.axes import transpose_axes  # noqa: PLC0415
    from ..io.ctc import write_frames  # noqa: PLC0415
    from ..io.images import WRITE_SUFFIXES, write_image  # noqa: PLC0415

    out = Path(out)
    if "".join(out.suffixes[-2:]).lower() in WRITE_SUFFIXES or out.suffix.lower() in WRITE_SUFFIXES:
        write_image(out, labels, axes=axes, overwrite=overwrite)
        return
    frames = labels if "t" in axes else labels[None]
    frame_axes = axes if "t" in axes else "t" + axes
    frames = transpose_axes(frames, frame_axes, "t" + "".join(a for a in "zyx" if a in frame_axes))
    if frames.max(initial=0) > 65535:
        raise InputError(
            f"{out}: {int(frames.max())} objects do not fit uint16 mask frames; write .h5 or .tif"
        )
    write_frames(out, frames.astype("uint16"), prefix="mask", overwrite=overwrite)


def segment_file(
    input: PathLike,
    out: PathLike,
    *,
    dataset: str | None = None,
    axes: str | None = None,
    method: str = "simple",
    threshold: float = 0.5,
    high_threshold: float = 0.8,
    beta: float = 0.2,
    sigma: float | tuple[float, ...] = 1.0,
    channel: int | None = None,
    core_channel: int | None = None,
    min_size: int = 10,
    max_size: int = 1_000_000,
    device: str = "auto",
    overwrite: bool = False,
) -> dict:
    """Threshold and size-filter the image or frames at ``input``; write labels to ``out``.

    ``channel=None`` follows the channel rule of the module notes. Returns ``{"out",
    "shape", "axes", "channel", "seconds"}`` (``seconds`` of the thresholding).
    """
    from ..io.atomic import check_writable  # noqa: PLC0415
    from ..io.sequence import read_sequence  # noqa: PLC0415

    check_levels(method, threshold, high_threshold)
    out = check_writable(out, overwrite)
    image, axes = read_sequence(input, dataset=dataset, axes=axes)
    t0 = time.perf_counter()
    labels, channel = segment_array(
        image, axes, what=str(input), method=method, threshold=threshold, high_threshold=high_threshold,
        beta=beta, sigma=sigma, channel=channel, core_channel=core_channel, min_size=min_size,
        max_size=max_size, device=device,
    )
    seconds = time.perf_counter() - t0
    write_labels(out, labels, axes.replace("c", ""), overwrite)
    return {"out": out, "shape": image.shape, "axes": axes, "channel": channel, "seconds": seconds}


def segment_array(
    image: Any,
    axes: str,
    *,
    what: str = "image",
    method: str = "simple",
    threshold: float = 0.5,
    high_threshold: float = 0.8,
    beta: float = 0.2,
    sigma: float | tuple[float, ...] = 1.0,
    channel: int | None = None,
    core_channel: int | None = None,
    min_size: int = 10,
    max_size: int = 1_000_000,
    device: str = "auto",
):
    """Threshold and size-filter an image or frames in memory as ``gputrack segment`` does.

    What :func:`segment_file` runs on what it read (the napari threshold widget calls it on a
    layer): the levels checked, NaN/Inf reported (``what`` names the input), the channel rule.
    Returns ``(labels, channel)``, the labels on the host with ``axes`` less ``c``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((20, 20), np.float32); img[3:8, 3:8] = 1; img[12:18, 12:18] = 1
    >>> labels, channel = segment_array(img, "yx", threshold=0.5, sigma=0.0, min_size=5)
    >>> int(labels.max()), channel
    (2, 0)
    """
    from ..segment import threshold as threshold_image  # noqa: PLC0415

    check_levels(method, threshold, high_threshold)
    check_finite(image, what)
    if channel is None:
        channel = default_channel(image.shape, axes)
    labels = threshold_image(
        image,
        method=method,
        threshold=threshold,
        high_threshold=high_threshold,
        beta=beta,
        sigma=sigma,
        channel=channel,
        core_channel=core_channel,
        min_size=min_size,
        max_size=max_size,
        axes=axes,
        device=device,
    )
    return backend.to_host(labels), channel
