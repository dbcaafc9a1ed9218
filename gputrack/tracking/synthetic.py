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


def colony_labels(
    n_frames: int = 30,
    shape: tuple[int, int] = (256, 256),
    n_cells: int = 40,
    *,
    radius: float = 3.0,
    expansion: float = 0.03,
    rotation: float = 0.0,
    step: float = 1.0,
    division_rate: float = 0.03,
    seed: int = 0,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Label frames of a growing colony with ground truth: coherent large motions and divisions.

    Disks of ``radius`` pixels start in the middle of the field and move with a drift that grows
    with their distance from the centre (``expansion`` * distance outward, ``rotation`` *
    distance around it: the radial push of a dividing colony, a swirl) plus an N(0, ``step``²)
    jitter per axis; each divides with probability ``division_rate`` per frame into two
    daughters ``2 * radius + 1`` apart across its centre. A disk painted over by another one
    (drawn in order) is not in that frame; its track ends and it restarts as a new track. Cells
    leave the field across its border.

    Returns
    -------
    labels : (t, y, x) uint16
        Ground-truth masks; pixel value = CTC track id.
    tracks : DataFrame
        ``label, begin, end, parent`` (``man_track.txt``).

    Examples
    --------
    >>> lab, tracks = colony_labels(n_frames=5, n_cells=6, seed=1)
    >>> lab.shape, int(tracks["begin"].min())
    ((5, 256, 256), 0)
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    centre = np.array([h / 2.0, w / 2.0])
    spread = 0.15 * min(h, w)
    pos = centre + rng.normal(0, spread, (n_cells, 2))
    ids = np.arange(n_cells)
    parent_of = {int(i): -1 for i in ids}
    next_id = n_cells
    rr = int(np.ceil(radius))
    yy, xx = np.mgrid[-rr:rr + 1, -rr:rr + 1]
    disk = yy**2 + xx**2 <= radius**2
    dy, dx = yy[disk], xx[disk]
    labels = np.zeros((n_frames, h, w), np.uint16)
    present: dict[int, list[int]] = {}
    owners: list[np.ndarray] = []
    for t in range(n_frames):
        owner = np.zeros((h, w), np.int64)
        for k in range(pos.shape[0]):
            py, px = int(round(pos[k, 0])) + dy, int(round(pos[k, 1])) + dx
            ok = (py >= 0) & (py < h) & (px >= 0) & (px < w)
            py, px = py[ok], px[ok]
            free = owner[py, px] == 0
            owner[py[free], px[free]] = ids[k] + 1
        for i in np.unique(owner[owner > 0]) - 1:
            present.setdefault(int(i), []).append(t)
        owners.append(owner)
        if t == n_frames - 1:
            break
        r = pos - centre
        drift = expansion * r + rotation * np.stack([-r[:, 1], r[:, 0]], axis=1)
        divides = rng.random(pos.shape[0]) < division_rate
        new_pos, new_ids = [], []
        for k in range(pos.shape[0]):
            moved = pos[k] + drift[k] + rng.normal(0, step, 2)
            if divides[k]:
                a = rng.uniform(0, np.pi)
                d = (radius + 0.5) * np.array([np.cos(a), np.sin(a)])
                for sgn in (1, -1):
                    new_pos.append(moved + sgn * d)
                    new_ids.append(next_id)
                    parent_of[next_id] = int(ids[k])
                    next_id += 1
            else:
                new_pos.append(moved)
                new_ids.append(ids[k])
        pos, ids = np.array(new_pos), np.array(new_ids)
        inside = np.all((pos > -radius) & (pos < np.array([h, w]) + radius), axis=1)
        pos, ids = pos[inside], ids[inside]
    # contiguous runs of presence become CTC tracks; a division links the mother's last run
    rows, last_run = [], {}  # last_run: object -> (track id, end) of its last run
    for obj in sorted(present):
        frames = np.array(present[obj])
        breaks = np.flatnonzero(np.diff(frames) > 1)
        begins = np.concatenate([[frames[0]], frames[breaks + 1]])
        ends = np.concatenate([frames[breaks], [frames[-1]]])
        for j, (b, e) in enumerate(zip(begins, ends)):
            rows.append([obj, j, int(b), int(e)])
    tracks = pd.DataFrame(rows, columns=["obj", "run", "begin", "end"])
    tracks["label"] = np.arange(1, len(tracks) + 1)
    for obj, lab, end in tracks[["obj", "label", "end"]].itertuples(index=False):
        last_run[int(obj)] = (int(lab), int(end))
    parents = []
    for obj, run, b in tracks[["obj", "run", "begin"]].itertuples(index=False):
        p = parent_of.get(int(obj), -1)
        if run == 0 and p >= 0 and p in last_run and last_run[p][1] == b - 1:
            parents.append(last_run[p][0])
        else:
            parents.append(0)
    tracks["parent"] = parents
    runs = tracks[["obj", "label", "begin", "end"]].itertuples(index=False)
    key = {(int(o), int(t)): int(lab) for o, lab, b, e in runs for t in range(b, e + 1)}
    for t, owner in enumerate(owners):
        objs = np.unique(owner[owner > 0])
        lut = np.zeros(int(owner.max()) + 1, np.uint16)
        for o in objs:
            lut[o] = key[(int(o) - 1, t)]
        labels[t] = lut[owner]
    return labels, tracks[["label", "begin", "end", "parent"]].reset_index(drop=True)
