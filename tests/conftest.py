"""Shared pytest fixtures: the shared data folder, GPU skipping, temporary outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gputrack import backend

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("GPUTRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))


def pytest_collection_modifyitems(config, items):
    if backend.gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (cupy with a device)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


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
