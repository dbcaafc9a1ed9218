"""Divisions and mergers CSV (manual-tracking style), parsed with the csv module."""

import csv

import numpy as np
import pytest

from gputrack.errors import OutputExistsError
from gputrack.export.manual_csv import write_divisions_csv, write_mergers_csv
from gputrack.tracking import TrackingParameters, track_labels
from tests.event_fixture import event_result, truth
from tests.test_tracking_mergers import paint


@pytest.fixture(scope="module", params=[(2, True), (2, False), (3, True), (3, False)],
                ids=["2d-resolved", "2d-unresolved", "3d-resolved", "3d-unresolved"])
def scene(request):
    ndim, resolve = request.param
    result, _ = event_result(ndim, resolve)
    return ndim, resolve, result


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _track(result, t, label):
    lin = result.lineage
    row = lin[(lin["t"] == t) & (lin["label"] == label)]
    assert len(row) == 1
    return int(row["track_id"].iloc[0])


def test_divisions_csv(scene, tmp_path):
    _, _, result = scene
    path = tmp_path / "divisions.csv"
    assert write_divisions_csv(result, path) == [path]
    rows = _rows(path)
    assert rows[0] == ["timestep_parent", "track_id_parent", "track_id_child1", "track_id_child2"]
    pt, plabel, children = truth["division"]
    kids = sorted(_track(result, t, lab) for t, lab in children)
    assert rows[1:] == [[str(pt), str(_track(result, pt, plabel)), str(kids[0]), str(kids[1])]]
    # the daughters' tracks really are new tracks whose parent is the mother's
    lin = result.lineage
    for k in kids:
        assert set(lin[lin["track_id"] == k]["parent_track"]) == {_track(result, pt, plabel)}


def test_mergers_csv(scene, tmp_path):
    _, resolve, result = scene
    path = tmp_path / "mergers.csv"
    write_mergers_csv(result, path)
    rows = _rows(path)
    assert rows[0] == ["timestep", "object_id", "track_ids"]
    # B and C (labels 3 and 4 at t = 1) merge into label 3 at t = 2, 3
    entering = sorted({_track(result, 1, 3), _track(result, 1, 4)})
    assert len(entering) == 2
    expected = [[str(t), str(label), ";".join(map(str, entering))] for t, label, _ in truth["mergers"]]
    assert rows[1:] == expected
    if resolve:  # the pieces carry exactly those tracks
        lin = result.lineage
        for t, label, n in truth["mergers"]:
            pieces = lin[(lin["t"] == t) & (lin["merger_label"] == label)]
            assert sorted(pieces["track_id"]) == entering and len(pieces) == n


def test_no_events_gives_header_only(tmp_path):
    lab = np.stack([paint((40, 40), [((20, 10 + 2 * t), 4)]) for t in range(3)])
    res = track_labels(lab, params=TrackingParameters(with_divisions=False))
    write_divisions_csv(res, tmp_path / "d.csv")
    write_mergers_csv(res, tmp_path / "m.csv")
    header = "timestep_parent,track_id_parent,track_id_child1,track_id_child2\n"
    assert (tmp_path / "d.csv").read_text() == header
    assert _rows(tmp_path / "m.csv") == [["timestep", "object_id", "track_ids"]]


def test_existing_output_is_kept(tmp_path):
    result, _ = event_result(2, False)
    for writer, name, n_rows in ((write_divisions_csv, "d.csv", 2), (write_mergers_csv, "m.csv", 3)):
        path = tmp_path / name
        path.write_text("old\n")
        with pytest.raises(OutputExistsError, match=name):
            writer(result, path)
        assert path.read_text() == "old\n"
        writer(result, path, overwrite=True)
        assert len(_rows(path)) == n_rows
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "m.csv"]
