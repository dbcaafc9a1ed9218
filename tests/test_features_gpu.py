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
