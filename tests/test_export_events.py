"""H5 event sequence: files read back with h5py and with read_h5_events give the solution's events."""

import dataclasses
import json

import h5py
import numpy as np
import pytest

from gputrack.errors import InputError, OutputExistsError
from gputrack.export.events import EVENT_COLUMNS, read_h5_events, write_h5_events
from gputrack.tracking import TrackingParameters, track_labels
from tests.conftest import shared_path
from tests.event_fixture import event_result, truth
from tests.test_tracking_mergers import paint


@pytest.fixture(scope="module", params=[(2, True), (2, False), (3, True), (3, False)],
                ids=["2d-resolved", "2d-unresolved", "3d-resolved", "3d-unresolved"])
def scene(request):
    ndim, resolve = request.param
    result, _ = event_result(ndim, resolve)
    return ndim, resolve, result


def _solution_moves(result):
    """{(t, previous label, current label)} of the active links, straight from the solution arrays."""
    s = result.solution
    g = s.graph
    lab = g.detections["label"].to_numpy()
    return {(int(g.t[d]), int(lab[a]), int(lab[d]))
            for a, d, v in zip(g.src, g.dst, s.link_value) if v > 0}


def test_files_layout_with_h5py(scene, tmp_path):
    ndim, resolve, result = scene
    out = tmp_path / "events"
    written = write_h5_events(result, out)
    assert [p.name for p in written] == [f"{t:05d}.h5" for t in range(truth["n_frames"])]
    formats = {"Moves": "from (previous file), to (current file)",
               "Splits": "ancestor (previous file), descendant (current file), descendant (current file)",
               "Mergers": "descendant (current file), number of objects",
               "Appearances": "cell label appeared in current file",
               "Disappearances": "cell label disappeared in current file"}
    for k, (p, frame) in enumerate(zip(written, result.frames())):
        with h5py.File(p, "r") as f:
            labels = f["segmentation/labels"]
            assert labels.compression == "gzip" and labels.dtype == np.uint32
            zyx = frame if ndim == 3 else frame[None]
            np.testing.assert_array_equal(labels[()], np.transpose(zyx, (2, 1, 0))[None, ..., None])
            keys = [a["key"] for a in json.loads(labels.attrs["axistags"])["axes"]]
            assert keys == list("txyzc")
            ids = np.unique(frame)
            np.testing.assert_array_equal(f["objects/meta/id"][()], ids[ids > 0])
            assert f["objects/meta/id"].dtype == np.uint32
            np.testing.assert_array_equal(f["objects/meta/valid"][()], np.ones(ids.size - 1))
            for name, text in formats.items():
                ds = f["tracking"][name]
                assert ds.attrs["Format"] == text and ds.dtype == np.int32
                assert ds.ndim == 2 and ds.shape[1] == EVENT_COLUMNS[name]
            moves = {(k, int(a), int(b)) for a, b in f["tracking/Moves"][()]}
            assert moves == {m for m in _solution_moves(result) if m[0] == k}


def test_events_read_back_equal_the_solution(scene, tmp_path):
    ndim, resolve, result = scene
    write_h5_events(result, tmp_path / "ev")
    ev = read_h5_events(tmp_path / "ev")
    assert sorted(ev) == list(range(truth["n_frames"]))
    for t, frame in enumerate(result.frames()):
        np.testing.assert_array_equal(ev[t]["labels"], frame)
    moves = {(t, int(a), int(b)) for t, e in ev.items() for a, b in e["Moves"]}
    assert moves == _solution_moves(result)

    # the division of the fixture, in (t, label) terms of its truth
    (pt, plabel, children) = truth["division"]
    splits = {(t, *map(int, row)) for t, e in ev.items() for row in e["Splits"]}
    assert splits == {(pt + 1, plabel, *sorted(c[1] for c in children))}
    assert all(c[0] == pt + 1 for c in children)

    lin = result.lineage
    if resolve:
        assert all(e["Mergers"].size == 0 for e in ev.values())
        for t, label, n in truth["mergers"]:
            pieces = lin[(lin["t"] == t) & (lin["merger_label"] == label)]["label"].to_numpy()
            assert pieces.size == n
            got = ev[t]["ResolvedMergers"]
            assert sorted(got[:, 0].tolist()) == sorted(pieces.tolist())
            assert set(got[:, 1].tolist()) == {label}
            # the pieces are what the label image holds, the merged label is gone
            assert set(pieces.tolist()) <= set(ev[t]["ids"].tolist())
    else:
        mergers = {(t, int(a), int(b)) for t, e in ev.items() for a, b in e["Mergers"]}
        assert mergers == set(truth["mergers"])
        assert all(e["ResolvedMergers"].size == 0 for e in ev.values())

    # the false detection is in the label image, in no event
    ft, flabel = truth["false_detection"]
    assert flabel in ev[ft]["ids"]
    assert flabel not in ev[ft]["Moves"][:, 1]
    assert flabel not in ev[ft]["Splits"][:, 1:].ravel() and flabel not in ev[ft]["Appearances"].ravel()
    assert flabel not in ev[ft + 1]["Moves"][:, 0]
    assert flabel not in ev[ft + 1]["Disappearances"].ravel()
    # nothing appears or disappears inside this scene
    assert all(e["Appearances"].size == 0 and e["Disappearances"].size == 0 for e in ev.values())


def _appear_disappear_movie(ndim):
    """X lives in frames 0-2, Y appears at frame 2 and lives to frame 4; far apart, far from borders."""
    shape = (60, 60) if ndim == 2 else (12, 60, 60)
    z = () if ndim == 2 else (6,)
    frames = []
    for t in range(5):
        blobs = []
        if t <= 2:
            blobs.append(((*z, 15, 15 + t), 4))
        if t >= 2:
            blobs.append(((*z, 45, 45 - t), 4))
        frames.append(paint(shape, blobs))
    return np.stack(frames)


@pytest.mark.parametrize("ndim", [2, 3])
def test_appearances_and_disappearances_are_filled(ndim, tmp_path):
    lab = _appear_disappear_movie(ndim)
    params = TrackingParameters(max_distance=20.0, border_width=0.0, appearance_cost=50.0,
                                disappearance_cost=50.0, division_probability=0.01)
    res = track_labels(lab, params=params, start=7)
    z = (6,) if ndim == 3 else ()
    x_end = int(lab[2][(*z, 15, 17)])  # X in its last frame (index 2, time 9)
    y_start = int(lab[2][(*z, 45, 43)])  # Y in its first frame (index 2, time 9)
    assert x_end > 0 and y_start > 0 and x_end != y_start
    write_h5_events(res, tmp_path / "ev")
    ev = read_h5_events(tmp_path / "ev")
    assert sorted(ev) == [7, 8, 9, 10, 11]  # files named by time, from result.start
    assert (tmp_path / "ev" / "00007.h5").is_file()
    apps = {(t, int(v)) for t, e in ev.items() for v in e["Appearances"].ravel()}
    dis = {(t, int(v)) for t, e in ev.items() for v in e["Disappearances"].ravel()}
    assert apps == {(9, y_start)}  # Y appears in the frame at t = 9
    assert dis == {(10, x_end)}  # X's last label (t = 9) disappears in the file of t = 10
    # and these agree with the solution's appearance/disappearance variables inside the sequence
    s = res.solution
    lab_col = s.graph.detections["label"].to_numpy()
    inner_app = {(int(t), int(v)) for t, v, a in zip(s.graph.t, lab_col, s.appearance) if a and t > 7}
    inner_dis = {(int(t) + 1, int(v)) for t, v, d in zip(s.graph.t, lab_col, s.disappearance) if d and t < 11}
    assert apps == inner_app and dis == inner_dis


def test_ilastik_compat_omits_empty_datasets(tmp_path):
    result, _ = event_result(2, False)
    write_h5_events(result, tmp_path / "ev", ilastik_compat=True)
    with h5py.File(tmp_path / "ev" / "00000.h5", "r") as f:
        assert list(f["tracking"]) == []
    with h5py.File(tmp_path / "ev" / "00003.h5", "r") as f:
        assert sorted(f["tracking"]) == ["Mergers", "Moves", "Splits"]
    # the reader fills the omitted ones as empty
    ev = read_h5_events(tmp_path / "ev")
    assert ev[0]["Moves"].shape == (0, 2) and ev[3]["Splits"].shape == (1, 3)


def test_existing_output_and_missing_frames(tmp_path):
    result, _ = event_result(2, True)
    out = tmp_path / "ev"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="ev"):
        write_h5_events(result, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    write_h5_events(result, out, overwrite=True)  # replaces only what gputrack writes there
    assert sorted(p.name for p in out.iterdir()) == [f"{t:05d}.h5" for t in range(6)] + ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"

    bare = dataclasses.replace(result, label_frames=None, label_path=None)
    with pytest.raises(InputError, match="no label frames"):
        write_h5_events(bare, tmp_path / "none")
    assert not (tmp_path / "none").exists()
    wrong = [np.zeros_like(f) for f in result.frames()]
    with pytest.raises(InputError, match="lacks detection label"):
        write_h5_events(result, tmp_path / "wrong", label_frames=wrong)
    with pytest.raises(InputError, match="do not cover"):
        write_h5_events(result, tmp_path / "short", label_frames=result.frames()[:3])
    assert not (tmp_path / "wrong").exists() and not (tmp_path / "short").exists()
    assert list(tmp_path.glob(".*tmp*")) == []


def test_real_sim_gt_tracking(tmp_path):
    """Fluo-N2DH-SIM+ GT masks (frames 5-15): events agree with the solution and the GT lineage."""
    tifffile = pytest.importorskip("tifffile")
    tra = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01_GT", "TRA")
    files = sorted(tra.glob("man_track*.tif"))[5:16]
    frames = np.stack([tifffile.imread(f) for f in files])
    params = TrackingParameters(appearance_cost=100, disappearance_cost=100, detection_probability=1 - 1e-6)
    res = track_labels(frames, params=params, start=5)
    write_h5_events(res, tmp_path / "ev")
    ev = read_h5_events(tmp_path / "ev")
    assert sorted(ev) == list(range(5, 16))
    moves = {(t, int(a), int(b)) for t, e in ev.items() for a, b in e["Moves"]}
    assert moves == _solution_moves(res)
    # GT masks carry GT track ids: a correct move keeps the id or enters a daughter of it
    gt = np.loadtxt(tra / "man_track.txt", dtype=np.int64).reshape(-1, 4)
    parent = dict(zip(gt[:, 0].tolist(), gt[:, 3].tolist()))
    right = sum(a == b or parent.get(b) == a for _, a, b in moves)
    assert right / len(moves) >= 0.99
    gt_div = {}
    for label, begin, _end, par in gt.tolist():
        if par > 0 and 6 <= begin <= 15:
            gt_div.setdefault((begin, par), []).append(label)
    splits = {(t, int(r[0])): sorted(map(int, r[1:])) for t, e in ev.items() for r in e["Splits"]}
    assert gt_div, "the window holds GT divisions"
    found = sum(splits.get(k) == sorted(v) for k, v in gt_div.items())
    print(f"SIM+ 5-15: {len(moves)} moves, GT divisions {len(gt_div)}, found {found}, "
          f"split rows {len(splits)}")
    assert found == len(gt_div) == len(splits)
