"""GPU features equal the CPU ones; the eigenvalue kernel equals its numba twin (``-m gpu``)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from gputrack import backend
from gputrack import features as gf

pytestmark = pytest.mark.gpu

FAMILIES = gf.FEATURE_IDS


def smooth_random(shape, seed=0):
    rng = np.random.default_rng(seed)
    img = ndi.gaussian_filter(rng.random(shape), 1.5) * 255
    return img.astype(np.float32)


def assert_close_per_channel(gpu, cpu, rel=1e-5):
    assert gpu.shape == cpu.shape
    for k in range(cpu.shape[-1]):
        scale = max(float(np.abs(cpu[..., k]).max()), 1e-6)
        err = float(np.abs(gpu[..., k] - cpu[..., k]).max())
        assert err <= rel * scale, (k, err, scale)


@pytest.mark.parametrize("feature", FAMILIES)
@pytest.mark.parametrize("shape", [(70, 66), (38, 40, 42)], ids=["2d", "3d"])
def test_every_family_gpu_equals_cpu(feature, shape):
    img = smooth_random(shape)
    scales = [s for s in gf.DEFAULT_SCALES if feature == "GaussianSmoothing" or s >= 0.7]
    cpu, names_cpu = gf.compute(img, {feature: scales}, device="cpu")
    gpu, names_gpu = gf.compute(backend.to_device(img, "gpu"), {feature: scales}, device="gpu")
    assert names_gpu == names_cpu
    assert backend.device_of(gpu) == "gpu"
    assert_close_per_channel(backend.to_host(gpu), cpu)


def test_multichannel_in_2d_gpu_equals_cpu():
    vol = np.stack([smooth_random((12, 48, 50), s) for s in range(2)], axis=-1)
    cpu, _ = gf.compute(vol, "all", axes="zyxc", in_2d=True, device="cpu")
    gpu, _ = gf.compute(vol, "all", axes="zyxc", in_2d=True, device="gpu")
    assert_close_per_channel(backend.to_host(gpu), cpu)


def test_blockwise_on_gpu_equals_whole_cpu():
    img = smooth_random((150, 130))
    sel = {"GaussianSmoothing": [10.0], "HessianOfGaussianEigenvalues": [1.6]}
    cpu, _ = gf.compute(img, sel, device="cpu")
    out = np.zeros_like(cpu)
    for region, block in gf.iter_feature_blocks(img, sel, (64, 64), device="gpu"):
        out[region] = backend.to_host(block)
    assert_close_per_channel(out, cpu)


@pytest.mark.parametrize("k", [2, 3])
def test_eigen_kernel_equals_twin(k):
    rng = np.random.default_rng(k)
    n = 100_003
    comps = [rng.normal(size=n).astype(np.float32) for _ in range(3 if k == 2 else 6)]
    comps[0][:50] = comps[-1][:50]  # some degenerate / diagonal matrices
    for c in comps[1:-1]:
        c[:50] = 0
    cpu = gf.symmetric_eigenvalues(comps, device="cpu")
    gpu = gf.symmetric_eigenvalues([backend.to_device(c, "gpu") for c in comps], device="gpu")
    np.testing.assert_allclose(backend.to_host(gpu), cpu, rtol=1e-6, atol=1e-6)


NON_TENSOR = {f: [0.7, 1.6, 3.5, 5.0] for f in FAMILIES if "Eigenvalues" not in f}


def test_gpu_feature_block_exists_once(emulated_cupy):
    """Device memory peak of a feature block: the stack once plus one scale's temporaries.

    (Planes then an interleaved copy, as before, held the stack twice: >= 2 x 16 channels.)
    """
    img = smooth_random((96, 80))
    cpu, _ = gf.compute(img, NON_TENSOR, device="cpu")
    stack_bytes = cpu.nbytes  # 16 channels
    emulated_cupy.memory.reset_peak()
    base = emulated_cupy.memory.used
    (region, block), = list(gf.iter_feature_blocks(img, NON_TENSOR, (96, 80), device="gpu"))
    peak = emulated_cupy.memory.peak - base
    assert backend.device_of(block) == "gpu" and block.flags.c_contiguous
    np.testing.assert_array_equal(backend.to_host(block), cpu)  # float64 passes: the CPU bits
    channel = stack_bytes // cpu.shape[-1]
    assert stack_bytes < peak <= stack_bytes + 20 * channel, (peak / channel, cpu.shape[-1])


def test_out_of_memory_in_the_consumer_splits_blocks(emulated_cupy):
    """An OOM raised after the features (e.g. in the forest) retries with smaller blocks."""
    img = smooth_random((128, 96))
    sel = {"GaussianSmoothing": [1.0], "GaussianGradientMagnitude": [0.7]}
    cpu, _ = gf.compute(img, sel, device="cpu")
    big = 128 * 96 * 3 * 4  # a whole-image block's "forest output" of 3 float32 per pixel
    emulated_cupy.memory.fail_allocations(at_least=big // 2 + 1, times=10**6)
    seen = []

    def consumer(feats):
        cp = backend.array_module("gpu")
        out = cp.empty(feats.shape[:-1] + (3,), cp.float32)  # fails for blocks over half the image
        out[...] = feats[..., :1]
        return feats

    out = np.full(cpu.shape, np.nan, np.float32)
    for region, block in gf.iter_feature_blocks(img, sel, device="gpu", transform=consumer):
        seen.append(tuple(r.stop - r.start for r in region))
        out[region] = backend.to_host(block)
    assert emulated_cupy.memory.failures >= 1
    assert len(seen) >= 2 and all(np.prod(s) * 12 <= big // 2 for s in seen)
    np.testing.assert_array_equal(out, cpu)


def test_out_of_memory_with_explicit_blocks_is_raised(emulated_cupy):
    img = smooth_random((64, 64))
    emulated_cupy.memory.fail_allocations(at_least=1, times=1)
    with pytest.raises(emulated_cupy.cuda.memory.OutOfMemoryError):
        list(gf.iter_feature_blocks(img, {"GaussianSmoothing": [1.0]}, (64, 64), device="gpu"))
