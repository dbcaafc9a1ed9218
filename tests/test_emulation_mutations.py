"""The host emulation catches broken kernels: a removed ``__syncthreads``, a non-atomic update.

Each test compiles a mutated copy of a kernel source (one textual change) and checks that
the result no longer equals the CPU twin, while the unmutated kernel does. The last test
counts the steps of ``ccl_find`` (a counter inserted in its loop) to show what path halving
buys under interleaving.
"""

from __future__ import annotations

import importlib
import shutil

import numpy as np
import pytest

from gputrack import backend
from gputrack.objects import regions
from gputrack.segment import labeling

from .test_emulation_kernels import features2d_launch, features2d_twin, forest_launch, region_labels

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="no host C++ compiler (g++)")

predict = importlib.import_module("gputrack.forest.predict")


@pytest.fixture(scope="module")
def cuda_host():
    from tests.emulation import cuda_host as ch

    return ch


def mutate(source: str, old: str, new: str) -> str:
    """``source`` with the single occurrence of ``old`` replaced by ``new``."""
    assert source.count(old) == 1, f"{old!r} occurs {source.count(old)} times"
    return source.replace(old, new)


class _Patched:
    """Make backend.kernel_source return a mutated text for one file (used by the launch helpers)."""

    def __init__(self, monkeypatch, filename, text):
        original = backend.kernel_source
        monkeypatch.setattr(backend, "kernel_source", lambda f: text if f == filename else original(f))


@pytest.fixture(scope="module")
def forest():
    from sklearn.ensemble import RandomForestClassifier

    from gputrack.forest import from_sklearn

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 7)).astype(np.float32)
    y = (X[:, 0] + X[:, 2] > 0).astype(int) + 2 * (X[:, 1] > 0.5)
    return from_sklearn(RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0).fit(X, y))


def test_removed_syncthreads_is_caught(cuda_host, forest, monkeypatch):
    """forest_proba stages rows in shared memory; without the barrier threads read unstaged rows."""
    X = np.random.default_rng(2).normal(size=(200, forest.n_features)).astype(np.float32)
    want = predict._predict_cpu(forest, X)
    np.testing.assert_array_equal(forest_launch(cuda_host, forest, X, True, "serial"), want)
    source = backend.kernel_source("forest.cu")
    _Patched(monkeypatch, "forest.cu", mutate(source, "__syncthreads();", ""))
    for schedule in ("serial", "random:1"):
        got = forest_launch(cuda_host, forest, X, True, schedule)
        assert not np.array_equal(got, want), schedule


def coord_counts(ch, schedule):
    """Pixel counts per object from coord_pass1 (as regions._gpu_passes launches it)."""
    lab, _ = region_labels()
    idx, ids = regions.compact_labels(lab)
    idx = np.ascontiguousarray(idx, dtype=np.int32)
    n = ids.size
    _, ny, nx = lab.shape
    acc1 = np.zeros((n + 1, 4))
    bbox = np.empty((n + 1, 6), np.int32)
    bbox[:, :3], bbox[:, 3:] = np.iinfo(np.int32).max, -1
    mod = ch.RawModule(code=backend.kernel_source("regions.cu"))
    args = (idx, np.int64(idx.size), np.int32(ny), np.int32(nx), np.int32(regions._RUN), acc1, bbox)
    mod.get_function("coord_pass1")(regions._grid(idx.size), (regions._THREADS,), args, schedule=schedule)
    return acc1[1:, 0], np.bincount(idx, minlength=n + 1)[1:].astype(float)


def test_removed_syncthreads_in_features2d_is_caught(cuda_host, monkeypatch):
    """The barrier between the tensor's products and their outer smoothing (features2d.cu)."""
    img = np.random.default_rng(4).random((21, 19)).astype(np.float32)
    cpu = features2d_twin(img, [1.0])
    np.testing.assert_array_equal(features2d_launch(cuda_host, img, [1.0], "random:1", (8, 8)), cpu)
    source = backend.kernel_source("features2d.cu")
    barrier = "    __syncthreads();\n\n    // the tensor's"
    _Patched(monkeypatch, "features2d.cu", mutate(source, barrier, "\n    // the tensor's"))
    gpu = features2d_launch(cuda_host, img, [1.0], "random:1", (8, 8))
    assert not np.array_equal(gpu, cpu)


def test_non_atomic_update_is_caught(cuda_host, monkeypatch):
    """atomicAdd(&acc1[...], s[0]) -> acc1[...] += s[0]: lost updates under random scheduling."""
    got, want = coord_counts(cuda_host, "random:1")
    np.testing.assert_array_equal(got, want)
    source = backend.kernel_source("regions.cu")
    _Patched(
        monkeypatch,
        "regions.cu",
        mutate(source, "atomicAdd(&acc1[cur * 4 + 0], s[0]);", "acc1[cur * 4 + 0] += s[0];"),
    )
    got, want = coord_counts(cuda_host, "serial")
    np.testing.assert_array_equal(got, want)  # no interleaving, no lost update
    lost = [not np.array_equal(coord_counts(cuda_host, f"random:{seed}")[0], want) for seed in range(1, 5)]
    assert any(lost), lost


_FIND_LOOP = "    while (p != a) {\n        const I g = parent[p];"
_FIND_WITHOUT_HALVING = """    while (p != a) {
        gpt::count(0);
        a = p;
        p = parent[a];
    }
    return a;
}
"""


def find_steps(ch, vol, schedule, halving):
    """Steps of ccl_find per foreground pixel over ccl_merge and ccl_compress."""
    source = backend.kernel_source("objects_ccl.cu")
    if halving:
        source = mutate(source, _FIND_LOOP, _FIND_LOOP.replace("{\n", "{\n        gpt::count(0);\n", 1))
    else:
        start = source.index(_FIND_LOOP)
        end = source.index("template <typename I>\n__device__ __forceinline__ void ccl_unite")
        source = source[:start] + _FIND_WITHOUT_HALVING + "\n" + source[end:]
    names = labeling._kernel_names(1, 4)
    mod = ch.RawModule(code=source, name_expressions=names)
    init, merge, compress = (mod.get_function(k) for k in names)
    nz, ny, nx = vol.shape
    parent = np.empty(vol.size, np.int32)
    grid, block = ((vol.size + 255) // 256,), (256,)
    init(grid, block, (vol, parent, np.int64(vol.size)), schedule=schedule)
    merge(grid, block, (vol, parent, np.int32(nz), np.int32(ny), np.int32(nx)), schedule=schedule)
    steps = merge.counters[0]
    compress(grid, block, (parent, np.int64(vol.size)), schedule=schedule)
    np.testing.assert_array_equal(parent, twin_parent_of(vol))
    return (steps + compress.counters[0]) / max(int(vol.astype(bool).sum()), 1)


def twin_parent_of(vol):
    parent = np.empty(vol.size, np.int32)
    labeling._ccl_twin(vol, parent, np.empty(vol.size, np.uint32))
    return parent


def test_path_halving_shortens_finds(cuda_host):
    """Large connected foreground: interleaved unions build chains that halving keeps short.

    Serially every union hangs a root below an already flat tree (paths of one or two
    steps), so halving has nothing to shorten there.
    """
    vol = np.ones((1, 64, 96), np.uint8)
    vol[0, 10:50:6, 5:90] = 0  # bars: unions meet from several sides
    steps = {
        (schedule, halving): find_steps(cuda_host, vol, schedule, halving)
        for schedule in ("serial", "random:1")
        for halving in (False, True)
    }
    print({k: round(v, 2) for k, v in steps.items()})  # serial 3.7 / 3.7, random:1 13.2 -> 4.5
    assert steps[("serial", True)] <= steps[("serial", False)]
    assert steps[("random:1", True)] < 0.5 * steps[("random:1", False)]
