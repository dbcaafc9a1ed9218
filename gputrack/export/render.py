"""Pictures of a tracking result: tracks drawn over the raw data, and a lineage tree.

Both are plain RGB ``uint8`` arrays drawn with numpy (no plotting library), ready for
:func:`gputrack.io.write_image` as PNG. Colours come from the Glasbey palette, indexed by
track id (overlay) or lineage id (tree), so the same cell has the same colour in both.

Examples
--------
>>> import numpy as np, pandas as pd
>>> raw = np.zeros((2, 20, 20), np.uint16)
>>> pos = pd.DataFrame({"t": [0, 1], "track_id": [1, 1], "lineage_id": [1, 1],
...                     "y": [5.0, 10.0], "x": [5.0, 5.0]})
>>> track_overlay(raw, pos).shape
(20, 20, 3)
>>> tracks = pd.DataFrame({"label": [1, 2, 3], "begin": [0, 4, 4], "end": [3, 9, 7], "parent": [0, 1, 1]})
>>> lineage_plot(tracks, frame_width=4, row_height=6).shape
(18, 40, 3)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..io.images import glasbey_palette


def _colour(ids: np.ndarray) -> np.ndarray:
    """Glasbey colours for positive ids (cycling past 255; 0 stays black)."""
    palette = glasbey_palette(256)
    ids = np.asarray(ids, np.int64)
    return palette[np.where(ids > 0, (ids - 1) % 255 + 1, 0)]


def _draw_segment(
    canvas: np.ndarray, p0: Sequence[float], p1: Sequence[float], colour, width: int = 1
) -> None:
    """Draw a straight segment (row, col) -> (row, col) into an RGB canvas, clipped."""
    n = int(np.ceil(max(abs(p1[0] - p0[0]), abs(p1[1] - p0[1])))) + 1
    rows = np.rint(np.linspace(p0[0], p1[0], n)).astype(np.int64)
    cols = np.rint(np.linspace(p0[1], p1[1], n)).astype(np.int64)
    h, w = canvas.shape[:2]
    for dr in range(-(width // 2), width - width // 2):
        for dc in range(-(width // 2), width - width // 2):
            r, c = rows + dr, cols + dc
            ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            canvas[r[ok], c[ok]] = colour


def grey_background(frame: np.ndarray, low: float = 1.0, high: float = 99.5) -> np.ndarray:
    """Percentile-stretched grey RGB image of a 2D frame (3D: maximum projection over z)."""
    img = np.asarray(frame, np.float32)
    if img.ndim == 3:
        img = img.max(axis=0)
    lo, hi = np.percentile(img, [low, high]) if img.size else (0.0, 1.0)
    grey = np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)
    grey = (grey * 200).astype(np.uint8)  # leave head-room so colours stand out
    return np.repeat(grey[..., None], 3, axis=-1)


def track_overlay(
    raw: np.ndarray,
    positions: pd.DataFrame,
    *,
    frame: int = -1,
    parents: pd.DataFrame | None = None,
    width: int = 1,
) -> np.ndarray:
    """Trajectories of all tracks up to ``frame`` drawn over that raw frame.

    Parameters
    ----------
    raw
        Raw frames ``(t, y, x)`` or ``(t, z, y, x)`` (3D is shown as a maximum projection).
    positions
        One row per tracked object: ``t``, ``track_id`` (< 1 = not drawn), ``y``, ``x``.
    frame
        Frame drawn as background and last time point drawn (default: the last frame).
    parents
        Optional CTC track table (``label, begin, end, parent``): divisions are drawn as a
        segment from the mother's last position to each daughter's first.
    width
        Line width in pixels.

    Returns
    -------
    numpy.ndarray
        ``(y, x, 3)`` uint8 RGB image.
    """
    n_frames = raw.shape[0]
    frame = frame % n_frames
    canvas = grey_background(raw[frame])
    pos = positions[(positions["track_id"] > 0) & (positions["t"] <= frame)]
    pos = pos.sort_values(["track_id", "t"])
    ids = pos["track_id"].to_numpy()
    yx = pos[["y", "x"]].to_numpy(np.float64)
    colours = _colour(ids)
    same = ids[1:] == ids[:-1]
    for i in np.flatnonzero(same):
        _draw_segment(canvas, yx[i], yx[i + 1], colours[i], width)
    if parents is not None and len(pos):
        first = pos.groupby("track_id")[["y", "x"]].first()
        last = pos.groupby("track_id")[["y", "x"]].last()
        for child, parent in parents[["label", "parent"]].itertuples(index=False):
            if parent > 0 and child in first.index and parent in last.index:
                _draw_segment(
                    canvas,
                    last.loc[parent].to_numpy(),
                    first.loc[child].to_numpy(),
                    _colour([child])[0],
                    width,
                )
    # mark the current positions with a small cross so cells are visible in the last frame
    now = pos[pos["t"] == frame]
    for (y, x), colour in zip(now[["y", "x"]].to_numpy(), _colour(now["track_id"].to_numpy())):
        _draw_segment(canvas, (y - 2, x), (y + 2, x), colour, 1)
        _draw_segment(canvas, (y, x - 2), (y, x + 2), colour, 1)
    return canvas


def _tree_order(tracks: pd.DataFrame) -> list[int]:
    """Track ids in depth-first order (roots by start frame, daughters right after mothers)."""
    children: dict[int, list[int]] = {}
    roots = []
    known = set(tracks["label"])
    for label, parent in tracks.sort_values(["begin", "label"])[["label", "parent"]].itertuples(index=False):
        if parent > 0 and parent in known:
            children.setdefault(int(parent), []).append(int(label))
        else:
            roots.append(int(label))
    order: list[int] = []
    stack = roots[::-1]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(children.get(node, [])[::-1])
    return order


def lineage_plot(
    tracks: pd.DataFrame, *, frame_width: int = 6, row_height: int = 8, lineage: pd.Series | None = None
) -> np.ndarray:
    """A lineage tree: one horizontal bar per track over its frames, daughters joined to mothers.

    Parameters
    ----------
    tracks
        CTC track table ``label, begin, end, parent``.
    frame_width
        Pixels per frame (x axis = time).
    row_height
        Pixels per track row (bars are ``row_height // 2`` thick).
    lineage
        Optional colour id per track (indexed by track label); default: the root ancestor.

    Returns
    -------
    numpy.ndarray
        ``(n_tracks * row_height, n_frames * frame_width, 3)`` uint8 RGB image, white background.
    """
    order = _tree_order(tracks)
    info = tracks.set_index("label")
    if lineage is None:
        root = {}
        for label in order:
            parent = int(info.at[label, "parent"])
            root[label] = root.get(parent, label) if parent in root else label
        lineage = pd.Series(root)
    n_frames = int(tracks["end"].max()) + 1 if len(tracks) else 1
    canvas = np.full((max(len(order), 1) * row_height, n_frames * frame_width, 3), 255, np.uint8)
    row = {label: i for i, label in enumerate(order)}
    half = max(row_height // 4, 1)
    for label in order:
        r = row[label] * row_height + row_height // 2
        c0 = int(info.at[label, "begin"]) * frame_width
        c1 = (int(info.at[label, "end"]) + 1) * frame_width - 1
        colour = _colour([int(lineage.get(label, label))])[0]
        canvas[r - half : r + half, c0 : c1 + 1] = colour
        parent = int(info.at[label, "parent"])
        if parent in row:
            pr = row[parent] * row_height + row_height // 2
            top, bottom = sorted((pr, r))
            canvas[top + half : bottom - half + 1, max(c0 - 1, 0)] = (0, 0, 0)  # between the bars
    return canvas
