"""Tests of the synthetic time-lapse: determinism, events, learnability, CTC round trip."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from gputrack.datasets import contact_zones, synthetic_timelapse, write_synthetic_ctc
from gputrack.errors import InputError, OutputExistsError
from gputrack.io.ctc import read_ctc_gt, read_frames, write_ctc


@pytest.fixture(scope="module")
def data2d():
    return synthetic_timelapse(n_frames=40, shape=(256, 256), n_cells=12, seed=0)


@pytest.fixture(scope="module")
def data3d():
    return synthetic_timelapse(n_frames=20, shape=(32, 128, 128), n_cells=12, seed=3)


def _centroid(mask: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).mean(axis=0)


def test_shapes_and_dtypes(data2d, data3d):
    for d, shape in ((data2d, (40, 256, 256)), (data3d, (20, 32, 128, 128))):
        assert d.raw.shape == d.labels.shape == d.scribbles.shape == shape
        assert d.raw.dtype == d.labels.dtype == np.uint16 and d.scribbles.dtype == np.uint8
        assert list(d.tracks.columns) == ["label", "begin", "end", "parent"]
        assert (d.tracks.dtypes == np.int64).all()
    assert data3d.scale == (2.0, 1.0, 1.0) and data2d.scale == (1.0, 1.0)


def test_deterministic_by_seed(data2d):
    again = synthetic_timelapse(n_frames=40, shape=(256, 256), n_cells=12, seed=0)
    np.testing.assert_array_equal(again.raw, data2d.raw)
    np.testing.assert_array_equal(again.labels, data2d.labels)
    np.testing.assert_array_equal(again.scribbles, data2d.scribbles)
    pd.testing.assert_frame_equal(again.tracks, data2d.tracks)
    other = synthetic_timelapse(n_frames=40, shape=(256, 256), n_cells=12, seed=1)
    assert not np.array_equal(other.labels, data2d.labels)


def test_generation_speed():
    # CPU time of this process, not wall time: a loaded CI box slows wall time, not the work done
    start = time.process_time()
    synthetic_timelapse(n_frames=40, shape=(256, 256))
    t2 = time.process_time() - start
    start = time.process_time()
    synthetic_timelapse(n_frames=20, shape=(32, 128, 128))
    t3 = time.process_time() - start
    # budgets 2 s and 5 s on a quiet machine; slack for a shared CI box
    assert t2 < 4.0 and t3 < 10.0, (t2, t3)


@pytest.mark.parametrize("which", ["data2d", "data3d"])
def test_tracks_match_masks_numpy(which, request):
    d = request.getfixturevalue(which)
    n = d.labels.shape[0]
    top = int(d.labels.max())
    present = np.zeros((n, top + 1), bool)
    for t in range(n):
        present[t, np.unique(d.labels[t])] = True
    assert set(d.tracks["label"]) == set(np.flatnonzero(present[:, 1:].any(axis=0)) + 1)
    for label, begin, end, parent in d.tracks.itertuples(index=False):
        np.testing.assert_array_equal(np.flatnonzero(present[:, label]), np.arange(begin, end + 1))
        if parent:
            assert d.tracks.loc[d.tracks["label"] == parent, "end"].item() < begin
    assert all(present[t, 1:].any() for t in range(n))  # CTC: no empty frame


@pytest.mark.parametrize("which", ["data2d", "data3d"])
def test_divisions(which, request):
    d = request.getfixturevalue(which)
    tracks = d.tracks.set_index("label")
    children = d.tracks[d.tracks["parent"] > 0].groupby("parent")["label"].apply(list)
    mothers = [p for p, kids in children.items() if len(kids) == 2]
    assert len(mothers) >= 3
    assert len(mothers) == len(children)  # no single-child or three-child parents
    for mother in mothers:
        end = tracks.loc[mother, "end"]
        last = _centroid(d.labels[end] == mother)
        radius = np.sqrt((d.labels[end] == mother).sum() / np.pi)
        for kid in children[mother]:
            assert tracks.loc[kid, "begin"] == end + 1
            first = _centroid(d.labels[end + 1] == kid)
            assert np.linalg.norm((first - last)[-2:]) < 2.5 * radius + 4


def test_mergers_touch(data2d, data3d):
    for d in (data2d, data3d):
        assert len(d.mergers) >= 1
        for a, b, begin, end in d.mergers.itertuples(index=False):
            assert end >= begin
            for t in range(begin, end + 1):
                ma, mb = d.labels[t] == a, d.labels[t] == b
                assert ma.any() and mb.any()  # each keeps its own id
                assert (ndi.binary_dilation(ma) & mb).any()  # and they touch
                # the raw shows one blob: thresholding the smoothed frame joins the pair
                smooth = ndi.gaussian_filter(d.raw[t].astype(float), 1.0)
                blobs, _ = ndi.label(smooth > threshold_otsu(smooth))
                assert set(np.unique(blobs[ma])) & set(np.unique(blobs[mb])) - {0}


def test_border_appearances_and_exits(data2d):
    d = data2d
    n = d.labels.shape[0]
    appear = d.tracks[(d.tracks["begin"] > 0) & (d.tracks["parent"] == 0)]
    assert len(appear) >= 2
    for label, begin in zip(appear["label"], appear["begin"]):
        mask = d.labels[begin] == label
        assert mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()
    mothers = set(d.tracks["parent"])
    left = d.tracks[(d.tracks["end"] < n - 1) & ~d.tracks["label"].isin(mothers)]
    assert len(left) >= 1
    for label, end in zip(left["label"], left["end"]):
        mask = d.labels[end] == label
        assert mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()


def test_no_border_events_when_disabled():
    d = synthetic_timelapse(n_frames=20, shape=(128, 128), n_cells=6, seed=4, border_appearances=False,
                            mergers=False, divisions=False)
    assert len(d.tracks) == 6
    assert (d.tracks["begin"] == 0).all() and (d.tracks["end"] == 19).all()
    assert (d.tracks["parent"] == 0).all()
    assert len(d.mergers) == 0
    edges = np.concatenate([d.labels[:, 0], d.labels[:, -1], d.labels[:, :, 0], d.labels[:, :, -1]])
    assert not edges.any()


def test_scribbles_sparse_and_consistent(data2d, data3d):
    for d in (data2d, data3d):
        annotated = [t for t in range(d.scribbles.shape[0]) if d.scribbles[t].any()]
        assert 2 <= len(annotated) <= 4
        fg = d.scribbles == 2
        bg = d.scribbles == 1
        assert fg.any() and bg.any()
        assert (d.labels[fg] > 0).all()
        assert (d.labels[bg] == 0).all()
        # foreground strokes lie on several different cells
        assert len(np.unique(d.labels[fg])) >= 5
        # background strokes keep a margin from the cells
        near = np.stack([ndi.binary_dilation(d.labels[t] > 0) for t in annotated])
        assert not (near & (d.scribbles[annotated] == 1)).any()
        assert (d.scribbles > 0).mean() < 0.05
    annotated = [t for t in range(data2d.scribbles.shape[0]) if data2d.scribbles[t].any()]
    frac = (data2d.scribbles[annotated] > 0).mean()
    assert 0.005 < frac < 0.06  # a few % of the annotated frames' pixels


def _near_two_objects(frame: np.ndarray, radius: float, sampling) -> np.ndarray:
    """Independent reference: pixels whose Euclidean distance to two different labels is <= radius."""
    count = np.zeros(frame.shape, np.int32)
    step = np.ones(frame.ndim) if sampling is None else np.asarray(sampling, float)
    margin = np.ceil(radius / step).astype(int) + 1
    for label, box in enumerate(ndi.find_objects(frame), start=1):
        if box is None:
            continue
        box = tuple(slice(max(b.start - m, 0), b.stop + m) for b, m in zip(box, margin))
        count[box] += ndi.distance_transform_edt(frame[box] != label, sampling=sampling) <= radius
    return count >= 2


def test_contact_zones_small():
    f = np.zeros((7, 12), np.uint16)
    f[:, :4] = 1
    f[:, 6:] = 2  # two columns of background between the objects
    zone = contact_zones(f, radius=2.0)
    np.testing.assert_array_equal(zone, _near_two_objects(f, 2.0, None))
    assert zone[3].nonzero()[0].tolist() == [4, 5]
    assert not contact_zones(f, radius=1.0).any()  # 3 px apart: no pair within 1 px of a pixel
    assert not contact_zones(np.where(f == 2, 0, f), radius=5.0).any()  # a lone object
    vol = np.zeros((5, 8, 8), np.uint16)
    vol[:2] = 1
    vol[3:] = 2
    np.testing.assert_array_equal(contact_zones(vol, 1.0, z_ratio=1.0), _near_two_objects(vol, 1.0, None))
    # z_ratio 0.5: a slice is 2 yx pixels thick, so the objects are 4 px apart in z
    assert not contact_zones(vol, 1.5, z_ratio=0.5).any()
    assert contact_zones(vol, 2.0, z_ratio=0.5)[2].all()


def test_contact_scribbles(data2d, data3d):
    for d in (data2d, data3d):
        sampling = np.array(d.scale) / d.scale[-1]
        contact = d.scribbles == 3
        annotated = [t for t in range(d.scribbles.shape[0]) if d.scribbles[t].any()]
        assert set(np.flatnonzero(contact.any(axis=tuple(range(1, contact.ndim))))) <= set(annotated)
        touching = [(_near_two_objects(d.labels[t], 2.5, sampling)).sum() for t in range(len(d.labels))]
        assert int(np.argmax(touching)) in annotated  # the frame where most nuclei touch is labelled
        pairs = set()
        for t in annotated:
            zone = _near_two_objects(d.labels[t], 2.5, sampling)
            # contact strokes lie where two GT objects are within 2.5 px, and cover every such zone
            np.testing.assert_array_equal(contact[t], zone)
            comps, n = ndi.label(zone)
            for i in range(1, n + 1):
                ids = set(np.unique(d.labels[t][comps == i]).tolist()) - {0}
                pairs.add((t, tuple(sorted(ids))))
        assert len(pairs) >= 3, pairs  # several touching pairs get a contact stroke
        # nucleus scribbles never sit in a contact zone; contact is a small share of the strokes
        assert not ((d.scribbles == 2) & contact).any()
        assert 0 < contact.sum() < 0.5 * (d.scribbles > 0).sum()


def test_contact_class_splits_touching_nuclei(tmp_path):
    """Train on the scribbles with and without the contact class and count the objects."""
    from gputrack import pixel
    from gputrack.export import write_ctc as write_result_ctc
    from gputrack.segment import threshold
    from gputrack.tracking import TrackingParameters
    from gputrack.tracking.evaluate import ctc_scores
    from gputrack.tracking.pipeline import track_labels

    selection = {
        "GaussianSmoothing": [0.7, 1.6, 3.5],
        "LaplacianOfGaussian": [1.6, 3.5],
        "GaussianGradientMagnitude": [1.0, 3.5],
        "HessianOfGaussianEigenvalues": [1.6, 3.5],
    }
    d = synthetic_timelapse(n_frames=30, seed=0)
    gt_objects = sum(len(np.unique(f)) - 1 for f in d.labels)
    scribbled = [t for t in range(len(d.raw)) if d.scribbles[t].any()]

    def segment(scribbles):
        clf = pixel.train([d.raw[t] for t in scribbled], [scribbles[t] for t in scribbled], selection,
                          axes="yx", n_trees=50, random_state=0, device="cpu")
        prob = pixel.predict(clf, d.raw, axes="tyx", device="cpu")
        labels = threshold(prob, threshold=0.5, sigma=1.0, channel=1, min_size=20, axes="tyxc",
                           device="cpu")
        return labels, sum(len(np.unique(f)) - 1 for f in labels)

    labels, n_objects = segment(d.scribbles)
    _, n_two_class = segment(np.where(d.scribbles == 3, 0, d.scribbles))
    assert n_objects >= n_two_class + 30, (n_objects, n_two_class, gt_objects)
    assert abs(n_objects - gt_objects) <= 0.04 * gt_objects, (n_objects, gt_objects)

    result = track_labels(labels, params=TrackingParameters(appearance_cost=100, disappearance_cost=100))
    write_synthetic_ctc(tmp_path, d)
    write_result_ctc(result, tmp_path / "01_RES")
    scores = ctc_scores(tmp_path / "01_RES", tmp_path / "01_GT")
    assert scores["Valid"] == 1
    assert scores["DET"] > 0.95 and scores["TRA"] > 0.95, scores
    assert scores["LNK"] > 0.9, scores
    assert scores["tp_div(0)"] >= 0.7 * scores["gt_divisions"], scores


@pytest.mark.parametrize("which", ["data2d", "data3d"])
def test_threshold_recovers_foreground(which, request):
    d = request.getfixturevalue(which)
    inter = union = 0
    ious = []
    for t in range(0, d.raw.shape[0], 4):
        smooth = ndi.gaussian_filter(d.raw[t].astype(float), 1.0)
        fg = smooth > threshold_otsu(smooth)
        gt = d.labels[t] > 0
        inter, union = inter + (fg & gt).sum(), union + (fg | gt).sum()
        ious.append((fg & gt).sum() / (fg | gt).sum())
    assert inter / union > 0.8, ious  # over the sampled frames
    assert min(ious) > 0.75, ious


def test_ctc_round_trip(tmp_path, data3d):
    root = write_synthetic_ctc(tmp_path, data3d)
    assert root == tmp_path
    paths = {"raw": root / "01", "gt": root / "01_GT", "scribbles": root / "01_scribbles.tif"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01", "01_GT", "01_scribbles.tif"]
    gt = read_ctc_gt(paths["gt"])
    np.testing.assert_array_equal(gt.tra, data3d.labels)
    pd.testing.assert_frame_equal(gt.tracks, data3d.tracks)
    np.testing.assert_array_equal(read_frames(paths["raw"]), data3d.raw)
    np.testing.assert_array_equal(read_frames(paths["gt"] / "SEG"), data3d.labels)
    np.testing.assert_array_equal(tifffile.imread(paths["scribbles"]), data3d.scribbles)
    with pytest.raises(OutputExistsError):
        write_synthetic_ctc(tmp_path, data3d)
    write_synthetic_ctc(tmp_path, data3d, overwrite=True)


def test_ctc_metrics_gt_against_itself(tmp_path):
    from ctc_metrics.scripts.evaluate import evaluate_sequence

    d = synthetic_timelapse(n_frames=15, shape=(128, 128), n_cells=6, seed=5)
    gt_dir = write_synthetic_ctc(tmp_path, d) / "01_GT"
    write_ctc(tmp_path / "01_RES", d.labels, d.tracks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = evaluate_sequence(str(tmp_path / "01_RES"), str(gt_dir), ["Valid", "DET", "TRA", "SEG"],
                                   threads=1)
    assert scores["Valid"] == 1
    assert scores["DET"] == 1.0 and scores["TRA"] == 1.0 and scores["SEG"] == 1.0
    # and a result that lost a division scores below 1
    kids = d.tracks[d.tracks["parent"] > 0]
    if len(kids):
        broken = d.tracks.copy()
        broken.loc[broken["parent"] > 0, "parent"] = 0
        write_ctc(tmp_path / "02_RES", d.labels, broken)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            worse = evaluate_sequence(str(tmp_path / "02_RES"), str(gt_dir), ["TRA"], threads=1)
        assert worse["TRA"] < 1.0


def test_invalid_arguments():
    with pytest.raises(InputError, match="shape"):
        synthetic_timelapse(shape=(10, 10))
    with pytest.raises(InputError, match="shape"):
        synthetic_timelapse(shape=(4, 4, 4, 4))
    with pytest.raises(InputError, match="scale"):
        synthetic_timelapse(n_frames=2, shape=(8, 64, 64), scale=(1.0, 1.0))
