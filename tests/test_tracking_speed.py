"""Tracking at scale: fast paths (sort-based dedup, bounded kNN, incremental relabelling) stay exact."""

import time

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from gputrack.tracking import (
    TrackingParameters,
    build_graph,
    compute_energies,
    constraint_violations,
    random_walk_detections,
    solve_flow,
    solve_ilp,
)
from gputrack.tracking.graph import _unique_sorted
from tests.test_tracking_solvers import SCALE, _reference_min_cost_flow


def test_unique_sorted_matches_numpy():
    rng = np.random.default_rng(0)
    for size in (0, 1, 7, 5000):
        k = rng.integers(-50, 3000, size)
        np.testing.assert_array_equal(_unique_sorted(k), np.unique(k))


def _brute_force_links(pos, t, k, max_distance):
    """Union of forward and backward k-nearest neighbours closer than max_distance (dense distances)."""
    links = set()
    for f in np.unique(t)[:-1]:
        a, b = np.flatnonzero(t == f), np.flatnonzero(t == f + 1)
        d = cdist(pos[a], pos[b])
        for rows, cols, dd in ((a, b, d), (b, a, d.T)):
            kk = min(k, cols.size)
            nearest = np.argsort(dd, axis=1, kind="stable")[:, :kk]
            for r in range(rows.size):
                for c in nearest[r]:
                    if dd[r, c] < max_distance:
                        pair = (rows[r], cols[c]) if rows is a else (cols[c], rows[r])
                        links.add((int(pair[0]), int(pair[1])))
    return links


def test_graph_equals_brute_force_knn_on_dense_frames():
    det, _ = random_walk_detections(4, 600, division_rate=0.02, step=6.0, spacing=10.0, seed=3)
    p = TrackingParameters(max_distance=12.0, k_neighbors=3)
    g = build_graph(det, p)
    ref = _brute_force_links(g.positions, g.t, 3, 12.0)
    got = set(zip(g.src.tolist(), g.dst.tolist()))
    assert got == ref
    assert np.all(np.diff(g.src * g.n_nodes + g.dst) > 0)  # sorted by (src, dst), no duplicates
    np.testing.assert_allclose(g.distance, np.linalg.norm(g.positions[g.src] - g.positions[g.dst], axis=1))


@pytest.mark.parametrize("seed", range(3))
def test_flow_exact_on_a_larger_instance_without_divisions(seed):
    det, _ = random_walk_detections(40, 250, division_rate=0.01, step=2.0, seed=seed)
    p = TrackingParameters(max_distance=15.0, with_divisions=False)
    g = build_graph(det, p)
    e = compute_energies(g, p)
    s = solve_flow(g, e)
    assert s.optimal is True and not constraint_violations(s)
    assert s.energy == pytest.approx(_reference_min_cost_flow(g, e), abs=g.n_nodes * 2 / SCALE)


def test_division_rounds_match_ilp_on_a_medium_instance():
    # several division rounds (conflicting candidates are deferred, later rounds relabel incrementally)
    det, _ = random_walk_detections(15, 40, division_rate=0.05, step=3.0, seed=11)
    p = TrackingParameters(max_distance=15.0)
    g = build_graph(det, p)
    e = compute_energies(g, p)
    assert e.division_allowed.sum() > 20
    s, ref = solve_flow(g, e), solve_ilp(g, e, timeout=60.0)
    assert ref.optimal and not constraint_violations(s)
    assert ref.energy - 1e-6 * abs(ref.energy) <= s.energy <= ref.energy + 0.002 * abs(ref.energy)
    assert s.division.sum() >= 0.95 * ref.division.sum()


@pytest.mark.slow
def test_hundred_thousand_detections_cpu_time():
    det, truth = random_walk_detections(100, 1000, division_rate=0.01, step=2.0, seed=0)
    p = TrackingParameters(max_distance=15.0)
    solve_flow(*(lambda g: (g, compute_energies(g)))(build_graph(det.iloc[:50])))  # compile
    c0 = time.process_time()
    g = build_graph(det, p)
    s = solve_flow(g, compute_energies(g, p))
    cpu = time.process_time() - c0
    assert cpu < 5.0, f"{len(det)} detections took {cpu:.1f} s of CPU"
    truth_links = set(zip(truth["src"].tolist(), truth["dst"].tolist()))
    active = s.link_value > 0
    found = set(zip(g.src[active].tolist(), g.dst[active].tolist()))
    assert len(found & truth_links) / len(truth_links) > 0.95


def test_residual_adjacency_equals_stable_argsort_csr():
    from gputrack.tracking.flow import _residual_adjacency

    rng = np.random.default_rng(1)
    n_nodes, n_arcs = 60, 400
    tail, head = rng.integers(0, n_nodes, n_arcs), rng.integers(0, n_nodes, n_arcs)
    cost = rng.normal(size=n_arcs)
    ptr, slot, to, c = _residual_adjacency(tail, head, cost, n_nodes)
    s_from, s_to = np.concatenate([tail, head]), np.concatenate([head, tail])
    s_id = np.concatenate([2 * np.arange(n_arcs), 2 * np.arange(n_arcs) + 1])
    s_cost = np.concatenate([cost, -cost])
    keep = (s_from > 1) & (s_to > 1)
    order = np.argsort(s_from[keep], kind="stable")
    np.testing.assert_array_equal(slot, s_id[keep][order])
    np.testing.assert_array_equal(to, s_to[keep][order])
    np.testing.assert_array_equal(c, s_cost[keep][order])
    np.testing.assert_array_equal(ptr, np.r_[0, np.cumsum(np.bincount(s_from[keep], minlength=n_nodes))])
