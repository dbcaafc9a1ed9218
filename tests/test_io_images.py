"""Image reading and writing: round trips, region and block reads, real files, errors."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image
from scipy.spatial.distance import pdist
from skimage.color import rgb2lab

from gputrack.errors import InputError, MissingInputError, OutputExistsError
from gputrack.io.images import (
    ImageSource,
    glasbey_palette,
    iter_blocks,
    open_image,
    read_image,
    write_image,
)
from tests.conftest import shared_path

RNG = np.random.default_rng(42)
MITOCHECK = ("ilastik-testdata", "tests", "test_ilastik", "data", "inputdata", "mitocheck_2d+t")


def _random(shape, dtype=np.uint16):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)


# ------------------------------------------------------------------ round trips


def test_hdf5_round_trip_with_ilastik_axistags(tmp_path):
    internal = _random((3, 2, 20, 30, 2))  # t, z, y, x, c
    ilastik = np.transpose(internal, (0, 3, 2, 1, 4))  # t, x, y, z, c as ilastik stores it
    path = write_image(tmp_path / "probs.h5", ilastik, axes="txyzc", dataset="exported_data")
    with h5py.File(path, "r") as f:  # independent reader: h5py and the JSON text
        assert [a["key"] for a in json.loads(f["exported_data"].attrs["axistags"])["axes"]] == list("txyzc")
        np.testing.assert_array_equal(f["exported_data"][()], ilastik)
    src = open_image(path)
    assert (src.axes, src.shape, src.dataset, src.format) == ("txyzc", ilastik.shape, "exported_data", "hdf5")
    np.testing.assert_array_equal(src.read(out_axes="tzyxc"), internal)
    np.testing.assert_array_equal(read_image(f"{path}/exported_data"), ilastik)


def test_hdf5_without_axistags_guesses_and_axes_override(tmp_path):
    a = _random((4, 16, 16), np.uint8)
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["group/raw"] = a
    assert open_image(tmp_path / "plain.h5").axes == "zyx"
    src = open_image(tmp_path / "plain.h5", dataset="group/raw", axes="TYX")
    assert src.axes == "tyx"
    np.testing.assert_array_equal(src.read(out_axes="tzyxc")[:, 0, :, :, 0], a)


def test_multipage_tiff_round_trip(tmp_path):
    a = _random((2, 3, 40, 50))
    path = write_image(tmp_path / "stack.tif", a, axes="tzyx", compression="zlib")
    np.testing.assert_array_equal(tifffile.imread(path), a)  # independent reader
    src = open_image(path)
    assert (src.axes, src.shape, src.dtype) == ("tzyx", a.shape, np.uint16)
    np.testing.assert_array_equal(src.read(), a)


def test_tiff_channels_last_are_stored_as_samples(tmp_path):
    a = _random((5, 32, 48, 2), np.uint8)
    path = write_image(tmp_path / "two_channels.tif", a, axes="zyxc")
    with tifffile.TiffFile(path) as tf:
        assert tf.series[0].axes == "ZYXS"
    assert open_image(path).axes == "zyxc"
    np.testing.assert_array_equal(read_image(path), a)


def test_tiff_moves_yx_to_the_end(tmp_path):
    a = _random((32, 48, 3), np.uint16)  # y, x, z
    path = write_image(tmp_path / "yxz.tif", a, axes="yxz")
    src = open_image(path)
    assert src.axes == "zyx"
    np.testing.assert_array_equal(src.read(out_axes="yxz"), a)


def test_ome_tiff_round_trip_and_foreign_ome(tmp_path):
    a = _random((2, 3, 4, 32, 32), np.uint8)
    path = write_image(tmp_path / "cells.ome.tif", a, axes="tczyx")
    with tifffile.TiffFile(path) as tf:
        assert tf.is_ome
    np.testing.assert_array_equal(read_image(path, out_axes="tczyx"), a)
    # an OME-TIFF written by tifffile itself, ZCYX order
    b = _random((3, 2, 24, 40))
    tifffile.imwrite(tmp_path / "foreign.ome.tif", b, ome=True, metadata={"axes": "ZCYX"})
    src = open_image(tmp_path / "foreign.ome.tif")
    assert src.axes == "zcyx"
    np.testing.assert_array_equal(src.read(out_axes="zyxc"), np.moveaxis(b, 1, -1))


def test_tiff_unknown_axes_are_guessed(tmp_path):
    a = _random((3, 4, 16, 16), np.uint8)
    tifffile.imwrite(tmp_path / "q.tif", a, photometric="minisblack", metadata=None)
    with tifffile.TiffFile(tmp_path / "q.tif") as tf:
        assert tf.series[0].axes[0] in "QI"
    assert open_image(tmp_path / "q.tif").axes.endswith("yx")


def test_rgb_tiff(tmp_path):
    a = _random((30, 40, 3), np.uint8)
    path = write_image(tmp_path / "rgb.tif", a, axes="yxc")
    with tifffile.TiffFile(path) as tf:
        assert tf.pages[0].photometric == tifffile.PHOTOMETRIC.RGB
    np.testing.assert_array_equal(read_image(path), a)


def test_tiled_bigtiff_round_trip(tmp_path):
    a = _random((300, 500), np.uint16)
    path = write_image(tmp_path / "tiled.tif", a, axes="yx", chunks=(64, 128), bigtiff=True)
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        assert tf.is_bigtiff and page.is_tiled and (page.tilelength, page.tilewidth) == (64, 128)
    src = open_image(path)
    assert src.chunks == (64, 128)
    np.testing.assert_array_equal(src.read(), a)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [0, 3, 4])
def test_png_round_trip(tmp_path, dtype, channels):
    shape = (33, 47) if channels == 0 else (33, 47, channels)
    a = _random(shape, dtype)
    axes = "yx" if channels == 0 else "yxc"
    path = write_image(tmp_path / "image.png", a, axes=axes)
    np.testing.assert_array_equal(read_image(path), a)
    src = open_image(path)
    assert (src.shape, src.dtype, src.axes) == (a.shape, np.dtype(dtype), axes)
    if dtype == np.uint8:  # independent reader
        np.testing.assert_array_equal(np.asarray(Image.open(path)), a)


def test_paletted_png_keeps_labels_and_colours(tmp_path):
    labels = RNG.integers(0, 20, size=(40, 60)).astype(np.uint16)
    palette = glasbey_palette(256)
    path = write_image(tmp_path / "labels.png", labels, axes="yx", palette=palette)
    with Image.open(path) as im:  # independent reader: PIL
        assert im.mode == "P"
        stored = np.array(im.getpalette()[: 3 * 256], dtype=np.uint8).reshape(-1, 3)
        rgb = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(stored, palette)
    np.testing.assert_array_equal(rgb, palette[labels])
    np.testing.assert_array_equal(read_image(path), labels)
    with pytest.raises(InputError, match="do not fit a palette of 10"):
        write_image(tmp_path / "bad.png", labels, axes="yx", palette=palette[:10])


def test_jpeg_round_trip_is_close(tmp_path):
    y, x = np.mgrid[0:64, 0:96]
    smooth = np.stack([y * 3, x * 2, (x + y)], axis=-1).astype(np.uint8)  # smooth: JPEG-friendly
    path = write_image(tmp_path / "photo.jpg", smooth, axes="yxc")
    back = read_image(path)
    assert back.shape == smooth.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - smooth).mean() < 2.0
    grey = write_image(tmp_path / "grey.jpeg", smooth[..., 0], axes="yx")
    assert np.abs(read_image(grey).astype(int) - smooth[..., 0]).max() <= 8


def test_zarr_round_trip_in_ome_order(tmp_path):
    a = _random((2, 3, 20, 30, 2))  # t, z, y, x, c
    path = write_image(tmp_path / "vol.zarr", a, axes="tzyxc", chunks=(1, 3, 8, 16, 1), compression="zstd")
    group = zarr.open_group(str(path), mode="r")  # independent reader: zarr
    ms = group.attrs["multiscales"][0]
    assert [ax["name"] for ax in ms["axes"]] == list("tczyx")
    assert ms["datasets"][0]["path"] == "0"
    np.testing.assert_array_equal(group["0"][...], np.transpose(a, (0, 4, 1, 2, 3)))
    assert group["0"].chunks == (1, 1, 3, 8, 16)
    src = open_image(path)
    assert (src.axes, src.dataset) == ("tczyx", "0")
    np.testing.assert_array_equal(src.read(out_axes="tzyxc"), a)


def test_plain_zarr_v3_array_with_dimension_names(tmp_path):
    a = _random((4, 24, 24), np.uint8)
    z = zarr.create_array(
        str(tmp_path / "raw.zarr"),
        shape=a.shape,
        dtype=a.dtype,
        chunks=(1, 8, 8),
        dimension_names=("t", "y", "x"),
    )
    z[...] = a
    src = open_image(tmp_path / "raw.zarr")
    assert (src.axes, src.format) == ("tyx", "zarr")
    np.testing.assert_array_equal(src.read(), a)


def test_ome_zarr_written_by_hand_with_multiscales(tmp_path):
    a = _random((2, 16, 16), np.uint8)
    group = zarr.open_group(str(tmp_path / "img.ome.zarr"), mode="w", zarr_format=2)
    group.create_array("s0", shape=a.shape, dtype=a.dtype, chunks=(1, 8, 8))[...] = a
    group.create_array("s1", shape=(2, 8, 8), dtype=a.dtype)[...] = a[:, ::2, ::2]
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": "c", "type": "channel"}, {"name": "y", "type": "space"}, {"name": "x"}],
            "datasets": [{"path": "s0"}, {"path": "s1"}],
        }
    ]
    src = open_image(tmp_path / "img.ome.zarr")
    assert (src.dataset, src.axes, src.shape) == ("s0", "cyx", a.shape)
    np.testing.assert_array_equal(src.read(out_axes="yxc"), np.moveaxis(a, 0, -1))
    assert open_image(tmp_path / "img.ome.zarr/s1").shape == (2, 8, 8)


# ------------------------------------------------------------------ regions and blocks


@pytest.mark.parametrize("suffix", [".h5", ".zarr", ".tif"])
def test_region_reads_equal_slices_of_whole_read(tmp_path, suffix):
    a = _random((3, 70, 90))
    path = write_image(tmp_path / f"img{suffix}", a, axes="zyx", chunks=(1, 32, 32))
    src = open_image(path)
    whole = src.read()
    np.testing.assert_array_equal(whole, a)
    for region in [
        (slice(1, 3), slice(5, 61), slice(17, 90)),
        (slice(None), slice(40, 41)),
        (2, slice(0, 70, 3), slice(80, 200)),  # int keeps the axis; stop clipped
    ]:
        expected = whole[tuple(slice(r, r + 1) if isinstance(r, int) else r for r in region)]
        np.testing.assert_array_equal(src.read(region), expected)
    np.testing.assert_array_equal(src.read({"y": slice(10, 20), "x": slice(3, 9)}), whole[:, 10:20, 3:9])
    np.testing.assert_array_equal(src.read({"t": 0, "z": slice(1, 2)}, out_axes="yx"), whole[1])


def test_region_errors(tmp_path):
    src = open_image(write_image(tmp_path / "a.h5", _random((4, 5)), axes="yx"))
    with pytest.raises(InputError, match="axis 'z'"):
        src.read({"z": slice(0, 2)})
    with pytest.raises(InputError, match="3 entries"):
        src.read((slice(None),) * 3)
    with pytest.raises(InputError, match="out of range"):
        src.read((9,))
    with pytest.raises(InputError, match="length 4, not 1"):
        src.read(out_axes="x")


def test_iter_blocks_with_halo_reassembles_image(tmp_path):
    a = _random((2, 50, 70))
    src = open_image(write_image(tmp_path / "b.h5", a, axes="zyx", chunks=(1, 16, 16)))
    out = np.zeros_like(a)
    blocks = list(iter_blocks(src, {"y": 16, "x": 32}, halo=3))
    assert len(blocks) == 4 * 3
    for block in blocks:
        ys, xs = block.region[1], block.region[2]
        grown = a[:, max(ys.start - 3, 0) : ys.stop + 3, max(xs.start - 3, 0) : xs.stop + 3]
        np.testing.assert_array_equal(block.data, grown)
        out[block.region] = block.data[block.inner]
    np.testing.assert_array_equal(out, a)


def test_iter_blocks_out_axes(tmp_path):
    a = _random((40, 30, 2), np.uint8)
    path = write_image(tmp_path / "c.zarr", a, axes="yxc")  # stored as c, y, x
    out = np.zeros((1, 1, 40, 30, 2), np.uint8)
    for region, data, inner in iter_blocks(path, 16, halo=2, out_axes="tzyxc"):
        assert data.ndim == 5 and data.shape[-1] == 2
        src_axes = "cyx"
        ys, xs = region[src_axes.index("y")], region[src_axes.index("x")]
        out[:, :, ys, xs, :] = data[inner]
    np.testing.assert_array_equal(out[0, 0], a)


def test_8192_tiled_bigtiff_block_by_block_equals_whole(tmp_path):
    y, x = np.ogrid[0:8192, 0:8192]
    a = ((y * 7 + x * 13 + (x * y) % 251) % 256).astype(np.uint8)
    path = write_image(tmp_path / "big.tif", a, axes="yx", chunks=(512, 512), bigtiff=True)
    src = open_image(path)
    assert src.shape == (8192, 8192) and src.chunks == (512, 512)
    whole = tifffile.imread(path)  # independent whole read
    np.testing.assert_array_equal(whole, a)
    seen = np.zeros(a.shape, bool)
    count = 0
    for block in iter_blocks(src, (2048, 1536)):
        np.testing.assert_array_equal(block.data, whole[block.region])
        seen[block.region] = True
        count += 1
    assert count == 4 * 6 and seen.all()
    del whole


# ------------------------------------------------------------------ real data


@pytest.mark.parametrize(
    ("name", "shape"),
    [("CMU-1-Small-Region.svs", (2967, 2220, 3)), ("test3-DAPI-2-(387).ndpi", (4864, 3968, 3))],
)
def test_whole_slide_images(name, shape):
    path = shared_path("large-wsi", name)
    src = open_image(path)
    assert (src.shape, src.axes, src.dtype) == (shape, "yxc", np.uint8)
    whole = src.read()
    assert whole.shape == shape and whole.std() > 0
    region = (slice(1000, 1733), slice(517, 1800))
    np.testing.assert_array_equal(src.read(region), whole[region])
    np.testing.assert_array_equal(whole, tifffile.imread(path, series=0, level=0))


def test_ilastik_mitocheck_h5_axes_from_axistags():
    path = shared_path(*MITOCHECK, "mitocheck_small_2D+t.h5")
    src = open_image(path)
    assert (src.axes, src.shape, src.dataset) == ("txyzc", (9, 99, 105, 1, 1), "exported_data")
    with h5py.File(path, "r") as f:
        raw = f["exported_data"][()]
    np.testing.assert_array_equal(src.read(out_axes="tyx"), raw[..., 0, 0].transpose(0, 2, 1))
    probs = open_image(shared_path(*MITOCHECK, "mitocheck_small_2D+t_export.h5"))
    assert probs.axes == "txyzc" and probs.read(out_axes="tzyxc").shape == (9, 1, 105, 99, 2)


# ------------------------------------------------------------------ errors


def test_missing_file(tmp_path):
    with pytest.raises(MissingInputError, match="nothing.tif: no such file"):
        open_image(tmp_path / "nothing.tif")
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "nothing.h5/data")


def test_missing_dataset_lists_datasets(tmp_path):
    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as f:
        f["raw"] = np.zeros((2, 2))
        f["labels/l0"] = np.zeros((2, 2))
    with pytest.raises(MissingInputError, match=r"no dataset 'probs'; datasets in the file: labels/l0, raw"):
        open_image(path, dataset="probs")
    with pytest.raises(InputError, match="has 2 datasets"):
        open_image(path)


def test_axes_that_do_not_fit(tmp_path):
    path = write_image(tmp_path / "a.tif", _random((3, 8, 8), np.uint8), axes="zyx")
    with pytest.raises(InputError, match=r"a.tif: axes 'yx' \(2 letters\) do not fit shape \(3, 8, 8\)"):
        open_image(path, axes="yx")
    with pytest.raises(InputError, match="do not fit"):
        write_image(tmp_path / "b.tif", np.zeros((3, 8, 8), np.uint8), axes="tzyx")


def test_corrupt_and_truncated_tiff(tmp_path):
    (tmp_path / "noise.tif").write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(InputError, match="noise.tif: not a readable TIFF"):
        open_image(tmp_path / "noise.tif")
    good = write_image(tmp_path / "good.tif", _random((4, 64, 64)), axes="zyx", compression="zlib")
    data = good.read_bytes()
    (tmp_path / "header_only.tif").write_bytes(data[:60])
    with pytest.raises(InputError, match="header_only.tif"):
        read_image(tmp_path / "header_only.tif")
    (tmp_path / "half.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="half.tif"):
        read_image(tmp_path / "half.tif")


def test_unsupported_suffix(tmp_path):
    (tmp_path / "a.bmp").write_bytes(b"BM")
    with pytest.raises(InputError, match=r"unsupported file type '.bmp'; supported: .h5"):
        open_image(tmp_path / "a.bmp")
    with pytest.raises(InputError, match=r"unsupported file type '.gif'"):
        write_image(tmp_path / "a.gif", np.zeros((2, 2), np.uint8), axes="yx")


def test_no_overwrite_without_flag(tmp_path):
    path = write_image(tmp_path / "out.h5", np.ones((4, 4), np.uint8), axes="yx")
    with pytest.raises(OutputExistsError, match="out.h5"):
        write_image(path, np.zeros((4, 4), np.uint8), axes="yx")
    assert read_image(path).sum() == 16
    write_image(path, np.zeros((4, 4), np.uint8), axes="yx", overwrite=True)
    assert read_image(path).sum() == 0
    zpath = write_image(tmp_path / "out.zarr", np.ones((4, 4), np.uint8), axes="yx")
    with pytest.raises(OutputExistsError):
        write_image(zpath, np.ones((4, 4), np.uint8), axes="yx")


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken_imwrite(path, data, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"II*\x00partial")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", broken_imwrite)
    with pytest.raises(OSError, match="disk full"):
        write_image(tmp_path / "out.tif", np.zeros((8, 8), np.uint8), axes="yx")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()

    original = zarr.Array.__setitem__

    def broken_setitem(self, key, value):
        original(self, key, value)
        raise RuntimeError("interrupted")

    monkeypatch.setattr(zarr.Array, "__setitem__", broken_setitem)
    with pytest.raises(RuntimeError, match="interrupted"):
        write_image(tmp_path / "out.zarr", np.zeros((8, 8), np.uint8), axes="yx")
    assert list(tmp_path.iterdir()) == []


def test_write_validation_errors(tmp_path):
    with pytest.raises(InputError, match="uint8 or uint16"):
        write_image(tmp_path / "f.png", np.zeros((4, 4), np.float32), axes="yx")
    with pytest.raises(InputError, match="multiples of 16"):
        write_image(tmp_path / "t.tif", np.zeros((64, 64), np.uint8), axes="yx", chunks=(20, 20))
    with pytest.raises(InputError, match="only supported for .png"):
        write_image(tmp_path / "p.tif", np.zeros((4, 4), np.uint8), axes="yx", palette=glasbey_palette(4))
    with pytest.raises(InputError, match="compression 'snappy'"):
        write_image(tmp_path / "c.h5", np.zeros((4, 4), np.uint8), axes="yx", compression="snappy")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ palette


def test_glasbey_palette_is_distinct_and_deterministic():
    p = glasbey_palette(256)
    assert p.shape == (256, 3) and p.dtype == np.uint8
    assert p[0].tolist() == [0, 0, 0]
    assert len({tuple(c) for c in p}) == 256
    np.testing.assert_array_equal(glasbey_palette(20), p[:20])
    # Independent CIELAB (scikit-image). Random 20-colour sRGB palettes have a minimum
    # pairwise Delta E 1976 of about 9 (median of 200 draws; max 19), and 2.3 is a just
    # noticeable difference; greedy farthest-point selection must keep every pair of the
    # first 20 colours far apart (> 40), i.e. clearly distinct at a glance.
    lab = rgb2lab(p[None, :20].astype(float) / 255.0)[0]
    assert pdist(lab).min() > 40
    assert pdist(rgb2lab(p[None].astype(float) / 255.0)[0]).min() > 10


def test_image_source_is_a_context_manager(tmp_path):
    path = write_image(tmp_path / "a.tif", _random((2, 16, 16)), axes="zyx")
    with open_image(path) as src:
        assert isinstance(src, ImageSource)
        first = src.read((0,))
    assert src._getter is None
    np.testing.assert_array_equal(src.read((0,)), first)  # reopens
