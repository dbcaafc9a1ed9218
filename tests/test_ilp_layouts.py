"""Every ilastik project layout: label blocks with or without t/z/c axes, per-lane axistags,
relative / absolute / copied-into-project raw data, old and new forest storage.

The synthetic projects are written with h5py in the layout of ilastik 1.3 (group and
dataset names as in the real projects of ``test_projects.zip``): a 2D one-channel lane
stored as ``tzyxc`` with shape ``(1, 1, Y, X, 1)`` and label blocks ``(h, w, 1)`` whose
``blockSlice`` has three entries and no ``axistags``. The forest, the feature selection
and the labels are those of ilastik's ``PixelClass.ilp`` (api_projects.zip), so the
stored forest must give ilastik's own reference probabilities through the other layout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from gputrack import pixel
from gputrack.errors import InputError
from gputrack.io.ilp import describe_ilp, label_counts, label_image, read_ilp
from gputrack.io.ilp.describe import cannot_use
from gputrack.io.ilp.labels import infer_block_axes
from tests.conftest import ROOT, shared_path

ZIP = ("ilastik-testdata", "tests", "test_ilastik", "data", "api_projects.zip")
_FLAGS = {"t": 8, "z": 2, "y": 2, "x": 2, "c": 1}  # vigra AxisType: Time 8, Space 2, Channels 1


def _axistags(axes: str) -> str:
    return json.dumps({"axes": [{"key": k, "typeFlags": _FLAGS[k], "resolution": 0, "description": ""}
                                for k in axes]})


def _string(group: h5py.Group, name: str, value: str) -> None:
    group.create_dataset(name, data=value.encode(), dtype=h5py.string_dtype("ascii"))


def write_ilastik13_project(path: Path, *, shape: tuple[int, int], raw: str | np.ndarray | None,
                            blocks: list[tuple[np.ndarray, str]], source: Path | None = None,
                            pickled_type: bool = True) -> Path:
    """A pixel-classification ``.ilp`` in ilastik 1.3's layout.

    ``raw``: a file path as stored (``raw.h5/data``, relative or absolute), an array to
    copy into the project (``ProjectInternal``), or None (no file). ``blocks``: label
    arrays with their ``blockSlice`` text, written without ``axistags``. ``source``: a
    project whose feature selection and forests are copied.
    """
    with h5py.File(path, "w") as f:
        _string(f, "workflowName", "Pixel Classification")
        _string(f, "ilastikVersion", "1.3.2post1")
        _string(f, "time", "Thu Jan 10 10:00:00 2019")
        f.create_dataset("currentApplet", data=np.int64(2))
        data = f.create_group("Input Data")
        data.create_dataset("Role Names", data=np.array([b"Raw Data", b"Prediction Mask"]))
        _string(data, "StorageVersion", "0.2")
        lane = data.create_group("infos/lane0000/Raw Data")
        data.create_group("infos/lane0000/Prediction Mask")
        local = data.create_group("local_data")
        _string(lane, "axistags", _axistags("tzyxc"))
        _string(lane, "datasetId", "5f0c3a2e-1f4b-11e9-8d2b-0242ac110002")
        _string(lane, "display_mode", "default")
        _string(lane, "nickname", "raw")
        lane.create_dataset("allowLabels", data=True)
        lane.create_dataset("fromstack", data=False)
        lane.create_dataset("shape", data=np.array([1, 1, *shape, 1], np.int64))
        if isinstance(raw, np.ndarray):
            _string(lane, "location", "ProjectInternal")
            _string(lane, "filePath", "raw.h5/data")
            local.create_dataset("5f0c3a2e-1f4b-11e9-8d2b-0242ac110002", data=raw)
        else:
            _string(lane, "location", "FileSystem")
            _string(lane, "filePath", raw or "missing.h5/data")
        pc = f.create_group("PixelClassification")
        _string(pc, "StorageVersion", "0.1")
        pc.create_dataset("LabelNames", data=np.array([b"Label 1", b"Label 2"]))
        pc.create_dataset("LabelColors", data=np.array([[255, 0, 0], [0, 255, 0]], np.int32))
        pc.create_dataset("PmapColors", data=np.array([[255, 0, 0], [0, 255, 0]], np.int32))
        labels = pc.create_group("LabelSets/labels000")
        for k, (block, where) in enumerate(blocks):
            ds = labels.create_dataset(f"block{k:04d}", data=block)
            ds.attrs["blockSlice"] = where
        if source is not None:
            with h5py.File(source, "r") as src:
                src.copy(src["FeatureSelections"], f, "FeatureSelections")
                src.copy(src["PixelClassification/ClassifierForests"], pc, "ClassifierForests")
            if not pickled_type:  # projects from before ilastik stored the classifier's type
                for name in ("pickled_type", "known_labels"):
                    del pc["ClassifierForests"][name]
    return path


def _source_blocks(source: Path) -> list[tuple[np.ndarray, str]]:
    """The label blocks of an ilastik project, as (data, blockSlice) in their own yxc order."""
    out = []
    with h5py.File(source, "r") as f:
        group = f["PixelClassification/LabelSets/labels000"]
        for name in sorted(group):
            ds = group[name]
            assert json.loads(ds.attrs["axistags"])["axes"][-1]["key"] == "c"
            out.append((ds[()], ds.attrs["blockSlice"]))
    return out


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    out = tmp_path_factory.mktemp("api_projects")
    with zipfile.ZipFile(shared_path(*ZIP)) as zf:
        zf.extractall(out)
    return out


@pytest.fixture(scope="module")
def raw_tzyxc(api):
    """``Data_1channel.png`` as ilastik 1.3 stored such a lane: ``(1, 1, Y, X, 1)``."""
    image = open_png(api / "Data_1channel.png")
    return image[None, None, :, :, None]


def open_png(path: Path) -> np.ndarray:
    from gputrack.io import read_image  # noqa: PLC0415

    image = np.asarray(read_image(path))
    return image[..., 0] if image.ndim == 3 else image


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    "block_slice, axes, shape, forced, expected",
    [
        # item 11: 2D one-channel lane stored tzyxc, blocks yxc (singletons squeezed)
        ("[281:457,412:504,0:1]", "tzyxc", (1, 1, 1024, 1344, 1), False, "yxc"),
        # the same without a stored shape: t and z are the axes ilastik squeezes
        ("[281:457,412:504,0:1]", "tzyxc", None, False, "yxc"),
        # a time series: t is kept, the singleton z squeezed
        ("[3:4,281:457,412:504,0:1]", "tzyxc", (5, 1, 1024, 1344, 1), False, "tyxc"),
        # a 3D stack with a singleton t
        ("[25:28,4:25,6:26,0:1]", "tzyxc", (1, 64, 64, 64, 1), False, "zyxc"),
        # blocks in the lane's own order (ilastik 1.2), with and without a lane c axis
        ("[0:1,1:22,7:74,0:1]", "tyxc", None, False, "tyxc"),
        ("[25:28,4:25,6:26,0:1]", "zyx", None, False, "zyxc"),
        ("[313:355,252:441,0:1]", "yx", (512, 512), False, "yxc"),
        # object classification / tracking workflows force txyzc on 5-d blocks
        ("[0:1,15:25,14:25,0:1,0:1]", "tyxc", (5, 33, 77, 1), True, "txyzc"),
        ("[2:3,42:49,50:63,0:1,0:1]", "txyzc", None, False, "txyzc"),
        # a 3-channel lane: labels still have one channel
        ("[104:109,252:253,0:1]", "yxc", (255, 256, 3), False, "yxc"),
        # nothing fits: the block is larger than the lane in every order
        ("[0:2000,0:92,0:1]", "tzyxc", (1, 1, 1024, 1344, 1), False, None),
        # a non-singleton t cannot be squeezed away
        ("[281:457,412:504,0:1]", "tzyxc", (5, 1, 1024, 1344, 1), False, None),
    ],
)
def test_infer_block_axes(block_slice, axes, shape, forced, expected):
    assert infer_block_axes(block_slice, axes, shape, forced_txyzc=forced) == expected


# --------------------------------------------------------------------------- item 11, metadata only


def test_item11_layout_lists_its_labels(tmp_path):
    """Exactly the reported layout; no raw data is needed to read the labels."""
    rng = np.random.default_rng(0)
    block = rng.integers(0, 3, size=(176, 92, 1), dtype=np.uint8)
    path = write_ilastik13_project(tmp_path / "item11.ilp", shape=(1024, 1344), raw=None,
                                   blocks=[(block, "[281:457,412:504,0:1]")])
    project = read_ilp(path)
    [b] = project.pixel_stages[0].label_blocks[0]
    assert b.axes == "yxc" and b.shape == (176, 92, 1)
    image = label_image(project)
    assert image.shape == (1, 1, 1024, 1344)  # the lane's axes without c
    expected = np.zeros((1024, 1344), np.uint8)
    expected[281:457, 412:504] = block[..., 0]
    np.testing.assert_array_equal(image[0, 0], expected)
    ids, n = np.unique(block[block > 0], return_counts=True)
    assert label_counts(project) == dict(zip(ids.tolist(), n.tolist()))
    text = describe_ilp(project)
    assert f"1 'Label 1' (255, 0, 0) {int((block == 1).sum())} labelled pixels" in text
    assert f"2 'Label 2' (0, 255, 0) {int((block == 2).sum())} labelled pixels" in text


def test_unplaceable_block_is_reported_not_fatal(tmp_path):
    good = np.ones((10, 10, 1), np.uint8)
    bad = np.full((5, 5, 5, 1), 2, np.uint8)  # 4 axes, far outside the lane
    path = write_ilastik13_project(tmp_path / "bad.ilp", shape=(64, 64), raw=None,
                                   blocks=[(good, "[0:10,0:10,0:1]"), (bad, "[0:5,100:105,0:5,0:1]")])
    project = read_ilp(path)
    assert len(project.pixel_stages[0].label_blocks[0]) == 1
    [problem] = project.pixel_stages[0].label_problems
    assert "block0001" in problem and "[0:5,100:105,0:5,0:1]" in problem
    assert label_counts(project) == {1: 100}
    lines = cannot_use(project)
    assert any("block0001" in line and "retraining needs them" in line for line in lines)
    assert "cannot use:" in describe_ilp(project)


def test_ilp_info_cli_on_item11_layout(tmp_path):
    block = np.full((176, 92, 1), 1, np.uint8)
    block[:50] = 2
    path = write_ilastik13_project(tmp_path / "item11.ilp", shape=(1024, 1344), raw="raw.h5/data",
                                   blocks=[(block, "[281:457,412:504,0:1]")])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "gputrack", "ilp-info", str(path)], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "1 'Label 1' (255, 0, 0) 11592 labelled pixels" in run.stdout
    assert "2 'Label 2' (0, 255, 0) 4600 labelled pixels" in run.stdout
    assert "raw.h5/data not found" in run.stdout  # what it cannot use


# --------------------------------------------------------------------------- prediction through the layout


@pytest.mark.parametrize("where", ["relative", "absolute", "copied", "old-forest-storage"])
def test_item11_layout_predicts_with_its_stored_forest(api, raw_tzyxc, tmp_path, where):
    source = api / "PixelClass.ilp"
    raw_file = tmp_path / "raw.h5"
    with h5py.File(raw_file, "w") as f:
        f.create_dataset("data", data=raw_tzyxc)
    raw = {"relative": "raw.h5/data", "absolute": f"{raw_file}/data", "copied": raw_tzyxc,
           "old-forest-storage": "raw.h5/data"}[where]
    path = write_ilastik13_project(tmp_path / "p13.ilp", shape=raw_tzyxc.shape[2:4], raw=raw,
                                   blocks=_source_blocks(source), source=source,
                                   pickled_type=where != "old-forest-storage")
    project = read_ilp(path)
    assert not project.pixel_stages[0].label_problems and not cannot_use(project)
    assert label_counts(project) == label_counts(read_ilp(source))  # the same labels, other layout
    [p] = pixel.predict_ilp(path, device="cpu")
    ref = np.load(api / "res-Data_1channel_pc1xyc.npy")
    p = p.reshape(ref.shape)
    agree = float((p.argmax(-1) == ref.argmax(-1)).mean())
    assert agree >= 0.9999 and float(np.abs(p - ref).mean()) <= 1e-4


def test_stored_forest_needs_no_labels(api, raw_tzyxc, tmp_path):
    """A label block that cannot be placed stops retraining, not prediction."""
    source = api / "PixelClass.ilp"
    with h5py.File(tmp_path / "raw.h5", "w") as f:
        f.create_dataset("data", data=raw_tzyxc)
    blocks = [*_source_blocks(source), (np.ones((3, 3, 3, 1), np.uint8), "[0:3,0:3,0:3,0:1]")]
    path = write_ilastik13_project(tmp_path / "p13.ilp", shape=raw_tzyxc.shape[2:4], raw="raw.h5/data",
                                   blocks=blocks, source=source)
    [p] = pixel.predict_ilp(path, device="cpu")
    ref = np.load(api / "res-Data_1channel_pc1xyc.npy")
    assert float((p.reshape(ref.shape).argmax(-1) == ref.argmax(-1)).mean()) >= 0.9999
    with pytest.raises(InputError, match="cannot retrain, 1 label block"):
        pixel.predict_ilp(path, retrain=True, device="cpu")


def test_damaged_project_is_one_clear_error(api, tmp_path):
    data = (api / "PixelClass.ilp").read_bytes()
    cut = tmp_path / "cut.ilp"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="cut.ilp"):
        read_ilp(cut)


def test_unreadable_section_is_named_not_fatal(api, tmp_path):
    path = tmp_path / "odd.ilp"
    path.write_bytes((api / "PixelClass.ilp").read_bytes())
    with h5py.File(path, "a") as f:
        g = f.create_group("ThresholdTwoLevels")
        g.create_dataset("CurOperator", data=b"not a number")
    project = read_ilp(path, raw_data=[api / "Data_1channel.png"])
    assert project.threshold is None
    assert any(p.startswith("ThresholdTwoLevels: cannot be read") for p in project.problems)
    assert project.pixel_stages[0].forest_usable
