"""cuCIM's CuImage as the tile reader of whole-slide TIFFs: which files, identical pixels, settings.

The pixel comparisons need the optional ``cucim`` package and skip without it; the choice of
reader (pure tifffile metadata) and the settings are tested everywhere.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from gputrack.errors import InputError
from gputrack.io import iter_blocks, open_image, wsi
from tests.conftest import shared_path

RNG = np.random.default_rng(7)
SVS = ("large-wsi", "CMU-1-Small-Region.svs")
NDPI = ("large-wsi", "test3-DAPI-2-(387).ndpi")

needs_cucim = pytest.mark.skipif(not wsi.cuimage_available(), reason="cuCIM (cucim) is not installed")


def _rgb(shape=(700, 530)) -> np.ndarray:
    img = (RNG.random((*shape, 3)) * 255).astype(np.uint8)
    img[100:400, 50:300] = (200, 30, 90)  # flat areas and edges for the JPEG decoder
    return img


def _tiff(path, image, **kw):
    tifffile.imwrite(path, image, **kw)
    return path


def _reason(path) -> str | None:
    with tifffile.TiffFile(path) as tf:
        return wsi.cuimage_readable(tf)


def test_readable_accepts_tiled_rgb_uint8_in_native_compressions(tmp_path):
    for comp in (None, "lzw", "jpeg"):
        p = _tiff(tmp_path / f"{comp}.tif", _rgb(), photometric="rgb", tile=(256, 256), compression=comp)
        assert _reason(p) is None, comp


def test_readable_real_slides():
    assert _reason(shared_path(*SVS)) is None
    assert "ndpi" in _reason(shared_path(*NDPI))


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"photometric": "rgb"}, "not tiled"),
        ({"photometric": "rgb", "tile": (256, 256), "compression": "zlib"}, "compression 8"),
        ({"photometric": "rgb", "tile": (256, 256), "compression": "jpeg2000"}, "compression 34712"),
    ],
)
def test_readable_refuses_what_cucim_decodes_otherwise(tmp_path, kwargs, why):
    assert why in _reason(_tiff(tmp_path / "a.tif", _rgb(), **kwargs))


def test_readable_refuses_grey_16bit_and_stacks(tmp_path):
    img, tiled = _rgb(), {"photometric": "rgb", "tile": (256, 256)}
    assert "not RGB" in _reason(_tiff(tmp_path / "g.tif", img[..., 0], tile=(256, 256)))
    assert "uint16" in _reason(_tiff(tmp_path / "u.tif", img.astype(np.uint16), **tiled))
    assert "not RGB" in _reason(_tiff(tmp_path / "s.tif", np.stack([img, img]), **tiled))
    planes = np.moveaxis(img, -1, 0)  # tifffile reports separate colour planes as SYX
    assert "not RGB" in _reason(_tiff(tmp_path / "p.tif", planes, **tiled, planarconfig="separate"))


def test_reader_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("GPUTRACK_TIFF_READER", raising=False)
    assert wsi.tiff_reader_setting() == "auto"
    monkeypatch.setenv("GPUTRACK_TIFF_READER", " TiffFile ")
    assert wsi.tiff_reader_setting() == "tifffile"
    monkeypatch.setenv("GPUTRACK_TIFF_READER", "openslide")
    with pytest.raises(InputError, match="READER='openslide': expected one of auto, tifffile, cucim"):
        open_image(_tiff(tmp_path / "a.tif", _rgb(), photometric="rgb", tile=(256, 256)))


def test_without_cucim_tifffile_reads_and_forcing_cucim_says_why(monkeypatch):
    monkeypatch.setattr(wsi, "cuimage_available", lambda: False)
    monkeypatch.delenv("GPUTRACK_TIFF_READER", raising=False)
    path = shared_path(*SVS)
    src = open_image(path)
    assert src.reader == "tifffile"
    np.testing.assert_array_equal(src.read(), tifffile.imread(path, series=0, level=0))
    monkeypatch.setenv("GPUTRACK_TIFF_READER", "cucim")
    with pytest.raises(InputError, match=r"CMU-1-Small-Region.svs: .*cuCIM does not read .*not installed"):
        open_image(path)


def test_forcing_cucim_on_ndpi_names_the_file(monkeypatch):
    monkeypatch.setenv("GPUTRACK_TIFF_READER", "cucim")
    with pytest.raises(InputError, match=r"test3-DAPI-2-\(387\).ndpi: .*ndpi TIFF"):
        open_image(shared_path(*NDPI))


# ------------------------------------------------------------------ identical pixels (needs cuCIM)


def _both(path, monkeypatch):
    monkeypatch.setenv("GPUTRACK_TIFF_READER", "cucim")
    fast = open_image(path)
    monkeypatch.setenv("GPUTRACK_TIFF_READER", "tifffile")
    ref = open_image(path)
    monkeypatch.delenv("GPUTRACK_TIFF_READER")
    assert (fast.reader, ref.reader) == ("cucim", "tifffile")
    assert (fast.shape, fast.dtype, fast.axes, fast.chunks) == (ref.shape, ref.dtype, ref.axes, ref.chunks)
    return fast, ref


@needs_cucim
def test_svs_blocks_with_halo_equal_tifffile(monkeypatch):
    """The pixel workflow's reads: blocks of 1024 (and 256) with a 38-pixel halo, whole, strided."""
    path = shared_path(*SVS)
    monkeypatch.delenv("GPUTRACK_TIFF_READER", raising=False)
    assert open_image(path).reader == "cucim"  # the default where cuCIM is installed
    fast, ref = _both(path, monkeypatch)
    whole = tifffile.imread(path, series=0, level=0)
    np.testing.assert_array_equal(fast.read(), whole)
    for edge in (1024, 256):
        n = 0
        for a, b in zip(iter_blocks(fast, edge, halo=38), iter_blocks(ref, edge, halo=38)):
            assert a.region == b.region
            np.testing.assert_array_equal(a.data, b.data)
            n += 1
        assert n == -(-2967 // edge) * -(-2220 // edge)
    region = (slice(5, 2900, 3), slice(1, 2220, 7), slice(2, 3))
    np.testing.assert_array_equal(fast.read(region), whole[region])
    assert fast.read((slice(10, 10), slice(0, 5))).shape == (0, 5, 3)


@needs_cucim
@pytest.mark.parametrize("compression", [None, "lzw", "jpeg"])
def test_generic_tiled_tiff_equals_tifffile(tmp_path, monkeypatch, compression):
    img = _rgb((1000, 777))
    path = _tiff(tmp_path / "a.tif", img, photometric="rgb", tile=(256, 256), compression=compression)
    fast, ref = _both(path, monkeypatch)
    np.testing.assert_array_equal(fast.read(), ref.read())
    for region in [(slice(17, 417), slice(13, 313)), (slice(900, 1000), slice(700, 777)), (0, 0)]:
        np.testing.assert_array_equal(fast.read(region), ref.read(region))
    if compression is None:
        np.testing.assert_array_equal(fast.read(), img)


@needs_cucim
def test_tiff_cucim_refuses_falls_back_to_tifffile(tmp_path, monkeypatch):
    """A file that passes the metadata check but CuImage will not open stays with tifffile."""
    img = _rgb()
    path = _tiff(tmp_path / "a.tif", img, photometric="rgb", tile=(256, 256))
    monkeypatch.delenv("GPUTRACK_TIFF_READER", raising=False)

    def refuse(*args, **kwargs):
        raise ValueError("Cannot find a plugin")

    monkeypatch.setattr(wsi, "open_cuimage", refuse)
    src = open_image(path)
    assert src.reader == "tifffile"
    np.testing.assert_array_equal(src.read(), img)


def test_info_names_the_tiff_reader(monkeypatch, capsys):
    from gputrack.cli import main  # noqa: PLC0415

    monkeypatch.setattr(wsi, "cuimage_available", lambda: True)
    monkeypatch.delenv("GPUTRACK_TIFF_READER", raising=False)
    assert main(["info", "--device", "cpu", "--json"]) == 0
    assert "cuCIM CuImage" in json.loads(capsys.readouterr().out)["stages"]["io"]
    monkeypatch.setenv("GPUTRACK_TIFF_READER", "tifffile")
    assert main(["info", "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stages"]["io"] == "h5py, tifffile, zarr"
