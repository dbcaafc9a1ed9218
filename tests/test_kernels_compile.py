"""Every CUDA source in kernels/ compiles with nvcc (CI has nvcc but no GPU)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from gputrack import backend

NVCC = shutil.which("nvcc")
SOURCES = sorted(backend.kernels_dir().glob("*.cu"))


@pytest.mark.skipif(NVCC is None, reason="nvcc not on the PATH")
@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_kernel_compiles(source, tmp_path):
    # -ptx checks the device code the way NVRTC (cupy.RawModule) will build it at run time.
    cmd = [NVCC, "-arch=sm_90", "-std=c++17", "-ptx", str(source), "-o", str(tmp_path / "k.ptx")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"nvcc failed on {source.name}:\n{result.stderr[-3000:]}"
    assert (tmp_path / "k.ptx").stat().st_size > 0
