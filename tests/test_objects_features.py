"""Object feature tables against scikit-image regionprops and scipy/numpy references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage as ndi
import scipy.stats
from skimage.measure import regionprops

from gputrack import objects
from gputrack.errors import InputError
from tests.conftest import shared_path

RTOL = 1e-5


def reference_table(raw: np.ndarray, lab: np.ndarray, scales=None) -> dict[int, dict[str, np.ndarray]]:
    """Per-object features from regionprops (shared ones) and numpy/scipy (the others).

    ``raw`` has a trailing channel axis; coordinates reported in x, y(, z) order.
    """
    ndim = lab.ndim
    scale = np.ones(ndim) if scales is None else np.asarray(scales, float)
    out = {}
    for rp in regionprops(lab, intensity_image=raw):
        coords = rp.coords[:, ::-1] * scale[::-1]  # x, y(, z), physical
        vals = raw[tuple(rp.coords.T)]  # (N, c)
        cov = np.cov(coords.T, bias=True).reshape(ndim, ndim)
        evals, evecs = np.linalg.eigh(cov)
        evals, evecs = evals[::-1], evecs[:, ::-1]
        for j in range(ndim):  # orientation: the first component within 1e-5 of the largest |.| positive
            mags = np.abs(evecs[:, j])
            first = next(i for i in range(ndim) if mags[i] >= mags.max() - 1e-5)
            if evecs[first, j] < 0:
                evecs[:, j] *= -1
        proj = (coords - coords.mean(0)) @ evecs
        out[rp.label] = {
            "Count": np.array([rp.area]),
            "RegionCenter": np.asarray(rp.centroid)[::-1] * scale[::-1],
            "Coord<Minimum>": np.asarray(rp.bbox[:ndim])[::-1] * scale[::-1],
            "Coord<Maximum>": np.asarray(rp.bbox[ndim:])[::-1] * scale[::-1],
            "Mean": np.atleast_1d(rp.intensity_mean),
            "Minimum": np.atleast_1d(rp.intensity_min),
            "Maximum": np.atleast_1d(rp.intensity_max),
            "Sum": vals.astype(np.float64).sum(0),
            "Variance": vals.astype(np.float64).var(0),
            "Skewness": scipy.stats.skew(vals.astype(np.float64), axis=0),
            "Kurtosis": scipy.stats.kurtosis(vals.astype(np.float64), axis=0),
            "RegionRadii": np.sqrt(np.maximum(evals, 0)),
            "RegionAxes": evecs.ravel(),
            "evals": evals,
            "Coord<Principal<Skewness>>": scipy.stats.skew(proj, axis=0),
            "Coord<Principal<Kurtosis>>": scipy.stats.kurtosis(proj, axis=0),
        }
    return out


def columns_of(tab: pd.DataFrame, name: str) -> np.ndarray:
    if name in tab.columns:
        return tab[[name]].to_numpy()
    cols = [c for c in tab.columns if c.rsplit("_", 1)[0] == name]
    return tab[cols].to_numpy()


def compare(tab: pd.DataFrame, ref: dict, *, min_gap: float = 1e-2) -> None:
    assert sorted(tab["label"]) == sorted(ref)
    for name in objects.FEATURES:
        got = columns_of(tab, name)
        want = np.array([ref[int(lab)][name] for lab in tab["label"]])
        if name in ("RegionAxes", "Coord<Principal<Skewness>>", "Coord<Principal<Kurtosis>>"):
            # eigenvectors (and so their statistics) are defined only for distinct eigenvalues
            ev = np.array([ref[int(lab)]["evals"] for lab in tab["label"]])
            gaps = np.min(np.abs(np.diff(ev, axis=1)), axis=1) / np.maximum(ev[:, 0], 1e-12)
            ok = (gaps > min_gap) & (ev[:, -1] > 1e-6 * ev[:, 0])
            assert ok.sum() >= 0.5 * len(ok)
            got, want = got[ok], want[ok]
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6, err_msg=name)


def test_stardist_2d_equals_regionprops():
    import tifffile

    raw = tifffile.imread(shared_path("stardist-nuclei", "images", "img2d.tif")).astype(np.float32)
    lab = tifffile.imread(shared_path("stardist-nuclei", "images", "mask2d.tif"))
    tab = objects.features(raw, lab, device="cpu")
    assert len(tab) == len(np.unique(lab)) - 1 >= 125
    compare(tab, reference_table(raw[..., None], lab))


def test_stardist_3d_equals_regionprops():
    import tifffile

    raw = tifffile.imread(shared_path("stardist-nuclei", "images", "img3d.tif")).astype(np.float32)
    lab = tifffile.imread(shared_path("stardist-nuclei", "images", "mask3d.tif"))
    tab = objects.features(raw, lab, axes="zyx", device="cpu")
    assert len(tab) == len(np.unique(lab)) - 1 >= 51
    assert "RegionAxes_8" in tab.columns and "RegionCenter_2" in tab.columns
    compare(tab, reference_table(raw[..., None], lab))


def synthetic(shape, n_objects, seed):
    rng = np.random.default_rng(seed)
    blobs = ndi.gaussian_filter(rng.random(shape), 2) > 0.52
    lab, _ = ndi.label(blobs)
    # sparse, non-consecutive ids
    ids = rng.permutation(np.arange(1, lab.max() + 1)) * 37 + 1000
    lab = np.where(lab > 0, ids[lab - 1], 0).astype(np.int64)
    raw = rng.normal(100, 20, size=shape + (3,)).astype(np.float32)
    raw[..., 1] = np.abs(raw[..., 1]) ** 1.5  # skewed channel
    return raw, lab


@pytest.mark.parametrize("shape", [(90, 110), (24, 40, 36)])
def test_synthetic_multichannel_and_scales(shape):
    raw, lab = synthetic(shape, 30, 11)
    axes = "yxc" if len(shape) == 2 else "zyxc"
    tab = objects.features(raw, lab, axes=axes, device="cpu")
    assert {"Mean_0", "Mean_2", "Kurtosis_1"} <= set(tab.columns)
    compare(tab, reference_table(raw, lab))
    scales = (2.0, 0.5, 0.25)[-len(shape) :]
    tab_s = objects.features(raw, lab, scales=scales, axes=axes, device="cpu")
    compare(tab_s, reference_table(raw, lab, scales))


def test_time_frames_empty_frames_and_ids():
    lab = np.zeros((3, 20, 20), np.uint32)
    lab[0, 2:5, 2:5] = 7
    lab[2, 10:12, 10:15] = 3
    lab[2, 0, 0] = 9
    raw = np.ones(lab.shape, np.float32)
    tab = objects.features(raw, lab, axes="tyx", device="cpu")
    assert tab[["t", "label"]].values.tolist() == [[0, 7], [2, 3], [2, 9]]
    assert tab["Count"].tolist() == [9, 10, 1]
    # constant objects: variance 0, skewness / kurtosis NaN (vigra: 0 / 0)
    assert (tab["Variance"] == 0).all() and tab["Skewness"].isna().all()
    empty = objects.features(raw[1:2], lab[1:2], axes="tyx", device="cpu")
    assert empty.empty and "RegionCenter_1" in empty.columns


def test_huge_sparse_ids_do_not_allocate_per_id():
    lab = np.zeros((30, 30), np.uint64)
    lab[1:4, 1:4] = 2**31
    lab[10:20, 10:12] = 2**62 + 5
    tab = objects.features(None, lab, ["Count", "RegionCenter"], device="cpu")
    assert tab["label"].tolist() == [2**31, 2**62 + 5]
    assert tab["Count"].tolist() == [9, 20]
    np.testing.assert_allclose(tab[["RegionCenter_0", "RegionCenter_1"]].values, [[2, 2], [10.5, 14.5]])
    idx, ids = objects.compact_labels(lab)
    assert idx.dtype == np.int32 and ids.size == 2


def test_bad_input():
    lab = np.zeros((10, 10), np.uint8)
    lab[2:4, 2:4] = 1
    with pytest.raises(InputError, match="unknown feature"):
        objects.features(None, lab, ["Area"], device="cpu")
    with pytest.raises(InputError, match="raw"):
        objects.features(None, lab, ["Mean"], device="cpu")
    with pytest.raises(InputError, match="does not match"):
        objects.features(np.zeros((10, 11), np.float32), lab, device="cpu")
    with pytest.raises(InputError, match="negative"):
        objects.features(None, lab.astype(np.int16) - 1, ["Count"], device="cpu")
    with pytest.raises(InputError, match="scales"):
        objects.features(None, lab, ["Count"], scales=(1.0, -1.0), device="cpu")


def test_csv_names():
    assert objects.csv_column("Coord<Minimum>_0") == "Bounding_Box_Minimum_0"
    assert objects.csv_column("Mean") == "Mean_Intensity"


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(300, 280), (40, 64, 56)])
def test_gpu_table_equals_cpu(shape):
    import cupy as cp

    raw, lab = synthetic(shape, 40, 12)
    axes = "yxc" if len(shape) == 2 else "zyxc"
    cpu = objects.features(raw, lab, axes=axes, device="cpu")
    gpu = objects.features(cp.asarray(raw), cp.asarray(lab), axes=axes, device="gpu")
    assert list(cpu.columns) == list(gpu.columns)
    pd.testing.assert_frame_equal(gpu, cpu, rtol=1e-7, atol=1e-8)


def test_axis_signs_do_not_flip_with_the_last_bits_of_the_sums():
    from gputrack.objects.features import _principal_axes

    def argmax_rule(cov):  # the former rule: the largest |component| positive
        vecs = np.linalg.eigh(cov)[1][:, ::-1]
        return vecs * np.sign(vecs[np.argmax(np.abs(vecs), axis=0), range(len(cov))])

    rng = np.random.default_rng(3)
    q2 = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2)  # principal axes on the diagonals
    q3 = np.stack([np.array([1.0, 1, 1]) / np.sqrt(3), np.array([1.0, -1, 0]) / np.sqrt(2),
                   np.array([1.0, 1, -2]) / np.sqrt(6)], axis=1)
    for q, ev in ((q2, [3.0, 1.0]), (q3, [3.0, 2.0, 1.0])):
        cov = q @ np.diag(ev) @ q.T
        _, ref = _principal_axes(cov[None])
        flips = 0
        for _ in range(300):
            noise = rng.normal(scale=1e-13, size=cov.shape)
            noisy = cov + (noise + noise.T) / 2  # what another summation order gives
            np.testing.assert_allclose(_principal_axes(noisy[None])[1], ref, atol=1e-6)
            flips += not np.allclose(argmax_rule(noisy), argmax_rule(cov), atol=1e-6)
        assert flips > 0  # the former rule flips on these ties
