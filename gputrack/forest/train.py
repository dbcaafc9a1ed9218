"""Training random forests the way ilastik does, and compiling trained estimators.

ilastik trains vigra random forests with 100 trees, Gini splits, ``mtry =
floor(sqrt(n_features) + 0.5)`` features tried per split, bootstrap samples of the full
training-set size, trees grown to purity (ilastik-spec §1.8). :func:`fit` grows that
forest with gputrack's own numba trainer (:mod:`gputrack.forest.grow`; default), or asks
scikit-learn's ``RandomForestClassifier`` (or cuML's) for it, seeded so that two runs give
the same trees, and compiles it into a flat :class:`~gputrack.forest.Forest`.

The numba trainer and scikit-learn grow the same kind of forest (exact Gini splits at
midpoints, the same stopping rule) from different random streams, so their trees differ
like two seeds of one trainer; the numba one needs about a third of scikit-learn's CPU time
(it keeps the features presorted and has no per-tree Python work), which matters because
ilastik retrains on every label stroke.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(300, 4)).astype(np.float32)
>>> y = np.where(X[:, 0] + X[:, 1] > 0, 2, 1)
>>> forest = fit(X, y, n_trees=10, n_jobs=1)
>>> forest.n_trees, forest.classes.tolist()
(10, [1, 2])
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .model import Forest, Tree, compile_forest, round_thresholds

BACKENDS = ("gputrack", "sklearn", "cuml")


def vigra_mtry(n_features: int) -> int:
    """Features tried per split by vigra's default: ``floor(sqrt(n_features) + 0.5)``.

    scikit-learn's ``max_features="sqrt"`` floors instead (``int(sqrt(n))``), which differs
    e.g. for 7 features (2 vs 3), so :func:`fit` passes this integer.

    Examples
    --------
    >>> vigra_mtry(7), vigra_mtry(49), vigra_mtry(1)
    (3, 7, 1)
    """
    return max(1, int(math.floor(math.sqrt(int(n_features)) + 0.5)))


def _check_training_data(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise InputError(f"X: expected a 2-D array (n_samples, n_features), got shape {X.shape}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise InputError(f"y: expected {X.shape[0]} labels (one per row of X), got shape {y.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(f"X: no training data (shape {X.shape})")
    return np.ascontiguousarray(X, dtype=np.float32), y


def fit(
    X: Any,
    y: Any,
    *,
    n_trees: int = 100,
    random_state: int = 0,
    backend: str = "gputrack",
    n_jobs: int | None = -1,
    max_depth: int | None = None,
    max_features: int | None = None,
    feature_names: Sequence[str] | None = None,
    return_estimator: bool = False,
) -> Forest | tuple[Forest, Any]:
    """Train a random forest with ilastik's defaults and compile it.

    Parameters
    ----------
    X
        ``(n_samples, n_features)`` training features (cast to float32).
    y
        ``(n_samples,)`` class labels (e.g. ilastik label ids 1..K).
    n_trees
        Number of trees (ilastik: 100).
    random_state
        Seed; the same seed and data give the same forest.
    backend
        ``"gputrack"`` (numba, exact splits), ``"sklearn"`` (exact splits) or ``"cuml"`` (GPU
        training; histogram splits with ``n_bins=128``, so close to but not the same forest).
    n_jobs
        Training threads (-1: all cores). The result does not depend on it.
    max_depth
        Depth limit; ``None`` grows trees to purity as ilastik does (cuML: depth 64).
    max_features
        Features tried per split; default :func:`vigra_mtry` of the feature count.
    feature_names
        Names of the feature columns, stored in the forest.
    return_estimator
        Also return the trained scikit-learn / cuML estimator (not with ``"gputrack"``).

    Returns
    -------
    Forest, or (Forest, estimator)
        The compiled forest (``op="le"``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]], dtype=np.float32)
    >>> forest = fit(X, [1, 1, 2, 2], n_trees=5, n_jobs=1)
    >>> forest.n_features, forest.n_trees
    (1, 5)
    """
    X, y = _check_training_data(X, y)
    if backend not in BACKENDS:
        raise InputError(f"forest backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if int(n_trees) < 1:
        raise InputError(f"n_trees={n_trees}: expected at least 1")
    mtry = vigra_mtry(X.shape[1]) if max_features is None else int(max_features)
    if not 1 <= mtry <= X.shape[1]:
        raise InputError(f"max_features={max_features}: expected 1..{X.shape[1]}")
    if return_estimator and backend == "gputrack":
        raise InputError("return_estimator=True: needs backend 'sklearn' or 'cuml' (not 'gputrack')")
    if backend == "gputrack":
        from .grow import grow_trees  # noqa: PLC0415

        classes, y_index = np.unique(y, return_inverse=True)
        trees = grow_trees(X, y_index.ravel(), classes.size, n_trees=int(n_trees), mtry=mtry,
                           random_state=random_state, n_jobs=n_jobs, max_depth=max_depth)
        return compile_forest(trees, op="le", classes=classes, n_features=X.shape[1],
                              feature_names=feature_names, source="gputrack")
    if backend == "cuml":
        estimator = _fit_cuml(X, y, n_trees=int(n_trees), random_state=random_state,
                              max_depth=max_depth, mtry=mtry)
        forest = from_cuml(estimator, feature_names=feature_names)
    else:
        from sklearn.ensemble import RandomForestClassifier  # noqa: PLC0415

        estimator = RandomForestClassifier(
            n_estimators=int(n_trees),
            criterion="gini",
            max_features=mtry,
            max_depth=max_depth,
            min_samples_split=2,
            min_samples_leaf=1,
            bootstrap=True,
            random_state=random_state,
            n_jobs=n_jobs,
        ).fit(X, y)
        forest = from_sklearn(estimator, feature_names=feature_names)
    return (forest, estimator) if return_estimator else forest


def _fit_cuml(X: np.ndarray, y: np.ndarray, *, n_trees: int, random_state: int,
              max_depth: int | None, mtry: int) -> Any:
    try:
        from cuml.ensemble import RandomForestClassifier  # noqa: PLC0415
    except Exception as err:
        raise InputError(
            f"forest backend 'cuml' needs RAPIDS cuML (pip install gputrack[cuml]); import failed: {err}"
        ) from err
    classes, y_index = np.unique(y, return_inverse=True)
    estimator = RandomForestClassifier(
        n_estimators=n_trees,
        split_criterion="gini",
        max_features=mtry,
        max_depth=64 if max_depth is None else int(max_depth),
        bootstrap=True,
        random_state=random_state,
        n_streams=1,  # several streams make cuML training non-deterministic
    )
    estimator.fit(X, y_index.astype(np.int32))
    estimator.gputrack_classes_ = classes
    return estimator


def from_sklearn(estimator: Any, *, feature_names: Sequence[str] | None = None) -> Forest:
    """Compile a fitted scikit-learn ``RandomForestClassifier`` (or ``ExtraTreesClassifier``).

    Parameters
    ----------
    estimator
        Fitted single-output forest classifier; also accepts a ``DecisionTreeClassifier``.
    feature_names
        Feature names; default the estimator's ``feature_names_in_`` when it has them.

    Returns
    -------
    Forest
        ``op="le"``; thresholds rounded down to float32; leaf rows are each tree's
        normalised ``value`` (what ``predict_proba`` averages); NaN directions kept.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> tree = DecisionTreeClassifier().fit([[0.0], [1.0]], ["a", "b"])
    >>> from_sklearn(tree).classes.tolist()
    ['a', 'b']
    """
    trees = getattr(estimator, "estimators_", None)
    if trees is None:
        if not hasattr(estimator, "tree_"):
            raise InputError(f"{type(estimator).__name__}: expected a fitted scikit-learn forest or tree")
        trees = [estimator]
    classes = np.asarray(getattr(estimator, "classes_", None))
    if classes.ndim != 1 or getattr(estimator, "n_outputs_", 1) != 1:
        raise InputError(f"{type(estimator).__name__}: only single-output classifiers are supported")
    if feature_names is None and hasattr(estimator, "feature_names_in_"):
        feature_names = [str(s) for s in estimator.feature_names_in_]
    compiled = []
    for est in trees:
        t = est.tree_
        missing = getattr(t, "missing_go_to_left", None)
        compiled.append(
            Tree(
                feature=t.feature,
                threshold=t.threshold,
                left=t.children_left,
                right=t.children_right,
                value=t.value[:, 0, : classes.shape[0]],
                missing_left=None if missing is None else np.asarray(missing, dtype=bool),
            )
        )
    return compile_forest(
        compiled,
        op="le",
        classes=classes,
        n_features=int(estimator.n_features_in_),
        feature_names=feature_names,
        source="sklearn",
    )


def _treelite_tree(tree: dict, n_classes: int, what: str) -> Tree:
    """One treelite JSON tree as a ``Tree`` with float32-exact ``<=`` thresholds."""
    nodes = tree["nodes"]
    n = len(nodes)
    feature = np.full(n, -1, dtype=np.int64)
    threshold = np.zeros(n, dtype=np.float64)
    left = np.full(n, -1, dtype=np.int64)
    right = np.full(n, -1, dtype=np.int64)
    missing = np.zeros(n, dtype=bool)
    value = np.zeros((n, n_classes), dtype=np.float64)
    index = {int(node["node_id"]): k for k, node in enumerate(nodes)}
    for k, node in enumerate(nodes):
        if "leaf_value" in node:
            leaf = np.atleast_1d(np.asarray(node["leaf_value"], dtype=np.float64))
            if leaf.shape[0] != n_classes:
                raise InputError(f"{what}: a leaf holds {leaf.shape[0]} values, expected {n_classes}")
            value[k] = leaf
            continue
        if node.get("node_type", "numerical_test_node") != "numerical_test_node":
            raise InputError(f"{what}: node type {node.get('node_type')!r} is not supported")
        op = node.get("comparison_op", "<=")
        a, b = index[int(node["left_child"])], index[int(node["right_child"])]
        default_left = bool(node.get("default_left", False))
        t = np.float64(node["threshold"])
        if op in (">", ">="):  # x > t  <=>  not (x <= t): swap the children
            a, b, default_left = b, a, not default_left
            op = "<=" if op == ">" else "<"
        if op == "<=":
            thr = round_thresholds(np.array([t]), "le")[0]
        elif op == "<":  # x < ceil32(t)  <=>  x <= the float32 below it
            thr = np.nextafter(round_thresholds(np.array([t]), "lt")[0], np.float32(-np.inf))
        else:
            raise InputError(f"{what}: comparison {op!r} is not supported")
        feature[k] = int(node["split_feature_id"])
        threshold[k] = float(thr)
        left[k], right[k], missing[k] = a, b, default_left
    root = index.get(0, 0)
    if root != 0:  # put the root first
        perm = np.r_[root, np.delete(np.arange(n), root)]
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n)
        feature, threshold, missing, value = feature[perm], threshold[perm], missing[perm], value[perm]
        left = np.where(left[perm] >= 0, inv[np.maximum(left[perm], 0)], -1)
        right = np.where(right[perm] >= 0, inv[np.maximum(right[perm], 0)], -1)
    return Tree(feature, threshold, left, right, value, missing)


def from_treelite(
    model: Any, *, classes: Sequence[Any] | None = None, feature_names: Sequence[str] | None = None
) -> Forest:
    """Compile a treelite random-forest classifier (what cuML exports).

    Parameters
    ----------
    model
        A ``treelite.Model`` (or its JSON dump as a string) of a multi-class forest with
        leaf vectors and averaged tree outputs.
    classes
        Class labels of the outputs; default ``0..n_classes-1``.
    feature_names
        Feature names, when known.

    Returns
    -------
    Forest
        ``op="le"`` (``<`` splits are converted exactly; ``>``/``>=`` swap children).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> import treelite  # doctest: +SKIP
    >>> rf = RandomForestClassifier(5).fit(np.eye(3), [0, 1, 1])  # doctest: +SKIP
    >>> from_treelite(treelite.sklearn.import_model(rf)).n_trees  # doctest: +SKIP
    5
    """
    text = model if isinstance(model, str) else model.dump_as_json(pretty_print=False)
    spec = json.loads(text)
    if not spec.get("average_tree_output", False):
        raise InputError("treelite model: expected a random forest (average_tree_output = true)")
    shape = spec.get("leaf_vector_shape", [1, 1])
    n_classes = int(np.prod(shape))
    if int(spec.get("num_target", 1)) != 1 or n_classes < 1:
        raise InputError(f"treelite model: expected one target with class vectors, got {shape}")
    if n_classes == 1:
        raise InputError("treelite model: scalar leaves (one class per tree) are not supported")
    if classes is None:
        classes = np.arange(n_classes)
    classes = np.asarray(classes)
    if classes.shape[0] != n_classes:
        raise InputError(f"treelite model: {n_classes} outputs but {classes.shape[0]} classes given")
    trees = [_treelite_tree(t, n_classes, f"treelite tree {k}") for k, t in enumerate(spec["trees"])]
    return compile_forest(
        trees,
        op="le",
        classes=classes,
        n_features=int(spec["num_feature"]),
        feature_names=feature_names,
        source="treelite",
    )


def from_cuml(estimator: Any, *, feature_names: Sequence[str] | None = None) -> Forest:
    """Compile a fitted cuML ``RandomForestClassifier`` through its treelite export.

    Examples
    --------
    >>> from gputrack.forest import fit
    >>> forest = fit([[0.0], [1.0]], [1, 2], backend="cuml")  # doctest: +SKIP
    """
    if not hasattr(estimator, "as_treelite"):
        raise InputError(f"{type(estimator).__name__}: expected a fitted cuML forest with as_treelite()")
    classes = getattr(estimator, "gputrack_classes_", None)
    if classes is None:
        classes = getattr(estimator, "classes_", None)
        if classes is not None and hasattr(classes, "get"):
            classes = classes.get()
    forest = from_treelite(estimator.as_treelite(), classes=classes, feature_names=feature_names)
    forest.source = "cuml"
    return forest
