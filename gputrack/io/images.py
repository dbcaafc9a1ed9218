"""Reading and writing images: HDF5, Zarr / OME-Zarr, TIFF (tiled, BigTIFF, OME, whole-slide), PNG, JPEG.

:func:`open_image` returns an :class:`ImageSource`, a lazy handle that knows the shape,
dtype and axes of an image and reads any region of it, touching on disk only the chunks
or tiles that region needs (HDF5, Zarr, TIFF). :func:`iter_blocks` walks a source block by
block (with an optional halo), so images far larger than memory can be processed.
:func:`write_image` writes an array atomically in the format its suffix names.

Axes are strings of letters from ``tczyx`` (see :mod:`gputrack.io.axes`). Each source
reports the axes of the file as stored (an ilastik HDF5 file says ``"txyzc"``); pass
``out_axes="tzyxc"`` to any read to get gputrack's internal order.

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> img = np.arange(6 * 40 * 30, dtype=np.uint16).reshape(6, 40, 30)
>>> p = write_image(d / "movie.h5", img, axes="tyx")
>>> src = open_image(p)
>>> src.axes, src.shape
('tyx', (6, 40, 30))
>>> src.read({"t": slice(2, 3)}, out_axes="tzyxc").shape
(1, 1, 40, 30, 1)
"""

from __future__ import annotations

import functools
import os
import struct
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..backend import to_host
from ..errors import GputrackError, InputError, MissingInputError
from .atomic import atomic_output, check_writable
from .axes import fill_unknown_axes, guess_axes, make_axistags, normalize_axes, parse_axistags, transpose_axes

__all__ = [
    "READ_SUFFIXES",
    "WRITE_SUFFIXES",
    "Block",
    "ImageSource",
    "glasbey_palette",
    "iter_blocks",
    "open_image",
    "read_image",
    "write_image",
]

_HDF5 = (".h5", ".hdf5", ".hdf", ".he5")
_TIFF = (".tif", ".tiff", ".btf", ".tf8", ".svs", ".ndpi", ".scn", ".qptiff")
_PNG = (".png",)
_JPEG = (".jpg", ".jpeg")
_ZARR = (".zarr",)

READ_SUFFIXES = _HDF5 + _TIFF + _PNG + _JPEG + _ZARR
"""File suffixes :func:`open_image` understands."""

WRITE_SUFFIXES = (".h5", ".hdf5", ".tif", ".tiff", ".ome.tif", ".ome.tiff", ".png", ".jpg", ".jpeg", ".zarr")
"""File suffixes :func:`write_image` understands."""

# exceptions that mean "this file is damaged or not what its suffix says"
_READ_ERRORS = (OSError, ValueError, RuntimeError, KeyError, EOFError, IndexError, struct.error)

# tifffile series axis letters -> gputrack letters (None: unknown, guessed)
_TIFF_LETTERS = {"T": "t", "Z": "z", "Y": "y", "X": "x", "C": "c", "S": "c"}

# OME-NGFF axis types
_OME_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
_OME_ORDER = "tczyx"

_BIGTIFF_THRESHOLD = 2**31 - 2**25  # 2 GiB less room for tags and offsets


# ---------------------------------------------------------------------------------------
# the lazy source


@dataclass(eq=False)
class ImageSource:
    """A lazily opened image: shape, dtype and axes known, pixels read on demand.

    Create it with :func:`open_image`. File handles are opened on the first
    :meth:`read` and kept until :meth:`close` (or the end of a ``with`` block).

    Attributes
    ----------
    path : Path
        The file (or Zarr folder).
    dataset : str or None
        HDF5 dataset or Zarr array path inside the file; ``None`` for plain images.
    shape : tuple of int
        Shape in the file's axis order.
    dtype : numpy.dtype
        Pixel type.
    axes : str
        Axis letters of the stored array (from ``tczyx``).
    format : str
        ``"hdf5"``, ``"zarr"``, ``"tiff"``, ``"png"`` or ``"jpeg"``.
    chunks : tuple of int or None
        Storage chunk (tile) shape, when the format has one.
    reader : str or None
        For TIFF: the library decoding its tiles, ``"tifffile"`` or ``"cucim"`` (cuCIM's
        ``CuImage`` for whole-slide RGB TIFFs, see :mod:`gputrack.io.wsi`).
    """

    path: Path
    dataset: str | None
    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str
    format: str
    chunks: tuple[int, ...] | None = None
    _opener: Callable[[], tuple[Callable[[tuple[slice, ...]], Any], Callable[[], None]]] = field(
        default=None, repr=False
    )
    _getter: Callable[[tuple[slice, ...]], Any] | None = field(default=None, repr=False)
    _finalizer: Any = field(default=None, repr=False)
    reader: str | None = None

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        """Size of the whole image in memory, in bytes."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def region_slices(
        self, region: Sequence[slice | int] | Mapping[str, slice | int] | None
    ) -> tuple[slice, ...]:
        """Normalise a region to one ``slice`` per axis (clipped, positive step).

        ``region`` is ``None`` (everything), a tuple of slices or ints in the source's
        axis order (missing trailing axes mean everything; an int ``i`` means
        ``slice(i, i + 1)``, so no axis is dropped), or a dict ``{axis letter: slice or int}``.
        A dict may name an axis the source lacks when it selects index 0 only.
        """
        if region is None:
            items: list[Any] = [slice(None)] * self.ndim
        elif isinstance(region, Mapping):
            items = [slice(None)] * self.ndim
            for key, sel in region.items():
                letter = str(key).lower()
                if letter in self.axes:
                    items[self.axes.index(letter)] = sel
                elif letter in "tczyx" and _selects_first(sel):
                    continue  # an absent axis behaves as one of length 1
                else:
                    raise InputError(
                        f"{self.path}: region names axis {key!r}, not among the axes {self.axes!r}"
                    )
        else:
            items = list(region) if isinstance(region, (tuple, list)) else [region]
            if len(items) > self.ndim:
                raise InputError(
                    f"{self.path}: region has {len(items)} entries for axes {self.axes!r} {self.shape}"
                )
            items += [slice(None)] * (self.ndim - len(items))
        out = []
        for letter, n, sel in zip(self.axes, self.shape, items):
            start, stop, step = _as_slice(sel, letter, self).indices(n)
            if step < 1:
                raise InputError(f"{self.path}: region step along {letter!r} must be positive, got {step}")
            out.append(slice(start, max(start, stop), step))
        return tuple(out)

    def read(
        self,
        region: Sequence[slice | int] | Mapping[str, slice | int] | None = None,
        out_axes: str | None = None,
    ) -> np.ndarray:
        """Read a region (default: everything) into a numpy array.

        Parameters
        ----------
        region
            ``None``, a tuple of slices in the source's axis order, or a dict
            ``{axis letter: slice}`` (see :meth:`region_slices`).
        out_axes
            Axis order of the result; axes the source lacks are inserted with length 1,
            axes of length 1 that ``out_axes`` lacks are dropped. Default: ``self.axes``.

        Returns
        -------
        numpy.ndarray
        """
        slices = self.region_slices(region)
        if self._getter is None:
            try:
                getter, closer = self._opener()
            except GputrackError:
                raise
            except _READ_ERRORS as err:
                raise InputError(f"{self.path}: cannot open ({type(err).__name__}: {_short(err)})") from err
            self._getter = getter
            self._finalizer = weakref.finalize(self, closer)
        try:
            data = np.asarray(self._getter(slices))
        except GputrackError:
            raise
        except _READ_ERRORS as err:
            raise InputError(
                f"{self.path}: cannot read {self.format} data, the file may be damaged or truncated "
                f"({type(err).__name__}: {_short(err)})"
            ) from err
        expected = tuple(len(range(s.start, s.stop, s.step)) for s in slices)
        if data.shape != expected:
            raise InputError(
                f"{self.path}: read shape {data.shape} instead of {expected}; the file may be damaged"
            )
        if out_axes is not None:
            data = transpose_axes(data, self.axes, out_axes)
        return data

    def close(self) -> None:
        """Close open file handles (a later :meth:`read` reopens them)."""
        if self._finalizer is not None:
            self._finalizer()
        self._finalizer = None
        self._getter = None

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_slice(sel: Any, letter: str, src: ImageSource) -> slice:
    if isinstance(sel, slice):
        return sel
    if isinstance(sel, (int, np.integer)):
        i = int(sel)
        n = src.shape[src.axes.index(letter)] if letter in src.axes else 1
        if not -n <= i < n:
            raise InputError(f"{src.path}: index {i} out of range for axis {letter!r} of length {n}")
        i %= n
        return slice(i, i + 1)
    raise InputError(f"{src.path}: region entry for axis {letter!r} must be a slice or an int, got {sel!r}")


def _selects_first(sel: Any) -> bool:
    """Whether ``sel`` selects exactly index 0 of an axis of length 1, without clipping."""
    if isinstance(sel, (int, np.integer)):
        return int(sel) in (0, -1)
    return (
        isinstance(sel, slice) and sel.start in (None, 0) and sel.stop in (None, 1) and sel.step in (None, 1)
    )


def _short(err: BaseException) -> str:
    return " ".join(str(err).split())[:200]


# ---------------------------------------------------------------------------------------
# opening


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def _is_zarr_dir(path: Path) -> bool:
    return path.is_dir() and (
        _suffix(path) in _ZARR or any((path / m).exists() for m in (".zarray", ".zgroup", "zarr.json"))
    )


def _split_container(path: Path, dataset: str | None) -> tuple[Path, str | None]:
    """Split ``file.h5/group/data`` into the file and the path inside it."""
    if path.exists():
        return path, dataset
    for parent in path.parents:
        if parent.exists():
            if (parent.is_file() and _suffix(parent) in _HDF5) or _is_zarr_dir(parent):
                inner = path.relative_to(parent).as_posix()
                if dataset is not None and dataset.strip("/") != inner:
                    raise InputError(
                        f"{path}: names dataset {inner!r} but dataset={dataset!r} was also given"
                    )
                return parent, inner
            break
    raise MissingInputError(f"{path}: no such file")


def open_image(
    path: str | os.PathLike, *, dataset: str | None = None, axes: str | None = None
) -> ImageSource:
    """Open an image lazily; read pixels later with :meth:`ImageSource.read`.

    Parameters
    ----------
    path
        An image file or Zarr folder. HDF5 datasets and Zarr arrays may be named in the
        path (``movie.h5/exported_data``, ``image.ome.zarr/0``) or with ``dataset``.
        Formats by suffix: HDF5 (``.h5 .hdf5``), Zarr v2/v3 and OME-Zarr (``.zarr``
        folders), TIFF incl. multi-page, OME-TIFF, tiled and BigTIFF (``.tif .tiff .btf``),
        whole-slide images (``.svs .ndpi .scn``; full-resolution level), PNG and JPEG.
    dataset
        HDF5 dataset or Zarr array inside the file. Default: the only dataset of an HDF5
        file; level 0 of an OME-Zarr group.
    axes
        Override the axes the file declares (validated against the shape). Without it,
        axes come from ilastik ``axistags`` (HDF5), OME-NGFF ``multiscales`` or
        ``_ARRAY_DIMENSIONS`` / dimension names (Zarr), tifffile's series axes (TIFF:
        ``T Z Y X`` map to themselves, ``C`` and ``S`` to ``c``, other letters are
        guessed), and otherwise from the shape (:func:`~gputrack.io.axes.guess_axes`).

    Returns
    -------
    ImageSource

    Raises
    ------
    MissingInputError
        The file or dataset does not exist (the message lists the datasets that do).
    InputError
        Unsupported suffix, damaged file, or axes that do not fit the shape.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> p = write_image(d / "a.tif", np.zeros((3, 32, 48), np.uint8), axes="zyx")
    >>> src = open_image(p)
    >>> src.axes, src.shape, src.dtype.name
    ('zyx', (3, 32, 48), 'uint8')
    """
    path, dataset = _split_container(Path(path), dataset)
    if path.is_dir() and not _is_zarr_dir(path):
        raise InputError(f"{path}: is a folder, not an image (Zarr folders end in .zarr)")
    kind = "zarr" if path.is_dir() else _kind(path, READ_SUFFIXES)
    if dataset is not None and kind not in ("hdf5", "zarr"):
        raise InputError(f"{path}: dataset={dataset!r} given, but {kind} files have no datasets")
    opener = {
        "hdf5": _open_hdf5,
        "zarr": _open_zarr,
        "tiff": _open_tiff,
        "png": _open_png,
        "jpeg": _open_jpeg,
    }[kind]
    src = opener(path, dataset)
    if axes is not None:
        src.axes = normalize_axes(axes, src.shape, source=str(path))
    else:
        src.axes = normalize_axes(src.axes, src.shape, source=str(path))
    return src


def _kind(path: Path, suffixes: Sequence[str]) -> str:
    suffix = _suffix(path)
    for kind, group in (("hdf5", _HDF5), ("tiff", _TIFF), ("png", _PNG), ("jpeg", _JPEG), ("zarr", _ZARR)):
        if suffix in group and suffix in suffixes:
            return kind
    raise InputError(
        f"{path}: unsupported file type {suffix or '(no suffix)'!r}; supported: {' '.join(suffixes)}"
    )


def read_image(
    path: str | os.PathLike,
    *,
    dataset: str | None = None,
    axes: str | None = None,
    region: Sequence[slice | int] | Mapping[str, slice | int] | None = None,
    out_axes: str | None = None,
) -> np.ndarray:
    """Read an image (or a region of it) into a numpy array.

    Shorthand for ``open_image(path, dataset=dataset, axes=axes).read(region, out_axes)``;
    see :func:`open_image` and :meth:`ImageSource.read`.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = write_image(pathlib.Path(tempfile.mkdtemp()) / "a.png", np.eye(4, dtype=np.uint8), axes="yx")
    >>> read_image(p, region={"y": slice(1, 3)}, out_axes="tzyxc").shape
    (1, 1, 2, 4, 1)
    """
    with open_image(path, dataset=dataset, axes=axes) as src:
        return src.read(region, out_axes)


# HDF5 -----------------------------------------------------------------------------------


def _open_hdf5(path: Path, dataset: str | None) -> ImageSource:
    import h5py  # noqa: PLC0415

    try:
        with h5py.File(path, "r") as f:
            names: list[str] = []
            f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            if dataset is None:
                if len(names) != 1:
                    listed = ", ".join(names) if names else "none"
                    raise InputError(
                        f"{path}: has {len(names)} datasets ({listed}); pass dataset= to choose one"
                    )
                dataset = names[0]
            dataset = dataset.strip("/")
            if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
                raise MissingInputError(
                    f"{path}: no dataset {dataset!r}; datasets in the file: {', '.join(names) or 'none'}"
                )
            ds = f[dataset]
            shape, dtype, chunks = tuple(ds.shape), ds.dtype, ds.chunks
            tags = ds.attrs.get("axistags")
    except GputrackError:
        raise
    except _READ_ERRORS as err:
        raise InputError(f"{path}: not a readable HDF5 file ({_short(err)})") from err
    axes = parse_axistags(tags) if tags is not None else guess_axes(shape)

    def opener():
        f = h5py.File(path, "r")
        ds = f[dataset]
        return (lambda sl: ds[sl]), f.close

    return ImageSource(path, dataset, shape, np.dtype(dtype), axes, "hdf5", chunks, opener)


# Zarr -------------------------------------------------------------------------------------


def _ome_axes(entries: Sequence[Any]) -> str:
    letters = []
    for e in entries:
        name = e.get("name") if isinstance(e, Mapping) else e
        name = str(name).lower()
        letters.append(name if name in _OME_TYPES and name not in letters else None)
    return fill_unknown_axes(letters)


def _multiscales(attrs: Mapping[str, Any]) -> list[dict] | None:
    ms = attrs.get("multiscales")
    if ms is None and isinstance(attrs.get("ome"), Mapping):  # OME-NGFF 0.5
        ms = attrs["ome"].get("multiscales")
    return ms or None


def _array_axes(arr: Any) -> str | None:
    attrs = arr.attrs.asdict()
    names = attrs.get("_ARRAY_DIMENSIONS") or getattr(arr.metadata, "dimension_names", None)
    if names and all(n is not None for n in names) and len(names) == arr.ndim:
        return _ome_axes(list(names))
    if isinstance(attrs.get("axes"), (str, list)) and len(attrs["axes"]) == arr.ndim:
        return _ome_axes(list(attrs["axes"]))
    return None


def _open_zarr(path: Path, dataset: str | None) -> ImageSource:
    import zarr  # noqa: PLC0415

    try:
        root = zarr.open(str(path), mode="r")
        node, axes = root, None
        if isinstance(root, zarr.Group):
            arrays = sorted(name for name, _ in root.arrays())
            ms = _multiscales(root.attrs.asdict())
            if dataset is None:
                if ms:
                    dataset = ms[0]["datasets"][0]["path"]
                elif len(arrays) == 1:
                    dataset = arrays[0]
                else:
                    raise InputError(
                        f"{path}: Zarr group without multiscales metadata has arrays "
                        f"({', '.join(arrays) or 'none'}); pass dataset= to choose one"
                    )
            dataset = dataset.strip("/")
            try:
                node = root[dataset]
            except KeyError:
                node = None
            if not isinstance(node, zarr.Array):
                raise MissingInputError(
                    f"{path}: no array {dataset!r}; arrays in the group: {', '.join(arrays) or 'none'}"
                )
            if ms and any(d.get("path") == dataset for d in ms[0].get("datasets", [])) and "axes" in ms[0]:
                axes = _ome_axes(ms[0]["axes"])
        elif dataset is not None:
            raise MissingInputError(f"{path}: is a single Zarr array, it has no dataset {dataset!r}")
        axes = axes or _array_axes(node) or guess_axes(node.shape)
        shape, dtype, chunks = tuple(node.shape), np.dtype(node.dtype), tuple(node.chunks)
    except GputrackError:
        raise
    except _READ_ERRORS as err:
        raise InputError(f"{path}: not a readable Zarr store ({type(err).__name__}: {_short(err)})") from err
    array = node

    def opener():
        return (lambda sl: array[sl]), (lambda: None)

    return ImageSource(path, dataset, shape, dtype, axes, "zarr", chunks, opener)


# TIFF -------------------------------------------------------------------------------------


def _tiff_axes(letters: str, path: Path) -> str:
    mapped = [_TIFF_LETTERS.get(a) for a in letters]
    if mapped.count("c") > 1:
        raise InputError(f"{path}: has both channel and sample axes ({letters!r}); pass axes= to name them")
    return fill_unknown_axes(mapped)


def _open_tiff(path: Path, dataset: str | None) -> ImageSource:
    import tifffile  # noqa: PLC0415

    from . import wsi  # noqa: PLC0415

    setting = wsi.tiff_reader_setting()
    try:
        with tifffile.TiffFile(path) as tf:
            if not tf.series:
                raise InputError(f"{path}: TIFF has no image series")
            series = tf.series[0]
            level = series.levels[0]
            shape, dtype, letters = tuple(level.shape), np.dtype(level.dtype), series.axes
            page = level.keyframe
            chunks = None
            if page.is_tiled:
                chunks = (1,) * (len(shape) - 2 - ("S" in letters)) + (page.tilelength, page.tilewidth)
                chunks += (shape[-1],) if "S" in letters else ()
            why = None if setting != "tifffile" else "GPUTRACK_TIFF_READER=tifffile"
            why = why or wsi.cuimage_readable(tf)
    except GputrackError:
        raise
    except (tifffile.TiffFileError, *_READ_ERRORS) as err:
        raise InputError(f"{path}: not a readable TIFF file ({type(err).__name__}: {_short(err)})") from err
    axes = _tiff_axes(letters, path)
    why = why or _cuimage_refusal(path, shape)
    if setting == "cucim" and why:
        raise InputError(f"{path}: GPUTRACK_TIFF_READER=cucim, but cuCIM does not read this file ({why})")
    if why is None:
        cuimage = functools.partial(wsi.open_cuimage, path, shape)
        return ImageSource(path, None, shape, dtype, axes, "tiff", chunks, cuimage, reader="cucim")

    def opener():
        import zarr  # noqa: PLC0415

        tf = tifffile.TiffFile(path)
        try:
            series = tf.series[0]
            store = series.aszarr(level=0)
            array = zarr.open(store, mode="r")
        except BaseException:
            tf.close()
            raise

        def get(sl: tuple[slice, ...]) -> np.ndarray:
            if all(s == slice(0, n, 1) for s, n in zip(sl, shape)):
                return series.asarray(level=0)  # whole image: tifffile's multithreaded decoder
            return array[sl]

        def close() -> None:
            store.close()
            tf.close()

        return get, close

    return ImageSource(path, None, shape, dtype, axes, "tiff", chunks, opener, reader="tifffile")


def _cuimage_refusal(path: Path, shape: tuple[int, ...]) -> str | None:
    """Why cuCIM cannot open a TIFF that :func:`wsi.cuimage_readable` accepted, or ``None``."""
    from . import wsi  # noqa: PLC0415

    if not wsi.cuimage_available():
        return "cuCIM is not installed"
    try:
        _, close = wsi.open_cuimage(path, shape)
    except GputrackError as err:
        return str(err)
    except _READ_ERRORS as err:
        return f"{type(err).__name__}: {_short(err)}"
    close()
    return None


# PNG / JPEG --------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and colour type from a PNG's IHDR chunk (no decoding)."""
    with open(path, "rb") as fh:
        head = fh.read(33)
    if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise InputError(f"{path}: not a PNG file (bad signature or header)")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour)
    if samples is None:
        raise InputError(f"{path}: PNG colour type {colour} is invalid")
    shape = (height, width) if samples == 1 else (height, width, samples)
    return shape, np.dtype(np.uint16 if depth == 16 else np.uint8), colour


def _open_png(path: Path, dataset: str | None) -> ImageSource:
    shape, dtype, colour = _png_header(path)

    def decode() -> np.ndarray:
        if colour == 3:  # paletted: keep the indices (label images)
            from PIL import Image  # noqa: PLC0415

            with Image.open(path) as im:
                return np.asarray(im)
        import imagecodecs  # noqa: PLC0415

        return imagecodecs.png_decode(path.read_bytes())

    return _whole_file_source(path, shape, dtype, "png", decode)


def _open_jpeg(path: Path, dataset: str | None) -> ImageSource:
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        with Image.open(path) as im:
            width, height = im.size
            bands = len(im.getbands())
            mode = im.mode
    except (UnidentifiedImageError, *_READ_ERRORS) as err:
        raise InputError(f"{path}: not a readable JPEG file ({_short(err)})") from err
    if mode not in ("L", "RGB", "CMYK", "I;16"):
        raise InputError(f"{path}: JPEG mode {mode!r} is not supported")
    shape = (height, width) if bands == 1 else (height, width, bands)
    dtype = np.dtype(np.uint16 if mode == "I;16" else np.uint8)

    def decode() -> np.ndarray:
        with Image.open(path) as im:
            return np.asarray(im)

    return _whole_file_source(path, shape, dtype, "jpeg", decode)


def _whole_file_source(
    path: Path, shape: tuple[int, ...], dtype: np.dtype, kind: str, decode: Callable[[], np.ndarray]
) -> ImageSource:
    """A source for formats decoded whole (the decoded array is cached while open)."""
    axes = "yx" if len(shape) == 2 else "yxc"

    def opener():
        cache: list[np.ndarray] = []

        def get(sl: tuple[slice, ...]) -> np.ndarray:
            if not cache:
                cache.append(decode())
            return cache[0][sl]

        return get, cache.clear

    return ImageSource(path, None, shape, dtype, axes, kind, None, opener)


# ---------------------------------------------------------------------------------------
# blocks


class Block(NamedTuple):
    """One block of :func:`iter_blocks`.

    Attributes
    ----------
    region : tuple of slice
        The block's core, in the source's axis order (blocks tile the image without overlap).
    data : numpy.ndarray
        The pixels of ``region`` grown by the halo (clipped at the image border), in
        ``out_axes`` order when given.
    inner : tuple of slice
        Slices of ``data`` (in ``data``'s axis order) that select the core ``region``.
    """

    region: tuple[slice, ...]
    data: np.ndarray
    inner: tuple[slice, ...]


def _per_axis(value: int | Sequence[int] | Mapping[str, int] | None, src: ImageSource, name: str, default):
    if isinstance(value, Mapping):
        unknown = [k for k in value if str(k).lower() not in src.axes]
        if unknown:
            raise InputError(f"{src.path}: {name} names axis {unknown[0]!r}, not among the axes {src.axes!r}")
        low = {str(k).lower(): int(v) for k, v in value.items()}
        return tuple(low.get(a, default(a, n)) for a, n in zip(src.axes, src.shape))
    if isinstance(value, (int, np.integer)):
        return tuple(int(value) if a in "zyx" else default(a, n) for a, n in zip(src.axes, src.shape))
    value = tuple(int(v) for v in value)
    if len(value) != src.ndim:
        raise InputError(
            f"{src.path}: {name} {value} has {len(value)} entries for axes {src.axes!r} {src.shape}"
        )
    return value


def iter_blocks(
    source: ImageSource | str | os.PathLike,
    block_shape: int | Sequence[int] | Mapping[str, int],
    *,
    halo: int | Sequence[int] | Mapping[str, int] = 0,
    out_axes: str | None = None,
) -> Iterator[Block]:
    """Read an image block by block, in C order of the block grid.

    Each block is read from disk on its own, so memory holds one block at a time; for
    chunked formats (HDF5, Zarr, tiled TIFF) choose blocks that are multiples of
    :attr:`ImageSource.chunks` to read every chunk once.

    Parameters
    ----------
    source
        An :class:`ImageSource` or a path to open.
    block_shape
        Block edge: an int for every spatial axis (``z, y, x``; ``t`` and ``c`` stay whole),
        a tuple in the source's axis order, or a dict ``{axis letter: edge}`` (axes not
        named stay whole).
    halo
        Extra pixels read on each side of a block, clipped at the image border: an int
        for the spatial axes, a tuple in the source's axis order, or a dict.
    out_axes
        Axis order of each block's ``data`` (see :meth:`ImageSource.read`).

    Yields
    ------
    Block
        ``(region, data, inner)``: the core region in source axes, the pixels with halo,
        and the slices of ``data`` that hold the core.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> img = np.arange(100 * 70, dtype=np.uint16).reshape(100, 70)
    >>> p = write_image(pathlib.Path(tempfile.mkdtemp()) / "a.zarr", img, axes="yx", chunks=(32, 32))
    >>> total = sum(int(b.data[b.inner].sum()) for b in iter_blocks(p, 32, halo=4))
    >>> total == int(img.sum())
    True
    """
    src = source if isinstance(source, ImageSource) else open_image(source)
    blocks = _per_axis(block_shape, src, "block_shape", lambda a, n: n)
    halos = _per_axis(halo, src, "halo", lambda a, n: 0)
    if any(b < 1 for b in blocks) or any(h < 0 for h in halos):
        raise InputError(f"{src.path}: block_shape {blocks} must be >= 1 and halo {halos} >= 0")
    grid = [range(0, n, b) for n, b in zip(src.shape, blocks)]
    try:
        for starts in np.ndindex(*[len(g) for g in grid]):
            core, outer, inner = [], [], []
            for g, i, n, b, h in zip(grid, starts, src.shape, blocks, halos):
                lo, hi = g[i], min(g[i] + b, n)
                olo, ohi = max(lo - h, 0), min(hi + h, n)
                core.append(slice(lo, hi, 1))
                outer.append(slice(olo, ohi, 1))
                inner.append(slice(lo - olo, hi - olo))
            data = src.read(tuple(outer), out_axes)
            if out_axes is not None:
                dst = normalize_axes(out_axes, len(out_axes), source="out_axes")
                inner = [inner[src.axes.index(a)] if a in src.axes else slice(None) for a in dst]
            yield Block(tuple(core), data, tuple(inner))
    finally:
        if src is not source:
            src.close()


# ---------------------------------------------------------------------------------------
# writing


def _per_axis_chunks(chunks: Any, axes: str, shape: tuple[int, ...], path: Path) -> tuple[int, ...] | None:
    if chunks is None:
        return None
    if isinstance(chunks, Mapping):
        low = {str(k).lower(): int(v) for k, v in chunks.items()}
        bad = [k for k in low if k not in axes]
        if bad:
            raise InputError(f"{path}: chunks name axis {bad[0]!r}, not among the axes {axes!r}")
        values = tuple(low.get(a, n) for a, n in zip(axes, shape))
    elif isinstance(chunks, (int, np.integer)):
        values = tuple(int(chunks) if a in "zyx" else (1 if a == "t" else n) for a, n in zip(axes, shape))
    else:
        values = tuple(int(c) for c in chunks)
        if len(values) != len(shape):
            raise InputError(f"{path}: chunks {values} have {len(values)} entries for axes {axes!r} {shape}")
    if any(c < 1 for c in values):
        raise InputError(f"{path}: chunks {values} must all be >= 1")
    return tuple(max(1, min(c, n)) for c, n in zip(values, shape))


def _write_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".ome.tif", ".ome.tiff")):
        return "ome-tiff"
    if name.endswith(".ome.zarr"):
        return "ome-zarr"
    return _kind(path, WRITE_SUFFIXES)


def write_image(
    path: str | os.PathLike,
    array: Any,
    *,
    axes: str,
    dataset: str = "data",
    overwrite: bool = False,
    chunks: int | Sequence[int] | Mapping[str, int] | None = None,
    compression: str | None = None,
    palette: np.ndarray | None = None,
    bigtiff: bool | None = None,
    ngff_version: str = "0.4",
) -> Path:
    """Write an array to an image file, atomically; the format follows the suffix.

    ============== =================================================================
    suffix         what is written
    ============== =================================================================
    .h5 .hdf5      dataset ``dataset`` with an ilastik ``axistags`` attribute, in the
                   array's own axis order (pass ``txyzc`` data for ilastik's layout)
    .tif .tiff     TIFF via tifffile, axes in its metadata; tiled when ``chunks`` give
                   the ``y, x`` tile (multiples of 16); BigTIFF when the data exceed
                   2 GiB (or ``bigtiff=True``). ``y, x`` are moved to the end (before a
                   trailing ``c``, stored as samples) as TIFF needs; the file's axes say so
    .ome.tif(f)    OME-TIFF (as .tif, with OME-XML)
    .png           8/16-bit grey, grey+alpha, RGB or RGBA; with ``palette``, a paletted
                   PNG of the (label) indices
    .jpg .jpeg     8-bit grey or RGB, quality 95 (lossy)
    .zarr          OME-Zarr 0.4 group (Zarr v2) with the array as level ``"0"`` in
                   OME-NGFF axis order ``t, c, z, y, x`` (a subset), ``multiscales``
                   metadata and ``_ARRAY_DIMENSIONS``; ``chunks`` in the array's axes
    .ome.zarr      OME-Zarr through ome-zarr-py (:mod:`gputrack.io.omezarr`): NGFF
                   ``ngff_version`` 0.4 (Zarr v2) or 0.5 (Zarr v3), with a pyramid
    ============== =================================================================

    Parameters
    ----------
    path
        Output file (or ``.zarr`` folder).
    array
        numpy or cupy array.
    axes
        Axis letters of ``array`` (from ``tczyx``).
    dataset
        HDF5 dataset name.
    overwrite
        Replace an existing output (otherwise :class:`~gputrack.errors.OutputExistsError`).
    chunks
        Chunk / tile shape: a tuple in ``axes`` order, a dict ``{letter: edge}``, or an int
        for every spatial axis. HDF5 and Zarr chunk all axes; TIFF uses ``y`` and ``x``.
    compression
        ``None`` (HDF5, TIFF: uncompressed; Zarr: its default, Zstd), ``"gzip"``/``"zlib"``
        (all three), ``"lzf"`` (HDF5), ``"lzw"``, ``"zstd"``, ``"jpeg"`` (TIFF),
        ``"zstd"``, ``"blosc"`` (Zarr). PNG and JPEG take none.
    palette
        ``(N, 3)`` uint8 colours for a paletted PNG (``N <= 256``); every value of
        ``array`` must be below ``N``. See :func:`glasbey_palette`.
    bigtiff
        Force (``True``) or forbid (``False``) BigTIFF; default: by size.
    ngff_version
        ``"0.4"`` or ``"0.5"`` for ``.ome.zarr`` outputs.

    Returns
    -------
    Path
        The written path.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> labels = np.array([[0, 1], [2, 3]], dtype=np.uint8)
    >>> p = write_image(d / "labels.png", labels, axes="yx", palette=glasbey_palette(4))
    >>> read_image(p).tolist()
    [[0, 1], [2, 3]]
    """
    path = Path(path)
    kind = _write_kind(path)
    check_writable(path, overwrite)
    data = to_host(array)
    axes = normalize_axes(axes, data.shape, source=str(path))
    if palette is not None and kind != "png":
        raise InputError(f"{path}: palette= is only supported for .png outputs")
    chunk_shape = _per_axis_chunks(chunks, axes, data.shape, path)
    if kind == "hdf5":
        return _write_hdf5(path, data, axes, dataset, overwrite, chunk_shape, compression)
    if kind in ("tiff", "ome-tiff"):
        return _write_tiff(path, data, axes, overwrite, chunk_shape, compression, bigtiff, kind == "ome-tiff")
    if kind == "ome-zarr":
        from .omezarr import write_ome_zarr  # noqa: PLC0415

        return write_ome_zarr(path, data, axes=axes, overwrite=overwrite, chunks=chunk_shape,
                              version=ngff_version)
    if kind == "zarr":
        return _write_zarr(path, data, axes, overwrite, chunk_shape, compression)
    if compression is not None:
        raise InputError(f"{path}: compression= is not supported for {kind} outputs")
    if kind == "png":
        return _write_png(path, data, axes, overwrite, palette)
    return _write_jpeg(path, data, axes, overwrite)


def _compression(path: Path, compression: str | None, table: Mapping[str, Any]) -> Any:
    if compression is None:
        return None
    key = str(compression).lower()
    if key not in table:
        raise InputError(
            f"{path}: compression {compression!r} not supported here; choose from {', '.join(table)}"
        )
    return table[key]


def _write_hdf5(path, data, axes, dataset, overwrite, chunks, compression) -> Path:
    import h5py  # noqa: PLC0415

    comp = _compression(path, compression, {"gzip": "gzip", "zlib": "gzip", "deflate": "gzip", "lzf": "lzf"})
    if data.dtype.kind not in "biuf":
        raise InputError(f"{path}: cannot write dtype {data.dtype} to HDF5; use bool, integer or float data")
    with atomic_output(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset(
            dataset,
            data=data,
            chunks=chunks if chunks is not None else (True if comp else None),
            compression=comp,
        )
        ds.attrs["axistags"] = make_axistags(axes)
    return path


def _write_tiff(path, data, axes, overwrite, chunks, compression, bigtiff, ome) -> Path:
    import tifffile  # noqa: PLC0415

    comp = _compression(
        path,
        compression,
        {"zlib": "zlib", "gzip": "zlib", "deflate": "zlib", "lzw": "lzw", "zstd": "zstd", "jpeg": "jpeg"},
    )
    if "y" not in axes or "x" not in axes:
        raise InputError(f"{path}: a TIFF needs y and x axes, got axes {axes!r}")
    samples = axes.endswith("c")
    order = "".join(a for a in axes if a not in "yxc" or (a == "c" and not samples)) + (
        "yxc" if samples else "yx"
    )
    if order != axes:
        data = transpose_axes(data, axes, order)
        chunks = None if chunks is None else tuple(chunks[axes.index(a)] for a in order)
        axes = order
    rgb = samples and data.shape[-1] in (3, 4) and data.dtype in (np.uint8, np.uint16)
    kwargs: dict[str, Any] = {
        "photometric": "rgb" if rgb else "minisblack",
        "compression": comp,
        "metadata": {"axes": axes.upper().replace("C", "S") if samples else axes.upper()},
    }
    if samples:
        kwargs["planarconfig"] = "contig"
        if data.shape[-1] == 4 and rgb:
            kwargs["extrasamples"] = ("unassalpha",)
    if chunks is not None:
        tile = (chunks[axes.index("y")], chunks[axes.index("x")])
        if any(t % 16 for t in tile):
            raise InputError(f"{path}: TIFF tiles must be multiples of 16, got y, x tile {tile}")
        kwargs["tile"] = tile
    if bigtiff is None:
        bigtiff = data.nbytes > _BIGTIFF_THRESHOLD
    with atomic_output(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, data, bigtiff=bool(bigtiff), ome=ome, **kwargs)
    return path


def _write_png(path, data, axes, overwrite, palette) -> Path:
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if "c" in axes and data.shape[axes.index("c")] > 1:
        data = transpose_axes(data, axes, "yxc")
        if data.shape[-1] > 4:
            raise InputError(f"{path}: PNG holds 1 to 4 channels, got {data.shape[-1]}")
    else:
        data = transpose_axes(data, axes, "yx")
    if palette is not None:
        return _write_paletted_png(path, data, overwrite, palette)
    if data.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: PNG holds uint8 or uint16 data, got {data.dtype}; write a .tif instead")
    import imagecodecs  # noqa: PLC0415

    encoded = imagecodecs.png_encode(np.ascontiguousarray(data))
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(encoded)
    return path


def _write_paletted_png(path, data, overwrite, palette) -> Path:
    from PIL import Image  # noqa: PLC0415

    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3 or not 1 <= palette.shape[0] <= 256:
        raise InputError(f"{path}: palette must be an (N, 3) array with N <= 256, got shape {palette.shape}")
    if data.ndim != 2 or data.dtype.kind not in "biu":
        raise InputError(
            f"{path}: a paletted PNG needs 2D integer labels, got {data.dtype} shape {data.shape}"
        )
    if data.size and (int(data.min()) < 0 or int(data.max()) >= palette.shape[0]):
        raise InputError(
            f"{path}: label values {int(data.min())}..{int(data.max())} do not fit a palette of "
            f"{palette.shape[0]} colours"
        )
    image = Image.frombytes(
        "P", (data.shape[1], data.shape[0]), np.ascontiguousarray(data, np.uint8).tobytes()
    )
    image.putpalette(np.clip(palette, 0, 255).astype(np.uint8).ravel().tolist())
    with atomic_output(path, overwrite=overwrite) as tmp:
        image.save(tmp, format="PNG", optimize=False)
    return path


def _write_jpeg(path, data, axes, overwrite) -> Path:
    from PIL import Image  # noqa: PLC0415

    if "c" in axes and data.shape[axes.index("c")] > 1:
        data = transpose_axes(data, axes, "yxc")
        if data.shape[-1] != 3:
            raise InputError(f"{path}: JPEG holds grey or RGB data, got {data.shape[-1]} channels")
    else:
        data = transpose_axes(data, axes, "yx")
    if data.dtype != np.uint8:
        raise InputError(f"{path}: JPEG holds uint8 data, got {data.dtype}; write a .png or .tif instead")
    image = Image.fromarray(np.ascontiguousarray(data))
    with atomic_output(path, overwrite=overwrite) as tmp:
        image.save(tmp, format="JPEG", quality=95)
    return path


def _write_zarr(path, data, axes, overwrite, chunks, compression) -> Path:
    import numcodecs  # noqa: PLC0415
    import zarr  # noqa: PLC0415

    comp = _compression(
        path,
        compression,
        {
            "zstd": numcodecs.Zstd(level=3),
            "gzip": numcodecs.GZip(level=5),
            "zlib": numcodecs.GZip(level=5),
            "blosc": numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.SHUFFLE),
        },
    )
    order = "".join(a for a in _OME_ORDER if a in axes)
    if order != axes:
        data = transpose_axes(data, axes, order)
        chunks = None if chunks is None else tuple(chunks[axes.index(a)] for a in order)
    with atomic_output(path, overwrite=overwrite, directory=True) as tmp:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        kwargs: dict[str, Any] = {"shape": data.shape, "dtype": data.dtype, "chunks": chunks or "auto"}
        if comp is not None:
            kwargs["compressors"] = comp
        array = group.create_array("0", **kwargs)
        array[...] = data
        array.attrs["_ARRAY_DIMENSIONS"] = list(order)
        group.attrs["multiscales"] = [
            {
                "version": "0.4",
                "name": path.name.split(".")[0],
                "axes": [{"name": a, "type": _OME_TYPES[a]} for a in order],
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [{"type": "scale", "scale": [1.0] * len(order)}],
                    }
                ],
            }
        ]
    return path


# ---------------------------------------------------------------------------------------
# colours


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65 white) of sRGB colours in [0, 1], shape (..., 3)."""
    c = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)  # linearise
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    )


@functools.lru_cache(maxsize=4)
def _glasbey(n: int) -> np.ndarray:
    levels = np.linspace(0, 255, 32).round().astype(np.uint8)  # 32**3 = 32768 candidate sRGB colours
    cand = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = _srgb_to_lab(cand / 255.0)
    chosen = [0]  # candidate 0 is black
    dist = np.linalg.norm(lab - lab[0], axis=1)
    for _ in range(1, n):
        best = int(np.argmax(dist))  # first maximum: deterministic
        chosen.append(best)
        dist = np.minimum(dist, np.linalg.norm(lab - lab[best], axis=1))
    return cand[chosen]


def glasbey_palette(n: int = 256) -> np.ndarray:
    """A Glasbey-style palette: ``n`` colours that are as distinct as possible.

    Construction (after Glasbey et al., 2007, "Colour displays for categorical images"):
    candidates are the 32 x 32 x 32 grid of sRGB colours (levels 0, 8, 16, ..., 255),
    converted to CIELAB (D65). Colour 0 is black (the background of a label image); each
    next colour is the candidate whose smallest CIELAB distance (Delta E 1976) to the colours
    already chosen is largest, ties going to the first candidate in grid order. No random
    numbers are involved, so the palette is the same everywhere; a shorter palette is a
    prefix of a longer one.

    Parameters
    ----------
    n
        Number of colours, 1 to 32768 (256 for an 8-bit paletted PNG).

    Returns
    -------
    numpy.ndarray
        ``(n, 3)`` uint8 sRGB colours; row 0 is ``(0, 0, 0)``.

    Examples
    --------
    >>> p = glasbey_palette(5)
    >>> p.shape, p[0].tolist()
    ((5, 3), [0, 0, 0])
    """
    if not 1 <= int(n) <= 32768:
        raise InputError(f"glasbey_palette: n must be between 1 and 32768, got {n}")
    return _glasbey(max(int(n), 256))[: int(n)].copy()
