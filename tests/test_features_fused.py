"""The fused 2-D row passes give the bits of the separable strip passes they replace."""

from __future__ import annotations

import numpy as np
import pytest

import gputrack.features.filters as filters
from gputrack import features as gf
from tests.conftest import shared_path
from tests.test_features import FAMILIES, ref_features, smooth_random


def both(monkeypatch, img, selection="all", **kw):
    fused, names = gf.compute(img, selection, device="cpu", **kw)
    monkeypatch.setattr(filters, "FUSED_2D", False)
    passes, names2 = gf.compute(img, selection, device="cpu", **kw)
    monkeypatch.setattr(filters, "FUSED_2D", True)
    assert names == names2
    return fused, passes


@pytest.mark.parametrize("shape,kw", [
    ((150, 131), {}),
    ((9, 7), {"scales": [0.3, 0.7, 1.0, 1.6]}),  # kernels longer than the image: repeated mirrors
    ((4, 40), {"scales": [0.3, 0.7]}),
    ((60, 70, 2), {"axes": "yxc"}),
    ((3, 50, 44), {"axes": "tyx"}),
    ((15, 40, 36), {"in_2d": [True, True, False, True, False, True, True]}),  # 2D and 3D columns mixed
    ((64, 58), {"spacing": (0.8, 1.7)}),
    ((5, 44, 38), {"in_2d": True, "spacing": (3.0, 1.0, 0.6), "scales": [0.7, 1.0, 1.6]}),
])
def test_fused_equals_passes_bit_for_bit(monkeypatch, shape, kw):
    img = smooth_random(shape, seed=len(shape))
    fused, passes = both(monkeypatch, img, **kw)
    np.testing.assert_array_equal(fused, passes)


@pytest.mark.parametrize("feature", FAMILIES)
def test_each_family_alone_and_against_scipy(monkeypatch, feature):
    img = smooth_random((77, 91), seed=5)
    scales = [0.3, 1.0, 3.5] if feature == "GaussianSmoothing" else [0.7, 1.6, 5.0]  # each family alone
    fused, passes = both(monkeypatch, img, {feature: scales})
    np.testing.assert_array_equal(fused, passes)
    ref = np.concatenate([ref_features(img, feature, s, True) for s in scales], axis=-1)
    assert np.abs(fused - ref).max() <= 1e-4 * float(img.max() - img.min())


def test_fused_blocks_equal_the_whole_image(monkeypatch):
    img = smooth_random((140, 120), seed=6)
    whole, passes = both(monkeypatch, img)
    np.testing.assert_array_equal(whole, passes)
    out = np.full(whole.shape, np.nan, np.float32)
    for region, block in gf.iter_feature_blocks(img, "all", (50, 64), device="cpu"):
        out[region] = block
    np.testing.assert_array_equal(out, whole)


def test_fused_on_a_slide_crop(monkeypatch):
    tifffile = pytest.importorskip("tifffile")
    rgb = tifffile.imread(shared_path("large-wsi", "CMU-1-Small-Region.svs"), series=0, level=0)
    gray = rgb[700:1212, 900:1412].astype(np.float32).mean(axis=-1).astype(np.float32)
    fused, passes = both(monkeypatch, gray)
    span = passes.max(axis=(0, 1)) - passes.min(axis=(0, 1))
    assert (np.abs(fused - passes).max(axis=(0, 1)) <= 1e-6 * span).all()
    np.testing.assert_array_equal(fused, passes)
