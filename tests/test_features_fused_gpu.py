"""The fused 2-D feature kernels (``kernels/features2d.cu``) give the CPU's features (``-m gpu``).

Under the emulation (no GPU) the kernels run on the host, one fiber per CUDA thread; the
CPU reference is the fused row passes of :mod:`gputrack.features.fused` (themselves equal to
the two-pass path). Images are small and of odd sizes (no multiple of a tile), tiles down to
one pixel (smaller than every kernel radius), so that each halo and mirrored border is hit.
"""

from __future__ import annotations

import numpy as np
import pytest

from gputrack import backend
from gputrack import features as gf
from gputrack.features import filters, fused, fused_gpu
from tests.test_features_gpu import smooth_random

pytestmark = pytest.mark.gpu

FAMILIES = gf.FEATURE_IDS
SCALES = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)


def assert_cpu_bits(gpu, cpu, rel=1e-6):
    """Within ``rel`` of each channel's largest magnitude, and in fact bit-identical."""
    gpu = backend.to_host(gpu)
    assert gpu.shape == cpu.shape and gpu.dtype == cpu.dtype
    flat_g, flat_c = gpu.reshape(-1, cpu.shape[-1]), cpu.reshape(-1, cpu.shape[-1])
    scale = np.maximum(np.abs(flat_c).max(axis=0), 1e-30)
    err = (np.abs(flat_g.astype(np.float64) - flat_c) / scale).max(axis=0)
    assert np.isfinite(flat_g).all() and err.max() <= rel, err
    np.testing.assert_array_equal(gpu, cpu)


@pytest.fixture
def fused_calls(monkeypatch):
    """Scale lists passed to the fused GPU path (it is still run)."""
    calls = []
    run = fused_gpu.fused_planes_gpu

    def spy(image, scales, *args, **kwargs):
        calls.append(list(scales))
        return run(image, scales, *args, **kwargs)

    monkeypatch.setattr(fused_gpu, "fused_planes_gpu", spy)
    return calls


@pytest.mark.parametrize("feature", FAMILIES)
def test_family_at_every_scale(feature, fused_calls):
    img = smooth_random((37, 41), seed=1)  # 36 rows is the least scale 10 allows
    sel = {feature: list(SCALES)}
    cpu, names = gf.compute(img, sel, device="cpu")
    gpu, names_gpu = gf.compute(backend.to_device(img, "gpu"), sel, device="gpu")
    assert names_gpu == names and fused_calls == [list(SCALES)]
    assert backend.device_of(gpu) == "gpu"
    assert_cpu_bits(gpu, cpu)


@pytest.mark.parametrize("tile", [(1, 1), (2, 3), (3, 2), (5, 7), (40, 4)])
def test_tiles_smaller_than_the_kernels(tile, monkeypatch, fused_calls):
    """Blocks of 1 .. 40 pixels a side (presmooth2d's too): halos wider than the tile, partial tiles."""
    monkeypatch.setattr(fused_gpu, "TILE", tile)
    monkeypatch.setattr(fused_gpu, "PRESMOOTH_TILE", tile)
    img = smooth_random((23, 19), seed=2)
    sel = {f: [0.3, 1.0, 5.0] for f in FAMILIES}
    cpu, _ = gf.compute(img, sel, device="cpu")
    gpu, _ = gf.compute(img, sel, device="gpu")
    assert fused_calls == [[0.3, 1.0, 5.0]]
    assert_cpu_bits(gpu, cpu)


TINY = [((3, 5), [0.3]), ((4, 2), [0.25]), ((9, 11), [0.3, 0.7, 1.6, 2.0])]


@pytest.mark.parametrize("shape, scales", TINY)
def test_images_smaller_than_a_tile(shape, scales):
    """Images of a few pixels: kernels as wide as the image, mirrored more than once."""
    img = smooth_random(shape, seed=3)
    sel = {f: scales for f in FAMILIES}
    cpu, _ = gf.compute(img, sel, device="cpu")
    gpu, _ = gf.compute(img, sel, device="gpu")
    assert_cpu_bits(gpu, cpu)


def test_multichannel_time_and_slices():
    vol = np.stack([smooth_random((2, 3, 21, 17), seed) for seed in range(2)], axis=-1)  # t z y x c
    sel = {f: [0.7, 1.6, 3.5] for f in FAMILIES}
    cpu, _ = gf.compute(vol, sel, axes="tzyxc", in_2d=True, device="cpu")
    gpu, _ = gf.compute(vol, sel, axes="tzyxc", in_2d=True, device="gpu")
    assert_cpu_bits(gpu, cpu)


def test_2d_and_3d_columns_together(fused_calls):
    """Only the in-2D column is fused; the 3-D one keeps the whole-volume passes."""
    vol = smooth_random((5, 13, 15), seed=6)
    sel = {f: [0.7, 1.6] for f in FAMILIES}
    flags = {0.7: False, 1.6: True}
    cpu, _ = gf.compute(vol, sel, axes="zyx", in_2d=flags, device="cpu")
    gpu, _ = gf.compute(vol, sel, axes="zyx", in_2d=flags, device="gpu")
    assert fused_calls == [[1.6]]
    assert_cpu_bits(gpu, cpu)


def test_anisotropic_spacing():
    img = smooth_random((37, 41), seed=4)
    sel = {f: [0.7, 1.6, 3.5] for f in FAMILIES}
    cpu, _ = gf.compute(img, sel, spacing=(0.8, 1.5), device="cpu")
    gpu, _ = gf.compute(img, sel, spacing=(0.8, 1.5), device="gpu")
    assert_cpu_bits(gpu, cpu)


def test_crop_is_computed_from_the_whole_image():
    vol = np.stack([smooth_random((2, 29, 31), seed) for seed in range(2)], axis=-1)[None]  # t z y x c
    sel = gf.normalize_selection({f: [0.7, 3.5] for f in FAMILIES}, in_2d=True)
    crop = (slice(None), slice(1, 2), slice(5, 22), slice(3, 30))
    whole = filters.feature_stack(vol, sel, device="cpu")
    gpu = filters.feature_stack(backend.to_device(vol, "gpu"), sel, device="gpu", crop=crop)
    assert_cpu_bits(gpu, np.ascontiguousarray(whole[crop]))


@pytest.mark.parametrize("how", ["unsupported", "switched off"])
def test_unfused_gpu_path_is_kept(how, monkeypatch, fused_calls):
    if how == "unsupported":
        monkeypatch.setattr(filters._fused, "supported", lambda scales, spacing: False)
    else:
        monkeypatch.setattr(filters, "FUSED_2D_GPU", False)
    img = smooth_random((13, 11), seed=5)
    sel = {f: [1.0] for f in FAMILIES}
    cpu, _ = gf.compute(img, sel, device="cpu")
    gpu, _ = gf.compute(img, sel, device="gpu")
    assert fused_calls == []
    assert_cpu_bits(gpu, cpu)


def test_shared_memory_fits_a_block():
    """The widest operator halo (3 pixels: the tensor's outer + inner radius) at the default tile."""
    ry = fused._tables([10.0], (1.0, 1.0))[2][1][0]
    assert fused_gpu.halo(ry) == 3
    assert fused_gpu.shared_floats(fused_gpu.TILE, 3, 3) * 4 <= fused_gpu.MAX_SHARED
