"""Training data for pixel classification: label images and the features under them.

Labels are integer images with the image's non-channel shape: 0 = unlabelled, ``k`` =
class ``k`` (ilastik's label ids 1..K). They come as arrays, label-image files (TIFF, PNG,
HDF5, Zarr; RGB scribbles are mapped colour -> class) or an ``.ilp``'s label blocks.

Like ilastik, every labelled pixel is a training sample and features are computed only
around the labels: the image is cut into tiles, and for each tile holding labels the
features of the labels' bounding box (plus the filters' halo) are computed and the
labelled pixels picked out. The feature stack of the whole image never exists.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend
from ..errors import InputError
from ..features import compute, halo_for, normalize_selection

TRAIN_TILE = 256


def spatial_axes(axes: str) -> str:
    """The image's axes without the channel axis (the label image's axes)."""
    return axes.replace("c", "")


def read_labels(source: Any, *, dataset: str | None = None) -> np.ndarray:
    """Read a label image: an array, or a TIFF / PNG / HDF5 / Zarr file.

    Integer images are returned as they are. Colour scribbles (``y, x, 3|4`` of uint8, as
    drawn in a paint program) are mapped to classes: black / transparent = unlabelled,
    each other distinct colour a class ``1..K`` in sorted RGB order.

    Parameters
    ----------
    source
        Array or path.
    dataset
        HDF5 dataset / Zarr array inside the file.

    Returns
    -------
    numpy.ndarray
        Integer label image (0 = unlabelled).

    Examples
    --------
    >>> rgb = np.zeros((4, 4, 3), np.uint8)
    >>> rgb[0, 0] = (255, 0, 0); rgb[3, 3] = (0, 255, 0)
    >>> read_labels(rgb)[[0, 3], [0, 3]].tolist()
    [2, 1]
    """
    if isinstance(source, (str, os.PathLike)):
        from ..io import open_image  # noqa: PLC0415

        if Path(source).suffix.lower() in (".jpg", ".jpeg"):
            raise InputError(
                f"{source}: JPEG is lossy, so class values change on saving (a 3 appears in a 0-2 "
                "image); save the labels as PNG or TIFF"
            )

        with open_image(Path(source), dataset=dataset) as src:
            arr = src.read()
            axes = src.axes
        if "c" in axes and arr.shape[axes.index("c")] in (3, 4) and arr.dtype == np.uint8:
            arr = np.moveaxis(arr, axes.index("c"), -1)
            return _colours_to_classes(arr)
        if "c" in axes and arr.shape[axes.index("c")] == 1:
            arr = np.take(arr, 0, axis=axes.index("c"))
    else:
        arr = np.asarray(backend.to_host(source))
        if arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.dtype == np.uint8:
            return _colours_to_classes(arr)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise InputError(f"labels {_name(source)}: float values that are not whole numbers")
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "biu":
        raise InputError(f"labels {_name(source)}: dtype {arr.dtype}, expected integer class ids")
    if arr.size and arr.min() < 0:
        raise InputError(
            f"labels {_name(source)}: negative values; expected 0 (unlabelled) or class ids 1..K"
        )
    return arr


def _name(source: Any) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else "array"


def _colours_to_classes(rgb: np.ndarray) -> np.ndarray:
    alpha = rgb[..., 3] > 0 if rgb.shape[-1] == 4 else np.ones(rgb.shape[:-1], bool)
    colour = rgb[..., :3].astype(np.int64)
    code = (colour[..., 0] << 16) | (colour[..., 1] << 8) | colour[..., 2]
    code[~alpha] = 0
    values = np.unique(code)
    values = values[values != 0]
    out = np.zeros(code.shape, np.uint16 if len(values) > 255 else np.uint8)
    if len(values):
        idx = np.searchsorted(values, code)
        hit = code != 0
        out[hit] = idx[hit] + 1
    return out


def check_labels(
    labels: np.ndarray, image_shape: Sequence[int], axes: str, *, what: str = "labels"
) -> np.ndarray:
    """Check a label image against its image; returns it with the image's non-channel axes.

    A trailing channel axis of length 1 on the labels is dropped.

    Raises
    ------
    InputError
        The labels' shape differs from the image's (channel axis left out).
    """
    want = tuple(n for a, n in zip(axes, image_shape) if a != "c")
    if labels.shape != want and labels.ndim == len(want) + 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != want:
        raise InputError(
            f"{what} have shape {labels.shape}, but the image has shape {tuple(image_shape)} "
            f"(axes {axes!r}): expected labels of shape {want}"
        )
    return labels


def label_bounding_boxes(
    labels: np.ndarray, tile: int | Sequence[int] = TRAIN_TILE
) -> list[tuple[slice, ...]]:
    """Bounding boxes of the labels inside each tile of a grid (tiles without labels left out).

    Examples
    --------
    >>> lab = np.zeros((10, 10), np.uint8); lab[1, 2] = 1; lab[8, 7:9] = 2
    >>> label_bounding_boxes(lab, tile=5)
    [(slice(1, 2, None), slice(2, 3, None)), (slice(8, 9, None), slice(7, 9, None))]
    """
    tiles = [int(tile)] * labels.ndim if np.isscalar(tile) else [int(t) for t in tile]
    boxes = []
    for corner in itertools.product(*[range(0, n, t) for n, t in zip(labels.shape, tiles)]):
        cell = tuple(slice(c, min(c + t, n)) for c, t, n in zip(corner, tiles, labels.shape))
        hit = labels[cell] != 0
        if not hit.any():
            continue
        box = []
        for ax in range(hit.ndim):
            other = tuple(i for i in range(hit.ndim) if i != ax)
            idx = np.flatnonzero(hit.any(axis=other))
            box.append(slice(cell[ax].start + int(idx[0]), cell[ax].start + int(idx[-1]) + 1))
        boxes.append(tuple(box))
    return boxes


def region_features(
    read: Callable[[tuple[slice, ...]], Any],
    region: Sequence[slice],
    *,
    axes: str,
    shape: Sequence[int],
    selection: Any,
    halo: Sequence[int],
    spacing: Sequence[float] | None = None,
    device: str | None = "auto",
) -> tuple[Any, list[str]]:
    """Features of one region (non-channel axes), computed on the region plus ``halo``.

    The halo (per non-channel axis, clipped at the image border) covers the filters'
    support, so the result equals the same region of whole-image features.

    Returns
    -------
    features : array
        float32, the region's shape plus the feature channels (on the device).
    names : list of str
        ilastik's channel names.
    """
    lab_axes = spatial_axes(axes)
    full = [n for a, n in zip(axes, shape) if a != "c"]
    outer = tuple(slice(max(r.start - h, 0), min(r.stop + h, n)) for r, h, n in zip(region, halo, full))
    by_axis = dict(zip(lab_axes, outer))
    crop = read(tuple(by_axis.get(a, slice(None)) for a in axes))
    feats, names = compute(crop, selection, axes=axes, spacing=spacing, device=device)
    inner = tuple(slice(r.start - o.start, r.stop - o.start) for r, o in zip(region, outer))
    return feats[inner], names


def feature_halo(
    selection: Any, shape: Sequence[int], axes: str, spacing: Sequence[float] | None = None
) -> list[int]:
    """Halo per non-channel axis of ``axes`` for exact blockwise features (0 for ``t``)."""
    dims = dict(zip(axes, shape))
    halo_zyx = list(halo_for(selection, spacing=spacing))
    if dims.get("z", 1) == 1:
        halo_zyx[0] = 0
    return [halo_zyx["zyx".index(a)] if a in "zyx" else 0 for a in spatial_axes(axes)]


def reader(image: Any) -> Callable[[tuple[slice, ...]], Any]:
    """``read(region)`` for an array or an object with ``.read(region=)``."""
    return image.read if hasattr(image, "read") else (lambda region: image[region])


def training_samples(
    image: Any,
    labels: Any,
    selection: Any = "all",
    *,
    axes: str,
    spacing: Sequence[float] | None = None,
    device: str | None = "auto",
    tile: int = TRAIN_TILE,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features and class ids of every labelled pixel of one image.

    Parameters
    ----------
    image
        Array (any axes, see ``axes``) or an object with ``.shape`` and ``.read(region=)``
        (:func:`gputrack.io.open_image`), read lazily tile by tile.
    labels
        Integer label image with the image's non-channel axes (0 = unlabelled).
    selection
        Feature selection (see :func:`gputrack.features.compute`).
    axes
        The image's axes (letters of ``tzyxc``).
    spacing, device
        As for :func:`gputrack.features.compute`.
    tile
        Edge of the label tiles whose label bounding boxes get features.

    Returns
    -------
    X : numpy.ndarray
        ``(n_labelled, n_features)`` float32.
    y : numpy.ndarray
        ``(n_labelled,)`` class ids.
    names : list of str
        ilastik's feature channel names.

    Examples
    --------
    >>> img = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    >>> lab = np.zeros((64, 64), np.uint8); lab[5, 5:9] = 1; lab[50, 50] = 2
    >>> X, y, names = training_samples(img, lab, {"GaussianSmoothing": [1.0]}, axes="yx", device="cpu")
    >>> X.shape, y.tolist()
    ((5, 1), [1, 1, 1, 1, 2])
    """
    sel = normalize_selection(selection)
    shape = tuple(int(n) for n in image.shape)
    labels = check_labels(np.asarray(labels), shape, axes)
    halo = feature_halo(sel, shape, axes, spacing)
    tiles = [1 if a == "t" else tile for a in spatial_axes(axes)]
    read = reader(image)
    xs, ys, names = [], [], None
    for box in label_bounding_boxes(labels, tiles):
        f, names = region_features(read, box, axes=axes, shape=shape, selection=sel, halo=halo,
                                   spacing=spacing, device=device)
        lab = labels[box]
        mask = lab != 0
        xs.append(backend.to_host(f[backend.to_device(mask, backend.device_of(f))]))
        ys.append(lab[mask])
    if names is None:
        raise InputError("labels contain no labelled pixels (all zero): label at least two classes")
    return np.concatenate(xs).astype(np.float32, copy=False), np.concatenate(ys), list(names)


def scale_labels(labels: Any, axes: str, scale: float) -> np.ndarray:
    """Sparse labels resized with their image (``y, x`` by ``scale``, as ``read_scaled`` does).

    Each output pixel takes the class that covers most of its area among the labelled input
    pixels (unlabelled pixels do not vote), so thin scribbles survive downsampling.

    Examples
    --------
    >>> lab = np.zeros((4, 4), np.uint8); lab[0, 0] = 1; lab[3, 2:] = 2
    >>> scale_labels(lab, "yx", 0.5).tolist()
    [[1, 0], [0, 2]]
    """
    from .export import area_weights, scaled_shape  # noqa: PLC0415

    arr = np.asarray(labels)
    if scale == 1:
        return arr
    if not 0 < scale <= 1:
        raise InputError(f"scale={scale}: expected 0 < scale <= 1")
    iy, ix = axes.index("y"), axes.index("x")
    out_shape = scaled_shape(arr.shape, axes, scale)
    wy = area_weights(arr.shape[iy], out_shape[iy])
    wx = area_weights(arr.shape[ix], out_shape[ix])
    moved = np.moveaxis(arr, (iy, ix), (-2, -1))
    flat = moved.reshape(-1, *moved.shape[-2:])
    out = np.zeros((flat.shape[0], out_shape[iy], out_shape[ix]), arr.dtype)
    best = np.zeros(out.shape, np.float64)
    for k in np.unique(arr[arr != 0]):
        for i, plane in enumerate(flat):
            cover = wy @ (wx @ (plane == k).astype(np.float64).T).T
            take = cover > best[i]
            out[i][take] = k
            best[i][take] = cover[take]
    out = out.reshape(moved.shape[:-2] + out.shape[-2:])
    return np.moveaxis(out, (-2, -1), (iy, ix))
