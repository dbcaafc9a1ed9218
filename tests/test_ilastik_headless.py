"""``gputrack ilastik-headless``: ilastik's documented headless command lines, unchanged.

The command lines are those of ilastik's documentation (headless.md: the plain call, the
"Output Options" example, the 8-bit probabilities of its FAQ) and of ilastik's own test
``testLotsOfOptions`` (png sequence with a cut-out). File names are checked against
ilastik's rule written out by hand here (``{dataset_dir}/{nickname}_{result_type}``,
extension replaced by the format's, HDF5 dataset ``exported_data``); the pixel values
against ilastik's stored results (``res-*.npy`` of api_projects.zip).
"""

from __future__ import annotations

import json
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


# --------------------------------------------------------------------------- Features, Labels, stacks


def test_features_export_is_ilastiks_feature_matrix(api, tmp_path):
    """``--export_source=Features``: ilastik's channels in ilastik's order, as its stored forest reads them.

    The project's forest was trained by ilastik on ilastik's feature matrix; evaluated on the
    exported channels (nothing else of gputrack's classifier involved) it gives ilastik's own
    probabilities only if every channel is the one ilastik computes, in ilastik's order.
    """
    from scipy import ndimage as ndi

    from gputrack import forest as gforest

    [path] = run_headless(api / "PixelClass.ilp", [str(api / "Data_1channel.png")], export_source="Features",
                          output_filename_format=str(tmp_path / "{nickname}_{result_type}"), device="cpu")
    assert path.name == "Data_1channel_Features.h5"
    with h5py.File(path, "r") as f:
        feats = f["exported_data"][()]
    assert feats.shape == (128, 128, 25) and feats.dtype == np.float32
    stored = gforest.read_ilp_forests(api / "PixelClass.ilp")
    assert stored.n_features == 25
    proba = gforest.predict_proba(stored, feats.reshape(-1, 25), device="cpu").reshape(128, 128, -1)
    ref = np.load(api / "res-Data_1channel_pc1xyc.npy")
    assert float((proba.argmax(-1) == ref.argmax(-1)).mean()) >= 0.9999
    assert float(np.abs(proba - ref).max()) <= 0.05  # a few pixels on a split threshold (test_pixel_ilastik)
    # channel 0, Gaussian Smoothing sigma 0.3, by ilastik's recipe with scipy: pre-smoothing 0.3 (window
    # 3.5) then the operator at 0.3 (window 2), mirrored borders
    raw = np.asarray(Image.open(api / "Data_1channel.png"), np.float32)
    raw = raw[..., 0] if raw.ndim == 3 else raw
    g = ndi.gaussian_filter(ndi.gaussian_filter(raw, 0.3, truncate=3.5, mode="mirror"), 0.3, truncate=2,
                            mode="mirror")
    np.testing.assert_allclose(feats[..., 0], g, atol=1e-3 * float(raw.max()))


def _label_blocks(project) -> list[tuple[np.ndarray, str]]:
    with h5py.File(project, "r") as f:
        group = f["PixelClassification/LabelSets/labels000"]
        return [(group[name][()], group[name].attrs["blockSlice"]) for name in sorted(group)]


def test_labels_export_is_the_projects_label_blocks(api, batch, tmp_path):
    """``--export_source=Labels``: the lane's label blocks placed at their ``blockSlice``; 0 elsewhere."""
    out = str(tmp_path / "{nickname}_{result_type}")
    [path] = run_headless(api / "PixelClass.ilp", [str(api / "Data_1channel.png")], export_source="labels",
                          output_filename_format=out, device="cpu")
    with h5py.File(path, "r") as f:
        labels = f["exported_data"][()]
    expected = np.zeros((128, 128, 1), np.uint8)
    blocks = _label_blocks(api / "PixelClass.ilp")
    assert blocks
    for block, where in blocks:  # "[y0:y1,x0:x1,c0:c1]" in the lane's yxc order
        region = tuple(slice(*map(int, part.split(":"))) for part in where.strip("[]").split(","))
        expected[region] = np.where(block > 0, block, expected[region])
    assert path.name == "Data_1channel_Labels.h5" and labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, expected)
    assert sorted(np.unique(labels)) == [0, 1, 2] and (labels == 1).sum() == 79  # ilp-info's count
    # an image that is not one of the project's lanes has no labels (ilastik's batch lanes)
    folder, _ = batch
    [other] = run_headless(api / "PixelClass.ilp", [str(folder / "my_next_image1.png")],
                           export_source="Labels", output_filename_format=out, device="cpu")
    with h5py.File(other, "r") as f:
        assert f["exported_data"].shape == (128, 128, 1) and not f["exported_data"][()].any()


def test_stack_along_z_c_t(api, tmp_path):
    """A glob of 2D files stacked along z (a 3D project), c (a 3-channel one) and t, as ilastik does."""
    slices = tmp_path / "slices"
    slices.mkdir()
    vol = np.load(api / "Data_3D.npy")[..., 0]
    for z in range(vol.shape[0]):
        Image.fromarray(vol[z]).save(slices / f"z_{z:02d}.png")
    rgb = np.asarray(Image.open(api / "Data_3channel.png"))
    for c in range(3):
        Image.fromarray(np.ascontiguousarray(rgb[..., c])).save(slices / f"c_{c}.png")
    out = str(tmp_path / "{nickname}_{result_type}")
    [z] = run_headless(api / "PixelClass3D.ilp", [str(slices / "z_*.png")], output_filename_format=out,
                       device="cpu")
    assert z.name == "z__Probabilities.h5"  # ilastik's nickname of a glob: the name without '*'
    with h5py.File(z, "r") as f:
        p = f["exported_data"][()]
        assert [a["key"] for a in json.loads(f["exported_data"].attrs["axistags"])["axes"]] == list("zyxc")
    ref = np.load(api / "res-Data_3D_pc3d.npy")
    assert p.shape == ref.shape and float((p.argmax(-1) == ref.argmax(-1)).mean()) >= 0.9999
    [c] = run_headless(api / "PixelClass3Channel.ilp", [str(slices / "c_*.png")], stack_along="c",
                       output_filename_format=out, device="cpu")
    with h5py.File(c, "r") as f:
        p = f["exported_data"][()]
    ref = np.load(api / "res-Data_3channel_pc3c.npy")
    assert p.shape == ref.shape and float((p.argmax(-1) == ref.argmax(-1)).mean()) >= 0.9999
    # along t: each frame is the image's own result; a stack along an axis the images have is refused
    [t] = run_headless(api / "PixelClass.ilp", [str(slices / "c_*.png")], stack_along="t",
                       output_filename_format=str(tmp_path / "t_{nickname}"), device="cpu")
    [single] = run_headless(api / "PixelClass.ilp", [str(slices / "c_1.png")],
                            output_filename_format=str(tmp_path / "single"), device="cpu")
    with h5py.File(t, "r") as f, h5py.File(single, "r") as g:
        assert f["exported_data"].shape == (3, 255, 256, 2)
        np.testing.assert_array_equal(f["exported_data"][1], g["exported_data"][()])
    with pytest.raises(InputError, match="'z' axis already"):
        run_headless(api / "PixelClass3D.ilp", [str(z.parent / "z_*.h5")],
                     output_filename_format=str(tmp_path / "x"), device="cpu")
    with pytest.raises(InputError, match="differs from the stack's first"):
        pair = str(slices / "z_00.png") + os.pathsep + str(slices / "c_0.png")
        run_headless(api / "PixelClass.ilp", [pair], output_filename_format=str(tmp_path / "x"), device="cpu")
    assert not list(tmp_path.glob("x*"))


def _readme_commands() -> list[list[str]]:
    import shlex

    text = (ROOT / "README.md").read_text()
    section = text.split("## Running an ilastik project headless", 1)[1].split("\n## ", 1)[0]
    return [shlex.split(line) for line in section.splitlines()
            if line.startswith(("./run_ilastik.sh ", "gputrack ilastik-headless "))]


def test_readme_headless_command_lines(api, tmp_path):
    """The README's ilastik command line, run as written with the program name replaced."""
    import shutil

    ilastik, plain, stack = _readme_commands()
    assert ilastik[0] == "./run_ilastik.sh" and plain[:2] == ["gputrack", "ilastik-headless"]
    assert plain[2:] == ilastik[1:]  # the same arguments, another program
    shutil.copy(api / "PixelClass.ilp", tmp_path / "MyProject.ilp")
    shutil.copy(api / "PixelClass3D.ilp", tmp_path / "MyProject3D.ilp")
    image = np.asarray(Image.open(api / "Data_1channel.png"))
    Image.fromarray(image).save(tmp_path / "my_next_image1.png")
    Image.fromarray(np.ascontiguousarray(image[:, ::-1])).save(tmp_path / "my_next_image2.png")
    run = headless(*plain[2:], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    ref = np.load(api / "res-Data_1channel_pc1xyc.npy").argmax(-1) + 1
    for name, expected in (("my_next_image1", ref), ("my_next_image2", ref[:, ::-1])):
        seg = np.asarray(Image.open(tmp_path / f"{name}_Simple Segmentation.png"))
        assert float((seg == expected).mean()) >= 0.999
    (tmp_path / "slices").mkdir()
    vol = np.load(api / "Data_3D.npy")[..., 0]
    for z in range(vol.shape[0]):
        Image.fromarray(vol[z]).save(tmp_path / "slices" / f"z_{z:02d}.png")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        from gputrack.cli import main

        assert main([*stack[1:], "--device", "cpu", "-q"]) == 0
    finally:
        os.chdir(cwd)
    with h5py.File(tmp_path / "slices" / "z__Probabilities.h5", "r") as f:
        p = f["exported_data"][()]
    ref3d = np.load(api / "res-Data_3D_pc3d.npy")
    assert float((p.argmax(-1) == ref3d.argmax(-1)).mean()) >= 0.9999


def test_an_output_over_its_input_is_refused(api, tmp_path):
    """``{dataset_dir}/{nickname}`` with the input's own format would replace the input: refused."""
    image = tmp_path / "Data_1channel.png"
    image.write_bytes((api / "Data_1channel.png").read_bytes())
    before = image.read_bytes()
    for fmt, name in (("png", "{dataset_dir}/{nickname}"), ("png", str(image))):
        with pytest.raises(InputError, match="would replace an input"):
            run_headless(api / "PixelClass.ilp", [str(image)], export_source="Simple Segmentation",
                         output_format=fmt, output_filename_format=name, overwrite=True, device="cpu")
    assert image.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [image.name]
