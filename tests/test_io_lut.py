"""QUINT colours: Fiji's Glasbey LUT entry for entry, ImageJ ``.lut`` files and class -> RGB
tables, and PyNutil (Nutil's quantifier) finding a class's objects by colour in our PNGs.

References: ``../shared/data/luts/glasbey.csv`` (Fiji's ``glasbey.lut``); LUT files are
written here byte by byte in ImageJ's formats (raw 768 bytes, NIH Image ``ICOL`` header,
text), independently of the reader; objects are counted with scipy's 4-connected labelling.
"""

from __future__ import annotations

import csv
import os
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from gputrack import pixel
from gputrack.errors import InputError
from gputrack.io.lut import fiji_glasbey, lut_palette, read_lut, segmentation_palette, write_lut
from tests.conftest import ROOT, shared_path

ZIP = ("ilastik-testdata", "tests", "test_ilastik", "data", "api_projects.zip")


def fiji_csv(name: str = "glasbey") -> np.ndarray:
    with open(shared_path("luts", f"{name}.csv")) as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["index"]) for r in rows] == list(range(256))
    return np.array([[int(r["r"]), int(r["g"]), int(r["b"])] for r in rows], np.uint8)


def png_palette(path) -> tuple[np.ndarray, np.ndarray]:
    with Image.open(path) as img:
        assert img.mode == "P"
        return np.asarray(img), np.asarray(img.getpalette(), np.uint8).reshape(-1, 3)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    out = tmp_path_factory.mktemp("api_projects")
    with zipfile.ZipFile(shared_path(*ZIP)) as zf:
        zf.extractall(out)
    return out


@pytest.fixture(scope="module")
def segmentation(api):
    """ilastik's 3-class project on its own lane: class ids 1..3 (uint8)."""
    [seg] = pixel.predict_ilp(api / "PixelClass3Channel.ilp", export="simple-segmentation", device="cpu")
    return seg


def test_fiji_glasbey_entry_for_entry():
    np.testing.assert_array_equal(fiji_glasbey(), fiji_csv("glasbey"))
    np.testing.assert_array_equal(fiji_glasbey(dark=True), fiji_csv("glasbey_on_dark"))
    assert fiji_glasbey()[0].tolist() == [255, 255, 255]  # Fiji's glasbey.lut: index 0 white


def test_glasbey_png_carries_fijis_colours(api, tmp_path):
    [out] = pixel.predict_ilp(api / "PixelClass3Channel.ilp", out=tmp_path, export="simple-segmentation",
                              format="png", glasbey=True, device="cpu")
    values, palette = png_palette(out)
    ref = fiji_csv("glasbey")
    np.testing.assert_array_equal(palette[:256], ref)
    with Image.open(out) as img:
        rgb = np.asarray(img.convert("RGB"))
    np.testing.assert_array_equal(rgb, ref[values])  # every pixel shows its class's Fiji colour
    assert set(np.unique(values).tolist()) <= {1, 2, 3}


def _planes(colours: np.ndarray) -> bytes:
    """ImageJ's binary layout, written independently: 256 reds, 256 greens, 256 blues."""
    return bytes(colours[:, 0].tolist()) + bytes(colours[:, 1].tolist()) + bytes(colours[:, 2].tolist())


def test_lut_formats(tmp_path):
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, size=(256, 3), dtype=np.uint8)
    (tmp_path / "raw.lut").write_bytes(_planes(colours))
    np.testing.assert_array_equal(read_lut(tmp_path / "raw.lut"), colours)
    # NIH Image LUT: 'ICOL', version, nColors, start, end, 2 x 8 fill bytes, 4 filler bytes
    header = struct.pack(">IhhhhqqI", 0x49434F4C, 1, 256, 0, 255, 0, 0, 0)
    assert len(header) == 32
    (tmp_path / "nih.lut").write_bytes(header + _planes(colours))
    np.testing.assert_array_equal(read_lut(tmp_path / "nih.lut"), colours)
    # text LUT, 3 columns and 4 columns with a header row (what Fiji's "Save LUT as text" writes)
    (tmp_path / "three.lut").write_text("\n".join(" ".join(map(str, c)) for c in colours.tolist()))
    np.testing.assert_array_equal(read_lut(tmp_path / "three.lut"), colours)
    rows = [f"{i}\t{r}\t{g}\t{b}" for i, (r, g, b) in enumerate(colours.tolist())]
    lines = ["Index\tRed\tGreen\tBlue", *rows]
    (tmp_path / "four.txt").write_text("\n".join(lines))
    np.testing.assert_array_equal(read_lut(tmp_path / "four.txt"), colours)
    # write_lut gives Fiji's binary layout
    write_lut(tmp_path / "back.lut", colours)
    assert (tmp_path / "back.lut").read_bytes() == _planes(colours)


def test_nih_lut_with_fewer_colours_is_interpolated(tmp_path):
    """Two colours stretched to 256 as ImageJ's LutLoader.interpolate does."""
    header = struct.pack(">IhhhhqqI", 0x49434F4C, 1, 2, 0, 1, 0, 0, 0)
    (tmp_path / "two.lut").write_bytes(header + bytes([0, 200, 0, 100, 0, 50]))
    lut = read_lut(tmp_path / "two.lut")
    i = np.arange(256)
    scale = 2 / 256
    i1 = (i * scale).astype(int)
    i2 = np.minimum(i1 + 1, 1)
    frac = i * scale - i1
    expect_r = ((1 - frac) * np.array([0, 200])[i1] + frac * np.array([0, 200])[i2]).astype(np.uint8)
    np.testing.assert_array_equal(lut[:, 0], expect_r)


def test_class_table_and_errors(tmp_path):
    (tmp_path / "classes.csv").write_text("class,r,g,b\n1,255,0,0\n2,0,128,255\n3,10,20,30\n")
    lut = read_lut(tmp_path / "classes.csv")
    assert lut[1:4].tolist() == [[255, 0, 0], [0, 128, 255], [10, 20, 30]]
    assert lut[0].tolist() == [0, 0, 0] and not lut[4:].any()  # values not listed: black
    (tmp_path / "bad.csv").write_text("class,r,g,b\n1,300,0,0\n")
    with pytest.raises(InputError, match="bad.csv: colours must be integers 0-255"):
        read_lut(tmp_path / "bad.csv")
    (tmp_path / "two.csv").write_text("1,2\n3,4\n")
    with pytest.raises(InputError, match="two.csv: expected rows of 3 columns"):
        read_lut(tmp_path / "two.csv")
    (tmp_path / "junk.lut").write_bytes(bytes(range(256)) * 2 + b"\xff\xfe")
    with pytest.raises(InputError, match="junk.lut: not an ImageJ LUT"):
        read_lut(tmp_path / "junk.lut")
    with pytest.raises(InputError, match="not both"):
        segmentation_palette(True, "glasbey")
    np.testing.assert_array_equal(lut_palette("glasbey"), fiji_glasbey())


def test_cli_lut_file_gives_its_colours(api, segmentation, tmp_path):
    """``pixel predict --ilp ... --lut FILE``: a Fiji binary .lut and a CSV table."""
    rng = np.random.default_rng(1)
    colours = rng.integers(0, 256, size=(256, 3), dtype=np.uint8)
    (tmp_path / "custom.lut").write_bytes(_planes(colours))
    (tmp_path / "classes.csv").write_text("class,r,g,b\n1,255,0,0\n2,0,128,255\n3,10,20,30\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for lut, expect in (("custom.lut", colours), ("classes.csv", read_lut(tmp_path / "classes.csv"))):
        out = tmp_path / lut.replace(".", "_")
        run = subprocess.run(
            [sys.executable, "-m", "gputrack", "pixel", "predict",
             "--ilp", str(api / "PixelClass3Channel.ilp"), "--export", "simple-segmentation",
             "--format", "png", "--lut", str(tmp_path / lut), "--out", str(out), "--device", "cpu"],
            capture_output=True, text=True, env=env, timeout=300,
        )
        assert run.returncode == 0, run.stderr
        [png] = sorted(out.glob("*.png"))
        values, palette = png_palette(png)
        np.testing.assert_array_equal(values, segmentation)
        np.testing.assert_array_equal(palette[:256], expect)


def test_pynutil_finds_the_objects_of_a_class_colour(api, segmentation, tmp_path):
    segmentation_adapters = pytest.importorskip("PyNutil.processing.adapters.segmentation")
    [out] = pixel.predict_ilp(api / "PixelClass3Channel.ilp", out=tmp_path, export="simple-segmentation",
                              format="png", glasbey=True, device="cpu")
    adapter = segmentation_adapters.BinaryAdapter()
    loaded = adapter.load(str(out))  # PyNutil's loader: OpenCV, paletted PNG expanded to B, G, R
    assert loaded.shape == (*segmentation.shape, 3)
    ref = fiji_csv("glasbey")
    for cls in (1, 2, 3):
        # PyNutil compares pixel_id with the loaded channels in order: OpenCV's B, G, R
        pixel_id = ref[cls][::-1].tolist()
        mask = adapter.create_binary_mask(loaded, pixel_id)
        np.testing.assert_array_equal(mask, segmentation == cls)
        objects = adapter.extract_objects(loaded, mask)
        labels, n = ndi.label(segmentation == cls)  # 4-connected, as PyNutil's binary adapter
        assert len(objects) == n > 0
        assert sorted(o.area for o in objects) == sorted(np.bincount(labels.ravel())[1:].tolist())
