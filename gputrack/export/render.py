"""Pictures of a tracking result with matplotlib: frame overlays and the lineage tree.

:func:`overlay_figure` draws one frame at a readable size (small frames are upscaled):
the contrast-stretched raw frame in grey, each object filled and outlined in its track's
colour, its track id in white beside a dot of that colour at its centroid, the frame number
in a corner and optional tails of the last positions. :func:`lineage_figure` draws the lineage tree: time
in frames on the x axis, one horizontal line per track labelled with its id, and a marker
at each division joining mother and daughters. Both return a
:class:`matplotlib.figure.Figure` (drawn with Agg, no pyplot state) and colour a track the
same way: :func:`track_colours`, the Glasbey palette without the colours that would not
stand out from a grey image or a white page.

Examples
--------
>>> import numpy as np, pandas as pd
>>> masks = np.zeros((2, 20, 20), np.uint16); masks[:, 5:9, 5:9] = 1
>>> figure_rgb(overlay_figure(masks, 1, numbers=[0, 1])).shape
(800, 800, 3)
>>> tracks = pd.DataFrame({"label": [1, 2, 3], "begin": [0, 4, 4], "end": [3, 9, 7], "parent": [0, 1, 1]})
>>> len(division_markers(lineage_figure(tracks)).get_offsets())
1
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

MIN_SIDE = 800
"""Default smallest long side of an overlay in pixels: smaller frames are upscaled to it."""

DPI = 100


@functools.lru_cache(maxsize=1)
def _standout_palette() -> np.ndarray:
    """Glasbey colours of CIELAB lightness 50-88 and chroma >= 45 (visible on grey and white)."""
    from ..io.images import _srgb_to_lab, glasbey_palette  # noqa: PLC0415

    palette = glasbey_palette(256)
    lab = _srgb_to_lab(palette / 255.0)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    keep = (lab[:, 0] >= 50) & (lab[:, 0] <= 88) & (chroma >= 45)
    return palette[keep]


def track_colours(ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """The colour of each track id: ``(n, 3)`` uint8 sRGB, black for ids < 1.

    Ids index the Glasbey palette (:func:`gputrack.io.images.glasbey_palette`) restricted to
    colours that stand out from a grey image and from white, cycling past its end.

    >>> track_colours([0, 1, 2]).tolist()
    [[0, 0, 0], [0, 255, 0], [255, 0, 0]]
    """
    palette = _standout_palette()
    ids = np.asarray(ids, np.int64)
    out = palette[(np.maximum(ids, 1) - 1) % len(palette)]
    out[ids < 1] = 0
    return out


def contrast_stretch(frame: np.ndarray, low: float = 1.0, high: float = 99.5) -> np.ndarray:
    """A 2D frame (3D: maximum projection over z) scaled to [0, 1] between two percentiles.

    >>> float(contrast_stretch(np.arange(100.0).reshape(10, 10)).max())
    1.0
    """
    img = np.asarray(frame, np.float32)
    if img.ndim == 3:
        img = img.max(axis=0)
    finite = np.isfinite(img)
    if not finite.any():
        return np.zeros(img.shape, np.float32)
    lo, hi = np.percentile(img[finite], [low, high])
    return np.clip((np.where(finite, img, lo) - lo) / max(hi - lo, 1e-12), 0, 1).astype(np.float32)


def centroids(mask: np.ndarray) -> pd.DataFrame:
    """``track_id, y, x`` of every object of a track-id label image (3D: ``y, x`` of the 3D centroid).

    >>> m = np.zeros((5, 5), int); m[1:3, 1:4] = 7
    >>> centroids(m).values.tolist()
    [[7.0, 1.5, 2.0]]
    """
    from scipy import ndimage  # noqa: PLC0415

    mask = np.asarray(mask)
    ids = np.unique(mask[mask > 0])
    if not len(ids):
        return pd.DataFrame({"track_id": np.zeros(0, np.int64), "y": [], "x": []})
    com = np.asarray(ndimage.center_of_mass(np.ones(mask.shape), mask, ids), np.float64).reshape(len(ids), -1)
    return pd.DataFrame({"track_id": ids.astype(np.int64), "y": com[:, -2], "x": com[:, -1]})


def _outline(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels of objects within ``width`` pixels of another value (4-neighbourhood steps)."""
    edge = np.zeros(mask.shape, bool)
    padded = np.pad(mask, width, mode="edge")
    h, w = mask.shape
    for d in range(1, width + 1):
        for dy, dx in ((d, 0), (-d, 0), (0, d), (0, -d)):
            edge |= padded[width + dy : width + dy + h, width + dx : width + dx + w] != mask
    return edge & (mask > 0)


def _new_figure(width_px: float, height_px: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def overlay_figure(
    masks: np.ndarray | Sequence[np.ndarray],
    k: int,
    *,
    raw: np.ndarray | Sequence[np.ndarray] | None = None,
    numbers: Sequence[int] | None = None,
    tail: int = 10,
    min_side: int = MIN_SIDE,
    fill: float | None = None,
):
    """Frame ``k`` with its objects drawn in their track colours, ids and frame number.

    Parameters
    ----------
    masks
        Track-id label frames ``(t, [z,] y, x)``: pixel value = track id, 0 = background
        (a CTC result's masks; 3D is shown as a maximum projection).
    k
        Index of the frame drawn (into ``masks``).
    raw
        Raw frames of the same shape, shown contrast-stretched in grey; default: a dark
        background.
    numbers
        Frame number of each frame (shown in the corner); default ``0, 1, ...``.
    tail
        Also draw the centroids of the last ``tail`` frames of each track as a line (0: none).
    min_side
        Smallest long side of the picture in pixels: smaller frames are upscaled by a whole
        factor (nearest neighbour), larger ones are drawn pixel for pixel.
    fill
        Opacity of the object fill (default 0.35 over raw data, 0.6 without).

    Returns
    -------
    matplotlib.figure.Figure
        One axes covering the figure, with the image in frame pixel coordinates.
    """
    from matplotlib import patheffects  # noqa: PLC0415

    frame = np.asarray(masks[k])
    flat = frame.max(axis=0) if frame.ndim == 3 else frame
    h, w = flat.shape
    scale = max(1, -(-int(min_side) // max(h, w)))
    if raw is not None:
        grey = 0.8 * contrast_stretch(raw[k])  # head-room so that colours stand out
        fill = 0.35 if fill is None else fill
    else:
        grey = np.full(flat.shape, 0.12, np.float32)
        fill = 0.6 if fill is None else fill
    big = np.repeat(np.repeat(flat, scale, axis=0), scale, axis=1)
    rgb = np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)[..., None].repeat(3, axis=-1)
    colour = track_colours(big).astype(np.float32) / 255
    inside = (big > 0)[..., None]
    rgb = np.where(inside, (1 - fill) * rgb + fill * colour, rgb)
    edge = _outline(big, max(1, scale // 3))[..., None]
    rgb = np.where(edge, colour, rgb)

    fig = _new_figure(w * scale, h * scale)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(rgb, interpolation="nearest", extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    stroke = [patheffects.withStroke(linewidth=2.5, foreground="black")]
    now = centroids(frame)
    if tail > 0 and len(now):
        past = [centroids(masks[j]).assign(j=j) for j in range(max(0, k - tail), k)]
        path = pd.concat([*past, now.assign(j=k)]).sort_values(["track_id", "j"])
        path = path[path["track_id"].isin(now["track_id"])]
        for tid, one in path.groupby("track_id"):
            if len(one) > 1:
                ax.plot(one["x"], one["y"], color=track_colours([tid])[0] / 255, linewidth=1.5,
                        path_effects=stroke, zorder=2, gid="tail")
    colours = track_colours(now["track_id"]) / 255
    ax.scatter(now["x"], now["y"], s=30, c=colours, edgecolors="black", linewidths=0.8, zorder=3,
               label="centroids")
    for tid, y, x in now[["track_id", "y", "x"]].itertuples(index=False):
        ax.annotate(str(int(tid)), (x, y), xytext=(4, 4), textcoords="offset points", color="white",
                    fontsize=10, fontweight="bold", path_effects=stroke, zorder=4)
    number = k if numbers is None else int(numbers[k])
    ax.text(0.01, 0.99, f"frame {number}", transform=ax.transAxes, ha="left", va="top", color="white",
            fontsize=12, bbox={"facecolor": "black", "alpha": 0.6, "edgecolor": "none"}, gid="frame")
    return fig


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


def lineage_figure(tracks: pd.DataFrame, *, title: str | None = None):
    """The lineage tree of a CTC track table (``label, begin, end, parent``).

    Each track is a horizontal line over its frames (from ``begin - 0.5`` to ``end + 0.5``)
    in its :func:`track_colours` colour with its id at the right end; daughters follow their
    mother depth-first. Each division is one marker at the mother's end, joined by a vertical
    line to its daughters' rows. The x axis is the frame number.

    Returns
    -------
    matplotlib.figure.Figure
        Its axes hold the tracks (a LineCollection with gid ``"tracks"``) and the division
        markers (:func:`division_markers`).
    """
    from matplotlib.collections import LineCollection  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    tracks = tracks[["label", "begin", "end", "parent"]].astype(np.int64)
    order = _tree_order(tracks)
    info = tracks.set_index("label")
    row = {label: i for i, label in enumerate(order)}
    n = max(len(order), 1)
    first = int(tracks["begin"].min()) if len(tracks) else 0
    last = int(tracks["end"].max()) if len(tracks) else 0
    height_in = min(max(0.22 * n + 1.1, 3.0), 150.0)
    row_pt = (height_in - 1.1) * 72 / n
    font = float(np.clip(row_pt * 0.75, 2.0, 9.0))
    fig = _new_figure(DPI * min(max(0.15 * (last - first + 1) + 3, 7.0), 40.0), DPI * height_in)
    ax = fig.add_axes((0.06, 0.65 / height_in, 0.9, 1 - 1.05 / height_in))
    begin = info.loc[order, "begin"].to_numpy() if order else np.zeros(0)
    end = info.loc[order, "end"].to_numpy() if order else np.zeros(0)
    rows = np.arange(len(order))
    segments = np.stack([np.c_[begin - 0.5, rows], np.c_[end + 0.5, rows]], axis=1) if order else []
    ax.add_collection(LineCollection(segments, colors=track_colours(order) / 255 if order else "k",
                                     linewidths=max(min(row_pt * 0.45, 4.0), 1.0), gid="tracks"))
    for label in order:
        ax.text(info.at[label, "end"] + 1.0, row[label], str(label), va="center", ha="left", fontsize=font)
    joins, stubs, marks = [], [], []
    daughters = tracks[tracks["parent"].isin(row) & (tracks["parent"] > 0)].groupby("parent")["label"]
    for parent, kids in daughters:
        x = info.at[parent, "end"] + 0.5
        ys = [row[parent], *(row[c] for c in kids)]
        joins.append([(x, min(ys)), (x, max(ys))])
        stubs += [[(x, row[c]), (info.at[c, "begin"] - 0.5, row[c])] for c in kids
                  if info.at[c, "begin"] - 0.5 > x]
        marks.append((x, row[parent]))
    ax.add_collection(LineCollection(joins, colors="black", linewidths=0.8, gid="division links"))
    ax.add_collection(LineCollection(stubs, colors="0.6", linewidths=0.8, linestyles="dotted", gid="gaps"))
    marks_xy = np.asarray(marks, np.float64).reshape(-1, 2)
    ax.scatter(marks_xy[:, 0], marks_xy[:, 1], s=22, c="black", marker="o", zorder=3, label="divisions")
    ax.set_xlim(first - 1, last + 1 + max(0.04 * (last - first + 1), 2))
    ax.set_ylim(n - 0.5, -0.5)
    ticks = MaxNLocator(nbins=10, integer=True).tick_values(first, last)
    ax.set_xticks([int(t) for t in ticks if first <= t <= last] or [first])
    ax.set_xlabel("frame")
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or f"lineage tree: {len(order)} tracks, {len(marks)} divisions", fontsize=10)
    return fig


def division_markers(fig):
    """The division markers of a :func:`lineage_figure` (a PathCollection; one offset each)."""
    ax = fig.axes[0]
    return next(c for c in ax.collections if c.get_label() == "divisions")


def figure_rgb(fig) -> np.ndarray:
    """A figure drawn into a ``(height, width, 3)`` uint8 RGB array (Agg)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
