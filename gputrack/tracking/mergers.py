"""Merger resolution (spec §4.10): split detections carrying k > 1 objects and re-link the pieces.

A detection whose solved count is k > 1 is a merger. Its pixels (in physical units) are fitted
with a seeded Gaussian mixture of k components (scikit-learn ``GaussianMixture``, full
covariance, ``random_state=0``); every pixel goes to its most probable component. The pieces
replace the merger in the detection table, in the label frames and in the solution:

- Numbering: in each frame the pieces get new labels ``max label of that frame + 1, + 2, ...``,
  mergers taken in label order and the pieces of one merger in (z, y, x) order of their centres.
  ``merger_label`` holds the original label of a piece (0 for other detections).
- Re-linking: every link that touched a merger is replaced by the links between the pieces on
  its ends (a piece-to-piece or piece-to-neighbour link for each pair). Then, per consecutive
  frame pair at once, the active units are re-assigned by a small integer program (scipy
  ``milp``): each formerly active link keeps carrying the same number of objects, each piece
  receives and sends at most one, and the sum of the link lengths (between piece centres and
  neighbour centres) is minimal. This is ilastik's re-optimisation among the merger's pieces and
  the neighbours it was linked to; unlike ilastik's unweighted max-flow it cannot change how many
  objects flow between two detections, so the solved counts stay as the tracker chose them.
- Pieces are single objects (count 1); they appear / disappear where the merger did.

Mergers with fewer pixels than objects, or whose mixture leaves a component empty, stay
unresolved (count k).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix

from ..errors import InputError
from .detections import COORDS, count_columns
from .energies import PROB_MAX, PROB_MIN, compute_energies
from .graph import HypothesesGraph
from .params import TrackingParameters
from .solution import Solution, total_energy


def split_object(
    coords: np.ndarray, k: int, *, scales: Sequence[float] = (1.0, 1.0, 1.0), random_state: int = 0
) -> np.ndarray | None:
    """Assign the pixels of one object to k pieces with a seeded Gaussian mixture.

    Parameters
    ----------
    coords : (n, 3) pixel coordinates (z, y, x)
    k : number of pieces
    scales : pixel size (z, y, x); the mixture is fitted in physical units
    random_state : seed of the mixture

    Returns
    -------
    (n,) int array of piece indices 0..k-1, pieces ordered by the (z, y, x) order of their
    centres; None if there are fewer than k pixels or a piece came out empty.

    Examples
    --------
    >>> yx = np.array([[0, 0, x] for x in (0, 1, 2, 10, 11, 12)])
    >>> split_object(yx, 2).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    coords = np.asarray(coords, np.float64)
    if coords.shape[0] < k:
        return None
    x = coords * np.asarray(scales, np.float64)[None, :]
    keep = np.ptp(x, axis=0) > 0  # flat axes (z in 2D) make the covariance singular
    if not keep.any():
        return None
    from sklearn.mixture import GaussianMixture  # noqa: PLC0415 (1 s to import: only when needed)

    gmm = GaussianMixture(n_components=k, covariance_type="full", random_state=random_state, reg_covar=1e-3)
    assign = gmm.fit(x[:, keep]).predict(x[:, keep])
    if np.unique(assign).size < k:
        return None
    centres = np.array([coords[assign == c].mean(axis=0) for c in range(k)])
    order = np.lexsort(centres.T[::-1])
    rank = np.empty(k, np.int64)
    rank[order] = np.arange(k)
    return rank[assign]


def _relink(pairs_link, pa, pb, cost, link_value):
    """Choose the active piece links: per old link keep its flow, each piece <= 1 in and out."""
    from scipy.optimize import Bounds, LinearConstraint, milp  # noqa: PLC0415 (only when needed)

    nv = pa.size
    rows, cols, lo, hi = [], [], [], []
    r = 0
    for e in np.unique(pairs_link):
        idx = np.flatnonzero(pairs_link == e)
        rows.append(np.full(idx.size, r))
        cols.append(idx)
        lo.append(link_value[e])
        hi.append(link_value[e])
        r += 1
    for ends in (pa, pb):
        for p in np.unique(ends[ends >= 0]):
            idx = np.flatnonzero(ends == p)
            rows.append(np.full(idx.size, r))
            cols.append(idx)
            lo.append(0)
            hi.append(1)
            r += 1
    a = coo_matrix((np.ones(sum(c.size for c in cols)), (np.concatenate(rows), np.concatenate(cols))),
                   shape=(r, nv)).tocsr()
    res = milp(cost, constraints=LinearConstraint(a, np.array(lo, float), np.array(hi, float)),
               integrality=np.ones(nv), bounds=Bounds(0, 1))
    if res.x is None:
        raise InputError(f"merger resolution: re-linking found no assignment ({res.message})")
    return np.round(res.x).astype(np.int64)


def resolve_mergers(
    solution: Solution,
    label_frames: Sequence[np.ndarray] | np.ndarray,
    params: TrackingParameters | None = None,
    *,
    start: int | None = None,
    random_state: int = 0,
) -> tuple[Solution, list[np.ndarray]]:
    """Split every merger of a solution into single objects and re-link them (module docstring).

    Parameters
    ----------
    solution : Solution
        Solved on detections whose labels are those of ``label_frames``.
    label_frames : sequence of arrays
        Segmentation, frame ``k`` = time ``start + k``.
    params : TrackingParameters, optional
        Used to recompute the energies of the new graph (same as for the solve).
    start : int, optional
        Time of the first frame (default ``attrs["frames"][0]`` of the detections, or 0).
    random_state : int
        Seed of the Gaussian mixtures.

    Returns
    -------
    solution : Solution
        On the new graph (pieces instead of mergers); its detections carry ``merger_label``.
    label_frames : list of arrays
        Object identities: the segmentation with the merger pixels relabelled to the pieces.

    Examples
    --------
    >>> from gputrack.tracking import detections_from_labels, track
    >>> lab = np.zeros((1, 9, 20), np.uint16); lab[0, 2:7, 1:19] = 4
    >>> det = detections_from_labels(lab); det["count_prob_0"] = 0.0
    >>> det["count_prob_1"] = 0.0; det["count_prob_2"] = 1.0
    >>> sol, frames = resolve_mergers(track(det, TrackingParameters(max_objects=2)), lab)
    >>> sol.graph.detections[["label", "merger_label"]].values.tolist()
    [[5, 4], [6, 4]]
    """
    params = params or TrackingParameters()
    g = solution.graph
    df = g.detections.copy()
    df.attrs.update(g.detections.attrs)
    if start is None:
        start = int(df.attrs.get("frames", (0, 0))[0])
    frames = [np.asarray(f) for f in label_frames]
    if "merger_label" not in df.columns:
        df["merger_label"] = np.zeros(len(df), np.int64)
    n = g.n_nodes
    t = g.t
    pieces: dict[int, list[int]] = {}
    new_rows = []
    next_label: dict[int, int] = {}
    ccols = count_columns(df)
    copied: set[int] = set()
    for i in np.flatnonzero(solution.count > 1):
        k = int(solution.count[i])
        ti, label = int(t[i]), int(df["label"].iat[i])
        fi = ti - start
        if not 0 <= fi < len(frames):
            raise InputError(f"merger resolution: detection at t={ti} has no label frame (start {start})")
        frame = frames[fi]
        mask = frame == label
        coords = np.column_stack(np.nonzero(mask.reshape((1,) * (3 - frame.ndim) + frame.shape)))
        assign = split_object(coords, k, scales=g.scales, random_state=random_state)
        if assign is None:
            continue
        if ti not in next_label:
            next_label[ti] = max(int(frame.max()), int(df["label"][t == ti].max())) + 1
        if fi not in copied:
            wide = next_label[ti] + k > np.iinfo(frame.dtype).max
            frame = frames[fi] = frame.astype(np.uint32 if wide else frame.dtype, copy=True)
            copied.add(fi)
        elif next_label[ti] + k > np.iinfo(frame.dtype).max:
            frame = frames[fi] = frame.astype(np.uint32)
        flat_idx = np.flatnonzero(mask.ravel())
        flat = frame.reshape(-1)
        ids = []
        for c in range(k):
            new = next_label[ti]
            next_label[ti] += 1
            flat[flat_idx[assign == c]] = new
            row = df.iloc[i].copy()
            sel = coords[assign == c].astype(np.float64)
            row["label"] = new
            row[list(COORDS)] = sel.mean(axis=0)
            if "size" in df.columns:
                row["size"] = sel.shape[0]
            for kk, col in enumerate(ccols):
                row[col] = PROB_MAX if kk == 1 else PROB_MIN
            if "div_prob" in df.columns:
                row["div_prob"] = PROB_MIN
            row["merger_label"] = label
            ids.append(len(new_rows))
            new_rows.append(row)
        pieces[int(i)] = ids
    if not pieces:
        graph = replace(g, detections=df)
        return replace(solution, graph=graph), frames

    # new node table: kept nodes then pieces, sorted by (t, label)
    kept = np.array([i for i in range(n) if i not in pieces], np.int64)
    table = pd.concat([df.iloc[kept], pd.DataFrame(new_rows)], ignore_index=True)
    for c in ("t", "label", "merger_label", *(["size"] if "size" in table.columns else [])):
        table[c] = table[c].astype(np.int64)
    order = np.lexsort((table["label"].to_numpy(), table["t"].to_numpy()))
    table = table.iloc[order].reset_index(drop=True)
    table.attrs.update(df.attrs)
    pos_of = np.empty(order.size, np.int64)
    pos_of[order] = np.arange(order.size)
    new_of_old = np.full(n, -1, np.int64)
    new_of_old[kept] = pos_of[: kept.size]
    piece_nodes = {i: pos_of[kept.size + np.asarray(ids)] for i, ids in pieces.items()}

    def ends(i: int) -> np.ndarray:
        return piece_nodes[i] if i in piece_nodes else new_of_old[i : i + 1]

    pix = table[list(COORDS)].to_numpy(np.float64)
    pos = pix if params.ilastik_compat else pix * np.asarray(g.scales)[None, :]
    is_piece = np.zeros(len(table), bool)
    for v in piece_nodes.values():
        is_piece[v] = True

    src_keep, dst_keep, val_keep = [], [], []
    cand_a, cand_b, cand_link = [], [], []
    for e in range(g.n_links):
        a, b = int(g.src[e]), int(g.dst[e])
        if a not in piece_nodes and b not in piece_nodes:
            src_keep.append(new_of_old[a])
            dst_keep.append(new_of_old[b])
            val_keep.append(int(solution.link_value[e]))
            continue
        ea, eb = ends(a), ends(b)
        aa, bb = np.repeat(ea, eb.size), np.tile(eb, ea.size)
        cand_a.append(aa)
        cand_b.append(bb)
        cand_link.append(np.full(aa.size, e))
    ca, cb, cl = (np.concatenate([np.zeros(0, np.int64), *x]).astype(np.int64)
                  for x in (cand_a, cand_b, cand_link))
    cval = np.zeros(ca.size, np.int64)
    active = solution.link_value[cl] > 0
    if active.any():
        ia = np.flatnonzero(active)
        cost = np.linalg.norm(pos[ca[ia]] - pos[cb[ia]], axis=1)
        pa = np.where(is_piece[ca[ia]], ca[ia], -1)
        pb = np.where(is_piece[cb[ia]], cb[ia], -1)
        cval[ia] = _relink(cl[ia], pa, pb, cost, solution.link_value)
    src = np.concatenate([np.asarray(src_keep, np.int64), ca])
    dst = np.concatenate([np.asarray(dst_keep, np.int64), cb])
    val = np.concatenate([np.asarray(val_keep, np.int64), cval])
    key = src * len(table) + dst
    uniq, first = np.unique(key, return_index=True)
    val_sum = np.bincount(np.searchsorted(uniq, key), weights=val, minlength=uniq.size).astype(np.int64)
    src, dst, val = src[first], dst[first], val_sum
    tn = table["t"].to_numpy(np.int64)
    graph = HypothesesGraph(table, tn, pos, src, dst, np.linalg.norm(pos[src] - pos[dst], axis=1)
                            if src.size else np.zeros(0), g.scales)

    nn = len(table)
    count = np.zeros(nn, np.int64)
    app = np.zeros(nn, np.int64)
    dis = np.zeros(nn, np.int64)
    div = np.zeros(nn, bool)
    count[new_of_old[kept]] = solution.count[kept]
    app[new_of_old[kept]] = solution.appearance[kept]
    dis[new_of_old[kept]] = solution.disappearance[kept]
    div[new_of_old[kept]] = solution.division[kept]
    inflow = np.bincount(dst, weights=val, minlength=nn).astype(np.int64)
    outflow = np.bincount(src, weights=val, minlength=nn).astype(np.int64)
    count[is_piece] = 1
    app[is_piece] = 1 - inflow[is_piece]
    dis[is_piece] = 1 - outflow[is_piece]
    frames_range = tuple(df.attrs.get("frames", (int(tn.min()), int(tn.max()))))
    energies = compute_energies(graph, params, shape=df.attrs.get("shape"), frames=frames_range)
    energy = total_energy(energies, count, app, dis, val, div)
    new = Solution(graph, energies, count, app, dis, val, div, energy, solver=solution.solver + "+mergers",
                   optimal=None, bound=None, seconds=solution.seconds)
    return new, frames

