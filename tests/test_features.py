"""Pixel features against an independent scipy/numpy implementation of ilastik-spec.md §1.

The reference below builds its kernels from the spec's formula (sampled Gaussian times the
derivative polynomial, DC removal for order 2, moment normalisation, radius
floor(w*sigma + 0.5)), does the two-stage smoothing with scipy.ndimage.correlate1d in
float64 and takes eigenvalues with numpy.linalg.eigvalsh.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi

from gputrack import features as gf
from gputrack.errors import InputError

DEFAULT = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)
FAMILIES = (
    "GaussianSmoothing",
    "LaplacianOfGaussian",
    "GaussianGradientMagnitude",
    "DifferenceOfGaussians",
    "StructureTensorEigenvalues",
    "HessianOfGaussianEigenvalues",
)


# ----------------------------------------------------------------------------- reference


def ref_kernel(sigma: float, order: int, window: float) -> np.ndarray:
    """Spec §1.4/1.5 kernel as correlation weights on offsets -r..r."""
    r = int(math.floor(window * sigma + 0.5))
    if order:
        r = max(r, 1)
    if r == 0:
        return np.ones(1)
    x = np.arange(-r, r + 1, dtype=float)
    g = np.exp(-(x**2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    k = g * [1.0, x, 1 - (x / sigma) ** 2][order]
    if order == 2:
        k -= k.sum() / k.size
    if order == 0:
        return k / k.sum()
    moment = np.sum(k * x**order) / math.factorial(order)
    return k / moment


def ref_separable(img: np.ndarray, axes, sigmas, orders, window: float) -> np.ndarray:
    out = img
    for ax, s, o in zip(axes, sigmas, orders):
        out = ndi.correlate1d(out, ref_kernel(s, o, window), axis=ax, mode="mirror", output=np.float64)
    return out


def ref_features(img: np.ndarray, feature: str, s: float, two_d: bool) -> np.ndarray:
    """One family at one scale; returns (..., k) float64."""
    img = img.astype(np.float64)
    axes = tuple(range(img.ndim))[-2:] if two_d else tuple(range(img.ndim))
    nd = len(axes)
    pre_s = math.sqrt(s * s - 1) if s > 1 else s
    pre = ref_separable(img, axes, [pre_s] * nd, [0] * nd, 3.5)
    op = min(s, 1.0)

    def d(orders, sigma=op, src=pre):
        return ref_separable(src, axes, [sigma] * nd, orders, 2.0)

    def e(i, k=1):
        o = [0] * nd
        o[i] = k
        return o

    if feature == "GaussianSmoothing":
        return d([0] * nd)[..., None]
    if feature == "LaplacianOfGaussian":
        return sum(d(e(i, 2)) for i in range(nd))[..., None]
    if feature == "GaussianGradientMagnitude":
        return np.sqrt(sum(d(e(i)) ** 2 for i in range(nd)))[..., None]
    if feature == "DifferenceOfGaussians":
        return (d([0] * nd) - d([0] * nd, 0.66 * op))[..., None]
    mat = np.empty(img.shape + (nd, nd))
    if feature == "HessianOfGaussianEigenvalues":
        for i in range(nd):
            for j in range(nd):
                o = [0] * nd
                o[i] += 1
                o[j] += 1
                mat[..., i, j] = d(o)
    else:  # structure tensor, fastfilters convention: gradient at 0.5*op, smoothing at op
        g = [d(e(i), 0.5 * op) for i in range(nd)]
        for i in range(nd):
            for j in range(nd):
                mat[..., i, j] = d([0] * nd, op, g[i] * g[j])
    return np.linalg.eigvalsh(mat)[..., ::-1]


def smooth_random(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = ndi.gaussian_filter(rng.random(shape), 1.5) + 0.3 * rng.random(shape)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return img.astype(np.float32)


# ----------------------------------------------------------------------------- accuracy


@pytest.fixture(scope="module")
def img2d():
    return smooth_random((80, 72))


@pytest.fixture(scope="module")
def img3d():
    return smooth_random((38, 40, 42), seed=1)


@pytest.mark.parametrize("feature", FAMILIES)
def test_every_family_every_scale_2d(img2d, feature):
    scales = [s for s in DEFAULT if feature == "GaussianSmoothing" or s >= 0.7]
    data, names = gf.compute(img2d, {feature: scales}, device="cpu")
    assert data.dtype == np.float32
    drange = float(img2d.max() - img2d.min())
    ref = np.concatenate([ref_features(img2d, feature, s, True) for s in scales], axis=-1)
    assert data.shape == ref.shape
    err = np.abs(data - ref).max()
    assert err <= 1e-4 * drange, (feature, err)
    assert len(names) == data.shape[-1]


@pytest.mark.parametrize("feature", FAMILIES)
def test_every_family_every_scale_3d(img3d, feature):
    scales = [s for s in DEFAULT if feature == "GaussianSmoothing" or s >= 0.7]
    data, names = gf.compute(img3d, {feature: scales}, device="cpu")
    drange = float(img3d.max() - img3d.min())
    ref = np.concatenate([ref_features(img3d, feature, s, False) for s in scales], axis=-1)
    assert data.shape == ref.shape
    err = np.abs(data - ref).max()
    assert err <= 1e-4 * drange, (feature, err)
    assert not any(" in 2D" in n for n in names)


def test_in_2d_per_scale_on_a_volume(img3d):
    sel = {"HessianOfGaussianEigenvalues": [1.0, 1.6], "GaussianGradientMagnitude": [1.6]}
    data, names = gf.compute(img3d, sel, in_2d={1.6: True}, device="cpu")
    assert names == [
        "Gaussian Gradient Magnitude (σ=1.6) in 2D",
        "Hessian of Gaussian Eigenvalues (σ=1.0) [0]",
        "Hessian of Gaussian Eigenvalues (σ=1.0) [1]",
        "Hessian of Gaussian Eigenvalues (σ=1.0) [2]",
        "Hessian of Gaussian Eigenvalues (σ=1.6) in 2D [0]",
        "Hessian of Gaussian Eigenvalues (σ=1.6) in 2D [1]",
    ]
    drange = float(img3d.max() - img3d.min())
    ref = np.concatenate(
        [
            ref_features(img3d, "GaussianGradientMagnitude", 1.6, True),
            ref_features(img3d, "HessianOfGaussianEigenvalues", 1.0, False),
            ref_features(img3d, "HessianOfGaussianEigenvalues", 1.6, True),
        ],
        axis=-1,
    )
    assert np.abs(data - ref).max() <= 1e-4 * drange
    # slice-wise really means slice-wise
    one, _ = gf.compute(img3d[7], {"GaussianGradientMagnitude": [1.6]}, device="cpu")
    np.testing.assert_allclose(data[7, ..., 0], one[..., 0], rtol=1e-6, atol=1e-5)


def test_all_preset_channel_counts_and_order(img2d, img3d):
    data2, names2 = gf.compute(img2d, "all", device="cpu")
    assert data2.shape == img2d.shape + (49,)
    assert len(names2) == 49
    assert names2[0] == "Gaussian Smoothing (σ=0.3) in 2D"
    assert names2[-1] == "Hessian of Gaussian Eigenvalues (σ=10.0) in 2D [1]"
    names3 = gf.feature_names(img3d.shape, "all")
    assert len(names3) == 61
    assert names3[-3:] == [f"Hessian of Gaussian Eigenvalues (σ=10.0) [{k}]" for k in range(3)]


def test_multichannel_each_channel_filtered_separately(img2d):
    rgb = np.stack([img2d, 255 - img2d, img2d[::-1]], axis=-1)
    sel = {"GaussianSmoothing": [1.0], "StructureTensorEigenvalues": [1.6]}
    data, names = gf.compute(rgb, sel, axes="yxc", device="cpu")
    assert data.shape == img2d.shape + (3 + 6,)
    assert names[:3] == [f"Gaussian Smoothing (σ=1.0) in 2D [{k}]" for k in range(3)]
    assert names[3:] == [f"Structure Tensor Eigenvalues (σ=1.6) in 2D [{k}]" for k in range(6)]
    for c in range(3):
        single, _ = gf.compute(rgb[..., c], sel, device="cpu")
        np.testing.assert_array_equal(data[..., c], single[..., 0])
        np.testing.assert_array_equal(data[..., 3 + 2 * c : 5 + 2 * c], single[..., 1:])


def test_axes_order_is_kept(img2d):
    sel = {"GaussianGradientMagnitude": [1.6]}
    ref, _ = gf.compute(img2d, sel, axes="yx", device="cpu")
    xy, _ = gf.compute(img2d.T, sel, axes="xy", device="cpu")
    assert xy.shape == (img2d.shape[1], img2d.shape[0], 1)
    np.testing.assert_allclose(xy[..., 0].T, ref[..., 0], rtol=1e-5, atol=1e-4)
    series = np.stack([img2d, img2d[::-1]])
    tyx, _ = gf.compute(series, sel, axes="tyx", device="cpu")
    np.testing.assert_array_equal(tyx[0], ref)


def test_matrix_selection_equals_dict(img2d):
    m = np.zeros((6, 7), bool)
    m[0, [0, 3]] = True
    m[5, 4] = True
    a, na = gf.compute(img2d, m, scales=DEFAULT, device="cpu")
    b, nb = gf.compute(
        img2d, {"Gaussian Smoothing": [0.3, 1.6], "HessianOfGaussianEigenvalues": [3.5]}, device="cpu"
    )
    assert na == nb
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- invariants


def test_ggm_of_a_ramp_is_its_slope():
    y, x = np.mgrid[0:64, 0:64].astype(np.float32)
    ramp = 0.5 * x + 2.0 * y
    data, _ = gf.compute(ramp, {"GaussianGradientMagnitude": [0.7, 1.0, 1.6, 3.5]}, device="cpu")
    inner = data[20:44, 20:44]
    np.testing.assert_allclose(inner, math.hypot(0.5, 2.0), rtol=1e-4)


def test_log_of_a_bright_blob_is_negative_at_its_centre():
    y, x = np.mgrid[0:64, 0:64]
    blob = np.exp(-((x - 32) ** 2 + (y - 32) ** 2) / (2 * 4.0**2)).astype(np.float32)
    data, _ = gf.compute(
        blob, {"LaplacianOfGaussian": [1.0, 3.5], "DifferenceOfGaussians": [1.6, 3.5]}, device="cpu"
    )
    assert (data[32, 32] < 0).all()
    # away from the blob, LoG is positive in the ring around it
    assert data[32, 32 + 9, 0] > 0


def test_eigenvalues_sorted_descending(img2d, img3d):
    d2, _ = gf.compute(
        img2d, {"HessianOfGaussianEigenvalues": [1.0], "StructureTensorEigenvalues": [1.6]}, device="cpu"
    )
    assert (d2[..., 0] >= d2[..., 1]).all() and (d2[..., 2] >= d2[..., 3]).all()
    d3, _ = gf.compute(img3d, {"HessianOfGaussianEigenvalues": [1.6]}, device="cpu")
    assert (np.diff(d3, axis=-1) <= 0).all()


def test_structure_tensor_is_positive_semidefinite(img2d):
    d, _ = gf.compute(img2d, {"StructureTensorEigenvalues": [0.7, 3.5]}, device="cpu")
    assert (d > -1e-3).all()


def test_small_scale_smoothing_is_nearly_the_raw_image(img2d):
    data, _ = gf.compute(img2d, {"GaussianSmoothing": [0.3]}, device="cpu")
    drange = float(img2d.max() - img2d.min())
    assert np.abs(data[..., 0] - img2d).max() < 0.02 * drange
    assert np.corrcoef(data[..., 0].ravel(), img2d.ravel())[0, 1] > 0.999


def test_scipy_kernels_differ_measurably(img2d):
    """The moment-normalised kernels are not scipy's: spec §1.9 says this matters."""
    data, _ = gf.compute(img2d, {"GaussianSmoothing": [1.0]}, device="cpu")
    scipy_twice = ndi.gaussian_filter(ndi.gaussian_filter(img2d, 1.0, mode="mirror"), 1.0, mode="mirror")
    assert np.abs(data[..., 0] - scipy_twice).max() > 1e-3


# ----------------------------------------------------------------------------- kernels, eigen


@pytest.mark.parametrize("sigma", [0.3, 0.7, 1.0, 1.249, 3.354, 9.95])
@pytest.mark.parametrize("order", [0, 1, 2])
def test_kernels_match_spec_formula(sigma, order):
    window = 3.5 if order == 0 else 2.0
    k = gf.gaussian_kernel(sigma, order, window)
    np.testing.assert_allclose(k, ref_kernel(sigma, order, window), rtol=1e-6, atol=1e-7)
    x = np.arange(k.size) - k.size // 2
    assert abs(np.sum(k * x**order) / math.factorial(order) - 1.0) < 1e-6


def test_eigen_twin_matches_numpy():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5000, 3, 3))
    sym = (a + a.transpose(0, 2, 1)).astype(np.float32)
    sym[:10] = np.eye(3) * 2.0  # degenerate
    iu = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    ev = gf.symmetric_eigenvalues([sym[:, i, j] for i, j in iu], device="cpu")
    ref = np.linalg.eigvalsh(sym.astype(np.float64))[:, ::-1].T
    np.testing.assert_allclose(ev, ref, atol=2e-5)
    two = sym[:, :2, :2]
    ev2 = gf.symmetric_eigenvalues([two[:, 0, 0], two[:, 0, 1], two[:, 1, 1]], device="cpu")
    np.testing.assert_allclose(ev2, np.linalg.eigvalsh(two.astype(np.float64))[:, ::-1].T, atol=2e-5)


# ----------------------------------------------------------------------------- selection, errors


def test_selection_forms_and_names():
    sel = gf.normalize_selection({"hessian of gaussian eigenvalues": 1, "GaussianSmoothing": [0.3, 10]})
    assert sel.scales == (0.3, 1.0, 10.0)
    assert gf.channel_names(sel, ndim=3) == [
        "Gaussian Smoothing (σ=0.3)",
        "Gaussian Smoothing (σ=10.0)",
        "Hessian of Gaussian Eigenvalues (σ=1.0) [0]",
        "Hessian of Gaussian Eigenvalues (σ=1.0) [1]",
        "Hessian of Gaussian Eigenvalues (σ=1.0) [2]",
    ]
    with pytest.raises(InputError, match="feature 'Sobel'"):
        gf.normalize_selection({"Sobel": [1.0]})
    with pytest.raises(InputError, match="expected \\(6, 7\\)"):
        gf.normalize_selection(np.ones((5, 7), bool))
    with pytest.raises(InputError, match="positive"):
        gf.normalize_selection({"GaussianSmoothing": [-1]})


def test_scale_too_large_is_a_clear_error():
    img = np.zeros((30, 200), np.float32)
    with pytest.raises(InputError, match="axis y of size 30"):
        gf.compute(img, {"GaussianSmoothing": [10.0]}, device="cpu")
    # ilastik's rule: ceil(3.5*s)+1 <= size is fine
    gf.compute(np.zeros((19, 19), np.float32), {"GaussianSmoothing": [5.0]}, device="cpu")
    vol = np.zeros((8, 64, 64), np.float32)
    with pytest.raises(InputError, match="axis z of size 8.*in 2D"):
        gf.compute(vol, {"GaussianSmoothing": [3.5]}, device="cpu")
    data, names = gf.compute(vol, {"GaussianSmoothing": [3.5]}, in_2d=True, device="cpu")
    assert names == ["Gaussian Smoothing (σ=3.5) in 2D"]


def test_bad_axes_are_clear_errors():
    with pytest.raises(InputError, match="axes='yxz' has 3 letters: the image has 2"):
        gf.compute(np.zeros((8, 8)), "all", axes="yxz", device="cpu")
    with pytest.raises(InputError, match="'y' and 'x'"):
        gf.compute(np.zeros((8, 8)), "all", axes="zx", device="cpu")


# ----------------------------------------------------------------------------- anisotropy


def test_spacing_divides_sigmas_per_axis(img3d):
    sel = {"GaussianSmoothing": [2.0]}
    aniso, _ = gf.compute(img3d, sel, spacing=(2.0, 1.0, 1.0), device="cpu")
    drange = float(img3d.max() - img3d.min())
    # by hand: z at s=1 (pre 1.0, op 1.0), y/x at s=2 (pre sqrt(3), op 1.0)
    x = img3d.astype(np.float64)
    x = ndi.correlate1d(x, ref_kernel(1.0, 0, 3.5), axis=0, mode="mirror")
    for ax in (1, 2):
        x = ndi.correlate1d(x, ref_kernel(math.sqrt(3.0), 0, 3.5), axis=ax, mode="mirror")
    for ax in (0, 1, 2):
        x = ndi.correlate1d(x, ref_kernel(1.0, 0, 2.0), axis=ax, mode="mirror")
    assert np.abs(aniso[..., 0] - x).max() <= 1e-4 * drange
    iso, _ = gf.compute(img3d, sel, spacing=(1.0, 1.0, 1.0), device="cpu")
    plain, _ = gf.compute(img3d, sel, device="cpu")
    np.testing.assert_array_equal(iso, plain)


# ----------------------------------------------------------------------------- blockwise


class LazyImage:
    """A duck-typed image: .shape, .axes and .read(region=...), counting reads."""

    def __init__(self, arr, axes):
        self.arr, self.axes, self.shape, self.reads = arr, axes, arr.shape, []

    def read(self, region):
        self.reads.append(region)
        return self.arr[region]


def test_blockwise_equals_whole_image_2d(img2d):
    big = np.tile(img2d, (2, 2))
    sel = {f: [1.0, 10.0] for f in FAMILIES}
    whole, names = gf.compute(big, sel, device="cpu")
    out = np.full(whole.shape, np.nan, np.float32)
    for region, block in gf.iter_feature_blocks(big, sel, (64, 50), device="cpu"):
        out[region] = block
    assert np.abs(out - whole).max() <= 1e-6 * max(1.0, np.abs(whole).max())
    assert gf.halo_for(sel, in_2d=True)[1:] == (38, 38)


def test_blockwise_equals_whole_image_3d_lazy_reader(img3d):
    sel = {
        "GaussianSmoothing": [10.0],
        "HessianOfGaussianEigenvalues": [1.6],
        "StructureTensorEigenvalues": [1.0],
    }
    vol = np.concatenate([img3d, img3d[::-1]], axis=0)[..., None]  # zyxc
    whole, _ = gf.compute(vol, sel, axes="zyxc", device="cpu")
    src = LazyImage(vol, "zyxc")
    out = np.full(whole.shape, np.nan, np.float32)
    for region, block in gf.iter_feature_blocks(src, sel, (30, 25, 40), device="cpu"):
        out[region] = block
    assert np.abs(out - whole).max() <= 1e-6 * max(1.0, np.abs(whole).max())
    assert len(src.reads) == 3 * 2 * 2
    assert all(r[-1] == slice(None) for r in src.reads)
    # a callable reader gives the same
    out2 = np.full(whole.shape, np.nan, np.float32)
    for region, block in gf.iter_feature_blocks(lambda r: vol[r], sel, (40, 40, 40), shape=vol.shape,
                                                axes="zyxc", device="cpu"):
        out2[region] = block
    np.testing.assert_array_equal(out2, out)


def test_blockwise_automatic_blocks_small_budget(img2d):
    sel = {"GaussianGradientMagnitude": [1.6]}
    whole, _ = gf.compute(img2d, sel, device="cpu")
    out = np.zeros_like(whole)
    n = 0
    for region, block in gf.iter_feature_blocks(img2d, sel, device="cpu", memory_budget=40_000):
        out[region] = block
        n += 1
    assert n > 1
    np.testing.assert_array_equal(out, whole)


def test_blockwise_checks_scales_against_the_whole_image():
    with pytest.raises(InputError, match="axis x of size 20"):
        list(gf.iter_feature_blocks(np.zeros((100, 20), np.float32), {"GaussianSmoothing": [10.0]}, (10, 10)))


def test_blockwise_reads_an_io_image_source(tmp_path, img2d):
    h5py = pytest.importorskip("h5py")
    images = pytest.importorskip("gputrack.io.images")
    path = tmp_path / "img.h5"
    with h5py.File(path, "w") as f:
        f["data"] = img2d.T  # stored x, y
    src = images.open_image(path, dataset="data", axes="xy")
    sel = {"DifferenceOfGaussians": [3.5]}
    whole, _ = gf.compute(img2d.T, sel, axes="xy", device="cpu")
    out = np.zeros_like(whole)
    for region, block in gf.iter_feature_blocks(src, sel, (40, 30), device="cpu"):
        out[region] = block
    np.testing.assert_array_equal(out, whole)
