"""Reading ilastik projects: every stored project loads, and what is read agrees with an
independent reading of the same HDF5 file with plain h5py and numpy."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from gputrack.errors import InputError, MissingInputError
from gputrack.io.ilp import (
    describe_ilp,
    label_counts,
    label_image,
    open_lane,
    raw_data_path,
    read_ilp,
    selected_features,
)
from tests.conftest import SHARED_DATA, shared_path

DATA = ("ilastik-testdata", "tests", "test_ilastik", "data")
DISPLAY = {
    "GaussianSmoothing": "Gaussian Smoothing",
    "LaplacianOfGaussian": "Laplacian of Gaussian",
    "GaussianGradientMagnitude": "Gaussian Gradient Magnitude",
    "DifferenceOfGaussians": "Difference of Gaussians",
    "StructureTensorEigenvalues": "Structure Tensor Eigenvalues",
    "HessianOfGaussianEigenvalues": "Hessian of Gaussian Eigenvalues",
}
TENSOR = ("StructureTensorEigenvalues", "HessianOfGaussianEigenvalues")


def _zip_members(name: str) -> list[str]:
    path = SHARED_DATA.joinpath(*DATA, name)
    if not path.exists():
        return ["<missing>"]
    with zipfile.ZipFile(path) as zf:
        return sorted(n for n in zf.namelist() if n.endswith(".ilp"))


def _extract(tmp_path_factory, name: str, folder: str, link_inputdata: bool) -> Path:
    source = shared_path(*DATA, name)
    out = tmp_path_factory.mktemp(folder)
    with zipfile.ZipFile(source) as zf:
        zf.extractall(out)
    if link_inputdata:  # the test projects name their inputs as inputdata/... next to them
        (out / "inputdata").symlink_to(shared_path(*DATA, "inputdata"), target_is_directory=True)
    return out


@pytest.fixture(scope="session")
def api_dir(tmp_path_factory) -> Path:
    return _extract(tmp_path_factory, "api_projects.zip", "api", link_inputdata=False)


@pytest.fixture(scope="session")
def tp_dir(tmp_path_factory) -> Path:
    return _extract(tmp_path_factory, "test_projects.zip", "tp", link_inputdata=True)


@pytest.fixture(scope="session")
def tp_bare_dir(tmp_path_factory) -> Path:
    """The test projects without their input data."""
    return _extract(tmp_path_factory, "test_projects.zip", "tp_bare", link_inputdata=False)


def _project(kind: str, name: str, api_dir: Path | None = None, tp_dir: Path | None = None) -> Path:
    if name == "<missing>":
        pytest.skip("zip not in shared data")
    return (api_dir if kind == "api" else tp_dir) / name


# --------------------------------------------------------------------------- independent readers


def _h5_text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _h5_counts(path: Path, group: str = "PixelClassification") -> dict[int, int]:
    """Labelled pixels per class: plain h5py walk over every label block of every lane."""
    counts: dict[int, int] = {}
    with h5py.File(path, "r") as f:
        sets = f.get(f"{group}/LabelSets")
        for lane in sets or []:
            for block in sets[lane].values():
                values, n = np.unique(block[()], return_counts=True)
                for v, k in zip(values, n):
                    if v:
                        counts[int(v)] = counts.get(int(v), 0) + int(k)
    return counts


def _block_slices(text: str) -> tuple[slice, ...]:
    return tuple(slice(int(a), int(b)) for a, b in re.findall(r"(\d+):(\d+)", text))


def _h5_lane_axes(path: Path) -> str:
    with h5py.File(path, "r") as f:
        tags = f["Input Data/infos/lane0000/Raw Data/axistags"][()]
    return "".join(a["key"] for a in json.loads(_h5_text(tags))["axes"])


# --------------------------------------------------------------------------- every project loads


def _expected_workflow(name: str) -> str:
    for prefix, workflow in (
        ("PixelClass", "Pixel Classification"),
        ("2464_PixelClass", "Pixel Classification"),
        ("Autocontext", "Autocontext"),
        ("ObjectClassification", "Object Classification"),
        ("TrackingwLearning", "Structured Learning Tracking"),
        ("Boundary-based", "Multicut"),
        ("CellDensityCounting", "Counting"),
    ):
        if name.startswith(prefix):
            return workflow
    raise AssertionError(f"unexpected project {name}")


@pytest.mark.parametrize(
    "kind,name",
    [("api", n) for n in _zip_members("api_projects.zip")]
    + [("tp", n) for n in _zip_members("test_projects.zip")],
)
def test_every_project_loads(kind, name, api_dir, tp_dir):
    path = _project(kind, name, api_dir, tp_dir)
    project = read_ilp(path)
    with h5py.File(path, "r") as f:
        stored_workflow = _h5_text(f["workflowName"][()])
        n_lanes = len(f["Input Data/infos"]) if "Input Data/infos" in f else 0
        roles = [_h5_text(r) for r in f["Input Data/Role Names"][()]] if "Input Data/Role Names" in f else []
    assert project.workflow == stored_workflow
    assert _expected_workflow(name) in project.workflow
    assert len(project.lanes) == n_lanes
    assert project.roles == roles
    assert n_lanes == (0 if name == "PixelClassNoData.ilp" else 1)
    for lane in project.lanes:
        assert lane.raw is not None and lane.raw.role == "Raw Data"
        assert set(lane.raw.axes) <= set("tczyx") and "x" in lane.raw.axes and "y" in lane.raw.axes
        if lane.raw.exists and lane.raw.shape is not None:
            assert len(lane.raw.shape) == len(lane.raw.axes)
    text = describe_ilp(project)
    assert project.workflow in text and f"lanes: {n_lanes}" in text


# --------------------------------------------------------------------------- pixel classification

PIXEL_PROJECTS = [
    ("api", "PixelClass.ilp"),
    ("api", "PixelClass3Channel.ilp"),
    ("api", "PixelClass3D.ilp"),
    ("api", "PixelClass3D_2D_3D_feature_mix.ilp"),
    ("api", "Autocontext_3D.ilp"),
    ("tp", "PixelClassification2d.ilp"),
    ("tp", "PixelClassification3d2c.ilp"),
    ("tp", "PixelClassification5t2d2c.ilp"),
    ("tp", "PixelClassification5t3d2c.ilp"),
]


@pytest.mark.parametrize("kind,name", PIXEL_PROJECTS)
def test_feature_selection_and_classes_match_h5py(kind, name, api_dir, tp_dir):
    path = _project(kind, name, api_dir, tp_dir)
    project = read_ilp(path)
    with h5py.File(path, "r") as f:
        fs = f["FeatureSelections"]
        matrix = fs["SelectionMatrix"][()]
        scales = fs["Scales"][()]
        ids = [_h5_text(v) for v in fs["FeatureIds"][()]]
        in_2d = fs["ComputeIn2d"][()] if "ComputeIn2d" in fs else np.zeros(len(scales), bool)
        names = [_h5_text(v) for v in f["PixelClassification/LabelNames"][()]]
        colors = f["PixelClassification/LabelColors"][()]
        known = f["PixelClassification/ClassifierForests/known_labels"][()]
    got = project.features
    assert got.feature_ids == ids
    np.testing.assert_array_equal(got.scales, scales)
    np.testing.assert_array_equal(got.matrix, matrix)
    np.testing.assert_array_equal(got.compute_in_2d, in_2d)
    assert project.label_names == names
    np.testing.assert_array_equal(project.label_colors, colors)
    assert project.known_labels == known.tolist()
    assert project.has_forest
    triples = selected_features(project)
    assert len(triples) == matrix.sum()
    rows, cols = np.nonzero(matrix)  # row-major: features slowest, scales fastest
    assert [(t[0], t[1]) for t in triples] == [(ids[r], float(scales[c])) for r, c in zip(rows, cols)]


AUTOCONTEXT = [("tp", "Autocontext2d3c.ilp"), ("api", "Autocontext_2D.ilp")]


@pytest.mark.parametrize("kind,name", PIXEL_PROJECTS + AUTOCONTEXT)
def test_label_counts_match_independent_count(kind, name, api_dir, tp_dir):
    path = _project(kind, name, api_dir, tp_dir)
    project = read_ilp(path)
    expected = _h5_counts(path)
    assert expected, "project has labels"
    assert label_counts(project) == dict(sorted(expected.items()))
    if len(project.pixel_stages) > 1:  # autocontext: the second stage has its own labels
        second = _h5_counts(path, "PixelClassification01")
        assert label_counts(project, stage=1) == dict(sorted(second.items()))


@pytest.mark.parametrize("kind,name", PIXEL_PROJECTS)
def test_feature_selection_implies_stored_feature_names(kind, name, api_dir, tp_dir):
    """Channels = sum over selected (feature, scale) of 1, or 2 (2D / in 2D) or 3 (3D) for the
    tensor features, times input channels: checks the selection, in-2D flags and lane axes."""
    path = _project(kind, name, api_dir, tp_dir)
    project = read_ilp(path)
    raw = project.lanes[0].raw
    if raw.shape is None:
        pytest.skip("raw data not available to tell the number of channels")
    extent = dict(zip(raw.axes, raw.shape))
    channels = extent.get("c", 1)
    is_3d = extent.get("z", 1) > 1
    per_channel = sum(
        (3 if is_3d and not in_2d else 2) if fid in TENSOR else 1
        for fid, _, in_2d in selected_features(project)
    )
    with h5py.File(path, "r") as f:
        stored = [_h5_text(v) for v in f["PixelClassification/ClassifierForests/feature_names"][()]]
    assert len(stored) == per_channel * channels
    # every stored name is "<display name> (σ=<scale>)[ in 2D][ [k]]" of a selected pair
    pattern = re.compile(r"^(.+) \(σ=([0-9.]+)\)( in 2D)?( \[\d+\])?$")
    parsed = {(m.group(1), float(m.group(2)), bool(m.group(3))) for m in map(pattern.match, stored)}
    want = {(DISPLAY[fid], scale, in_2d) for fid, scale, in_2d in selected_features(project)}
    if project.features.compute_in_2d_stored:
        assert parsed == want
    else:  # before ilastik 1.3.3 names carry no " in 2D"
        assert {(d, s) for d, s, _ in parsed} == {(d, s) for d, s, _ in want}


def test_label_image_places_blocks_at_block_slice(api_dir):
    path = api_dir / "PixelClass3D.ilp"
    project = read_ilp(path)
    labels = label_image(project, 0)  # raw axes zyxc without c
    assert labels.shape == (64, 64, 64)
    with h5py.File(path, "r") as f:
        blocks = list(f["PixelClassification/LabelSets/labels000"].values())
        assert len(blocks) > 1
        expected = np.zeros((64, 64, 64, 1), np.uint8)
        for block in blocks:
            assert "".join(a["key"] for a in json.loads(block.attrs["axistags"])["axes"]) == "zyxc"
            sl = _block_slices(block.attrs["blockSlice"])
            data = block[()]
            region = labels[sl[:3]]
            np.testing.assert_array_equal(region[data[..., 0] != 0], data[..., 0][data[..., 0] != 0])
            expected[sl] = np.maximum(expected[sl], data)
    np.testing.assert_array_equal(labels, expected[..., 0])
    xyz = label_image(project, 0, axes="xyz")
    np.testing.assert_array_equal(xyz, labels.transpose(2, 1, 0))
    padded = label_image(project, 0, shape=(1, 64, 64, 64, 1), axes="tzyxc")
    np.testing.assert_array_equal(padded[0, ..., 0], labels)


def test_label_image_of_old_5d_blocks_without_axistags():
    """ilastik 1.3.3 object classification stores txyzc blocks without axistags."""
    path = shared_path(*DATA, "inputdata", "pc-oc-133.ilp")
    project = read_ilp(path)
    assert project.lanes[0].raw.axes == "tyxc"
    labels = label_image(project, 0)  # tyx
    assert labels.shape == (5, 33, 77)
    with h5py.File(path, "r") as f:
        block = f["PixelClassification/LabelSets/labels000/block0000"]
        assert "axistags" not in block.attrs
        t, x, y, z, c = _block_slices(block.attrs["blockSlice"])
        data = block[()]
    expected = np.zeros((5, 33, 77), np.uint8)
    expected[t, y, x] = data[:, :, :, 0, 0].transpose(0, 2, 1)
    np.testing.assert_array_equal(labels, expected)


# --------------------------------------------------------------------------- inputs


def test_relative_internal_and_relocated_paths(api_dir, tp_dir):
    project = read_ilp(tp_dir / "PixelClassification5t2d2c.ilp")
    raw = project.lanes[0].raw
    assert raw.exists and raw.dataset == "data" and raw.path.name == "5t2d2c.h5"
    assert raw.path == (tp_dir / "inputdata" / "5t2d2c.h5")
    with h5py.File(shared_path(*DATA, "inputdata", "5t2d2c.h5"), "r") as f:
        stored = f["data"][()]
    np.testing.assert_array_equal(open_lane(project, 0), stored)
    assert raw.axes == _h5_lane_axes(tp_dir / "PixelClassification5t2d2c.ilp") == "tyxc"
    # PixelClass.ilp stores an absolute path of the author's machine; the file lies next to it
    project = read_ilp(api_dir / "PixelClass.ilp")
    raw = project.lanes[0].raw
    assert raw.file_path.startswith("/Users/") and raw.relocated and raw.exists
    assert raw.path == api_dir / "Data_1channel.png"
    assert open_lane(project, 0).shape == raw.shape == (128, 128, 1)


def test_project_internal_data():
    path = shared_path(*DATA, "inputdata", "NNLocaBatch-140b30-biov04-2d1c.ilp")
    project = read_ilp(path)
    raw = project.lanes[0].raw
    assert raw.location == "ProjectInternal" and raw.exists
    with h5py.File(path, "r") as f:
        key = next(iter(f["Input Data/local_data"]))
        stored = f["Input Data/local_data"][key][()]
    assert raw_data_path(project, 0) == (path, f"/Input Data/local_data/{key}")
    np.testing.assert_array_equal(open_lane(project, 0), stored)


def test_missing_raw_data_reads_metadata_and_names_lane_and_path(tp_bare_dir, tp_dir):
    path = tp_bare_dir / "PixelClassification3d2c.ilp"
    project = read_ilp(path)  # metadata only: still works
    raw = project.lanes[0].raw
    assert not raw.exists and raw.shape is None
    assert label_counts(project) == dict(sorted(_h5_counts(path).items()))
    assert "MISSING" in describe_ilp(project)
    with pytest.raises(MissingInputError) as err:
        open_lane(project, 0)
    message = str(err.value)
    assert "\n" not in message
    assert "lane 0" in message and str(tp_bare_dir / "inputdata" / "3d2c.h5") in message
    assert "raw_data" in message and "--raw-data" in message and path.name in message
    # pointing at the file, a plain HDF5 path keeps the project's dataset name
    real = shared_path(*DATA, "inputdata", "3d2c.h5")
    fixed = read_ilp(path, raw_data=[str(real)])
    assert fixed.lanes[0].raw.exists and fixed.lanes[0].raw.overridden
    resolved, dataset = raw_data_path(fixed, 0)
    assert (resolved.resolve(), dataset) == (real.resolve(), "data")
    with h5py.File(real, "r") as f:
        np.testing.assert_array_equal(open_lane(fixed, 0), f["data"][()])
    assert read_ilp(path, raw_data={0: f"{real}/data"}).lanes[0].raw.exists
    with pytest.raises(InputError, match="lane"):
        read_ilp(path, raw_data={3: str(real)})


def test_not_an_ilastik_project(tmp_path):
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["data"] = np.zeros((4, 4))
    with pytest.raises(InputError) as err:
        read_ilp(plain)
    assert "plain.h5" in str(err.value) and "\n" not in str(err.value) and "ilastik project" in str(err.value)
    text = tmp_path / "notes.ilp"
    text.write_text("not hdf5\n")
    with pytest.raises(InputError) as err:
        read_ilp(text)
    assert "notes.ilp" in str(err.value) and "\n" not in str(err.value) and "HDF5" in str(err.value)
    with pytest.raises(MissingInputError, match="absent.ilp"):
        read_ilp(tmp_path / "absent.ilp")


# --------------------------------------------------------------------------- threshold and tracking


def _h5_group_values(path: Path, group: str) -> dict:
    with h5py.File(path, "r") as f:
        g = f[group]
        return {k: g[k][()] for k in g if isinstance(g[k], h5py.Dataset)}


def test_threshold_settings():
    path = shared_path(*DATA, "inputdata", "mitocheckStructuredLearningTrackingHytraWithMergers.ilp")
    th = read_ilp(path).threshold
    stored = _h5_group_values(path, "ThresholdTwoLevels")
    sigma = _h5_group_values(path, "ThresholdTwoLevels/SmootherSigma")
    assert th.method == "simple" and stored["CurOperator"] == 0
    assert th.low_threshold == stored["LowThreshold"] == 0.5
    assert th.high_threshold == stored["HighThreshold"] == 0.8
    assert (th.channel, th.core_channel) == (stored["Channel"], stored["CoreChannel"]) == (1, 0)
    assert (th.min_size, th.max_size) == (stored["MinSize"], stored["MaxSize"]) == (10, 1_000_000)
    assert th.sigmas == {k: float(v) for k, v in sigma.items()}
    # ilastik <= 1.2.0 kept the simple threshold in SingleThreshold (ilastik reads it into LowThreshold)
    path = shared_path("hytra-tests", "tests", "divisionTestDataset", "tracking.ilp")
    th = read_ilp(path).threshold
    stored = _h5_group_values(path, "ThresholdTwoLevels")
    assert "CoreChannel" not in stored and stored["LowThreshold"] == 0.2
    assert th.method == "simple" and th.low_threshold == stored["SingleThreshold"] == 0.5
    assert th.channel == stored["Channel"] == 1 and th.core_channel == 0


def test_conservation_tracking_parameters():
    path = shared_path("hytra-tests", "tests", "divisionMergerTestDataset", "tracking.ilp")
    project = read_ilp(path)
    tr = project.tracking
    stored = _h5_group_values(path, "ConservationTracking/Parameters")
    assert tr.applet == "ConservationTracking" and "binary image" in project.workflow
    assert tr.division_weight == stored["divWeight"] == 99.0
    assert tr.transition_weight == stored["transWeight"] == 2.0
    assert tr.detection_weight == stored["detWeight"] == 10.0
    assert tr.appearance_cost == stored["appearanceCost"]
    assert tr.disappearance_cost == stored["disappearanceCost"]
    assert tr.max_obj == stored["maxObj"] == 2
    assert tr.max_nearest_neighbors == stored["max_nearest_neighbors"] == 2
    assert tr.max_dist == stored["maxDist"] and tr.division_threshold == stored["divThreshold"]
    assert tr.border_aware_width == stored["borderAwareWidth"] == 10
    assert tr.with_divisions and tr.with_merger_resolution and tr.with_tracklets
    assert tr.solver == "Flow-based" and tr.timeout is None
    assert tr.size_range == tuple(stored["size_range"]) == (2, 10001)
    assert tr.x_range == (0, 200) and tr.time_range == tuple(stored["time_range"])
    assert tr.scales == dict(zip("xyz", stored["scales"].tolist()))
    assert "frames_per_split" in tr.defaulted and tr.frames_per_split == 0
    # older projects keep the parameters in a per-lane group
    path = shared_path("hytra-tests", "tests", "divisionTestDataset", "tracking.ilp")
    tr = read_ilp(path).tracking
    stored = _h5_group_values(path, "ConservationTracking/Parameters/0000")
    assert tr.max_obj == stored["maxObj"] == 1 and tr.division_weight == stored["divWeight"] == 10.0
    assert tr.size_range == (0, 10001) and "detection_weight" in tr.defaulted


def test_structured_tracking_parameters():
    path = shared_path(*DATA, "inputdata", "mitocheckStructuredLearningTrackingHytraWithMergers.ilp")
    tr = read_ilp(path).tracking
    stored = _h5_group_values(path, "StructuredTracking/Parameters")
    assert tr.applet == "StructuredTracking"
    assert tr.solver == _h5_text(stored["solver"]) == "ILP"
    assert tr.max_obj == stored["maxObj"] == 3 and not tr.with_divisions
    assert tr.transition_weight == stored["transWeight"] and tr.appearance_cost == stored["appearanceCost"]
    assert tr.frames_per_split == stored["numFramesPerSplit"] == 0
    assert tr.x_range == (0, 66) and tr.y_range == (0, 62)
    with h5py.File(path, "r") as f:
        learned = float(f["StructuredTracking/TransitionWeight/0000"][()])
    assert tr.learned_weights["transition"] == learned
    assert tr.defaulted == ()


# --------------------------------------------------------------------------- annotations


def _h5_annotation_labels(group: h5py.Group) -> dict[int, dict[int, list[int]]]:
    out: dict[int, dict[int, list[int]]] = {}
    for t, frame in group.items():
        out[int(t)] = {int(o): sorted(ds[()].tolist()) for o, ds in frame.items()}
    return out


def test_tracking_annotations_of_mitocheck_project():
    path = shared_path(*DATA, "inputdata", "mitocheckStructuredLearningTrackingHytraWithDivisions.ilp")
    ann = read_ilp(path).annotations
    with h5py.File(path, "r") as f:
        labels = _h5_annotation_labels(f["TrackingAnnotations/Annotations/0/labels"])
        rows = f["TrackingAnnotations/Annotations/0/divisions/0"][()]
    assert ann.source == "TrackingAnnotations/Annotations"
    assert ann.labels[0] == labels
    assert len(ann.labels[0]) == 9 and ann.labels[0][4][3] == [-1]  # a misdetection
    assert ann.divisions[0] == {int(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows}
    assert ann.divisions[0] == {1: (2, 3, 5), 5: (6, 7, 5)}
    assert "2 divisions" in describe_ilp(read_ilp(path))


def test_tracking_annotations_with_crops_and_mergers():
    # ilastik 1.2.0 nests the annotations per crop: same content as the flat Labels group
    path = shared_path(*DATA, "inputdata", "mitocheckStructuredLearningTracking.ilp")
    ann = read_ilp(path).annotations
    with h5py.File(path, "r") as f:
        crop = _h5_annotation_labels(f["TrackingAnnotations/Annotations/0/Crop 1/labels"])
    assert ann.labels[0] == {t: o for t, o in crop.items()}
    assert ann.divisions[0] == {1: (2, 3, 5), 5: (6, 7, 5)}
    path = shared_path(*DATA, "inputdata", "mitocheckStructuredLearningTrackingHytraWithMergers.ilp")
    ann = read_ilp(path).annotations
    assert ann.labels[0][5][1] == [1, 2, 3]  # a merger of three tracks
    assert ann.divisions[0] == {} and ann.appearances == {0: {}} and ann.disappearances == {0: {}}


def test_object_classifier_labels():
    path = shared_path(*DATA, "inputdata", "mitocheckStructuredLearningTrackingHytraWithDivisions.ilp")
    project = read_ilp(path)
    div = project.object_classifiers["DivisionDetection"]
    with h5py.File(path, "r") as f:
        names = [_h5_text(v) for v in f["DivisionDetection/LabelNames"][()]]
        values = np.concatenate([ds[()] for ds in f["DivisionDetection/LabelInputs/0000"].values()])
    assert div.label_names == names == ["Not Dividing", "Dividing"]
    ids, n = np.unique(values[values > 0].astype(int), return_counts=True)
    assert div.label_counts() == dict(zip(ids.tolist(), n.tolist()))
    assert div.has_forest
    assert project.object_classifiers["CountClassification"].label_names[0] == "False Detection"
    assert project.object_label_names == []


def test_object_classification_label_names(tp_dir):
    path = tp_dir / "ObjectClassification2d3c_wPred.ilp"
    project = read_ilp(path)
    with h5py.File(path, "r") as f:
        names = [_h5_text(v) for v in f["ObjectClassification/LabelNames"][()]]
    assert project.object_label_names == names == ["Label 1", "Label 2"]
    assert project.threshold is not None and project.tracking is None
