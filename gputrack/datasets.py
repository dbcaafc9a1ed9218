"""Synthetic fluorescent-nuclei time-lapses with ground truth (the embedded default data).

:func:`synthetic_timelapse` simulates nuclei that move (random walk with persistence and a
common drift), grow and divide, touch and overlap for a few frames and separate again
(mergers), enter across the image border and leave it. It renders them as blurred,
textured ellipses on an uneven background with Poisson shot noise, and returns the raw
frames together with CTC-style ground truth (label masks whose labels are track ids, the
``label, begin, end, parent`` track table, the merger events) and sparse scribble labels
for pixel classification (1 background, 2 nucleus, 3 contact between touching nuclei).
:func:`write_synthetic_ctc` writes it as a CTC sequence.

Examples
--------
>>> data = synthetic_timelapse(n_frames=10, shape=(96, 96), n_cells=4, seed=1)
>>> data.raw.shape, data.raw.dtype, data.labels.dtype
((10, 96, 96), dtype('uint16'), dtype('uint16'))
>>> list(data.tracks.columns)
['label', 'begin', 'end', 'parent']
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from scipy import ndimage as ndi

from .errors import InputError
from .io.atomic import atomic_output, check_writable
from .io.ctc import check_tracks, tracks_from_masks, write_ctc, write_frames

__all__ = ["SyntheticTimelapse", "contact_zones", "synthetic_timelapse", "write_synthetic_ctc"]

_MAX_LABEL = np.iinfo(np.uint16).max
_CONTACT_RADIUS = 2.5  # yx pixels: contact scribbles lie within this of two different nuclei


@dataclass
class SyntheticTimelapse:
    """A synthetic time-lapse and its ground truth.

    Attributes
    ----------
    raw
        ``(t, [z,] y, x)`` uint16 fluorescence frames.
    labels
        Ground-truth masks, same shape, uint16; label = CTC track id. Where two cells
        overlap the pixels belong to one of them (the one in front).
    tracks
        CTC track table ``label, begin, end, parent`` (int64): a division ends the mother
        track; its two daughters begin in the next frame with ``parent`` = mother.
    scribbles
        Sparse training labels, same shape, uint8: 0 unlabelled, 1 background,
        2 nucleus, 3 contact. Strokes on the first, middle and last frame and on the frame
        where most nuclei touch, a few % of their pixels: nucleus along the major axis of
        most nuclei, background away from them, contact on every pixel within 2.5 px of
        two different nuclei (:func:`contact_zones`; it overrides nucleus). Thresholding
        P(nucleus) of a classifier trained on all three classes keeps touching nuclei apart.
    mergers
        ``label_a, label_b, begin, end``: pairs of cells that touch and overlap in frames
        ``[begin, end]`` (each keeps its own label in ``labels``).
    scale
        Physical pixel size per spatial axis (``(y, x)`` or ``(z, y, x)``).
    seed
        The seed that generated it (same seed, same arrays).
    """

    raw: np.ndarray
    labels: np.ndarray
    tracks: pd.DataFrame
    scribbles: np.ndarray
    mergers: pd.DataFrame
    scale: tuple[float, ...]
    seed: int


@dataclass
class _Cell:
    uid: int
    pos: np.ndarray  # pixel coordinates (z, y, x) or (y, x)
    vel: np.ndarray
    a: float  # semi-axes in y/x pixels (a >= b); the z semi-axis follows from the scale
    b: float
    angle: float
    brightness: float
    texture: tuple[int, ...]
    cycle: float
    age: float
    parent: int = 0
    seen: bool = False
    patience: int = 0  # frames an entering cell may stay invisible
    entering: np.ndarray | None = None  # inward direction while entering
    leaving: np.ndarray | None = None  # outward direction once told to leave
    partner: int = 0  # merger partner uid
    mitotic: bool = False  # brighter in the last frames before dividing
    merge: dict = field(default_factory=dict)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else np.eye(len(v))[-1]


def _extent(cell: _Cell, direction_yx: np.ndarray) -> float:
    """Radius of the cell's ellipse along a unit yx direction."""
    u = math.cos(cell.angle) * direction_yx[0] + math.sin(cell.angle) * direction_yx[1]
    v = -math.sin(cell.angle) * direction_yx[0] + math.cos(cell.angle) * direction_yx[1]
    return 1.0 / math.sqrt((u / cell.a) ** 2 + (v / cell.b) ** 2)


def _border_distance(cell: _Cell, shape_yx: tuple[int, int]) -> float:
    y, x = cell.pos[-2:]
    return float(min(y, x, shape_yx[0] - 1 - y, shape_yx[1] - 1 - x))


def _background(rng: np.random.Generator, shape: tuple[int, ...], level: float) -> np.ndarray:
    """Smooth uneven illumination: a tilt, a broad bump and (3D) depth attenuation."""
    grids = np.meshgrid(*[np.linspace(0.0, 1.0, n) for n in shape], indexing="ij")
    y, x = grids[-2], grids[-1]
    gy, gx = rng.uniform(-1, 1, 2)
    cy, cx = rng.uniform(0.2, 0.8, 2)
    bump = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 0.3**2))
    field_ = gy * (y - 0.5) + gx * (x - 0.5) + 1.2 * (bump - bump.mean())
    field_ = 0.3 * field_ / max(np.abs(field_).max(), 1e-9)
    if len(shape) == 3:
        field_ = field_ - 0.15 * grids[0]
    return (level * (1.0 + field_)).astype(np.float32)


def _texture_tile(rng: np.random.Generator, ndim: int, size: int = 64) -> np.ndarray:
    tile = ndi.gaussian_filter(rng.normal(size=(size,) * ndim), 2.0, mode="wrap")
    return (tile / tile.std()).astype(np.float32)


def _render(
    cells: list[_Cell],
    shape: tuple[int, ...],
    z_ratio: float,
    tile: np.ndarray,
    texture: float,
    signal: np.ndarray,
    labels: np.ndarray,
) -> None:
    """Paint the cells' intensities (added) and labels (later cells in front)."""
    ndim = len(shape)
    size = tile.shape[0]
    for cell in cells:
        half_yx = int(math.ceil(cell.a)) + 3
        centre = np.rint(cell.pos).astype(int)
        lo = [centre[-2] - half_yx, centre[-1] - half_yx]
        hi = [centre[-2] + half_yx + 1, centre[-1] + half_yx + 1]
        if ndim == 3:
            c = cell.a * z_ratio
            half_z = int(math.ceil(c)) + 2
            lo.insert(0, centre[0] - half_z)
            hi.insert(0, centre[0] + half_z + 1)
        lo = [max(0, v) for v in lo]
        hi = [min(n, v) for n, v in zip(shape, hi)]
        if any(h <= low for low, h in zip(lo, hi)):
            continue
        axes = [np.arange(low, h, dtype=np.float32) - p for low, h, p in zip(lo, hi, cell.pos)]
        grid = np.meshgrid(*axes, indexing="ij", sparse=True)
        dy, dx = grid[-2], grid[-1]
        cos, sin = math.cos(cell.angle), math.sin(cell.angle)
        u = cos * dy + sin * dx
        v = -sin * dy + cos * dx
        r2 = (u / cell.a) ** 2 + (v / cell.b) ** 2
        if ndim == 3:
            r2 = r2 + (grid[0] / (cell.a * z_ratio)) ** 2
        r = np.sqrt(r2)
        edge = 1.0 / (1.0 + np.exp(-(1.0 - r) * cell.b / 0.8))
        iu = (np.rint(u).astype(np.int64) + cell.texture[-2]) % size
        iv = (np.rint(v).astype(np.int64) + cell.texture[-1]) % size
        if ndim == 3:
            iz = (np.rint(grid[0] / max(z_ratio, 1e-3)).astype(np.int64) + cell.texture[0]) % size
            tex = tile[iz, iu, iv]
        else:
            tex = tile[iu, iv]
        box = tuple(slice(low, h) for low, h in zip(lo, hi))
        brightness = cell.brightness * (1.5 if cell.mitotic else 1.0)
        signal[box] += brightness * edge * (1.0 + texture * tex)
        labels[box][r2 <= 1.12] = cell.uid


def _footprint(radius: float, z_ratio: float | None) -> np.ndarray:
    """Ellipsoidal footprint of ``radius`` yx pixels (``radius * z_ratio`` slices in 3D)."""
    r = int(math.floor(radius))
    if z_ratio is None:
        grid = np.mgrid[-r : r + 1, -r : r + 1]
        return (grid**2).sum(axis=0) <= radius**2
    rz = int(math.floor(radius * z_ratio))
    grid = np.mgrid[-rz : rz + 1, -r : r + 1, -r : r + 1].astype(float)
    grid[0] /= max(z_ratio, 1e-9)
    return (grid**2).sum(axis=0) <= radius**2


def contact_zones(
    frame: np.ndarray, radius: float = _CONTACT_RADIUS, z_ratio: float | None = None
) -> np.ndarray:
    """Pixels within ``radius`` of two different objects of a label frame.

    An object pixel is in a contact zone when another object lies within ``radius``; a
    background pixel when two different objects do. These are the pixels a classifier
    must call "not nucleus" for a threshold to keep touching nuclei apart.

    Parameters
    ----------
    frame
        ``([z,] y, x)`` integer label image, 0 = background.
    radius
        Distance in yx pixels.
    z_ratio
        For 3D frames, slices per yx pixel (``scale_x / scale_z``); default 1.

    Returns
    -------
    numpy.ndarray
        bool mask, the shape of ``frame``.

    Examples
    --------
    >>> f = np.zeros((5, 9), np.uint8); f[:, :4] = 1; f[:, 5:] = 2
    >>> contact_zones(f, radius=1.0)[2].astype(int).tolist()
    [0, 0, 0, 0, 1, 0, 0, 0, 0]
    >>> contact_zones(f, radius=2.0)[2].astype(int).tolist()
    [0, 0, 0, 1, 1, 1, 0, 0, 0]
    """
    if frame.ndim == 3 and z_ratio is None:
        z_ratio = 1.0
    footprint = _footprint(radius, z_ratio if frame.ndim == 3 else None)
    labels = frame.astype(np.int64, copy=False)
    top = ndi.maximum_filter(labels, footprint=footprint, mode="constant", cval=0)
    empty = int(labels.max(initial=0)) + 1  # stands for background in the minimum
    low = ndi.minimum_filter(np.where(labels > 0, labels, empty), footprint=footprint, mode="constant",
                             cval=empty)
    return (low != empty) & (top != low)


def _scribbles(
    rng: np.random.Generator,
    labels: np.ndarray,
    frames: list[int],
    n_background: int,
    z_ratio: float | None = None,
) -> np.ndarray:
    """Foreground strokes along the major axis of most cells, background strokes away from
    them, contact strokes where cells touch (they override foreground)."""
    out = np.zeros(labels.shape, np.uint8)
    spatial = labels.shape[1:]
    ndim = len(spatial)
    length = 0.15 * min(spatial[-2:])
    plane = np.ones((1, 3, 3), bool) if ndim == 3 else np.ones((3, 3), bool)
    for t in frames:
        frame = labels[t]
        scrib = out[t]
        objects = ndi.find_objects(frame)
        for label, box in enumerate(objects, start=1):
            if box is None or rng.random() > 0.7:
                continue
            inner = ndi.binary_erosion(frame[box] == label, iterations=2)
            coords = np.argwhere(inner).astype(float)
            if len(coords) < 6:
                continue
            centre = coords.mean(axis=0)
            yx = coords[:, -2:] - centre[-2:]
            _, vecs = np.linalg.eigh(np.cov(yx.T))
            major = vecs[:, -1]
            off = yx - np.outer(yx @ major, major)
            keep = np.hypot(off[:, 0], off[:, 1]) < 1.0
            if ndim == 3:
                keep &= np.rint(coords[:, 0]) == np.rint(centre[0])
            pts = coords[keep].astype(int)
            pts += [s.start for s in box]
            scrib[tuple(pts.T)] = 2
        near = ndi.binary_dilation(frame > 0, iterations=3)
        for _ in range(n_background):
            start = rng.uniform(0, 1, 2) * np.array(spatial[-2:])
            theta = rng.uniform(0, 2 * math.pi)
            steps = np.arange(0.0, length, 0.5)
            pts = np.rint(start + np.outer(steps, [math.sin(theta), math.cos(theta)])).astype(int)
            ok = (pts >= 0).all(axis=1) & (pts < np.array(spatial[-2:])).all(axis=1)
            pts = pts[ok]
            stroke = np.zeros(spatial, bool)
            if ndim == 3:
                stroke[rng.integers(0, spatial[0]), pts[:, 0], pts[:, 1]] = True
            else:
                stroke[pts[:, 0], pts[:, 1]] = True
            stroke = ndi.binary_dilation(stroke, structure=plane)
            scrib[stroke & ~near & (scrib == 0)] = 1
        scrib[contact_zones(frame, _CONTACT_RADIUS, z_ratio)] = 3
    return out


def synthetic_timelapse(
    n_frames: int = 40,
    shape: tuple[int, ...] = (256, 256),
    n_cells: int = 12,
    seed: int = 0,
    *,
    divisions: bool = True,
    mergers: bool = True,
    border_appearances: bool = True,
    noise: float = 1.0,
    background: float = 100.0,
    intensity: float = 300.0,
    cell_radius: float | None = None,
    scale: tuple[float, ...] | None = None,
) -> SyntheticTimelapse:
    """Simulate a fluorescent-nuclei time-lapse with tracking ground truth.

    Parameters
    ----------
    n_frames
        Number of frames.
    shape
        ``(y, x)`` for 2D or ``(z, y, x)`` for 3D frames.
    n_cells
        Cells in the first frame (more appear by division and across the border).
    seed
        Random seed; the same seed gives identical arrays.
    divisions
        Cells grow and divide into two daughters (the mother track ends, two new tracks
        begin in the next frame with parent = mother). Mothers brighten before dividing.
    mergers
        Pairs of neighbours move together, overlap for three frames, then separate
        (listed in ``mergers``; each keeps its label, the overlap belongs to one of them).
    border_appearances
        Cells enter across the y/x border and some leave it; without it cells stay inside.
    noise
        Shot-noise strength: counts are ``Poisson(expected / noise) * noise``; 0 for none.
    background
        Mean background level; illumination varies smoothly by about +-30 % across the field.
    intensity
        Mean brightness of a nucleus above background (each cell 0.75-1.25 times it).
    cell_radius
        Mean nucleus radius at birth in y/x pixels; default 4 % (2D) or 7 % (3D) of the
        smaller of y, x, at least 5 pixels.
    scale
        Physical pixel size per axis; default 1 in 2D and ``(2, 1, 1)`` in 3D. Nuclei are
        round in physical units, so their z extent in slices shrinks with the z scale.

    Returns
    -------
    SyntheticTimelapse

    Examples
    --------
    >>> data = synthetic_timelapse(n_frames=12, shape=(16, 64, 64), n_cells=3, seed=2)
    >>> data.raw.shape, data.scale
    ((12, 16, 64, 64), (2.0, 1.0, 1.0))
    >>> bool((data.labels > 0).any()) and bool((data.scribbles == 2).any())
    True
    """
    shape = tuple(int(n) for n in shape)
    ndim = len(shape)
    if ndim not in (2, 3):
        raise InputError(f"shape={shape}: expected (y, x) or (z, y, x)")
    if n_frames < 1 or n_cells < 1:
        raise InputError(f"n_frames={n_frames}, n_cells={n_cells}: expected at least one frame and one cell")
    if min(shape[-2:]) < 24 or (ndim == 3 and shape[0] < 4):
        raise InputError(f"shape={shape}: too small; expected y, x >= 24 (and z >= 4)")
    if noise < 0 or background < 0 or intensity <= 0:
        raise InputError("noise and background must be >= 0 and intensity > 0")
    if scale is None:
        scale = (2.0, 1.0, 1.0) if ndim == 3 else (1.0, 1.0)
    scale = tuple(float(s) for s in scale)
    if len(scale) != ndim or min(scale) <= 0:
        raise InputError(f"scale={scale}: expected {ndim} positive pixel sizes")
    rng = np.random.default_rng(seed)
    shape_yx = shape[-2:]
    radius = cell_radius or max(5.0, (0.04 if ndim == 2 else 0.07) * min(shape_yx))
    z_ratio = scale[-1] / scale[0] if ndim == 3 else 1.0  # z semi-axis (slices) per yx pixel
    growth_power = 2.0 if ndim == 2 else 3.0  # area or volume doubles over a cycle
    drift = np.zeros(ndim)
    drift[-2:] = rng.uniform(-0.3, 0.3, 2)
    tile = _texture_tile(rng, ndim)
    bg = _background(rng, shape, background)
    sigma_psf = tuple(0.6 * scale[-1] / s for s in scale)

    next_uid = [1]

    def new_cell(pos, a, parent=0, angle=None, age=0.0) -> _Cell:
        uid = next_uid[0]
        next_uid[0] += 1
        a = float(a)
        b = a * rng.uniform(0.65, 0.9)
        cycle = rng.uniform(0.5, 1.0) * max(n_frames, 16)
        return _Cell(
            uid=uid, pos=np.array(pos, dtype=float), vel=np.zeros(ndim), a=a, b=b,
            angle=float(rng.uniform(0, math.pi) if angle is None else angle),
            brightness=float(intensity * rng.uniform(0.75, 1.25)),
            texture=tuple(int(v) for v in rng.integers(0, tile.shape[0], ndim)),
            cycle=cycle, age=float(age * cycle), parent=parent,
        )

    def z_position(a: float) -> float:
        c = a * z_ratio
        low, high = c + 1.0, shape[0] - 2.0 - c
        return rng.uniform(low, high) if high > low else (shape[0] - 1) / 2

    cells: list[_Cell] = []
    margin0 = 2.0 * radius
    for _ in range(n_cells):
        a = radius * rng.uniform(0.85, 1.1)
        for _attempt in range(50):
            yx = rng.uniform(margin0, np.array(shape_yx) - margin0)
            if all(np.linalg.norm(yx - c.pos[-2:]) > a + c.a + 4 for c in cells):
                break
        pos = [z_position(a), *yx] if ndim == 3 else yx
        cells.append(new_cell(pos, a, age=rng.uniform(0.0, 1.0)))

    # event schedules
    n_enter = max(2, n_cells // 5) if border_appearances and n_frames > 6 else 0
    enter_frames = sorted(rng.integers(1, max(2, n_frames - 6), n_enter).tolist())
    n_leave = max(1, n_cells // 6) if border_appearances and n_frames > 8 else 0
    leave_frames = sorted(rng.integers(1, max(2, n_frames - 8), n_leave).tolist())
    n_merge = max(1, n_cells // 6) if mergers and n_frames >= 16 else 0
    merge_frames = (
        np.rint(np.linspace(3, n_frames - 13, n_merge)).astype(int).tolist() if n_merge else []
    )
    merge_log: list[tuple[int, int, list[int]]] = []

    labels = np.zeros((n_frames, *shape), np.uint16)
    raw = np.zeros((n_frames, *shape), np.uint16)
    uid_parent: dict[int, int] = {}
    persistence, step_sigma = 0.6, 1.2

    for t in range(n_frames):
        by_uid = {c.uid: c for c in cells}
        if t > 0:
            # motion and growth
            for c in cells:
                c.vel = persistence * c.vel + rng.normal(0.0, step_sigma, ndim) + drift
                if ndim == 3:
                    c.vel[0] *= 0.2
                if c.entering is not None:
                    c.vel[-2:] += c.entering * 1.5
                    if _border_distance(c, shape_yx) > c.a + 2:
                        c.entering = None
                if c.leaving is not None:
                    c.vel[-2:] += c.leaving * 1.5
                c.pos = c.pos + c.vel
                c.angle += rng.normal(0.0, 0.05)
                c.age += 1.0
                if divisions:
                    f = 2.0 ** (1.0 / (growth_power * c.cycle))
                    c.a *= f
                    c.b *= f
            # divisions
            if divisions:
                for c in list(cells):
                    if (
                        c.age < c.cycle or c.partner or c.entering is not None or c.leaving is not None
                        or _border_distance(c, shape_yx) < 2.5 * c.a
                    ):
                        continue
                    cells.remove(c)
                    shrink = 2.0 ** (1.0 / growth_power)
                    axis = np.array([math.cos(c.angle), math.sin(c.angle)])
                    for sign in (1.0, -1.0):
                        d = new_cell(c.pos, c.a / shrink, parent=c.uid, angle=c.angle + math.pi / 2)
                        d.b = c.b / shrink
                        d.a = max(d.a, d.b)
                        d.pos[-2:] += sign * axis * (d.b + 1.0)
                        d.vel = c.vel.copy()
                        d.brightness = c.brightness * rng.uniform(0.9, 1.1)
                        cells.append(d)
                by_uid = {c.uid: c for c in cells}
            # repulsion keeps other cells from touching
            for _ in range(3):
                for i, ci in enumerate(cells):
                    for cj in cells[i + 1:]:
                        if ci.partner == cj.uid or cj.partner == ci.uid:
                            continue
                        delta = cj.pos[-2:] - ci.pos[-2:]
                        dist = float(np.hypot(*delta))
                        need = ci.a + cj.a + 2.0
                        if dist < need:
                            push = _unit(delta) * min((need - dist) / 2.0, 1.5)
                            ci.pos[-2:] -= push
                            cj.pos[-2:] += push
            # mergers (after repulsion, so b stays on a): b moves onto a, overlaps, separates
            for c in cells:
                if not c.merge:
                    continue
                m = c.merge
                a_cell = by_uid.get(c.partner)
                if a_cell is None:
                    c.merge, c.partner = {}, 0
                    continue
                phase = m["phase"]
                if phase == "approach":
                    u = _unit(c.pos[-2:] - a_cell.pos[-2:])
                    dist = 0.75 * (_extent(a_cell, u) + _extent(c, u))
                    target = a_cell.pos[-2:] + u * dist
                    c.pos[-2:] += (target - c.pos[-2:]) / m["left"]
                    m["u"] = u
                    m["left"] -= 1
                    if m["left"] == 0:
                        m["phase"], m["left"] = "hold", 3
                elif phase == "hold":
                    dist = 0.75 * (_extent(a_cell, m["u"]) + _extent(c, m["u"]))
                    c.pos[-2:] = a_cell.pos[-2:] + m["u"] * dist
                    m["frames"].append(t)
                    m["left"] -= 1
                    if m["left"] == 0:
                        m["phase"], m["left"] = "separate", 4
                else:
                    c.pos[-2:] += m["u"] * 4.0
                    m["left"] -= 1
                    if m["left"] == 0:
                        a_cell.partner = 0
                        c.partner, c.merge = 0, {}
                c.vel = a_cell.vel.copy()
                if ndim == 3:
                    c.pos[0] = a_cell.pos[0]
            # confinement
            for c in cells:
                if ndim == 3:
                    cz = c.a * z_ratio + 1.0
                    low, high = min(cz, shape[0] / 2), max(shape[0] - 1 - cz, shape[0] / 2)
                    c.pos[0] = float(np.clip(c.pos[0], low, high))
                if not border_appearances:
                    m = c.a + 2.0
                    for k, n in zip((-2, -1), shape_yx):
                        lo, hi = m, n - 1 - m
                        if c.pos[k] < lo or c.pos[k] > hi:
                            c.pos[k] = float(np.clip(c.pos[k], lo, max(lo, hi)))
                            c.vel[k] = -c.vel[k]
        # scheduled events of this frame
        for _ in range(enter_frames.count(t)):
            a = radius * rng.uniform(0.85, 1.1)
            side = int(rng.integers(0, 4))
            axis_k, at_end = side // 2, side % 2
            n_along = shape_yx[1 - axis_k]
            yx = np.zeros(2)
            yx[1 - axis_k] = rng.uniform(2 * a, n_along - 2 * a)
            yx[axis_k] = (shape_yx[axis_k] - 1 + a + 1.0) if at_end else -(a + 1.0)
            inward = np.zeros(2)
            inward[axis_k] = -1.0 if at_end else 1.0
            c = new_cell([z_position(a), *yx] if ndim == 3 else yx, a, age=rng.uniform(0.0, 0.4))
            c.entering, c.patience = inward, 6
            c.vel[-2:] = inward * 2.0
            cells.append(c)
        for _ in range(leave_frames.count(t)):
            free = [c for c in cells if c.seen and not c.partner and c.entering is None and c.leaving is None]
            if free:
                c = min(free, key=lambda c: _border_distance(c, shape_yx))
                y, x = c.pos[-2:]
                dists = [y, shape_yx[0] - 1 - y, x, shape_yx[1] - 1 - x]
                outward = [[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]]
                c.leaving = np.array(outward[int(np.argmin(dists))])
                c.age = min(c.age, 0.0)  # no division on its way out
        for _ in range(merge_frames.count(t)):
            free = [
                c for c in cells
                if c.seen and not c.partner and c.entering is None and c.leaving is None
                and _border_distance(c, shape_yx) > 3.0 * c.a
            ]
            best = None
            for i, ci in enumerate(free):
                for cj in free[i + 1:]:
                    gap = float(np.hypot(*(ci.pos[-2:] - cj.pos[-2:]))) - ci.a - cj.a
                    if best is None or gap < best[0]:
                        best = (gap, ci, cj)
            if best is not None:
                gap, ci, cj = best
                ci.partner, cj.partner = cj.uid, ci.uid
                steps = int(np.clip(math.ceil(gap / 4.0) + 1, 2, 6))  # approach at <= ~4 px/frame
                cj.merge = {"phase": "approach", "left": steps, "frames": []}
                merge_log.append((ci.uid, cj.uid, cj.merge["frames"]))
        # render: a merging "b" cell and newborn daughters in front
        for c in cells:
            c.mitotic = divisions and c.age >= c.cycle - 2 and not c.partner
        order = sorted(cells, key=lambda c: (bool(c.merge), c.age == 0.0 and c.parent > 0))
        signal = np.zeros(shape, np.float32)
        _render(order, shape, z_ratio, tile, 0.15, signal, labels[t])
        expected = ndi.gaussian_filter(signal, sigma_psf) + bg
        if noise > 0:
            expected = rng.poisson(expected / noise).astype(np.float32) * noise
        raw[t] = np.clip(np.rint(expected), 0, _MAX_LABEL).astype(np.uint16)
        # visibility: a cell that vanished after being seen has left for good
        counts = np.bincount(labels[t].ravel(), minlength=next_uid[0])
        survivors = []
        for c in cells:
            visible = c.uid < len(counts) and counts[c.uid] > 0
            if visible:
                if not c.seen and c.parent:
                    uid_parent[c.uid] = c.parent
                c.seen = True
                survivors.append(c)
            elif c.seen:
                continue
            elif c.entering is not None and c.patience > 0:
                c.patience -= 1
                survivors.append(c)
        if next_uid[0] > _MAX_LABEL:
            raise InputError(f"n_cells={n_cells}: the simulation needs more than 65535 labels")
        for c in cells:
            if c not in survivors and c.partner and c.partner in by_uid:
                partner = by_uid[c.partner]
                partner.partner, partner.merge = 0, {}
        cells = survivors

    # consecutive labels in order of appearance
    present = [np.flatnonzero(np.bincount(f.ravel(), minlength=next_uid[0])) for f in labels]
    order: list[int] = []
    seen_ids: set[int] = set()
    for ids in present:
        for uid in ids.tolist():
            if uid and uid not in seen_ids:
                seen_ids.add(uid)
                order.append(uid)
    lut = np.zeros(next_uid[0] + 1, np.uint16)
    lut[order] = np.arange(1, len(order) + 1, dtype=np.uint16)
    labels = lut[labels]
    parents = {int(lut[c]): int(lut[p]) for c, p in uid_parent.items() if c in seen_ids and p in seen_ids}
    tracks = tracks_from_masks(labels, parents)
    problems = check_tracks(labels, tracks)
    if problems:  # the simulation guarantees gap-free tracks; this guards that promise
        raise RuntimeError(f"synthetic ground truth is not CTC-consistent: {problems[0]}")
    rows = []
    for a_uid, b_uid, frames in merge_log:
        la, lb = int(lut[a_uid]), int(lut[b_uid])
        both = [t for t in frames if la and lb and (labels[t] == la).any() and (labels[t] == lb).any()]
        if both:
            rows.append((la, lb, min(both), max(both)))
    merger_table = pd.DataFrame(rows, columns=["label_a", "label_b", "begin", "end"], dtype=np.int64)
    # first, middle and last frame, plus the frame where most nuclei touch (as a user
    # would pick a frame showing the hard cases to label the contact class on)
    zr = z_ratio if ndim == 3 else None
    touching = [int(contact_zones(f, _CONTACT_RADIUS, zr).sum()) for f in labels]
    scrib_frames = {0, n_frames // 2, n_frames - 1}
    if max(touching) > 0:
        scrib_frames.add(int(np.argmax(touching)))
    scribbles = _scribbles(rng, labels, sorted(scrib_frames), n_background=8, z_ratio=zr)
    return SyntheticTimelapse(
        raw=raw, labels=labels, tracks=tracks, scribbles=scribbles, mergers=merger_table,
        scale=scale, seed=seed,
    )


def write_synthetic_ctc(
    out_dir: str | os.PathLike,
    data: SyntheticTimelapse,
    *,
    sequence: str = "01",
    overwrite: bool = False,
) -> Path:
    """Write a synthetic time-lapse as a CTC sequence.

    Writes, under ``out_dir``::

        01/tTTT.tif                  raw frames (uint16; 3D: one page per z slice)
        01_GT/TRA/man_trackTTT.tif   label masks, label = track id
        01_GT/TRA/man_track.txt      track table (L B E P)
        01_GT/SEG/man_segTTT.tif     the same masks as segmentation ground truth (every frame)
        01_scribbles.tif             scribbles, one (t, [z,] y, x) uint8 TIFF:
                                     0 unlabelled, 1 background, 2 nucleus, 3 contact

    (``01`` is ``sequence``.) Each of the three outputs is written atomically; with
    ``overwrite=False`` nothing is written when any of them exists.

    Returns
    -------
    Path
        ``out_dir`` (the sequence is ``out_dir / sequence``, its ground truth
        ``out_dir / f"{sequence}_GT"``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> root = write_synthetic_ctc(out, synthetic_timelapse(n_frames=3, shape=(48, 48), n_cells=2))
    >>> sorted(p.name for p in out.iterdir())
    ['01', '01_GT', '01_scribbles.tif']
    """
    out_dir = Path(out_dir)
    if not (len(sequence) >= 1 and sequence.isalnum()):
        raise InputError(f"sequence={sequence!r}: expected a CTC sequence name such as '01'")
    paths = {
        "raw": out_dir / sequence,
        "gt": out_dir / f"{sequence}_GT",
        "scribbles": out_dir / f"{sequence}_scribbles.tif",
    }
    if not overwrite:
        for path in paths.values():
            check_writable(path)
    write_frames(paths["raw"], data.raw, prefix="t", overwrite=overwrite)
    with atomic_output(paths["gt"], overwrite=overwrite, directory=True) as tmp:
        write_ctc(tmp / "TRA", data.labels, data.tracks, prefix="man_track", track_file="man_track.txt")
        write_ctc(tmp / "SEG", data.labels, None, prefix="man_seg", track_file=None)
    with atomic_output(paths["scribbles"], overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, data.scribbles, photometric="minisblack")
    return out_dir
