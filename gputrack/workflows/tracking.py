"""Automatic tracking from files: label or probability frames -> tracks -> exports.

ilastik's (Animal) Conservation Tracking workflow as one call: read the label sequence
(or threshold probabilities), track, write the chosen exports and ``tracking_result.h5``
into one result folder; and exports of a saved result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import InputError

PathLike = str | os.PathLike


def as_frames(array: Any, axes: str, what: str):
    """``t[z]yx`` frames of a sequence (singleton z dropped); InputError without a time axis."""
    from ..io.axes import transpose_axes  # noqa: PLC0415

    if "t" not in axes:
        raise InputError(f"{what}: axes {axes!r} have no time axis; tracking needs a sequence (t first)")
    if "c" in axes:
        if array.shape[axes.index("c")] != 1:
            raise InputError(f"{what}: {array.shape[axes.index('c')]} channels; expected one label channel")
    spatial = "".join(a for a in "zyx" if a in axes and array.shape[axes.index(a)] > 1)
    return transpose_axes(array, axes, "t" + spatial)


def read_frames_of(path: PathLike, axes: str | None, what: str | None = None):
    """Read a sequence file or folder as ``t[z]yx`` frames."""
    from ..io.sequence import read_sequence  # noqa: PLC0415

    array, found = read_sequence(path, axes=axes)
    return as_frames(array, found, str(what or path))


def ome_scales(path: PathLike | None) -> tuple[float, float, float] | None:
    """``(z, y, x)`` pixel size of an OME-Zarr input (ngff-zarr's reader), else None."""
    if path is None or not str(path).lower().rstrip("/").endswith(".ome.zarr"):
        return None
    from ..io.omezarr import tracking_scales  # noqa: PLC0415

    scales = tracking_scales(path)
    return None if scales == (1.0, 1.0, 1.0) else scales


def _scales_zyx(scales: Sequence[float] | None, ndim: int) -> tuple[float, ...] | None:
    """``(z, y, x)`` pixel size from ``(y, x)`` (2D) or ``(z, y, x)``; InputError otherwise.

    >>> _scales_zyx([0.5, 0.5], 2)
    (1.0, 0.5, 0.5)
    """
    if scales is None:
        return None
    scales = tuple(float(s) for s in scales)
    if len(scales) == 2 and ndim == 2:
        return (1.0, *scales)
    if len(scales) == 3:
        return scales
    want = "(y x) or (z y x)" if ndim == 2 else "(z y x)"
    raise InputError(f"--scales: {len(scales)} values for {ndim}D frames; expected {want}")


def track_files(
    out: PathLike,
    *,
    labels: PathLike | None = None,
    probabilities: PathLike | None = None,
    raw: PathLike | None = None,
    params: Any = None,
    exports: str | Sequence[str] = "ctc",
    solver: str = "flow",
    scales: Sequence[float] | None = None,
    frames_per_split: int | None = None,
    n_jobs: int = 1,
    timeout: float | None = None,
    label_axes: str | None = None,
    raw_axes: str | None = None,
    probability_axes: str | None = None,
    threshold: float = 0.5,
    method: str = "simple",
    high_threshold: float = 0.8,
    beta: float = 0.2,
    sigma: float = 1.0,
    channel: int | None = None,
    min_size: int = 10,
    max_size: int = 1_000_000,
    device: str = "auto",
    overwrite: bool = False,
    gt: PathLike | None = None,
    frames: tuple[int, int] | None = None,
    scheduler: str | None = None,
    quiet: bool = False,
    fixed: Sequence[str] | None = None,
    motion: str | None = None,
    division_classifier: Any = None,
    count_classifier: Any = None,
    pictures: bool = False,
) -> dict:
    """Track the frames of ``labels`` (or of ``probabilities`` after a threshold) into ``out``.

    With ``scheduler`` (:mod:`gputrack.distributed`) the ``frames_per_split`` windows are
    solved as Dask tasks (the same result). Without ``scales``, an OME-Zarr input gives its
    physical pixel sizes. Writes the ``exports`` (format names, see :mod:`gputrack.export.formats`) and
    ``tracking_result.h5`` into the folder ``out``. Returns ``{"out", "result", "n_frames",
    "times", "scores"}`` (``scores``: py-ctcmetrics against ``gt`` when given, else ``None``).
    ``channel=None`` follows the channel rule of :mod:`gputrack.workflows.segmentation`;
    ``method`` and ``high_threshold`` select the threshold method (:func:`gputrack.segment.threshold`).
    ``frames`` (``start, stop``) tracks those frames only: times in the tables are the input's
    frame numbers, the CTC result is numbered from 0 and scored against the same frames of ``gt``.

    Defaults (``fixed`` not None, no ``ilastik_compat``): the labels are trusted detections
    unless a count classifier is given, and the parameters of
    :data:`gputrack.tracking.estimate.ESTIMATED` not named in ``fixed`` are estimated from the
    data; ``motion`` "auto" uses the drift model when it lowers the energy. ``fixed=None`` takes
    ``params`` as given. ``division_classifier`` / ``count_classifier`` (files of ``gputrack
    objects train --kind division|count``) give the division and object-count probabilities;
    the count classifier's largest class sets the maximal objects per merger unless ``params``
    asks for more (:mod:`gputrack.workflows.automatic_tracking`). ``pictures`` also writes
    the overlays and the lineage tree (:mod:`gputrack.workflows.pictures`) into ``out``.
    """
    from ..export.formats import export_many, parse_formats  # noqa: PLC0415
    from ..io.atomic import atomic_output, check_writable  # noqa: PLC0415
    from ..io.sequence import read_sequence  # noqa: PLC0415
    from ..tracking.result import save_result  # noqa: PLC0415

    exports = parse_formats(exports) if isinstance(exports, str) else list(exports)
    if timeout is not None and timeout <= 0:
        raise InputError(f"--timeout {timeout}: expected a positive number of seconds")
    if gt and "ctc" not in exports:
        raise InputError("--gt needs --export ctc (the scores are computed on the CTC result)")
    if scheduler and not frames_per_split:
        raise InputError("--scheduler needs --frames-per-split (the windows are the tasks)")
    out = check_writable(out, overwrite)
    if scales is None:
        scales = ome_scales(labels or probabilities)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    if labels:
        label_frames = read_frames_of(labels, label_axes)
    elif probabilities:
        from .segmentation import check_levels, segment_array  # noqa: PLC0415

        check_levels(method, threshold, high_threshold)
        prob, axes = read_sequence(probabilities, axes=probability_axes)
        label_frames, channel = segment_array(
            prob, axes, what=str(probabilities), method=method, threshold=threshold,
            high_threshold=high_threshold, beta=beta, sigma=sigma, channel=channel, min_size=min_size,
            max_size=max_size, device=device,
        )
        label_frames = as_frames(label_frames, axes.replace("c", ""), str(probabilities))
    else:
        raise InputError("give --labels (label frames) or --probabilities (with --threshold)")
    raw_frames = read_frames_of(raw, raw_axes) if raw else None
    start = 0
    if frames:
        start, stop = frames
        if stop > label_frames.shape[0]:
            n = label_frames.shape[0]
            raise InputError(f"--frames {start}:{stop}: {labels or probabilities} has {n} frames")
        label_frames = label_frames[start:stop]
        raw_frames = raw_frames[start:stop] if raw_frames is not None else None
    times["read"] = time.perf_counter() - t0
    scales = _scales_zyx(scales, label_frames.ndim - 1)

    t0 = time.perf_counter()
    result = track_frames(
        label_frames, raw_frames, params=params, solver=solver, scales=scales,
        frames_per_split=frames_per_split, n_jobs=n_jobs, timeout=timeout, scheduler=scheduler,
        quiet=quiet, fixed=fixed, motion=motion, division_classifier=division_classifier,
        count_classifier=count_classifier, start=start, device=device)
    times["track"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    compat = bool(getattr(params, "ilastik_compat", False))
    with atomic_output(out, overwrite=overwrite, directory=True) as tmp:
        # the result file (compression, h5py) is written beside the exports (tifffile), which
        # only read the result: both cores busy
        with ThreadPoolExecutor(max_workers=1) as pool:
            saved = pool.submit(save_result, tmp / "tracking_result.h5", result)
            export_many(result, exports, tmp, raw=raw_frames, ilastik_compat=compat)
            saved.result()
        if pictures:
            from .pictures import result_tracks, write_pictures  # noqa: PLC0415

            write_pictures(tmp, *result_tracks(result), raw=raw_frames)
    times["export"] = time.perf_counter() - t0
    scores = None
    if gt:
        from ..tracking.evaluate import ctc_scores  # noqa: PLC0415

        if frames:
            import tempfile  # noqa: PLC0415

            from ..io.ctc import read_ctc_gt, restrict_ground_truth  # noqa: PLC0415

            with tempfile.TemporaryDirectory() as tmp:
                part = restrict_ground_truth(read_ctc_gt(gt), start, start + label_frames.shape[0],
                                             Path(tmp) / "01_GT")
                scores = ctc_scores(out, part)
        else:
            scores = ctc_scores(out, gt)
    return {"out": out, "result": result, "n_frames": int(label_frames.shape[0]), "times": times,
            "scores": scores}


def track_frames(
    label_frames: Any,
    raw_frames: Any = None,
    *,
    params: Any = None,
    solver: str = "flow",
    scales: Sequence[float] | None = None,
    frames_per_split: int | None = None,
    n_jobs: int = 1,
    timeout: float | None = None,
    scheduler: str | None = None,
    quiet: bool = False,
    fixed: Sequence[str] | None = None,
    motion: str | None = None,
    division_classifier: Any = None,
    count_classifier: Any = None,
    start: int = 0,
    device: str = "auto",
):
    """Track label frames ``(t, [z,] y, x)`` in memory as ``gputrack track`` does; the result.

    What :func:`track_files` runs between reading and exporting (the napari plugin calls it on
    its layers): classifier priors, data-driven defaults and the motion model. ``fixed`` (names
    of :data:`gputrack.tracking.estimate.ESTIMATED` parameters the user set) switches the
    data-driven defaults on, ``None`` takes ``params`` as given; ``scales`` are ``(z, y, x)``;
    ``start`` is the time of the first frame.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((3, 20, 20), np.uint16); lab[:, 5:9, 5:9] = 1
    >>> track_frames(lab, fixed=()).lineage["track_id"].tolist()
    [1, 1, 1]
    """
    from ..tracking import TrackingParameters  # noqa: PLC0415
    from ..tracking.pipeline import track_labels  # noqa: PLC0415

    if scheduler:
        from .. import distributed  # noqa: PLC0415

        track_labels = partial(distributed.track_labels, scheduler=scheduler, quiet=quiet)  # noqa: F811
    params = params if params is not None else TrackingParameters()
    priors = {}
    if division_classifier is not None or count_classifier is not None:
        from .automatic_tracking import classifier_probabilities  # noqa: PLC0415

        priors = classifier_probabilities(label_frames, raw_frames, division=division_classifier,
                                          count=count_classifier, scales=scales, start=start, device=device)
        k = priors.pop("max_objects")
        if k is not None and k > params.max_objects:
            params = params.replace(max_objects=k)
    data_driven = fixed is not None and not params.ilastik_compat
    return track_labels(
        label_frames,
        raw_frames,
        params=params,
        solver=solver,
        scales=scales,
        frames_per_split=frames_per_split,
        n_jobs=n_jobs,
        timeout=timeout,
        estimate=data_driven,
        fixed=tuple(fixed or ()),
        motion=motion or ("auto" if data_driven and not frames_per_split else "none"),
        keep_detections=data_driven and priors.get("count_probabilities") is None and params.max_objects == 1,
        start=start,
        **priors,
    )


def export_saved(
    result_path: PathLike,
    formats: str | Sequence[str],
    out: PathLike,
    *,
    raw: PathLike | None = None,
    raw_axes: str | None = None,
    bdv_xml: PathLike | None = None,
    ilastik_compat: bool = False,
    overwrite: bool = False,
) -> list[Path]:
    """Export a saved tracking result (``tracking_result.h5``) in one or more formats."""
    from ..export.formats import ILASTIK_COMPAT, export_many, export_result, parse_formats  # noqa: PLC0415
    from ..tracking.result import load_result  # noqa: PLC0415

    formats = parse_formats(formats) if isinstance(formats, str) else list(formats)
    result = load_result(result_path)
    raw_frames = read_frames_of(raw, raw_axes) if raw else None
    if bdv_xml and formats != ["mamut"]:
        raise InputError("--bdv-xml: only with --format mamut")
    if len(formats) == 1:
        options: dict[str, Any] = {"bdv_xml": bdv_xml} if bdv_xml else {}
        if ilastik_compat and formats[0] in ILASTIK_COMPAT:
            options["ilastik_compat"] = True
        return export_result(result, formats[0], out, overwrite=overwrite, raw=raw_frames, **options)
    return export_many(result, formats, out, overwrite=overwrite, raw=raw_frames,
                       ilastik_compat=ilastik_compat)
