"""Pictures of tracking results: overlays, the lineage tree, ``gputrack render`` and ``track --pictures``."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image
from skimage.measure import regionprops

from gputrack.cli import main
from gputrack.export.render import (
    MIN_SIDE,
    division_markers,
    figure_rgb,
    lineage_figure,
    overlay_figure,
    track_colours,
)
from gputrack.io.ctc import lineage_summary, read_frames, read_tracks
from gputrack.io.images import _srgb_to_lab, glasbey_palette
from gputrack.tracking.result import load_result
from gputrack.workflows.pictures import choose_frames, result_tracks
from tests.conftest import shared_path


def error_line(capsys, argv, *needles):
    """Run in-process; expect exit 2 and one stderr line holding every needle."""
    capsys.readouterr()
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gputrack: error: "), lines
    for needle in needles:
        assert needle in lines[0], lines[0]


def _masks():
    """Three tracks over three frames of 60 x 80; track 3 appears in frame 2."""
    masks = np.zeros((3, 60, 80), np.uint16)
    for t in range(3):
        masks[t, 5 + 2 * t : 16 + 2 * t, 5:16] = 1
        masks[t, 30:41, 50 - 3 * t : 61 - 3 * t] = 2
    masks[2, 40:52, 20:35] = 3
    rng = np.random.default_rng(0)
    raw = rng.normal(100, 10, masks.shape) + 80 * (masks > 0)
    return masks, raw


# ----------------------------------------------------------------------------- colours


def test_track_colours_are_glasbey_and_stand_out():
    ids = np.arange(1, 200)
    colours = track_colours(ids)
    palette = {tuple(c) for c in glasbey_palette(256).tolist()}
    assert all(tuple(c) in palette for c in colours.tolist())
    # consecutive ids differ; no grey, no near-white, no dark colour
    assert (np.abs(np.diff(colours.astype(int), axis=0)).sum(axis=1) > 0).all()
    lab = _srgb_to_lab(colours / 255.0)
    assert (lab[:, 0] >= 50).all() and (lab[:, 0] <= 88).all()
    assert (np.hypot(lab[:, 1], lab[:, 2]) >= 45).all()
    assert track_colours([0, -1]).tolist() == [[0, 0, 0], [0, 0, 0]]


# ----------------------------------------------------------------------------- overlay


def test_overlay_colours_ids_and_frame_number():
    masks, raw = _masks()
    fig = overlay_figure(masks, 2, raw=raw, numbers=[10, 11, 12], tail=2)
    img = figure_rgb(fig)
    h, w = masks.shape[1:]
    assert max(img.shape[:2]) >= MIN_SIDE
    scale = img.shape[0] / h
    assert scale == img.shape[1] / w == int(scale)  # a whole upscaling factor, aspect kept
    for region in regionprops(masks[2].astype(int)):
        colour = track_colours([region.label])[0]
        cy, cx = region.centroid
        # the centroid dot has the track's colour
        np.testing.assert_array_equal(img[int((cy + 0.5) * scale), int((cx + 0.5) * scale)], colour)
        # so has the outline: the top-left pixel of the object's bounding box is on it
        r0, c0 = region.bbox[:2]
        np.testing.assert_array_equal(img[int((r0 + 0.1) * scale), int((c0 + 0.1) * scale)], colour)
    ax = fig.axes[0]
    assert {t.get_text() for t in ax.texts if t.get_gid() != "frame"} == {"1", "2", "3"}
    assert [t.get_text() for t in ax.texts if t.get_gid() == "frame"] == ["frame 12"]
    # tails for the tracks seen in earlier frames (1 and 2), through their centroids of frames 0-2
    tails = [line for line in ax.lines if line.get_gid() == "tail"]
    assert len(tails) == 2
    for tail in tails:
        tid = 1 if tail.get_xdata()[0] < 30 else 2
        ref = [next(r.centroid for r in regionprops(masks[t].astype(int)) if r.label == tid)
               for t in range(3)]
        np.testing.assert_allclose(np.c_[tail.get_ydata(), tail.get_xdata()], ref)
    background = img[int(25 * scale), int(70 * scale)]
    assert background[0] == background[1] == background[2]


def test_overlay_of_a_large_3d_frame_is_not_upscaled():
    masks = np.zeros((1, 3, 820, 900), np.uint16)
    masks[0, 1, 400:420, 100:130] = 7
    img = figure_rgb(overlay_figure(masks, 0, tail=0))
    assert img.shape == (820, 900, 3)
    np.testing.assert_array_equal(img[int(409.5 + 0.5), int(114.5 + 0.5)], track_colours([7])[0])


# ----------------------------------------------------------------------------- lineage


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """``gputrack synth`` + ``gputrack track --pictures`` (raw given) on 12 frames of 96 x 96."""
    root = tmp_path_factory.mktemp("render")
    assert main(["synth", "--out", str(root / "seq"), "--frames", "12", "--shape", "96", "96",
                 "--cells", "5", "--quiet"]) == 0
    assert main(["track", "--labels", str(root / "seq" / "01_GT" / "TRA"), "--raw", str(root / "seq" / "01"),
                 "--out", str(root / "res"), "--pictures", "--quiet"]) == 0
    return root


def test_lineage_markers_axis_and_labels(tracked):
    result = load_result(tracked / "res" / "tracking_result.h5")
    _, tracks, _ = result_tracks(result)
    n_div = int(result.solution.division.sum())
    assert n_div > 0
    assert n_div == lineage_summary(read_tracks(tracked / "res" / "res_track.txt"))["n_divisions"]
    fig = lineage_figure(tracks)
    marks = division_markers(fig).get_offsets()
    assert len(marks) == n_div
    # each marker sits at the end of a mother track (x = end + 0.5)
    mothers = tracks[tracks["label"].isin(tracks["parent"])]
    assert sorted(marks[:, 0]) == sorted((mothers["end"] + 0.5).tolist())
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    ticks = ax.get_xticks()
    assert ax.get_xlabel() == "frame"
    assert len(labels) >= 3
    assert [int(s) for s in labels] == [int(t) for t in ticks] and (ticks == np.round(ticks)).all()
    assert ticks.min() >= tracks["begin"].min() and ticks.max() <= tracks["end"].max()
    # one line per track, in its overlay colour, over its frames; ids as labels
    lines = next(c for c in ax.collections if c.get_gid() == "tracks")
    segments = lines.get_segments()
    assert len(segments) == len(tracks)
    rows = {int(t.get_text()): t.get_position()[1] for t in ax.texts}
    assert set(rows) == set(tracks["label"])
    colours = np.round(lines.get_colors()[:, :3] * 255).astype(int)
    by_row = {int(seg[0, 1]): (seg, c) for seg, c in zip(segments, colours)}
    for label, begin, end in tracks[["label", "begin", "end"]].itertuples(index=False):
        seg, colour = by_row[int(rows[label])]
        assert seg[0, 0] == begin - 0.5 and seg[1, 0] == end + 0.5
        np.testing.assert_array_equal(colour, track_colours([label])[0])


# ----------------------------------------------------------------------------- command line


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_render_and_track_pictures_write_the_same_files(tracked):
    res = tracked / "res"
    out = tracked / "pics"
    assert main(["render", str(res / "tracking_result.h5"), "--raw", str(tracked / "seq" / "01"),
                 "--out", str(out), "--quiet"]) == 0
    picks = sorted(set(np.linspace(0, 11, 5).round().astype(int).tolist()))
    expected = [f"overlay_t{t:04d}.png" for t in picks] + ["lineage.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for name in expected:
        img = _pixels(out / name)
        assert max(img.shape[:2]) >= MIN_SIDE if name.startswith("overlay") else img.size
        # track --pictures wrote the same pictures next to the result
        np.testing.assert_array_equal(_pixels(res / name), img)
    # a CTC result folder gives the same pictures (same ids and frame numbers)
    ctc = tracked / "pics_ctc"
    assert main(["render", str(res), "--raw", str(tracked / "seq" / "01"), "--out", str(ctc),
                 "--frames", "3", "--quiet"]) == 0
    assert sorted(p.name for p in ctc.iterdir()) == ["lineage.png", "overlay_t0003.png"]
    np.testing.assert_array_equal(_pixels(ctc / "overlay_t0003.png"), _pixels(out / "overlay_t0003.png"))


def test_render_frames_format_and_overwrite(tracked, tmp_path, capsys):
    result = str(tracked / "res" / "tracking_result.h5")
    out = tmp_path / "pics"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    error_line(capsys, ["render", result, "--out", str(out)], str(out), "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert main(["render", result, "--out", str(out), "--overwrite", "--quiet"]) == 0
    assert len(list(out.glob("overlay_t*.png"))) == 5
    # a second run with other frames replaces the pictures, keeps the foreign file
    assert main(["render", result, "--out", str(out), "--overwrite", "--frames", "1", "10", "--format", "svg",
                 "--tail", "0", "--quiet"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["lineage.png", "lineage.svg", "notes.txt", "overlay_t0001.png", "overlay_t0010.png"]
    assert (out / "notes.txt").read_text() == "keep"
    assert ET.parse(out / "lineage.svg").getroot().tag.endswith("svg")
    # raw frames as one stack without axis metadata: read frames first, drawn the same
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, read_frames(tracked / "seq" / "01"))
    assert main(["render", result, "--raw", str(stack), "--frames", "3", "--out", str(tmp_path / "s"),
                 "--quiet"]) == 0
    np.testing.assert_array_equal(_pixels(tmp_path / "s" / "overlay_t0003.png"),
                                  _pixels(tracked / "res" / "overlay_t0003.png"))
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    assert not any(p.name.startswith(".") for p in out.iterdir())


def test_render_bad_inputs_are_one_line_and_write_nothing(tracked, tmp_path, capsys):
    result = tracked / "res" / "tracking_result.h5"
    out = tmp_path / "pics"
    error_line(capsys, ["render", str(tmp_path / "none.h5"), "--out", str(out)], "none.h5")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["data"] = np.zeros(3)
    error_line(capsys, ["render", str(other), "--out", str(out)], "other.h5",
               "not a gputrack tracking result")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(result.read_bytes()[:4000])
    error_line(capsys, ["render", str(cut), "--out", str(out)], "cut.h5", "truncated")
    error_line(capsys, ["render", str(result), "--out", str(out), "--frames", "3", "12"],
               "--frames 12", "0 to 11")
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.zeros((12, 50, 50), np.uint16))  # t y x, no metadata
    error_line(capsys, ["render", str(result), "--out", str(out), "--raw", str(small)],
               "small.tif", "(96, 96)")
    error_line(capsys, ["render", str(result), "--out", str(out), "--format", "jpg"], "--format")
    error_line(capsys, ["render", str(tracked / "seq"), "--out", str(out)], "res_track.txt")
    error_line(capsys, ["render", str(result), "--out", str(small / "pics")], "small.tif", "not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.h5", "other.h5", "small.tif"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_render_into_read_only_folder(tracked, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        error_line(capsys, ["render", str(tracked / "res" / "tracking_result.h5"), "--out",
                            str(locked / "pics")], "cannot write")
    finally:
        locked.chmod(0o700)


def test_track_ilp_pictures(tmp_path):
    """``track --ilp --pictures``: the pictures of an ilastik tracking project's result (no raw)."""
    ilp = shared_path("ilastik-testdata", "tests", "test_ilastik", "data", "inputdata",
                      "mitocheckStructuredLearningTracking.ilp")
    assert main(["track", "--ilp", str(ilp), "--out", str(tmp_path / "r"), "--pictures", "--quiet"]) == 0
    result = load_result(tmp_path / "r" / "tracking_result.h5")
    masks, tracks, numbers = result_tracks(result)
    assert sorted(p.name for p in (tmp_path / "r").glob("overlay_t*.png")) == [
        f"overlay_t{numbers[k]:04d}.png" for k in choose_frames(numbers, None)]
    assert len(division_markers(lineage_figure(tracks)).get_offsets()) == int(result.solution.division.sum())
    assert max(_pixels(tmp_path / "r" / "lineage.png").shape[:2]) > 0


def test_pictures_of_frame_numbers_with_a_start(tmp_path):
    """A result starting at frame 5 numbers its overlays and lineage axis from 5."""
    from gputrack.tracking.pipeline import track_labels
    from gputrack.tracking.result import save_result
    from gputrack.workflows.pictures import render_file

    lab = np.zeros((4, 30, 30), np.uint16)
    lab[:, 5:10, 5:10] = 1
    res = track_labels(lab, start=5)
    save_result(tmp_path / "r.h5", res)
    names = [p.name for p in render_file(tmp_path / "r.h5", tmp_path / "pics", frames=[5, 8])]
    assert names == ["overlay_t0005.png", "overlay_t0008.png", "lineage.png"]
    masks, tracks, numbers = result_tracks(load_result(tmp_path / "r.h5"))
    assert numbers == [5, 6, 7, 8] and tracks[["begin", "end"]].values.tolist() == [[5, 8]]
    assert all(m.max() == 1 for m in masks)
