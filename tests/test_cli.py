"""The gputrack command: subcommands work end to end; user mistakes are one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tifffile

from gputrack import __version__, backend
from gputrack.cli import main
from gputrack.io.ctc import lineage_summary, read_frames, read_tracks
from tests.conftest import shared_path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run the installed command in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "gputrack", *args], capture_output=True, text=True, timeout=300
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gputrack: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"gputrack {__version__}"


def test_info_json(capsys):
    assert main(["info", "--device", "cpu", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["device"] == "cpu"
    assert set(info["stages"]) >= {"features", "forest", "segment", "objects", "tracking"}
    assert info["versions"]["h5py"]


def test_info_text_says_which_device(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "device for this run:" in out
    if not backend.gpu_available():
        assert "GPU: none" in out and "fell back to the CPU" in out


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is present")
def test_gpu_without_gpu_is_one_line():
    assert_one_line_error(run_cli("info", "--device", "gpu"), "--device gpu", "no GPU")


def test_synth_writes_ctc_layout(tmp_path):
    out = tmp_path / "synth"
    assert main(["synth", "--out", str(out), "--frames", "6", "--cells", "5", "--quiet"]) == 0
    raw = read_frames(out / "01")
    gt = read_frames(out / "01_GT" / "TRA")
    tracks = read_tracks(out / "01_GT" / "TRA" / "man_track.txt")
    assert raw.shape == gt.shape == (6, 256, 256)
    # every GT label is in the lineage table and lives in exactly its frames
    for label, begin, end in tracks[["label", "begin", "end"]].itertuples(index=False):
        present = [t for t in range(6) if (gt[t] == label).any()]
        assert present == list(range(begin, end + 1))
    assert lineage_summary(tracks)["n_tracks"] == len(np.setdiff1d(np.unique(gt), [0]))
    # no overwrite without --overwrite
    assert_one_line_error(run_cli("synth", "--out", str(out), "--frames", "3"), str(out), "overwrite")


def test_segment_matches_scipy_reference(tmp_path):
    import scipy.ndimage as ndi

    rng = np.random.default_rng(1)
    prob = ndi.gaussian_filter(rng.random((3, 64, 64)), 2)
    prob = ((prob - prob.min()) / np.ptp(prob)).astype(np.float32)
    src = tmp_path / "prob.h5"
    from gputrack.io.images import read_image, write_image

    write_image(src, prob, axes="tyx")
    out = tmp_path / "labels.h5"
    args = ["segment", str(src), "--out", str(out), "--threshold", "0.6", "--sigma", "0"]
    assert main([*args, "--min-size", "5", "--quiet"]) == 0
    labels = read_image(out)
    for t in range(3):
        ref, n = ndi.label(prob[t] >= 0.6)
        sizes = np.bincount(ref.ravel())
        keep = np.flatnonzero(sizes >= 5)
        keep = keep[keep > 0]
        assert labels[t].max() == len(keep)
        np.testing.assert_array_equal(labels[t] > 0, np.isin(ref, keep))


def test_demo_runs_the_pipeline_and_scores_it(tmp_path):
    from PIL import Image

    from gputrack.tracking.evaluate import ctc_scores

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--frames", "8", "--trees", "10", "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 8
    # the scores in the summary are py-ctcmetrics' on the written result
    scores = ctc_scores(out / "data" / "01_RES", out / "data" / "01_GT")
    for name in ("Valid", "DET", "TRA", "LNK"):
        assert summary["scores"][name] == pytest.approx(scores[name])
    assert summary["scores"]["Valid"] == 1.0
    assert summary["scores"]["DET"] > 0.8
    assert summary["foreground_iou"] > 0.7
    # tables and pictures
    import pandas as pd

    assert len(pd.read_csv(out / "objects.csv")) == summary["objects"]
    assert "trackId" in pd.read_csv(out / "tracking.csv").columns
    # pictures: overlays of 5 evenly spaced frames at a readable size, and the lineage tree
    overlays = sorted(p.name for p in out.glob("overlay_t*.png"))
    assert overlays == [f"overlay_t{t:04d}.png" for t in (0, 2, 4, 5, 7)]  # linspace(0, 7, 5) rounded
    for name in [*overlays, "lineage.png"]:
        image = Image.open(out / name)
        assert image.mode in ("RGB", "RGBA")
    assert max(Image.open(out / overlays[0]).size) >= 800
    # nothing is left behind next to the output, and it is not overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
    assert_one_line_error(run_cli("demo", "--out", str(out)), "overwrite")


@pytest.fixture(scope="module")
def pixel_project(tmp_path_factory):
    archive = shared_path("ilastik-testdata", "tests", "test_ilastik", "data", "api_projects.zip")
    folder = tmp_path_factory.mktemp("api")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    return folder


def test_ilp_info(pixel_project):
    result = run_cli("ilp-info", str(pixel_project / "PixelClass.ilp"))
    assert result.returncode == 0, result.stderr
    assert "PixelClassification" in result.stdout.replace(" ", "")


def test_ilp_info_missing_raw_data_names_lane(pixel_project, tmp_path):
    import h5py

    from gputrack.io.ilp import open_lane, read_ilp

    project = read_ilp(pixel_project / "PixelClass.ilp", raw_data=[str(tmp_path / "gone.png")])
    with pytest.raises(FileNotFoundError, match="gone.png"):
        open_lane(project, 0)
    assert h5py.is_hdf5(pixel_project / "PixelClass.ilp")


def test_bad_inputs_are_one_line_errors(tmp_path):
    # missing file
    assert_one_line_error(
        run_cli("segment", str(tmp_path / "nope.h5"), "--out", str(tmp_path / "o.h5")), "nope.h5"
    )
    # missing HDF5 dataset
    from gputrack.io.images import write_image

    write_image(tmp_path / "a.h5", np.zeros((4, 4), np.float32), axes="yx", dataset="data")
    result = run_cli(
        "segment", str(tmp_path / "a.h5"), "--dataset", "missing", "--out", str(tmp_path / "o.h5")
    )
    assert_one_line_error(result, "missing")
    # axes that do not fit the shape
    result = run_cli("segment", str(tmp_path / "a.h5"), "--axes", "tyx", "--out", str(tmp_path / "o.h5"))
    assert_one_line_error(result, "tyx")
    # corrupt TIFF
    (tmp_path / "bad.tif").write_bytes(b"II*\x00" + bytes(range(256)) * 4)
    assert_one_line_error(
        run_cli("segment", str(tmp_path / "bad.tif"), "--out", str(tmp_path / "o.h5")), "bad.tif"
    )
    # empty CTC folder
    (tmp_path / "empty").mkdir()
    assert_one_line_error(
        run_cli("segment", str(tmp_path / "empty"), "--out", str(tmp_path / "o.h5")), "empty"
    )
    # not an ilastik project
    assert_one_line_error(run_cli("ilp-info", str(tmp_path / "a.h5")), "a.h5")
    # nothing partial was written
    assert not (tmp_path / "o.h5").exists()
    tifffile.imwrite(tmp_path / "ok.tif", np.zeros((4, 4), np.uint8))


def test_objects_features_from_ctc_folders(tmp_path):
    import pandas as pd
    from skimage.measure import regionprops_table

    seq = tmp_path / "synth"
    assert main(["synth", "--out", str(seq), "--frames", "4", "--cells", "6", "--quiet"]) == 0
    out = tmp_path / "table.csv"
    args = ["objects", "features", "--raw", str(seq / "01"), "--labels", str(seq / "01_GT" / "TRA")]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out)
    raw = read_frames(seq / "01")
    gt = read_frames(seq / "01_GT" / "TRA")
    for t in range(4):
        ref = regionprops_table(gt[t], raw[t], properties=("label", "area", "centroid", "intensity_mean"))
        rows = table[table["timestep"] == t].sort_values("labelimage_oid")
        np.testing.assert_array_equal(rows["labelimage_oid"], ref["label"])
        np.testing.assert_array_equal(rows["Size_in_pixels"], ref["area"])
        # ilastik orders coordinates x, y
        np.testing.assert_allclose(rows["Center_of_the_object_0"], ref["centroid-1"], rtol=1e-6)
        np.testing.assert_allclose(rows["Center_of_the_object_1"], ref["centroid-0"], rtol=1e-6)
        np.testing.assert_allclose(rows["Mean_Intensity"], ref["intensity_mean"], rtol=1e-5)
    # raw and labels of different lengths are a one-line error
    short = tmp_path / "short"
    from gputrack.io.ctc import write_frames

    write_frames(short, raw[:2])
    result = run_cli(
        "objects",
        "features",
        "--raw",
        str(short),
        "--labels",
        str(seq / "01_GT" / "TRA"),
        "--out",
        str(tmp_path / "x.csv"),
    )
    assert_one_line_error(result, "short")
    assert not (tmp_path / "x.csv").exists()


def test_pixel_train_and_predict_equal_the_api(tmp_path):
    from gputrack import pixel
    from gputrack.datasets import synthetic_timelapse
    from gputrack.io.images import read_image, write_image

    data = synthetic_timelapse(n_frames=3, seed=1)
    write_image(tmp_path / "img0.tif", data.raw[0], axes="yx")
    write_image(tmp_path / "lab0.png", data.scribbles[0], axes="yx")
    write_image(tmp_path / "img2.tif", data.raw[2], axes="yx")
    features = ["GaussianSmoothing=0.7,1.6", "HessianOfGaussianEigenvalues=1.6"]
    train = ["pixel", "train", "--images", str(tmp_path / "img0.tif"), "--labels", str(tmp_path / "lab0.png")]
    assert (
        main([*train, "--out", str(tmp_path / "p.h5"), "--features", *features, "--trees", "10", "--quiet"])
        == 0
    )
    seg = tmp_path / "seg.png"
    predict = ["pixel", "predict", str(tmp_path / "img2.tif"), "--project", str(tmp_path / "p.h5")]
    assert main([*predict, "--out", str(seg), "--export", "simple-segmentation", "--quiet"]) == 0
    clf = pixel.train(
        [data.raw[0]],
        [data.scribbles[0]],
        {"GaussianSmoothing": [0.7, 1.6], "HessianOfGaussianEigenvalues": [1.6]},
        n_trees=10,
        random_state=0,
    )
    expected = pixel.predict(clf, data.raw[2], output="simple-segmentation")
    np.testing.assert_array_equal(read_image(seg), expected)
    # the segmentation finds the GT foreground (class 2 = foreground scribbles)
    fg, gt = read_image(seg) == 2, data.labels[2] > 0
    assert (fg & gt).sum() / (fg | gt).sum() > 0.8
    # existing output is not replaced without --overwrite
    result = run_cli(*predict, "--out", str(seg), "--export", "simple-segmentation")
    assert_one_line_error(result, "seg.png", "overwrite")


def test_pixel_predict_with_ilastik_project(pixel_project, tmp_path):
    import h5py

    out = tmp_path / "res"
    args = [
        "pixel",
        "predict",
        str(pixel_project / "Data_1channel.png"),
        "--ilp",
        str(pixel_project / "PixelClass.ilp"),
    ]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    [written] = list(out.iterdir())
    with h5py.File(written) as f:
        ours = f["exported_data"][()]
    ref = np.load(pixel_project / "res-Data_1channel_pc1xyc.npy")
    assert ours.shape[-1] == ref.shape[-1]
    agree = (ours.reshape(-1, ours.shape[-1]).argmax(1) == ref.reshape(-1, ref.shape[-1]).argmax(1)).mean()
    assert agree >= 0.9999


def test_track_ctc_folders_exact_form(tmp_path):
    from gputrack.tracking.evaluate import ctc_scores

    seq = tmp_path / "synth"
    assert main(["synth", "--out", str(seq), "--frames", "12", "--cells", "8", "--quiet"]) == 0
    res = tmp_path / "RES"
    args = ["track", "--raw", f"{seq / '01'}/", "--labels", f"{seq / '01_GT' / 'TRA'}/", "--out", f"{res}/"]
    assert main([*args, "--export", "ctc", "--quiet"]) == 0
    assert (res / "res_track.txt").is_file() and (res / "mask000.tif").is_file()
    scores = ctc_scores(res, seq / "01_GT")
    assert scores["Valid"] == 1.0
    assert scores["DET"] == 1.0  # GT masks in: every object is detected
    assert scores["LNK"] > 0.95
    # --timeout 0, unknown export, raw/labels of different lengths: one-line errors, nothing written
    bad = tmp_path / "bad"
    assert_one_line_error(run_cli(*args[:-1], str(bad), "--timeout", "0"), "--timeout")
    assert_one_line_error(run_cli(*args[:-1], str(bad), "--export", "ctc,nope"), "nope", "ctc")
    from gputrack.io.ctc import read_frames, write_frames

    write_frames(tmp_path / "short", read_frames(seq / "01")[:5])
    result = run_cli(
        "track", "--raw", str(tmp_path / "short"), "--labels", str(seq / "01_GT" / "TRA"), "--out", str(bad)
    )
    assert_one_line_error(result)
    assert not bad.exists()


def test_objects_train_and_predict(tmp_path):
    import pandas as pd

    from gputrack.io.images import read_image
    from gputrack.objects import OBJECT_COUNT_FEATURES, predict, train
    from gputrack.objects import features as object_features

    seq = tmp_path / "synth"
    assert main(["synth", "--out", str(seq), "--frames", "6", "--cells", "10", "--quiet"]) == 0
    inputs = ["--raw", str(seq / "01"), "--labels", str(seq / "01_GT" / "TRA")]
    raw, gt = read_frames(seq / "01"), read_frames(seq / "01_GT" / "TRA")
    table = object_features(raw, gt, axes="tyx")
    # annotate: large objects are class 1, small ones class 0 (a rule the size features carry)
    annotations = table[["t", "label"]].assign(
        **{"class": (table["Count"] > table["Count"].median()).astype(int)}
    )
    annotations = annotations[annotations["t"] < 3]
    annotations.to_csv(tmp_path / "ann.csv", index=False)
    clf_path = tmp_path / "clf.h5"
    assert (
        main(
            [
                "objects",
                "train",
                *inputs,
                "--annotations",
                str(tmp_path / "ann.csv"),
                "--out",
                str(clf_path),
                "--trees",
                "20",
                "--quiet",
            ]
        )
        == 0
    )
    out, image = tmp_path / "pred.csv", tmp_path / "pred.tif"
    assert (
        main(
            [
                "objects",
                "predict",
                *inputs,
                "--classifier",
                str(clf_path),
                "--out",
                str(out),
                "--image",
                str(image),
                "--quiet",
            ]
        )
        == 0
    )
    # the command equals the API
    expected = predict(
        train(table, annotations, list(OBJECT_COUNT_FEATURES), n_trees=20), table, device="cpu"
    )
    got = pd.read_csv(out)
    np.testing.assert_array_equal(got["Predicted_Class"], expected["class"])
    # held-out frames follow the size rule
    held = got["timestep"] >= 3
    truth = (table["Count"] > table["Count"].median()).astype(int).to_numpy()
    assert (got["Predicted_Class"].to_numpy()[held] == truth[held]).mean() > 0.8
    # the painted image carries each object's class
    painted = read_image(image)
    for t, label, cls in expected[["t", "label", "class"]].itertuples(index=False):
        assert (painted[t][gt[t] == label] == cls).all()
    # annotations without a class column: one-line error
    annotations.drop(columns="class").to_csv(tmp_path / "bad.csv", index=False)
    result = run_cli(
        "objects",
        "train",
        *inputs,
        "--annotations",
        str(tmp_path / "bad.csv"),
        "--out",
        str(tmp_path / "c2.h5"),
    )
    assert_one_line_error(result, "bad.csv", "class")
