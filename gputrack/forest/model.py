"""The flat forest: every tree of a random forest compiled into a few contiguous arrays.

Layout
------
All trees are concatenated into one node table; tree ``t`` owns the node rows
``tree_offsets[t]:tree_offsets[t + 1]`` and its root is the first of them. Inside a tree the
nodes are in breadth-first order and the two children of an inner node are adjacent
(``right == left + 1``), so the top levels of every tree sit together in a few cache lines and
a traversal step is ``node = left + (not go_left)``. Per node:

``feature`` (int32)
    The feature (column of ``X``) tested, ``-1`` for a leaf.
``threshold`` (float32)
    The split value, already rounded so that comparing a float32 sample with it in float32
    gives exactly the decision the source library makes in float64 (see below).
``left`` (int32)
    Global row of the left child; for a leaf, the row of its class distribution in ``value``.
``right`` (int32)
    Global row of the right child (``left + 1``); ``-1`` for a leaf.
``missing_left`` (bool)
    Where a NaN feature value goes (scikit-learn learns this per split; vigra sends NaN to
    ``child_b``, i.e. right, because ``NaN < t`` is false).

``value`` (float32, ``n_leaves x n_classes``) holds each leaf's class distribution,
normalised per tree as the source library defines its probability (rows sum to 1), and the
forest's probability is the plain mean of the leaf rows over the trees.

For the GPU the node columns are packed into one ``int4`` per node (``feature``, threshold
bits, ``left``, ``missing_left``), 16 bytes read with a single 128-bit load through the
read-only cache; see :func:`packed_nodes`.

Exact comparisons
-----------------
scikit-learn stores float64 thresholds and tests ``float32(x) <= t`` in float64; vigra tests
``x < t`` (float32 feature promoted to float64). For a float32 ``x``, ``x <= t`` holds exactly
when ``x <= floor32(t)`` (the largest float32 not above ``t``), and ``x < t`` exactly when
``x < ceil32(t)``. Thresholds are rounded that way once, at compile time, and the operator is
recorded per forest (``op = "le"`` or ``"lt"``), so float32 traversal reproduces the source
library's decisions bit for bit, including samples that sit exactly on a threshold.

Examples
--------
>>> import numpy as np
>>> stump = Tree(feature=np.array([0, -1, -1]), threshold=np.array([0.5, 0, 0]),
...              left=np.array([1, -1, -1]), right=np.array([2, -1, -1]),
...              value=np.array([[0, 0], [3, 1], [0, 2]]))
>>> f = compile_forest([stump], op="le", classes=[1, 2], n_features=1)
>>> f.value.tolist()
[[0.75, 0.25], [0.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..errors import InputError

OPS = ("le", "lt")


class Tree(NamedTuple):
    """One decision tree as parallel per-node arrays in any node order (root = node 0).

    A node is a leaf when ``left < 0``. ``value`` has one row per node (rows of inner
    nodes are ignored) with the leaf's class weights or counts; they are normalised when
    the forest is compiled. ``threshold`` is float64 (or anything convertible).
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    missing_left: np.ndarray | None = None


@dataclass(eq=False)
class Forest:
    """A random forest compiled to flat arrays (see the module docstring for the layout)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray
    tree_offsets: np.ndarray
    op: str
    classes: np.ndarray
    n_features: int
    feature_names: tuple[str, ...] | None = None
    source: str = ""
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return int(self.tree_offsets.shape[0] - 1)

    @property
    def n_classes(self) -> int:
        """Number of classes (columns of the probabilities)."""
        return int(self.value.shape[1])

    @property
    def n_nodes(self) -> int:
        """Number of nodes of all trees together."""
        return int(self.feature.shape[0])

    def __repr__(self) -> str:
        return (
            f"Forest(n_trees={self.n_trees}, n_nodes={self.n_nodes}, n_features={self.n_features}, "
            f"classes={self.classes.tolist()}, op={self.op!r}, source={self.source!r})"
        )


def round_thresholds(threshold: np.ndarray, op: str) -> np.ndarray:
    """Round float64 thresholds to float32 so float32 comparisons stay exact.

    Parameters
    ----------
    threshold
        Thresholds as the source library stores them (float64).
    op
        ``"le"`` (go left when ``x <= t``): round down; ``"lt"`` (go left when ``x < t``):
        round up.

    Returns
    -------
    numpy.ndarray
        float32 thresholds ``t32`` with ``x <= t  <=>  x <= t32`` (resp. ``x < t <=> x < t32``)
        for every float32 ``x``.

    Examples
    --------
    >>> t = round_thresholds(np.array([0.1]), "le")
    >>> float(t[0]) <= 0.1, float(np.nextafter(t[0], np.float32(1))) <= 0.1
    (True, False)
    """
    if op not in OPS:
        raise InputError(f"comparison operator {op!r}: expected one of {', '.join(OPS)}")
    t64 = np.asarray(threshold, dtype=np.float64)
    with np.errstate(over="ignore"):
        t32 = t64.astype(np.float32)
    if op == "le":
        fix = t32.astype(np.float64) > t64
        t32[fix] = np.nextafter(t32[fix], np.float32(-np.inf))
    else:
        fix = t32.astype(np.float64) < t64
        t32[fix] = np.nextafter(t32[fix], np.float32(np.inf))
    return t32


def _breadth_first(left: np.ndarray, right: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first order of the nodes reachable from node 0, children adjacent.

    Returns ``order`` (input node ids in output order) and ``child`` (output position of the
    left child of each output node, -1 for leaves).
    """
    n = left.shape[0]
    order = [np.zeros(1, dtype=np.int64)]
    child = []
    frontier = order[0]
    next_free = 1
    while frontier.size:
        inner = left[frontier] >= 0
        k = int(inner.sum())
        pos = np.full(frontier.shape[0], -1, dtype=np.int64)
        pos[inner] = next_free + 2 * np.arange(k)
        child.append(pos)
        kids = np.empty(2 * k, dtype=np.int64)
        kids[0::2] = left[frontier[inner]]
        kids[1::2] = right[frontier[inner]]
        if kids.size and (kids.min() < 0 or kids.max() >= n):
            raise InputError(f"{what}: a child index is outside the tree's {n} nodes")
        next_free += 2 * k
        if next_free > n + 1:
            raise InputError(f"{what}: the nodes do not form a tree (a node is reached twice)")
        order.append(kids)
        frontier = kids
    return np.concatenate(order), np.concatenate(child)


def compile_forest(
    trees: Sequence[Tree],
    *,
    op: str,
    classes: Sequence[Any] | np.ndarray,
    n_features: int,
    feature_names: Sequence[str] | None = None,
    source: str = "",
) -> Forest:
    """Compile trees given as per-node arrays into a flat :class:`Forest`.

    Parameters
    ----------
    trees
        The trees (:class:`Tree`), each with its root at node 0.
    op
        Split test of the source library: ``"le"`` (scikit-learn, cuML: left when
        ``x <= t``) or ``"lt"`` (vigra: left when ``x < t``).
    classes
        Class labels, one per column of ``value``.
    n_features
        Number of features the forest expects.
    feature_names
        Names of the features, when known.
    source
        Where the forest came from (``"sklearn"``, ``"vigra"``, ...), kept as metadata.

    Returns
    -------
    Forest
        Nodes breadth-first per tree, thresholds rounded for exact float32 tests, leaf
        distributions normalised to sum 1.

    Examples
    --------
    >>> import numpy as np
    >>> leaf = Tree(np.array([-1]), np.array([0.0]), np.array([-1]), np.array([-1]),
    ...             np.array([[1.0, 3.0]]))
    >>> compile_forest([leaf], op="lt", classes=[1, 2], n_features=4).value.tolist()
    [[0.25, 0.75]]
    """
    if op not in OPS:
        raise InputError(f"comparison operator {op!r}: expected one of {', '.join(OPS)}")
    classes = np.asarray(classes)
    n_classes = classes.shape[0]
    n_features = int(n_features)
    if len(trees) == 0:
        raise InputError("forest: expected at least one tree, got none")
    if feature_names is not None:
        feature_names = tuple(str(s) for s in feature_names)
        if len(feature_names) != n_features:
            raise InputError(
                f"forest: {len(feature_names)} feature names for {n_features} features"
            )
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("f", "t", "l", "r", "m", "v")}
    offsets = [0]
    n_leaves = 0
    for k, tree in enumerate(trees):
        what = f"tree {k}"
        feat = np.asarray(tree.feature, dtype=np.int64).ravel()
        left = np.asarray(tree.left, dtype=np.int64).ravel()
        right = np.asarray(tree.right, dtype=np.int64).ravel()
        value = np.asarray(tree.value, dtype=np.float64).reshape(feat.shape[0], -1)
        if not (feat.shape == left.shape == right.shape) or feat.shape[0] == 0:
            raise InputError(f"{what}: feature, left and right must be non-empty and of one length")
        if value.shape[1] != n_classes:
            raise InputError(f"{what}: leaves hold {value.shape[1]} classes, expected {n_classes}")
        order, child = _breadth_first(left, right, what)
        inner = child >= 0
        f = feat[order]
        if inner.any() and (f[inner].min() < 0 or f[inner].max() >= n_features):
            raise InputError(f"{what}: a split tests a feature outside 0..{n_features - 1}")
        thr = np.asarray(tree.threshold, dtype=np.float64).ravel()[order]
        if np.isnan(thr[inner]).any():
            raise InputError(f"{what}: a split threshold is NaN")
        miss = (
            np.zeros(order.shape[0], dtype=bool)
            if tree.missing_left is None
            else np.asarray(tree.missing_left, dtype=bool).ravel()[order]
        )
        leaf_vals = value[order[~inner]]
        total = leaf_vals.sum(axis=1, keepdims=True)
        total[total == 0] = 1.0
        leaf_rows = n_leaves + np.arange(leaf_vals.shape[0])
        node_left = np.where(inner, child + offsets[-1], 0)
        node_left[~inner] = leaf_rows
        parts["f"].append(np.where(inner, f, -1))
        parts["t"].append(np.where(inner, round_thresholds(np.where(inner, thr, 0.0), op), 0))
        parts["l"].append(node_left)
        parts["r"].append(np.where(inner, node_left + 1, -1))
        parts["m"].append(miss & inner)
        parts["v"].append(leaf_vals / total)
        n_leaves += leaf_vals.shape[0]
        offsets.append(offsets[-1] + order.shape[0])
    if offsets[-1] >= 2**31 - 1 or n_leaves >= 2**31 - 1:
        raise InputError(f"forest: {offsets[-1]} nodes do not fit 32-bit indices")
    return Forest(
        feature=np.concatenate(parts["f"]).astype(np.int32),
        threshold=np.concatenate(parts["t"]).astype(np.float32),
        left=np.concatenate(parts["l"]).astype(np.int32),
        right=np.concatenate(parts["r"]).astype(np.int32),
        missing_left=np.concatenate(parts["m"]).astype(bool),
        value=np.concatenate(parts["v"]).astype(np.float32),
        tree_offsets=np.asarray(offsets, dtype=np.int64),
        op=op,
        classes=classes,
        n_features=n_features,
        feature_names=feature_names,
        source=source,
    )


def packed_nodes(forest: Forest) -> np.ndarray:
    """The node table as ``(n_nodes, 4)`` int32 rows ``[feature, threshold bits, left, missing_left]``.

    This is the ``int4`` layout the GPU kernel reads with one 16-byte load per node.

    Examples
    --------
    >>> import numpy as np
    >>> leaf = Tree(np.array([-1]), np.array([0.0]), np.array([-1]), np.array([-1]),
    ...             np.array([[1.0]]))
    >>> packed_nodes(compile_forest([leaf], op="le", classes=[1], n_features=1)).tolist()
    [[-1, 0, 0, 0]]
    """
    out = np.empty((forest.n_nodes, 4), dtype=np.int32)
    out[:, 0] = forest.feature
    out[:, 1] = forest.threshold.astype(np.float32).view(np.int32)
    out[:, 2] = forest.left
    out[:, 3] = forest.missing_left
    return out


def check_forest(forest: Forest) -> None:
    """Validate a forest's arrays (shapes, index ranges); raise :class:`InputError` if broken.

    Examples
    --------
    >>> import numpy as np
    >>> leaf = Tree(np.array([-1]), np.array([0.0]), np.array([-1]), np.array([-1]),
    ...             np.array([[1.0]]))
    >>> check_forest(compile_forest([leaf], op="le", classes=[1], n_features=1))
    """
    n = forest.n_nodes
    if forest.op not in OPS:
        raise InputError(f"forest: comparison operator {forest.op!r}, expected one of {', '.join(OPS)}")
    for name in ("threshold", "left", "right", "missing_left"):
        if getattr(forest, name).shape != (n,):
            raise InputError(f"forest: {name} has shape {getattr(forest, name).shape}, expected ({n},)")
    off = forest.tree_offsets
    if off.ndim != 1 or off.shape[0] < 2 or off[0] != 0 or off[-1] != n or np.any(np.diff(off) < 1):
        raise InputError("forest: tree_offsets must rise from 0 to the node count")
    if forest.value.ndim != 2 or forest.value.shape[1] != forest.classes.shape[0]:
        raise InputError(
            f"forest: value has shape {forest.value.shape}, expected (n_leaves, {forest.classes.shape[0]})"
        )
    leaf = forest.feature < 0
    inner = ~leaf
    if np.any(forest.feature[inner] >= forest.n_features):
        raise InputError(f"forest: a split tests a feature outside 0..{forest.n_features - 1}")
    tree_of = np.repeat(np.arange(forest.n_trees), np.diff(off))
    lo, hi = off[tree_of], off[tree_of + 1]
    l_in, r_in = forest.left[inner], forest.right[inner]
    if np.any(l_in < lo[inner]) or np.any(r_in >= hi[inner]) or np.any(r_in != l_in + 1):
        raise InputError("forest: a child index leaves its tree, or right != left + 1")
    if np.any(l_in <= np.flatnonzero(inner)):
        raise InputError("forest: a child precedes its parent (the node table must be breadth-first)")
    rows = forest.left[leaf]
    if rows.size and (rows.min() < 0 or rows.max() >= forest.value.shape[0]):
        raise InputError("forest: a leaf points outside the value table")
