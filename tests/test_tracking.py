"""Tracking core: detections, hypotheses graph, energies, constructed solver cases, lineages."""

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from gputrack.errors import InputError
from gputrack.tracking import (
    TrackingParameters,
    animal_parameters,
    build_graph,
    compute_energies,
    constraint_violations,
    convexify,
    detections_from_labels,
    geometric_division_probability,
    lineages,
    relabel,
    solve_flow,
    solve_ilp,
    to_ctc,
    track,
)

SOLVERS = [solve_flow, solve_ilp]


def _df(rows, **extra):
    df = pd.DataFrame(rows, columns=["t", "label", "y", "x"])
    for k, v in extra.items():
        df[k] = v
    df.attrs["shape"] = (1, 101, 101)
    return df


def test_detections_from_labels_matches_scipy_center_of_mass():
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(3):
        lab = np.zeros((40, 50), np.int32)
        for k in range(1, 6):
            y, x = rng.integers(0, 35), rng.integers(0, 45)
            lab[y : y + rng.integers(2, 6), x : x + rng.integers(2, 6)] = k
        frames.append(lab)
    det = detections_from_labels(frames, scales=(1, 0.5, 0.5))
    for t, lab in enumerate(frames):
        ids = np.unique(lab[lab > 0])
        com = np.array(ndimage.center_of_mass(np.ones_like(lab), lab, ids))
        sub = det[det.t == t]
        assert sub.label.tolist() == ids.tolist()
        np.testing.assert_allclose(sub[["y", "x"]].to_numpy(), com)
        np.testing.assert_array_equal(sub["size"], ndimage.sum_labels(np.ones_like(lab), lab, ids))
        assert (sub.z == 0).all()
    assert det.attrs["scales"] == (1.0, 0.5, 0.5)
    with pytest.raises(InputError, match="label frame 1"):
        detections_from_labels([np.zeros((4, 4), int), np.zeros((5, 4), int)])


def test_graph_is_union_of_forward_and_backward_knn():
    rng = np.random.default_rng(1)
    rows = [(t, i + 1, *rng.uniform(0, 100, 2)) for t in range(3) for i in range(rng.integers(5, 12))]
    df = _df(rows)
    k, maxd = 2, 40.0
    g = build_graph(df, TrackingParameters(k_neighbors=k, max_distance=maxd, with_divisions=False))
    pos = df.sort_values(["t", "label"])[["y", "x"]].to_numpy()
    t = df.sort_values(["t", "label"]).t.to_numpy()
    expected = set()
    for f in range(2):
        a, b = np.flatnonzero(t == f), np.flatnonzero(t == f + 1)
        d = np.linalg.norm(pos[a][:, None] - pos[b][None], axis=2)
        for r, i in enumerate(a):
            for c in np.argsort(d[r])[:k]:
                if d[r, c] < maxd:
                    expected.add((i, b[c]))
        for c, j in enumerate(b):
            for r in np.argsort(d[:, c])[:k]:
                if d[r, c] < maxd:
                    expected.add((a[r], j))
    assert set(zip(g.src.tolist(), g.dst.tolist())) == expected
    np.testing.assert_allclose(g.distance, np.linalg.norm(pos[g.src] - pos[g.dst], axis=1))


def test_graph_scales_and_ilastik_compat():
    df = _df([(0, 1, 0.0, 0.0), (1, 1, 0.0, 10.0)])
    df.attrs["scales"] = (1.0, 1.0, 3.0)
    p = TrackingParameters(max_distance=20)
    assert build_graph(df, p).n_links == 0  # physical distance 30 >= 20
    compat = build_graph(df, p.replace(ilastik_compat=True))
    assert compat.n_links == 1 and compat.distance[0] == pytest.approx(10.0)
    # ilastik quirk: target frames with <= k objects are linked regardless of the distance
    far = _df([(0, 1, 0.0, 0.0), (1, 1, 0.0, 500.0)])
    assert build_graph(far, p).n_links == 0
    assert build_graph(far, p.replace(ilastik_compat=True)).n_links == 1


def test_convexify_examples():
    out = convexify(np.array([[0.0, 5.0, 5.0], [23.0, 0.0, 0.0]]), eps=1e-6)
    np.testing.assert_allclose(out[0], [0, 5, 10 + 1e-6])  # spec example [0, m, m] -> [0, m, 2m + eps]
    np.testing.assert_allclose(out[1], [23, 0, 1e-6])
    # increments -1, 3, 2: walking right from the minimum, 2 < 3 is raised to 3 + eps
    np.testing.assert_allclose(convexify(np.array([[3.0, 2.0, 5.0, 7.0]]))[0], [3, 2, 5, 8 + 1e-6])


def test_energies_equal_spec_formulas_on_a_hand_instance():
    # frame 0: a (inside), b (5 px from the border); frame 1: c; frame 2: d; M = 2
    df = _df(
        [(0, 1, 50, 50), (0, 2, 5, 60), (1, 1, 53, 54), (2, 1, 53, 56)],
        count_prob_0=[0.1, 0.3, 0.2, 1e-9],
        count_prob_1=[0.8, 0.6, 0.5, 1.0],
        count_prob_2=[0.1, 0.1, 0.3, 0.0],
        div_prob=[0.5, 0.05, 0.2, 0.9],
    )
    p = TrackingParameters(max_objects=2)
    g = build_graph(df, p)
    e = compute_energies(g, p)
    eps = 1e-6
    # detection: -10 log p, probabilities clamped to [1e-7, 0.99999999], convex already except d
    pc = np.clip(df[["count_prob_0", "count_prob_1", "count_prob_2"]].to_numpy(), 1e-7, 0.99999999)
    np.testing.assert_allclose(e.detection[:3], -10 * np.log(pc[:3]))
    # transition a -> c: d = 5, p = exp(-1): 10 * [-log(1 - p), 1, 1 + eps] after convexification
    ia = int(np.flatnonzero((g.src == 0) & (g.dst == 2))[0])
    pt = np.exp(-5.0 / 5.0)
    a0 = -10 * np.log(1 - pt)  # [a0, 10, 10] has increments 10 - a0, 0 -> the second becomes 10 - a0 + eps
    np.testing.assert_allclose(e.link[ia], [a0, 10.0, 10.0 + (10.0 - a0) + eps], rtol=1e-9)
    # appearance: first frame free; c, d inside -> 500 * [0, 1, 2 + eps]
    np.testing.assert_allclose(e.appearance[0], [0, eps, 3 * eps])
    np.testing.assert_allclose(e.appearance[2], [0, 500, 1000 + eps])
    # disappearance: b is 5 px from the y = 0 face, border width 10 -> multiplier 0.5
    np.testing.assert_allclose(e.disappearance[1], [0, 250, 500 + eps])
    np.testing.assert_allclose(e.disappearance[3], [0, eps, 3 * eps])  # last frame free
    # division: allowed where P > 0.1 and >= 2 successors
    assert not e.division_allowed.any()  # P > 0.1 but nobody has two successors
    np.testing.assert_allclose(e.division[0], [-10 * np.log(0.5), -10 * np.log(0.5)])


@pytest.mark.parametrize("solve", SOLVERS)
def test_two_frames_one_object_each_are_linked(solve):
    df = _df([(0, 1, 50, 50), (1, 1, 52, 51)])
    g = build_graph(df)
    s = solve(g, compute_energies(g))
    assert s.link_value.tolist() == [1] and s.count.tolist() == [1, 1]
    assert not constraint_violations(s)


@pytest.mark.parametrize("solve", SOLVERS)
def test_border_appearance_is_cheaper_than_inside(solve):
    # a short track appearing mid-movie: kept near the border (cheap), dropped inside (costly)
    rows = [(0, 1, 50, 50), (1, 1, 50, 50), (2, 1, 50, 50), (3, 1, 50, 50)]
    inside = _df(rows + [(1, 2, 20, 20), (2, 2, 21, 20)], count_prob_0=0.2, count_prob_1=0.8)
    border = _df(rows + [(1, 2, 0, 20), (2, 2, 0, 21)], count_prob_0=0.2, count_prob_1=0.8)
    for df, expected in ((inside, 0), (border, 1)):
        g = build_graph(df)
        s = solve(g, compute_energies(g))
        short = np.flatnonzero(g.detections.label.to_numpy() == 2)
        assert s.count[short].tolist() == [expected, expected]


@pytest.mark.parametrize("solve", SOLVERS)
def test_division_recognised_when_division_probability_is_high(solve):
    rows = [(0, 1, 50, 50), (1, 1, 50, 50), (2, 1, 46, 50), (2, 2, 54, 50), (3, 1, 45, 50), (3, 2, 55, 50)]
    hi = _df(rows, div_prob=[0.0, 0.9, 0.0, 0.0, 0.0, 0.0])
    lo = _df(rows, div_prob=[0.0, 0.01, 0.0, 0.0, 0.0, 0.0])
    g = build_graph(hi)
    s = solve(g, compute_energies(g))
    assert s.division.tolist() == [False, True, False, False, False, False]
    assert s.count.tolist() == [1] * 6 and not constraint_violations(s)
    lin = lineages(s)
    assert lin.track_id.nunique() == 3 and (lin.parent_track.iloc[2:4] == lin.track_id.iloc[1]).all()
    g = build_graph(lo)
    s = solve(g, compute_energies(g))
    assert not s.division.any()
    assert s.link_value[g.src == 1].sum() == 1  # one daughter appears or is dropped instead


@pytest.mark.parametrize("solve", SOLVERS)
def test_merger_two_one_two(solve):
    rows = [(0, 1, 40, 50), (0, 2, 60, 50), (1, 1, 50, 50), (2, 1, 40, 50), (2, 2, 60, 50)]
    pc = {"count_prob_0": [0.05, 0.05, 0.05, 0.05, 0.05], "count_prob_1": [0.9, 0.9, 0.15, 0.9, 0.9],
          "count_prob_2": [0.05, 0.05, 0.8, 0.05, 0.05]}
    p = TrackingParameters(max_objects=2, with_divisions=False)
    g = build_graph(_df(rows, **pc), p)
    s = solve(g, compute_energies(g, p))
    assert s.count.tolist() == [1, 1, 2, 1, 1]
    assert s.link_value.sum() == 4 and s.link_value.max() == 1
    assert not constraint_violations(s)


def test_animal_tracking_has_no_divisions():
    rows = [(0, 1, 50, 50), (1, 1, 46, 50), (1, 2, 54, 50)]
    g = build_graph(_df(rows, div_prob=[0.99, 0, 0]), animal_parameters())
    e = compute_energies(g, animal_parameters())
    assert not e.division_allowed.any()
    assert not solve_flow(g, e).division.any()


def test_geometric_division_prior_and_ctc_conversion():
    lab0 = np.zeros((30, 30), np.uint16)
    lab0[10:20, 10:20] = 7
    lab1 = np.zeros_like(lab0)
    lab1[6:14, 12:18] = 3
    lab1[16:24, 12:18] = 4
    det = detections_from_labels([lab0, lab1])
    p = TrackingParameters(appearance_cost=100, disappearance_cost=100)
    pdiv = geometric_division_probability(det, params=p)
    assert pdiv[0] > 0.5 and (pdiv[1:] == 0).all()
    det["div_prob"] = pdiv
    s = track(det, p)
    masks, tracks = to_ctc(s, [lab0, lab1])
    assert tracks.values.tolist() == [[1, 0, 0, 0], [2, 1, 1, 1], [3, 1, 1, 1]]
    assert set(np.unique(masks[1])) == {0, 2, 3} and (masks[0][lab0 == 7] == 1).all()
    lineage_image = relabel(s, [lab0, lab1], by="lineage", first_id=2)
    assert set(np.unique(lineage_image[1])) == {0, 2}


def test_parameter_errors():
    with pytest.raises(InputError):
        TrackingParameters(max_objects=0)
    df = _df([(0, 1, 1, 1)], count_prob_0=0.5, count_prob_1=0.5)
    with pytest.raises(InputError, match="count_prob_2"):
        compute_energies(build_graph(df), TrackingParameters(max_objects=2))
    with pytest.raises(InputError, match="missing column"):
        build_graph(pd.DataFrame({"t": [0], "label": [1]}))
