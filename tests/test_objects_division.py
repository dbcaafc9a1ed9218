"""Division features, priors and the division classifier on Fluo-N2DH-SIM+ ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from gputrack import objects
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def sim_tables():
    import tifffile

    root = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+")
    raws = sorted((root / "01").glob("t*.tif"))
    masks = sorted((root / "01_GT" / "TRA").glob("man_track*.tif"))
    assert len(raws) == len(masks) == 65
    raw = np.stack([tifffile.imread(p) for p in raws]).astype(np.float32)
    lab = np.stack([tifffile.imread(p) for p in masks])
    tab = objects.features(
        raw,
        lab,
        ["Count", "Mean", "Variance", "RegionCenter", "Coord<Minimum>", "Coord<Maximum>"],
        axes="tyx",
        device="cpu",
    )
    div = objects.sequence_division_features(tab)
    tracks = np.loadtxt(root / "01_GT" / "TRA" / "man_track.txt", dtype=np.int64).reshape(-1, 4)
    parents = set(tracks[tracks[:, 3] > 0, 3].tolist())
    end = {int(L): int(E) for L, _B, E, _P in tracks}
    mothers = {(end[p], p) for p in parents}
    y = np.array([(int(t), int(lb)) in mothers for t, lb in zip(tab["t"], tab["label"])])
    assert y.sum() == len(mothers) >= 20
    return tab, div, y, lab


def test_division_features_definitions(sim_tables):
    tab, div, y, lab = sim_tables
    assert list(div[["t", "label"]].itertuples(index=False)) == list(
        tab[["t", "label"]].itertuples(index=False)
    )
    last = div["t"] == div["t"].max()
    assert (div.loc[last, "SquaredDistances_0"] == 9999).all()
    d = div[["SquaredDistances_0", "SquaredDistances_1", "SquaredDistances_2"]].to_numpy()
    assert (np.diff(d, axis=1) >= 0).all()
    assert ((div["ChildrenRatio_Count"] >= 0) & (div["ChildrenRatio_Count"] <= 1)).all()
    # independent check of one dividing mother: nearest next-frame centres by brute force
    i = int(np.nonzero(y)[0][0])
    t, label = int(tab["t"].iloc[i]), int(tab["label"].iloc[i])
    nxt = tab[tab["t"] == t + 1]
    c = tab[["RegionCenter_0", "RegionCenter_1"]].to_numpy()[i]
    dist = np.sort(np.linalg.norm(nxt[["RegionCenter_0", "RegionCenter_1"]].to_numpy() - c, axis=1))
    np.testing.assert_allclose(div["SquaredDistances_0"].iloc[i], dist[0])
    np.testing.assert_allclose(div["SquaredDistances_1"].iloc[i], dist[1])
    # bounding-box candidates are a superset of ilastik's label-image candidates:
    # the k-th distance can only be smaller or equal
    exact = objects.division_features(tab[tab["t"] == t], nxt, lab[t + 1])
    approx = div[div["t"] == t].reset_index(drop=True)
    cols = ["SquaredDistances_0", "SquaredDistances_1", "SquaredDistances_2"]
    assert (approx[cols].to_numpy() <= exact[cols].to_numpy() + 1e-9).all()
    assert (exact[cols] < 9999).to_numpy().sum() > 0
    assert label > 0


def test_division_prior_auc(sim_tables):
    _tab, div, y, _lab = sim_tables
    auc = roc_auc_score(y, objects.division_prior(div))
    print(f"division prior ROC AUC = {auc:.4f}")
    assert auc >= 0.9


def test_division_classifier_train_first_half_test_second(sim_tables):
    tab, div, y, _lab = sim_tables
    full = tab.merge(div, on=["t", "label"])
    lab_tab = full[["t", "label"]].assign(**{"class": y.astype(int)})
    train = full["t"] <= 31
    clf = objects.train(full[train], lab_tab[train], objects.DIVISION_FEATURES)
    pred = objects.predict(clf, full[~train], device="cpu")
    auc = roc_auc_score(y[~train.to_numpy()], pred["p_1"])
    print(f"division classifier ROC AUC (train t<=31, test t>=32) = {auc:.4f}")
    assert auc >= 0.9
    assert ((pred["uncertainty"] >= 0) & (pred["uncertainty"] <= 1)).all()
    assert set(pred["class"].unique()) <= {0, 1}


def test_count_prior_on_sizes(sim_tables):
    tab, *_ = sim_tables
    p = objects.count_prior(tab)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    typical = tab["Count"].median()
    assert p["p1"].to_numpy()[np.argmin(np.abs(tab["Count"] - typical))] > 0.9
    tiny = pd.DataFrame({"Count": [typical * 0.05, typical * 2.0]})
    both = objects.count_prior(pd.concat([tab[["Count"]], tiny], ignore_index=True)).tail(2)
    assert both["p0"].iloc[0] > 0.9 and both["p2"].iloc[1] > 0.9


def test_scaled_distances_and_ilastik_compat_quirk():
    t0 = pd.DataFrame(
        {
            "t": [0],
            "label": [1],
            "Count": [40.0],
            "Mean": [1.0],
            "RegionCenter_0": [20.0],
            "RegionCenter_1": [20.0],
        }
    )
    t1 = pd.DataFrame(
        {
            "t": [1, 1],
            "label": [1, 2],
            "Count": [20.0, 10.0],
            "Mean": [2.0, 1.0],
            "RegionCenter_0": [16.0, 20.0],
            "RegionCenter_1": [20.0, 26.0],
            "Coord<Minimum>_0": [14.0, 18.0],
            "Coord<Minimum>_1": [18.0, 24.0],
            "Coord<Maximum>_0": [18.0, 22.0],
            "Coord<Maximum>_1": [22.0, 28.0],
        }
    )
    fixed = objects.division_features(t0, t1, scales=(2.0, 0.5))  # (y, x)
    # physical: child 1 is (-4 * 0.5, 0) away, child 2 is (0, 6 * 2) away
    np.testing.assert_allclose(fixed[["SquaredDistances_0", "SquaredDistances_1"]].values, [[2.0, 12.0]])
    np.testing.assert_allclose(fixed["ParentChildrenAngle_RegionCenter"], 90.0)
    np.testing.assert_allclose(fixed["ParentChildrenRatio_Count"], 40.0 / 30.0)
    np.testing.assert_allclose(fixed["ChildrenRatio_Count"], 0.5)
    np.testing.assert_allclose(fixed["ChildrenRatio_Mean"], 0.5)
    quirk = objects.division_features(t0, t1, scales=(2.0, 0.5), ilastik_compat=True)
    # ilastik: parent centre scaled (10, 40), candidate centres not
    want = np.sort([np.hypot(16 - 10, 20 - 40), np.hypot(20 - 10, 26 - 40)])
    np.testing.assert_allclose(quirk[["SquaredDistances_0", "SquaredDistances_1"]].values[0], want)
