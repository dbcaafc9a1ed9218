"""bench/cucim_vs_current.py: the blocks it reads, its tile-read rows, its GPU resize measurement.

The GPU part runs under the emulation with a stand-in for ``cucim.skimage.transform`` built on
scikit-image (cuCIM's kernels cannot run there): this checks the measurement, not cuCIM.
"""

from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest
import tifffile
from skimage import transform

from bench import cucim_vs_current as bc
from gputrack import backend
from gputrack.io import iter_blocks, open_image, wsi
from tests.conftest import shared_path


def test_block_regions_are_what_iter_blocks_reads(tmp_path):
    img = np.zeros((700, 530, 3), np.uint8)
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, img, photometric="rgb", tile=(64, 64))
    for edge, halo in ((256, 38), (100, 0), (1024, 38)):
        outer = []
        for b in iter_blocks(open_image(path), edge, halo=halo):
            start = [r.start - i.start for r, i in zip(b.region, b.inner)]
            outer.append(tuple(slice(s, s + n) for s, n in zip(start[:2], b.data.shape[:2])))
        assert bc.block_regions(img.shape, edge, halo) == outer


@pytest.mark.skipif(not wsi.cuimage_available(), reason="cuCIM (cucim) is not installed")
def test_tile_reading_rows():
    path = shared_path("large-wsi", "CMU-1-Small-Region.svs")
    cpus = os.sched_getaffinity(0)
    rows = bc.tile_reading(path, [1024], [1], repeats=2)
    assert os.sched_getaffinity(0) == cpus  # the 1-CPU pinning is undone
    block, whole = rows
    assert (block["block"], block["blocks"], whole["blocks"]) == (1024, 9, 1)
    sizes = [
        (r[0].stop - r[0].start) * (r[1].stop - r[1].start) * 3
        for r in bc.block_regions((2967, 2220), 1024, 38)
    ]
    assert block["mbytes"] == pytest.approx(sum(sizes) / 1e6)
    assert whole["mbytes"] == pytest.approx(2967 * 2220 * 3 / 1e6)
    for row in rows:
        assert len(row["tifffile"]["runs"]) == len(row["cucim"]["runs"]) == 2
        assert row["speedup_cucim"] == pytest.approx(np.median(row["speedup_runs"]))


def test_gpu_resize_without_gpu_says_why():
    if backend.gpu_available():
        pytest.skip("a GPU is present")
    got = bc.gpu_resize(np.zeros((40, 30, 3), np.uint8), [0.5], 1)
    assert got["status"] in ("no GPU", "no cucim.skimage") and got["reason"]


def _stand_in(monkeypatch, cp, fn):
    mods = {name: types.ModuleType(name) for name in ("cucim", "cucim.skimage", "cucim.skimage.transform")}
    mods["cucim.skimage.transform"].resize_local_mean = lambda img, size, **kw: cp.asarray(
        fn(cp.asnumpy(img), size, **kw)
    )
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)


@pytest.mark.gpu
def test_gpu_resize_measures_speed_and_difference(monkeypatch, emulated_cupy):
    image = (np.random.default_rng(3).random((301, 217, 3)) * 255).astype(np.uint8)
    _stand_in(monkeypatch, emulated_cupy, transform.resize_local_mean)
    got = bc.gpu_resize(image, [0.5, 0.3], 2)
    assert got["status"] == "ok" and [r["scale"] for r in got["rows"]] == [0.5, 0.3]
    assert [r["out_shape"] for r in got["rows"]] == [[150, 108, 3], [90, 65, 3]]
    for row in got["rows"]:
        assert row["host_s"] > 0 and row["float32"]["device_s"] > 0 and row["float64"]["device_s"] > 0
        # scikit-image's local mean is the host path's area average: equal in float64, float32 rounding
        assert row["float64"]["max_diff_of_range"] < 1e-7
        assert 1e-8 < row["float32"]["max_diff_of_range"] < 1e-4
    # a resize that is not an area average shows up in the difference
    _stand_in(monkeypatch, emulated_cupy, lambda img, size, **kw: transform.resize(img, size, order=1))
    bad = bc.gpu_resize(image, [0.5], 1)
    assert bad["rows"][0]["float64"]["max_abs_diff"] > 1
