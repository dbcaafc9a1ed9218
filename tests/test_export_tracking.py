"""Tracking exports: CTC folders (checked by py-ctcmetrics), the tracking CSV table, result images."""

import contextlib
import io

import h5py
import numpy as np
import pandas as pd
import pytest

from gputrack.export import result_images, tracking_csv, tracking_table, write_ctc, write_result_images
from gputrack.io.ctc import read_frames, read_tracks
from gputrack.tracking import TrackingParameters, track_labels
from tests.test_tracking_mergers import merger_movie, paint


def division_movie(ndim=2, n_frames=8, divide_at=4):
    """A large object that splits into two smaller ones, next to one that just drifts."""
    shape = (40, 60) if ndim == 2 else (16, 40, 60)
    frames = []
    for t in range(n_frames):
        z = () if ndim == 2 else (8,)
        blobs = [((*z, 30, 10 + 2 * t), 5)]
        if t < divide_at:
            blobs.append(((*z, 12, 30), 6))
        else:
            s = 6 + 2 * (t - divide_at)
            blobs += [((*z, 12, 30 - s), 4.5), ((*z, 12, 30 + s), 4.5)]
        frames.append(paint(shape, blobs))
    return np.stack(frames)


def _valid(folder):
    pytest.importorskip("ctc_metrics")
    from ctc_metrics.scripts.validate import validate_sequence

    with contextlib.redirect_stdout(io.StringIO()):
        return validate_sequence(str(folder), threads=1)["Valid"]


@pytest.mark.parametrize("ndim", [2, 3])
def test_ctc_folder_is_valid_and_has_the_division(tmp_path, ndim):
    frames = division_movie(ndim)
    res = track_labels(frames)
    tracks = write_ctc(res, tmp_path / "01_RES")
    assert _valid(tmp_path / "01_RES") == 1
    back = read_tracks(tmp_path / "01_RES" / "res_track.txt")
    pd.testing.assert_frame_equal(back, tracks)
    # one lone track, one mother (frames 0-3) with two daughters (4-7)
    daughters = back[back.parent > 0]
    assert len(back) == 4 and len(daughters) == 2
    assert daughters.begin.tolist() == [4, 4] and daughters.parent.nunique() == 1
    mother = back[back.label == daughters.parent.iloc[0]].iloc[0]
    assert (mother.begin, mother.end) == (0, 3)
    masks = read_frames(tmp_path / "01_RES")
    assert masks.dtype == np.uint16 and masks.shape == frames.shape  # 3D pages in z order
    # every object carries one id, its track's
    lin = res.lineage
    for t in range(len(frames)):
        for label, tid in lin[lin.t == t][["label", "track_id"]].values:
            assert np.unique(masks[t][frames[t] == label]).tolist() == [tid]


def test_tracking_csv_round_trip_matches_lineage(tmp_path):
    frames = division_movie()
    res = track_labels(frames)
    tracking_csv(tmp_path / "t.csv", res)
    tab = pd.read_csv(tmp_path / "t.csv")
    assert tab.columns.tolist() == [
        "object_id", "timestep", "labelimage_oid", "lineageId", "trackId", "parentTrackId", "mergerLabelId",
        "Center_of_the_object_0", "Center_of_the_object_1", "Size_in_pixels",
    ]
    lin = res.lineage.sort_values(["t", "label"]).reset_index(drop=True)
    det = res.detections.sort_values(["t", "label"]).reset_index(drop=True)
    assert tab.timestep.tolist() == lin.t.tolist() and tab.labelimage_oid.tolist() == lin.label.tolist()
    assert tab.trackId.tolist() == lin.track_id.tolist()
    assert tab.lineageId.tolist() == lin.lineage_id.tolist()
    np.testing.assert_array_equal(tab.Center_of_the_object_0, det.x)  # x first, full precision
    np.testing.assert_array_equal(tab.Center_of_the_object_1, det.y)
    from scipy import ndimage

    for t, label, cx, cy, size in tab[["timestep", "labelimage_oid", "Center_of_the_object_0",
                                       "Center_of_the_object_1", "Size_in_pixels"]].values:
        obj = frames[int(t)] == label
        assert size == obj.sum()
        assert (cy, cx) == pytest.approx(ndimage.center_of_mass(obj))
    # parentTrackId only on the first row of each daughter track
    kids = tab[tab.parentTrackId > 0]
    assert len(kids) == 2 and kids.timestep.tolist() == [4, 4]
    assert (tab.mergerLabelId == 0).all()
    compat = tracking_table(res, ilastik_compat=True)
    assert (compat.trackId == tab.trackId + 1).all() and compat.trackId.min() == 2
    assert compat.Center_of_the_object_0.dtype.kind == "i"
    np.testing.assert_array_equal(compat.Center_of_the_object_0, np.trunc(det.x))
    with pytest.raises(Exception, match="exists"):
        tracking_csv(tmp_path / "t.csv", res)


def test_result_images_follow_the_lineage(tmp_path):
    frames, _ = merger_movie()
    res = track_labels(frames, params=TrackingParameters(max_objects=2))
    imgs = result_images(res, by="track")
    lin = res.lineage
    ident = res.label_frames
    for t in range(len(frames)):
        np.testing.assert_array_equal(imgs["Object-Identities"][t], ident[t])
        for label, tid, merger in lin[lin.t == t][["label", "track_id", "merger_label"]].values:
            sel = ident[t] == label
            assert np.unique(imgs["Tracking-Result"][t][sel]).tolist() == [tid]
            assert np.unique(imgs["Merger-Result"][t][sel]).tolist() == [tid if merger else 0]
        assert (imgs["Tracking-Result"][t][ident[t] == 0] == 0).all()
    assert np.count_nonzero(imgs["Merger-Result"][3]) == np.count_nonzero(frames[3])
    assert sum(np.count_nonzero(m) for m in imgs["Merger-Result"]) == np.count_nonzero(frames[3])
    by_lineage = result_images(res, ilastik_compat=True)["Tracking-Result"]
    for t in range(len(frames)):
        for label, lid in lin[lin.t == t][["label", "lineage_id"]].values:
            assert np.unique(by_lineage[t][ident[t] == label]).tolist() == [lid + 1]
    paths = write_result_images(tmp_path / "img", res)
    with h5py.File(paths["Object-Identities"]) as f:
        np.testing.assert_array_equal(f["data"][()], np.stack(ident))
    with h5py.File(paths["Tracking-Result"]) as f:
        np.testing.assert_array_equal(f["data"][()], np.stack(result_images(res)["Tracking-Result"]))


def test_ctc_of_a_sequence_starting_later_counts_frames_from_its_first_mask(tmp_path):
    """A result whose first frame is t = 10 writes mask000.tif ... and a track table in those numbers."""
    from gputrack.io.ctc import read_frames, read_tracks
    from gputrack.tracking import track_labels

    lab = np.zeros((3, 16, 16), np.uint16)
    lab[:, 4:8, 4:8] = 2
    lab[1:, 10:13, 10:13] = 5  # appears in the second frame
    write_ctc(track_labels(lab, start=10), tmp_path / "res")
    tracks = read_tracks(tmp_path / "res" / "res_track.txt").sort_values("begin")
    masks = read_frames(tmp_path / "res")
    assert len(masks) == 3
    assert tracks[["begin", "end"]].values.tolist() == [[0, 2], [1, 2]]
    for label, begin, end in tracks[["label", "begin", "end"]].values:
        present = [k for k, m in enumerate(masks) if (m == label).any()]
        assert present == list(range(begin, end + 1))
