"""The pixel workflow on the GPU equals the CPU one; its out-of-memory retry shrinks blocks (``-m gpu``)."""

from __future__ import annotations

import numpy as np
import pytest

from gputrack import backend, pixel
from gputrack.datasets import synthetic_timelapse

pytestmark = pytest.mark.gpu

FEATURES = {
    "GaussianSmoothing": [0.7, 1.6],
    "HessianOfGaussianEigenvalues": [1.0],
    "DifferenceOfGaussians": [3.5],
}


@pytest.fixture(scope="module")
def trained():
    data = synthetic_timelapse(n_frames=2, shape=(72, 64), n_cells=4, seed=5)
    clf = pixel.train([data.raw[0]], [data.scribbles[0]], FEATURES, axes="yx", n_trees=8, random_state=0,
                      device="cpu", n_jobs=1)
    return clf, data.raw[1]


def test_gpu_probabilities_equal_cpu(trained):
    clf, img = trained
    cpu = pixel.predict(clf, img, axes="yx", device="cpu")
    gpu = pixel.predict(clf, img, axes="yx", device="gpu", keep_on_device=True)
    assert backend.device_of(gpu) == "gpu"
    np.testing.assert_allclose(backend.to_host(gpu), cpu, rtol=0, atol=1e-6)
    seg = pixel.predict(clf, img, axes="yx", output="simple-segmentation", device="gpu")
    assert np.array_equal(seg, pixel.predict(clf, img, axes="yx", output="simple-segmentation", device="cpu"))


def test_forest_out_of_memory_shrinks_the_blocks(trained, emulated_cupy):
    """An OOM in the forest (after the features were yielded before) now splits the block."""
    clf, img = trained
    cpu = pixel.predict(clf, img, axes="yx", device="cpu")
    whole = img.size * clf.n_classes * 4  # the forest's output for a whole-image block

    def forest_output(arr):  # (rows, classes) float32: only the forest allocates these
        return arr.ndim == 2 and arr.shape[1] == clf.n_classes and arr.dtype == np.float32

    mem = emulated_cupy.memory
    mem.fail_allocations(at_least=whole // 2 + 1, times=10**6, where=forest_output)
    regions = [r for r, _ in pixel.predict_blocks(clf, img, axes="yx", device="gpu")]
    assert mem.failures >= 1 and len(regions) >= 2
    sizes = [(r[0].stop - r[0].start) * (r[1].stop - r[1].start) for r in regions]
    assert all(n * clf.n_classes * 4 <= whole // 2 for n in sizes)
    mem.clear_faults()
    mem.fail_allocations(at_least=whole // 2 + 1, times=10**6, where=forest_output)
    gpu = pixel.predict(clf, img, axes="yx", device="gpu")
    np.testing.assert_allclose(gpu, cpu, rtol=0, atol=1e-6)
