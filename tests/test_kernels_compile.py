"""Every CUDA source in kernels/, and every template instantiation the code launches, compiles with nvcc.

CI has nvcc but no GPU. ``nvcc -ptx`` of a source alone emits only its ``extern "C"``
kernels (templates are instantiated at run time through NVRTC's ``name_expressions``), so
a second check compiles a generated unit that includes the source and takes the address
of each instantiation the Python side names -- what NVRTC does -- and counts the kernels
(``.entry``) in the PTX.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess

import pytest

from gputrack import backend
from gputrack.features import fused_gpu
from gputrack.segment import labeling
from tests.emulation.cuda_host.rewrite import rewrite_source

NVCC = shutil.which("nvcc")
SOURCES = sorted(backend.kernels_dir().glob("*.cu"))

#: the name_expressions the Python code passes to backend.load_kernel, per source
NAME_EXPRESSIONS = {
    "eigen.cu": (),
    "features2d.cu": (),
    "forest.cu": importlib.import_module("gputrack.forest.predict")._NAME_EXPRESSIONS,
    "objects_ccl.cu": labeling._NAME_EXPRESSIONS,
    "regions.cu": (),
    "watershed.cu": (),
}


#: NVRTC options other than the default the Python code passes, per source
OPTIONS = {fused_gpu.SOURCE: tuple(o for o in fused_gpu.OPTIONS if not o.startswith("-std="))}


def nvcc_ptx(path, out, options=()):
    # -ptx checks the device code the way NVRTC (cupy.RawModule) will build it at run time.
    cmd = [NVCC, "-arch=sm_90", "-std=c++17", *options, "-ptx", str(path), "-o", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_every_source_is_registered():
    assert sorted(NAME_EXPRESSIONS) == [p.name for p in SOURCES]


@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_every_template_kernel_is_instantiated(source):
    """Each template kernel of a source is named by at least one expression the code launches."""
    _, kernels = rewrite_source(source.read_text())
    templates = {name for name, extern_c in kernels if not extern_c}
    named = {re.match(r"\s*(\w+)", e).group(1) for e in NAME_EXPRESSIONS[source.name]}
    assert templates <= named, f"{source.name}: never instantiated: {sorted(templates - named)}"
    assert named <= templates, f"{source.name}: not a template kernel: {sorted(named - templates)}"


@pytest.mark.skipif(NVCC is None, reason="nvcc not on the PATH")
@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_kernel_compiles(source, tmp_path):
    result = nvcc_ptx(source, tmp_path / "k.ptx", OPTIONS.get(source.name, ()))
    assert result.returncode == 0, f"nvcc failed on {source.name}:\n{result.stderr[-3000:]}"
    assert (tmp_path / "k.ptx").stat().st_size > 0


@pytest.mark.skipif(NVCC is None, reason="nvcc not on the PATH")
@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_every_instantiation_compiles(source, tmp_path):
    exprs = tuple(dict.fromkeys(NAME_EXPRESSIONS[source.name]))
    _, kernels = rewrite_source(source.read_text())
    extern_c = [name for name, is_c in kernels if is_c]
    unit = tmp_path / "instantiations.cu"
    refs = ", ".join(f"(void*)&{e}" for e in exprs) or "nullptr"
    unit.write_text(f'#include "{source}"\nvoid* gputrack_kernel_refs[] = {{{refs}}};\n')
    result = nvcc_ptx(unit, tmp_path / "k.ptx", OPTIONS.get(source.name, ()))
    assert result.returncode == 0, f"nvcc failed on {source.name} with {exprs}:\n{result.stderr[-3000:]}"
    entries = re.findall(r"\.entry\s+(\w+)", (tmp_path / "k.ptx").read_text())
    assert len(entries) == len(extern_c) + len(exprs), (source.name, entries)
    for name in extern_c:
        assert name in entries
