"""Synthetic detections with ground truth: random-walk motion with divisions (tests and benchmarks)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_walk_detections(
    n_frames: int,
    n_objects: int,
    *,
    step: float = 2.0,
    spacing: float = 25.0,
    division_rate: float = 0.01,
    ndim: int = 2,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Objects doing a Gaussian random walk in a box, dividing now and then.

    The box is sized so that objects are on average ``spacing`` apart; each frame every object
    moves by N(0, step^2) per axis (reflected at the walls), divides with probability
    ``division_rate`` (two children 0.6 * spacing apart). The initial number of objects is chosen
    so that the mean number per frame is about ``n_objects`` (the population grows by divisions).
    Dividing parents get ``div_prob`` ~ U(0.6, 1), other
    objects U(0, 0.3); ``count_prob_1`` ~ U(0.9, 1).

    Returns
    -------
    detections : DataFrame
        ``t, label, z, y, x, count_prob_0, count_prob_1, div_prob`` with ``attrs["shape"]``.
    truth : DataFrame
        Ground-truth links as row indices into ``detections``: ``src, dst``.

    Examples
    --------
    >>> det, truth = random_walk_detections(3, 4, division_rate=0.0)
    >>> len(det), len(truth)
    (12, 8)
    """
    rng = np.random.default_rng(seed)
    side = spacing * np.sqrt(n_objects) if ndim == 2 else spacing * n_objects ** (1 / 3)
    dims = 3 if ndim == 3 else 2
    rt = division_rate * max(n_frames - 1, 1)
    growth = (np.exp(rt) - 1.0) / rt if rt > 0 else 1.0
    n0 = max(1, int(round(n_objects / growth)))
    pos = rng.uniform(0, side, (n0, dims))
    ids = np.arange(n0)
    next_id = n0
    rows_t, rows_pos, rows_id, rows_div = [], [], [], []
    links = []  # (t, parent_id, child_id)
    for t in range(n_frames):
        divides = rng.random(pos.shape[0]) < division_rate
        if t == n_frames - 1:
            divides[:] = False
        rows_t.append(np.full(pos.shape[0], t))
        rows_pos.append(pos.copy())
        rows_id.append(ids.copy())
        rows_div.append(divides)
        if t == n_frames - 1:
            break
        new_pos, new_ids = [], []
        for k in range(pos.shape[0]):
            if divides[k]:
                d = rng.normal(size=dims)
                d *= 0.3 * spacing / np.linalg.norm(d)
                for sgn in (1, -1):
                    new_pos.append(pos[k] + sgn * d)
                    new_ids.append(next_id)
                    links.append((t, ids[k], next_id))
                    next_id += 1
            else:
                new_pos.append(pos[k] + rng.normal(0, step, dims))
                new_ids.append(ids[k])
                links.append((t, ids[k], ids[k]))
        pos = np.array(new_pos)
        ids = np.array(new_ids)
        pos = np.abs(pos)
        pos = side - np.abs(side - pos)
    t_all = np.concatenate(rows_t)
    p_all = np.concatenate(rows_pos)
    id_all = np.concatenate(rows_id)
    div_all = np.concatenate(rows_div)
    n = t_all.size
    label = np.concatenate([np.arange(1, r.size + 1) for r in rows_t])
    zyx = np.zeros((n, 3))
    zyx[:, 3 - dims :] = p_all
    p1 = rng.uniform(0.9, 1.0, n)
    det = pd.DataFrame(
        {
            "t": t_all.astype(np.int64),
            "label": label.astype(np.int64),
            "z": zyx[:, 0],
            "y": zyx[:, 1],
            "x": zyx[:, 2],
            "count_prob_0": 1 - p1,
            "count_prob_1": p1,
            "div_prob": np.where(div_all, rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.3, n)),
        }
    )
    ext = int(np.ceil(side)) + 1
    det.attrs["shape"] = (ext if dims == 3 else 1, ext, ext)
    row_of = {(int(t), int(i)): r for r, (t, i) in enumerate(zip(t_all, id_all))}
    src, dst = [], []
    for t, a, b in links:
        ra, rb = row_of.get((t, int(a))), row_of.get((t + 1, int(b)))
        if ra is not None and rb is not None:
            src.append(ra)
            dst.append(rb)
    truth = pd.DataFrame({"src": np.array(src, np.int64), "dst": np.array(dst, np.int64)})
    return det, truth
