"""Manual and semi-automatic track annotation: rules, semi-automatic step, exports, imports, SIM+ rebuild."""

from __future__ import annotations

import numpy as np
import pytest

from gputrack.errors import InputError
from gputrack.export import manual_tracking as ex
from gputrack.project import load_annotations, save_annotations
from gputrack.tracking import annotation as an
from gputrack.tracking.annotation_replay import replay
from tests.conftest import shared_path


def _drift(n=5, shape=(30, 30), step=1):
    """One square drifting right, a new label each frame (label = 10 + t)."""
    frames = np.zeros((n, *shape), np.uint16)
    for t in range(n):
        frames[t, 5:11, 5 + step * t:11 + step * t] = 10 + t
    return frames


def _division():
    """Frames 0-1 one object (label 1), frames 2-3 two daughters (labels 2, 3)."""
    frames = np.zeros((4, 40, 40), np.uint16)
    frames[:2, 15:25, 15:25] = 1
    frames[2:, 11:20, 15:25] = 2
    frames[2:, 20:29, 15:25] = 3
    return frames


def test_new_track_numbering_skips_ilastik_colours():
    ann = an.Annotations()
    assert [an.new_track(ann) for _ in range(3)] == [1, 2, 3]
    ann = an.Annotations(tracks={254})
    assert an.new_track(ann) == 257          # 255 -> 257 (multiple of 255 skipped by 2)
    ann = an.Annotations(tracks={510, 511})
    assert an.new_track(ann) == 513          # 512 is a multiple of 256


def test_topology_rules():
    ann = an.Annotations()
    k = an.new_track(ann)
    an.assign(ann, k, 0, 1)
    with pytest.raises(InputError, match="one object per track per frame"):
        an.assign(ann, k, 0, 2)
    an.mark_misdetection(ann, 0, 3)
    an.assign(ann, k, 1, 1)
    with pytest.raises(InputError, match="is a misdetection"):
        an.assign(ann, an.new_track(ann), 0, 3)
    with pytest.raises(InputError, match="belongs to track"):
        an.mark_misdetection(ann, 0, 1)
    # a merger: two tracks on one object
    j = an.new_track(ann)
    an.assign(ann, j, 1, 1)
    assert ann.ids(1, 1) == {k, j}
    # division: the parent may not continue, the children start at t + 1
    p = an.new_track(ann)
    an.assign(ann, p, 2, 7)
    with pytest.raises(InputError, match="no object in frame 1"):
        an.add_division(ann, p, 1, [8, 9])
    c1, c2 = an.add_division(ann, p, 2, [8, 9])
    assert ann.divisions[p] == (c1, c2, 2) and ann.ids(3, 8) == {c1}
    with pytest.raises(InputError, match="divides at t=2"):
        an.assign(ann, p, 3, 10)
    with pytest.raises(InputError, match="objects start at t=3"):
        an.assign(ann, c1, 2, 11)
    with pytest.raises(InputError, match="remove the division first"):
        an.remove_label(ann, c1, 3)
    an.remove_division(ann, p)
    assert an.remove_label(ann, c1, 3) == [3]
    assert an.check_annotations(ann) == []
    # a broken imported model is reported
    bad = an.Annotations(labels={0: {1: {5}, 2: {5}}}, divisions={5: (6, 7, 0)})
    problems = an.check_annotations(bad)
    assert any("one object per track per frame" in p for p in problems)
    assert any("child track 6 has no object at t=1" in p for p in problems)


def test_remove_label_extents_and_next_unlabelled():
    frames = _drift(6)
    ann = an.Annotations()
    k = an.new_track(ann)
    for t in range(6):
        an.assign(ann, k, t, 10 + t)
    assert an.remove_label(ann, k, 4, "later") == [4, 5]
    assert an.remove_label(ann, k, 1, "earlier") == [0, 1]
    assert an.track_objects(ann, k) == {2: 12, 3: 13}
    assert an.next_unlabelled(ann, frames) == (0, 10)
    assert an.next_unlabelled(ann, frames, after=(2, 12)) == (4, 14)
    an.remove_track(ann, k)
    assert an.track_objects(ann, k) == {} and k not in ann.tracks


def test_assign_at_pixel_position():
    frames = _division()
    ann = an.Annotations()
    k = an.new_track(ann)
    assert an.assign_at(ann, k, frames, 2, (25, 20)) == 3
    with pytest.raises(InputError, match="no object there"):
        an.assign_at(ann, k, frames, 1, (0, 0))
    with pytest.raises(InputError, match="outside frame"):
        an.object_at(frames, 0, (50, 0))


def test_extend_track_stops_and_says_why():
    frames = _division()
    ann = an.Annotations()
    k = an.new_track(ann)
    an.assign(ann, k, 0, 1)
    ext = an.extend_track(ann, k, frames)
    assert ext.added == [(1, 1)] and ext.reason == "2 candidates at t=2: labels [2, 3]"
    c1, c2 = an.add_division(ann, k, 1, [2, 3])
    assert an.extend_track(ann, k, frames).reason == f"track {k} divides at t=1"
    ext = an.extend_track(ann, c1, frames)
    assert ext.added == [(3, 2)] and ext.reason == "reached the last frame (t=3)"

    # a jump larger than the object: no overlap
    far = _drift(3, shape=(40, 60), step=20)
    ann = an.Annotations()
    k = an.new_track(ann)
    an.assign(ann, k, 0, 10)
    assert an.extend_track(ann, k, far).reason == f"no object at t=1 overlaps track {k}'s object 10"

    # an overlap below 20 % of the object's pixels
    thin = np.zeros((2, 30, 30), np.uint16)
    thin[0, 5:15, 5:15] = 1
    thin[1, 5:15, 14:24] = 2          # one column of 10 overlapping = 10 %
    ann = an.Annotations()
    k = an.new_track(ann)
    an.assign(ann, k, 0, 1)
    assert an.extend_track(ann, k, thin).reason == "too little overlap at t=1 (10 of 100 pixels)"
    assert an.extend_track(ann, k, thin, min_overlap=0.05).added == [(1, 2)]

    # a candidate already in another track stops the step (ilastik would make a merger)
    frames = _drift(4)
    ann = an.Annotations()
    other = an.new_track(ann)
    an.assign(ann, other, 2, 12)
    k = an.new_track(ann)
    an.assign(ann, k, 0, 10)
    ext = an.extend_track(ann, k, frames)
    assert ext.added == [(1, 11)] and ext.reason == f"object 12 at t=2 already belongs to track(s) [{other}]"


def test_extend_window_follows_the_object_unless_ilastik_compat():
    # an object moving 3 px per frame leaves ilastik's fixed 20 px window after two frames
    frames = _drift(8, shape=(30, 80), step=3)
    ann = an.Annotations()
    k = an.new_track(ann)
    an.assign(ann, k, 0, 10)
    assert an.extend_track(ann, k, frames, window=20).reason == "reached the last frame (t=7)"
    ann = an.Annotations()
    k = an.new_track(ann)
    an.assign(ann, k, 0, 10)
    ext = an.extend_track(ann, k, frames, window=20, ilastik_compat=True)
    assert ext.stopped_at < 7 and ("overlap" in ext.reason or "no object" in ext.reason)


def _annotated_division():
    frames = _division()
    ann = an.Annotations()
    k = an.new_track(ann)
    an.assign(ann, k, 0, 1)
    an.extend_track(ann, k, frames)
    c1, c2 = an.add_division(ann, k, 1, [2, 3])
    an.extend_track(ann, c1, frames)
    an.extend_track(ann, c2, frames)
    return ann, frames


def test_exports_csv_ctc_h5_geff(tmp_path):
    from gputrack.export.events import read_h5_events
    from gputrack.io.ctc import read_ctc_gt

    ann, frames = _annotated_division()
    ex.write_divisions_csv(ann, tmp_path / "divisions.csv")
    assert (tmp_path / "divisions.csv").read_text().splitlines() == [
        "timestep_parent,track_id_parent,track_id_child1,track_id_child2", "1,1,2,3"]
    merged = an.Annotations(labels={4: {7: {3, 1}, 8: {2}}})
    ex.write_mergers_csv(merged, tmp_path / "mergers.csv")
    assert (tmp_path / "mergers.csv").read_text().splitlines() == ["timestep,object_id,track_ids", "4,7,1;3"]

    table = ex.write_ctc_annotations(ann, frames, tmp_path / "01_GT")
    gt = read_ctc_gt(tmp_path / "01_GT")
    assert gt.tracks.values.tolist() == [[1, 0, 1, 0], [2, 2, 3, 1], [3, 2, 3, 1]] == table.values.tolist()
    assert np.array_equal(gt.tra[0] > 0, frames[0] > 0) and set(np.unique(gt.tra[3])) == {0, 2, 3}
    with pytest.raises(InputError, match="merger"):
        ex.ctc_annotation_tables(merged, np.zeros((5, 20, 20), np.uint16) + 7)

    ex.write_h5_events(ann, frames, tmp_path / "events")
    events = read_h5_events(tmp_path / "events")
    assert events[1]["Moves"].tolist() == [[1, 1]]
    assert events[2]["Splits"].tolist() == [[1, 2, 3]]
    assert events[3]["Moves"].tolist() == [[2, 2], [3, 3]]

    geff = pytest.importorskip("geff")
    graph, _ = geff.read(ex.write_geff(ann, frames, tmp_path / "ann.geff")[0])
    tracks = sorted({(graph.nodes[n]["t"], graph.nodes[n]["track_id"]) for n in graph.nodes})
    assert tracks == [(0, 1), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3)]
    assert graph.number_of_edges() == 5


def test_ctc_round_trip_with_gap_and_single_child(tmp_path):
    masks = np.zeros((6, 20, 20), np.uint16)
    masks[0:2, 2:5, 2:5] = 1      # track 1, then gap at t=2, continues as 2 (gap link)
    masks[3:4, 2:5, 2:5] = 2
    masks[4:6, 2:5, 2:5] = 3      # single child of 2
    masks[0:6, 10:14, 10:14] = 4
    tracks = np.array([[1, 0, 1, 0], [2, 3, 3, 1], [3, 4, 5, 2], [4, 0, 5, 0]])
    ann = an.from_ctc(masks, tracks)
    assert an.track_objects(ann, 1) == {0: 1, 1: 1, 3: 2}            # the gap link continues track 1
    assert ann.divisions == {1: (3, 0, 3)}
    masks2, table = ex.ctc_annotation_tables(ann, masks)
    assert table.values.tolist() == [[1, 0, 1, 0], [3, 4, 5, 5], [4, 0, 5, 0], [5, 3, 3, 1]]
    # the same graph as the input up to track ids
    ids = {int(a): int(b) for a, b in zip(masks2.ravel() if isinstance(masks2, np.ndarray) else
                                          np.concatenate([m.ravel() for m in masks2]), masks.ravel()) if a}
    assert ids == {1: 1, 5: 2, 3: 3, 4: 4}


def test_project_round_trip(tmp_path):
    ann, _ = _annotated_division()
    an.mark_misdetection(ann, 3, 9)
    path = save_annotations(tmp_path / "p.gtp.h5", ann)
    back = load_annotations(path)
    assert back.labels == ann.labels and back.divisions == ann.divisions and back.tracks == ann.tracks
    ann.divisions.clear()
    save_annotations(path, ann)              # replaced in place
    assert load_annotations(path).divisions == {}
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="not a gputrack project"):
        save_annotations(tmp_path / "x.h5", ann)


def test_from_ilp_tracking_annotations():
    path = shared_path("ilastik-testdata", "tests", "test_ilastik", "data", "inputdata",
                       "mitocheckStructuredLearningTracking.ilp")
    ann = an.from_ilp(path)
    assert ann.divisions == {1: (2, 3, 5), 5: (6, 7, 5)}
    assert sum(len(v) for v in ann.labels.values()) == 25 and len(ann.labels) == 9
    assert an.check_annotations(ann) == []


def test_rebuild_sim_ground_truth_with_the_semi_automatic_step(tmp_path):
    """SIM+ 01: the full GT (95 tracks, 28 divisions) rebuilt through the API; CTC export = GT (TRA 1.0)."""
    from gputrack.io.ctc import read_ctc_gt
    from gputrack.tracking.evaluate import ctc_scores

    gt_dir = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01_GT")
    gt = read_ctc_gt(gt_dir)
    rng = np.random.default_rng(0)
    frames, luts = [], []          # labels shuffled per frame: the object labels say nothing of the tracks
    for m in gt.tra:
        labels = np.unique(m)[1:]
        lut = np.zeros(int(m.max()) + 1, np.uint16)
        lut[labels] = rng.permutation(labels.size) + 101
        frames.append(lut[m])
        luts.append(lut)
    ref = an.from_ctc(gt.tra, gt.tracks)
    shuffled = an.Annotations(divisions=dict(ref.divisions), tracks=set(ref.tracks))
    for t, label, ids in ref.objects():
        shuffled.labels.setdefault(t, {})[int(luts[t][label])] = set(ids)
    ann, clicks = replay(shuffled, frames)
    assert clicks["tracks"] == 95 and clicks["divisions"] == 31     # 28 divisions + 3 one-child parents
    assert clicks["total"] < clicks["manual_total"] / 5
    table = ex.write_ctc_annotations(ann, frames, tmp_path / "01_RES", ground_truth=False)
    assert len(table) == 95 and int((table["parent"] > 0).sum()) == int((gt.tracks["parent"] > 0).sum())
    # identical to the GT up to the track ids
    from gputrack.io.ctc import read_frames

    res = read_frames(tmp_path / "01_RES")
    keys = np.unique(res.astype(np.int64).ravel() << 16 | gt.tra.astype(np.int64).ravel())
    pairs = np.stack([keys >> 16, keys & 0xFFFF])
    assert np.all((pairs[0] == 0) == (pairs[1] == 0))
    mapping = dict(zip(pairs[0].tolist(), pairs[1].tolist()))
    assert len(mapping) == len(set(mapping.values())) == 96
    want = {tuple(r) for r in gt.tracks.values.tolist()}
    got = {(mapping[a], b, e, mapping[p] if p else 0) for a, b, e, p in table.values.tolist()}
    assert got == want
    scores = ctc_scores(tmp_path / "01_RES", gt_dir, ("TRA", "DET", "LNK", "BC"))
    assert scores["TRA"] == 1.0 and scores["BC(0)"] == 1.0
