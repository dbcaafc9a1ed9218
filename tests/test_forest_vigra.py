"""Reading ilastik's vigra forests: hand-built vigra layouts and the real api_projects .ilp files."""

from __future__ import annotations

import zipfile

import h5py
import numpy as np
import pytest

import gputrack.forest as gf
from gputrack.errors import InputError, MissingInputError
from tests.conftest import shared_path

LEAF = 0x40000000


def _reference_tree(top: np.ndarray, par: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Walk one vigra tree in float64 exactly as vigra does (child_a when x < threshold)."""
    off = 2
    while top[off] != LEAF:
        addr, a, b, col = top[off + 1 : off + 5]
        off = a if np.float64(x[col]) < par[addr + 1] else b
    addr, k = top[off + 1], top[1]
    p = par[addr + 1 : addr + 1 + k]
    return p / p.sum()


def _reference_predict(group: h5py.Group, X: np.ndarray) -> np.ndarray:
    """ilastik's combination: each vigra forest averages its trees; forests weighted by tree count."""
    known = group["known_labels"][()].tolist()
    total = np.zeros((X.shape[0], len(known)))
    n_trees = 0
    for name in sorted(k for k in group if k.startswith("Forest")):
        fg = group[name]
        labels = fg["_ext_param/labels"][()].tolist()
        cols = [known.index(c) for c in labels]
        trees = [(fg[t]["topology"][()], fg[t]["parameters"][()]) for t in fg if t.startswith("Tree_")]
        forest_p = np.zeros((X.shape[0], len(labels)))
        for top, par in trees:
            forest_p += np.array([_reference_tree(top, par, x) for x in X])
        forest_p /= len(trees)
        total[:, cols] += forest_p * len(trees)
        n_trees += len(trees)
    return total / n_trees


def _write_vigra_forest(g: h5py.Group, trees, labels, n_features, *, weighted=0.0):
    g.attrs["vigra_random_forest_version"] = np.array([0.1])
    g.create_dataset("_options/tree_count_", data=[float(len(trees))])
    g.create_dataset("_options/predict_weighted_", data=[weighted])
    g.create_dataset("_ext_param/labels", data=np.asarray(labels, dtype=np.uint32))
    g.create_dataset("_ext_param/column_count_", data=[float(n_features)])
    g.create_dataset("_ext_param/class_count_", data=[float(len(labels))])
    for k, (top, par) in enumerate(trees):
        g.create_dataset(f"Tree_{k:02d}/topology", data=np.asarray(top, dtype=np.int32))
        g.create_dataset(f"Tree_{k:02d}/parameters", data=np.asarray(par, dtype=np.float64))


# Tree A: x1 < 0.1 ? (x0 < 2.0 ? class1 : class2) : class2      (0.1 is not a float32)
TREE_A = (
    [2, 2, 0, 0, 7, 16, 1, 0, 2, 12, 14, 0, LEAF, 4, LEAF, 7, LEAF, 10],
    [1, 0.1, 1, 2.0, 5, 1, 0, 3, 0, 1, 6, 0, 1],
)
# Tree B: x0 < 1.0 ? [3 of class1, 1 of class2] : class2            (unnormalised leaf counts)
TREE_B = ([2, 2, 0, 0, 9, 7, 0, LEAF, 2, LEAF, 5], [1, 1.0, 8, 0, 1, 4, 3, 1])
# Tree C (2-class forest over labels [1, 3] of known [1, 2, 3]): x1 < -1 ? label 3 : label 1
TREE_C = ([2, 2, 0, 0, 7, 9, 1, LEAF, 2, LEAF, 5], [1, -1.0, 4, 0, 1, 6, 1, 0])


@pytest.fixture
def vigra_project(tmp_path):
    path = tmp_path / "hand.ilp"
    with h5py.File(path, "w") as fh:
        g = fh.create_group("PixelClassification/ClassifierForests")
        _write_vigra_forest(g.create_group("Forest0000"), [TREE_A, TREE_B], [1, 2], 2)
        _write_vigra_forest(g.create_group("Forest0001"), [TREE_C], [1, 3], 2)
        g.create_dataset("known_labels", data=np.array([1, 2, 3], dtype=np.uint32))
        g.create_dataset(
            "feature_names", data=[s.encode() for s in ("Gaussian Smoothing (σ=0.3)", "Laplacian (σ=1.0)")]
        )
    return path


def test_hand_built_vigra_forest_known_splits(vigra_project):
    forest = gf.read_ilp_forests(vigra_project)
    assert forest.n_trees == 3 and forest.op == "lt" and forest.source == "vigra"
    assert forest.classes.tolist() == [1, 2, 3]
    assert forest.feature_names == ("Gaussian Smoothing (σ=0.3)", "Laplacian (σ=1.0)")
    t01 = np.float32(0.1)  # float32(0.1) > 0.1: not below the threshold
    below = np.nextafter(t01, np.float32(-1))
    X = np.array(
        [
            [0.0, 0.0],  # A: class1, B: [.75,.25], C: label1
            [2.0, 0.0],  # A: x0 == 2.0 is not < 2.0 -> class2; B: class2; C: label1
            [1.0, below],  # A: class1; B: x0 == 1.0 -> class2; C: label1
            [1.0, t01],  # A: class2 (x1 == float32(0.1) > 0.1); B: class2; C: label1
            [0.5, -1.0],  # A: class1; B: [.75,.25]; C: x1 == -1 not < -1 -> label1
            [0.5, -1.5],  # A: class1; B: [.75,.25]; C: label3
            [np.nan, 5.0],  # A: x1 >= 0.1 -> class2; B: NaN goes to child_b -> class2; C: label1
        ],
        dtype=np.float32,
    )
    expected = np.array(
        [
            [1 + 0.75 + 1, 0.25, 0],
            [0 + 0 + 1, 2, 0],
            [1 + 0 + 1, 1, 0],
            [0 + 0 + 1, 2, 0],
            [1 + 0.75 + 1, 0.25, 0],
            [1 + 0.75 + 0, 0.25, 1],
            [0 + 0 + 1, 2, 0],
        ]
    ) / 3
    p = gf.predict_proba(forest, X, device="cpu")
    np.testing.assert_allclose(p, expected, atol=1e-7)
    assert gf.predict(forest, X, device="cpu").tolist() == [1, 2, 1, 2, 1, 1, 2]
    with h5py.File(vigra_project, "r") as fh:
        g = fh["PixelClassification/ClassifierForests"]
        np.testing.assert_allclose(p[:-1], _reference_predict(g, X[:-1]), atol=1e-7)
        # open file, parent group and the forests group itself give the same forest
        others = [
            gf.read_ilp_forests(fh),
            gf.read_ilp_forests(fh["PixelClassification"], group="ClassifierForests"),
            gf.read_ilp_forests(g),
        ]
        for other in others:
            assert np.array_equal(other.threshold, forest.threshold)
            assert np.array_equal(other.value, forest.value)


def test_vigra_thresholds_are_rounded_up():
    forest = gf.compile_forest([gf.vigra_tree(*TREE_A)], op="lt", classes=[1, 2], n_features=2)
    inner = forest.feature >= 0
    thr = forest.threshold[inner]
    assert thr[0] == np.float32(0.1) and np.float64(thr[0]) > 0.1  # ceil32(0.1)
    assert thr[1] == np.float32(2.0)


def test_vigra_errors(tmp_path, vigra_project):
    with pytest.raises(MissingInputError):
        gf.read_ilp_forests(tmp_path / "missing.ilp")
    with pytest.raises(MissingInputError, match="no random forest"):
        gf.read_ilp_forests(vigra_project, group="ObjectClassification/ClassifierForests")
    bad = tmp_path / "weighted.ilp"
    with h5py.File(bad, "w") as fh:
        g = fh.create_group("PixelClassification/ClassifierForests")
        _write_vigra_forest(g.create_group("Forest0000"), [TREE_B], [1, 2], 2, weighted=1.0)
    with pytest.raises(InputError, match="predict_weighted"):
        gf.read_ilp_forests(bad)
    hyper = tmp_path / "hyperplane.ilp"
    with h5py.File(hyper, "w") as fh:
        g = fh.create_group("PixelClassification/ClassifierForests")
        _write_vigra_forest(g.create_group("Forest0000"), [([2, 2, 1, 0, 7, 9, 0, LEAF, 2, LEAF, 5],
                                                            TREE_B[1])], [1, 2], 2)
    with pytest.raises(InputError, match="node type"):
        gf.read_ilp_forests(hyper)
    cycle = ([2, 2, 0, 0, 2, 7, 0, LEAF, 2], [1, 1.0, 1, 1, 0])
    with pytest.raises(InputError, match="twice"):
        gf.vigra_tree(*cycle)
    with pytest.raises(InputError, match="outside"):
        gf.vigra_tree([2, 2, 0, 0, 99, 7, 0, LEAF, 2], [1, 1.0, 1, 1, 0])


# --------------------------------------------------------------------------- real ilastik projects


@pytest.fixture(scope="module")
def api_projects(tmp_path_factory):
    archive = shared_path("ilastik-testdata", "tests", "test_ilastik", "data", "api_projects.zip")
    out = tmp_path_factory.mktemp("api_projects")
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            if name.endswith(".ilp"):
                zf.extract(name, out)
    return out


PROJECTS = [
    ("PixelClass.ilp", "PixelClassification/ClassifierForests"),
    ("PixelClass3D.ilp", "PixelClassification/ClassifierForests"),
    ("PixelClass3D_2D_3D_feature_mix.ilp", "PixelClassification/ClassifierForests"),
    ("PixelClass3Channel.ilp", "PixelClassification/ClassifierForests"),
    ("2464_PixelClassification_xy_input.ilp", "PixelClassification/ClassifierForests"),
    ("Autocontext_2D.ilp", "PixelClassification/ClassifierForests"),
    ("Autocontext_2D.ilp", "PixelClassification01/ClassifierForests"),
    ("Autocontext_3D.ilp", "PixelClassification/ClassifierForests"),
    ("Autocontext_3D.ilp", "PixelClassification01/ClassifierForests"),
]


def _probe_samples(g: h5py.Group, n_features: int, n: int, seed: int) -> np.ndarray:
    """Samples spread over each feature's threshold range, some exactly on thresholds."""
    rng = np.random.default_rng(seed)
    thresholds = [[] for _ in range(n_features)]
    for name in (k for k in g if k.startswith("Forest")):
        for t in (k for k in g[name] if k.startswith("Tree_")):
            top, par = g[name][t]["topology"][()], g[name][t]["parameters"][()]
            off = 2
            stack = [2]
            while stack:
                off = stack.pop()
                if top[off] != LEAF:
                    thresholds[top[off + 4]].append(par[top[off + 1] + 1])
                    stack.extend((top[off + 2], top[off + 3]))
    X = np.empty((n, n_features), dtype=np.float32)
    for f in range(n_features):
        th = np.asarray(thresholds[f] or [0.0])
        lo, hi = th.min(), th.max()
        span = max(hi - lo, 1e-3)
        X[:, f] = rng.uniform(lo - 0.2 * span, hi + 0.2 * span, n)
        pick = rng.random(n) < 0.1
        X[pick, f] = rng.choice(th, int(pick.sum())).astype(np.float32)
    return X


@pytest.mark.parametrize(("project", "group"), PROJECTS)
def test_real_ilp_forests(api_projects, project, group):
    path = api_projects / project
    forest = gf.read_ilp_forests(path, group=group)
    with h5py.File(path, "r") as fh:
        g = fh[group]
        forests = [k for k in g if k.startswith("Forest")]
        assert len(forests) > 1  # ilastik splits its 100 trees over several vigra forests
        tree_count = sum(int(g[k]["_options/tree_count_"][0]) for k in forests)
        assert forest.n_trees == tree_count == 100
        names = [s.decode() for s in g["feature_names"][()]]
        assert forest.feature_names == tuple(names)
        assert forest.n_features == len(names) == int(g[forests[0]]["_ext_param/column_count_"][0])
        assert forest.classes.tolist() == g["known_labels"][()].tolist()
        X = _probe_samples(g, forest.n_features, 400, seed=len(project))
        reference = _reference_predict(g, X)
    p = gf.predict_proba(forest, X, device="cpu")
    assert p.shape == (400, forest.n_classes) and p.dtype == np.float32
    assert np.all(p >= 0) and np.allclose(p.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(p, reference, atol=1e-6)
    assert len(np.unique(p.argmax(axis=1))) > 1  # the probes reach more than one class


def test_ilp_without_classifier(api_projects):
    for name in ("PixelClassNoClassifier.ilp", "PixelClassNoData.ilp"):
        with pytest.raises(MissingInputError):
            gf.read_ilp_forests(api_projects / name)


@pytest.mark.gpu
def test_gpu_kernel_equals_cpu_twin_on_ilp_forest(api_projects):
    forest = gf.read_ilp_forests(api_projects / "PixelClass3Channel.ilp")
    with h5py.File(api_projects / "PixelClass3Channel.ilp", "r") as fh:
        X = _probe_samples(fh["PixelClassification/ClassifierForests"], forest.n_features, 50_000, seed=0)
    gpu = gf.predict_proba(forest, X, device="gpu")
    np.testing.assert_allclose(gpu, gf.predict_proba(forest, X, device="cpu"), rtol=0, atol=1e-6)
