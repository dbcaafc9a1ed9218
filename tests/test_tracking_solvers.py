"""Flow solver against independent exact references (OR-Tools min-cost flow, the ILP)."""

import numpy as np
import pytest
from ortools.graph.python import min_cost_flow

from gputrack.tracking import (
    TrackingParameters,
    build_graph,
    compute_energies,
    constraint_violations,
    random_walk_detections,
    solve_flow,
    solve_ilp,
)

SCALE = 1e6


def _reference_min_cost_flow(graph, energies):
    """Optimal energy of the divisions-free, M = 1 model as a min-cost flow (OR-Tools, integer costs)."""
    n = graph.n_nodes
    smcf = min_cost_flow.SimpleMinCostFlow()
    u = 2 + 2 * np.arange(n)
    v = u + 1

    def arcs(tail, head, cost):
        c = np.round(np.asarray(cost) * SCALE).astype(np.int64)
        smcf.add_arcs_with_capacity_and_unit_cost(
            np.asarray(tail, np.int32), np.asarray(head, np.int32), np.ones(len(c), np.int64), c
        )

    arcs(u, v, energies.detection[:, 1] - energies.detection[:, 0])
    arcs(np.zeros(n), u, energies.appearance[:, 1] - energies.appearance[:, 0])
    arcs(v, np.ones(n), energies.disappearance[:, 1] - energies.disappearance[:, 0])
    arcs(v[graph.src], u[graph.dst], energies.link[:, 1] - energies.link[:, 0])
    smcf.add_arc_with_capacity_and_unit_cost(0, 1, n, 0)  # bypass: flow that is not worth tracking
    smcf.set_node_supply(0, n)
    smcf.set_node_supply(1, -n)
    assert smcf.solve() == smcf.OPTIMAL
    const = (energies.detection[:, 0].sum() + energies.appearance[:, 0].sum()
             + energies.disappearance[:, 0].sum() + energies.link[:, 0].sum())
    return const + smcf.optimal_cost() / SCALE


def _instance(seed, n_frames=12, n_objects=15, division_rate=0.0, with_divisions=False, **kw):
    det, _ = random_walk_detections(n_frames, n_objects, division_rate=division_rate, seed=seed, step=4.0)
    p = TrackingParameters(with_divisions=with_divisions, **kw)
    g = build_graph(det, p)
    return g, compute_energies(g, p)


@pytest.mark.parametrize("seed", range(8))
def test_flow_is_exact_min_cost_flow_without_divisions(seed):
    g, e = _instance(seed, n_frames=20, n_objects=30, appearance_cost=100 + 50 * seed, disappearance_cost=200)
    s = solve_flow(g, e)
    assert s.optimal is True
    assert not constraint_violations(s)
    ref = _reference_min_cost_flow(g, e)
    assert s.energy == pytest.approx(ref, abs=g.n_nodes * 2 / SCALE)


@pytest.mark.parametrize("seed", range(5))
def test_flow_equals_ilp_without_divisions(seed):
    g, e = _instance(seed, division_rate=0.05)
    s, ref = solve_flow(g, e), solve_ilp(g, e)
    assert ref.optimal
    assert s.energy == pytest.approx(ref.energy, rel=1e-9, abs=1e-6)


def test_flow_within_half_percent_of_ilp_with_divisions():
    gaps = []
    for seed in range(25):
        g, e = _instance(seed, division_rate=0.05, with_divisions=True)
        assert e.division_allowed.any()
        s, ref = solve_flow(g, e), solve_ilp(g, e)
        assert ref.optimal and not constraint_violations(s) and not constraint_violations(ref)
        assert s.energy >= ref.energy - 1e-6 * abs(ref.energy)  # the ILP is a lower bound
        gaps.append((s.energy - ref.energy) / abs(ref.energy))
    gaps = np.array(gaps)
    print(f"flow vs ILP with divisions: max {gaps.max():.2e}, mean {gaps.mean():.2e}, "
          f"optimal in {np.mean(gaps < 1e-9):.0%} of {gaps.size}")
    assert gaps.max() <= 0.005
    assert np.mean(gaps < 1e-9) >= 0.7


def test_flow_with_mergers_close_to_ilp():
    rng = np.random.default_rng(3)
    for seed in range(5):
        det, _ = random_walk_detections(10, 12, division_rate=0.0, seed=seed, step=4.0)
        pm = rng.uniform(0.0, 0.4, len(det))
        det["count_prob_2"] = pm
        det["count_prob_1"] = det["count_prob_1"] * (1 - pm)
        p = TrackingParameters(max_objects=2, with_divisions=False)
        g = build_graph(det, p)
        e = compute_energies(g, p)
        s, ref = solve_flow(g, e), solve_ilp(g, e)
        assert not constraint_violations(s)
        assert s.energy == pytest.approx(ref.energy, rel=0.005)


def test_ilp_timeout_returns_best_solution_and_bound():
    g, e = _instance(0, n_frames=30, n_objects=40, division_rate=0.05, with_divisions=True)
    s = solve_ilp(g, e, timeout=60.0, relative_gap=0.01)
    assert s.bound is not None and s.bound <= s.energy + 1e-6
    assert s.gap is not None and s.gap <= 0.01 + 1e-9
    assert not constraint_violations(s)


def test_ilp_timeout_is_honoured_and_falls_back_to_flow():
    g, e = _instance(1, n_frames=60, n_objects=80, division_rate=0.02, with_divisions=True)
    s = solve_ilp(g, e, timeout=0.5)
    assert s.optimal is False or s.gap <= 1e-6
    assert not constraint_violations(s)
    if s.bound is not None:
        assert s.bound <= s.energy + 1e-6
