"""Flat forests against scikit-learn: compile, predict (CPU twin and GPU kernel), fit, storage."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

import gputrack.forest as gf
from gputrack import backend
from gputrack.errors import InputError, MissingInputError, OutputExistsError


def _data(n_classes: int, n: int = 300, n_features: int = 6, seed: int = 0):
    """Overlapping Gaussian blobs: deep trees, leaves with mixed classes when depth-limited."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n) + 1
    centers = rng.normal(scale=1.5, size=(n_classes, n_features))
    X = (centers[y - 1] + rng.normal(size=(n, n_features))).astype(np.float32)
    # quantise some columns so that ties and exact-threshold samples happen
    X[:, 0] = np.round(X[:, 0] * 4) / 4
    return X, y


def _probe(rf: RandomForestClassifier, X: np.ndarray, seed: int = 1) -> np.ndarray:
    """Test samples: training rows, fresh rows, and rows sitting exactly on split thresholds."""
    rng = np.random.default_rng(seed)
    fresh = (X[rng.integers(0, X.shape[0], 200)] + rng.normal(scale=0.5, size=(200, X.shape[1])))
    on = X[rng.integers(0, X.shape[0], 300)].copy()
    trees = getattr(rf, "estimators_", [rf])
    for k in range(on.shape[0]):
        t = trees[k % len(trees)].tree_
        inner = np.flatnonzero(t.children_left >= 0)
        if inner.size:
            node = inner[k % inner.size]
            thr32 = np.float32(t.threshold[node])
            on[k, t.feature[node]] = [thr32, np.nextafter(thr32, np.float32(np.inf)),
                                      np.nextafter(thr32, np.float32(-np.inf))][k % 3]
    return np.concatenate([X, fresh.astype(np.float32), on]).astype(np.float32)


CASES = [
    # (max_depth, n_trees, n_classes)
    (1, 1, 2),
    (1, 200, 3),
    (2, 5, 8),
    (3, 17, 2),
    (5, 50, 4),
    (8, 1, 5),
    (12, 100, 3),
    (30, 3, 8),
    (30, 200, 2),
    (None, 1, 3),
    (None, 64, 6),
    (None, 200, 8),
]


@pytest.mark.parametrize(("max_depth", "n_trees", "n_classes"), CASES)
def test_predict_proba_equals_sklearn(max_depth, n_trees, n_classes):
    X, y = _data(n_classes, seed=n_trees + n_classes)
    rf = RandomForestClassifier(
        n_estimators=n_trees, max_depth=max_depth, random_state=n_classes, n_jobs=1
    ).fit(X, y)
    forest = gf.from_sklearn(rf)
    assert forest.n_trees == n_trees
    assert forest.classes.tolist() == rf.classes_.tolist()
    if max_depth is not None:
        depths = [e.tree_.max_depth for e in rf.estimators_]
        assert max(depths) <= max_depth
    Xt = _probe(rf, X)
    ours = gf.predict_proba(forest, Xt, device="cpu")
    ref = rf.predict_proba(Xt)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
    # labels: equal wherever sklearn's decision is not a float-rounding tie
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1e-5
    assert np.array_equal(gf.predict(forest, Xt, device="cpu")[clear], rf.predict(Xt)[clear])


def test_node_layout_is_breadth_first_with_adjacent_children():
    X, y = _data(3)
    rf = RandomForestClassifier(n_estimators=4, random_state=0, n_jobs=1).fit(X, y)
    f = gf.from_sklearn(rf)
    gf.check_forest(f)
    inner = f.feature >= 0
    assert np.array_equal(f.right[inner], f.left[inner] + 1)
    assert np.all(f.left[inner] > np.flatnonzero(inner))
    # node and leaf counts equal scikit-learn's
    assert f.n_nodes == sum(e.tree_.node_count for e in rf.estimators_)
    assert f.value.shape[0] == sum(int((e.tree_.children_left < 0).sum()) for e in rf.estimators_)
    np.testing.assert_allclose(f.value.sum(axis=1), 1.0, atol=1e-6)
    packed = gf.packed_nodes(f)
    assert packed.shape == (f.n_nodes, 4)
    assert np.array_equal(packed[:, 1].view(np.float32), f.threshold)


def test_round_thresholds_exact_against_float64_comparison():
    rng = np.random.default_rng(3)
    t = np.concatenate([rng.normal(size=2000), [0.1, 1e-40, -1e-40, 1e300, -1e300, 0.0, 2.5]])
    with np.errstate(over="ignore"):
        x = np.concatenate([t.astype(np.float32), rng.normal(size=2000).astype(np.float32)])
    x = np.concatenate([x, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(-np.inf))])
    for op, cmp in (("le", np.less_equal), ("lt", np.less)):
        t32 = gf.round_thresholds(t, op)
        assert t32.dtype == np.float32
        for j in range(0, t.shape[0], 97):
            exact = cmp(x.astype(np.float64), t[j])
            assert np.array_equal(cmp(x, t32[j]), exact), (op, t[j])


def test_nan_follows_sklearn_missing_direction():
    X, y = _data(3, n=400, seed=5)
    Xn = X.copy()
    rng = np.random.default_rng(0)
    Xn[rng.random(Xn.shape) < 0.1] = np.nan
    for train in (X, Xn):  # without NaN: sklearn sends NaN to the larger child
        rf = RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=1).fit(train, y)
        f = gf.from_sklearn(rf)
        np.testing.assert_allclose(gf.predict_proba(f, Xn, device="cpu"), rf.predict_proba(Xn), atol=1e-6)


def test_single_decision_tree_and_many_classes():
    X, y = _data(40, n=800, seed=2)  # 40 classes: more than the GPU's register slots
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    f = gf.from_sklearn(tree)
    assert f.n_trees == 1 and f.n_classes == 40
    np.testing.assert_allclose(gf.predict_proba(f, X, device="cpu"), tree.predict_proba(X), atol=1e-6)
    rf = RandomForestClassifier(n_estimators=7, random_state=0, n_jobs=1).fit(X, y)
    np.testing.assert_allclose(
        gf.predict_proba(gf.from_sklearn(rf), X[:100], device="cpu"), rf.predict_proba(X[:100]), atol=1e-6
    )


def test_string_classes_and_float64_input():
    X, y = _data(3)
    names = np.array(["bg", "cell", "edge"])[y - 1]
    rf = RandomForestClassifier(n_estimators=9, random_state=0, n_jobs=1).fit(X, names)
    f = gf.from_sklearn(rf)
    X64 = X.astype(np.float64) + 1e-9  # cast to float32 like scikit-learn
    np.testing.assert_allclose(gf.predict_proba(f, X64, device="cpu"), rf.predict_proba(X64), atol=1e-6)
    assert np.array_equal(gf.predict(f, X64, device="cpu"), rf.predict(X64))


def test_vigra_mtry_rounds_like_vigra():
    for n in range(1, 300):
        assert gf.vigra_mtry(n) == int(np.floor(np.sqrt(n) + 0.5))
    assert gf.vigra_mtry(7) == 3 and int(np.sqrt(7)) == 2  # sklearn "sqrt" would floor


def test_fit_matches_an_ilastik_configured_sklearn_forest():
    X, y = _data(3, n=500, n_features=7, seed=9)
    forest, est = gf.fit(X, y, n_trees=30, random_state=4, n_jobs=1, backend="sklearn",
                         return_estimator=True)
    assert est.max_features == 3 and est.bootstrap and est.criterion == "gini" and est.max_depth is None
    ref = RandomForestClassifier(
        n_estimators=30, max_features=3, criterion="gini", bootstrap=True, random_state=4, n_jobs=1
    ).fit(X, y)
    Xt = _probe(ref, X)
    np.testing.assert_allclose(gf.predict_proba(forest, Xt, device="cpu"), ref.predict_proba(Xt), atol=1e-6)
    # grown to purity: every training sample of a tree's bootstrap lands in a pure leaf
    assert all(e.tree_.impurity[e.tree_.children_left < 0].max() == 0 for e in est.estimators_)
    # seeded and independent of n_jobs
    again = gf.fit(X, y, n_trees=30, random_state=4, n_jobs=2, backend="sklearn")
    for name in ("feature", "threshold", "left", "value"):
        assert np.array_equal(getattr(again, name), getattr(forest, name))


def test_fit_rejects_bad_input():
    X, y = _data(2)
    with pytest.raises(InputError, match="backend"):
        gf.fit(X, y, backend="xgboost")
    with pytest.raises(InputError, match="labels"):
        gf.fit(X, y[:-1])
    with pytest.raises(InputError, match="2-D"):
        gf.fit(X[:, 0], y)
    try:
        import cuml  # noqa: F401
    except Exception:
        with pytest.raises(InputError, match="cuML"):
            gf.fit(X, y, n_trees=2, backend="cuml")


def test_predict_rejects_wrong_shapes():
    X, y = _data(2)
    f = gf.fit(X, y, n_trees=3, n_jobs=1)
    with pytest.raises(InputError, match="features"):
        gf.predict_proba(f, X[:, :4], device="cpu")
    with pytest.raises(InputError, match="2-D"):
        gf.predict_proba(f, X[0], device="cpu")
    assert gf.predict_proba(f, X[:0], device="cpu").shape == (0, 2)


def test_save_load_roundtrip(tmp_path):
    X, y = _data(4)
    rf = RandomForestClassifier(n_estimators=12, random_state=0, n_jobs=1).fit(X, y)
    names = [f"feature {k} (σ=1.0)" for k in range(X.shape[1])]
    f = gf.from_sklearn(rf, feature_names=names)
    path = tmp_path / "forest.h5"
    gf.save(f, path)
    g = gf.load(path)
    for name in ("feature", "threshold", "left", "right", "missing_left", "value", "tree_offsets", "classes"):
        assert np.array_equal(getattr(g, name), getattr(f, name)), name
    assert g.feature_names == tuple(names) and g.op == "le" and g.n_features == X.shape[1]
    np.testing.assert_allclose(gf.predict_proba(g, X, device="cpu"), rf.predict_proba(X), atol=1e-6)
    with pytest.raises(OutputExistsError):
        gf.save(f, path)
    gf.save(f, path, overwrite=True)
    assert not list(tmp_path.glob(".*tmp*"))
    # into a group of an open file (e.g. a project file), and string classes
    fs = gf.from_sklearn(RandomForestClassifier(3, random_state=0).fit(X, np.array(["a", "b"])[y % 2]))
    with h5py.File(tmp_path / "project.h5", "w") as fh:
        gf.save(fs, fh.create_group("objects"), name="classifier")
        with pytest.raises(OutputExistsError):
            gf.save(fs, fh["objects"], name="classifier")
    with h5py.File(tmp_path / "project.h5", "r") as fh:
        h = gf.load(fh["objects"], name="classifier")
        assert h.classes.tolist() == ["a", "b"]
        assert gf.load(fh["objects/classifier"]).n_trees == 3
    with pytest.raises(MissingInputError):
        gf.load(tmp_path / "nope.h5")
    with h5py.File(tmp_path / "other.h5", "w") as fh:
        fh.create_group("forest")
    with pytest.raises(InputError, match="not a gputrack forest"):
        gf.load(tmp_path / "other.h5")


def test_from_treelite_equals_sklearn():
    treelite = pytest.importorskip("treelite")
    X, y = _data(3, seed=11)
    rf = RandomForestClassifier(n_estimators=15, random_state=0, n_jobs=1).fit(X, y)
    f = gf.from_treelite(treelite.sklearn.import_model(rf), classes=rf.classes_)
    Xt = _probe(rf, X)
    np.testing.assert_allclose(gf.predict_proba(f, Xt, device="cpu"), rf.predict_proba(Xt), atol=1e-6)


# --------------------------------------------------------------------------- GPU kernel vs CPU twin


def _random_forest(n_classes, n_features, n_trees, seed, max_depth=None):
    X, y = _data(n_classes, n=600, n_features=n_features, seed=seed)
    rf = RandomForestClassifier(n_estimators=n_trees, max_depth=max_depth, random_state=seed, n_jobs=1)
    return gf.from_sklearn(rf.fit(X, y)), _probe(rf, X)


@pytest.mark.gpu
@pytest.mark.parametrize(
    ("n_classes", "n_features", "n_trees", "max_depth"),
    [(2, 6, 100, None), (3, 49, 50, None), (5, 17, 7, 3), (8, 100, 20, None), (17, 8, 10, None),
     (40, 6, 5, None), (3, 500, 10, None)],  # 17/40 classes: 32-slot and global paths; 500: no staging
)
def test_gpu_kernel_equals_cpu_twin(n_classes, n_features, n_trees, max_depth):
    import cupy as cp

    forest, X = _random_forest(n_classes, n_features, n_trees, seed=n_classes, max_depth=max_depth)
    X[::7, 0] = np.nan
    cpu = gf.predict_proba(forest, X, device="cpu")
    gpu = gf.predict_proba(forest, X, device="gpu")
    assert isinstance(gpu, np.ndarray)
    np.testing.assert_allclose(gpu, cpu, rtol=0, atol=1e-6)
    dev = gf.predict_proba(forest, cp.asarray(X))  # device input stays on the device
    assert isinstance(dev, cp.ndarray)
    np.testing.assert_allclose(dev.get(), cpu, rtol=0, atol=1e-6)
    blocks = gf.predict_proba(forest, X, device="gpu", block_rows=97)
    np.testing.assert_allclose(blocks, cpu, rtol=0, atol=1e-6)
    labels = backend.to_host(gf.predict(forest, cp.asarray(X)))
    assert np.array_equal(labels, gf.predict(forest, X, device="cpu"))


@pytest.mark.gpu
def test_gpu_kernel_equals_cpu_twin_large():
    forest, X = _random_forest(4, 49, 100, seed=1)
    rng = np.random.default_rng(0)
    noise = rng.normal(scale=0.3, size=(300_000, 49)).astype(np.float32)
    Xl = X[rng.integers(0, X.shape[0], 300_000)] + noise
    gpu = gf.predict_proba(forest, Xl, device="gpu")
    np.testing.assert_allclose(gpu, gf.predict_proba(forest, Xl, device="cpu"), rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- CPU twin layout


def _grown_tree(rng, X, n_classes, n_inner):
    """A random tree grown by splitting random leaves; thresholds mostly equal to values of X."""
    feature, threshold, left, right = [-1], [0.0], [-1], [-1]
    leaves = [0]
    for _ in range(n_inner):
        node = leaves.pop(int(rng.integers(len(leaves))))
        f = int(rng.integers(X.shape[1]))
        u = rng.random()
        if u < 0.6:
            t = float(X[rng.integers(X.shape[0]), f])  # samples sit exactly on the threshold
        elif u < 0.97:
            t = float(rng.normal())  # a float64 value between float32 neighbours
        else:
            t = float(rng.choice([-np.inf, np.inf]))
        n = len(feature)
        feature[node], threshold[node], left[node], right[node] = f, t, n, n + 1
        feature += [-1, -1]
        threshold += [0.0, 0.0]
        left += [-1, -1]
        right += [-1, -1]
        leaves += [n, n + 1]
    k = len(feature)
    return gf.Tree(np.array(feature), np.array(threshold), np.array(left), np.array(right),
                   rng.random((k, n_classes)) + 0.01, rng.random(k) < 0.5)


def _walk_reference(trees, X, op):
    """Mean leaf distribution over trees by a plain float64 walk of the source trees."""
    X64 = X.astype(np.float64)
    cmp = np.less if op == "lt" else np.less_equal
    total = np.zeros((X.shape[0], trees[0].value.shape[1]))
    rows = np.arange(X.shape[0])
    for tree in trees:
        node = np.zeros(X.shape[0], dtype=np.int64)
        while True:
            inner = tree.left[node] >= 0
            if not inner.any():
                break
            r, nd = rows[inner], node[inner]
            v = X64[r, tree.feature[nd]]
            go_left = np.where(np.isnan(v), tree.missing_left[nd], cmp(v, tree.threshold[nd]))
            node[inner] = np.where(go_left, tree.left[nd], tree.right[nd])
        leaf = tree.value[node]
        total += leaf / leaf.sum(axis=1, keepdims=True)
    return total / len(trees)


@pytest.mark.parametrize("op", ["lt", "le"])
def test_cpu_twin_equals_float64_walk_of_source_trees(op):
    # exact-threshold samples, +-inf thresholds and values, NaN with both missing directions
    rng = np.random.default_rng(11 if op == "lt" else 12)
    X = rng.normal(size=(2600, 5)).astype(np.float32)
    X[:, 1] = np.round(X[:, 1] * 2) / 2
    trees = [_grown_tree(rng, X, 3, int(rng.integers(0, 60))) for _ in range(23)]
    X[rng.random(X.shape) < 0.01] = np.inf
    X[rng.random(X.shape) < 0.01] = -np.inf
    X[1500:1600][rng.random((100, 5)) < 0.2] = np.nan  # NaN in one block only
    f = gf.compile_forest(trees, op=op, classes=[1, 2, 3], n_features=5)
    np.testing.assert_allclose(
        gf.predict_proba(f, X, device="cpu"), _walk_reference(trees, X, op), rtol=0, atol=1e-6
    )


def test_cpu_twin_row_does_not_depend_on_batch():
    # rows land in different blocks and lanes (8-row groups, tails) depending on the batch;
    # the float32 sum over trees is in one order, so every batching gives the same bits
    forest, X = _random_forest(4, 9, 37, seed=4)
    rng = np.random.default_rng(2)
    X = np.concatenate([X, X[rng.integers(0, X.shape[0], 1500)]])[: 2 * 1024 + 13]
    X[rng.random(X.shape[0]) < 0.02, 3] = np.nan
    full = gf.predict_proba(forest, X, device="cpu")
    for lo, hi in ((0, 1), (5, 12), (1019, 1030), (3, 2061), (2050, 2061)):
        assert np.array_equal(gf.predict_proba(forest, X[lo:hi], device="cpu"), full[lo:hi])
    assert np.array_equal(gf.predict_proba(forest, X[::-1], device="cpu"), full[::-1])
