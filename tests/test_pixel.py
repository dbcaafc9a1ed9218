"""Pixel classification: training data, outputs, blockwise = whole, large files, resume, batch, exports."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi
from sklearn.ensemble import RandomForestClassifier

from gputrack import features as gfeat
from gputrack import pixel
from gputrack.errors import InputError, OutputExistsError
from gputrack.io import read_image
from gputrack.pixel import export as pexport

SEL = {"GaussianSmoothing": [1.0, 3.5], "HessianOfGaussianEigenvalues": [1.6], "DifferenceOfGaussians": [1.0]}


def blobs(shape=(300, 320), seed=0):
    rng = np.random.default_rng(seed)
    truth = ndi.gaussian_filter(rng.normal(size=shape), 8) > 0.02
    img = (truth * 90 + rng.normal(40, 20, size=shape)).clip(0, 255).astype(np.uint8)
    lab = np.zeros(shape, np.uint8)
    pick = rng.random(shape) < 0.01
    lab[pick & ndi.binary_erosion(truth, iterations=3)] = 2
    lab[pick & ~ndi.binary_dilation(truth, iterations=3)] = 1
    return img, lab, truth


@pytest.fixture(scope="module")
def trained():
    img, lab, truth = blobs()
    clf = pixel.train(img, lab, SEL, n_trees=20, device="cpu", n_jobs=1)
    return img, lab, truth, clf


def test_training_samples_equal_whole_image_features():
    img, lab, _ = blobs((200, 180))
    X, y, names = pixel.training_samples(img, lab, SEL, axes="yx", device="cpu", tile=64)
    whole, want = gfeat.compute(img, SEL, device="cpu")
    order = np.argsort(np.ravel_multi_index(np.nonzero(lab), lab.shape), kind="stable")
    # samples come tile by tile: compare as sets of rows keyed by pixel position
    idx = []
    for box in pixel.label_bounding_boxes(lab, 64):
        sub = lab[box]
        rr, cc = np.nonzero(sub)
        idx += list(zip(rr + box[0].start, cc + box[1].start))
    ref = whole[tuple(np.array(idx).T)]
    assert names == want and X.shape == (int((lab > 0).sum()), len(want))
    np.testing.assert_allclose(X, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.sort(y), np.sort(lab[lab > 0]))
    assert len(order) == len(y)


def test_forest_matches_sklearn_on_same_samples(trained):
    img, lab, _, _ = trained
    X, y, _ = pixel.training_samples(img, lab, SEL, axes="yx", device="cpu")
    clf = pixel.train(img, lab, SEL, n_trees=15, random_state=3, device="cpu", n_jobs=1,
                      forest_backend="sklearn")
    mtry = int(np.floor(np.sqrt(X.shape[1]) + 0.5))  # vigra's default, as ours
    sk = RandomForestClassifier(15, max_features=mtry, random_state=3, n_jobs=1).fit(X, y)
    whole, _ = gfeat.compute(img, SEL, device="cpu")
    ref = sk.predict_proba(whole.reshape(-1, whole.shape[-1])).reshape(img.shape + (2,))
    p = pixel.predict(clf, img, device="cpu")
    np.testing.assert_allclose(p, ref, atol=1e-5)


def test_outputs_and_accuracy(trained):
    img, _, truth, clf = trained
    p = pixel.predict(clf, img, device="cpu")
    assert p.dtype == np.float32 and p.shape == img.shape + (2,)
    np.testing.assert_allclose(p.sum(-1), 1, atol=1e-5)
    seg = pixel.predict(clf, img, output="simple-segmentation", device="cpu")
    assert seg.dtype == np.uint8
    np.testing.assert_array_equal(seg, p.argmax(-1) + 1)
    unc = pixel.predict(clf, img, output="uncertainty", device="cpu")
    srt = np.sort(p, -1)
    np.testing.assert_allclose(unc, 1 - (srt[..., -1] - srt[..., -2]), atol=1e-6)
    assert ((seg == 2) == truth).mean() > 0.95


def test_missing_class_gets_zero_probability():
    img, lab, _ = blobs((120, 120))
    lab3 = np.where(lab == 2, 3, lab).astype(np.uint8)
    clf = pixel.train(img, lab3, SEL, n_trees=5, device="cpu", n_jobs=1)
    p = pixel.predict(clf, img, device="cpu")
    assert clf.classes == (1, 2, 3) and p.shape[-1] == 3
    assert np.all(p[..., 1] == 0)
    seg = pixel.predict(clf, img, output="simple-segmentation", device="cpu")
    assert set(np.unique(seg)) <= {1, 3}


def test_blocks_equal_whole_image(trained):
    img, _, _, clf = trained
    whole = pixel.predict(clf, img, device="cpu")
    blocked = pixel.predict(clf, img, block_shape=(70, 90), device="cpu")
    np.testing.assert_array_equal(blocked, whole)


def test_bad_inputs(trained, tmp_path):
    img, lab, _, clf = trained
    with pytest.raises(InputError, match="shape"):
        pixel.train(img, lab[:-1], SEL, device="cpu")
    with pytest.raises(InputError, match="one class"):
        pixel.train(img, np.where(lab == 2, 0, lab), SEL, device="cpu")
    with pytest.raises(InputError, match="no labelled"):
        pixel.train(img, np.zeros_like(lab), SEL, device="cpu")
    rgb = np.stack([img] * 3, -1)
    with pytest.raises(InputError, match="RGB"):
        pixel.predict(clf, rgb, axes="yxc", device="cpu")
    with pytest.raises(InputError, match="PNG"):
        pexport.classify_file(clf, img, tmp_path / "p.png", export="probabilities", device="cpu")


def test_colour_scribbles_file(tmp_path):
    img, lab, _ = blobs((100, 100))
    rgb = np.zeros(lab.shape + (3,), np.uint8)
    rgb[lab == 1] = (255, 0, 0)   # sorted colour order: (0,255,0) -> 1, (255,0,0) -> 2
    rgb[lab == 2] = (0, 255, 0)
    from PIL import Image

    Image.fromarray(rgb).save(tmp_path / "s.png")
    got = pixel.read_labels(tmp_path / "s.png")
    np.testing.assert_array_equal(got, np.select([lab == 2, lab == 1], [1, 2], 0))


def test_area_downsampling_and_upsampling():
    rng = np.random.default_rng(1)
    img = rng.random((60, 90)).astype(np.float32)
    small = pexport.read_scaled(img, "yx", 1 / 3, strip=7)
    ref = img.reshape(20, 3, 30, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(small, ref, rtol=1e-5)
    odd = pexport.read_scaled(img, "yx", 0.4)   # fractional: total intensity preserved
    assert odd.shape == (24, 36)
    np.testing.assert_allclose(odd.mean(), img.mean(), rtol=1e-5)
    from skimage.transform import resize

    up = pexport.upsample_region(ref, (slice(0, 60), slice(0, 90)), (60, 90), order=1)
    want = resize(ref, (60, 90), order=1, mode="edge", anti_aliasing=False)
    np.testing.assert_allclose(up, want, atol=1e-5)


def test_large_tiff_blocks_crop_and_resume(trained, tmp_path, monkeypatch):
    img, lab, _, _ = trained
    big = np.tile(img, (4, 4))[:1100, :1200]
    clf = pixel.train(img, lab, {"GaussianSmoothing": [1.0, 3.5], "HessianOfGaussianEigenvalues": [1.6]},
                      n_trees=8, device="cpu", n_jobs=1)
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, big, tile=(128, 128))
    out = tmp_path / "big_Probabilities.h5"

    calls = {"n": 0}
    real = pixel.classifier.region_features

    def interrupted(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(pixel.classifier, "region_features", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pexport.classify_file(clf, path, out, block_size=256, device="cpu", quiet=True)
    assert not out.exists() and pexport.partial_path(out).exists()
    with h5py.File(pexport.partial_path(out), "r") as fh:
        assert int(fh["done"][()].sum()) == 4
    calls["n"] = -1000
    pexport.classify_file(clf, path, out, block_size=256, device="cpu", quiet=True)
    assert calls["n"] == -1000 + 25 - 4   # 5 x 5 blocks, 4 were done
    assert not pexport.partial_path(out).exists()
    monkeypatch.undo()
    got = read_image(out)
    # a crop classified as a whole image equals the big run away from the crop's edges
    crop = (slice(300, 700), slice(500, 900))
    alone = pixel.predict(clf, big[crop], device="cpu")
    h = 38
    np.testing.assert_array_equal(got[crop][h:-h, h:-h], alone[h:-h, h:-h])
    with pytest.raises(OutputExistsError):
        pexport.classify_file(clf, path, out, device="cpu", quiet=True)


@pytest.mark.parametrize("when", ["layout", "first block"])
def test_ctrl_c_before_any_block_leaves_no_partial_file(trained, tmp_path, monkeypatch, when):
    """A Ctrl-C while the partial file is laid out, or before its first block: no file stays."""
    img, _, _, clf = trained
    out = tmp_path / "p_Probabilities.h5"
    real = h5py.File.create_dataset if when == "layout" else pixel.classifier.region_features

    def interrupted(*a, **k):
        if when == "first block" or a[1] == "done":  # the last step of the layout
            raise KeyboardInterrupt
        return real(*a, **k)

    if when == "layout":
        monkeypatch.setattr(h5py.File, "create_dataset", interrupted)
    else:
        monkeypatch.setattr(pixel.classifier, "region_features", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pexport.classify_file(clf, img, out, device="cpu", quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_batch_folder_and_exports(trained, tmp_path):
    img, _, _, clf = trained
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        tifffile.imwrite(src / f"im{i}.tif", np.roll(img, 10 * i, axis=1))
    outs = pexport.classify_files(clf, src, tmp_path / "out", export="simple-segmentation", format="png",
                                  glasbey=True, device="cpu", quiet=True)
    assert [o.name for o in outs] == ["im0_Simple Segmentation.png", "im1_Simple Segmentation.png"]
    from PIL import Image

    with Image.open(outs[1]) as im:
        assert im.mode == "P"
        seg = np.asarray(im)
    want = pixel.predict(clf, np.roll(img, 10, axis=1), output="simple-segmentation", device="cpu")
    np.testing.assert_array_equal(seg, want)
    z = pexport.classify_file(clf, src / "im0.tif", tmp_path / "p.zarr", device="cpu", quiet=True)
    np.testing.assert_array_equal(read_image(z), pixel.predict(clf, img, device="cpu"))
    t = pexport.classify_file(clf, src / "im0.tif", tmp_path / "s.tif", export="simple-segmentation",
                              scale=0.5, output_scale="classified", device="cpu", quiet=True)
    small = pexport.read_scaled(img, "yx", 0.5)
    np.testing.assert_array_equal(read_image(t), pixel.predict(clf, small, output="simple-segmentation",
                                                               device="cpu"))
    u = pexport.classify_file(clf, src / "im0.tif", tmp_path / "s_in.tif", export="simple-segmentation",
                              scale=0.5, device="cpu", quiet=True)
    assert read_image(u).shape == img.shape
