"""Each CUDA kernel of kernels/, run on the host emulation, equals its CPU twin (serial and random schedules).

The launches use the grid, block and arguments of the GPU paths in gputrack (labeling.py,
regions.py, eigen.py, forest/predict.py, features/fused_gpu.py); the twins are the numba
functions those modules run on the CPU.
"""

from __future__ import annotations

import functools
import importlib
import shutil

import numpy as np
import pytest
import scipy.ndimage as ndi

from gputrack import backend
from gputrack.features import eigen, fused, fused_gpu
from gputrack.objects import regions
from gputrack.segment import labeling

predict = importlib.import_module("gputrack.forest.predict")  # the package re-exports a function of that name

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="no host C++ compiler (g++)")

SCHEDULES = ["serial", "random:1", "random:2"]


@pytest.fixture(scope="module")
def cuda_host():
    from tests.emulation import cuda_host as ch

    return ch


def module(ch, filename, name_expressions=()):
    return ch.RawModule(
        code=backend.kernel_source(filename),
        options=("-std=c++17",),
        name_expressions=tuple(name_expressions),
    )


# --------------------------------------------------------------------------- eigen.cu


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("k", [2, 3])
def test_eigenvalues_equal_twin(cuda_host, schedule, k):
    rng = np.random.default_rng(k)
    n = 3001
    comps = [rng.normal(size=n).astype(np.float32) for _ in range(3 if k == 2 else 6)]
    comps[0][:7] = 0.0  # a few degenerate matrices
    comps[1][:7] = 0.0
    cpu = np.empty((k, n), np.float32)
    (eigen._eig2_cpu if k == 2 else eigen._eig3_cpu)(*comps, *cpu)
    gpu = np.full((k, n), np.nan, np.float32)
    fn = module(cuda_host, "eigen.cu").get_function(f"sym_eigvals{k}")
    blocks = 5  # fewer blocks than needed: the grid-stride loop covers the rest
    fn((blocks,), (eigen._THREADS,), (*comps, *gpu, np.int64(n)), schedule=schedule)
    np.testing.assert_array_max_ulp(gpu, cpu, maxulp=1)


# --------------------------------------------------------------------------- features2d.cu


def features2d_launch(ch, img, scales, schedule, tile):
    """Every family of ``scales`` on a ``(y, x)`` plane through features2d.cu, as fused_gpu launches it."""
    mod = module(ch, "features2d.cu")
    kernels = tuple(functools.partial(mod.get_function(k), schedule=schedule) for k in fused_gpu.KERNELS)
    chans = np.arange(8 * len(scales), dtype=np.int64).reshape(1, len(scales), 8)
    ny, nx = img.shape
    out = np.full((1, 1, ny, nx, chans.size), np.nan, np.float32)
    crop = (slice(0, 1), slice(0, 1), slice(0, ny), slice(0, nx))
    fused_gpu.fused_planes_gpu(img[None, None, :, :, None], scales, chans, (1.0, 1.0), out, crop, tile=tile,
                               kernels=kernels)
    return out[0, 0]


def features2d_twin(img, scales):
    chans = np.arange(8 * len(scales), dtype=np.int64).reshape(len(scales), 8)
    out = np.empty(img.shape + (chans.size,), np.float32)
    fused.fused_planes(img, scales, chans, (1.0, 1.0), out, (0, img.shape[0]), 0)
    return out


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("tile", [(16, 16), (3, 5)])
def test_features2d_equals_twin(cuda_host, schedule, tile):
    img = (ndi.gaussian_filter(np.random.default_rng(3).random((29, 23)), 1.5) * 255).astype(np.float32)
    scales = [0.3, 1.0, 5.0]
    gpu = features2d_launch(cuda_host, img, scales, schedule, tile)
    np.testing.assert_array_equal(gpu, features2d_twin(img, scales))


# --------------------------------------------------------------------------- objects_ccl.cu


def ccl_parent(ch, vol, schedule, index=np.int32):
    """The parent forest after ccl_init / ccl_merge / ccl_compress, launched as labeling._label_gpu does."""
    names = labeling._kernel_names(vol.dtype.itemsize, np.dtype(index).itemsize)
    mod = module(ch, "objects_ccl.cu", names)
    init, merge, compress = (mod.get_function(k) for k in names)
    nz, ny, nx = vol.shape
    size = vol.size
    parent = np.empty(size, index)
    grid, block = ((size + labeling._THREADS - 1) // labeling._THREADS,), (labeling._THREADS,)
    init(grid, block, (vol, parent, np.int64(size)), schedule=schedule)
    merge(grid, block, (vol, parent, np.int32(nz), np.int32(ny), np.int32(nx)), schedule=schedule)
    compress(grid, block, (parent, np.int64(size)), schedule=schedule)
    return parent, compress


def twin_parent(vol, index=np.int32):
    parent = np.empty(vol.size, index)
    out = np.empty(vol.size, np.uint32)
    labeling._ccl_twin(vol, parent, out)
    return parent


def ccl_volumes():
    rng = np.random.default_rng(0)
    mask2 = ndi.binary_opening(rng.random((1, 48, 53)) > 0.45).astype(np.uint8)
    mask3 = (rng.random((6, 17, 19)) > 0.5).astype(np.uint8)
    spiral = np.zeros((1, 31, 31), np.uint8)  # one long snake: long union chains
    spiral[0, ::2, :] = 1
    spiral[0, 1::4, -1] = 1
    spiral[0, 3::4, 0] = 1
    values = rng.integers(0, 4, size=(3, 20, 22))
    return {
        "mask2d": mask2,
        "mask3d": mask3,
        "snake": spiral,
        "values-u16": values.astype(np.uint16),
        "values-u32": values.astype(np.uint32),
        "values-u64": (values * 2**40).astype(np.uint64),
    }


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name", list(ccl_volumes()))
def test_ccl_equals_twin(cuda_host, schedule, name):
    vol = np.ascontiguousarray(ccl_volumes()[name])
    np.testing.assert_array_equal(ccl_parent(cuda_host, vol, schedule)[0], twin_parent(vol))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_ccl_64bit_indices_equal_twin(cuda_host, schedule):
    """The long long instantiations (frames of 2**31 pixels and more) give the same forest."""
    vol = np.ascontiguousarray(ccl_volumes()["values-u16"])
    got, _ = ccl_parent(cuda_host, vol, schedule, index=np.int64)
    np.testing.assert_array_equal(got, twin_parent(vol, np.int64))
    np.testing.assert_array_equal(got, twin_parent(vol))


# --------------------------------------------------------------------------- regions.cu


def region_labels():
    rng = np.random.default_rng(3)
    lab, _ = ndi.label(ndi.binary_opening(rng.random((4, 40, 45)) > 0.4))
    lab[1, 5:35, 3:40] = 999  # one big object spanning many runs (many threads add to it)
    return lab, rng.normal(size=lab.shape).astype(np.float32) * 10 + 100


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_regions_equal_twin(cuda_host, schedule):
    lab, vals = region_labels()
    idx, ids = regions.compact_labels(lab)
    idx = np.ascontiguousarray(idx, dtype=np.int32)
    n = ids.size
    _, ny, nx = lab.shape
    mod = module(cuda_host, "regions.cu")
    size, grid, block = np.int64(idx.size), regions._grid(idx.size), (regions._THREADS,)
    run = np.int32(regions._RUN)

    def fresh():
        acc1 = np.zeros((n + 1, 4))
        bbox = np.empty((n + 1, 6), np.int32)
        bbox[:, :3], bbox[:, 3:] = np.iinfo(np.int32).max, -1
        return acc1, bbox, np.zeros((n + 1, regions.N_COORD_MOMENTS))

    acc1, bbox, acc2 = fresh()
    mod.get_function("coord_pass1")(
        grid, block, (idx, size, np.int32(ny), np.int32(nx), run, acc1, bbox), schedule=schedule
    )
    mean = np.ascontiguousarray(acc1[:, 1:] / np.maximum(acc1[:, :1], 1.0))
    mod.get_function("coord_pass2")(
        grid, block, (idx, size, np.int32(ny), np.int32(nx), run, mean, acc2), schedule=schedule
    )
    t_acc1, t_bbox, t_acc2 = fresh()
    t_bbox = t_bbox.astype(np.int64)
    regions._coord_pass1(idx, ny, nx, t_acc1, t_bbox)
    regions._coord_pass2(idx, ny, nx, mean, t_acc2)
    np.testing.assert_array_equal(acc1, t_acc1)  # sums of integers: exact in any order
    np.testing.assert_array_equal(bbox, t_bbox)
    np.testing.assert_allclose(acc2, t_acc2, rtol=1e-12, atol=1e-9)

    v = np.ascontiguousarray(vals.ravel())
    s, lo, hi, cen = (
        np.zeros(n + 1),
        np.full(n + 1, np.inf, np.float32),
        np.full(n + 1, -np.inf, np.float32),
        np.zeros((n + 1, 3)),
    )
    mod.get_function("value_pass1")(grid, block, (idx, v, size, run, s, lo, hi), schedule=schedule)
    vmean = np.ascontiguousarray(s / np.maximum(acc1[:, 0], 1.0))
    mod.get_function("value_pass2")(grid, block, (idx, v, size, run, vmean, cen), schedule=schedule)
    ts, tlo, thi, tcen = (
        np.zeros(n + 1),
        np.full(n + 1, np.inf, np.float32),
        np.full(n + 1, -np.inf, np.float32),
        np.zeros((n + 1, 3)),
    )
    regions._value_pass1(idx, v, ts, tlo, thi)
    regions._value_pass2(idx, v, vmean, tcen)
    np.testing.assert_allclose(s, ts, rtol=1e-12)
    np.testing.assert_array_equal(lo, tlo)
    np.testing.assert_array_equal(hi, thi)
    np.testing.assert_allclose(cen, tcen, rtol=1e-10, atol=1e-6)


# --------------------------------------------------------------------------- forest.cu


@pytest.fixture(scope="module")
def small_forests():
    from sklearn.ensemble import RandomForestClassifier

    from gputrack.forest import from_sklearn

    rng = np.random.default_rng(5)
    out = {}
    for n_classes, n_features in [(3, 6), (5, 9), (40, 4)]:
        X = rng.normal(size=(400, n_features)).astype(np.float32)
        y = (X[:, 0] * 3 + X[:, 1]).astype(int) % n_classes
        rf = RandomForestClassifier(n_estimators=6, max_depth=7, random_state=0).fit(X, y)
        out[n_classes] = from_sklearn(rf)
    return out


def forest_launch(ch, forest, X, stage, schedule):
    """forest_proba as predict._predict_gpu_block launches it, with STAGE forced."""
    from gputrack.forest.model import packed_nodes

    n, n_features = X.shape
    threads, _, shared = predict._launch_config(n_features)
    if not stage:
        shared = 0
    mod = module(ch, "forest.cu", predict._NAME_EXPRESSIONS)
    kernel = mod.get_function(predict._kernel_name(forest.n_classes, stage))
    out = np.full((n, forest.n_classes), np.nan, np.float32)
    args = (
        X,
        np.int64(n),
        np.int32(n_features),
        packed_nodes(forest),
        forest.tree_offsets[:-1].astype(np.int32),
        np.int32(forest.n_trees),
        np.ascontiguousarray(forest.value, dtype=np.float32),
        np.int32(forest.n_classes),
        np.int32(forest.op == "lt"),
        np.float32(1.0 / forest.n_trees),
        out,
    )
    kernel(((n + threads - 1) // threads,), (threads,), args, shared_mem=shared, schedule=schedule)
    return out


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("stage", [True, False])
@pytest.mark.parametrize("n_classes", [3, 5, 40])
def test_forest_equals_twin(cuda_host, small_forests, schedule, stage, n_classes):
    forest = small_forests[n_classes]
    rng = np.random.default_rng(n_classes)
    X = rng.normal(size=(300, forest.n_features)).astype(np.float32)
    X[::17, 0] = np.nan  # missing values follow missing_left
    got = forest_launch(cuda_host, forest, X, stage, schedule)
    np.testing.assert_array_equal(got, predict._predict_cpu(forest, X))


# --------------------------------------------------------------------------- the runtime's checks


def test_argument_checks(cuda_host):
    fn = module(cuda_host, "eigen.cu").get_function("sym_eigvals2")
    a = np.zeros(10, np.float32)
    with pytest.raises(cuda_host.ArgumentError, match="expected a scalar of int64, got int32"):
        fn((1,), (32,), (a, a, a, a, a, np.int32(10)))
    with pytest.raises(cuda_host.ArgumentError, match="expected an array of float32, got float64"):
        fn((1,), (32,), (a, a, np.zeros(10), a, a, np.int64(10)))
    with pytest.raises(cuda_host.ArgumentError, match="not C-contiguous"):
        fn((1,), (32,), (a, a, np.zeros(20, np.float32)[::2], a, a, np.int64(10)))
    with pytest.raises(cuda_host.ArgumentError, match="expected 6 arguments"):
        fn((1,), (32,), (a, a, a))
    with pytest.raises(cuda_host.LaunchError, match="out of bounds"):
        fn((1,), (32,), (a, a, a, a, a, np.int64(11)))
    with pytest.raises(cuda_host.LaunchError, match="exceeds 1024 threads"):
        fn((1,), (2048,), (a, a, a, a, a, np.int64(10)))
    with pytest.raises(cuda_host.LaunchError, match="not found"):
        module(cuda_host, "objects_ccl.cu").get_function("ccl_init<unsigned char>")
    with pytest.raises(ValueError, match="serial"):
        fn((1,), (32,), (a, a, a, a, a, np.int64(10)), schedule="fast")


def test_schedules_interleave(cuda_host):
    """Serial runs each thread to its end; random interleaves threads of several blocks."""
    src = r"""
    extern "C" __global__ void order(int* ticket, int* seen, long long n) {
        long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
        int a = atomicAdd(&ticket[0], 1);
        int b = atomicAdd(&ticket[0], 1);
        seen[i] = b - a;
    }
    """
    mod = cuda_host.RawModule(code=src)
    fn = mod.get_function("order")
    for schedule, interleaved in [("serial", False), ("random:3", True)]:
        ticket, seen = np.zeros(1, np.int32), np.zeros(256, np.int32)
        fn((8,), (32,), (ticket, seen, np.int64(256)), schedule=schedule)
        assert ticket[0] == 512  # atomics never lose an update
        assert bool((seen > 1).any()) == interleaved


def test_syncthreads_is_a_barrier(cuda_host):
    src = r"""
    extern "C" __global__ void rotate(const float* x, float* y) {
        extern __shared__ float s[];
        __shared__ int hits[1];
        unsigned t = threadIdx.x;
        if (t == 0) hits[0] = 0;
        s[t] = x[blockIdx.x * blockDim.x + t];
        __syncthreads();
        atomicAdd(&hits[0], 1);
        __syncthreads();
        float bad = hits[0] == (int)blockDim.x ? 0.0f : 1000.0f;
        y[blockIdx.x * blockDim.x + t] = s[(t + 1) % blockDim.x] + bad;
    }
    """
    fn = cuda_host.RawModule(code=src).get_function("rotate")
    x = np.arange(4 * 64, dtype=np.float32)
    for schedule in SCHEDULES:
        y = np.zeros_like(x)
        fn((4,), (64,), (x, y), shared_mem=64 * 4, schedule=schedule)
        np.testing.assert_array_equal(y, np.roll(x.reshape(4, 64), -1, axis=1).ravel())


def test_ucontext_fibers_equal_fast_switch(cuda_host, monkeypatch):
    """The portable ucontext build (GPUTRACK_EMULATION_FIBERS=ucontext) runs the same launches."""
    vol = np.ascontiguousarray(ccl_volumes()["mask2d"])
    fast = ccl_parent(cuda_host, vol, "random:1")[0]
    monkeypatch.setenv(cuda_host.runtime.FIBERS_ENV, "ucontext")
    slow, compress = ccl_parent(cuda_host, vol, "random:1")
    np.testing.assert_array_equal(slow, fast)
    np.testing.assert_array_equal(slow, twin_parent(vol))
    assert compress.counters[7] >= vol.size  # every thread ran as a fiber


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("if (threadIdx.x < 16) { __syncthreads(); } else {\n __syncthreads(); }", "divergent __syncthreads"),
        ("if (threadIdx.x == 3) return;\n __syncthreads();", "exited"),
        ("if (threadIdx.x == 0) __syncthreads();", "exited"),
    ],
    ids=["two-barriers", "early-return", "one-thread"],
)
def test_barrier_misuse_is_reported(cuda_host, body, message):
    src = 'extern "C" __global__ void k(int* x) {\n' + body + "\n x[threadIdx.x] = 1; }"
    fn = cuda_host.RawModule(code=src).get_function("k")
    for schedule in SCHEDULES:
        with pytest.raises(cuda_host.LaunchError, match=message):
            fn((1,), (32,), (np.zeros(32, np.int32),), schedule=schedule)
