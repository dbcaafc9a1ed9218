"""Device choice, namespaces, transfers, block sizing and kernel loading."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.ndimage

from gputrack import backend
from gputrack.errors import DeviceError, InputError


def test_cpu_namespaces():
    assert backend.resolve_device("cpu") == "cpu"
    assert backend.array_module("cpu") is np
    assert backend.ndimage_module("cpu") is scipy.ndimage


def test_unknown_device_is_a_clear_error():
    with pytest.raises(InputError, match="'tpu'.*auto, cpu, gpu"):
        backend.resolve_device("tpu")


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is present")
def test_gpu_without_gpu_is_a_clear_error():
    with pytest.raises(DeviceError, match="device='gpu'.*no GPU"):
        backend.resolve_device("gpu")
    with pytest.raises(DeviceError):
        backend.array_module("gpu")


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is present")
def test_auto_falls_back_to_cpu_and_says_so(caplog, monkeypatch):
    monkeypatch.delenv("GPUTRACK_DEVICE", raising=False)
    backend._log_fallback_once.cache_clear()
    with caplog.at_level(logging.INFO, logger="gputrack"):
        assert backend.resolve_device("auto") == "cpu"
        assert backend.resolve_device(None) == "cpu"
    assert "using the CPU" in caplog.text


def test_environment_variable(monkeypatch):
    monkeypatch.setenv("GPUTRACK_DEVICE", "cpu")
    assert backend.resolve_device("auto") == "cpu"
    monkeypatch.setenv("GPUTRACK_DEVICE", "quantum")
    with pytest.raises(InputError, match="GPUTRACK_DEVICE"):
        backend.resolve_device("auto")
    # an explicit device wins over the environment
    assert backend.resolve_device("cpu") == "cpu"


def test_transfers_round_trip():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = backend.to_device(a, "cpu")
    assert backend.device_of(b) == "cpu"
    assert backend.namespace_of(b) is np
    np.testing.assert_array_equal(backend.to_host(b), a)
    c = backend.to_device([1, 2, 3], "cpu", dtype=np.float64)
    assert c.dtype == np.float64


def test_block_shape_fits_budget():
    budget = 4 << 20
    for shape, halo in [((10000, 10000), 0), ((3000, 5000), 16), ((64, 512, 512), 8), ((100,), 0)]:
        block = backend.block_shape(shape, 4, budget=budget, halo=halo)
        assert len(block) == len(shape)
        assert all(1 <= b <= s for b, s in zip(block, shape))
        cost = np.prod([b + 2 * halo for b in block]) * 4
        minimal = all(b <= 32 for b in block)
        assert cost <= budget or minimal
    # everything fits: the whole array is one block
    assert backend.block_shape((100, 200), 4, budget=1 << 30) == (100, 200)


def test_block_shape_uses_free_memory():
    assert backend.free_memory("cpu") > 0
    block = backend.block_shape((1 << 20, 1 << 20), 4, device="cpu", fraction=0.01)
    assert np.prod(block) * 4 <= backend.free_memory("cpu") * 0.02


def test_out_of_memory_detection():
    assert backend.is_out_of_memory(MemoryError())
    assert not backend.is_out_of_memory(ValueError("memory"))


def test_kernel_sources_are_found():
    files = sorted(p.name for p in backend.kernels_dir().glob("*.cu"))
    assert files, "kernels/*.cu not found"
    for name in files:
        assert "__global__" in backend.kernel_source(name)
    with pytest.raises(FileNotFoundError):
        backend.kernel_source("no_such_kernel.cu")


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is present")
def test_load_kernel_without_gpu():
    name = sorted(backend.kernels_dir().glob("*.cu"))[0].name
    with pytest.raises(DeviceError):
        backend.load_kernel(name, "anything")


def test_describe_has_machine_facts():
    info = backend.describe()
    assert info["cpu_count"] >= 1
    assert info["default_device"] in ("cpu", "gpu")


@pytest.mark.gpu
def test_gpu_namespaces_and_transfer():
    import cupy as cp
    import cupyx.scipy.ndimage as cndi

    assert backend.array_module("gpu") is cp
    assert backend.ndimage_module("gpu") is cndi
    a = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    d = backend.to_device(a, "gpu")
    assert backend.device_of(d) == "gpu"
    np.testing.assert_array_equal(backend.to_host(d), a)
    assert backend.free_memory("gpu") > 0
