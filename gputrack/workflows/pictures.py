"""Pictures of a tracking result: overlays of chosen frames and the lineage tree, as files.

A saved result (``tracking_result.h5``) or a CTC result folder (``maskTTT.tif`` +
``res_track.txt``) -> track-id masks and track table -> ``overlay_tTTTT.png`` for each
chosen frame and ``lineage.png`` (or ``.pdf`` / ``.svg``), drawn by
:mod:`gputrack.export.render`. ``gputrack render`` writes them into a folder of their own,
``gputrack track --pictures`` and the demo next to their result.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

PathLike = str | os.PathLike

TREE_FORMATS = ("png", "pdf", "svg")
"""File formats of the lineage tree (overlays are always PNG)."""

DEFAULT_FRAMES = 5
"""Overlays drawn when no frames are chosen: this many, evenly spaced over the sequence."""


def result_tracks(result) -> tuple[list[np.ndarray], pd.DataFrame, list[int]]:
    """Track-id masks, CTC track table and frame numbers of a :class:`~gputrack.tracking.TrackingResult`.

    Frame numbers are the result's times (``start``, ``start + 1``, ...), also in the table.
    """
    from ..tracking.lineage import relabel, track_table  # noqa: PLC0415

    frames = result.frames()
    masks = relabel(result.solution, frames, by="track", start=result.start)
    return masks, track_table(result.lineage), list(range(result.start, result.start + len(masks)))


def read_tracks_of(path: PathLike) -> tuple[list[np.ndarray] | np.ndarray, pd.DataFrame, list[int]]:
    """Masks, track table and frame numbers of a ``tracking_result.h5`` or a CTC result folder."""
    from ..io.ctc import list_frames, read_frames, read_tracks  # noqa: PLC0415
    from ..tracking.result import load_result  # noqa: PLC0415

    path = Path(path)
    if path.is_dir():
        if not (path / "res_track.txt").is_file():
            raise InputError(f"{path}: a folder without res_track.txt; expected a tracking_result.h5 "
                             "or a CTC result folder (maskTTT.tif + res_track.txt)")
        numbers = [n for n, _ in list_frames(path, prefix="mask")]
        return read_frames(path, prefix="mask"), read_tracks(path / "res_track.txt"), numbers
    return result_tracks(load_result(path))


def choose_frames(numbers: Sequence[int], frames: Sequence[int] | None, what: str = "result") -> list[int]:
    """Indices of the chosen frame numbers (default: :data:`DEFAULT_FRAMES` evenly spaced).

    >>> choose_frames(range(10, 20), None)
    [0, 2, 4, 7, 9]
    >>> choose_frames(range(10, 20), [12])
    [2]
    """
    numbers = list(numbers)
    if not numbers:
        raise InputError(f"{what}: no frames to draw")
    if frames is None:
        picks = np.linspace(0, len(numbers) - 1, min(DEFAULT_FRAMES, len(numbers))).round().astype(int)
        return sorted(set(picks.tolist()))
    index = {n: k for k, n in enumerate(numbers)}
    bad = [int(f) for f in frames if int(f) not in index]
    if bad:
        raise InputError(f"--frames {' '.join(map(str, bad))}: not in the {what}; its frames are "
                         f"{numbers[0]} to {numbers[-1]}")
    return sorted({index[int(f)] for f in frames})


def check_raw(raw: np.ndarray, masks, what: str) -> None:
    """InputError unless the raw frames have the masks' frame count and frame shape."""
    shape = np.shape(masks[0])
    if len(raw) != len(masks) or raw.shape[1:] != shape:
        raise InputError(f"{what}: raw frames {tuple(raw.shape)}; expected {len(masks)} frames of "
                         f"{shape} like the tracking result")


def read_raw(path: PathLike, axes: str | None, masks) -> np.ndarray:
    """Raw frames ``t[z]yx`` for the masks; a stack without known axes is read as frames first."""
    from ..io.sequence import read_sequence  # noqa: PLC0415
    from .tracking import as_frames  # noqa: PLC0415

    array, found = read_sequence(path, axes=axes)
    if axes is None and "t" not in found and array.ndim == np.ndim(masks[0]) + 1 and len(array) == len(masks):
        found = "t" + "zyx"[-(array.ndim - 1):]
    frames = as_frames(array, found, str(path))
    check_raw(frames, masks, str(path))
    return frames


def write_pictures(
    folder: PathLike,
    masks,
    tracks: pd.DataFrame,
    numbers: Sequence[int],
    *,
    raw: np.ndarray | None = None,
    frames: Sequence[int] | None = None,
    tail: int = 10,
    tree_format: str = "png",
    min_side: int | None = None,
) -> list[Path]:
    """Write the overlays of the chosen ``frames`` and the lineage tree into ``folder``.

    ``folder`` is written directly (callers pass the temporary folder of an
    :func:`~gputrack.io.atomic.atomic_output`). ``frames`` are frame numbers (values of
    ``numbers``); see :func:`choose_frames`. Returns the written paths.
    """
    from ..export.render import MIN_SIDE, lineage_figure, overlay_figure  # noqa: PLC0415

    if tree_format not in TREE_FORMATS:
        raise InputError(f"--format {tree_format}: expected one of {', '.join(TREE_FORMATS)}")
    picks = choose_frames(numbers, frames)
    if raw is not None:
        check_raw(raw, masks, "--raw")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digits = max(4, len(str(max(numbers))))
    written = []
    for k in picks:
        fig = overlay_figure(masks, k, raw=raw, numbers=numbers, tail=tail, min_side=min_side or MIN_SIDE)
        path = folder / f"overlay_t{numbers[k]:0{digits}d}.png"
        fig.savefig(path, dpi=fig.dpi)
        written.append(path)
    path = folder / f"lineage.{tree_format}"
    lineage_figure(tracks).savefig(path, dpi=100)
    written.append(path)
    return written


def render_file(
    result: PathLike,
    out: PathLike,
    *,
    raw: PathLike | None = None,
    raw_axes: str | None = None,
    frames: Sequence[int] | None = None,
    tail: int = 10,
    tree_format: str = "png",
    min_side: int | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Pictures of a ``tracking_result.h5`` or CTC result folder into the folder ``out``.

    Everything is checked (result readable, frames in range, raw frames matching) before
    anything is written; the folder is written atomically, and with ``overwrite`` only the
    picture files are replaced (other files in ``out`` are kept).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from gputrack.tracking.pipeline import track_labels
    >>> from gputrack.tracking.result import save_result
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> lab = np.zeros((3, 20, 20), np.uint16); lab[:, 5:9, 5:9] = 1
    >>> save_result(d / "r.h5", track_labels(lab))
    >>> [p.name for p in render_file(d / "r.h5", d / "pics")]
    ['overlay_t0000.png', 'overlay_t0001.png', 'overlay_t0002.png', 'lineage.png']
    """
    from ..io.atomic import atomic_output, check_writable  # noqa: PLC0415

    if tree_format not in TREE_FORMATS:
        raise InputError(f"--format {tree_format}: expected one of {', '.join(TREE_FORMATS)}")
    final = check_writable(out, overwrite)
    masks, tracks, numbers = read_tracks_of(result)
    choose_frames(numbers, frames, str(result))
    raw_frames = None if raw is None else read_raw(raw, raw_axes, masks)
    with atomic_output(final, overwrite=overwrite, directory=True) as tmp:
        names = [p.name for p in write_pictures(tmp, masks, tracks, numbers, raw=raw_frames, frames=frames,
                                                tail=tail, tree_format=tree_format, min_side=min_side)]
    return [final / name for name in names]
