"""Threshold method "graphcut" (ilastik's method 2): exact minimiser, references, CPU == GPU."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import scipy.ndimage as ndi

from gputrack import segment
from gputrack.segment.graphcut import cut, rescale


def potts_energy(x, p, beta):
    x = x.astype(np.float64)
    p = p.astype(np.float64)
    e = (x * (1 - p) + (1 - x) * p).sum()
    for axis in range(x.ndim):
        e += beta * np.count_nonzero(np.diff(x, axis=axis))
    return e


def brute_force(p, beta):
    """Every labelling of a tiny image; the unique minimiser (asserted unique)."""
    energies = []
    for bits in itertools.product((0, 1), repeat=p.size):
        x = np.array(bits).reshape(p.shape)
        energies.append((potts_energy(x, p, beta), bits))
    energies.sort()
    assert energies[1][0] - energies[0][0] > 1e-4  # generic input: one minimiser
    return np.array(energies[0][1], bool).reshape(p.shape)


def networkx_cut(p, beta):
    """The same energy as an s-t min cut in networkx (float capacities, preflow-push)."""
    g = nx.DiGraph()
    for idx in np.ndindex(p.shape):
        d = 2.0 * float(p[idx]) - 1.0
        g.add_edge("s", idx, capacity=max(d, 0.0))
        g.add_edge(idx, "t", capacity=max(-d, 0.0))
        for axis in range(p.ndim):
            j = list(idx)
            j[axis] += 1
            if j[axis] < p.shape[axis]:
                g.add_edge(idx, tuple(j), capacity=beta)
                g.add_edge(tuple(j), idx, capacity=beta)
    _, (side, _) = nx.minimum_cut(g, "s", "t")
    x = np.zeros(p.shape, bool)
    for node in side - {"s"}:
        x[node] = True
    return x


@pytest.mark.parametrize("shape", [(3, 4), (2, 2, 3)])
def test_cut_equals_brute_force(shape):
    rng = np.random.default_rng(3)
    for _ in range(10):
        p = rng.random(shape).astype(np.float32)
        beta = float(rng.uniform(0.05, 0.4))
        np.testing.assert_array_equal(cut(p, beta), brute_force(p, beta))


def test_cut_equals_networkx_min_cut():
    rng = np.random.default_rng(5)
    p = ndi.gaussian_filter(rng.random((40, 36)), 1.5)
    p = rescale(((p - p.min()) / np.ptp(p)).astype(np.float32), 0.5)
    p = np.clip(p + rng.normal(0, 0.15, p.shape), 0, 1.5).astype(np.float32)
    ours = cut(p, 0.2)
    ref = networkx_cut(p, 0.2)
    assert abs(potts_energy(ours, p, 0.2) - potts_energy(ref, p, 0.2)) < 1e-3
    np.testing.assert_array_equal(ours, ref)
    assert ours.sum() != (p >= 0.5).sum()  # the pairwise term changed something


def test_rescale_is_ilastiks():
    v = np.array([0.0, 0.1, 0.3, 0.3001, 0.65, 1.0], np.float32)
    ft = 0.3
    ref = v.copy()
    below = v < np.float32(ft)
    ref[below] *= 0.5 / ft
    ref[~below] = 0.5 + (ref[~below] - np.float32(ft)) / np.float32(1 - ft)
    np.testing.assert_array_equal(rescale(v, ft), ref)
    assert rescale(v, ft)[-1] == np.float32(1.5)


def test_threshold_graphcut_fills_gaps_and_drops_specks():
    yy, xx = np.mgrid[:40, :60]
    v = (np.hypot(yy - 20, xx - 20) < 10).astype(np.float32) * 0.9
    v[20, 15:25] = 0.45  # a thin dip inside the object
    v[5, 50] = 0.6  # a lone pixel above the threshold
    kw = dict(threshold=0.5, sigma=0, min_size=1, device="cpu")
    simple = segment.threshold(v, method="simple", **kw)
    gc = segment.threshold(v, method="graphcut", beta=0.2, **kw)
    assert simple.max() == 2 and gc.max() == 1
    assert (gc[20, 15:25] == 1).all() and gc[5, 50] == 0
    ref = segment.label(networkx_cut(rescale(v, 0.5), 0.2), device="cpu")
    np.testing.assert_array_equal(gc, ref)


def test_graphcut_bad_beta():
    from gputrack.errors import InputError

    with pytest.raises(InputError, match="beta"):
        segment.threshold(np.zeros((5, 5), np.float32), method="graphcut", beta=-1, device="cpu")


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(60, 70), (5, 30, 34)])
def test_gpu_graphcut_equals_cpu(shape):
    rng = np.random.default_rng(2)
    img = ndi.gaussian_filter(rng.random((2, *shape)), (0,) + (2.0,) * len(shape))
    img = ((img - img.min()) / np.ptp(img) + rng.normal(0, 0.1, img.shape)).clip(0, 1).astype(np.float32)
    kw = dict(method="graphcut", threshold=0.6, sigma=0.5, min_size=2, beta=0.3)
    cpu = segment.threshold(img, device="cpu", **kw)
    gpu = segment.threshold(img, device="gpu", **kw)
    np.testing.assert_array_equal(gpu.get(), cpu)
    assert cpu.max() >= 2


def test_cli_segment_graphcut_equals_library(tmp_path):
    from gputrack.cli import main
    from gputrack.io.images import read_image, write_image

    rng = np.random.default_rng(4)
    img = ndi.gaussian_filter(rng.random((2, 50, 60)), (0, 2, 2))
    img = ((img - img.min()) / np.ptp(img)).astype(np.float32)
    write_image(tmp_path / "p.h5", img, axes="tyx")
    args = ["segment", str(tmp_path / "p.h5"), "--out", str(tmp_path / "l.h5"), "--method", "graphcut",
            "--threshold", "0.6", "--beta", "0.4", "--min-size", "3", "--quiet"]
    assert main(args) == 0
    ref = segment.threshold(img, method="graphcut", threshold=0.6, beta=0.4, min_size=3, axes="tyx",
                            device="cpu")
    np.testing.assert_array_equal(read_image(tmp_path / "l.h5"), ref)
    assert ref.max() >= 2
