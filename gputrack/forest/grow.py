"""Growing ilastik's random forest with numba: exact CART splits, trees in parallel threads.

The forest vigra grows for ilastik (ilastik-spec §1.8): each tree on a bootstrap sample of
the training set's size (drawn with replacement), at each node ``mtry`` features drawn
without replacement, for each the best Gini split among all midpoints between consecutive
distinct values, nodes split until pure. Here a sample drawn ``k`` times counts with weight
``k`` (the same split scores as vigra's repeated samples); a feature that is constant in
the node does not count towards ``mtry`` (as in scikit-learn), so a node is split while any
feature separates its samples.

The trees are grown by numba code that releases the GIL, in a pool of threads, each from its own random stream
(SplitMix64 seeded from ``random_state`` and the tree's index), so a forest does not depend
on the number of threads. Compared to scikit-learn's trainer it has no per-tree Python work
and sorts ``float32`` keys directly.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(400, 5)).astype(np.float32)
>>> y = (X[:, 0] > 0).astype(np.int32)
>>> trees = grow_trees(X, y, 2, n_trees=3, mtry=2, random_state=0, n_jobs=1)
>>> len(trees), bool(trees[0].left[0] > 0)
(3, True)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from .model import Tree


@numba.njit(cache=True, nogil=True)
def _next(state):
    """SplitMix64: advance ``state[0]`` and return 64 random bits."""
    state[0] = state[0] + np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _below(state, n):
    """A random integer in ``[0, n)``."""
    return np.int64(_next(state) % np.uint64(n))


@numba.njit(cache=True, nogil=True)
def _grow_tree(X, y, order, rank, values, n_classes, mtry, max_depth, bootstrap, seed):
    """Grow one tree; returns its node arrays (feature, threshold, left, right, value).

    ``order[f]`` lists the samples by increasing feature ``f``, ``rank[f, i]`` is sample
    ``i``'s position there and ``values[f]`` the sorted values. A node's samples are put in
    feature order by sorting their ranks, or, for a node holding a good part of the training
    set, by one scan of ``order[f]``. ``max_depth < 0``: no depth limit; without
    ``bootstrap`` every sample counts once.
    """
    n, n_features = X.shape
    state = np.empty(1, np.uint64)
    state[0] = seed
    weight = np.zeros(n, np.int64)
    if bootstrap:
        for _ in range(n):
            weight[_below(state, n)] += 1
    else:
        weight[:] = 1
    idx = np.nonzero(weight)[0]
    u = idx.size
    size = 2 * u + 1
    feature = np.full(size, -1, np.int64)
    threshold = np.zeros(size, np.float64)
    left = np.full(size, -1, np.int64)
    right = np.full(size, -1, np.int64)
    value = np.zeros((size, n_classes), np.float64)
    node_of = np.full(n, -1, np.int64)
    for s in range(u):
        node_of[idx[s]] = 0
    ranks = np.empty(u, np.int32)
    sorted_pos = np.empty(u, np.int64)
    feats = np.arange(n_features)
    left_counts = np.empty(n_classes, np.float64)
    totals = np.empty(n_classes, np.float64)
    stack_node = np.empty(size, np.int64)
    stack_start = np.empty(size, np.int64)
    stack_end = np.empty(size, np.int64)
    stack_depth = np.zeros(size, np.int64)
    stack_node[0], stack_start[0], stack_end[0] = 0, 0, u
    top = 1
    n_nodes = 1
    while top > 0:
        top -= 1
        node, start, end, depth = stack_node[top], stack_start[top], stack_end[top], stack_depth[top]
        totals[:] = 0.0
        for s in range(start, end):
            i = idx[s]
            totals[y[i]] += weight[i]
        value[node, :] = totals
        m = end - start
        classes_present = 0
        total = 0.0
        for k in range(n_classes):
            total += totals[k]
            if totals[k] > 0:
                classes_present += 1
        if m < 2 or classes_present < 2 or depth == max_depth:
            continue
        best_score, best_feature, best_threshold = -1.0, -1, 0.0
        tried, remaining = 0, n_features
        scan = 8 * m >= n
        while tried < mtry and remaining > 0:
            j = _below(state, remaining)
            f = feats[j]
            remaining -= 1
            feats[j], feats[remaining] = feats[remaining], f
            if scan:  # the node's samples in feature order, from the presorted order
                q = 0
                for r in range(n):
                    if node_of[order[f, r]] == node:
                        sorted_pos[q] = r
                        q += 1
            else:
                for s in range(m):
                    ranks[s] = rank[f, idx[start + s]]
                srt = np.sort(ranks[:m])
                for s in range(m):
                    sorted_pos[s] = srt[s]
            if values[f, sorted_pos[0]] == values[f, sorted_pos[m - 1]]:
                continue  # constant here: draw another feature
            tried += 1
            left_counts[:] = 0.0
            w_left = 0.0
            for p in range(m - 1):
                r = sorted_pos[p]
                i = order[f, r]
                wi = weight[i]
                left_counts[y[i]] += wi
                w_left += wi
                a, b = values[f, r], values[f, sorted_pos[p + 1]]
                if a == b:
                    continue
                w_right = total - w_left
                score = 0.0
                for k in range(n_classes):
                    cl = left_counts[k]
                    cr = totals[k] - cl
                    score += cl * cl / w_left + cr * cr / w_right
                if score > best_score:
                    best_score, best_feature = score, f
                    best_threshold = (np.float64(a) + np.float64(b)) / 2.0
        if best_feature < 0:
            continue
        lo, hi = start, end - 1  # partition: x <= threshold to the front
        while lo <= hi:
            if X[idx[lo], best_feature] <= best_threshold:
                lo += 1
            else:
                idx[lo], idx[hi] = idx[hi], idx[lo]
                hi -= 1
        for s in range(start, end):
            node_of[idx[s]] = n_nodes if s < lo else n_nodes + 1
        feature[node] = best_feature
        threshold[node] = best_threshold
        left[node], right[node] = n_nodes, n_nodes + 1
        stack_node[top], stack_start[top], stack_end[top] = n_nodes + 1, lo, end
        stack_node[top + 1], stack_start[top + 1], stack_end[top + 1] = n_nodes, start, lo
        stack_depth[top] = stack_depth[top + 1] = depth + 1
        top += 2
        n_nodes += 2
    k = n_nodes
    return feature[:k].copy(), threshold[:k].copy(), left[:k].copy(), right[:k].copy(), value[:k].copy()


def presort(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per feature: samples in increasing order, each sample's rank, the sorted values."""
    order = np.ascontiguousarray(np.argsort(X, axis=0, kind="stable").T)
    n = X.shape[0]
    rank = np.empty(order.shape, np.int32)
    np.put_along_axis(rank, order, np.arange(n, dtype=np.int32)[None, :].repeat(order.shape[0], 0), axis=1)
    values = np.ascontiguousarray(np.take_along_axis(X.T, order, axis=1))
    return order.astype(np.int64), rank, values


def grow_trees(
    X: np.ndarray, y: np.ndarray, n_classes: int, *, n_trees: int, mtry: int, random_state: int = 0,
    n_jobs: int | None = -1, max_depth: int | None = None, bootstrap: bool = True,
) -> list[Tree]:
    """Grow ``n_trees`` trees on float32 ``X`` and class indices ``y`` (``0..n_classes-1``).

    Parameters
    ----------
    X
        ``(n_samples, n_features)`` training features (cast to float32).
    y
        ``(n_samples,)`` integer class indices.
    n_classes
        Number of classes (columns of the leaf values).
    n_trees, mtry
        Trees, and features tried per split.
    random_state
        Seed; the same seed and data give the same trees whatever ``n_jobs``.
    n_jobs
        Threads growing trees (-1 or None: one per core).
    max_depth
        Depth limit; ``None``: grow until pure.
    bootstrap
        Grow each tree on a bootstrap sample (ilastik); else on the whole training set.

    Returns
    -------
    list of Tree
        Leaves hold the bootstrap class counts of their samples; thresholds are the float64
        midpoints (``x <= threshold`` goes left).
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int64)
    order, rank, values = presort(X)
    seeds = np.random.SeedSequence(int(random_state)).generate_state(int(n_trees), dtype=np.uint64)
    cores = os.cpu_count() or 1
    depth = -1 if max_depth is None else int(max_depth)
    threads = cores if n_jobs is None or int(n_jobs) < 1 else min(int(n_jobs), cores)

    def one(seed: np.uint64) -> Tree:
        arrays = _grow_tree(X, y, order, rank, values, int(n_classes), int(mtry), depth, bool(bootstrap),
                            seed)
        return Tree(*arrays)

    if threads == 1 or len(seeds) == 1:
        return [one(s) for s in seeds]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, seeds))
