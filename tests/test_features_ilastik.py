"""ilastik parity: our features + ilastik's own stored forests reproduce ilastik's results.

Data: ``ilastik-testdata/tests/test_ilastik/data/api_projects.zip`` (ilastik's API tests):
``.ilp`` projects, their inputs and ilastik's predictions ``res-<input>_<project>.npy``
(float32 probabilities, image axes then classes). Pairing, found by evaluation:

- pc1xyc: PixelClass.ilp on Data_1channel.png (yx)
- pc1xy: 2464_PixelClassification_xy_input.ilp on Data_1channel.png (yx)
- pc3c: PixelClass3Channel.ilp on Data_3channel.png (yxc)
- pc3d / pc3d2dfm: PixelClass3D(_2D_3D_feature_mix).ilp on Data_3D.npy (zyxc)
- ac2ds1 / ac2ds2: Autocontext_2D/3D.ilp stage 1 / stage 2. Stage 2's input is the raw
  image with stage 1's probabilities appended as channels, converted to the raw dtype
  (uint8: floor(255 * p)). Stage 2 depends on stage 1 only through that conversion.
"""

from __future__ import annotations

import json
import zipfile

import h5py
import numpy as np
import pytest

from gputrack import features as gf
from tests.conftest import shared_path

forest = pytest.importorskip("gputrack.forest")

ZIP = ("ilastik-testdata", "tests", "test_ilastik", "data", "api_projects.zip")

CASES = [
    ("PixelClass.ilp", "Data_1channel.png", "yx", "res-Data_1channel_pc1xyc.npy"),
    ("2464_PixelClassification_xy_input.ilp", "Data_1channel.png", "yx", "res-Data_1channel_pc1xy.npy"),
    ("PixelClass3Channel.ilp", "Data_3channel.png", "yxc", "res-Data_3channel_pc3c.npy"),
    ("PixelClass3D.ilp", "Data_3D.npy", "zyxc", "res-Data_3D_pc3d.npy"),
    ("PixelClass3D_2D_3D_feature_mix.ilp", "Data_3D.npy", "zyxc", "res-Data_3D_pc3d2dfm.npy"),
]
AUTOCONTEXT = [
    ("Autocontext_2D.ilp", "Data_1channel.png", "yx",
     "res-Data_1channel_ac2ds1.npy", "res-Data_1channel_ac2ds2.npy"),
    ("Autocontext_3D.ilp", "Data_3D.npy", "zyxc", "res-Data_3D_ac2ds1.npy", "res-Data_3D_ac2ds2.npy"),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    path = shared_path(*ZIP)
    out = tmp_path_factory.mktemp("api_projects")
    with zipfile.ZipFile(path) as zf:
        zf.extractall(out)
    return out


def load_input(folder, name):
    if name.endswith(".npy"):
        return np.load(folder / name)
    from PIL import Image

    return np.asarray(Image.open(folder / name))


def stored_selection(ilp, group="FeatureSelections"):
    with h5py.File(ilp, "r") as h:
        g = h[group]
        return g["SelectionMatrix"][()], g["Scales"][()], g["ComputeIn2d"][()]


def stored_names(ilp, group="PixelClassification"):
    with h5py.File(ilp, "r") as h:
        raw = h[f"{group}/ClassifierForests/feature_names"][()]
    return [n.decode() if isinstance(n, bytes) else str(n) for n in raw]


def predict_stage(ilp, image, axes, stage=""):
    matrix, scales, in_2d = stored_selection(ilp, "FeatureSelections" + stage)
    data, names = gf.compute(image, matrix, axes=axes, scales=scales, in_2d=in_2d, device="cpu")
    assert names == stored_names(ilp, "PixelClassification" + stage)
    f = forest.read_ilp_forests(ilp, group=f"PixelClassification{stage}/ClassifierForests")
    p = forest.predict_proba(f, data.reshape(-1, data.shape[-1]), device="cpu")
    return np.asarray(p).reshape(data.shape[:-1] + (-1,))


def check(p, ref, label):
    assert p.shape == ref.shape, label
    agree = float((p.argmax(-1) == ref.argmax(-1)).mean())
    mean_dp = float(np.abs(p - ref).mean())
    print(f"{label}: argmax agreement {agree:.6f}, mean |p - p_ilastik| {mean_dp:.2e}")
    assert agree >= 0.9999, label
    assert mean_dp < 1e-4, label


@pytest.mark.parametrize("ilp, image, axes, res", CASES, ids=[c[3][4:-4] for c in CASES])
def test_stored_forests_on_our_features_reproduce_ilastik(api, ilp, image, axes, res):
    img = load_input(api, image)
    p = predict_stage(api / ilp, img, axes)
    check(p, np.load(api / res), res)


@pytest.mark.parametrize("ilp, image, axes, res1, res2", AUTOCONTEXT, ids=["ac2d", "ac3d"])
def test_autocontext_two_stages(api, ilp, image, axes, res1, res2):
    img = load_input(api, image)
    p1 = predict_stage(api / ilp, img, axes)
    check(p1, np.load(api / res1), res1)
    raw = img if "c" in axes else img[..., None]
    # floor(255 p) is ill-conditioned where p is a multiple of 1/n_trees: snap float noise first
    as_raw = np.floor(np.round(p1.astype(np.float64) * 255, 3)).astype(raw.dtype)
    stacked = np.concatenate([raw, as_raw], axis=-1)
    p2 = predict_stage(api / ilp, stacked, axes if "c" in axes else axes + "c", stage="01")
    check(p2, np.load(api / res2), res2)


def test_names_of_every_project_with_a_classifier(api):
    """Every stored feature_names list equals ours for the stored selection and input shape."""
    n = 0
    for ilp in sorted(api.glob("*.ilp")):
        with h5py.File(ilp, "r") as h:
            groups = [k for k in h if k.startswith("FeatureSelections") and "SelectionMatrix" in h[k]]
            lane = h.get("Input Data/infos/lane0000/Raw Data/shape")
            tags = h.get("Input Data/infos/lane0000/Raw Data/axistags")
            shape = tuple(lane[()]) if lane is not None else None
            tags = tags[()].decode() if tags is not None else ""
        for g in groups:
            stage = g[len("FeatureSelections") :]
            try:
                want = stored_names(ilp, "PixelClassification" + stage)
            except KeyError:
                continue
            axes = "".join(a["key"] for a in json.loads(tags)["axes"])
            if stage:  # later autocontext stages see raw + previous probabilities
                prev = len(h5py.File(ilp, "r")["PixelClassification/ClassifierForests/known_labels"][()])
                c = axes.index("c")
                shape = shape[:c] + (shape[c] + prev,) + shape[c + 1 :]
            matrix, scales, in_2d = stored_selection(ilp, g)
            sel = gf.normalize_selection(matrix, scales=scales, in_2d=in_2d)
            assert gf.feature_names(shape, sel, axes=axes) == want, (ilp.name, g)
            n += 1
    assert n >= 8
