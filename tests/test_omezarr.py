"""OME-Zarr 0.4 / 0.5 written by ome-zarr-py, read back by ngff-zarr, ome-zarr-py, gputrack and napari."""

from __future__ import annotations

import numpy as np
import pytest

ngff_zarr = pytest.importorskip("ngff_zarr")
pytest.importorskip("ome_zarr")

from gputrack.errors import InputError  # noqa: E402
from gputrack.io import open_image, read_image, write_image  # noqa: E402
from gputrack.io.omezarr import (  # noqa: E402
    label_names,
    ngff_version,
    pixel_sizes,
    tracking_scales,
    write_ome_labels,
    write_ome_zarr,
)


def _movie() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 1000, (3, 2, 256, 192), dtype=np.uint16)  # t z y x


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_write_and_read_back_with_the_ngff_libraries(tmp_path, version):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    data = _movie()
    scales = {"t": 1.0, "z": 2.0, "y": 0.3, "x": 0.4}
    p = write_ome_zarr(tmp_path / "m.ome.zarr", data, axes="tzyx", scales=scales, version=version)
    assert ngff_version(p) == version
    ms = ngff_zarr.from_ngff_zarr(str(p))
    assert [im.dims for im in ms.images][0] == ("t", "z", "y", "x")
    assert len(ms.images) == 2  # 192 -> 96 (>= 64), next would be 48
    assert ms.images[0].scale == scales
    assert ms.images[1].scale["y"] == pytest.approx(0.6) and ms.images[1].scale["z"] == 2.0
    assert np.array_equal(ms.images[0].data.compute(scheduler="threads"), data)
    assert ms.images[1].data.shape == (3, 2, 128, 96)
    node = next(iter(Reader(parse_url(str(p)))()))
    assert np.array_equal(np.asarray(node.data[0]), data)
    src = open_image(p)
    assert src.axes == "tzyx" and np.array_equal(src.read(), data)
    assert pixel_sizes(p) == scales
    assert tracking_scales(p) == (2.0, 0.3, 0.4)


def test_axes_are_stored_in_ngff_order_and_labels_keep_integers(tmp_path):
    data = np.arange(2 * 100 * 80, dtype=np.int32).reshape(100, 80, 2)  # y x c
    p = write_image(tmp_path / "c.ome.zarr", data, axes="yxc", ngff_version="0.5")
    src = open_image(p)
    assert src.axes == "cyx" and np.array_equal(src.read(out_axes="yxc"), data)
    labels = (np.arange(100 * 80).reshape(100, 80) % 5).astype(np.uint16)
    write_ome_labels(p, labels, axes="yx", name="cells")
    assert label_names(p) == ["cells"]
    assert np.array_equal(read_image(p / "labels" / "cells" / "s0"), labels)
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    attrs = zarr.open_group(str(p / "labels" / "cells"), mode="r").attrs.asdict()
    assert "image-label" in attrs.get("ome", attrs)
    nodes = list(Reader(parse_url(str(p / "labels" / "cells")))())
    assert any(node.load(Label) for node in nodes)
    with pytest.raises(InputError, match="integers"):
        write_ome_labels(p, labels.astype(np.float32), axes="yx", name="bad")
    with pytest.raises(InputError, match="version"):
        write_ome_zarr(tmp_path / "v.ome.zarr", labels, axes="yx", version="0.3")


def test_track_takes_the_pixel_sizes_of_an_ome_zarr_input(tmp_path):
    from gputrack.workflows.tracking import ome_scales, track_files

    lab = np.zeros((4, 64, 64), np.uint16)
    for t in range(4):
        lab[t, 10:16, 10 + 3 * t : 16 + 3 * t] = 1
    p = write_ome_zarr(tmp_path / "lab.ome.zarr", lab, axes="tyx", scales={"y": 0.5, "x": 0.25}, levels=1)
    assert ome_scales(p) == (1.0, 0.5, 0.25)
    done = track_files(tmp_path / "res", labels=p, exports="csv")
    assert done["result"].solution.graph.scales == (1.0, 0.5, 0.25)
    assert done["result"].lineage["track_id"].nunique() == 1


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_napari_opens_the_outputs(tmp_path, version):
    pytest.importorskip("napari")
    pytest.importorskip("napari_ome_zarr")
    from napari.components import ViewerModel
    from napari.plugins import _initialize_plugins

    _initialize_plugins()
    data = _movie()[0, 0]
    p = write_ome_zarr(tmp_path / "n.ome.zarr", data, axes="yx", scales={"y": 0.5, "x": 0.25},
                       version=version)
    write_ome_labels(p, (data % 3).astype(np.uint8), axes="yx")
    layers = ViewerModel().open(str(p), plugin="napari-ome-zarr")
    kinds = {type(layer).__name__: layer for layer in layers}
    assert set(kinds) == {"Image", "Labels"}
    image = kinds["Image"]
    assert image.multiscale and np.array_equal(np.asarray(image.data[0]), data)
    assert tuple(image.scale) == (0.5, 0.25) and tuple(kinds["Labels"].scale) == (0.5, 0.25)
