"""The napari plugin's logic without Qt: readers, writers, layer data, live region prediction, clicks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from gputrack.datasets import synthetic_timelapse
from gputrack.errors import InputError
from gputrack.napari import layers, live, manual, objects, readers, tracks, writers
from gputrack.workflows import object_classification as oc
from gputrack.workflows import pixel_classification as pc
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def movie():
    return synthetic_timelapse(n_frames=8, shape=(96, 96), n_cells=5, seed=2)


def test_predict_region_equals_whole_image_prediction(movie):
    from gputrack import pixel

    img, scr = movie.raw[0].astype(np.float32), movie.scribbles[0]
    sel = {"GaussianSmoothing": [1.0, 3.5], "HessianOfGaussianEigenvalues": [1.6]}
    clf = pc.train_scribbles([img], [scr], sel, n_trees=10, device="cpu")
    region = (slice(17, 60), slice(3, 41))
    out = pc.predict_region(clf, img, region, device="cpu")
    whole = pixel.predict(clf, img, output="probabilities", device="cpu")
    np.testing.assert_allclose(out["probabilities"], whole[region], atol=1e-6)
    seg = pixel.predict(clf, img, output="simple-segmentation", device="cpu")
    np.testing.assert_array_equal(out["simple-segmentation"], seg[region])
    top = np.sort(whole[region], axis=-1)
    np.testing.assert_allclose(out["uncertainty"], 1 - (top[..., -1] - top[..., -2]), atol=1e-6)
    # a time-lapse: the region of one frame, the same numbers
    out_t = pc.predict_region(clf, movie.raw.astype(np.float32), (slice(0, 1), *region), axes="tyx",
                                device="cpu")
    np.testing.assert_allclose(out_t["probabilities"][0], whole[region], atol=1e-6)


def test_feature_table_round_trip_and_errors():
    m = live.selection_matrix({"GaussianSmoothing": [0.3, 1.0], "DifferenceOfGaussians": [5.0]})
    assert live.matrix_selection(m) == {"GaussianSmoothing": [0.3, 1.0], "DifferenceOfGaussians": [5.0]}
    with pytest.raises(InputError, match="no features selected"):
        live.matrix_selection(np.zeros((6, 7), bool))
    bad = np.zeros((6, 7), bool)
    bad[1, 0] = True
    with pytest.raises(InputError, match="smallest scale is 0.7"):
        live.matrix_selection(bad)
    with pytest.raises(InputError, match="at least two classes"):
        pc.train_scribbles([np.zeros((8, 8))], [np.ones((8, 8), np.uint8)], {"GaussianSmoothing": [1.0]})


def test_visible_region_clips():
    assert layers.visible_region((10, 10), np.array([[-3.2, 2.5], [4.1, 30]])) == (slice(0, 6), slice(2, 10))


def test_tracks_layer_of_a_result(movie, tmp_path):
    from gputrack.tracking.pipeline import track_labels
    from gputrack.tracking.result import save_result

    lab = movie.labels.astype(np.uint16)
    result = track_labels(lab)
    data, props, graph = layers.tracks_layer_data(result.lineage, result.detections)
    # each row is an object centre, independent of gputrack: scipy's centre of mass
    for track_id, t, y, x in data[:: max(len(data) // 15, 1)]:
        row = result.lineage[(result.lineage["track_id"] == track_id) & (result.lineage["t"] == t)]
        cy, cx = ndimage.center_of_mass(lab[int(t)] == int(row["label"].iloc[0]))
        assert (y, x) == pytest.approx((cy, cx), abs=1e-9)
    lin = result.lineage[result.lineage["track_id"] > 0]
    first_parent = lin.groupby("track_id")["parent_track"].first()
    expected_graph = {int(k): [int(p)] for k, p in first_parent.items() if p}
    assert graph == expected_graph and len(graph) >= 2
    assert np.all(np.diff(data[:, 0]) >= 0)
    # the reader gives the same layer from the saved result, plus the track-coloured labels
    path = tmp_path / "tracking_result.h5"
    save_result(path, result)
    read = readers.get_reader(str(path))(str(path))
    assert [kind for _, _, kind in read] == ["labels", "tracks"]
    np.testing.assert_array_equal(read[1][0], data)
    coloured = read[0][0]
    for t, label, track_id in lin[["t", "label", "track_id"]].itertuples(index=False):
        assert set(np.unique(coloured[t][lab[t] == label])) == {track_id}


def test_ctc_reader_and_writers(movie, tmp_path):
    from gputrack.datasets import write_synthetic_ctc
    from gputrack.io import read_image

    write_synthetic_ctc(tmp_path / "ctc", movie)
    seq = next(p for p in (tmp_path / "ctc").rglob("01") if p.is_dir())
    got = readers.get_reader(str(seq))(str(seq))
    kinds = [kind for _, _, kind in got]
    assert kinds == ["image", "labels", "tracks"]
    np.testing.assert_array_equal(got[0][0], movie.raw)
    assert len(got[2][1]["graph"]) == int((movie.tracks["parent"] > 0).sum())
    assert readers.get_reader(str(tmp_path)) is None                   # not a frame folder
    out = writers.write_labels(str(tmp_path / "lab.tif"), got[1][0], {})
    np.testing.assert_array_equal(read_image(out[0]), got[1][0])
    csv = writers.write_tracks(str(tmp_path / "tracks.csv"), got[2][0], got[2][1])
    table = pd.read_csv(csv[0])
    assert len(table) == len(got[2][0])
    assert set(table.loc[table["parent_track"] > 0, "track_id"]) == set(got[2][1]["graph"])
    with pytest.raises(InputError, match="written as .csv only"):
        writers.write_tracks(str(tmp_path / "tracks.geff"), got[2][0], got[2][1])


def test_tracks_writer_uses_the_result(movie, tmp_path):
    from gputrack.export.tracking import tracking_table
    from gputrack.tracking.result import load_result
    from gputrack.workflows.tracking import track_frames

    result = track_frames(movie.labels.astype(np.uint16), params=tracks.panel_parameters())
    layer_data = tracks.result_layers(result)
    data, meta, _ = layer_data[1]
    h5 = writers.write_tracks(str(tmp_path / "run.h5"), data, meta)
    back = load_result(h5[0])
    pd.testing.assert_frame_equal(back.lineage, meta["metadata"]["gputrack_result"].lineage)
    csv = writers.write_tracks(str(tmp_path / "run.csv"), data, meta)
    pd.testing.assert_frame_equal(pd.read_csv(csv[0]), tracking_table(back), check_dtype=False)


def test_ilp_reader(shared_data):
    path = shared_path("ilastik-testdata", "tests", "test_ilastik", "data", "inputdata", "pc-oc-133.ilp")
    from gputrack.io.ilp import label_counts, read_ilp

    got = readers.get_reader(str(path))(str(path))
    assert [kind for _, _, kind in got] == ["image", "labels"]
    labels = got[1][0]
    counts = label_counts(read_ilp(path))
    assert {int(k): int((labels == k).sum()) for k in counts} == {int(k): int(v) for k, v in counts.items()}


def test_object_clicks_and_label_assist(movie):
    lab = movie.labels.astype(np.uint16)
    assert objects.object_at(lab, (0, 0, 0)) is None
    ids = np.unique(lab[2])[1:]
    (y, x) = np.argwhere(lab[2] == ids[0])[0]
    assert objects.object_at(lab, (2, y, x)) == (2, int(ids[0]))
    assist = objects.label_assist(lab)
    sizes = {(t, k): int(n) for t in range(lab.shape[0])
             for k, n in enumerate(np.bincount(lab[t].ravel())) if k and n}
    assert {(r.t, r.label): r.Count for r in assist.itertuples()} == sizes
    assert assist["Count"].is_monotonic_decreasing
    table = objects.object_table(movie.raw, lab, ["Count", "Mean"])
    order = np.argsort([sizes[(0, int(k))] for k in np.unique(lab[0])[1:]])
    small, big = np.unique(lab[0])[1:][order[:2]], np.unique(lab[0])[1:][order[-2:]]
    ann = {(0, int(k)): 1 for k in small} | {(0, int(k)): 2 for k in big}
    pred = oc.classify_objects(table, ann, ["Count"], n_trees=20)
    got = pred[pred["t"] == 0].set_index("label")["class"]
    assert all(got[k] == 1 for k in small) and all(got[k] == 2 for k in big)
    painted = objects.paint(lab, pred)
    assert set(np.unique(painted[lab > 0])) <= {1, 2}
    with pytest.raises(InputError, match="at least two classes"):
        oc.classify_objects(table, {(0, int(small[0])): 1}, ["Count"])


def test_manual_session_rules():
    frames = np.zeros((3, 12, 12), np.uint16)
    frames[0, 2:5, 2:5] = 1
    frames[1, 1:4, 1:4] = 2
    frames[1, 6:9, 6:9] = 3
    frames[2, 1:4, 1:4] = 4
    s = manual.ManualSession(frames)
    with pytest.raises(InputError, match="no active track"):
        s.click(0, (3, 3))
    s.new_track()
    s.click(0, (3, 3))
    s.start_division()
    assert s.click(0, (3, 3)) is None
    with pytest.raises(InputError, match="children of a division are in frame 1"):
        s.click(2, (2, 2))
    s.click(1, (2, 2))
    assert s.click(1, (7, 7)) == (0, 1)
    assert s.ann.divisions == {1: (2, 3, 0)} and s.active == 2
    ext = s.right_click(1, (2, 2))
    assert s.objects(2) == {1: 2, 2: 4} and "last frame" in ext.reason
    painted = s.painted()
    assert set(np.unique(painted[frames == 4])) == {2}
    s.start_misdetection()
    with pytest.raises(InputError, match="belongs to track"):
        s.click(2, (2, 2))
    assert s.next_unlabelled() is None
    assert s.delete(2, "this") == [2] and s.objects(2) == {1: 2}
    assert s.step_active(+1) == 3 and s.step_active(-5) == 1
