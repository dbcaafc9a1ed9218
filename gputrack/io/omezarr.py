"""OME-Zarr (OME-NGFF 0.4 on Zarr v2, 0.5 on Zarr v3) through the ecosystem's libraries.

Writing goes through ome-zarr-py (``ome_zarr.writer``): the array in NGFF axis order
``t, c, z, y, x`` (the subset present), a multiscale pyramid (``y, x`` halved per level,
``z`` kept; nearest neighbour for labels and integer images, local mean for floats),
physical pixel sizes as each level's ``scale`` transformation, and label images as
``labels/{name}`` groups with ``image-label`` metadata. Reading metadata goes through
ngff-zarr (:func:`ngff_zarr.from_ngff_zarr`): :func:`pixel_sizes` gives the physical
pixel size per axis, which tracking uses as its ``scales``. Pixels are read lazily by
:func:`gputrack.io.open_image` (level 0, or any level by its path, ``image.ome.zarr/s1``).

NGFF 0.4 and 0.5 define no tables; object tables go beside the image as CSV / HDF5
(:mod:`gputrack.export`).

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> img = np.zeros((3, 64, 64), np.uint16)
>>> p = write_ome_zarr(d / "a.ome.zarr", img, axes="zyx", scales={"z": 2.0, "y": 0.5, "x": 0.5},
...                    version="0.5", levels=2)
>>> pixel_sizes(p)
{'z': 2.0, 'y': 0.5, 'x': 0.5}
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .atomic import atomic_output
from .axes import normalize_axes, transpose_axes

VERSIONS = ("0.4", "0.5")
NGFF_ORDER = "tczyx"
MIN_LEVEL_EDGE = 64
UNITS = {"t": None, "c": None, "z": "micrometer", "y": "micrometer", "x": "micrometer"}


def _format(version: str) -> Any:
    from ome_zarr.format import FormatV04, FormatV05  # noqa: PLC0415

    v = str(version)
    if v not in VERSIONS:
        raise InputError(f"OME-Zarr version {version!r}: expected one of {', '.join(VERSIONS)}")
    return FormatV04() if v == "0.4" else FormatV05()


def default_levels(shape: Sequence[int], axes: str) -> int:
    """Pyramid levels: halve ``y, x`` until the smaller edge would drop below 64 pixels.

    Examples
    --------
    >>> default_levels((1024, 512), "yx")
    4
    """
    edge = min(int(shape[axes.index(a)]) for a in "yx" if a in axes)
    levels = 1
    while edge // 2 >= MIN_LEVEL_EDGE:
        edge //= 2
        levels += 1
    return levels


def _ngff_order(data: Any, axes: str) -> tuple[Any, str]:
    order = "".join(a for a in NGFF_ORDER if a in axes)
    if order == axes:
        return data, axes
    if hasattr(data, "dask") or type(data).__module__.startswith("dask"):
        return data.transpose([axes.index(a) for a in order]), order
    return transpose_axes(data, axes, order), order


def _storage(chunks: Sequence[int] | None, axes: str, order: str, shape: Sequence[int]) -> dict | None:
    if chunks is None:
        return None
    by_axis = dict(zip(axes, chunks))
    return {"chunks": tuple(int(min(by_axis.get(a, n), n)) for a, n in zip(order, shape))}


def _spatial_scale(scales: Mapping[str, float] | None, order: str) -> dict[str, float] | None:
    if not scales:
        return None
    bad = [k for k in scales if k not in order or k == "c"]
    if bad:
        raise InputError(f"scales name axis {bad[0]!r}, not a spatial or time axis of {order!r}")
    return {a: float(scales.get(a, 1.0)) for a in order if a != "c"}


def write_ome_zarr(
    path: str | os.PathLike,
    data: Any,
    *,
    axes: str,
    scales: Mapping[str, float] | None = None,
    version: str = "0.4",
    levels: int | None = None,
    labels: bool | None = None,
    chunks: Sequence[int] | None = None,
    name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an image as an OME-Zarr multiscale group, atomically (ome-zarr-py's writer).

    Parameters
    ----------
    path
        Output folder (``*.ome.zarr``).
    data
        numpy, cupy or dask array.
    axes
        Axis letters of ``data`` (from ``tczyx``).
    scales
        Physical size per axis (``{"z": 2.0, "y": 0.3, "x": 0.3}``, micrometres; ``t`` in
        frames); default 1.
    version
        ``"0.4"`` (Zarr v2) or ``"0.5"`` (Zarr v3).
    levels
        Pyramid levels including full resolution (default :func:`default_levels`).
    labels
        Downsample by nearest neighbour (default: for integer data).
    chunks
        Chunk shape in ``axes`` order (default: the writer's).
    name
        The image's name in the metadata (default: the file name's stem).
    overwrite
        Replace an existing output.

    Returns
    -------
    Path
    """
    from ome_zarr.scale import Methods  # noqa: PLC0415
    from ome_zarr.writer import write_image as ome_write_image  # noqa: PLC0415

    path = Path(path)
    fmt = _format(version)
    axes = normalize_axes(axes, data.shape, source=str(path))
    if not hasattr(data, "dask"):
        from ..backend import to_host  # noqa: PLC0415

        data = to_host(data)
    data, order = _ngff_order(data, axes)
    if labels is None:
        labels = np.dtype(data.dtype).kind in "biu"
    n_levels = default_levels(data.shape, order) if levels is None else int(levels)
    if n_levels < 1:
        raise InputError(f"{path}: levels={levels}: expected at least 1")
    factors = [2**i for i in range(1, n_levels)]
    storage = _storage(chunks, axes, order, data.shape)
    name = name or path.name.split(".")[0]
    with atomic_output(path, overwrite=overwrite, directory=True) as tmp:
        if tmp.exists():
            shutil.rmtree(tmp)
        import dask  # noqa: PLC0415
        import zarr  # noqa: PLC0415

        group = zarr.open_group(str(tmp), mode="w", zarr_format=fmt.zarr_format)
        # the pyramid is computed here, in threads: the writer's graph holds store handles
        # that do not travel to other processes
        with dask.config.set(scheduler="threads"):
            ome_write_image(
                data, group, scale_factors=factors, name=name, fmt=fmt, axes=list(order),
                method=Methods.NEAREST if labels else Methods.LOCAL_MEAN, storage_options=storage,
                scale=_spatial_scale(scales, order),
                axes_units={a: u for a, u in UNITS.items() if a in order and u} if scales else None,
            )
    return path


def write_ome_labels(
    path: str | os.PathLike,
    labels: Any,
    *,
    axes: str,
    name: str = "segmentation",
    scales: Mapping[str, float] | None = None,
    levels: int | None = None,
) -> Path:
    """Add a label image as ``labels/{name}`` of an existing OME-Zarr image (its version).

    ``scales`` default to the image's pixel sizes.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = write_ome_zarr(pathlib.Path(tempfile.mkdtemp()) / "a.ome.zarr", np.zeros((64, 64), np.uint8),
    ...                    axes="yx", levels=1)
    >>> _ = write_ome_labels(p, np.eye(64, dtype=np.uint16), axes="yx", levels=1)
    >>> sorted(label_names(p))
    ['segmentation']
    """
    import zarr  # noqa: PLC0415
    from ome_zarr.writer import write_labels  # noqa: PLC0415

    path = Path(path)
    group = zarr.open_group(str(path), mode="r+")
    fmt = _format(ngff_version(path))
    axes = normalize_axes(axes, labels.shape, source=str(path))
    if not hasattr(labels, "dask"):
        from ..backend import to_host  # noqa: PLC0415

        labels = to_host(labels)
    if np.dtype(labels.dtype).kind not in "biu":
        raise InputError(f"{path}: labels {name!r} must be integers, got {labels.dtype}")
    data, order = _ngff_order(labels, axes)
    if scales is None:  # the image's pixel sizes
        scales = {a: v for a, v in pixel_sizes(path).items() if a in order}
    n_levels = default_levels(data.shape, order) if levels is None else int(levels)
    write_labels(data, group, name=name, fmt=fmt, axes=list(order), scaler=None,
                 scale_factors=[2**i for i in range(1, n_levels)], scale=_spatial_scale(scales, order))
    return path


def _attrs(path: Path) -> dict:
    import zarr  # noqa: PLC0415

    try:
        group = zarr.open_group(str(path), mode="r")
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"{path}: not an OME-Zarr group ({type(err).__name__})") from err
    return group.attrs.asdict()


def ngff_version(path: str | os.PathLike) -> str:
    """The OME-NGFF version of an image group (``"0.4"``, ``"0.5"``)."""
    attrs = _attrs(Path(path))
    if isinstance(attrs.get("ome"), Mapping):
        return str(attrs["ome"].get("version", "0.5"))
    ms = attrs.get("multiscales")
    if not ms:
        raise InputError(f"{path}: no OME-NGFF multiscales metadata")
    return str(ms[0].get("version", "0.4"))


def label_names(path: str | os.PathLike) -> list[str]:
    """Names of the label images of an OME-Zarr image (its ``labels`` group)."""
    import zarr  # noqa: PLC0415

    try:
        group = zarr.open_group(str(Path(path) / "labels"), mode="r")
    except (OSError, ValueError, KeyError, FileNotFoundError):
        return []
    attrs = group.attrs.asdict()
    attrs = attrs.get("ome", attrs)
    return list(attrs.get("labels", []))


def pixel_sizes(path: str | os.PathLike, level: int = 0) -> dict[str, float]:
    """Physical size per spatial / time axis of an OME-Zarr image's level (ngff-zarr's reader).

    Raises
    ------
    InputError
        ``path`` is no OME-Zarr image.
    """
    import ngff_zarr  # noqa: PLC0415

    path = Path(path)
    try:
        ms = ngff_zarr.from_ngff_zarr(str(path))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"{path}: not a readable OME-Zarr image ({type(err).__name__}: {err})") from err
    if not 0 <= level < len(ms.images):
        raise InputError(f"{path}: has {len(ms.images)} level(s), level {level} asked")
    scale = ms.images[level].scale
    return {a: float(scale[a]) for a in NGFF_ORDER if a in scale and a != "c"}


def tracking_scales(path: str | os.PathLike) -> tuple[float, float, float]:
    """``(z, y, x)`` pixel size of an OME-Zarr image for :mod:`gputrack.tracking` (1 where absent).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = write_ome_zarr(pathlib.Path(tempfile.mkdtemp()) / "m.ome.zarr", np.zeros((2, 64, 64), np.uint8),
    ...                    axes="tyx", scales={"y": 0.25, "x": 0.5}, levels=1)
    >>> tracking_scales(p)
    (1.0, 0.25, 0.5)
    """
    sizes = pixel_sizes(path)
    return tuple(float(sizes.get(a, 1.0)) for a in "zyx")
