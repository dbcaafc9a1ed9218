"""The per-frame-pair assignment start of the flow solver, against the ILP and OR-Tools."""

import numpy as np
import pytest

from gputrack.tracking import (
    TrackingParameters,
    build_graph,
    compute_energies,
    constraint_violations,
    random_walk_detections,
    solve_flow,
    solve_ilp,
)
from gputrack.tracking.solution import Solution, total_energy
from gputrack.tracking.warm_start import pair_assignments
from tests.test_tracking_solvers import SCALE, _reference_min_cost_flow


def _as_solution(g, e, app, dis, link, second):
    n = g.n_nodes
    count = np.ones(n, np.int64)
    division = np.zeros(n, bool)
    division[g.src[second]] = True
    link_value = (link | second).astype(np.int64)
    args = (count, app.astype(np.int64), dis.astype(np.int64), link_value, division)
    return Solution(g, e, *args, total_energy(e, *args), solver="start")


def _start(g, e):
    allowed = e.division_allowed
    div = np.where(allowed, e.division[:, 1] - e.division[:, 0], np.nan) if allowed.any() else None
    return pair_assignments(g.t, g.src, g.dst, e.link[:, 1] - e.link[:, 0],
                            e.appearance[:, 1] - e.appearance[:, 0],
                            e.disappearance[:, 1] - e.disappearance[:, 0], div)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("divisions", [False, True])
def test_start_is_the_optimum_with_every_detection_used(seed, divisions):
    det, _ = random_walk_detections(10, 14, division_rate=0.1 if divisions else 0.0, step=4.0, spacing=8.0,
                                    seed=seed)
    p = TrackingParameters(max_distance=15.0, with_divisions=divisions, appearance_cost=60.0 + 40 * seed,
                           disappearance_cost=80.0)
    g = build_graph(det, p)
    e = compute_energies(g, p)
    # a division worth more than a disappearance costs (near the border) makes "divide into one
    # child and end the parent's own track" the cheapest assignment, which the start then repairs
    # into a plain link (the flow solver's rounds find the rest); without such parents the start
    # is exact
    ddis = e.disappearance[:, 1] - e.disappearance[:, 0]
    e.division[:, 1] = np.maximum(e.division[:, 1], e.division[:, 0] - ddis)
    s = _as_solution(g, e, *_start(g, e))
    assert constraint_violations(s) == []
    assert divisions == bool(s.division.any())
    # the ILP with "not used" made prohibitive is the optimum of the same restricted model
    e.detection[:, 0] += 1e5
    ref = solve_ilp(g, e, timeout=60.0)
    assert ref.optimal and ref.count.min() == 1
    e.detection[:, 0] -= 1e5
    assert s.energy == pytest.approx(ref.energy, rel=1e-9)


def test_start_with_divisions_cheaper_than_disappearing_is_feasible_and_flow_finishes_it():
    det, _ = random_walk_detections(10, 14, division_rate=0.1, step=4.0, spacing=8.0, seed=1)
    p = TrackingParameters(max_distance=15.0, appearance_cost=100.0, disappearance_cost=80.0)
    g = build_graph(det, p)
    e = compute_energies(g, p)
    ddis = e.disappearance[:, 1] - e.disappearance[:, 0]
    assert (e.division_allowed & (e.division[:, 1] - e.division[:, 0] + ddis < 0)).any()
    s = _as_solution(g, e, *_start(g, e))
    assert constraint_violations(s) == []
    ref = solve_ilp(g, e, timeout=60.0)
    flow = solve_flow(g, e)
    assert ref.optimal and ref.energy <= flow.energy <= s.energy
    assert flow.energy == pytest.approx(ref.energy, rel=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_certified_start_is_the_ilp_optimum(seed):
    # a start certified by its zero-gap dual bound must be the optimum of the whole model
    det, _ = random_walk_detections(10, 25, division_rate=0.08, step=3.0, seed=seed)
    p = TrackingParameters(max_distance=15.0, appearance_cost=100.0 + 50 * seed, disappearance_cost=100.0)
    g = build_graph(det, p)
    e = compute_energies(g, p)
    s = solve_flow(g, e)
    ref = solve_ilp(g, e, timeout=60.0)
    assert ref.optimal and constraint_violations(s) == []
    if s.optimal:
        assert s.gap <= 1e-12
        assert s.energy == pytest.approx(ref.energy, rel=1e-9)
    else:
        assert s.energy >= ref.energy - 1e-9 * abs(ref.energy)


def test_some_starts_with_divisions_are_certified():
    certified = 0
    for seed in range(8):
        det, _ = random_walk_detections(10, 25, division_rate=0.08, step=3.0, seed=seed)
        p = TrackingParameters(max_distance=15.0)
        g = build_graph(det, p)
        e = compute_energies(g, p)
        s = solve_flow(g, e)
        certified += bool(s.optimal and s.division.any())
    assert certified >= 4


def test_sparse_assignment_equals_scipy_on_random_problems():
    # the compiled sparse LAP of the start against scipy's dense Hungarian, ties included
    from scipy.optimize import linear_sum_assignment

    from gputrack.tracking.warm_start import _lap

    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 30))
        c = rng.uniform(-5, 5, (n, n))
        if trial % 2:
            c = np.round(c)  # many equal costs
        mask = rng.random((n, n)) < rng.uniform(0.1, 1.0)
        mask[np.arange(n), rng.permutation(n)] = True  # a perfect matching exists
        rows, cols = np.nonzero(mask)
        ptr = np.searchsorted(rows, np.arange(n + 1))
        row_edge = _lap(ptr, cols.astype(np.int64), c[rows, cols], n)
        assert sorted(cols[row_edge].tolist()) == list(range(n))
        dense = np.where(mask, c, 1e9)
        r, k = linear_sum_assignment(dense)
        assert c[rows, cols][row_edge].sum() == pytest.approx(dense[r, k].sum(), abs=1e-9)


def test_start_does_not_depend_on_the_order_of_the_links():
    det, _ = random_walk_detections(8, 40, division_rate=0.05, step=3.0, seed=2)
    p = TrackingParameters(max_distance=15.0)
    g = build_graph(det, p)
    e = compute_energies(g, p)
    args = _start(g, e)
    perm = np.random.default_rng(1).permutation(g.n_links)
    allowed = e.division_allowed
    div = np.where(allowed, e.division[:, 1] - e.division[:, 0], np.nan)
    shuffled = pair_assignments(g.t, g.src[perm], g.dst[perm], (e.link[:, 1] - e.link[:, 0])[perm],
                                e.appearance[:, 1] - e.appearance[:, 0],
                                e.disappearance[:, 1] - e.disappearance[:, 0], div)
    back = [shuffled[0], shuffled[1], np.empty_like(shuffled[2]), np.empty_like(shuffled[3])]
    back[2][perm], back[3][perm] = shuffled[2], shuffled[3]
    assert _as_solution(g, e, *back).energy == pytest.approx(_as_solution(g, e, *args).energy, rel=1e-12)


def test_a_division_node_whose_parent_disappears_gives_its_child_to_the_parent():
    # one parent, two children; a division is worth more than the cost of ending the track, so the
    # unconstrained assignment would let the division node take a child and the parent disappear
    t = np.array([0, 1, 1])
    src, dst = np.array([0, 0]), np.array([1, 2])
    app, dis, link, second = pair_assignments(t, src, dst, np.array([5.0, 50.0]), np.array([0.0, 100.0, 0.0]),
                                              np.array([1.0, 0.0, 0.0]), np.array([-30.0, np.nan, np.nan]))
    assert not dis[0] and link[0] and not second.any()
    assert app.tolist() == [True, False, True]


def test_flow_from_a_start_with_a_negative_cycle_falls_back_to_the_exact_start(monkeypatch):
    import gputrack.tracking.flow as flow

    det, _ = random_walk_detections(15, 25, seed=3, step=3.0)
    p = TrackingParameters(max_distance=15.0, with_divisions=False)
    g = build_graph(det, p)
    e = compute_energies(g, p)
    good = _start(g, e)
    # swap the targets of two used links of one frame pair that can be crossed: a labelling with an
    # improving alternating cycle inside the pair (no potentials exist for it)
    link = good[2].copy()
    used = np.flatnonzero(link)
    pairs = {(int(g.src[k]), int(g.dst[k])): k for k in range(g.n_links)}
    for a in used:
        for b in used:
            if a < b and g.t[g.src[a]] == g.t[g.src[b]]:
                ka, kb = pairs.get((int(g.src[a]), int(g.dst[b]))), pairs.get((int(g.src[b]), int(g.dst[a])))
                if ka is not None and kb is not None:
                    break
        else:
            continue
        break
    link[[a, b]] = False
    link[[ka, kb]] = True
    bad = _as_solution(g, e, good[0], good[1], link, good[3])
    assert constraint_violations(bad) == [] and bad.energy > _as_solution(g, e, *good).energy
    monkeypatch.setattr(flow, "pair_assignments", lambda *a, **k: (good[0], good[1], link, good[3]))
    exact_start = flow._min_cost_flow_start
    calls = []
    monkeypatch.setattr(flow, "_min_cost_flow_start", lambda *a: calls.append(1) or exact_start(*a))
    s = flow.solve_flow(g, e)
    assert calls == [1]
    assert s.optimal and constraint_violations(s) == []
    assert s.energy == pytest.approx(_reference_min_cost_flow(g, e), abs=g.n_nodes * 2 / SCALE)


def test_start_repaired_by_the_relaxed_networks_own_cycles(monkeypatch):
    # starts that the relaxed check finds off at a few places are repaired by flipping the cycles it
    # found, without a search round; the repaired labelling is certified and equals the ILP optimum
    from gputrack.tracking import flow as flow_module

    calls = {"flip": 0, "ssp": 0}
    flip, ssp = flow_module._augment_relaxed, flow_module._ssp

    def counted_flip(*a):
        k = flip(*a)
        calls["flip"] += k
        return k

    def counted_ssp(*a):
        calls["ssp"] += 1
        return ssp(*a)

    monkeypatch.setattr(flow_module, "_augment_relaxed", counted_flip)
    monkeypatch.setattr(flow_module, "_ssp", counted_ssp)
    repaired = 0
    for seed in range(6):
        det, _ = random_walk_detections(12, 30, division_rate=0.08, step=4.0, spacing=8.0, seed=seed)
        p = TrackingParameters(max_distance=15.0)
        g = build_graph(det, p)
        e = compute_energies(g, p)
        before = dict(calls)
        s = solve_flow(g, e)
        assert constraint_violations(s) == []
        if calls["flip"] > before["flip"] and calls["ssp"] == before["ssp"]:
            repaired += 1
            ref = solve_ilp(g, e, timeout=60.0)
            assert ref.optimal and s.optimal and s.gap <= 1e-12
            assert s.energy == pytest.approx(ref.energy, rel=1e-9)
    assert repaired >= 2
