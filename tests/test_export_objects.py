"""Object exports: CSV tables read back with pandas, class painting against per-object loops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage as ndi
import tifffile
from PIL import Image

from gputrack import objects
from gputrack.datasets import synthetic_timelapse
from gputrack.errors import InputError, OutputExistsError
from gputrack.export import ilastik_table, object_table_csv, paint_objects, write_object_predictions
from gputrack.io.images import read_image
from gputrack.io.lut import fiji_glasbey
from tests.conftest import shared_path

# ilastik's CSV names of a 2D single-channel table with every standard feature, in the
# documented order: ids, default group (centre, box, size), the rest by vigra name.
ILASTIK_2D_FEATURE_COLUMNS = [
    "Center_of_the_object_0",
    "Center_of_the_object_1",
    "Bounding_Box_Minimum_0",
    "Bounding_Box_Minimum_1",
    "Bounding_Box_Maximum_0",
    "Bounding_Box_Maximum_1",
    "Size_in_pixels",
    "Coord<Principal<Kurtosis>>_0",
    "Coord<Principal<Kurtosis>>_1",
    "Coord<Principal<Skewness>>_0",
    "Coord<Principal<Skewness>>_1",
    "Kurtosis_of_Intensity",
    "Maximum_intensity",
    "Mean_Intensity",
    "Minimum_intensity",
    "Principal_components_of_the_object_0",
    "Principal_components_of_the_object_1",
    "Principal_components_of_the_object_2",
    "Principal_components_of_the_object_3",
    "Radii_of_the_object_0",
    "Radii_of_the_object_1",
    "Skewness_of_Intensity",
    "Total_Intensity",
    "Variance_of_Intensity",
]
OUR_NAME = {
    "Center_of_the_object": "RegionCenter",
    "Bounding_Box_Minimum": "Coord<Minimum>",
    "Bounding_Box_Maximum": "Coord<Maximum>",
    "Size_in_pixels": "Count",
    "Kurtosis_of_Intensity": "Kurtosis",
    "Maximum_intensity": "Maximum",
    "Mean_Intensity": "Mean",
    "Minimum_intensity": "Minimum",
    "Principal_components_of_the_object": "RegionAxes",
    "Radii_of_the_object": "RegionRadii",
    "Skewness_of_Intensity": "Skewness",
    "Total_Intensity": "Sum",
    "Variance_of_Intensity": "Variance",
}


def our_column(csv_name: str) -> str:
    base, _, k = csv_name.rpartition("_")
    if base in OUR_NAME:
        return f"{OUR_NAME[base]}_{k}"
    return OUR_NAME.get(csv_name, csv_name)


@pytest.fixture(scope="module")
def stardist():
    raw = tifffile.imread(shared_path("stardist-nuclei", "images", "img2d.tif")).astype(np.float32)
    lab = tifffile.imread(shared_path("stardist-nuclei", "images", "mask2d.tif"))
    return raw, lab


def reference_paint(labels: np.ndarray, table: pd.DataFrame, column: str = "class") -> np.ndarray:
    """One object at a time (t axis first when the table has ``t`` and labels are 3D+)."""
    out = np.zeros(labels.shape, np.uint8)
    for d in table.to_dict("records"):
        if labels.ndim == 3 and "t" in d:
            frame_out = out[int(d["t"])]
            frame_out[labels[int(d["t"])] == d["label"]] = d[column]
        else:
            out[labels == d["label"]] = d[column]
    return out


def prediction_table(rng: np.random.Generator, table: pd.DataFrame) -> pd.DataFrame:
    p1 = rng.uniform(size=len(table))
    pred = pd.DataFrame({"t": table["t"], "label": table["label"]})
    pred["class"] = np.where(p1 >= 0.5, 1, 2)
    pred["p_1"], pred["p_2"] = p1, 1 - p1
    pred["uncertainty"] = 1 - np.abs(2 * p1 - 1)
    return pred


def test_csv_ilastik_names_round_trip(tmp_path, stardist):
    raw, lab = stardist
    tab = objects.features(raw, lab, device="cpu")
    pred = prediction_table(np.random.default_rng(0), tab)
    merged = pred.merge(tab, on=["t", "label"])
    shuffled = merged.sample(frac=1.0, random_state=1)  # the export sorts by (t, label)
    path = object_table_csv(tmp_path / "objects.csv", shuffled)
    back = pd.read_csv(path)

    head = ["object_id", "timestep", "labelimage_oid", "Predicted_Class", "Probability_of_1"]
    head += ["Probability_of_2", "uncertainty"]
    assert back.columns.tolist() == head + ILASTIK_2D_FEATURE_COLUMNS
    ordered = merged.sort_values(["t", "label"]).reset_index(drop=True)
    assert len(back) == len(ordered) == np.unique(lab[lab > 0]).size
    np.testing.assert_array_equal(back["object_id"], np.arange(len(back)))
    np.testing.assert_array_equal(back["timestep"], 0)
    np.testing.assert_array_equal(back["labelimage_oid"], np.unique(lab[lab > 0]))
    np.testing.assert_array_equal(back["Predicted_Class"], ordered["class"])
    for p in ("p_1", "p_2"):
        np.testing.assert_array_equal(back["Probability_of_" + p[2:]], ordered[p])
    for col in ILASTIK_2D_FEATURE_COLUMNS:  # exact: floats are written round-trip safe
        np.testing.assert_array_equal(back[col].to_numpy(), ordered[our_column(col)].to_numpy(), err_msg=col)

    ints = ["object_id", "timestep", "labelimage_oid", "Predicted_Class", "Size_in_pixels"]
    ints += [c for c in back.columns if c.startswith("Bounding_Box")]
    for col in back.columns:
        assert back[col].dtype == (np.int64 if col in ints else np.float64), col

    # what lands in the file agrees with independent references
    ids = back["labelimage_oid"].to_numpy()
    np.testing.assert_array_equal(back["Size_in_pixels"], np.bincount(lab.ravel())[ids])
    com = np.array(ndi.center_of_mass(np.ones_like(lab), lab, ids))  # (y, x)
    np.testing.assert_allclose(back["Center_of_the_object_0"], com[:, 1], rtol=1e-12)
    np.testing.assert_allclose(back["Center_of_the_object_1"], com[:, 0], rtol=1e-12)
    boxes = ndi.find_objects(lab)
    np.testing.assert_array_equal(back["Bounding_Box_Maximum_0"], [boxes[i - 1][1].stop for i in ids])
    np.testing.assert_array_equal(back["Bounding_Box_Minimum_1"], [boxes[i - 1][0].start for i in ids])
    np.testing.assert_allclose(back["Mean_Intensity"], ndi.mean(raw, lab, ids), rtol=1e-6)


def test_csv_raw_names_round_trip(tmp_path):
    data = synthetic_timelapse(n_frames=4, shape=(48, 48), n_cells=4, seed=3)
    tab = objects.features(data.raw, data.labels, axes="tyx", device="cpu")
    assert tab["t"].nunique() == 4
    back = pd.read_csv(object_table_csv(tmp_path / "raw.csv", tab, ilastik_names=False))
    pd.testing.assert_frame_equal(back, tab.reset_index(drop=True), check_exact=True)


def test_csv_several_frames_and_compat(tmp_path):
    data = synthetic_timelapse(n_frames=3, shape=(48, 48), n_cells=4, seed=5)
    tab = objects.features(None, data.labels, ["Count", "RegionCenter"], axes="tyx", device="cpu")
    back = pd.read_csv(object_table_csv(tmp_path / "a.csv", tab, ilastik_compat=True))
    want = [(t, int(i)) for t in range(3) for i in np.unique(data.labels[t]) if i > 0]
    assert list(zip(back["timestep"], back["labelimage_oid"])) == want
    np.testing.assert_array_equal(back["object_id"], np.arange(len(want)))
    assert back["Center_of_the_object_0"].dtype == np.int64  # ilastik truncates centres
    np.testing.assert_array_equal(back["Center_of_the_object_0"], np.trunc(tab["RegionCenter_0"]))
    # physical scales: the box is no longer integral and stays float
    scaled = objects.features(None, data.labels[:1], ["Coord<Minimum>"], scales=(0.3, 0.7), axes="tyx")
    back = pd.read_csv(object_table_csv(tmp_path / "b.csv", scaled))
    assert back["Bounding_Box_Minimum_0"].dtype == np.float64
    np.testing.assert_array_equal(back["Bounding_Box_Minimum_0"], scaled["Coord<Minimum>_0"])


def test_csv_overwrite_refused_and_no_partial_file(tmp_path, monkeypatch):
    tab = pd.DataFrame({"t": [0, 0], "label": [1, 2], "Count": [3.0, 4.0]})
    path = object_table_csv(tmp_path / "t.csv", tab)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        object_table_csv(path, tab.assign(Count=[5.0, 6.0]))
    assert path.read_bytes() == before
    object_table_csv(path, tab.assign(Count=[5.0, 6.0]), overwrite=True)
    assert pd.read_csv(path)["Size_in_pixels"].tolist() == [5, 6]

    def broken(self, target, *args, **kwargs):
        with open(target, "w") as f:
            f.write("object_id,timestep\n0,")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        object_table_csv(tmp_path / "new.csv", tab)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
    with pytest.raises(InputError, match="label"):
        ilastik_table(tab.drop(columns="label"))


def test_paint_stardist_equals_loop(stardist):
    _, lab = stardist
    rng = np.random.default_rng(4)
    ids = np.unique(lab[lab > 0])
    keep = ids[rng.uniform(size=ids.size) < 0.8]  # some objects unclassified -> 0
    table = pd.DataFrame({"label": np.r_[keep, [5000, 70000]], "class": rng.integers(0, 256, keep.size + 2)})
    got = paint_objects(lab, table)
    assert got.dtype == np.uint8 and got.shape == lab.shape
    np.testing.assert_array_equal(got, reference_paint(lab, table))
    assert (got[np.isin(lab, ids[~np.isin(ids, keep)])] == 0).all()


@pytest.mark.parametrize("sparse", [False, True])
def test_paint_timelapse_equals_loop(sparse):
    data = synthetic_timelapse(n_frames=6, shape=(64, 64), n_cells=5, seed=1)
    lab = data.labels
    tab = objects.features(None, lab, ["Count"], axes="tyx", device="cpu")
    rng = np.random.default_rng(7)
    table = pd.DataFrame({"t": tab["t"], "label": tab["label"], "class": rng.integers(1, 5, len(tab))})
    want = reference_paint(lab, table)
    if sparse:  # same objects under huge, scattered ids (no dense lookup table possible)
        old = np.unique(lab)
        new = np.r_[0, rng.choice(2**40, old.size - 1, replace=False) + 2**32].astype(np.uint64)
        lab = new[np.searchsorted(old, lab)]
        table["label"] = new[np.searchsorted(old, table["label"].to_numpy())].astype(np.int64)
        assert int(lab.max()) > 2**32
    got = paint_objects(lab, table, axes="tyx")
    np.testing.assert_array_equal(got, want)
    assert np.unique(got[0]).size > 2
    # tzyx order gives the same pixels
    got4 = paint_objects(lab[:, None], table, axes="tzyx")
    np.testing.assert_array_equal(got4[:, 0], want)
    # without a t column every frame uses the same rows
    frame0 = table[table["t"] == 0].drop(columns="t")
    np.testing.assert_array_equal(paint_objects(lab[0], frame0), want[0])


def test_paint_errors():
    lab = np.zeros((2, 4, 4), np.uint32)
    lab[:, :2, :2] = 3
    with pytest.raises(InputError, match="no 't' axis"):
        paint_objects(lab[0], pd.DataFrame({"t": [0, 1], "label": [3, 3], "class": [1, 2]}))
    with pytest.raises(InputError, match="twice"):
        paint_objects(lab, pd.DataFrame({"t": [1, 1], "label": [3, 3], "class": [1, 2]}), axes="tyx")
    with pytest.raises(InputError, match="0..255"):
        paint_objects(lab, pd.DataFrame({"t": [0], "label": [3], "class": [300]}), axes="tyx")
    with pytest.raises(InputError, match="'klass'"):
        paint_objects(lab, pd.DataFrame({"t": [0], "label": [3], "class": [1]}), "klass", axes="tyx")
    with pytest.raises(InputError, match="integer label"):
        paint_objects(lab.astype(float), pd.DataFrame({"label": [3], "class": [1]}))


def test_write_predictions_paletted_png(tmp_path, stardist):
    _, lab = stardist
    ids = np.unique(lab[lab > 0])
    table = pd.DataFrame({"t": 0, "label": ids, "class": np.arange(ids.size) % 4 + 1})
    want = reference_paint(lab, table.drop(columns="t"))
    path = write_object_predictions(tmp_path / "pred.png", lab, table, glasbey=True)
    with Image.open(path) as img:
        assert img.mode == "P"
        np.testing.assert_array_equal(np.asarray(img), want)
        palette = np.asarray(img.getpalette(), np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(palette[:256], fiji_glasbey())
    assert palette[0].tolist() == [255, 255, 255]  # Fiji's Glasbey: index 0 white
    with pytest.raises(OutputExistsError):
        write_object_predictions(path, lab, table, glasbey=True)
    grey = write_object_predictions(tmp_path / "grey.png", lab, table)
    with Image.open(grey) as img:
        assert img.mode == "L"
        np.testing.assert_array_equal(np.asarray(img), want)
    with pytest.raises(InputError, match="png"):
        write_object_predictions(tmp_path / "pred.tif", lab, table, glasbey=True)


@pytest.mark.parametrize("suffix", [".tif", ".h5"])
def test_write_predictions_timelapse(tmp_path, suffix):
    data = synthetic_timelapse(n_frames=4, shape=(48, 48), n_cells=4, seed=2)
    tab = objects.features(None, data.labels, ["Count"], axes="tyx", device="cpu")
    table = tab[["t", "label"]].assign(classes=(tab["Count"] > tab["Count"].median()) + 1)
    table = table.rename(columns={"classes": "class"})
    path = write_object_predictions(tmp_path / f"pred{suffix}", data.labels, table, axes="tyx")
    back = read_image(path, out_axes="tyx")
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, reference_paint(data.labels, table))


@pytest.mark.gpu
def test_paint_gpu_equals_cpu():
    import cupy as cp

    data = synthetic_timelapse(n_frames=5, shape=(64, 64), n_cells=5, seed=1)
    tab = objects.features(None, data.labels, ["Count"], axes="tyx", device="cpu")
    table = pd.DataFrame({"t": tab["t"], "label": tab["label"], "class": np.arange(len(tab)) % 7})
    for lab in (data.labels, data.labels.astype(np.uint64) * np.uint64(2**38)):
        keyed = table.assign(
            label=table["label"].to_numpy(np.int64) * (2**38 if lab.dtype == np.uint64 else 1)
        )
        cpu = paint_objects(lab, keyed, axes="tyx")
        gpu = paint_objects(cp.asarray(lab), keyed, axes="tyx")
        assert isinstance(gpu, cp.ndarray)
        np.testing.assert_array_equal(cp.asnumpy(gpu), cpu)
