"""Merger resolution: seeded Gaussian mixture split, re-linking among the pieces (spec §4.10)."""

import numpy as np
import pytest
from scipy import ndimage
from sklearn.mixture import GaussianMixture

from gputrack.errors import InputError
from gputrack.tracking import (
    TrackingParameters,
    constraint_violations,
    detections_from_labels,
    resolve_mergers,
    split_object,
    track,
    track_labels,
)


def paint(shape, blobs):
    """Label image with one disk (2D) or ball (3D) per (centre, radius); connected components."""
    grid = np.indices(shape)
    mask = np.zeros(shape, bool)
    for centre, radius in blobs:
        d2 = sum((g - c) ** 2 for g, c in zip(grid, centre))
        mask |= d2 <= radius**2
    return ndimage.label(mask)[0].astype(np.uint16)


def merger_movie(n_frames=7, touch=3):
    """Two disks approach, overlap in frame ``touch`` (one component) and move back apart."""
    xa = [10, 16, 22, 28, 22, 16, 10][:n_frames]
    xb = [70, 64, 58, 52, 58, 64, 70][:n_frames]
    frames, centres = [], []
    for t in range(n_frames):
        a, b = (20, xa[t]), (22, xb[t])
        if t == touch:
            a, b = (20, 34), (22, 45)
        frames.append(paint((40, 80), [(a, 7), (b, 7)]))
        centres.append((a, b))
    return np.stack(frames), centres


def test_split_object_matches_sklearn_mixture():
    lab = paint((40, 80), [((20, 34), 7), ((22, 45), 7)])
    assert lab.max() == 1
    yx = np.argwhere(lab == 1)
    coords = np.column_stack([np.zeros(len(yx)), yx])
    assign = split_object(coords, 2)
    ref = GaussianMixture(2, covariance_type="full", random_state=0, reg_covar=1e-3).fit(yx).predict(yx)
    # same partition as scikit-learn (up to the order of the pieces), left piece first
    same = assign == ref
    assert same.all() or (~same).all()
    assert yx[assign == 0, 1].mean() < yx[assign == 1, 1].mean()
    # the pieces are close to the two disks
    np.testing.assert_allclose(yx[assign == 0].mean(axis=0), (20, 34), atol=1.5)
    np.testing.assert_allclose(yx[assign == 1].mean(axis=0), (22, 45), atol=1.5)
    assert split_object(coords[:1], 2) is None


def test_two_objects_through_a_merger_keep_their_tracks():
    frames, centres = merger_movie()
    res = track_labels(frames, params=TrackingParameters(max_objects=2))
    sol = res.solution
    assert constraint_violations(sol) == []
    assert (sol.count <= 1).all()  # every merger was resolved
    lin = res.lineage
    assert len(lin) == 14 and (lin["count"] == 1).all()
    pieces = lin[lin["merger_label"] > 0]
    assert pieces["t"].tolist() == [3, 3] and pieces["merger_label"].tolist() == [1, 1]
    assert pieces["label"].tolist() == [2, 3]  # new labels after the frame's maximum (1)
    det = res.detections
    # follow each object: the track id of the disk near centre a (b) is the same in every frame
    for which in (0, 1):
        ids = set()
        for t in range(7):
            c = np.array(centres[t][which])
            d = det[det.t == t]
            row = np.argmin(np.hypot(d.y - c[0], d.x - c[1]))
            assert np.hypot(d.y.iloc[row] - c[0], d.x.iloc[row] - c[1]) < 2.0
            ids.add(int(lin.loc[d.index[row], "track_id"]))
        assert len(ids) == 1
    assert lin["track_id"].nunique() == 2
    # identities: the merger pixels were relabelled to the two pieces, nothing else changed
    ident = res.label_frames
    np.testing.assert_array_equal(ident[2], frames[2])
    assert set(np.unique(ident[3]).tolist()) == {0, 2, 3}
    np.testing.assert_array_equal(ident[3] > 0, frames[3] > 0)


def test_resolution_without_mergers_is_identity():
    frames, _ = merger_movie()
    frames = frames[:3]  # no overlap in frames 0-2
    det = detections_from_labels(frames)
    sol = track(det, TrackingParameters(max_objects=2))
    new, ident = resolve_mergers(sol, frames, TrackingParameters(max_objects=2))
    np.testing.assert_array_equal(new.link_value, sol.link_value)
    assert (new.graph.detections["merger_label"] == 0).all()
    for a, b in zip(ident, frames):
        np.testing.assert_array_equal(a, b)


def test_merger_of_two_tracked_mergers_pairs_pieces_by_distance():
    # three frames in which two disks overlap: the merger-to-merger link is split piece to piece
    frames = np.stack([paint((40, 80), [((20, 30 + s), 7), ((21, 41 + s), 7)]) for s in (0, 2, 4)])
    frames = np.concatenate([paint((40, 80), [((20, 24), 7), ((21, 47), 7)])[None], frames])
    det = detections_from_labels(frames)
    size = det["size"].to_numpy(float)
    two = size > 1.5 * size.min()
    det["count_prob_0"] = 1e-6
    det["count_prob_1"] = np.where(two, 1e-3, 0.999)
    det["count_prob_2"] = np.where(two, 0.999, 1e-3)
    params = TrackingParameters(max_objects=2, with_divisions=False)
    sol = track(det, params)
    assert sol.count.tolist() == [1, 1, 2, 2, 2]
    new, ident = resolve_mergers(sol, frames, params)
    assert constraint_violations(new) == []
    g = new.graph
    d = g.detections
    act = new.active_links
    # every active link joins pieces on the same side (left stays left)
    side = np.where(d["x"].to_numpy() < d.groupby("t")["x"].transform("mean").to_numpy(), 0, 1)
    assert act.size == 6  # 2 objects x 3 frame pairs
    assert (side[g.src[act]] == side[g.dst[act]]).all()
    with pytest.raises(InputError, match="no label frame"):
        resolve_mergers(sol, frames[:2], params)
