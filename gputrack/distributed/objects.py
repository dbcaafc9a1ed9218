"""Object feature tables as Dask tasks: one task per frame, or per block of one huge frame.

Per frame: each task computes :func:`gputrack.objects.features` of its frames, the tables
are concatenated in time order (the same table as one process).

Per block: each task computes the moment sums of the objects in its block
(:func:`gputrack.objects.regions.region_moments`, on its worker's device); objects that
cross block borders are merged exactly: counts, sums, minima, maxima and bounding boxes
combine directly, and the central moments (degrees 2-4 of the coordinates, 2-4 of the
values) of each part are shifted from the part's mean to the object's mean by the
binomial expansion before they are added. The finished table is
:func:`gputrack.objects.features.table_from_moments` of the merged sums, equal to the
single-process table up to floating-point rounding (1e-9 relative).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations, combinations_with_replacement
from math import comb
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..objects import features as object_features
from ..objects.features import _check_names, _scales, table_from_moments
from ..objects.regions import RegionMoments, region_moments
from .cluster import connect, wait_all

_COMBOS = [c for p in (2, 3, 4) for c in combinations_with_replacement(range(3), p)]
_INDEX = {c: i for i, c in enumerate(_COMBOS)}


def _frames_task(raw, labels, names, scales, axes, device, t0):
    table = object_features(raw, labels, names, scales=scales, axes=axes, device=device)
    table["t"] = table["t"].to_numpy() + t0
    return table


def frame_tables(
    raw: Any | None,
    labels: Any,
    features: Sequence[str] | None = None,
    *,
    scheduler: str | None = None,
    client: Any = None,
    scales: Sequence[float] | None = None,
    axes: str | None = None,
    frames_per_task: int = 1,
    device: str | None = "auto",
    quiet: bool = False,
) -> pd.DataFrame:
    """:func:`gputrack.objects.features` of a time-lapse, ``frames_per_task`` frames per task.

    ``raw`` and ``labels`` have a leading ``t`` axis (``axes`` starts with ``t``); other
    parameters as for :func:`gputrack.objects.features`.

    Examples
    --------
    >>> tab = frame_tables(None, labels, ["Count"], axes="tyx", scheduler="local:2")  # doctest: +SKIP
    """
    ax = axes or ("tyx" if labels.ndim == 3 else "tzyx")
    if not ax.startswith("t"):
        raise InputError(f"axes={ax!r}: frame tables need a leading t axis")
    n = int(labels.shape[0])
    step = int(frames_per_task)
    if step < 1:
        raise InputError(f"frames_per_task={frames_per_task}: expected >= 1")
    with connect(scheduler, client=client, quiet=quiet) as c:
        futures = [
            c.submit(_frames_task, None if raw is None else np.asarray(raw[a : a + step]),
                     np.asarray(labels[a : a + step]), features, scales, ax, device, a, pure=False)
            for a in range(0, n, step)
        ]
        tables = wait_all(c, futures, quiet=quiet, desc="object tables", unit="task")
    tables = [t for t in tables if len(t)] or tables[:1]
    return pd.concat(tables, ignore_index=True)


# --------------------------------------------------------------------------- blocks of one frame


def _block_task(raw, labels, region, device):
    lab = np.asarray(labels[region])
    val = None if raw is None else np.asarray(raw[region + (slice(None),)], dtype=np.float32)
    mom = region_moments(lab, val, device)
    offset = np.array([r.start for r in region], np.float64)
    return mom, offset


def _shift_coords(mom: RegionMoments, d: np.ndarray) -> np.ndarray:
    """Central coordinate moments of each part about a point ``d`` away from its mean."""
    n = mom.count.size
    out = np.zeros((n, len(_COMBOS)))
    for q, combo in enumerate(_COMBOS):
        p = len(combo)
        for k in range(p + 1):
            for keep in combinations(range(p), k):  # factors taking (x - m), the rest d
                rest = [combo[j] for j in range(p) if j not in keep]
                factor = np.prod(d[:, rest], axis=1) if rest else np.ones(n)
                if k == 0:
                    s = mom.count
                elif k == 1:
                    continue
                else:
                    s = mom.coord_central[:, _INDEX[tuple(sorted(combo[j] for j in keep))]]
                out[:, q] += factor * s
    return out


def _shift_values(mom: RegionMoments, d: np.ndarray) -> np.ndarray:
    """Central value moments (degrees 2-4) about a point ``d`` (n, c) away from each mean."""
    n, c = mom.value_sum.shape
    central = {0: mom.count[:, None] * np.ones((1, c)), 1: np.zeros((n, c))}
    for k in (2, 3, 4):
        central[k] = mom.value_central[:, :, k - 2]
    out = np.zeros((n, c, 3))
    for p in (2, 3, 4):
        out[:, :, p - 2] = sum(comb(p, k) * d ** (p - k) * central[k] for k in range(p + 1))
    return out


def merge_moments(parts: Sequence[tuple[RegionMoments, np.ndarray]]) -> RegionMoments:
    """Merge the moment sums of blocks (each with its ``(z, y, x)`` offset) into whole objects.

    Examples
    --------
    >>> lab = np.zeros((1, 4, 6), np.int32); lab[0, 1:3, 1:5] = 3
    >>> left = region_moments(lab[:, :, :3], None, "cpu"), np.array([0.0, 0.0, 0.0])
    >>> right = region_moments(lab[:, :, 3:], None, "cpu"), np.array([0.0, 0.0, 3.0])
    >>> m = merge_moments([left, right])
    >>> m.count.tolist(), m.coord_mean.tolist(), m.bbox_max.tolist()
    ([8.0], [[0.0, 1.5, 2.5]], [[0, 2, 4]])
    """
    parts = [(m, o) for m, o in parts if m.ids.size]
    n_channels = parts[0][0].value_sum.shape[1] if parts else 0
    if not parts:
        z, zc = np.zeros((0, 3)), np.zeros((0, n_channels))
        return RegionMoments(np.zeros(0, np.int64), np.zeros(0), z, z.astype(np.int64), z.astype(np.int64),
                             np.zeros((0, len(_COMBOS))), zc, zc, zc, np.zeros((0, n_channels, 3)))
    ids = np.unique(np.concatenate([m.ids for m, _ in parts]))
    n = ids.size
    count = np.zeros(n)
    coord_sum = np.zeros((n, 3))
    bmin = np.full((n, 3), np.iinfo(np.int64).max, np.int64)
    bmax = np.full((n, 3), -1, np.int64)
    vsum = np.zeros((n, n_channels))
    vmin = np.full((n, n_channels), np.inf, np.float32)
    vmax = np.full((n, n_channels), -np.inf, np.float32)
    where = []
    for m, off in parts:
        pos = np.searchsorted(ids, m.ids)
        where.append(pos)
        count[pos] += m.count
        coord_sum[pos] += m.count[:, None] * (m.coord_mean + off[None, :])
        bmin[pos] = np.minimum(bmin[pos], m.bbox_min + off.astype(np.int64))
        bmax[pos] = np.maximum(bmax[pos], m.bbox_max + off.astype(np.int64))
        vsum[pos] += m.value_sum
        vmin[pos] = np.minimum(vmin[pos], m.value_min)
        vmax[pos] = np.maximum(vmax[pos], m.value_max)
    mean = coord_sum / count[:, None]
    vmean = vsum / count[:, None]
    central = np.zeros((n, len(_COMBOS)))
    vcentral = np.zeros((n, n_channels, 3))
    for (m, off), pos in zip(parts, where):
        central[pos] += _shift_coords(m, m.coord_mean + off[None, :] - mean[pos])
        if n_channels:
            vcentral[pos] += _shift_values(m, m.value_sum / m.count[:, None] - vmean[pos])
    return RegionMoments(ids, count, mean, bmin, bmax, central, vsum, vmin, vmax, vcentral)


def block_table(
    raw: Any | None,
    labels: Any,
    features: Sequence[str] | None = None,
    *,
    block_shape: Sequence[int],
    scheduler: str | None = None,
    client: Any = None,
    scales: Sequence[float] | None = None,
    device: str | None = "auto",
    quiet: bool = False,
) -> pd.DataFrame:
    """Object features of one huge ``(y, x)`` or ``(z, y, x)`` frame, one task per block.

    Parameters
    ----------
    raw
        Intensities with the label's axes plus a trailing channel axis (or ``None``); any
        array-like that slices lazily (zarr, h5py, memmap) is read block by block.
    labels
        Integer label image (``(y, x)`` or ``(z, y, x)``).
    features, scales, device
        As for :func:`gputrack.objects.features`.
    block_shape
        Block edges over the label's axes.

    Returns
    -------
    pandas.DataFrame
        The table :func:`gputrack.objects.features` gives for the whole frame (``t = 0``).

    Examples
    --------
    >>> tab = block_table(raw, labels, block_shape=(4096, 4096), scheduler="local:2")  # doctest: +SKIP
    """
    from ..pixel.classifier import block_grid  # noqa: PLC0415

    if labels.ndim not in (2, 3):
        raise InputError(f"labels: expected a (y, x) or (z, y, x) frame, got shape {tuple(labels.shape)}")
    ndim = labels.ndim
    names = _check_names(features, raw is not None)
    if raw is not None and raw.ndim == ndim:
        raw = raw[..., None]
    lab3 = labels if ndim == 3 else _Lift(labels)
    raw3 = None if raw is None else (raw if ndim == 3 else _Lift(raw))
    block = (1,) * (3 - ndim) + tuple(int(b) for b in block_shape)
    if len(block) != 3:
        raise InputError(f"block_shape={tuple(block_shape)}: expected {ndim} edges")
    grid = block_grid(lab3.shape, block)
    with connect(scheduler, client=client, quiet=quiet) as c:
        lab_f = c.scatter(lab3, broadcast=False) if isinstance(labels, np.ndarray) else lab3
        raw_f = c.scatter(raw3, broadcast=False) if isinstance(raw, np.ndarray) else raw3
        futures = [c.submit(_block_task, raw_f, lab_f, region, device, pure=False) for region in grid]
        parts = wait_all(c, futures, quiet=quiet, desc="object blocks", unit="block")
    mom = merge_moments(parts)
    return table_from_moments(mom, names, ndim, _scales(scales, ndim), t=0)


class _Lift:
    """A 2D (or 2D + channels) array seen with a leading z axis of length 1, sliced lazily."""

    def __init__(self, array: Any) -> None:
        self.array = array
        self.shape = (1,) + tuple(array.shape)
        self.ndim = len(self.shape)

    def __getitem__(self, region: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(self.array[region[1:]])[None]
