"""Reading the vigra random forests that an ilastik ``.ilp`` project stores (ilastik-spec §1.9).

``<Applet>/ClassifierForests`` holds ``Forest0000 … ForestNNNN`` (ilastik's 100 trees split
over several vigra forests), ``feature_names`` and ``known_labels``. In each forest,
``Tree_NN/topology`` (int32) is ``[n_features, n_classes, node, node, …]`` from offset 2: an
inner node is ``[0, param_addr, child_a, child_b, column]``, a leaf ``[0x40000000,
param_addr]``; ``Tree_NN/parameters`` (float64) holds ``[weight, threshold]`` for an inner
node and ``[weight, p_1 … p_K]`` for a leaf. A sample goes to ``child_a`` when
``x[column] < threshold``.

With ``predict_weighted = 0`` (always so in ilastik) a vigra forest's probability is the
mean of its trees' leaf distributions, and ilastik averages its forests weighted by their
tree counts: together, the plain mean over all trees of all forests. The forests are
therefore merged into one flat :class:`~gputrack.forest.Forest` (``op="lt"``) whose columns
are ``known_labels``.

Examples
--------
>>> from gputrack.forest import read_ilp_forests
>>> forest = read_ilp_forests("MyProject.ilp")  # doctest: +SKIP
>>> forest.n_trees, forest.classes.tolist()  # doctest: +SKIP
(100, [1, 2])
"""

from __future__ import annotations

import os
import re
from typing import Any

import h5py
import numpy as np

from ..errors import InputError, MissingInputError
from .model import Forest, Tree, compile_forest

DEFAULT_GROUP = "PixelClassification/ClassifierForests"
_LEAF = 0x40000000
_INNER = 0


def _number(name: str) -> int:
    match = re.search(r"(\d+)$", name)
    return int(match.group(1)) if match else -1


def _scalar(group: h5py.Group, path: str, default: float | None = None) -> float | None:
    if path not in group:
        return default
    return float(np.asarray(group[path][()]).ravel()[0])


def _decode(names: Any) -> tuple[str, ...]:
    out = []
    for s in np.asarray(names).ravel():
        out.append(s.decode("utf-8") if isinstance(s, bytes) else str(s))
    return tuple(out)


def vigra_tree(topology: np.ndarray, parameters: np.ndarray, *, what: str = "tree") -> Tree:
    """One vigra decision tree (``topology``, ``parameters`` arrays) as a :class:`Tree`.

    Parameters
    ----------
    topology
        int32 ``[n_features, n_classes, nodes…]`` as stored by vigra.
    parameters
        float64 node parameters as stored by vigra.
    what
        Name used in error messages.

    Returns
    -------
    Tree
        Node 0 is the root; ``left`` is ``child_a`` (taken when ``x < threshold``).

    Examples
    --------
    >>> import numpy as np
    >>> top = np.array([1, 2, 0, 0, 7, 9, 0, 0x40000000, 2, 0x40000000, 5])
    >>> par = np.array([1, 0.5, 3, 1, 0, 4, 0, 1])
    >>> t = vigra_tree(top, par)
    >>> t.feature.tolist(), t.value.tolist()
    ([0, -1, -1], [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    """
    top = np.asarray(topology).astype(np.int64).ravel()
    par = np.asarray(parameters, dtype=np.float64).ravel()
    if top.shape[0] < 4:
        raise InputError(f"{what}: topology has {top.shape[0]} entries, expected a header and a root")
    n_classes = int(top[1])
    top_l, n_top, n_par = top.tolist(), top.shape[0], par.shape[0]
    index: dict[int, int] = {}
    feature, threshold, left, right, leaf_param = [], [], [], [], []
    stack = [2]
    order = []
    while stack:  # depth-first discovery; node ids are assigned on first visit
        off = stack.pop()
        if off in index:
            raise InputError(f"{what}: topology offset {off} is reached twice (not a tree)")
        if not 2 <= off < n_top:
            raise InputError(f"{what}: child offset {off} is outside the topology")
        index[off] = len(order)
        order.append(off)
        kind = top_l[off]
        if kind == _INNER:
            if off + 4 >= n_top:
                raise InputError(f"{what}: inner node at offset {off} is truncated")
            addr, a, b, col = top_l[off + 1 : off + 5]
            if not 0 <= addr + 1 < n_par:
                raise InputError(f"{what}: parameter address {addr} is outside the parameters")
            feature.append(col)
            threshold.append(par[addr + 1])
            left.append(a)
            right.append(b)
            leaf_param.append(-1)
            stack.extend((b, a))
        elif kind == _LEAF:
            addr = top_l[off + 1]
            if not (0 <= addr and addr + 1 + n_classes <= n_par):
                raise InputError(f"{what}: leaf parameters at {addr} run past the parameters")
            feature.append(-1)
            threshold.append(0.0)
            left.append(-1)
            right.append(-1)
            leaf_param.append(addr)
        else:
            raise InputError(
                f"{what}: node type {kind:#x} at offset {off} is not supported "
                "(only threshold splits and constant-probability leaves)"
            )
    n = len(order)
    value = np.zeros((n, n_classes), dtype=np.float64)
    for k, addr in enumerate(leaf_param):
        if addr >= 0:
            value[k] = par[addr + 1 : addr + 1 + n_classes]
    left_id = np.array([index[o] if o in index else -1 for o in left], dtype=np.int64)
    right_id = np.array([index[o] if o in index else -1 for o in right], dtype=np.int64)
    return Tree(
        feature=np.asarray(feature, dtype=np.int64),
        threshold=np.asarray(threshold, dtype=np.float64),
        left=left_id,
        right=right_id,
        value=value,
        missing_left=None,
    )


def _forest_group(source: Any, group: str) -> tuple[h5py.Group, str]:
    if "known_labels" in source or any(k.startswith("Forest") for k in source):
        return source, source.name
    if group in source:
        return source[group], source[group].name
    raise MissingInputError(f"{source.file.filename}: no random forest at {group!r}")


def _read(g: h5py.Group, where: str) -> Forest:
    names = sorted((k for k in g if k.startswith("Forest")), key=_number)
    if not names:
        raise MissingInputError(f"{where}: holds no ForestNNNN groups (the classifier was not trained)")
    feature_names = _decode(g["feature_names"][()]) if "feature_names" in g else None
    known = np.asarray(g["known_labels"][()]).ravel() if "known_labels" in g else None
    trees: list[Tree] = []
    n_features = None
    for name in names:
        fg = g[name]
        what = f"{where}/{name}"
        if _scalar(fg, "_options/predict_weighted_", 0.0) not in (0.0, None):
            raise InputError(f"{what}: predict_weighted_ = 1 is not supported (ilastik never sets it)")
        labels = np.asarray(fg["_ext_param/labels"][()]).ravel() if "_ext_param/labels" in fg else None
        tree_names = sorted((k for k in fg if k.startswith("Tree_")), key=_number)
        expected = _scalar(fg, "_options/tree_count_")
        if expected is not None and int(expected) != len(tree_names):
            raise InputError(
                f"{what}: _options/tree_count_ says {int(expected)} trees, found {len(tree_names)}"
            )
        columns = _scalar(fg, "_ext_param/column_count_")
        for tname in tree_names:
            tw = f"{what}/{tname}"
            if "topology" not in fg[tname] or "parameters" not in fg[tname]:
                raise InputError(f"{tw}: expected 'topology' and 'parameters' datasets")
            top = fg[tname]["topology"][()]
            tree = vigra_tree(top, fg[tname]["parameters"][()], what=tw)
            nf = int(columns) if columns is not None else int(top[0])
            if n_features is None:
                n_features = nf
            elif nf != n_features:
                raise InputError(f"{tw}: {nf} features, other trees have {n_features}")
            if labels is None:
                labels = np.arange(1, tree.value.shape[1] + 1)
            if known is None:
                known = labels
            if labels.shape[0] != tree.value.shape[1]:
                raise InputError(f"{tw}: {tree.value.shape[1]} classes but {labels.shape[0]} labels")
            if not np.isin(labels, known).all() and not trees:
                # a forest trained with a class that has no samples (ilastik stores known_labels
                # [2, 3, 4] beside a forest of labels [1, 2, 3, 4]): vigra predicts every label
                known = np.union1d(known, labels)
            column_of = {int(k): c for c, k in enumerate(known.tolist())}
            if any(int(k) not in column_of for k in labels.tolist()):
                raise InputError(
                    f"{tw}: labels {labels.tolist()} are not all in known_labels {known.tolist()}"
                )
            cols = np.array([column_of[int(k)] for k in labels.tolist()], dtype=np.int64)
            value = np.zeros((tree.value.shape[0], known.shape[0]), dtype=np.float64)
            value[:, cols] = tree.value
            trees.append(tree._replace(value=value))
    if not trees:
        raise MissingInputError(f"{where}: the forests hold no trees")
    if feature_names is not None and len(feature_names) != n_features:
        raise InputError(
            f"{where}: {len(feature_names)} feature_names but the trees use {n_features} features"
        )
    return compile_forest(
        trees, op="lt", classes=known, n_features=n_features, feature_names=feature_names, source="vigra"
    )


def read_ilp_forests(source: str | os.PathLike | h5py.Group, *, group: str = DEFAULT_GROUP) -> Forest:
    """Read and merge all vigra forests of an ilastik project into one flat forest.

    Parameters
    ----------
    source
        Path of an ``.ilp`` (HDF5) file, an open ``h5py.File``/``Group`` containing
        ``group``, or the ``ClassifierForests`` group itself.
    group
        Path of the forests group inside the file: ``PixelClassification/ClassifierForests``
        (default); an autocontext stage's is e.g. ``PixelClassification01/ClassifierForests``.

    Returns
    -------
    Forest
        All trees of all forests (tree-count weighted like ilastik: a plain mean over
        trees), ``op="lt"``, ``classes = known_labels``, ``feature_names`` from the file.

    Raises
    ------
    MissingInputError
        The file or the group does not exist, or holds no trained forest.
    InputError
        The forest data are inconsistent or use vigra features ilastik does not use.

    Examples
    --------
    >>> forest = read_ilp_forests("PixelClass.ilp")  # doctest: +SKIP
    >>> len(forest.feature_names) == forest.n_features  # doctest: +SKIP
    True
    """
    if isinstance(source, (h5py.Group, h5py.File)):
        g, where = _forest_group(source, group)
        return _read(g, f"{source.file.filename}:{where}")
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise MissingInputError(f"{path}: project file not found")
    try:
        fh = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path}: not an HDF5 / .ilp file ({err})") from err
    with fh:
        g, where = _forest_group(fh, group)
        return _read(g, f"{path}:{where}")
