"""A synthetic 30000 x 30000 uint8 tiled TIFF classified from disk to PNG with bounded memory.

Slow (``-m slow``): runs in a child process whose peak RSS must stay under 4 GB. The side
can be lowered with ``GPUTRACK_SLIDE_SIZE`` for a quick check of the machinery.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from gputrack import pixel
from gputrack.io import open_image
from gputrack.project import save_project

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIDE = int(os.environ.get("GPUTRACK_SLIDE_SIZE", "30000"))
SEL = {"GaussianSmoothing": [1.0, 3.5], "HessianOfGaussianEigenvalues": [1.6]}

CHILD = """
import sys, resource
sys.path.insert(0, {root!r})
from gputrack import pixel
from gputrack.project import load_project
clf = load_project({proj!r}).classifier
pixel.classify_file(clf, {tif!r}, {png!r}, export="simple-segmentation", device="cpu", quiet=True,
                    block_size=2048)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def tile_image(seed=0):
    rng = np.random.default_rng(seed)
    img = (rng.random((512, 512)) * 60).astype(np.uint8)
    yy, xx = np.mgrid[:512, :512]
    img[(yy % 128 - 64) ** 2 + (xx % 128 - 64) ** 2 < 30**2] += 120
    return img


@pytest.mark.slow
def test_slide_to_png_with_bounded_memory(tmp_path):
    tile = tile_image()
    lab = np.zeros(tile.shape, np.uint8)
    lab[64, 50:78] = 2
    lab[5, 10:100] = 1
    clf = pixel.train(tile, lab, SEL, n_trees=10, device="cpu", n_jobs=1)
    proj = save_project(tmp_path / "clf.h5", clf)
    tif = tmp_path / "slide.tif"

    def tiles():
        for _y in range(0, SIDE, 512):
            for _x in range(0, SIDE, 512):
                yield tile

    tifffile.imwrite(tif, tiles(), shape=(SIDE, SIDE), dtype=np.uint8, tile=(512, 512), bigtiff=True)
    png = tmp_path / "slide_Simple Segmentation.png"
    code = CHILD.format(root=ROOT, proj=str(proj), tif=str(tif), png=str(png))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rss_gb = int(res.stdout.split()[-1]) / 1024**2
    print(f"{SIDE}x{SIDE}: peak RSS {rss_gb:.2f} GB")
    assert rss_gb < 4.0
    with open_image(png) as src:
        assert src.shape == (SIDE, SIDE)
        crop = src.read((slice(1000, 1512), slice(1000, 1512)))
    # the slide repeats the tile: an interior crop equals a whole-image run of a 5 x 5 tiling
    want = pixel.predict(clf, np.tile(tile, (5, 5)), output="simple-segmentation", device="cpu")
    np.testing.assert_array_equal(crop, want[1000:1512, 1000:1512])
