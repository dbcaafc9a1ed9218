"""Disk-to-disk classification of large images: blocks, resume, batch, resizing, exports.

Output naming (batch and ilastik projects): ``{stem}_{Result}.{ext}`` with ilastik's
result names (its default export is ``{nickname}_{result_type}``): ``Probabilities``,
``Simple Segmentation``, ``Uncertainty``; e.g. ``cells_Simple Segmentation.png``.

Formats: HDF5 (``.h5``, dataset ``exported_data`` with ilastik ``axistags``), Zarr (a
chunked array folder with ``_ARRAY_DIMENSIONS``), OME-Zarr (``.ome.zarr``: NGFF 0.4 or 0.5
with a multiscale pyramid, :mod:`gputrack.io.omezarr`), TIFF and PNG (8-bit simple
segmentation, optionally with the Glasbey palette). Probabilities keep the image's
non-channel axes and put the classes last.

Resuming: every run writes its blocks into a hidden sibling
``.{name}.partial.h5`` (chunked, with a ``done`` bitmap over the block grid and a
fingerprint of input, classifier and settings). An interrupted or failed run leaves it
behind when it holds finished blocks (else it is removed); a re-run with the same settings
finds it and computes only the missing blocks. Only when
every block is done is the partial file renamed onto the output (HDF5) or converted to
it (Zarr, TIFF, PNG, through :func:`gputrack.io.atomic_output`), so an output that exists
is always complete.

Batches resume: a folder batch records each finished output in ``.gputrack-batch.json``
(the output's size and time, and a fingerprint of its input file, classifier and settings).
A re-run skips an output whose record still matches (unchanged output, same input and
settings), with or without ``overwrite``; ``overwrite`` redoes only outputs that do not
match (other settings, changed input, or no record), and without it such an output stops
the batch before any work.

Resizing (QUINT's resize step): ``scale < 1`` area-averages the image's ``y, x`` axes
on read (each output pixel is the mean of the input area it covers, fractional
overlaps weighted), classifies at that size, and writes the result at the
``"classified"`` size or back at the ``"input"`` size: probabilities and uncertainty
are upsampled linearly (pixel centres aligned, edges clamped), simple segmentation by
nearest neighbour.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from scipy import sparse

from .. import backend
from ..errors import InputError, OutputExistsError
from ..io import atomic_output, check_writable, make_axistags, open_image, write_image
from ..io.images import _split_container
from ..io.lut import segmentation_palette
from .classifier import (
    EXPORTS,
    PixelClassifier,
    as_image,
    block_grid,
    check_image,
    output_dtype,
    predict_blocks,
    uncertainty,
)

log = logging.getLogger("gputrack")

RESULT_NAMES = {
    "probabilities": "Probabilities",
    "simple-segmentation": "Simple Segmentation",
    "uncertainty": "Uncertainty",
}
FORMATS = {"h5": ".h5", "hdf5": ".h5", "zarr": ".zarr", "ome.zarr": ".ome.zarr", "tif": ".tif",
           "tiff": ".tif", "png": ".png"}
IMAGE_SUFFIXES = (".tif", ".tiff", ".btf", ".png", ".jpg", ".jpeg", ".h5", ".hdf5", ".svs", ".ndpi", ".scn")
DATASET = "exported_data"
PNG_ONLY = "PNG holds 8-bit simple segmentations only; use .h5, .zarr or .tif for "
DEFAULT_BLOCK = {2: 1024, 3: 128}


def output_name(stem: str, export: str = "probabilities", format: str = "h5") -> str:
    """File name of an export: ``{stem}_{Result}.{ext}`` (ilastik's ``{nickname}_{result_type}``).

    Examples
    --------
    >>> output_name("cells", "simple-segmentation", "png")
    'cells_Simple Segmentation.png'
    """
    if export not in RESULT_NAMES:
        raise InputError(f"export {export!r}: expected one of {', '.join(EXPORTS)}")
    fmt = str(format).lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError(f"format {format!r}: expected one of {', '.join(sorted(set(FORMATS)))}")
    return f"{stem}_{RESULT_NAMES[export]}{FORMATS[fmt]}"


# --------------------------------------------------------------------------- resizing


def area_weights(n_in: int, n_out: int) -> sparse.csr_matrix:
    """``(n_out, n_in)`` sparse matrix averaging input pixels over each output pixel's area.

    Examples
    --------
    >>> area_weights(4, 2).toarray().tolist()
    [[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]]
    """
    step = n_in / n_out
    rows, cols, vals = [], [], []
    for j in range(n_out):
        lo, hi = j * step, (j + 1) * step
        for i in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
            w = min(hi, i + 1) - max(lo, i)
            if w > 1e-12:
                rows.append(j)
                cols.append(i)
                vals.append(w / step)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n_out, n_in), dtype=np.float64)


def scaled_shape(shape: Sequence[int], axes: str, scale: float) -> tuple[int, ...]:
    """Shape after resizing ``y`` and ``x`` by ``scale`` (at least 1 pixel)."""
    return tuple(max(1, int(round(n * scale))) if a in "yx" else int(n) for a, n in zip(axes, shape))


def read_scaled(image: Any, axes: str, scale: float, *, strip: int = 2048) -> np.ndarray:
    """Area-averaged downsampling of ``y, x`` while reading (float32), strip by strip.

    Parameters
    ----------
    image
        Array or :class:`~gputrack.io.ImageSource` (read in strips of rows).
    axes
        The image's axes.
    scale
        Factor ``0 < scale <= 1`` for ``y`` and ``x``.
    strip
        Input rows read at a time.

    Examples
    --------
    >>> img = np.arange(16, dtype=np.float32).reshape(4, 4)
    >>> read_scaled(img, "yx", 0.5).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    if not 0 < scale <= 1:
        raise InputError(f"scale={scale}: expected 0 < scale <= 1")
    shape = tuple(image.shape)
    out_shape = scaled_shape(shape, axes, scale)
    iy, ix = axes.index("y"), axes.index("x")
    wy = area_weights(shape[iy], out_shape[iy])
    wx = area_weights(shape[ix], out_shape[ix])
    out = np.empty(out_shape, np.float32)
    read = image.read if hasattr(image, "read") else (lambda region: image[region])
    rows_per = max(1, int(strip * out_shape[iy] / shape[iy]))
    for j0 in range(0, out_shape[iy], rows_per):
        j1 = min(j0 + rows_per, out_shape[iy])
        w = wy[j0:j1]
        used = np.flatnonzero(np.asarray(w.sum(axis=0)).ravel())
        lo, hi = int(used[0]), int(used[-1]) + 1
        region = [slice(None)] * len(shape)
        region[iy] = slice(lo, hi)
        data = np.asarray(read(tuple(region)), dtype=np.float32)
        data = np.moveaxis(data, (iy, ix), (0, 1))
        rest = data.shape[2:]
        flat = data.reshape(data.shape[0], data.shape[1], -1)
        tmp = np.stack([(w[:, lo:hi] @ flat[:, :, k]) for k in range(flat.shape[2])], axis=-1)
        res = np.stack([(wx @ tmp[:, :, k].T).T for k in range(flat.shape[2])], axis=-1)
        res = res.reshape(res.shape[:2] + rest)
        dst = [slice(None)] * len(shape)
        dst[iy] = slice(j0, j1)
        out[tuple(dst)] = np.moveaxis(res, (0, 1), (iy, ix))
    return out


def upsample_region(
    small: np.ndarray, region: Sequence[slice], full_shape: Sequence[int], *, order: int
) -> np.ndarray:
    """``region`` of ``small`` resized to ``full_shape`` (leading axes; trailing ones kept).

    ``order=0``: nearest neighbour; ``order=1``: linear between pixel centres, clamped at
    the edges.

    Examples
    --------
    >>> small = np.array([[0.0, 1.0]])
    >>> upsample_region(small, (slice(0, 1), slice(0, 4)), (1, 4), order=1).tolist()
    [[0.0, 0.25, 0.75, 1.0]]
    """
    out = small
    for ax, (r, n_out) in enumerate(zip(region, full_shape)):
        n_in = small.shape[ax]
        pos = (np.arange(r.start, r.stop) + 0.5) * (n_in / n_out) - 0.5
        if order == 0:
            idx = np.clip(np.floor(pos + 0.5).astype(np.int64), 0, n_in - 1)
            out = np.take(out, idx, axis=ax)
            continue
        pos = np.clip(pos, 0, n_in - 1)
        i0 = np.floor(pos).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        w = (pos - i0).astype(np.float32)
        shape = [1] * out.ndim
        shape[ax] = -1
        w = w.reshape(shape)
        out = np.take(out, i0, axis=ax) * (1 - w) + np.take(out, i1, axis=ax) * w
    return out.astype(small.dtype, copy=False)


# --------------------------------------------------------------------------- partial store


def partial_path(out: Path) -> Path:
    """The hidden sibling that holds an unfinished run of ``out``."""
    return out.with_name(f".{out.name}.partial.h5")


def classifier_digest(classifier: PixelClassifier) -> str:
    """A short hash of the forest and the feature selection (decides whether a resume fits)."""
    h = hashlib.sha1()
    f = classifier.forest
    for arr in (f.feature, f.threshold, f.left, f.right, f.value, f.classes):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(repr((classifier.selection, classifier.classes, classifier.spacing)).encode())
    return h.hexdigest()[:16]


def _open_partial(path: Path, fingerprint: str, shape, dtype, chunks, n_blocks) -> h5py.File:
    if path.exists():
        try:
            fh = h5py.File(path, "a")
            ok = (fh.attrs.get("fingerprint") == fingerprint and DATASET in fh and "done" in fh
                  and fh[DATASET].shape == tuple(shape) and fh["done"].shape == (n_blocks,))
            if ok:
                log.info("%s: resuming, %d of %d blocks done", path, int(fh["done"][()].sum()), n_blocks)
                return fh
            fh.close()
        except OSError:
            pass
        log.info("%s: settings changed or file damaged, starting over", path)
        path.unlink()
    fh = h5py.File(path, "w")
    try:  # a Ctrl-C while the new file is laid out leaves no file behind
        fh.attrs["fingerprint"] = fingerprint
        fh.create_dataset(DATASET, shape=tuple(shape), dtype=dtype, chunks=tuple(chunks))
        fh.create_dataset("done", shape=(n_blocks,), dtype=np.uint8)
    except BaseException:
        fh.close()
        path.unlink(missing_ok=True)
        raise
    return fh


def _progress(total: int, quiet: bool, desc: str):
    from ..progress import progress  # noqa: PLC0415

    return progress(total, desc, quiet=quiet, unit="block")


def _fingerprint(classifier, src, axes, export, block, scale, output_scale) -> str:
    return json.dumps({
        "input": str(getattr(src, "path", "array")), "input_shape": list(src.shape), "axes": axes,
        "export": export, "block": list(block), "scale": float(scale), "output_scale": output_scale,
        "classifier": classifier_digest(classifier),
    }, sort_keys=True)


BATCH_RECORD = ".gputrack-batch.json"


def _file_stamp(path: Path) -> list[int]:
    st = path.stat()
    return [int(st.st_size), int(st.st_mtime_ns)]


def _read_record(out_dir: Path) -> dict:
    try:
        data = json.loads((out_dir / BATCH_RECORD).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_record(out_dir: Path, record: dict) -> None:
    tmp = out_dir / f"{BATCH_RECORD}.tmp-{os.getpid()}"
    try:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
        os.replace(tmp, out_dir / BATCH_RECORD)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _batch_key(fingerprint: str, image: Path, glasbey: bool, lut: Any) -> str:
    colours = hashlib.sha1(np.asarray(lut).tobytes()).hexdigest() if isinstance(lut, np.ndarray) else str(lut)
    return json.dumps([fingerprint, _file_stamp(_split_container(image, None)[0]), bool(glasbey), colours])


def input_stem(path: Path) -> str:
    """The output stem of an input: its file name without the suffix; for a dataset inside a
    file, the file's stem and the dataset's path joined by ``-`` (ilastik 1.4's nickname).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); h5py.File(d / "movie.h5", "w").close()
    >>> input_stem(d / "cells.tif"), input_stem(d / "movie.h5" / "exported_data")
    ('cells', 'movie-exported_data')
    """
    inner = None
    if not path.exists():
        with contextlib.suppress(InputError):
            path, inner = _split_container(path, None)
    return f"{path.stem}-{inner.strip('/').replace('/', '-')}" if inner else path.stem


# --------------------------------------------------------------------------- one file


def _plan(classifier, image, axes, export, scale, output_scale, block_size):
    src, axes = as_image(image, axes)
    check_image(classifier, src, axes)
    if output_scale not in ("input", "classified"):
        raise InputError(f"output_scale={output_scale!r}: expected 'input' or 'classified'")
    if not 0 < float(scale) <= 1:
        raise InputError(f"scale={scale}: expected 0 < scale <= 1")
    spatial = [a for a in axes if a != "c"]
    cls_shape = scaled_shape(src.shape, axes, scale) if scale != 1 else tuple(src.shape)
    out_src_shape = cls_shape if output_scale == "classified" else tuple(src.shape)
    base = tuple(n for a, n in zip(axes, out_src_shape) if a != "c")
    ndim = 3 if "z" in axes and base[spatial.index("z")] > 1 else 2
    if block_size is None:
        block_size = DEFAULT_BLOCK[ndim]
    if np.isscalar(block_size):
        block = tuple(1 if a == "t" else (int(block_size) if a in "yx" or ndim == 3 else 1) for a in spatial)
    else:
        block = tuple(int(b) for b in block_size)
    shape = base + ((classifier.n_classes,) if export == "probabilities" else ())
    return src, axes, cls_shape, base, block, shape


def classify_file(
    classifier: PixelClassifier,
    image: Any,
    out: str | os.PathLike,
    *,
    export: str = "probabilities",
    axes: str | None = None,
    scale: float = 1.0,
    output_scale: str = "input",
    glasbey: bool = False,
    block_size: int | Sequence[int] | None = None,
    device: str | None = "auto",
    overwrite: bool = False,
    quiet: bool = False,
    progress: Any = None,
    lut: str | os.PathLike | np.ndarray | None = None,
    ngff_version: str = "0.4",
) -> Path:
    """Classify an image from disk to disk, block by block, resumable.

    Parameters
    ----------
    classifier
        A trained :class:`~gputrack.pixel.PixelClassifier`.
    image
        Path (any format of :func:`gputrack.io.open_image`: tiled TIFF, ``.svs``/
        ``.ndpi``, HDF5, Zarr, PNG, ...), :class:`~gputrack.io.ImageSource` or array.
    out
        Output file: ``.h5``, ``.zarr``, ``.tif`` or ``.png`` (PNG: simple segmentation).
    export
        ``"probabilities"``, ``"simple-segmentation"`` or ``"uncertainty"``.
    axes
        The image's axes (default: the file's).
    scale, output_scale
        Area-average downsampling of ``y, x`` before classification (``0 < scale <= 1``)
        and the size of the output (``"input"`` or ``"classified"``); see the module notes.
    glasbey
        PNG segmentation with Fiji's Glasbey LUT (:func:`gputrack.io.lut.fiji_glasbey`).
    block_size
        Block edge (int for the spatial axes) or block shape (non-channel axes); default
        1024 (2D) / 128 (3D). Memory holds one block's features at a time.
    device
        ``"auto"``, ``"cpu"`` or ``"gpu"``.
    overwrite
        Replace an existing output.
    quiet
        No progress bar (there is none when stderr is not a terminal either).
    progress
        An existing tqdm bar to advance (batch runs).
    lut
        PNG segmentation with this lookup table: an ImageJ ``.lut``, a CSV of class -> RGB,
        a built-in name or an ``(N, 3)`` array (:func:`gputrack.io.lut.segmentation_palette`).
    ngff_version
        ``"0.4"`` or ``"0.5"`` for ``.ome.zarr`` outputs.

    Returns
    -------
    Path
        The output.

    Examples
    --------
    >>> classify_file(clf, "slide.svs", "slide_Simple Segmentation.png",
    ...               export="simple-segmentation", scale=0.2)            # doctest: +SKIP
    """
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError(f"{out}: unsupported output type {out.suffix!r}; expected .h5, .zarr, .tif or .png")
    if fmt == "png" and export != "simple-segmentation":
        raise InputError(f"{out}: {PNG_ONLY}{export}")
    if (glasbey or lut is not None) and fmt != "png":
        raise InputError(f"{out}: a Glasbey palette or a LUT needs a .png output")
    palette = segmentation_palette(glasbey, lut)
    check_writable(out, overwrite)
    src, axes, cls_shape, base, block, shape = _plan(
        classifier, image, axes, export, scale, output_scale, block_size
    )
    dtype = output_dtype(classifier, export)
    grid = block_grid(base, block)
    index = {tuple((r.start, r.stop) for r in reg): i for i, reg in enumerate(grid)}
    fingerprint = _fingerprint(classifier, src, axes, export, block, scale, output_scale)
    backend.resolve_device(device)  # no partial file for a device that is not there
    chunks = tuple(min(b, 512, n) for b, n in zip(block, base)) + shape[len(base):]
    part = partial_path(out)
    part.parent.mkdir(parents=True, exist_ok=True)
    own_bar = progress is None
    bar = _progress(len(grid), quiet, out.name) if own_bar else progress
    finished = np.zeros(len(grid), bool)
    fh = _open_partial(part, fingerprint, shape, dtype, chunks, len(grid))
    try:
        ds, done = fh[DATASET], fh["done"]
        finished = done[()].astype(bool)
        bar.update(int(finished.sum()))

        def skip(region):
            return bool(finished[index[tuple((r.start, r.stop) for r in region)]])

        for region, block_out in _blocks(classifier, src, axes, export, scale, output_scale,
                                         cls_shape, base, block, grid, skip, device):
            ds[region] = backend.to_host(block_out)
            i = index[tuple((r.start, r.stop) for r in region)]
            done[i] = 1
            finished[i] = True
            fh.flush()
            bar.update(1)
    except BaseException:  # an error or Ctrl-C: finished blocks stay for a resume, else nothing stays
        keep = finished.any() or bool(fh.id.valid and fh["done"][()].any())  # a resumed file counts too
        fh.close()
        if not keep:
            part.unlink(missing_ok=True)
        raise
    finally:
        fh.close()
        if own_bar:
            bar.close()
    return _finish(part, out, fmt, axes, export, overwrite, palette, classifier, ngff_version)


def _blocks(classifier, src, axes, export, scale, output_scale, cls_shape, base, block, grid, skip, device):
    if scale == 1:
        yield from predict_blocks(classifier, src, axes=axes, export=export, block_shape=block,
                                  device=device, skip=skip)
        return
    small = read_scaled(src, axes, scale)
    if output_scale == "classified":
        yield from predict_blocks(classifier, small, axes=axes, export=export, block_shape=block,
                                  device=device, skip=skip)
        return
    if all(skip(r) for r in grid):
        return
    kind = "simple-segmentation" if export == "simple-segmentation" else "probabilities"
    small_base = tuple(n for a, n in zip(axes, cls_shape) if a != "c")
    result = np.empty(small_base + ((classifier.n_classes,) if kind == "probabilities" else ()),
                      output_dtype(classifier, kind))
    blocks = predict_blocks(classifier, small, axes=axes, export=kind, block_shape=block, device=device)
    for region, b in blocks:
        result[region] = backend.to_host(b)
    for region in grid:
        if skip(region):
            continue
        up = upsample_region(result, region, base, order=0 if kind == "simple-segmentation" else 1)
        yield region, uncertainty(up) if export == "uncertainty" else up


def _out_axes(axes: str, export: str) -> str:
    spatial = axes.replace("c", "")
    return spatial + "c" if export == "probabilities" else spatial


def _finish(part: Path, out: Path, fmt: str, axes: str, export: str, overwrite: bool,
            palette: np.ndarray | None, classifier: PixelClassifier, ngff_version: str = "0.4") -> Path:
    out_axes = _out_axes(axes, export)
    if out.name.lower().endswith(".ome.zarr"):
        import dask.array as da  # noqa: PLC0415

        from ..io.omezarr import write_ome_zarr  # noqa: PLC0415

        with h5py.File(part, "r") as fh:
            ds = fh[DATASET]
            write_ome_zarr(out, da.from_array(ds, chunks=ds.chunks), axes=out_axes, version=ngff_version,
                           overwrite=overwrite, labels=export == "simple-segmentation", chunks=ds.chunks)
        part.unlink()
        return out
    if fmt in ("h5", "hdf5"):
        with h5py.File(part, "a") as fh:
            del fh["done"]
            del fh.attrs["fingerprint"]
            fh[DATASET].attrs["axistags"] = make_axistags(out_axes)
        check_writable(out, overwrite)
        if out.exists():
            out.unlink()
        os.replace(part, out)
        return out
    with h5py.File(part, "r") as fh:
        ds = fh[DATASET]
        if fmt == "zarr":
            import zarr  # noqa: PLC0415

            with atomic_output(out, overwrite=overwrite, directory=True) as tmp:
                arr = zarr.open_array(str(tmp), mode="w", shape=ds.shape, chunks=ds.chunks, dtype=ds.dtype,
                                      zarr_format=2)
                arr.attrs["_ARRAY_DIMENSIONS"] = list(out_axes)
                step = ds.chunks[0] * max(1, 4096 // max(ds.chunks[0], 1))
                for lo in range(0, ds.shape[0], step):
                    arr[lo : lo + step] = ds[lo : lo + step]
        else:
            write_image(out, ds[()], axes=out_axes, overwrite=overwrite, palette=palette)
    part.unlink()
    return out


# --------------------------------------------------------------------------- batch


def list_images(inputs: Any) -> list[Path]:
    """Image files of a folder (sorted) or a list of paths, checked to exist."""
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir() and p.suffix.lower() != ".zarr":
            found = sorted(
                q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and not q.name.startswith(".")
            )
            if not found:
                raise InputError(f"{p}: folder holds no images ({' '.join(IMAGE_SUFFIXES)})")
            paths += found
        elif p.exists() or _split_container(p, None)[1]:  # a file, or a dataset inside one
            paths.append(p)
    return paths


def classify_files(
    classifier: PixelClassifier,
    inputs: Any,
    out_dir: str | os.PathLike,
    *,
    export: str = "probabilities",
    format: str = "h5",
    axes: str | None = None,
    scale: float = 1.0,
    output_scale: str = "input",
    glasbey: bool = False,
    block_size: int | Sequence[int] | None = None,
    device: str | None = "auto",
    overwrite: bool = False,
    quiet: bool = False,
    lut: str | os.PathLike | np.ndarray | None = None,
    ngff_version: str = "0.4",
) -> list[Path]:
    """Classify many images (a list of files or a folder) with one progress bar.

    Outputs go to ``out_dir`` named ``{stem}_{Result}.{ext}`` (:func:`output_name`); the
    other parameters are those of :func:`classify_file`.

    Returns
    -------
    list of Path
        The outputs, in input order.

    Examples
    --------
    >>> classify_files(clf, "images/", "out/", export="simple-segmentation",
    ...                format="png", glasbey=True)                          # doctest: +SKIP
    """
    paths = list_images(inputs)
    out_dir = Path(out_dir)
    names = [output_name(input_stem(p), export, format) for p in paths]
    if len(set(names)) != len(names):
        raise InputError("two inputs have the same file stem: their outputs would collide; rename one")
    from ..progress import note  # noqa: PLC0415

    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder; a batch of images writes a folder")
    record = _read_record(out_dir)
    total, keys, todo = 0, [], []
    for p, n in zip(paths, names):
        src = open_image(p, axes=axes)
        plan = _plan(classifier, src, axes, export, scale, output_scale, block_size)
        _, found_axes, _, base, block, _ = plan
        fingerprint = _fingerprint(classifier, src, found_axes, export, block, scale, output_scale)
        key = _batch_key(fingerprint, p, glasbey, lut)
        src.close()
        target = out_dir / n
        entry = record.get(n)
        done = target.is_file() or target.is_dir()
        if done and entry and entry.get("key") == key and (
            entry.get("stamp") == _stamp_of(target)
            or (entry.get("stamp") == "pending" and entry.get("before") != _stamp_of(target))
        ):
            # finished by an earlier run with these settings ("pending": interrupted between the
            # output's rename and its record, and the output changed since; outputs only appear
            # complete): skip
            keys.append(None)
            continue
        if done and not overwrite:
            why = "made with other settings or another input" if entry else "not made by this batch"
            raise OutputExistsError(
                f"{target}: output exists ({why}); pass overwrite=True (--overwrite) to redo it"
            )
        keys.append(key)
        todo.append(len(keys) - 1)
        total += len(block_grid(base, block))
    skipped = len(paths) - len(todo)
    if skipped:
        note(f"{skipped} of {len(paths)} images already done in {out_dir}, skipped", quiet=quiet)
    bar = _progress(total, quiet, f"{len(todo)} images")
    outs = [out_dir / n for n in names]
    created = not out_dir.exists()
    finished = 0
    try:
        for k, i in enumerate(todo):
            p, n = paths[i], names[i]
            target = out_dir / n
            before = _stamp_of(target) if target.exists() else None
            out_dir.mkdir(parents=True, exist_ok=True)
            record = _read_record(out_dir)
            record[n] = {"key": keys[i], "stamp": "pending", "before": before}
            _write_record(out_dir, record)
            classify_file(
                classifier, p, out_dir / n, export=export, axes=axes, scale=scale, output_scale=output_scale,
                glasbey=glasbey, block_size=block_size, device=device, overwrite=overwrite, progress=bar,
                lut=lut, ngff_version=ngff_version,
            )
            record = _read_record(out_dir)
            record[n] = {"key": keys[i], "stamp": _stamp_of(out_dir / n)}
            _write_record(out_dir, record)
            finished += 1
            note(f"[{k + 1}/{len(todo)}] {p.name} -> {n}", quiet=quiet)
    except Exception:
        if created and not finished:  # a failed first image leaves no record and no empty folder
            (out_dir / BATCH_RECORD).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise
    finally:
        bar.close()
    return outs


def _stamp_of(path: Path) -> list[int]:
    """Size and time of a file, or of the newest entry of a folder output (Zarr)."""
    if path.is_dir():
        stamps = [_file_stamp(q) for q in path.rglob("*") if q.is_file()]
        return [sum(s[0] for s in stamps), max((s[1] for s in stamps), default=0)]
    return _file_stamp(path)


def write_result(
    result: np.ndarray,
    out_dir: Path,
    stem: str,
    classifier: PixelClassifier,
    *,
    export: str,
    format: str,
    axes: str,
    overwrite: bool = False,
    glasbey: bool = False,
    lut: str | os.PathLike | np.ndarray | None = None,
) -> Path:
    """Write an in-memory export as ``out_dir / output_name(stem, export, format)``."""
    path = Path(out_dir) / output_name(stem, export, format)
    out_axes = _out_axes(axes, export)
    if path.suffix == ".png" and export != "simple-segmentation":
        raise InputError(f"{path}: {PNG_ONLY}{export}")
    palette = segmentation_palette(glasbey, lut) if path.suffix == ".png" else None
    kwargs = {"dataset": DATASET} if path.suffix == ".h5" else {}
    return write_image(path, result, axes=out_axes, overwrite=overwrite, palette=palette, **kwargs)
