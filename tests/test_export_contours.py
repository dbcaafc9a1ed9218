"""Contours (.outline) and Multi-Worm-Tracker (.summary/.blobs) exports.

References: scikit-image's find_contours (marching squares), ilastik's own smallVideo outputs in
ilastik-testdata, the event fixture's truth and the result's lineage table.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from gputrack.errors import InputError, OutputExistsError
from gputrack.export.contours import find_contours, object_contours, read_contours, write_contours
from gputrack.export.mwt import SUMMARY_COLUMNS, decode_chain, encode_chain, read_mwt, write_mwt
from tests.conftest import shared_path
from tests.event_fixture import event_result, truth

measure = pytest.importorskip("skimage.measure")

INPUT = ("ilastik-testdata", "tests", "test_ilastik", "data", "inputdata")


# --- marching squares vs scikit-image --------------------------------------------------------

@pytest.mark.parametrize("kind", ["float", "binary", "levels"])
def test_find_contours_equals_skimage(kind):
    rng = np.random.default_rng(1)
    for _ in range(60):
        shape = tuple(rng.integers(2, 25, 2))
        if kind == "float":
            img, level = rng.random(shape), float(rng.random())
        elif kind == "binary":
            img, level = (rng.random(shape) > 0.5).astype(np.uint8), float(rng.choice([0.0, 0.5]))
        else:
            img, level = rng.integers(0, 3, shape).astype(float), 1.0
        ours, ref = find_contours(img, level), measure.find_contours(img, level)
        assert len(ours) == len(ref)
        for a, b in zip(ours, ref):
            np.testing.assert_array_equal(a, b)


def test_object_contours_equals_skimage_on_transposed_mask():
    lab = np.zeros((40, 50), np.uint16)
    lab[5:20, 8:30] = 3
    lab[10:14, 12:16] = 0  # a hole
    lab[25:38, 30:47] = 7
    lab[0:4, 44:50] = 9  # touches the border: open contour
    for label in (3, 7, 9):
        for level in (0.0, 0.5):
            ref = measure.find_contours((lab == label).T.astype(np.uint8), level)[0]
            np.testing.assert_array_equal(object_contours(lab, label, level=level), ref)
    # 3D: footprint by default, a slice on request
    vol = np.zeros((4, 40, 50), np.uint16)
    vol[1, 5:20, 8:30] = 3
    vol[2, 8:25, 10:20] = 3
    foot = (vol == 3).any(0).T.astype(np.uint8)
    np.testing.assert_array_equal(object_contours(vol, 3, level=0.5),
                                  measure.find_contours(foot, 0.5)[0])
    np.testing.assert_array_equal(object_contours(vol, 3, z=2, level=0.5),
                                  measure.find_contours((vol[2] == 3).T.astype(np.uint8), 0.5)[0])
    assert object_contours(vol, 5).shape == (0, 2)
    with pytest.raises(InputError, match="z=9"):
        object_contours(vol, 3, z=9)


# --- chain code ------------------------------------------------------------------------------

def test_chain_code_round_trip():
    lab = np.zeros((30, 30), np.uint8)
    rr, cc = np.ogrid[:30, :30]
    lab[(rr - 14) ** 2 / 80 + (cc - 12) ** 2 / 30 <= 1] = 1
    contour = object_contours(lab, 1, level=0)
    for compat in (False, True):
        code, n = encode_chain(contour, ilastik_compat=compat)
        back = decode_chain(contour[0, 0], contour[0, 1], n, code)
        # every original point is on the decoded path (diagonals become two unit steps)
        on_path = {tuple(p) for p in back.tolist()}
        missing = [p for p in contour.tolist() if tuple(p) not in on_path]
        assert len(missing) <= (1 if compat else 0)  # ilastik may drop the final step
        assert np.abs(np.diff(back, axis=0)).sum(axis=1).max() == 1
    with pytest.raises(InputError):
        encode_chain(np.array([[0.0, 0.0], [0.5, 0.5]]))


# --- event fixture: 2D and 3D ----------------------------------------------------------------

@pytest.fixture(scope="module", params=[2, 3])
def events(request):
    return request.param, event_result(request.param)[0]


def _footprint_ref(frame, label):
    mask = frame == label
    if mask.ndim == 3:
        mask = mask.any(0)
    return measure.find_contours(mask.T.astype(np.uint8), 0)[0]


def test_write_contours_events(events, tmp_path):
    ndim, result = events
    paths = write_contours(result, tmp_path / "run")
    assert paths == [tmp_path / "run.outline"]
    table = read_contours(paths[0])
    lin = result.lineage
    active = lin[lin["count"] > 0]
    assert len(table) == len(active)  # one line per tracked object, false detection left out
    frames = result.frames()
    # independent parse of the file
    lines = paths[0].read_text().splitlines()
    assert all(line.split()[2] == "0.000" and line.startswith("00000000_") for line in lines)
    for row, line in zip(table.itertuples(), lines):
        stamp, ident = line.split()[:2]
        assert int(stamp[9:]) == row.t and len(stamp) == 15 and len(ident) == 5
        labels = active[(active["t"] == row.t) & (active["track_id"] == row.id)]["label"]
        assert len(labels) == 1
        np.testing.assert_array_equal(row.contour, _footprint_ref(frames[row.t], int(labels.iloc[0])))
    ft, flabel = truth["false_detection"]
    assert not any((t == ft) and (flabel in active[(active["t"] == t)]["label"].values) for t in table["t"])
    # the daughters of the division each have their own line in the division frame
    (_, _), daughters = truth["division"][:2], truth["division"][2]
    dt = daughters[0][0]
    assert (table["t"] == dt).sum() == int((active["t"] == dt).sum())
    # ilastik mode: lineage ids from 2, y x order, one line per lineage and frame
    compat = tmp_path / "compat.outline"
    write_contours(result, compat, ilastik_compat=True)
    ct = read_contours(compat, ilastik_compat=True)
    assert set(ct["id"]) == {i + 1 for i in active["lineage_id"]}
    assert len(ct) == len(active.drop_duplicates(["t", "lineage_id"]))
    with pytest.raises(OutputExistsError):
        write_contours(result, tmp_path / "run.outline")


def test_write_mwt_events(events, tmp_path):
    ndim, result = events
    paths = write_mwt(result, tmp_path / "run.summary")
    assert paths == [tmp_path / "run.summary", tmp_path / "run.blobs"]
    summary, blobs = read_mwt(tmp_path / "run")
    lin = result.lineage
    active = lin[lin["count"] > 0]
    frames = result.frames()
    # summary: one line per frame, object counts from the lineage table
    assert summary["t"].tolist() == sorted(active["t"].unique())
    assert summary["objects"].tolist() == active.groupby("t").size().tolist()
    assert (summary["frame"] == summary["t"] + 1).all()
    # blobs: one per track, objects in frame order, features vs scipy.ndimage on the footprint
    assert sorted(blobs["blob"].unique()) == sorted(active["track_id"].unique())
    lengths = {}
    for r in blobs.itertuples():
        sel = active[(active["t"] == r.t) & (active["track_id"] == r.blob)]
        assert len(sel) == 1
        label = int(sel["label"].iloc[0])
        mask = frames[r.t] == label
        if mask.ndim == 3:
            mask = mask.any(0)
        assert r.area == mask.sum()
        cy, cx = ndi.center_of_mass(mask)
        assert (r.x, r.y) == pytest.approx((cx, cy))
        ys, xs = np.nonzero(mask)
        ev = np.sort(np.linalg.eigvalsh(np.cov(np.stack([xs, ys]), bias=True)))[::-1]
        assert (r.length, r.width) == pytest.approx(tuple(np.sqrt(ev)))
        assert r.std == pytest.approx(np.sqrt(ev).mean())
        assert np.hypot(r.major_x, r.major_y) == pytest.approx(np.sqrt(ev[0]))
        ref = _footprint_ref(frames[r.t], label)
        assert (r.x0, r.y0) == tuple(ref[0])
        # decoded outline within a pixel of the marching-squares outline, and covering it
        d = np.abs(r.contour[:, None, :] - ref[None, :, :]).max(axis=2).min(axis=1)
        assert d.max() <= 1.0
        assert {tuple(p) for p in ref.tolist()} <= {tuple(p) for p in r.contour.tolist()}
        lengths.setdefault(r.t, []).append(r.length)
    for row in summary.itertuples():
        assert row.length == pytest.approx(np.mean(lengths[row.t]))
        assert row.relative_length == row.length and row.valid_objects == row.objects
    counts = blobs.groupby("blob")["count"].apply(list)
    assert all(c == list(range(1, len(c) + 1)) for c in counts)
    with pytest.raises(OutputExistsError):
        write_mwt(result, tmp_path / "run")
    assert write_mwt(result, tmp_path / "run", overwrite=True)[0].exists()


def test_mwt_refuses_partial_overwrite(tmp_path):
    result, _ = event_result(2)
    (tmp_path / "x.blobs").write_text("keep")
    with pytest.raises(OutputExistsError):
        write_mwt(result, tmp_path / "x")
    assert not (tmp_path / "x.summary").exists()
    assert (tmp_path / "x.blobs").read_text() == "keep"


def test_bad_label_frames(tmp_path):
    result, _ = event_result(2)
    empty = [np.zeros_like(f) for f in result.frames()]
    with pytest.raises(InputError, match="not in the image"):
        write_contours(result, tmp_path / "a", label_frames=empty)
    with pytest.raises(InputError, match="not in the image"):
        write_mwt(result, tmp_path / "a", label_frames=empty)
    assert list(tmp_path.iterdir()) == []


# --- ilastik's reference outputs (smallVideo) ------------------------------------------------

@pytest.fixture(scope="module")
def small_video():
    h5py = pytest.importorskip("h5py")
    from gputrack.tracking import TrackingParameters, track_labels

    with h5py.File(shared_path(*INPUT, "smallVideoSimpleSegmentation.h5"), "r") as f:
        seg = f["exported_data"][..., 0]  # t, y, x
    labels = np.stack([ndi.label(frame > 0)[0] for frame in seg]).astype(np.uint32)
    return track_labels(labels, params=TrackingParameters(max_objects=2))


def _parse_blobs(path):
    """Independent parse of a .blobs file: {(t, x, y): (label, fields after '%%', fields before)}."""
    out, label = {}, None
    for line in path.read_text().splitlines():
        if line.startswith("% "):
            label = int(line[2:])
            continue
        head, tail = line.split(" %% ")
        h = [float(v) for v in head.split()]
        out[(int(h[1]), round(h[2], 3), round(h[3], 3))] = (label, h, tail.split())
    return out


def test_contours_match_ilastik_reference(small_video, tmp_path):
    ref = shared_path(*INPUT, "smallVideo_Contours_reference.outline")
    ours = write_contours(small_video, tmp_path / "sv", ilastik_compat=True)[0]
    ref_lines = ref.read_text().splitlines()
    our_lines = ours.read_text().splitlines()
    assert len(our_lines) == len(ref_lines)
    for a, b in zip(our_lines, ref_lines):
        fa, fb = a.split(), b.split()
        assert fa[:3] == fb[:3] and len(fa) == len(fb)
        np.testing.assert_allclose(np.array(fa[3:], float), np.array(fb[3:], float), atol=1e-6)
    # default mode: the same outlines as (x, y) (ilastik writes y x), parsed back
    ours_xy = read_contours(write_contours(small_video, tmp_path / "xy")[0])
    ref_yx = read_contours(ref, ilastik_compat=True)
    for a, b in zip(ours_xy["contour"], ref_yx["contour"]):
        np.testing.assert_allclose(a, b)


def test_mwt_matches_ilastik_reference(small_video, tmp_path):
    summary_ref = shared_path(*INPUT, "smallVideo_Multi-Worm-Tracker_reference.summary")
    blobs_ref = shared_path(*INPUT, "smallVideo_Multi-Worm-Tracker_reference.blobs")
    paths = write_mwt(small_video, tmp_path / "sv", ilastik_compat=True)
    ref, ours = _parse_blobs(blobs_ref), _parse_blobs(paths[1])
    lin = small_video.lineage
    pieces = {(int(t), int(lab)) for t, lab in lin.loc[lin["merger_label"] > 0, ["t", "label"]].values}
    # every object we track is one of ilastik's, field by field
    for key, (label, h, tail) in ours.items():
        assert key in ref, key
        rlabel, rh, rtail = ref[key]
        # same blob (= label) except that the two pieces of a resolved merger may swap labels
        assert label == rlabel or (key[0], label) in pieces
        np.testing.assert_allclose(h[2:5], rh[2:5], rtol=1e-6)  # x, y, area
        np.testing.assert_allclose(np.abs(h[5:7]), np.abs(rh[5:7]), rtol=1e-5, atol=1e-5)  # axis
        np.testing.assert_allclose(h[7:10], rh[7:10], rtol=1e-6)  # std, length, width
        assert tail == rtail  # x0 y0 n chain code, byte for byte
    # ilastik's objects we do not have: the ones our tracker called false detections
    false = lin[lin["count"] == 0]
    missing = set(ref) - set(ours)
    assert {k[0] for k in missing} <= set(false["t"])
    assert len(missing) == len(false)
    # summary: same 14 fields; identical frames where the objects are the same
    rs = [line.split() for line in summary_ref.read_text().splitlines()]
    os_ = [line.split() for line in paths[0].read_text().splitlines()]
    assert len(rs) == len(os_) and all(len(r) == len(o) == len(SUMMARY_COLUMNS) for r, o in zip(rs, os_))
    for r, o in zip(rs, os_):
        if int(r[1]) in set(false["t"]):
            continue
        assert r[:7] == o[:7]
        np.testing.assert_allclose(np.array(o[7:], float), np.array(r[7:], float), rtol=1e-6)
    # our reader parses ilastik's file and decodes its outlines to within a pixel of ours
    _, rblobs = read_mwt(blobs_ref)
    _, oblobs = read_mwt(paths[0])
    for r in rblobs.itertuples():
        match = oblobs[(oblobs["t"] == r.t) & np.isclose(oblobs["x"], r.x, atol=1e-3)
                       & np.isclose(oblobs["y"], r.y, atol=1e-3)]
        if match.empty:
            continue
        o = match["contour"].iloc[0]
        assert len(r.contour) >= len(o) - 1
        d = np.abs(r.contour[:, None, :] - o[None, :, :]).max(axis=2).min(axis=1)
        assert d.max() <= 1.0
