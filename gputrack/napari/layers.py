"""gputrack tables <-> napari layer data: Tracks layers from lineages, coloured labels.

napari's Tracks layer takes an ``(N, 4)`` array ``track_id, t, y, x`` (``(N, 5)`` in 3D)
and a graph ``{child track: [parent track]}``; a lineage table (:func:`gputrack.tracking.lineages`)
and the detection table hold the same information.

Examples
--------
>>> import numpy as np, pandas as pd
>>> det = pd.DataFrame({"t": [0, 1, 1], "label": [1, 1, 2], "y": [5., 5., 9.], "x": [5., 3., 7.]})
>>> lin = pd.DataFrame({"t": [0, 1, 1], "label": [1, 1, 2], "track_id": [1, 2, 3],
...                     "parent_track": [0, 1, 1]})
>>> data, props, graph = tracks_layer_data(lin, det)
>>> data.tolist(), graph
([[1.0, 0.0, 5.0, 5.0], [2.0, 1.0, 5.0, 3.0], [3.0, 1.0, 9.0, 7.0]], {2: [1], 3: [1]})
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError


def _spatial(detections: pd.DataFrame) -> list[str]:
    cols = ["y", "x"]
    if "z" in detections.columns and detections["z"].nunique() > 1:
        cols = ["z", *cols]
    return cols


def tracks_layer_data(
    lineage: pd.DataFrame, detections: pd.DataFrame
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[int, list[int]]]:
    """Tracks-layer data, properties and graph of a lineage table and its detections.

    Parameters
    ----------
    lineage : DataFrame
        ``t, label, track_id, parent_track`` per detection (``track_id < 0``: false detection,
        left out); the row order of ``detections``, or matched on ``t, label``.
    detections : DataFrame
        ``t, label, [z,] y, x``: object centres in pixels.

    Returns
    -------
    data : (N, 4) or (N, 5) float array
        ``track_id, t, [z,] y, x`` sorted by track then time (napari's order).
    properties : dict
        ``track_id``, ``label`` and ``lineage_id`` (when present) per row.
    graph : dict
        ``{track: [parent track]}`` of every track with a parent.
    """
    missing = [c for c in ("t", "label", "track_id") if c not in lineage.columns]
    if missing:
        raise InputError(f"lineage table: missing column(s) {missing}")
    coords = _spatial(detections)
    pos = detections[["t", "label", *coords]]
    lin = lineage[lineage["track_id"] >= 0]
    merged = lin.merge(pos, on=["t", "label"], how="left", validate="one_to_one")
    if merged[coords].isna().any().any():
        raise InputError("lineage table: some (t, label) have no detection (centre)")
    merged = merged.sort_values(["track_id", "t"], kind="stable")
    data = merged[["track_id", "t", *coords]].to_numpy(np.float64)
    props = {"track_id": merged["track_id"].to_numpy(np.int64), "label": merged["label"].to_numpy(np.int64)}
    if "lineage_id" in merged.columns:
        props["lineage_id"] = merged["lineage_id"].to_numpy(np.int64)
    graph: dict[int, list[int]] = {}
    if "parent_track" in merged.columns:
        first = merged.groupby("track_id")["parent_track"].first()
        graph = {int(k): [int(v)] for k, v in first.items() if v > 0}
    return data, props, graph


def tracks_from_masks(masks: np.ndarray, tracks: pd.DataFrame | None = None):
    """Tracks-layer data of CTC masks (label = track id) and their ``label, begin, end, parent`` table.

    Examples
    --------
    >>> m = np.zeros((2, 8, 8), np.uint16); m[0, 1:3, 1:3] = 1; m[1, 4:6, 4:6] = 1
    >>> tracks_from_masks(m)[0].tolist()
    [[1.0, 0.0, 1.5, 1.5], [1.0, 1.0, 4.5, 4.5]]
    """
    from ..tracking.detections import detections_from_labels  # noqa: PLC0415

    det = detections_from_labels(masks)
    lin = det[["t", "label"]].copy()
    lin["track_id"] = det["label"].to_numpy(np.int64)
    parent = {} if tracks is None else dict(zip(tracks["label"].astype(int), tracks["parent"].astype(int)))
    lin["parent_track"] = [parent.get(int(k), 0) for k in lin["track_id"]]
    return tracks_layer_data(lin, det)


def track_labels_image(result, by: str = "track") -> np.ndarray:
    """The result's object identities painted with track (or lineage) ids, ``(t, [z,] y, x)`` uint32."""
    from ..tracking.lineage import relabel  # noqa: PLC0415

    frames = identity_frames(result)
    return np.stack(relabel(result.solution, frames, by=by, start=result.start))


def identity_frames(result) -> list[np.ndarray]:
    """The object identities of a tracking result (stored frames, or read from its CTC folder)."""
    if result.label_frames is not None:
        return list(result.label_frames)
    if result.label_path:
        from ..io.ctc import read_frames  # noqa: PLC0415

        return list(read_frames(result.label_path))
    raise InputError("tracking result holds no object identities (no label frames, no label_path)")


def visible_region(
    shape: Sequence[int], corner_pixels: np.ndarray, *, margin: int = 0
) -> tuple[slice, ...]:
    """The part of an image of ``shape`` inside a layer's ``corner_pixels`` (``(2, ndim)``), clipped.

    Examples
    --------
    >>> visible_region((100, 80), np.array([[-5, 10], [50, 200]]))
    (slice(0, 51, None), slice(10, 80, None))
    """
    corners = np.asarray(corner_pixels)
    out = []
    for n, lo, hi in zip(shape, corners[0], corners[1]):
        lo = int(np.clip(np.floor(lo) - margin, 0, n))
        hi = int(np.clip(np.ceil(hi) + 1 + margin, lo, n))
        out.append(slice(lo, hi) if hi > lo else slice(0, n))
    return tuple(out)
