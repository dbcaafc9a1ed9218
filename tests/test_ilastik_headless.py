"""``gputrack ilastik-headless``: ilastik's documented headless command lines, unchanged.

The command lines are those of ilastik's documentation (headless.md: the plain call, the
"Output Options" example, the 8-bit probabilities of its FAQ) and of ilastik's own test
``testLotsOfOptions`` (png sequence with a cut-out). File names are checked against
ilastik's rule written out by hand here (``{dataset_dir}/{nickname}_{result_type}``,
extension replaced by the format's, HDF5 dataset ``exported_data``); the pixel values
against ilastik's stored results (``res-*.npy`` of api_projects.zip).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from gputrack.errors import InputError, OutputExistsError
from gputrack.export.ilastik_export import cutout, normalize, output_path, parse_roi, reorder
from gputrack.workflows.ilastik_headless import nickname, run_headless
from tests.conftest import ROOT, shared_path

ZIP = ("ilastik-testdata", "tests", "test_ilastik", "data", "api_projects.zip")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    out = tmp_path_factory.mktemp("api_projects")
    with zipfile.ZipFile(shared_path(*ZIP)) as zf:
        zf.extractall(out)
    return out


@pytest.fixture()
def batch(api, tmp_path):
    """Two new images in their own folder (ilastik's my_next_image1.png, my_next_image2.png)."""
    folder = tmp_path / "data"
    folder.mkdir()
    image = np.asarray(Image.open(api / "Data_1channel.png"))
    Image.fromarray(image).save(folder / "my_next_image1.png")
    Image.fromarray(np.ascontiguousarray(image[::-1])).save(folder / "my_next_image2.png")
    return folder, image


def headless(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "gputrack", "ilastik-headless", *args, "--device", "cpu"],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_documented_command_line_writes_ilastiks_file_names(api, batch, tmp_path):
    """``run_ilastik.sh --headless --project=MyProject.ilp my_next_image1.png my_next_image2.png``."""
    folder, image = batch
    run = headless("--headless", f"--project={api / 'PixelClass.ilp'}", "data/my_next_image1.png",
                   "data/my_next_image2.png", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    # the project's stored settings: {dataset_dir}/{nickname}_{result_type}, hdf5, exported_data
    expected = [folder / "my_next_image1_Probabilities.h5", folder / "my_next_image2_Probabilities.h5"]
    assert sorted(folder.glob("*.h5")) == expected
    ref = np.load(api / "res-Data_1channel_pc1xyc.npy")
    with h5py.File(expected[0], "r") as f:
        assert list(f) == ["exported_data"]
        p = f["exported_data"][()]
    assert p.shape == (128, 128, 2) and p.dtype == np.float32  # the input's yx plus c
    assert float((p.argmax(-1) == ref.argmax(-1)).mean()) >= 0.9999
    with h5py.File(expected[1], "r") as f:
        flipped = f["exported_data"][()]
    assert float((flipped[::-1].argmax(-1) == ref.argmax(-1)).mean()) >= 0.999


def test_output_options_example(api, batch, tmp_path):
    """headless.md "Output Options": ``--output_format=tiff``, ``.../{nickname}_results.tiff``."""
    folder, _ = batch
    results = tmp_path / "results"
    run = headless("--headless", f"--project={api / 'PixelClass.ilp'}", "--output_format=tiff",
                   f"--output_filename_format={results}/{{nickname}}_results.tiff",
                   "--export_source=Simple Segmentation",
                   str(folder / "my_next_image1.png"), str(folder / "my_next_image2.png"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    names = sorted(p.name for p in results.iterdir())
    assert names == ["my_next_image1_results.tiff", "my_next_image2_results.tiff"]
    seg = tifffile.imread(results / "my_next_image1_results.tiff")
    ref = np.load(api / "res-Data_1channel_pc1xyc.npy")
    assert np.squeeze(seg).shape == (128, 128)
    assert float((np.squeeze(seg) == ref.argmax(-1) + 1).mean()) >= 0.9999


def test_simple_segmentation_png_and_8bit_probabilities(api, batch, tmp_path):
    folder, _ = batch
    project = f"--project={api / 'PixelClass.ilp'}"
    run = headless("--headless", project, '--export_source=Simple Segmentation', "--output_format=png",
                   str(folder / "my_next_image1.png"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    seg = np.asarray(Image.open(folder / "my_next_image1_Simple Segmentation.png"))
    ref = np.load(api / "res-Data_1channel_pc1xyc.npy")
    assert seg.dtype == np.uint8 and float((seg == ref.argmax(-1) + 1).mean()) >= 0.9999
    # 8-bit probabilities as ilastik's FAQ: uint8, (0.0,1.0) -> (0,255); compressed hdf5 -> .h5
    run = headless(project, "--export_source=probabilities", "--output_format=compressed hdf5",
                   "--export_dtype=uint8", "--pipeline_result_drange=(0.0,1.0)", "--export_drange=(0,255)",
                   "--output_internal_path=/probs", "--readonly", "1", str(folder / "my_next_image1.png"),
                   cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    with h5py.File(folder / "my_next_image1_Probabilities.h5", "r") as f:
        p8 = f["probs"][()]
    assert p8.dtype == np.uint8
    # ilastik's rule on our own float probabilities, exactly: uint8(0 + (p - 0) * float32(255 / 1))
    [p] = run_headless(api / "PixelClass.ilp", [str(folder / "my_next_image1.png")], device="cpu",
                       output_filename_format=str(tmp_path / "float"), output_format="numpy")
    np.testing.assert_array_equal(p8, (np.load(p) * np.float32(255.0)).astype(np.uint8))
    # and against ilastik's probabilities: p is a multiple of 1/100 trees, so 255 p often lands on an
    # integer, where float noise of 1e-7 truncates either way (off by one); a few pixels sit on a split
    # threshold (the stored-forest parity of test_pixel_ilastik)
    diff = np.abs(p8.astype(int) - (ref * np.float32(255.0)).astype(np.uint8).astype(int))
    assert float((diff == 0).mean()) >= 0.97 and float((diff <= 1).mean()) >= 0.999


def test_png_sequence_with_cutout(api, tmp_path):
    """ilastik's testLotsOfOptions: png sequence, {slice_index}, cut-out, uint8 probabilities."""
    vol = np.load(api / "Data_3D.npy")
    (tmp_path / "vol").mkdir()
    with h5py.File(tmp_path / "vol" / "Data_3D.h5", "w") as f:
        ds = f.create_dataset("data", data=vol[..., None] if vol.ndim == 3 else vol)
        ds.attrs["axistags"] = '{"axes": [{"key": "z"}, {"key": "y"}, {"key": "x"}, {"key": "c"}]}'
    written = run_headless(
        api / "PixelClass3D.ilp", [str(tmp_path / "vol" / "Data_3D.h5/data")],
        output_format="png sequence",
        output_filename_format=str(tmp_path / "{nickname}_prediction_z{slice_index}.png"),
        export_dtype="uint8", pipeline_result_drange=(0.0, 1.0), export_drange=(0, 255),
        cutout_subregion=parse_roi("[(10,0,0,1),(22,None,None,2)]"), device="cpu",
    )
    # 12 slices z = 10..21, numbered from the cut-out's start, two digits (ilastik pads to the last index)
    assert [p.name for p in written] == [f"Data_3D-data_prediction_z{z}.png" for z in range(10, 22)]
    ref = np.load(api / "res-Data_3D_pc3d.npy")
    first = np.asarray(Image.open(written[0]))
    assert first.shape == ref.shape[1:3]
    diff = np.abs(first.astype(int) - (ref[10, ..., 1] * np.float32(255.0)).astype(np.uint8).astype(int))
    assert float((diff == 0).mean()) >= 0.95 and float((diff <= 1).mean()) >= 0.995  # see the 8-bit test


def test_rules_written_out():
    assert output_path("{dataset_dir}/{nickname}_{result_type}", "hdf5", dataset_dir="/d", nickname="a",
                       result_type="Probabilities") == "/d/a_Probabilities.h5"
    # the extension is replaced by the format's, as ilastik does with os.path.splitext
    assert output_path("/o/{nickname}.tif", "multipage tiff", dataset_dir="/d", nickname="a",
                       result_type="x") == "/o/a.tiff"
    assert output_path("rel/{nickname}", "numpy", dataset_dir="/d", nickname="a", result_type="x",
                       working_dir="/cwd") == "/cwd/rel/a.npy"
    assert output_path("/o/{nickname}_{y_start}-{y_stop}", "png", dataset_dir="/d", nickname="a",
                       result_type="x", axes="yxc", start=(5, 0, 0), stop=(50, 9, 1)) == "/o/a_5-50.png"
    assert nickname("/d/my_stack_*.png") == "my_stack_"
    assert cutout((4, 5), ((None, 2), (3, None)), "yx") == ((0, 2), (3, 5))
    data, axes = reorder(np.zeros((3, 4, 1)), "yxc", "tzyxc")
    assert data.shape == (1, 1, 3, 4, 1) and axes == "tzyxc"
    values = np.array([0.0, 0.999, 1.0], np.float32)
    np.testing.assert_array_equal(normalize(values, "uint8", (0, 1), (0, 255)), [0, 254, 255])


def test_refusals_are_one_line_errors(api, batch, tmp_path):
    folder, _ = batch
    project = f"--project={api / 'PixelClass.ilp'}"
    image = str(folder / "my_next_image1.png")
    for args, needle in (
        (["--export_drange=(0,255)"], "--export_drange needs --pipeline_result_drange"),
        (["--export_source=Object Predictions"], "this project's sources are Probabilities"),
        (["--output_format=png sequence"], "must contain {slice_index}"),
        (["--cutout_subregion=[(0,0),(1,)]"], "--cutout_subregion"),
    ):
        run = headless(project, *args, image, cwd=tmp_path)
        assert run.returncode == 2, (args, run.stderr)
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and needle in lines[0], (args, run.stderr)
    assert not list(folder.glob("*.h5")) and not list(folder.glob("*Probabilities*"))
    run_headless(api / "PixelClass.ilp", [image], device="cpu")
    with pytest.raises(OutputExistsError):
        run_headless(api / "PixelClass.ilp", [image], device="cpu")
    with pytest.raises(InputError, match="cannot be read|not an ilastik|not found"):
        run_headless(folder / "my_next_image1.png", [image], device="cpu")
