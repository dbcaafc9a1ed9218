"""Threshold and size filter: ilastik semantics and equality with scipy references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from gputrack import segment
from gputrack.errors import InputError
from gputrack.segment.labeling import label_volume
from tests.conftest import shared_path

FACE2 = ndi.generate_binary_structure(2, 1)
FACE3 = ndi.generate_binary_structure(3, 1)


def canonical(lab: np.ndarray) -> np.ndarray:
    """Renumber a label image 1..n in raster order of first occurrence (independent of ours)."""
    ids, first = np.unique(lab.ravel(), return_index=True)
    order = np.argsort(first[ids > 0])
    lut = np.zeros(int(ids.max()) + 1, np.uint32)
    lut[ids[ids > 0][order]] = np.arange(1, order.size + 1)
    return lut[lab]


def scipy_reference(mask: np.ndarray, min_size: int, max_size: int) -> np.ndarray:
    structure = FACE3 if mask.ndim == 3 else FACE2
    lab, n = ndi.label(mask, structure=structure)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    keep = (sizes >= min_size) & (sizes <= max_size)
    keep[0] = False
    return canonical(np.where(keep[lab], lab, 0))


def random_mask(shape, seed, level=0.5, smooth=2.0):
    rng = np.random.default_rng(seed)
    return ndi.gaussian_filter(rng.random(shape), smooth) > level


@pytest.mark.parametrize("shape", [(97, 131), (23, 41, 37)])
def test_label_equals_scipy(shape):
    mask = random_mask(shape, 1, level=0.5 if len(shape) == 2 else 0.55, smooth=1.5)
    ours, n = label_volume(mask, "cpu")
    ref, n_ref = ndi.label(mask, structure=FACE3 if len(shape) == 3 else FACE2)
    assert n == n_ref > 20
    assert ours.dtype == np.uint32
    np.testing.assert_array_equal(ours, canonical(ref))


def test_label_image_keeps_touching_objects_apart_and_splits_pieces():
    img = np.array(
        [
            [5, 5, 7, 0, 5],
            [0, 7, 7, 0, 5],
            [9, 0, 0, 0, 0],
        ]
    )
    lab = segment.label(img, device="cpu")
    expected = np.array(
        [
            [1, 1, 2, 0, 3],
            [0, 2, 2, 0, 3],
            [4, 0, 0, 0, 0],
        ],
        np.uint32,
    )
    np.testing.assert_array_equal(lab, expected)


def test_huge_sparse_ids_label_without_large_allocations():
    img = np.zeros((50, 60), np.int64)
    img[1:4, 1:4] = 2**31 - 1
    img[10:12, 10:15] = 2**40
    img[20, 20] = 3
    lab = segment.size_filter(img, min_size=2, device="cpu")
    assert lab.max() == 2
    assert (lab == 1).sum() == 9 and (lab == 2).sum() == 10


@pytest.mark.parametrize("shape", [(120, 90), (20, 40, 30)])
def test_size_filter_equals_scipy_reference(shape):
    mask = random_mask(shape, 2, level=0.5 if len(shape) == 2 else 0.55, smooth=1.2)
    ours = segment.size_filter(mask, min_size=5, max_size=40, device="cpu")
    np.testing.assert_array_equal(ours, scipy_reference(mask, 5, 40))
    assert ours.max() > 5


def test_size_limits_are_inclusive():
    mask = np.zeros((3, 20), bool)
    mask[0, 0:3] = True  # 3
    mask[0, 5:9] = True  # 4
    mask[0, 11:16] = True  # 5
    mask[2, 0:6] = True  # 6
    lab = segment.size_filter(mask, min_size=4, max_size=5, device="cpu")
    assert lab.max() == 2
    assert (lab == 1).sum() == 4 and (lab == 2).sum() == 5
    assert lab[0, 5] == 1 and lab[0, 11] == 2


def test_threshold_is_inclusive_and_face_connected():
    img = np.zeros((6, 6), np.float32)
    img[1, 1] = 0.5  # exactly at the threshold: foreground
    img[2, 2] = 0.7  # diagonal neighbour only: separate object
    img[4, 4] = np.nextafter(np.float32(0.5), np.float32(0))  # just below
    lab = segment.threshold(img, threshold=0.5, sigma=0.0, min_size=1, device="cpu")
    np.testing.assert_array_equal(np.argwhere(lab == 1), [[1, 1]])
    np.testing.assert_array_equal(np.argwhere(lab == 2), [[2, 2]])
    assert lab.max() == 2


def test_smoothing_matches_scipy_truncate_two_mirror():
    rng = np.random.default_rng(3)
    img = rng.random((40, 50)).astype(np.float32)
    ours = segment.smooth(img, (1.5, 0.7), device="cpu")
    ref = ndi.gaussian_filter(img.astype(np.float64), (1.5, 0.7), truncate=2.0, mode="mirror")
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    # radius int(2 * 1.5 + 0.5) = 3: a delta spreads exactly 3 pixels along y
    delta = np.zeros((21, 21), np.float32)
    delta[10, 10] = 1
    spread = np.nonzero(segment.smooth(delta, (1.5, 0.7), device="cpu")[:, 10])[0]
    assert spread.min() == 7 and spread.max() == 13


def test_any_sigma_below_point_one_disables_all_smoothing():
    rng = np.random.default_rng(4)
    vol = rng.random((5, 20, 20)).astype(np.float32)
    assert np.array_equal(segment.smooth(vol, (2.0, 0.09, 2.0), device="cpu"), vol)
    assert not np.array_equal(segment.smooth(vol, (2.0, 0.1, 2.0), device="cpu"), vol)
    # a singleton axis does not count
    flat = vol[:1]
    assert not np.array_equal(segment.smooth(flat, (0.0, 1.0, 1.0), axes="zyx", device="cpu"), flat)
    # thresholding follows the same rule
    img = np.zeros((9, 9), np.float32)
    img[4, 4] = 1.0
    assert segment.threshold(img, sigma=(1.0, 0.05), threshold=0.9, min_size=1, device="cpu").max() == 1
    assert segment.threshold(img, sigma=1.0, threshold=0.9, min_size=1, device="cpu").max() == 0


def test_threshold_pipeline_equals_scipy_reference_3d():
    rng = np.random.default_rng(5)
    img = rng.random((16, 40, 40)).astype(np.float32)
    sig = (1.0, 2.0, 1.5)
    ours = segment.threshold(img, threshold=0.52, sigma=sig, min_size=10, max_size=500, device="cpu")
    smoothed = ndi.gaussian_filter(img, sig, truncate=2.0, mode="mirror")
    np.testing.assert_array_equal(ours, scipy_reference(smoothed >= np.float32(0.52), 10, 500))
    assert ours.max() >= 3


def test_hysteresis_keeps_only_components_touching_surviving_cores():
    img = np.zeros((12, 30), np.float32)
    img[1:5, 1:8] = 0.6  # A: touches a big core -> kept
    img[2:4, 2:5] = 0.9  # core of A, 6 px
    img[7:11, 1:8] = 0.6  # B: its core is only 1 px -> size-filtered core -> dropped
    img[8, 3] = 0.9
    img[1:5, 12:18] = 0.6  # C: no core -> dropped
    img[7:11, 20:28] = 0.95  # D: is its own core -> kept
    lab = segment.threshold(
        img, method="hysteresis", threshold=0.5, high_threshold=0.8, sigma=0, min_size=4, device="cpu"
    )
    assert lab.max() == 2
    assert lab[1, 1] == 1 and lab[7, 20] == 2
    assert lab[7, 1] == 0 and lab[1, 12] == 0
    assert (lab == 1).sum() == 28 and (lab == 2).sum() == 32
    # without the size filter on cores B survives too
    lab1 = segment.threshold(
        img, method="hysteresis", threshold=0.5, high_threshold=0.8, sigma=0, min_size=1, device="cpu"
    )
    assert lab1.max() == 3 and lab1[7, 1] == 2


def test_hysteresis_equals_scipy_reference():
    rng = np.random.default_rng(6)
    img = ndi.gaussian_filter(rng.random((80, 90)), 2).astype(np.float32)
    img = (img - img.min()) / (img.max() - img.min())
    low, high = 0.55, 0.75
    ours = segment.threshold(
        img,
        method="hysteresis",
        threshold=low,
        high_threshold=high,
        sigma=0,
        min_size=3,
        max_size=2000,
        device="cpu",
    )
    cores = scipy_reference(img >= np.float32(high), 3, 2000) > 0
    lab, n = ndi.label(img >= np.float32(low), structure=FACE2)
    touched = np.zeros(n + 1, bool)
    touched[lab[cores]] = True
    touched[0] = False
    ref = scipy_reference(touched[lab], 3, 2000)
    np.testing.assert_array_equal(ours, ref)
    assert 2 <= ours.max() < ndi.label(img >= low)[1]


def test_per_frame_labels_and_channels():
    img = np.zeros((3, 10, 10, 2), np.float32)
    img[0, 1:3, 1:3, 1] = 1
    img[0, 6:9, 6:9, 1] = 1
    img[2, 5:8, 0:3, 1] = 1
    lab = segment.threshold(img, channel=1, sigma=0, min_size=1, axes="tyxc", device="cpu")
    assert lab.shape == (3, 10, 10)
    assert [int(lab[t].max()) for t in range(3)] == [2, 0, 1]  # empty frame: no error


def test_boolean_mask_input_skips_threshold():
    mask = random_mask((60, 70), 7)
    lab = segment.threshold(mask, sigma=1.0, min_size=5, max_size=10**6, device="cpu")
    np.testing.assert_array_equal(lab, scipy_reference(mask, 5, 10**6))


def test_bad_input():
    prob = np.random.default_rng(0).random((10, 10, 2)).astype(np.float32)
    with pytest.raises(InputError, match="axis 'c' has 2 channel"):
        segment.threshold(prob, channel=2, axes="yxc", device="cpu")
    with pytest.raises(InputError, match=r"outside \[0, 1\]"):
        segment.threshold(prob, threshold=1.5, axes="yxc", device="cpu")
    with pytest.raises(InputError, match="high_threshold"):
        segment.threshold(prob, method="hysteresis", high_threshold=-0.1, axes="yxc", device="cpu")
    with pytest.raises(InputError, match="method"):
        segment.threshold(prob, method="otsu", axes="yxc", device="cpu")
    with pytest.raises(InputError, match="min_size"):
        segment.size_filter(prob[..., 0] > 0.5, min_size=5, max_size=2, device="cpu")
    with pytest.raises(InputError, match="dtype float"):
        segment.label(prob[..., 0], device="cpu")
    # intensities outside [0, 1] are not probabilities: any threshold is allowed
    raw = prob[..., 0] * 1000
    assert segment.threshold(raw, threshold=500, sigma=0, min_size=1, device="cpu").max() > 0


def test_stardist_mask_relabel_equals_scipy():
    import tifffile

    mask = tifffile.imread(shared_path("stardist-nuclei", "images", "mask2d.tif"))
    ours = segment.label(mask, device="cpu")
    # reference: each id labelled separately with scipy, then canonical raster order
    ref = np.zeros(mask.shape, np.int64)
    nxt = 0
    for i in np.unique(mask)[1:]:
        lab, n = ndi.label(mask == i, structure=FACE2)
        ref[lab > 0] = lab[lab > 0] + nxt
        nxt += n
    np.testing.assert_array_equal(ours, canonical(ref))
    assert ours.max() >= 125


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(301, 257), (40, 70, 60)])
def test_gpu_labels_equal_cpu(shape):
    import cupy as cp

    mask = random_mask(shape, 8, level=0.5, smooth=1.3)
    ids = np.where(mask, np.random.default_rng(1).integers(1, 4, size=shape), 0).astype(np.uint16)
    for img in (mask, ids, ids.astype(np.int64)):
        cpu, n_cpu = label_volume(img, "cpu")
        gpu, n_gpu = label_volume(cp.asarray(img), "gpu")
        assert n_cpu == n_gpu
        np.testing.assert_array_equal(cp.asnumpy(gpu), cpu)


def threshold_reference(img, method, low, high, sigma, min_size, max_size):
    """ilastik's two thresholds per frame, from scipy alone (independent of gputrack)."""
    out = np.zeros(img.shape, np.uint32)
    for t in range(img.shape[0]):
        sm = ndi.gaussian_filter(img[t], sigma, truncate=2.0, mode="mirror")
        if method == "simple":
            out[t] = scipy_reference(sm >= np.float32(low), min_size, max_size)
            continue
        cores = scipy_reference(sm >= np.float32(high), min_size, max_size) > 0
        lab, n = ndi.label(sm >= np.float32(low), structure=FACE3)
        touched = np.zeros(n + 1, bool)
        touched[lab[cores]] = True
        touched[0] = False
        out[t] = scipy_reference(touched[lab], min_size, max_size)
    return out


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["simple", "hysteresis"])
def test_gpu_threshold_equals_cpu_and_scipy(method):
    rng = np.random.default_rng(9)
    img = ndi.gaussian_filter(rng.random((2, 12, 48, 48)), (0, 1, 2, 2)).astype(np.float32)
    img = (img - img.min()) / (img.max() - img.min())
    low, high, sigma = 0.55, 0.65, (1.0, 1.5, 1.5)
    kw = dict(method=method, threshold=low, high_threshold=high, sigma=sigma, min_size=5, max_size=5000)
    cpu = segment.threshold(img, device="cpu", **kw)
    gpu = segment.threshold(img, device="gpu", **kw)
    ref = threshold_reference(img, method, low, high, sigma, 5, 5000)
    np.testing.assert_array_equal(cpu, ref)
    np.testing.assert_array_equal(gpu.get(), cpu)
    n_low = max(ndi.label(img[t] >= low, structure=FACE3)[1] for t in range(2))
    assert 3 <= cpu[0].max() and (method == "simple" or cpu[0].max() < n_low)
