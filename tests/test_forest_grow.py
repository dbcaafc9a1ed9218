"""gputrack's own forest trainer against scikit-learn: same splits, same accuracy, seeded."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from gputrack import forest as gf
from gputrack.forest.grow import grow_trees


def _pixels(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes by a nonlinear rule on 9 noisy float32 features (some irrelevant)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 9)).astype(np.float32)
    score = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.3 * rng.normal(size=n)
    y = np.digitize(score, [-0.5, 0.5]) + 1
    return X, y


def _leaves(tree, X: np.ndarray) -> np.ndarray:
    """Leaf of every row of X (walking the node arrays in Python: an independent evaluator)."""
    out = np.empty(len(X), np.int64)
    for r, x in enumerate(X):
        n = 0
        while tree.left[n] >= 0:
            n = tree.left[n] if x[tree.feature[n]] <= tree.threshold[n] else tree.right[n]
        out[r] = n
    return out


def test_one_unbootstrapped_tree_has_sklearns_exact_splits():
    X, y = _pixels(800, seed=3)
    tree = grow_trees(X, y - 1, 3, n_trees=1, mtry=X.shape[1], bootstrap=False, n_jobs=1)[0]
    ref = DecisionTreeClassifier(random_state=0).fit(X, y)
    assert len(tree.left) == ref.tree_.node_count
    assert (tree.feature[0], tree.threshold[0]) == (ref.tree_.feature[0], ref.tree_.threshold[0])
    # the same partition of the training set into leaves, except where two features split a
    # small node equally well (then the feature drawn first wins, in either trainer)
    ours, theirs = _leaves(tree, X), ref.apply(X)
    sets = [{frozenset(np.flatnonzero(a == k)) for k in np.unique(a)} for a in (ours, theirs)]
    assert len(sets[0] & sets[1]) >= 0.85 * len(sets[1])
    assert (tree.value[ours].argmax(1) == y - 1).all()  # pure leaves


def test_forest_matches_sklearns_accuracy_and_agrees_on_held_out_data():
    X, y = _pixels(6000, seed=1)
    Xt, yt, Xh, yh = X[:3000], y[:3000], X[3000:], y[3000:]
    ours = gf.fit(Xt, yt, n_trees=100, random_state=0, n_jobs=2)
    assert ours.source == "gputrack" and ours.n_trees == 100
    refs = [RandomForestClassifier(n_estimators=100, max_features=gf.vigra_mtry(9), random_state=seed,
                                   n_jobs=1).fit(Xt, yt) for seed in (0, 1)]
    p_ours = gf.predict_proba(ours, Xh, device="cpu")
    p_ref, p_ref2 = (r.predict_proba(Xh) for r in refs)
    acc_ours = (ours.classes[p_ours.argmax(1)] == yh).mean()
    acc_ref = (refs[0].classes_[p_ref.argmax(1)] == yh).mean()
    assert acc_ours > acc_ref - 0.01, (acc_ours, acc_ref)
    # as close to scikit-learn's forest as two scikit-learn seeds are to each other
    agree = (p_ours.argmax(1) == p_ref.argmax(1)).mean()
    floor = (p_ref2.argmax(1) == p_ref.argmax(1)).mean()
    assert agree > floor - 0.01, (agree, floor)
    assert np.abs(p_ours - p_ref).mean() < np.abs(p_ref2 - p_ref).mean() + 0.01
    # grown to purity: every leaf holds one class
    assert ((ours.value > 0).sum(1) == 1).all()
    # training points are classified by all trees as labelled, except where the bootstrap left them out
    train_acc = (ours.classes[gf.predict_proba(ours, Xt, device="cpu").argmax(1)] == yt).mean()
    assert train_acc == 1.0


def test_seeded_and_independent_of_threads():
    X, y = _pixels(1500, seed=2)
    a = gf.fit(X, y, n_trees=12, random_state=7, n_jobs=1)
    b = gf.fit(X, y, n_trees=12, random_state=7, n_jobs=2)
    c = gf.fit(X, y, n_trees=12, random_state=8, n_jobs=2)
    for name in ("feature", "threshold", "left", "right", "value"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.threshold, c.threshold)


def test_depth_limit_constant_features_and_midpoints():
    X = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [3.0, 5.0]], np.float32)
    f = gf.fit(X, [1, 1, 2, 2], n_trees=20, max_features=1, n_jobs=1)
    # the constant column never splits; splits are midpoints of the values in the bootstrap
    inner = f.feature >= 0
    assert (f.feature[inner] == 0).all()
    assert np.isin(f.threshold[inner], np.float32([0.5, 1.0, 1.5, 2.0, 2.5])).all()
    assert gf.predict_proba(f, X[[0, 3]], device="cpu").argmax(1).tolist() == [0, 1]
    X, y = _pixels(500)
    stump = gf.fit(X, y, n_trees=3, max_depth=1, n_jobs=1)
    assert stump.left.size == 9  # root and two leaves per tree
