"""Threshold method "watershed" (ilastik's "don't merge objects"): references and CPU == GPU."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
import scipy.ndimage as ndi
from skimage.segmentation import watershed as sk_watershed

from gputrack import segment
from gputrack.segment.watershed import flood, inverted

FACE = {2: ndi.generate_binary_structure(2, 1), 3: ndi.generate_binary_structure(3, 1)}


def face_neighbours(idx, shape):
    for axis in range(len(shape)):
        for step in (-1, 1):
            j = list(idx)
            j[axis] += step
            if 0 <= j[axis] < shape[axis]:
                yield tuple(j)


def vigra_flood(cost, seeds, max_cost):
    """vigra's seededWatersheds loop (labels set when pushed, stop at the first pop above
    ``max_cost``), transcribed from its description with heapq; independent of gputrack."""
    labels = seeds.astype(np.uint32).copy()
    heap, count = [], 0
    for idx in zip(*np.nonzero(labels)):
        if any(labels[n] == 0 for n in face_neighbours(idx, cost.shape)):
            heapq.heappush(heap, (float(cost[idx]), count, idx))
            count += 1
    while heap:
        c, _, idx = heapq.heappop(heap)
        if c > max_cost:
            break
        for n in face_neighbours(idx, cost.shape):
            if labels[n] == 0:
                labels[n] = labels[idx]
                heapq.heappush(heap, (max(float(cost[n]), c), count, n))
                count += 1
    return labels


def smooth_field(shape, seed, sigma):
    v = ndi.gaussian_filter(np.random.default_rng(seed).random(shape), sigma)
    return ((v - v.min()) / (v.max() - v.min())).astype(np.float32)


def canonical(lab):
    """Renumber 1..n in raster order of first occurrence."""
    ids, first = np.unique(lab.ravel(), return_index=True)
    order = np.argsort(first[ids > 0])
    lut = np.zeros(int(ids.max()) + 1, np.uint32)
    lut[ids[ids > 0][order]] = np.arange(1, order.size + 1)
    return lut[lab]


@pytest.mark.parametrize("shape, sigma", [((90, 110), 3.0), ((14, 40, 36), (1.0, 2.5, 2.5))])
def test_flood_equals_skimage_inside_and_vigra_loop_everywhere(shape, sigma):
    for seed in range(3):
        v = smooth_field(shape, seed, sigma)
        cores, n = ndi.label(v >= 0.7, structure=FACE[len(shape)])
        assert n >= 3
        cost, stop = inverted(v, 0.45)
        ours = flood(cost, cores, stop)
        mask = cost <= np.float32(stop)
        ref = sk_watershed(cost, cores, mask=mask | (cores > 0), connectivity=1)
        np.testing.assert_array_equal(ours[mask], ref[mask])
        np.testing.assert_array_equal(ours, vigra_flood(cost, cores, float(stop)))
        rim = (ours > 0) & ~mask
        assert rim.any() and not (rim & ~ndi.binary_dilation(ref > 0, FACE[len(shape)])).any()


def test_watershed_keeps_touching_nuclei_apart():
    yy, xx = np.mgrid[:60, :80]
    v = np.maximum(np.exp(-((yy - 30) ** 2 + (xx - 28) ** 2) / 150.0),
                   0.9 * np.exp(-((yy - 30) ** 2 + (xx - 50) ** 2) / 150.0)).astype(np.float32)
    kw = dict(threshold=0.4, high_threshold=0.8, sigma=1.0, min_size=5, device="cpu")
    hyst = segment.threshold(v, method="hysteresis", **kw)
    ws = segment.threshold(v, method="watershed", **kw)
    assert hyst.max() == 1 and ws.max() == 2
    # the two objects touch and together cover the hysteresis object plus its rim
    assert (ndi.binary_dilation(ws == 1, FACE[2]) & (ws == 2)).any()
    assert ((ws > 0) >= (hyst > 0)).all()
    assert ((ws > 0) <= ndi.binary_dilation(hyst > 0, FACE[2])).all()


def threshold_reference(img, low, high, sigma, min_size, max_size):
    """ilastik's method 3 per frame from scipy, scikit-image and the vigra loop above."""
    out = np.zeros(img.shape, np.uint32)
    for t in range(img.shape[0]):
        sm = ndi.gaussian_filter(img[t], sigma, truncate=2.0, mode="mirror").astype(np.float32)
        st = FACE[sm.ndim]
        cores, n = ndi.label(sm >= np.float32(high), structure=st)
        sizes = np.bincount(cores.ravel(), minlength=n + 1)
        cores[~((sizes >= min_size) & (sizes <= max_size))[cores]] = 0
        cost = (np.nanmax(sm) - sm).astype(np.float32)
        grown = vigra_flood(cost, cores, float(np.nanmax(sm) - np.float32(low)))
        sizes = np.bincount(grown.ravel())
        grown[~((sizes >= min_size) & (sizes <= max_size))[grown]] = 0
        out[t] = canonical(grown) if grown.any() else 0
    return out


def test_threshold_watershed_equals_reference_3d_frames():
    img = np.stack([smooth_field((10, 36, 40), s, (1.0, 2.0, 2.0)) for s in (4, 5)])
    kw = dict(threshold=0.5, high_threshold=0.7, sigma=(1.0, 1.5, 1.5), min_size=4, max_size=3000)
    ours = segment.threshold(img, method="watershed", axes="tzyx", device="cpu", **kw)
    ref = threshold_reference(img, 0.5, 0.7, (1.0, 1.5, 1.5), 4, 3000)
    np.testing.assert_array_equal(ours, ref)
    assert ours[0].max() >= 3


def test_ilastik_method_numbers():
    from gputrack.segment.threshold import ILASTIK_METHODS, METHODS

    assert ILASTIK_METHODS[3] == "watershed" and ILASTIK_METHODS[1] == "hysteresis"
    assert "watershed" in METHODS


@pytest.mark.gpu
@pytest.mark.parametrize("shape, sigma", [((48, 56), 2.5), ((6, 24, 28), (1.0, 2.0, 2.0))])
def test_gpu_flood_equals_cpu_with_ties(shape, sigma):
    import cupy as cp

    v = smooth_field(shape, 11, sigma)
    for levels in (None, 6):  # 6 grey levels: plateaus, so the tie rules decide
        img = v if levels is None else (np.round(v * levels) / levels).astype(np.float32)
        cores, _ = ndi.label(img >= 0.7, structure=FACE[len(shape)])
        cost, stop = inverted(img, 0.4)
        cpu = flood(cost, cores.astype(np.uint32), stop)
        gpu = flood(cp.asarray(cost), cp.asarray(cores.astype(np.uint32)), stop)
        np.testing.assert_array_equal(gpu.get(), cpu)
        assert len(np.unique(cpu)) > 2


@pytest.mark.gpu
def test_gpu_threshold_watershed_equals_cpu():
    img = np.stack([smooth_field((40, 44), s, 2.0) for s in (1, 2)])
    kw = dict(method="watershed", threshold=0.45, high_threshold=0.7, sigma=1.0, min_size=3)
    cpu = segment.threshold(img, device="cpu", **kw)
    gpu = segment.threshold(img, device="gpu", **kw)
    np.testing.assert_array_equal(gpu.get(), cpu)
    assert cpu.max() >= 2


@pytest.mark.parametrize("number, name", [(3, "watershed"), (1, "hysteresis"), (2, "graphcut")])
def test_ilp_threshold_method_is_read(number, name, tmp_path):
    import shutil

    import h5py

    from gputrack.io.ilp import describe_ilp, read_ilp
    from tests.conftest import shared_path

    src = shared_path("hytra-tests", "tests", "divisionTestDataset", "tracking.ilp")
    path = tmp_path / "p.ilp"
    shutil.copy(src, path)
    with h5py.File(path, "a") as f:
        del f["ThresholdTwoLevels/CurOperator"]
        f["ThresholdTwoLevels/CurOperator"] = number
        if "Beta" in f["ThresholdTwoLevels"]:
            del f["ThresholdTwoLevels/Beta"]
        f["ThresholdTwoLevels/Beta"] = 0.35
    project = read_ilp(path)
    assert project.threshold.method == name and project.threshold.beta == 0.35
    assert f"threshold: {name}," in describe_ilp(project)
    assert ("beta 0.35" in describe_ilp(project)) == (name == "graphcut")


def test_cli_segment_watershed_equals_library(tmp_path):
    from gputrack.cli import main
    from gputrack.io.images import read_image, write_image

    img = np.stack([smooth_field((50, 60), s, 2.5) for s in (7, 8)])
    write_image(tmp_path / "p.h5", img, axes="tyx")
    args = ["segment", str(tmp_path / "p.h5"), "--out", str(tmp_path / "l.h5"), "--method", "watershed",
            "--threshold", "0.4", "--high-threshold", "0.7", "--min-size", "3", "--quiet"]
    assert main(args) == 0
    ref = segment.threshold(img, method="watershed", threshold=0.4, high_threshold=0.7, min_size=3,
                            axes="tyx", device="cpu")
    np.testing.assert_array_equal(read_image(tmp_path / "l.h5"), ref)
    assert ref.max() >= 3
    assert main([*args[:-1], "--high-threshold", "0.3", "--overwrite", "--quiet"]) == 2


def test_cli_track_probabilities_watershed_keeps_every_object(tmp_path):
    from gputrack.cli import main
    from gputrack.io.ctc import read_frames
    from gputrack.io.images import write_image

    yy, xx = np.mgrid[:60, :90]
    frames = []
    for t in range(4):  # two touching nuclei drifting right, a third one apart
        a = np.exp(-((yy - 30) ** 2 + (xx - 25 - 2 * t) ** 2) / 120.0)
        b = 0.9 * np.exp(-((yy - 30) ** 2 + (xx - 45 - 2 * t) ** 2) / 120.0)
        c = np.exp(-((yy - 10) ** 2 + (xx - 75) ** 2) / 30.0)
        frames.append(np.maximum(np.maximum(a, b), c))
    prob = np.stack(frames).astype(np.float32)
    write_image(tmp_path / "p.h5", prob, axes="tyx")
    res = tmp_path / "res"
    args = ["track", "--probabilities", str(tmp_path / "p.h5"), "--out", str(res), "--method", "watershed",
            "--threshold", "0.4", "--high-threshold", "0.8", "-q"]
    assert main(args) == 0
    masks = read_frames(res)
    ref = segment.threshold(prob, method="watershed", threshold=0.4, high_threshold=0.8, axes="tyx",
                            device="cpu")
    for t in range(4):
        assert len(np.unique(masks[t])) - 1 == ref[t].max() == 3
        np.testing.assert_array_equal(masks[t] > 0, ref[t] > 0)
