"""Shared pytest fixtures: the shared data folder, GPU skipping, temporary outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gputrack import backend

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("GPUTRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _emulating() -> bool:
    """``-m gpu`` tests run under tests/emulation when no GPU is usable (``GPUTRACK_EMULATION=0``: skip)."""
    return not backend.gpu_available() and os.environ.get("GPUTRACK_EMULATION", "1") != "0"


def pytest_collection_modifyitems(config, items):
    if backend.gpu_available() or _emulating():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (cupy with a device), GPUTRACK_EMULATION=0")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def gpu_emulation(request, monkeypatch):
    """For a ``-m gpu`` test without a GPU: the strict cupy stand-in, for this test only.

    ``cupy`` / ``cupyx.scipy.ndimage`` resolve to ``tests/emulation/fake_cupy`` and
    gputrack's backend sees one emulated device, so ``device="gpu"`` runs the GPU code
    paths (kernels through the host CUDA runtime, scheduled by
    ``GPUTRACK_EMULATION_SCHEDULE=serial|random:SEED``). Plain tests keep ``device="auto"``
    on the CPU. The value is the stand-in module (``None`` on a real GPU or a plain test).
    """
    if request.node.get_closest_marker("gpu") is None or not _emulating():
        yield None
        return
    from tests.emulation import fake_cupy  # noqa: PLC0415

    cp = fake_cupy.install(monkeypatch)
    monkeypatch.setattr(backend, "_cupy_status", lambda: (cp, "1 emulated CUDA device"))
    backend._raw_module.cache_clear()
    fake_cupy.reset()
    try:
        yield cp
    finally:
        backend._raw_module.cache_clear()
        fake_cupy.reset()


@pytest.fixture
def emulated_cupy(gpu_emulation):
    """The stand-in (transfer log, memory accounting, fault injection); skips on a real GPU."""
    if gpu_emulation is None:
        pytest.skip("needs the GPU emulation (transfer counting, injected out-of-memory)")
    return gpu_emulation


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def shared_path(*parts: str) -> Path:
    """A path under the shared data folder, skipping the test when it is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path
