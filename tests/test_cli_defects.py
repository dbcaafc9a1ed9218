"""The command line keeps users' data safe and says what is wrong: one test per defect found."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from gputrack import backend
from gputrack.cli import build_parser, main
from gputrack.io.ctc import read_frames, write_frames
from gputrack.io.images import read_image, write_image
from tests.test_cli import run_cli

FEATURES = ["GaussianSmoothing=1.0", "HessianOfGaussianEigenvalues=1.6"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A small synthetic sequence (CTC layout), a training frame and a trained project."""
    from gputrack.datasets import synthetic_timelapse, write_synthetic_ctc

    root = tmp_path_factory.mktemp("cli")
    data = synthetic_timelapse(n_frames=6, shape=(64, 64), n_cells=3, seed=0)
    write_synthetic_ctc(root / "seq", data)
    t = next(t for t in range(6) if data.scribbles[t].any())
    write_image(root / "img.tif", data.raw[t], axes="yx")
    write_image(root / "lab.png", data.scribbles[t].astype(np.uint8), axes="yx")
    train = ["pixel", "train", "--images", str(root / "img.tif"), "--labels", str(root / "lab.png")]
    assert main([*train, "--out", str(root / "p.h5"), "--features", *FEATURES, "--trees", "10", "-q"]) == 0
    return {"root": root, "data": data, "train": train, "seq": root / "seq", "project": root / "p.h5"}


def error_line(capsys, argv, *needles):
    """Run in-process; expect exit 2 and one stderr line holding every needle."""
    capsys.readouterr()
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gputrack: error: "), lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ----------------------------------------------------------------------------- 1 --overwrite


def test_overwrite_keeps_foreign_files_in_track_and_export_folders(work, tmp_path):
    labels = str(work["seq"] / "01_GT" / "TRA")
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    assert main(["track", "--labels", labels, "--out", str(out), "--overwrite", "-q"]) == 0
    assert (out / "notes.txt").read_text() == "keep"
    assert (out / "res_track.txt").is_file() and (out / "tracking_result.h5").is_file()
    # a second run with fewer frames leaves no stale frame of the first
    write_frames(tmp_path / "three", read_frames(labels)[:3])
    assert main(["track", "--labels", str(tmp_path / "three"), "--out", str(out), "--overwrite", "-q"]) == 0
    assert sorted(p.name for p in out.glob("mask*.tif")) == ["mask000.tif", "mask001.tif", "mask002.tif"]
    assert (out / "notes.txt").read_text() == "keep"
    ctc = tmp_path / "ctc"
    ctc.mkdir()
    (ctc / "notes.txt").write_text("keep")
    assert main(["export", str(out / "tracking_result.h5"), "--format", "ctc", "--out", str(ctc),
                 "--overwrite", "-q"]) == 0
    assert (ctc / "notes.txt").read_text() == "keep" and (ctc / "res_track.txt").is_file()


def test_overwrite_never_replaces_a_foreign_file_of_an_output_folder_name(work, tmp_path, capsys):
    out = tmp_path / "r"
    (out / "tracking_result.h5").mkdir(parents=True)  # a folder of the user's where a file goes
    (out / "tracking_result.h5" / "mine.txt").write_text("keep")
    labels = str(work["seq"] / "01_GT" / "TRA")
    error_line(capsys, ["track", "--labels", labels, "--out", str(out), "--overwrite"], "tracking_result.h5")
    assert (out / "tracking_result.h5" / "mine.txt").read_text() == "keep"
    assert sorted(p.name for p in out.iterdir()) == ["tracking_result.h5"]


# ----------------------------------------------------------------------------- 2 --scale


def test_pixel_train_scale_is_recorded_and_used(work, tmp_path, capsys):
    from gputrack.pixel import classify_file
    from gputrack.project import load_project

    project = tmp_path / "half.h5"
    argv = [*work["train"], "--out", str(project), "--features", *FEATURES, "--trees", "10", "--scale", "0.5"]
    assert main([*argv, "-q"]) == 0
    loaded = load_project(project)
    assert loaded.scale == 0.5
    assert load_project(work["project"]).scale == 1.0
    data = work["data"]
    write_image(tmp_path / "frame.tif", data.raw[4], axes="yx")
    seg = tmp_path / "seg.tif"
    assert main(["pixel", "predict", str(tmp_path / "frame.tif"), "--project", str(project),
        "--out", str(seg),
                 "--export", "simple-segmentation", "-q"]) == 0
    ref = classify_file(loaded.classifier, tmp_path / "frame.tif", tmp_path / "ref.tif",
                        export="simple-segmentation", scale=0.5, device="cpu", quiet=True)
    np.testing.assert_array_equal(read_image(seg), read_image(ref))
    fg, gt = read_image(seg) == 2, data.labels[4] > 0
    assert (fg & gt).sum() / (fg | gt).sum() > 0.6  # areas right at the trained scale
    # another scale than the training one is refused, both ways
    error_line(capsys, ["pixel", "predict", str(tmp_path / "frame.tif"), "--project", str(project),
                        "--out", str(tmp_path / "x.tif"), "--scale", "1"], "trained at scale 0.5", "--scale")
    error_line(capsys, ["pixel", "predict", str(tmp_path / "frame.tif"), "--project", str(work["project"]),
                        "--out", str(tmp_path / "x.tif"), "--scale", "0.2"], "trained at scale 1")
    assert not (tmp_path / "x.tif").exists()


def test_scale_labels_keeps_thin_scribbles():
    from gputrack.pixel.labels import scale_labels

    lab = np.zeros((20, 20), np.uint8)
    lab[3, 2:18] = 1  # a one-pixel line
    lab[10:16, 10:16] = 2
    small = scale_labels(lab, "yx", 0.2)
    assert small.shape == (4, 4)
    assert (small == 1).sum() >= 3 and (small == 2).any()


# ----------------------------------------------------------------------------- 3 unwritable


def test_unwritable_output_is_one_line_before_any_work(work, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    labels = str(work["seq"] / "01_GT" / "TRA")
    error_line(capsys, ["track", "--labels", labels, "--out", str(blocker / "r")], "is a file")
    error_line(capsys, [*work["train"], "--out", str(blocker / "p.h5")], "is a file")


# ----------------------------------------------------------------------------- 4 resume


def _folder(work, tmp_path, n):
    raw = read_frames(work["seq"] / "01")
    folder = tmp_path / "imgs"
    folder.mkdir(exist_ok=True)
    for i in range(n):
        write_image(folder / f"cell{i}.tif", raw[i], axes="yx")
    return folder


def test_folder_batch_skips_finished_images_and_overwrite_redoes_only_changed(work, tmp_path):
    folder = _folder(work, tmp_path, 3)
    out = tmp_path / "out"
    predict = ["pixel", "predict", str(folder), "--project", str(work["project"]), "--out", str(out), "-q"]
    assert main(predict) == 0
    outs = sorted(out.glob("*.h5"))
    assert len(outs) == 3
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in outs}
    # an unchanged rerun and a rerun with --overwrite both skip what is done
    assert main(predict) == 0
    assert main([*predict, "--overwrite"]) == 0
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in outs} == before
    # a changed input is redone with --overwrite, and refused without it
    write_image(folder / "cell1.tif", read_frames(work["seq"] / "01")[4], axes="yx", overwrite=True)
    assert main(predict) == 2
    assert main([*predict, "--overwrite"]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in outs}
    assert after["cell1_Probabilities.h5"] != before["cell1_Probabilities.h5"][0]
    assert after["cell0_Probabilities.h5"] == before["cell0_Probabilities.h5"][0]


def test_interrupted_folder_batch_resumes(tmp_path, capsys):
    """Ctrl-C after 3 of 6 images: exit 130, one line, nothing partial; the rerun does only the rest."""
    from gputrack import pixel
    from gputrack.project import load_project
    from tests.conftest import ROOT

    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(6):  # big enough that one image takes a while (~1 s), always the same work
        image = ndi.gaussian_filter(rng.random((640, 640)), 4) * 4000
        write_image(folder / f"img{i}.tif", image.astype(np.uint16), axes="yx")
    scribbles = np.zeros((640, 640), np.uint8)
    scribbles[20:24, 20:300], scribbles[400:404, 200:500] = 1, 2
    write_image(tmp_path / "lab.png", scribbles, axes="yx")
    project = tmp_path / "p.h5"
    assert main(["pixel", "train", "--images", str(folder / "img0.tif"), "--labels",
                 str(tmp_path / "lab.png"), "--out", str(project), "--features", *FEATURES, "--trees", "10",
                 "-q"]) == 0
    out = tmp_path / "out"
    # one block per image (the default block size follows free memory): a partial file holds no
    # finished block until its image is done, so an interrupted image leaves nothing
    argv = ["pixel", "predict", str(folder), "--project", str(project), "--out", str(out), "--device", "cpu",
            "--block-size", "1024", "1024", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "gputrack", *argv], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while len(list(out.glob("*_Probabilities.h5"))) < 3 or not (  # the 4th image under way
            list(out.glob(".*.partial.h5")) or len(list(out.glob("*_Probabilities.h5"))) > 3):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gputrack: interrupted"), err
    done = sorted(out.glob("*_Probabilities.h5"))
    assert 3 <= len(done) < 6
    # nothing partial, except where the Ctrl-C landed after the image's only block was done (while
    # it was being finished): that partial file holds the finished block, for the resume to use
    rest = sorted(p.name for p in out.iterdir() if p not in done and p.name != ".gputrack-batch.json")
    assert (out / ".gputrack-batch.json").is_file() and len(rest) <= 1, rest
    for name in rest:
        assert re.fullmatch(r"\.img[0-5]_Probabilities\.h5\.partial\.h5", name), rest
        with h5py.File(out / name) as f:
            assert "done" not in f or f["done"][()].all(), name

    def stamp(p):
        st = p.stat()
        return st.st_ino, st.st_mtime_ns, p.read_bytes()

    before = {p.name: stamp(p) for p in done}
    capsys.readouterr()
    assert main(argv[:-1]) == 0
    assert f"{len(done)} of 6 images already done" in capsys.readouterr().err
    outs = sorted(out.glob("*_Probabilities.h5"))
    assert [p.name for p in outs] == [f"img{i}_Probabilities.h5" for i in range(6)]
    assert [p.name for p in out.iterdir() if p not in outs] == [".gputrack-batch.json"]  # no partial
    assert {p.name: stamp(p) for p in done} == before  # the finished ones untouched
    clf = load_project(project).classifier
    for i in (0, 5):  # one of the first run, one of the rerun: the classifier's probabilities
        expected = backend.to_host(pixel.predict(clf, read_image(folder / f"img{i}.tif"), device="cpu"))
        np.testing.assert_allclose(read_image(out / f"img{i}_Probabilities.h5"), expected, atol=1e-6)


# ----------------------------------------------------------------------------- 5 / 12 output names


def test_ilp_single_image_to_a_png_file(tmp_path):
    import zipfile

    from tests.conftest import shared_path

    archive = shared_path("ilastik-testdata", "tests", "test_ilastik", "data", "api_projects.zip")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path)
    out = tmp_path / "seg.png"
    argv = ["pixel", "predict", str(tmp_path / "Data_1channel.png"), "--ilp",
        str(tmp_path / "PixelClass.ilp"),
            "--out", str(out), "--export", "simple-segmentation", "-q"]
    assert main(argv) == 0
    assert out.is_file()
    seg = read_image(out)
    ref = np.load(tmp_path / "res-Data_1channel_pc1xyc.npy")
    assert seg.shape == ref.shape[:2] or seg.shape == ref.shape[1::-1]


def test_folder_with_a_file_name_as_out_is_refused(work, tmp_path, capsys):
    folder = _folder(work, tmp_path, 2)
    error_line(capsys, ["pixel", "predict", str(folder), "--project", str(work["project"]),
                        "--out", str(tmp_path / "probs.h5")], "probs.h5", "folder")
    assert not (tmp_path / "probs.h5").exists()


def test_chain_raw_probabilities_labels_tracks(work, tmp_path):
    from gputrack.segment import threshold

    raw = work["seq"] / "01"
    probs, labels, res = tmp_path / "probs", tmp_path / "labels", tmp_path / "res"
    assert main(["pixel", "predict", str(raw), "--project", str(work["project"]), "--out",
        str(probs), "-q"]) == 0
    assert len(list(probs.glob("t*_Probabilities.h5"))) == 6
    assert main(["segment", str(probs), "--out", str(labels), "-q"]) == 0
    stack = np.stack([read_image(p) for p in sorted(probs.glob("*.h5"))])
    expected = backend.to_host(threshold(stack, channel=1, axes="tyxc", device="cpu"))
    got = read_frames(labels)
    assert got.shape == expected.shape == (6, 64, 64)
    np.testing.assert_array_equal(got > 0, expected > 0)
    assert main(["track", "--raw", str(raw), "--probabilities", str(probs), "--out", str(res), "-q"]) == 0
    assert (res / "res_track.txt").is_file()
    assert main(["track", "--raw", str(raw), "--labels", str(labels), "--out",
        str(tmp_path / "r2"), "-q"]) == 0


# ----------------------------------------------------------------------------- 6 tracebacks


def test_truncated_files_are_one_line(work, tmp_path, capsys):
    cut = tmp_path / "cut.h5"
    cut.write_bytes(work["project"].read_bytes()[:3000])
    error_line(capsys, ["pixel", "predict", str(work["root"] / "img.tif"), "--project", str(cut),
                        "--out", str(tmp_path / "o.h5")], "cut.h5", "truncated")
    error_line(capsys, ["export", str(cut), "--format", "csv", "--out", str(tmp_path / "o.csv")],
               "cut.h5", "truncated")
    cut_ilp = tmp_path / "cut.ilp"
    cut_ilp.write_bytes(work["project"].read_bytes()[:3000])
    error_line(capsys, ["ilp-info", str(cut_ilp)], "cut.ilp", "truncated")


def test_seed_and_counts_are_checked(work, tmp_path, capsys):
    error_line(capsys, [*work["train"], "--out", str(tmp_path / "p.h5"), "--seed", "-1"], "--seed", "-1")
    error_line(capsys, [*work["train"], "--out", str(tmp_path / "p.h5"), "--trees", "0"], "--trees")
    assert not (tmp_path / "p.h5").exists()


def _annotations(work, tmp_path, classes):

    from gputrack.objects import features as object_features

    raw, gt = read_frames(work["seq"] / "01"), read_frames(work["seq"] / "01_GT" / "TRA")
    table = object_features(raw, gt, axes="tyx")
    big = table["Count"] > table["Count"].median()
    ann = table[["t", "label"]].assign(**{"class": np.where(big, classes[1], classes[0])})
    ann.to_csv(tmp_path / "ann.csv", index=False)
    return ann


def test_object_classifier_mistakes_are_one_line(work, tmp_path, capsys):
    ann = _annotations(work, tmp_path, [0, 1])
    inputs = ["--raw", str(work["seq"] / "01"), "--labels", str(work["seq"] / "01_GT" / "TRA")]
    clf = tmp_path / "clf.h5"
    assert main(["objects", "train", *inputs, "--annotations", str(tmp_path / "ann.csv"), "--out", str(clf),
                 "--features", "Mean", "Count", "--trees", "5", "-q"]) == 0
    error_line(capsys, ["objects", "predict", "--labels", inputs[3], "--classifier", str(clf),
                        "--out", str(tmp_path / "p.csv")], "--raw")
    ghost = ann.copy()
    ghost.iloc[0, ghost.columns.get_loc("label")] = 999
    ghost.to_csv(tmp_path / "ghost.csv", index=False)
    error_line(capsys, ["objects", "train", *inputs, "--annotations", str(tmp_path / "ghost.csv"),
                        "--out", str(tmp_path / "c2.h5")], "label=999", "not in the label image")


def test_string_class_names_paint_the_image(work, tmp_path, capsys):
    _annotations(work, tmp_path, ["small", "big"])
    inputs = ["--raw", str(work["seq"] / "01"), "--labels", str(work["seq"] / "01_GT" / "TRA")]
    clf = tmp_path / "clf.h5"
    assert main(["objects", "train", *inputs, "--annotations", str(tmp_path / "ann.csv"), "--out", str(clf),
                 "--trees", "5", "-q"]) == 0
    image = tmp_path / "pred.tif"
    capsys.readouterr()
    assert main(["objects", "predict", *inputs, "--classifier", str(clf), "--out", str(tmp_path / "p.csv"),
                 "--image", str(image)]) == 0
    assert "1 = big, 2 = small" in capsys.readouterr().out
    import pandas as pd

    pred = pd.read_csv(tmp_path / "p.csv")
    painted, gt = read_image(image), read_frames(work["seq"] / "01_GT" / "TRA")
    codes = {"big": 1, "small": 2}
    for t, label, cls in pred[["timestep", "labelimage_oid", "Predicted_Class"]].itertuples(index=False):
        assert (painted[t][gt[t] == label] == codes[cls]).all()


# ----------------------------------------------------------------------------- 7 --channel


def test_segment_channel_default_is_the_objects_class(work, tmp_path):
    from gputrack.segment import threshold

    prob = np.zeros((2, 32, 32, 2), np.float32)
    prob[..., 0] = 1
    prob[:, 8:16, 8:16] = (0.1, 0.9)
    write_image(tmp_path / "p.h5", prob, axes="tyxc")
    assert main(["segment", str(tmp_path / "p.h5"), "--out", str(tmp_path / "l.h5"), "-q"]) == 0
    got = read_image(tmp_path / "l.h5")
    np.testing.assert_array_equal(got, backend.to_host(threshold(prob, channel=1, axes="tyxc", device="cpu")))
    assert 100 < (got > 0).sum() < 2 * 64 + 20  # the two squares (smoothed), not the background
    helps = {a.dest: a.help for a in _leaf(build_parser(), "segment")._actions}
    assert "default: 1" in helps["channel"]
    assert "default: 1" in {a.dest: a.help for a in _leaf(build_parser(), "track")._actions}["channel"]


def _leaf(parser, *names):
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


# ----------------------------------------------------------------------------- 8 README numbers


def _readme_sim_command() -> tuple[list[str], float]:
    """The README's documented SIM+ 01 command line and the LNK it states next to it."""
    import re
    import shlex

    from tests.conftest import ROOT

    text = (ROOT / "README.md").read_text()
    start = "gputrack track --labels Fluo-N2DH-SIM+/01_GT/TRA"
    [line] = [x for x in text.splitlines() if x.startswith(start)]
    paragraph = text[: text.index(line)].rsplit("\n\n", 2)[-2]
    [lnk] = re.findall(r"LNK \*\*([0-9.]+)\*\*", paragraph)
    return shlex.split(line), float(lnk)


@pytest.mark.slow  # 15-45 s: the whole sequence, tracked and scored
def test_readme_sim_numbers_from_the_cli(tmp_path, capsys):
    """The README's SIM+ 01 command, run as written, scores what the README says (py-ctcmetrics)."""
    import contextlib
    import io

    from tests.conftest import shared_path

    ctc_metrics = pytest.importorskip("ctc_metrics")
    argv, lnk = _readme_sim_command()
    seq = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+")
    (tmp_path / "Fluo-N2DH-SIM+").symlink_to(seq)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(argv[1:]) == 0
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out
    with contextlib.redirect_stdout(io.StringIO()):
        r = ctc_metrics.evaluate_sequence(str(tmp_path / "RES"), str(seq / "01_GT"),
                                          metrics=["LNK", "DET", "BC"])
    assert round(r["LNK"], 4) == lnk and f"LNK {lnk:.4f}" in printed
    assert r["DET"] == 1.0
    assert (r["tp_div(0)"], r["fp_div(0)"]) == (28, 0)  # "all 28 divisions and no false one"


# ----------------------------------------------------------------------------- 9 --device gpu


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is present")
def test_device_gpu_without_gpu_everywhere(work, tmp_path, capsys):
    labels = str(work["seq"] / "01_GT" / "TRA")
    error_line(capsys, ["track", "--labels", labels, "--out", str(tmp_path / "r"), "--device", "gpu"],
               "--device gpu", "--device cpu")
    error_line(capsys, ["pixel", "predict", str(work["root"] / "img.tif"), "--project", str(work["project"]),
                        "--out", str(tmp_path / "o.h5"), "--device", "gpu"], "--device gpu")
    assert sorted(os.listdir(tmp_path)) == []


# ----------------------------------------------------------------------------- 11 ilastik 1.3 layout


def test_item11_project_layout_from_the_cli(tmp_path, capsys):
    """Exactly the reported layout (lane tzyxc (1, 1, 1024, 1344, 1), block (176, 92, 1) at
    [281:457,412:504,0:1]): ``pixel predict --ilp`` runs the stored forest, ``ilp-info`` lists the labels."""
    import zipfile

    import h5py

    from tests.conftest import shared_path
    from tests.test_ilp_layouts import ZIP, write_ilastik13_project

    with zipfile.ZipFile(shared_path(*ZIP)) as zf:
        zf.extract("PixelClass.ilp", tmp_path)
        zf.extract("Data_1channel.png", tmp_path)
        zf.extract("res-Data_1channel_pc1xyc.npy", tmp_path)
    tile = read_image(tmp_path / "Data_1channel.png")
    tile = tile[..., 0] if tile.ndim == 3 else tile
    raw = np.tile(tile, (8, 11))[:1024, :1344]
    with h5py.File(tmp_path / "raw.h5", "w") as f:
        f.create_dataset("data", data=raw[None, None, :, :, None])
    block = np.zeros((176, 92, 1), np.uint8)
    block[:40], block[120:] = 1, 2
    project = write_ilastik13_project(tmp_path / "item11.ilp", shape=(1024, 1344), raw="raw.h5/data",
                                      blocks=[(block, "[281:457,412:504,0:1]")],
                                      source=tmp_path / "PixelClass.ilp")
    capsys.readouterr()
    assert main(["ilp-info", str(project)]) == 0
    text = capsys.readouterr().out
    assert "1 'Label 1' (255, 0, 0) 3680 labelled pixels" in text and "2 'Label 2' (0, 255, 0) 5152" in text
    out = tmp_path / "out"
    assert main(["pixel", "predict", "--ilp", str(project), "--out", str(out), "--device", "cpu", "-q"]) == 0
    [written] = sorted(out.glob("*_Probabilities.h5"))
    p = np.squeeze(read_image(written))
    assert p.shape == (1024, 1344, 2)
    # the same forest through the project it came from, on the same image as a plain file
    write_image(tmp_path / "raw.tif", raw, axes="yx")
    assert main(["pixel", "predict", str(tmp_path / "raw.tif"), "--ilp", str(tmp_path / "PixelClass.ilp"),
                 "--out", str(tmp_path / "ref.h5"), "--device", "cpu", "-q"]) == 0
    np.testing.assert_array_equal(p, np.squeeze(read_image(tmp_path / "ref.h5")))
    # and ilastik's own result where the first tile's features do not reach the next tile (37 px)
    ref = np.load(tmp_path / "res-Data_1channel_pc1xyc.npy")
    assert float((p[:88, :88].argmax(-1) == ref[:88, :88].argmax(-1)).mean()) >= 0.999


# ----------------------------------------------------------------------------- 10 validation


def test_values_out_of_range_are_refused(work, tmp_path, capsys):
    labels = ["track", "--labels", str(work["seq"] / "01_GT" / "TRA"), "--out", str(tmp_path / "r")]
    error_line(capsys, [*labels, "--appearance-cost", "-5"], "--appearance-cost", ">= 0")
    error_line(capsys, [*labels, "--detection-weight", "nan"], "--detection-weight")
    error_line(capsys, [*labels, "--division-threshold", "2"], "--division-threshold", "between 0 and 1")
    prob = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    write_image(tmp_path / "p.h5", prob, axes="yx")
    error_line(capsys, ["segment", str(tmp_path / "p.h5"), "--out", str(tmp_path / "l.h5"), "--method",
                        "hysteresis", "--threshold", "0.6", "--high-threshold", "0.4"], "--high-threshold")
    jpg = tmp_path / "lab.jpg"
    tifffile.imwrite(tmp_path / "x.tif", np.zeros((4, 4), np.uint8))
    from PIL import Image

    Image.fromarray(read_image(work["root"] / "lab.png").astype(np.uint8)).save(jpg)
    error_line(capsys, ["pixel", "train", "--images", str(work["root"] / "img.tif"), "--labels", str(jpg),
                        "--out", str(tmp_path / "q.h5")], "lab.jpg", "JPEG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.jpg", "p.h5", "x.tif"]


def test_nan_input_gets_a_word(tmp_path):
    prob = np.zeros((16, 16), np.float32)
    prob[4:8, 4:8] = 1
    prob[0, 0] = np.nan
    write_image(tmp_path / "p.h5", prob, axes="yx")
    result = run_cli("segment", str(tmp_path / "p.h5"), "--out", str(tmp_path / "l.h5"), "-q")
    assert result.returncode == 0
    assert "1 NaN/Inf values" in result.stderr


def test_track_scales_in_2d_take_y_x(work, tmp_path):
    labels = ["track", "--labels", str(work["seq"] / "01_GT" / "TRA"), "-q"]
    assert main([*labels, "--out", str(tmp_path / "a"), "--scales", "1", "1"]) == 0
    assert main([*labels, "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "res_track.txt").read_text() == (tmp_path / "b" / "res_track.txt").read_text()


# ----------------------------------------------------------------------------- also


def test_every_option_has_help_and_its_default():
    for leaf in _leaf_parsers(build_parser()):
        text = leaf.format_help()
        for action in leaf._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"{leaf.prog} {action.option_strings}: no help"
            if action.default not in (None, False, argparse.SUPPRESS):
                assert "default" in leaf.formatter_class(leaf.prog)._get_help_string(action), (
                    leaf.prog, action.option_strings)
        assert "(default:" in text or leaf.prog.endswith("ilp-info")


def _leaf_parsers(parser):
    from gputrack.cli import _leaf_parsers as leaves

    return leaves(parser)


def test_verbose_after_the_subcommand_and_cli_wording(tmp_path, capsys):
    assert main(["info", "-v", "--quiet"]) == 0
    assert main(["-v", "info", "--quiet"]) == 0
    (tmp_path / "o.h5").write_text("x")
    write_image(tmp_path / "p.h5", np.zeros((8, 8), np.float32), axes="yx")
    line = error_line(capsys, ["segment", str(tmp_path / "p.h5"), "--out", str(tmp_path / "o.h5")],
        "--overwrite")
    assert "overwrite=True" not in line


def test_bare_api_argument_names_become_the_commands_options(work, tmp_path, capsys):
    write_image(tmp_path / "rgb.tif", np.zeros((16, 16, 3), np.uint8), axes="yxc")
    argv = ["pixel", "predict", str(tmp_path / "rgb.tif"), "--project", str(work["project"]), "--out",
            str(tmp_path / "o.h5")]
    line = error_line(capsys, argv, "rgb.tif", "--axes")
    assert "axes=" not in line
    from gputrack.cli import cli_wording

    headless = _leaf(build_parser(), "ilastik-headless")
    # only the command's own options: ilastik-headless spells it --input_axes, so the name stays
    assert cli_wording("pass axes= to name them", headless) == "pass axes= to name them"
    assert cli_wording("pass axes= (letters)", _leaf(build_parser(), "segment")) == "pass --axes (letters)"


def test_progress_lines_when_not_a_terminal(work, tmp_path):
    folder = _folder(work, tmp_path, 2)
    result = run_cli("pixel", "predict", str(folder), "--project", str(work["project"]), "--out",
                     str(tmp_path / "out"), "--block-size", "8", "8", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "[1/2] cell0.tif -> cell0_Probabilities.h5" in result.stderr
    assert "[2/2]" in result.stderr and "100%" in result.stderr
    assert "--block-size 8 8" in result.stderr and "work of one pass" in result.stderr

