"""ilastik's "Cell Division Features" from the feature tables of consecutive frames.

For every object ``p`` of frame ``t`` (spec section 3.4):

1. Candidate children: objects of frame ``t + 1`` with ``Count >= size_filter`` (4) inside a
   box of ``template_size`` (50) pixels around ``round(centre(p))``, ``[c - 25, c + 25)``.
   With ``labels_next`` (the label image of ``t + 1``) a candidate is any object with a pixel
   in the box, as in ilastik; from tables alone it is any object whose bounding box
   (``Coord<Minimum>`` / ``Coord<Maximum>``) overlaps the box.
2. ``SquaredDistances_k`` (k = 0, 1, 2): the k-th smallest Euclidean distance (**not**
   squared, despite ilastik's name) from ``p`` to a candidate, 9999 when missing. Distances are
   physical: both centres are multiplied by ``scales``. With ``ilastik_compat=True`` only the
   parent centre is scaled (ilastik's quirk); with unit scales the two agree.
3. With ``c1``, ``c2`` the two nearest candidates and ``X`` a feature in ``ratio_features``:
   ``ParentChildrenRatio_X = X(p) / (X(c1) + X(c2))`` and ``ChildrenRatio_X = X(c1) / X(c2)``
   inverted when > 1 (so in ``(0, 1]``); 0 with fewer than two candidates, NaN -> 0.
4. ``ParentChildrenAngle_RegionCenter``: the largest angle (degrees) at ``p`` between two of
   the (up to 3) nearest candidates; 0 without a pair.

The last frame (no successor) gets the defaults. ``ChildrenRatio_SquaredDistances``, which
ilastik lists but never computes, is not produced.

Examples
--------
>>> import pandas as pd
>>> t0 = pd.DataFrame({"t": [0], "label": [1], "Count": [40.0], "Mean": [1.0],
...                    "RegionCenter_0": [20.0], "RegionCenter_1": [20.0]})
>>> t1 = pd.DataFrame({"t": [1, 1], "label": [1, 2], "Count": [20.0, 20.0], "Mean": [1.0, 1.0],
...                    "RegionCenter_0": [16.0, 24.0], "RegionCenter_1": [20.0, 20.0],
...                    "Coord<Minimum>_0": [14.0, 22.0], "Coord<Minimum>_1": [18.0, 18.0],
...                    "Coord<Maximum>_0": [18.0, 26.0], "Coord<Maximum>_1": [22.0, 22.0]})
>>> d = division_features(t0, t1)
>>> d[["SquaredDistances_0", "SquaredDistances_2", "ParentChildrenRatio_Count",
...    "ChildrenRatio_Count", "ParentChildrenAngle_RegionCenter"]].values.tolist()
[[4.0, 9999.0, 1.0, 1.0, 180.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import backend
from ..errors import InputError

DEFAULT_DISTANCE = 9999.0
N_BEST = 3


def _centres(table: pd.DataFrame) -> np.ndarray:
    cols = [c for c in ("RegionCenter_0", "RegionCenter_1", "RegionCenter_2") if c in table.columns]
    if len(cols) < 2:
        raise InputError("division features: the table needs RegionCenter_0, RegionCenter_1 (x, y) columns")
    return table[cols].to_numpy(dtype=np.float64)


def _ratio_columns(table: pd.DataFrame, names: Sequence[str]) -> list[str]:
    cols = []
    for name in names:
        found = [c for c in table.columns if c == name or (c.rsplit("_", 1)[0] == name and c[-1].isdigit())]
        if not found:
            raise InputError(f"division features: the table has no column {name!r} (needed for its ratios)")
        cols += found
    return cols


def division_features(
    table: pd.DataFrame,
    table_next: pd.DataFrame | None,
    labels_next: Any | None = None,
    *,
    scales: Sequence[float] | None = None,
    ratio_features: Sequence[str] = ("Count", "Mean"),
    template_size: int = 50,
    size_filter: int = 4,
    ilastik_compat: bool = False,
) -> pd.DataFrame:
    """Division features of the objects of one frame against the next frame.

    Parameters
    ----------
    table, table_next
        Feature tables (:func:`gputrack.objects.features`, pixel units) of frames ``t`` and
        ``t + 1``; ``table_next=None`` for the last frame. They need ``RegionCenter_*``,
        ``Count`` and the ``ratio_features``; without ``labels_next`` also ``Coord<Minimum>_*``
        and ``Coord<Maximum>_*`` of the next frame.
    labels_next
        Optional label image of frame ``t + 1`` (``y, x`` or ``z, y, x``; numpy, or cupy:
        then the boxes are tested on the device and only the candidate table comes back)
        for ilastik's exact candidate test.
    scales
        Physical pixel size ``(z, y, x)`` (or ``(y, x)``); default 1.
    ratio_features
        Features ``X`` of the ``ParentChildrenRatio_X`` / ``ChildrenRatio_X`` columns.
    template_size, size_filter
        ilastik's box edge (pixels) and minimum candidate size.
    ilastik_compat
        Reproduce ilastik's unscaled candidate centres in the distances.

    Returns
    -------
    pandas.DataFrame
        ``t``, ``label`` of ``table`` and the division feature columns.
    """
    centres = _centres(table)
    ndim = centres.shape[1]
    scale = np.ones(ndim) if scales is None else np.asarray(list(scales)[::-1][:ndim], float)
    if scale.size != ndim:
        raise InputError(f"scales: expected {ndim} values (z, y, x order), got {list(scales)}")
    rcols = _ratio_columns(table, ratio_features)
    n = len(table)
    dist = np.full((n, N_BEST), DEFAULT_DISTANCE)
    pcr = np.zeros((n, len(rcols)))
    cr = np.zeros((n, len(rcols)))
    angle = np.zeros(n)
    if table_next is not None and len(table_next) and n:
        nxt = _centres(table_next)
        count_next = table_next["Count"].to_numpy(float)
        cand = (
            _candidates(centres, table_next, labels_next, template_size) & (count_next >= size_filter)[None]
        )
        parent = centres * scale
        child = nxt if ilastik_compat else nxt * scale
        xp_ = table[rcols].to_numpy(float)
        xn = table_next[rcols].to_numpy(float)
        for i in np.nonzero(cand.any(axis=1))[0]:
            js = np.nonzero(cand[i])[0]
            d = np.linalg.norm(child[js] - parent[i], axis=1)
            order = np.argsort(d, kind="stable")[:N_BEST]
            js, d = js[order], d[order]
            dist[i, : d.size] = d
            if js.size >= 2:
                c1, c2 = xn[js[0]], xn[js[1]]
                with np.errstate(divide="ignore", invalid="ignore"):
                    p = xp_[i] / (c1 + c2)
                    r = c1 / c2
                    r = np.where(r > 1, 1.0 / r, r)
                pcr[i] = np.nan_to_num(p, nan=0.0, posinf=0.0, neginf=0.0)
                cr[i] = np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)
                vec = child[js] - parent[i]
                best = 0.0
                for a in range(js.size):
                    for b in range(a + 1, js.size):
                        na, nb = np.linalg.norm(vec[a]), np.linalg.norm(vec[b])
                        if na > 0 and nb > 0:
                            cos = np.clip(vec[a] @ vec[b] / (na * nb), -1.0, 1.0)
                            best = max(best, float(np.degrees(np.arccos(cos))))
                angle[i] = best
    out = {"t": table["t"].to_numpy(), "label": table["label"].to_numpy()}
    for k in range(N_BEST):
        out[f"SquaredDistances_{k}"] = dist[:, k]
    for j, c in enumerate(rcols):
        out[f"ParentChildrenRatio_{c}"] = pcr[:, j]
    for j, c in enumerate(rcols):
        out[f"ChildrenRatio_{c}"] = cr[:, j]
    out["ParentChildrenAngle_RegionCenter"] = angle
    return pd.DataFrame(out)


def _candidates(centres: np.ndarray, table_next: pd.DataFrame, labels_next: Any, size: int) -> np.ndarray:
    """(n_parents, n_next) booleans: next-frame object meets the box around the parent."""
    ndim = centres.shape[1]
    half = size // 2
    lo = np.round(centres).astype(np.int64) - half
    hi = lo + size
    if labels_next is not None:
        return _candidates_in_boxes(labels_next, table_next["label"].to_numpy(np.int64), lo, hi)
    need = [f"Coord<{m}>_{a}" for m in ("Minimum", "Maximum") for a in range(ndim)]
    if any(c not in table_next.columns for c in need):
        raise InputError(
            "division features: the next-frame table needs Coord<Minimum>_*/Coord<Maximum>_* "
            "columns, or pass labels_next"
        )
    bmin = table_next[[f"Coord<Minimum>_{a}" for a in range(ndim)]].to_numpy(float)
    bmax = table_next[[f"Coord<Maximum>_{a}" for a in range(ndim)]].to_numpy(float)
    lo_c = np.maximum(lo, 0)
    return np.all((bmin[None] < hi[:, None]) & (bmax[None] > lo_c[:, None]), axis=2)


def _candidates_in_boxes(labels: Any, ids: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(n_boxes, n_ids) booleans: object ``ids[j]`` has a pixel in box ``i`` (``lo``/``hi`` x, y(, z)).

    Runs where ``labels`` lives (numpy or cupy); the label ids of each box are matched to
    ``ids`` by a sorted search, and only the boolean table leaves the device.
    """
    xp = backend.namespace_of(labels)
    lab = xp.asarray(labels)
    ndim = lo.shape[1]
    if lab.ndim != ndim:
        raise InputError(f"labels_next: expected {ndim} dimensions, got shape {lab.shape}")
    order = np.argsort(ids, kind="stable")
    sorted_ids = xp.asarray(ids[order])
    column = xp.asarray(order)
    out = xp.zeros((lo.shape[0], ids.size), dtype=bool)
    extent = lab.shape[::-1]  # x, y(, z)
    for i in range(lo.shape[0]):
        box = tuple(slice(max(int(lo[i, a]), 0), min(int(hi[i, a]), extent[a])) for a in range(ndim))[::-1]
        values = xp.unique(lab[box])
        values = values[values != 0].astype(xp.int64)
        if ids.size == 0 or values.size == 0:
            continue
        pos = xp.minimum(xp.searchsorted(sorted_ids, values), ids.size - 1)
        found = sorted_ids[pos] == values
        out[i, column[pos[found]]] = True
    return backend.to_host(out)


def sequence_division_features(tables: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    """:func:`division_features` for every frame of a multi-frame table.

    Examples
    --------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"t": [0, 1], "label": [1, 1], "Count": [9.0, 9.0], "Mean": [1.0, 1.0],
    ...                     "RegionCenter_0": [5.0, 6.0], "RegionCenter_1": [5.0, 5.0],
    ...                     "Coord<Minimum>_0": [4.0, 5.0], "Coord<Minimum>_1": [4.0, 4.0],
    ...                     "Coord<Maximum>_0": [7.0, 8.0], "Coord<Maximum>_1": [7.0, 7.0]})
    >>> sequence_division_features(tab)["SquaredDistances_0"].tolist()
    [1.0, 9999.0]
    """
    frames = sorted(tables["t"].unique())
    parts = []
    for t in frames:
        cur = tables[tables["t"] == t]
        nxt = tables[tables["t"] == t + 1]
        parts.append(division_features(cur, nxt if len(nxt) else None, **kwargs))
    if not parts:
        return division_features(tables, None, **kwargs)
    return pd.concat(parts, ignore_index=True)
