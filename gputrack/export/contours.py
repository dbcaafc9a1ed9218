"""Object outlines (marching squares) and ilastik's "Contours" export (``.outline``, spec §8.7).

:func:`find_contours` is marching squares with the semantics of
``skimage.measure.find_contours(image, level)`` (default ``fully_connected="low"``,
``positive_orientation="low"``): same points, same order, same list order, so outlines match
ilastik's files, which come from scikit-image. scikit-image is not needed at run time.

:func:`object_contours` gives one object's outline as ``(N, 2)`` (x, y) points: the first
contour of its mask, traced on the frame in (x, y) order as ilastik does (ilastik's tracking
frames are ``x, y``), so the start point and direction match ilastik's. With ``level=0`` (what
ilastik uses, and what the writers here use) the outline runs through the centres of the
background pixels that touch the object, on integer coordinates; ``level=0.5`` gives the
boundary half-way between object and background pixels.

3D: the ``.outline`` and Multi-Worm-Tracker formats are 2D. For a 3D frame an object's
outline is that of its footprint (its mask projected along z, seen from above);
``object_contours(frame, label, z=k)`` gives the outline in slice ``k`` instead.

``.outline`` file (:func:`write_contours`), one line per object and frame, sorted by id then frame::

    00000000_<t, 6 digits> <id, 5 digits> 0.000 x0 y0 x1 y1 ...

Differences from ilastik
------------------------
- ilastik writes each point as ``y x`` (its frames are x, y and it prints column 1 first)
  although its documentation says ``x y``; we write ``x y``. ``ilastik_compat=True`` writes
  ``y x``.
- ilastik keys lines by lineage id, so after a division only one daughter's outline is kept
  per frame (the later label overwrites the other). We key by track id (one line per object;
  objects sharing a track id in one frame, unresolved mergers splitting, each get a line).
  ``ilastik_compat=True`` keys by lineage id with ilastik's numbering (ids from 2) and keeps
  ilastik's overwrite (the highest label wins).
- Ids start at 1 (track ids of :func:`gputrack.tracking.lineages`); ilastik's start at 2.
- False detections (count 0) are left out, as in ilastik.

Examples
--------
>>> import numpy as np
>>> frame = np.zeros((5, 6), np.uint8); frame[1:3, 2:4] = 7
>>> object_contours(frame, 7, level=0.5)[:3].tolist()
[[3.5, 2.0], [3.5, 1.0], [3.0, 0.5]]
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from ..errors import InputError
from ..io.atomic import atomic_output, check_writable
from ..tracking.result import TrackingResult

__all__ = ["find_contours", "object_contours", "object_masks", "outline_path", "read_contours",
           "tracked_masks", "tracked_outlines", "write_contours"]

# Square cases: bit 0 = upper-left above level, 1 = upper-right, 2 = lower-left, 3 = lower-right.
# Crossing points on the square's edges: 0 top, 1 bottom, 2 left, 3 right. Each case gives
# up to two segments (from edge, to edge), drawn with the lower values on the left; in the
# saddle cases 6 and 9 the low-valued corners are connected ("fully_connected='low'").
_SEGMENTS = {
    1: ((0, 2),), 2: ((3, 0),), 3: ((3, 2),), 4: ((2, 1),), 5: ((0, 1),),
    6: ((3, 0), (2, 1)), 7: ((3, 1),), 8: ((1, 3),), 9: ((0, 2), (1, 3)), 10: ((1, 0),),
    11: ((1, 2),), 12: ((2, 3),), 13: ((0, 3),), 14: ((2, 0),),
}
_N_SEG = np.zeros(16, np.int64)
_FROM = np.zeros((16, 2), np.int64)
_TO = np.zeros((16, 2), np.int64)
for _case, _segs in _SEGMENTS.items():
    _N_SEG[_case] = len(_segs)
    for _k, (_a, _b) in enumerate(_segs):
        _FROM[_case, _k], _TO[_case, _k] = _a, _b


def _fraction(a: np.ndarray, b: np.ndarray, level: float) -> np.ndarray:
    """Where ``level`` lies between vertex values ``a`` and ``b`` (0 when they are equal)."""
    diff = b - a
    out = np.zeros(a.shape, np.float64)
    nz = diff != 0
    out[nz] = (level - a[nz]) / diff[nz]
    return out


def _segments(image: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Marching-squares segments in scan order (row-major squares): ``(from, to)`` point arrays."""
    ul, ur = image[:-1, :-1], image[:-1, 1:]
    ll, lr = image[1:, :-1], image[1:, 1:]
    case = ((ul > level).astype(np.int64) + 2 * (ur > level) + 4 * (ll > level) + 8 * (lr > level))
    flat = np.flatnonzero((case != 0) & (case != 15))
    if flat.size == 0:
        empty = np.zeros((0, 2))
        return empty, empty
    r0, c0 = np.divmod(flat, case.shape[1])
    vul, vur, vll, vlr = (v.ravel()[flat] for v in (ul, ur, ll, lr))
    pts = np.empty((flat.size, 4, 2))
    pts[:, 0, 0], pts[:, 0, 1] = r0, c0 + _fraction(vul, vur, level)  # top
    pts[:, 1, 0], pts[:, 1, 1] = r0 + 1, c0 + _fraction(vll, vlr, level)  # bottom
    pts[:, 2, 0], pts[:, 2, 1] = r0 + _fraction(vul, vll, level), c0  # left
    pts[:, 3, 0], pts[:, 3, 1] = r0 + _fraction(vur, vlr, level), c0 + 1  # right
    sq_case = case.ravel()[flat]
    nseg = _N_SEG[sq_case]
    square = np.repeat(np.arange(flat.size), nseg)
    first = np.cumsum(nseg) - nseg
    k = np.arange(square.size) - first[square]
    c = sq_case[square]
    return pts[square, _FROM[c, k]], pts[square, _TO[c, k]]


def _assemble(src: np.ndarray, dst: np.ndarray) -> list[np.ndarray]:
    """Join segments sharing end points into contours, in the order their first segment appeared.

    A segment extends the contour that ends at its start and/or the one that starts at its end;
    when it bridges two contours they are merged into the one created first.
    """
    by_start: dict = {}  # point -> (contour, creation number)
    by_end: dict = {}
    contours: dict[int, deque] = {}
    created = 0
    for a, b in zip(map(tuple, src.tolist()), map(tuple, dst.tolist())):
        if a == b:  # degenerate: one vertex exactly at the level; its neighbours carry it
            continue
        after, n_after = by_start.pop(b, (None, -1))  # contour starting where this segment ends
        before, n_before = by_end.pop(a, (None, -1))  # contour ending where this segment starts
        if after is None and before is None:
            contours[created] = deque((a, b))
            by_start[a] = by_end[b] = (contours[created], created)
            created += 1
        elif before is None:
            after.appendleft(a)
            by_start[a] = (after, n_after)
        elif after is None:
            before.append(b)
            by_end[b] = (before, n_before)
        elif after is before:
            before.append(b)  # closed
        else:  # bridge: merge into the older contour
            keep, n_keep = (before, n_before) if n_before < n_after else (after, n_after)
            if keep is before:
                before.extend(after)
                del contours[n_after]
            else:
                after.extendleft(reversed(before))
                del contours[n_before]
            by_start[keep[0]] = by_end[keep[-1]] = (keep, n_keep)
    return [np.array(contours[k], dtype=np.float64) for k in sorted(contours)]


def find_contours(image: np.ndarray, level: float) -> list[np.ndarray]:
    """Iso-contours of a 2D image at ``level`` by marching squares.

    Same result as ``skimage.measure.find_contours(image, level)`` with its defaults: a
    vertex counts as inside when its value is greater than ``level``; saddles connect the
    low corners; contours are ordered by their first square in row-major scan order and run
    with the higher values on their right; a closed contour repeats its first point at the end.

    Parameters
    ----------
    image : (M, N) array, M, N >= 2
    level : float

    Returns
    -------
    list of (K, 2) float arrays of (row, column) points

    Examples
    --------
    >>> img = np.zeros((4, 4)); img[1:3, 1:3] = 1
    >>> find_contours(img, 0.5)[0][:2].tolist()
    [[2.5, 2.0], [2.5, 1.0]]
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or min(image.shape) < 2:
        raise InputError(f"find_contours: expected a 2D image of at least 2x2 pixels, got {image.shape}")
    return _assemble(*_segments(image, float(level)))


def _footprint(mask: np.ndarray, z: int | None) -> np.ndarray:
    if mask.ndim == 2:
        return mask
    if mask.ndim != 3:
        raise InputError(f"contours: expected a 2D (y, x) or 3D (z, y, x) frame, got {mask.ndim} axes")
    if z is None:
        return mask.any(axis=0)
    if not -mask.shape[0] <= z < mask.shape[0]:
        raise InputError(f"contours: z={z} outside the frame's {mask.shape[0]} slices")
    return mask[z]


def _mask_contour(mask: np.ndarray, level: float, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """First contour of a 2D (y, x) mask, traced in (x, y) order, shifted by ``offset`` (y, x)."""
    if min(mask.shape) < 2:  # marching squares needs 2x2 pixels
        return np.zeros((0, 2))
    contours = _assemble(*_segments(np.ascontiguousarray(mask.T, dtype=np.float64), level))
    if not contours:
        return np.zeros((0, 2))
    return contours[0] + np.array([offset[1], offset[0]], np.float64)


def object_contours(
    frame: np.ndarray, label: int, *, level: float = 0.5, z: int | None = None
) -> np.ndarray:
    """Outline of one object of a label image as ``(N, 2)`` (x, y) points.

    The first contour of ``find_contours((frame == label).T, level)`` (the transpose makes
    the points (x, y) and the tracing order ilastik's). For an object without holes that is
    its whole boundary; otherwise the contour met first scanning along x, then y.

    Parameters
    ----------
    frame : (y, x) or (z, y, x) label image
    label : the object's label
    level : 0.5 for the boundary between object and background pixels; 0 (ilastik) for the
        outline through the centres of the bordering background pixels
    z : for 3D frames, the slice to outline; default the object's footprint (mask projected
        along z)

    Returns
    -------
    (N, 2) float array of (x, y); empty when the label is absent

    Examples
    --------
    >>> frame = np.zeros((5, 5), np.uint16); frame[2, 1:4] = 3
    >>> object_contours(frame, 3, level=0)[:3].tolist()
    [[4.0, 2.0], [3.0, 1.0], [2.0, 1.0]]
    """
    frame = np.asarray(frame)
    mask = _footprint(frame == label, z)
    return _mask_contour(mask.view(np.uint8), float(level))


def object_masks(frame: np.ndarray, labels: Sequence[int] | np.ndarray) -> dict[int, tuple]:
    """``label -> (footprint mask, (y0, x0))``: each object's 2D mask cropped to its box plus a
    one-pixel margin (clipped at the image border), and the crop's origin in the frame.

    3D frames give footprints (masks projected along z). Labels absent from the frame are left out.
    Outlines of the crops equal those on the whole frame (all crossing squares are inside).
    """
    frame = np.asarray(frame)
    if frame.ndim not in (2, 3):
        raise InputError(f"contours: expected a 2D (y, x) or 3D (z, y, x) frame, got shape {frame.shape}")
    boxes = ndi.find_objects(frame.astype(np.int64, copy=False))
    out = {}
    for label in np.unique(np.asarray(labels, np.int64)):
        if label <= 0 or label > len(boxes) or boxes[label - 1] is None:
            continue
        ys, xs = boxes[label - 1][-2:]
        y0, x0 = max(ys.start - 1, 0), max(xs.start - 1, 0)
        sub = frame[..., y0:ys.stop + 1, x0:xs.stop + 1] == label
        out[int(label)] = (sub.any(axis=0) if frame.ndim == 3 else sub, (y0, x0))
    return out


def outline_path(path: str | os.PathLike) -> Path:
    """``<base>.outline`` for ``path`` given with or without the suffix."""
    path = Path(path)
    return path if path.suffix == ".outline" else path.with_name(path.name + ".outline")


def _check_rows(result: TrackingResult) -> pd.DataFrame:
    lin = result.lineage
    det = result.detections
    if len(lin) != len(det) or not np.array_equal(lin["label"].to_numpy(), det["label"].to_numpy()):
        raise InputError("tracking result: lineage table and detections do not match row for row")
    return lin


def _frame_list(result: TrackingResult, label_frames) -> list[np.ndarray]:
    frames = result.frames() if label_frames is None else [np.asarray(f) for f in label_frames]
    if frames and frames[0].ndim not in (2, 3):
        raise InputError(f"label frames: expected (y, x) or (z, y, x) frames, got shape {frames[0].shape}")
    return frames


def tracked_masks(result: TrackingResult, label_frames: Sequence[np.ndarray] | None = None):
    """Yield ``(t, label, lineage_row, mask, origin)`` for every tracked object (count > 0), by frame.

    ``mask`` is the object's bounding-box mask (3D: its footprint) and ``origin`` the box's
    (row, col) corner, as :func:`object_masks` gives them.
    """
    lin = _check_rows(result)
    frames = _frame_list(result, label_frames)
    active = lin[lin["count"].to_numpy() > 0]
    for k, frame in enumerate(frames):
        t = result.start + k
        sel = active[active["t"].to_numpy() == t]
        if sel.empty:
            continue
        masks = object_masks(frame, sel["label"].to_numpy())
        for _, row in sel.iterrows():
            label = int(row["label"])
            if label not in masks:
                raise InputError(f"label frame t={t}: tracked object label {label} is not in the image")
            mask, origin = masks[label]
            yield t, label, row, mask, origin


def tracked_outlines(
    result: TrackingResult, label_frames: Sequence[np.ndarray] | None = None, *, level: float = 0.0
) -> pd.DataFrame:
    """Outlines of every tracked object (count > 0): one row per object.

    Returns
    -------
    DataFrame with columns ``t, label, track_id, lineage_id, contour`` ((N, 2) x, y arrays;
    footprints for 3D frames), sorted by frame then label.
    """
    rows = [(t, label, int(row["track_id"]), int(row["lineage_id"]),
             _mask_contour(mask.view(np.uint8), level, origin))
            for t, label, row, mask, origin in tracked_masks(result, label_frames)]
    out = pd.DataFrame(rows, columns=["t", "label", "track_id", "lineage_id", "contour"])
    return out.sort_values(["t", "label"], kind="stable").reset_index(drop=True)


def write_contours(
    result: TrackingResult,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    label_frames: Sequence[np.ndarray] | None = None,
    ilastik_compat: bool = False,
    level: float = 0.0,
) -> list[Path]:
    """Write ilastik's Contours export ``<base>.outline`` (format in the module docstring).

    Parameters
    ----------
    result : TrackingResult
    path : the output file, ``<base>`` or ``<base>.outline``
    overwrite : replace an existing file
    label_frames : object identities (default ``result.frames()``)
    ilastik_compat : ``y x`` points, lineage ids from 2, one outline per lineage and frame
    level : contour level on the object's 0/1 mask (0: ilastik's outline through the
        bordering background pixels)

    Returns
    -------
    list of Path : the file written
    """
    out = check_writable(outline_path(path), overwrite)
    table = tracked_outlines(result, label_frames, level=level)
    lines: dict[tuple[int, int], list[str]] = {}
    for t, _label, track, lineage, contour in table.itertuples(index=False):
        ident = lineage + 1 if ilastik_compat else track
        pts = contour[:, ::-1] if ilastik_compat else contour
        text = (f"00000000_{int(t):06d} {int(ident):05d} 0.000 "
                + " ".join(f"{float(a)!r} {float(b)!r}" for a, b in pts))
        if ilastik_compat:
            lines[(ident, t)] = [text]  # ilastik keeps the last object of a lineage in a frame
        else:
            lines.setdefault((ident, t), []).append(text)
    with atomic_output(out, overwrite=overwrite) as tmp, open(tmp, "w", newline="\n") as f:
        for key in sorted(lines):
            for text in lines[key]:
                f.write(text + "\n")
    return [out]


def read_contours(path: str | os.PathLike, *, ilastik_compat: bool = False) -> pd.DataFrame:
    """Read an ``.outline`` file.

    Parameters
    ----------
    path : the ``.outline`` file (or its base name)
    ilastik_compat : the points are ``y x`` (ilastik's files); returned as (x, y) all the same

    Returns
    -------
    DataFrame with columns ``t, id, contour`` ((N, 2) float arrays of x, y), in file order
    """
    path = outline_path(path)
    if not path.is_file():
        from ..errors import MissingInputError

        raise MissingInputError(f"{path}: outline file not found")
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                stamp, ident = parts[0], int(parts[1])
                t = int(stamp.split("_")[1])
                values = np.array(parts[3:], dtype=np.float64)
            except (IndexError, ValueError) as err:
                raise InputError(f"{path}:{n}: expected '00000000_TTTTTT ID 0.000 x y ...' ({err})") from None
            if values.size % 2:
                raise InputError(f"{path}:{n}: odd number of coordinates ({values.size})")
            pts = values.reshape(-1, 2)
            rows.append((t, ident, pts[:, ::-1].copy() if ilastik_compat else pts))
    return pd.DataFrame(rows, columns=["t", "id", "contour"])
