"""Project file: round trip, identical predictions, sparse labels, bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy import ndimage as ndi

from gputrack import pixel
from gputrack.errors import InputError, MissingInputError, OutputExistsError
from gputrack.io import write_image
from gputrack.project import FORMAT_VERSION, load_project, sparse_labels, train_project

SEL = {"GaussianSmoothing": [0.7, 3.5], "LaplacianOfGaussian": [1.6], "StructureTensorEigenvalues": [1.0]}


def data(seed):
    rng = np.random.default_rng(seed)
    truth = ndi.gaussian_filter(rng.normal(size=(90, 110)), 6) > 0
    img = (truth * 80 + rng.normal(50, 15, truth.shape)).astype(np.float32)
    lab = np.zeros(truth.shape, np.uint8)
    pick = rng.random(truth.shape) < 0.02
    lab[pick & truth] = 2
    lab[pick & ~truth] = 1
    return img, lab


def test_project_round_trip_gives_identical_predictions(tmp_path):
    (a, la), (b, lb) = data(0), data(1)
    pa = write_image(tmp_path / "a.tif", a, axes="yx")
    path = tmp_path / "cells.h5"
    project = train_project(path, [pa, b], [la, lb], SEL, n_trees=12, device="cpu",
                            label_names=["background", "cells", "spare"])
    loaded = load_project(path)
    assert loaded.format_version == FORMAT_VERSION
    assert loaded.classifier.label_names == ("background", "cells", "spare")
    assert loaded.classifier.classes == (1, 2, 3)
    assert loaded.classifier.feature_names == project.classifier.feature_names
    assert loaded.labels[0].path == str(pa) and loaded.labels[1].path == ""
    np.testing.assert_array_equal(loaded.labels[0].dense(), la)
    np.testing.assert_array_equal(loaded.labels[1].dense(), lb)
    assert loaded.labels[0].coords.shape == (int((la > 0).sum()), 2)  # stored sparsely
    for img in (a, b):
        p_mem = pixel.predict(project.classifier, img, device="cpu")
        p_file = pixel.predict(loaded.classifier, img, device="cpu")
        np.testing.assert_array_equal(p_file, p_mem)
        assert np.all(p_file[..., 2] == 0)
    # retraining from the stored labels reproduces the stored forest's predictions
    again = pixel.train([a, b], [lab.dense() for lab in loaded.labels], loaded.classifier.selection,
                        n_trees=12, device="cpu", label_names=loaded.classifier.label_names)
    np.testing.assert_array_equal(pixel.predict(again, a, device="cpu"), pixel.predict(loaded.classifier, a,
                                                                                      device="cpu"))
    with pytest.raises(OutputExistsError):
        train_project(path, a, la, SEL, n_trees=2, device="cpu")


def test_bad_project_files(tmp_path):
    with pytest.raises(MissingInputError):
        load_project(tmp_path / "none.h5")
    with h5py.File(tmp_path / "other.h5", "w") as fh:
        fh["x"] = 1
    with pytest.raises(InputError, match="not a gputrack project"):
        load_project(tmp_path / "other.h5")


def test_sparse_labels_of_a_file(tmp_path):
    lab = np.zeros((20, 30), np.uint8)
    lab[3, 4], lab[10, 20] = 1, 2
    p = write_image(tmp_path / "l.png", lab, axes="yx")
    s = sparse_labels(p)
    assert s.coords.tolist() == [[3, 4], [10, 20]] and s.values.tolist() == [1, 2]
