"""``objects predict --ilp``: ilastik's object-classification projects (test_projects.zip) run headless.

Every project with a trained classifier is predicted from its cached objects and features
with its stored vigra forest; the probabilities are compared with those ilastik cached in
the project (``ObjectClassification/CachedProbabilities``, read here with plain h5py), and the
painted image with ilastik's label image (``ObjectExtraction/LabelImage_v2``) read block by
block.
"""

from __future__ import annotations

import re
import zipfile

import h5py
import numpy as np
import pandas as pd
import pytest

from gputrack.cli import main
from tests.conftest import SHARED_DATA, shared_path

ZIP = ("ilastik-testdata", "tests", "test_ilastik", "data", "test_projects.zip")
TRAINED = ["ObjectClassification2d3c_wPred.ilp", "ObjectClassification2d_wPred.ilp",
           "ObjectClassification5t2d1c_wPred.ilp", "ObjectClassification5t2d2c_wPred.ilp",
           "ObjectClassification5t3d2c_wPred.ilp"]


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    source = shared_path(*ZIP)
    out = tmp_path_factory.mktemp("oc_projects")
    with zipfile.ZipFile(source) as zf:
        for name in zf.namelist():
            if name.startswith("ObjectClassification"):
                zf.extract(name, out)
    return out


def _cached(path):
    with h5py.File(path, "r") as f:
        g = f["ObjectClassification/CachedProbabilities/0000"]
        return {int(t): g[t][()] for t in g}


def _label_image(path):
    """ilastik's cached label image, ``(t, x, y, z)``, from its blocks and their ``blockSlice``."""
    with h5py.File(path, "r") as f:
        g = f["ObjectExtraction/LabelImage_v2/labelimage000"]
        parts = []
        for k in g:
            text = g[k].attrs["blockSlice"]
            text = text.decode() if isinstance(text, bytes) else str(text)
            parts.append(([slice(int(a), int(b)) for a, b in re.findall(r"(\d+):(\d+)", text)], g[k][()]))
    shape = [max(s[i].stop for s, _ in parts) for i in range(5)]
    out = np.zeros(shape, np.uint32)
    for sl, data in parts:
        out[tuple(sl)] = data
    return out[..., 0]


@pytest.mark.skipif(not SHARED_DATA.joinpath(*ZIP).exists(), reason="test_projects.zip not in shared data")
@pytest.mark.parametrize("name", TRAINED)
def test_predictions_equal_ilastiks_cached(projects, name):
    from gputrack.workflows.ilastik_objects import predict_ilp

    path = projects / name
    table, labels = predict_ilp(path)
    cached = _cached(path)
    assert sorted(table["t"].unique()) == sorted(t for t, p in cached.items() if len(p) > 1)
    probs = table[[c for c in table.columns if c.startswith("probability_")]].to_numpy()
    ref = np.concatenate([cached[int(t)][int(lab)][None] for t, lab in zip(table["t"], table["label"])])
    np.testing.assert_allclose(probs, ref, atol=1e-6)
    assert (table["class"].to_numpy() == ref.argmax(1) + 1).all()
    # every cached object is classified, none more
    assert len(table) == sum(len(p) - 1 for p in cached.values())


@pytest.mark.skipif(not SHARED_DATA.joinpath(*ZIP).exists(), reason="test_projects.zip not in shared data")
def test_cli_table_and_painted_image(projects, tmp_path, capsys):
    path = projects / "ObjectClassification5t2d1c_wPred.ilp"
    out, image = tmp_path / "objects.csv", tmp_path / "predictions.h5"
    assert main(["objects", "predict", "--ilp", str(path), "--out", str(out), "--image", str(image)]) == 0
    said = capsys.readouterr().out
    assert "24/24 objects in the same class" in said
    table = pd.read_csv(out)
    with h5py.File(path, "r") as f:
        names = [v.decode() for v in f["ObjectClassification/LabelNames"][()]]
    assert sorted(table["class_name"].unique()) == sorted(names)
    cached = _cached(path)
    lab = _label_image(path)[..., 0].transpose(0, 2, 1)  # t, x, y -> t, y, x
    with h5py.File(image, "r") as f:
        painted = f[next(iter(f))][()].reshape(lab.shape)
    expected = np.zeros_like(painted)
    for t, p in cached.items():
        lut = np.concatenate([[0], p[1:].argmax(1) + 1])
        expected[t] = lut[lab[t]]
    np.testing.assert_array_equal(painted, expected)
    # the export the project selects: its file name format, HDF5 dataset and the lane's axes
    with h5py.File(path, "r") as f:
        fmt = f["Object Information Export/OutputFilenameFormat"][()].decode()
        nick = f["Input Data/infos/lane0000/Raw Data/nickname"][()].decode()
        dataset = f["Object Information Export/OutputInternalPath"][()].decode()
        axes = f["Input Data/infos/lane0000/Raw Data/axisorder"][()].decode()
    name = fmt.format(dataset_dir=str(tmp_path), nickname=nick, result_type="Object Predictions")
    assert f"the project's export -> {name}" in said
    with h5py.File(name, "r") as f:
        exported = f[dataset][()]
    assert exported.shape == tuple(dict(zip("tyx", expected.shape)).get(a, 1) for a in axes)
    np.testing.assert_array_equal(exported.reshape(expected.shape), expected)
    # a second run refuses to replace the outputs; --overwrite does
    other = tmp_path / "other.csv"
    assert main(["objects", "predict", "--ilp", str(path), "--out", str(other), "--quiet"]) == 2
    assert not (tmp_path / "other.csv").exists()
    assert main(["objects", "predict", "--ilp", str(path), "--out", str(out), "--quiet"]) == 2
    assert main(["objects", "predict", "--ilp", str(path), "--out", str(out), "--quiet", "--overwrite"]) == 0


@pytest.mark.skipif(not SHARED_DATA.joinpath(*ZIP).exists(), reason="test_projects.zip not in shared data")
@pytest.mark.parametrize(("name", "expected"), [
    ("ObjectClassification2d_wSeg.ilp", "stores no trained object classifier"),
    ("ObjectClassification2d3c_wLabels.ilp", "caches no object features"),
])
def test_projects_that_cannot_run_are_refused_in_one_line(projects, tmp_path, capsys, name, expected):
    out = tmp_path / "t.csv"
    assert main(["objects", "predict", "--ilp", str(projects / name), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and name in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_ilp_excludes_labels_and_classifier(tmp_path, capsys):
    for name in ("p.ilp", "l.tif"):
        (tmp_path / name).write_bytes(b"")
    args = ["--ilp", str(tmp_path / "p.ilp"), "--labels", str(tmp_path / "l.tif"),
            "--out", str(tmp_path / "t.csv")]
    assert main(["objects", "predict", *args]) == 2
    assert "--ilp takes the objects" in capsys.readouterr().err
