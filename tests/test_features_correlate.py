"""The numba mirror correlation against scipy, and the CPU strip path against whole images."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

import gputrack.features.filters as filters
from gputrack import features as gf
from gputrack.features.correlate import correlate1d
from tests.test_features import FAMILIES, ref_features, smooth_random


def scipy_mirror(x, w, axis):
    return ndi.correlate1d(x, w, axis=axis, mode="mirror", output=np.float32)


@pytest.mark.parametrize("shape", [(37, 41), (9, 13, 11), (2, 3, 17, 5), (1, 30), (30, 1)])
@pytest.mark.parametrize("kind", ["symmetric", "antisymmetric", "asymmetric"])
def test_correlate1d_equals_scipy_mirror(shape, kind):
    rng = np.random.default_rng(len(shape))
    x = (rng.random(shape) * 100 - 50).astype(np.float32)
    if kind == "symmetric":
        w = gf.gaussian_kernel(2.3, 0, 3.5)
    elif kind == "antisymmetric":
        w = gf.gaussian_kernel(0.8, 1)
    else:
        w = rng.random(7) - 0.3
    for axis in range(x.ndim):
        ref = scipy_mirror(x, w, axis)
        got = correlate1d(x, w, axis)
        assert got.dtype == np.float32 and got.shape == x.shape
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


def test_correlate1d_kernel_longer_than_the_axis_reflects_repeatedly():
    x = np.arange(4 * 6, dtype=np.float32).reshape(4, 6) ** 1.5
    w = gf.gaussian_kernel(3.0, 2)  # 13 taps on axes of 4 and 6
    for axis in (0, 1, -1):
        np.testing.assert_allclose(correlate1d(x, w, axis), scipy_mirror(x, w, axis), rtol=1e-6, atol=1e-4)


def test_correlate1d_non_contiguous_input_out_argument_and_errors():
    x = smooth_random((30, 40)).T  # a transposed view
    w = gf.gaussian_kernel(1.0, 1)
    out = np.empty(x.shape, np.float32)
    got = correlate1d(x, w, 0, out=out)
    assert got is out
    np.testing.assert_allclose(out, scipy_mirror(x, w, 0), rtol=1e-6, atol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        correlate1d(x, np.ones(4), 0)
    with pytest.raises(ValueError, match="out"):
        correlate1d(x, w, 0, out=np.empty((2, 2), np.float32))


def test_strip_height_rule():
    assert filters.strip_height(1024, 4096, 38) == filters.STRIP_PIXELS // 1024
    assert filters.strip_height(1 << 20, 4096, 38) == 152  # at least 4 halos
    assert filters.strip_height(10, 50, 38) == 50  # never more than the image


@pytest.fixture
def small_strips(monkeypatch):
    monkeypatch.setattr(filters, "STRIP_PIXELS", 64)  # strips of 4 * halo rows


@pytest.mark.parametrize("axes,shape,in_2d", [
    ("yx", (203, 45), False),
    ("zyxc", (16, 170, 36, 2), [False, True, False, False, False, True, True]),
])
def test_strips_equal_whole_image(small_strips, monkeypatch, axes, shape, in_2d):
    img = smooth_random(shape, seed=3)
    strips, names = gf.compute(img, "all", axes=axes, in_2d=in_2d, device="cpu")
    monkeypatch.setattr(filters, "STRIP_PIXELS", 1 << 40)  # one strip
    whole, names2 = gf.compute(img, "all", axes=axes, in_2d=in_2d, device="cpu")
    assert names == names2
    np.testing.assert_array_equal(strips, whole)


@pytest.mark.parametrize("feature", FAMILIES)
def test_strips_match_the_reference_across_strip_edges(small_strips, feature):
    img = smooth_random((190, 47), seed=4)
    scales = [1.0, 3.5] if feature != "GaussianSmoothing" else [0.3, 10.0]
    data, _ = gf.compute(img, {feature: scales}, device="cpu")
    ref = np.concatenate([ref_features(img, feature, s, True) for s in scales], axis=-1)
    drange = float(img.max() - img.min())
    assert np.abs(data - ref).max() <= 1e-4 * drange
