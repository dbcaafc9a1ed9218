"""ilastik's data export, as its headless mode does it: file names, formats, dtype and range.

What ilastik's export applet does to a result before writing it (ilastik's
``OpFormattedDataExport`` and ``OpExportSlot``), reproduced so that a batch script's
options give the same files:

- **cut-out** (``--cutout_subregion="[(start, ...), (stop, ...)]"``, result axes; ``None``
  = the full extent; clipped to the shape), then
- **renormalise and convert** (``--pipeline_result_drange`` + ``--export_drange``:
  ``out = export_min + (x - in_min) * float32((export_max - export_min) / (in_max -
  in_min))``, cast to ``--export_dtype`` by truncation, as numpy's ``asarray`` does; a
  dtype alone just casts), then
- **transpose** (``--output_axis_order``, default the input's own axis order; absent axes
  are added with size 1, singleton axes not named are dropped), then
- **write** in ``--output_format`` (:data:`FORMATS`, ilastik's names) to
  ``--output_filename_format`` with ilastik's placeholders ``{dataset_dir}``,
  ``{nickname}``, ``{result_type}``, ``{roi}`` (``[(start, ...), (stop, ...)]`` of the
  cut-out), ``{x_start}``, ``{x_stop}``, ... and, for sequences, ``{slice_index}``
  (zero-padded to the digits of the last index). The file's extension is replaced by the
  format's (``os.path.splitext`` of the whole name, as ilastik does: a dot inside a
  nickname cuts the name there); HDF5 results go to the dataset
  ``--output_internal_path`` (default ``exported_data``) with ilastik ``axistags``.
  Sequences slice along the first non-singleton axis.

Examples
--------
>>> output_path("{dataset_dir}/{nickname}_{result_type}", "png", dataset_dir="/data",
...             nickname="img", result_type="Simple Segmentation")
'/data/img_Simple Segmentation.png'
"""

from __future__ import annotations

import ast
import math
import os
import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_output, check_writable
from ..io.axes import transpose_axes
from ..io.images import write_image

__all__ = [
    "DTYPES",
    "FORMATS",
    "cutout",
    "export_files",
    "normalize",
    "output_path",
    "parse_range",
    "parse_roi",
    "reorder",
    "write_export",
]

_IMAGE_EXTENSIONS = ("png", "tif", "tiff", "jpg", "jpeg", "bmp", "gif", "pbm", "pgm", "pnm", "ppm")
#: ilastik's ``--output_format`` names -> (extension, kind). ``2d``: one 2D image (grey or
#: with channels); ``sequence``: 2D images along the first non-singleton axis; ``volume``: one
#: multi-page TIFF; ``volumes``: multi-page TIFFs along the first non-singleton axis.
FORMATS: dict[str, tuple[str, str]] = {
    "hdf5": ("h5", "hdf5"),
    "compressed hdf5": ("h5", "hdf5"),
    "numpy": ("npy", "numpy"),
    "multipage tiff": ("tiff", "volume"),
    "multipage tiff sequence": ("tiff", "volumes"),
    **{ext: (ext, "2d") for ext in _IMAGE_EXTENSIONS},
    **{f"{ext} sequence": (ext, "sequence") for ext in _IMAGE_EXTENSIONS},
}
#: ilastik's ``--export_dtype`` choices.
DTYPES = ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64")
_NOT_HERE = ("hdr", "ras", "xv", "dvid", "blockwise hdf5")
_PIL_ONLY = {"bmp", "gif", "pbm", "pgm", "pnm", "ppm"}


def _literal(text: str, what: str) -> Any:
    try:
        return ast.literal_eval(str(text).strip())
    except (ValueError, SyntaxError):
        raise InputError(f"{what} {text!r}: expected a Python literal such as {_EXAMPLES[what]}") from None


_EXAMPLES = {
    "--cutout_subregion": "[(0,10,10,None),(1,60,60,None)]",
    "--pipeline_result_drange": "(0.0,1.0)",
    "--export_drange": "(0,255)",
}


def parse_range(text: str, what: str = "--export_drange") -> tuple[float, float]:
    """``"(0,255)"`` -> ``(0, 255)`` (ilastik's ``--pipeline_result_drange`` / ``--export_drange``).

    >>> parse_range("(0.0, 1.0)")
    (0.0, 1.0)
    """
    value = _literal(text, what)
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(
        isinstance(v, (int, float)) for v in value
    ):
        raise InputError(f"{what} {text!r}: expected (min,max), e.g. {_EXAMPLES[what]}")
    return value[0], value[1]


def parse_roi(text: str) -> tuple[tuple[int | None, ...], tuple[int | None, ...]]:
    """``"[(10,10,None),(60,60,None)]"`` -> start and stop tuples (``None``: full extent).

    >>> parse_roi("[(10,10,None),(60,60,None)]")
    ((10, 10, None), (60, 60, None))
    """
    value = _literal(text, "--cutout_subregion")
    ok = isinstance(value, (tuple, list)) and len(value) == 2
    ok = ok and all(isinstance(v, (tuple, list)) for v in value) and len(value[0]) == len(value[1])
    ok = ok and all(v is None or isinstance(v, int) for part in value for v in part)
    if not ok:
        raise InputError(
            f"--cutout_subregion {text!r}: expected [(start,...),(stop,...)] with one integer or None per "
            f"axis, e.g. {_EXAMPLES['--cutout_subregion']}"
        )
    return tuple(value[0]), tuple(value[1])


def cutout(shape: Sequence[int], roi: tuple[Sequence[int | None], Sequence[int | None]] | None,
           axes: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The cut-out's start and stop, ``None`` filled in and clipped to ``shape`` as ilastik does.

    >>> cutout((128, 128, 2), ((10, None, None), (500, 60, None)), "yxc")
    ((10, 0, 0), (128, 60, 2))
    """
    if roi is None:
        return tuple(0 for _ in shape), tuple(int(s) for s in shape)
    start, stop = roi
    if len(start) != len(shape):
        raise InputError(
            f"--cutout_subregion has {len(start)} values per corner but the result has {len(shape)} axes "
            f"({axes!r}, shape {tuple(shape)})"
        )
    lo = tuple(max(0, int(a or 0)) for a in start)
    hi = tuple(min(int(n), int(n if b is None else b)) for b, n in zip(stop, shape))
    if any(h <= low for low, h in zip(lo, hi)):
        raise InputError(f"--cutout_subregion {list(start)}..{list(stop)} is empty for shape {tuple(shape)}")
    return lo, hi


def normalize(data: np.ndarray, dtype: str | None = None,
              pipeline_range: tuple[float, float] | None = None,
              export_range: tuple[float, float] | None = None) -> np.ndarray:
    """ilastik's renormalisation and dtype conversion of an export.

    >>> normalize(np.array([0.0, 0.5, 1.0], np.float32), "uint8", (0.0, 1.0), (0, 255)).tolist()
    [0, 127, 255]
    """
    if export_range is not None and pipeline_range is None:
        raise InputError("--export_drange needs --pipeline_result_drange (the range before renormalising)")
    if dtype is not None and dtype not in DTYPES:
        raise InputError(f"--export_dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    target = np.dtype(dtype) if dtype else data.dtype
    if pipeline_range is None or export_range is None:
        return data if target == data.dtype else _cast(np.asarray(data), target)
    (in_min, in_max), (out_min, out_max) = pipeline_range, export_range
    denominator = np.float64(in_max) - np.float64(in_min)
    frac = np.float32((np.float64(out_max) - np.float64(out_min)) / denominator if denominator else 0.0)
    return _cast(out_min + (np.asarray(data) - in_min) * frac, target)


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """numpy's cast (truncation), kept inside the integer range instead of wrapping around."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = np.clip(values, info.min, info.max)
    return np.asarray(values).astype(dtype)


def reorder(data: np.ndarray, axes: str, order: str | None) -> tuple[np.ndarray, str]:
    """Transpose to ``order`` (ilastik's ``--output_axis_order``): new axes get size 1.

    >>> a, ax = reorder(np.zeros((4, 5, 2)), "yxc", "cyx")
    >>> a.shape, ax
    ((2, 4, 5), 'cyx')
    """
    if not order:
        return data, axes
    order = order.lower()
    if set(order) - set("tczyx") or len(set(order)) != len(order):
        raise InputError(f"--output_axis_order {order!r}: expected distinct letters from t, z, y, x, c")
    for key, n in zip(axes, data.shape):
        if key not in order and n != 1:
            raise InputError(f"--output_axis_order {order!r} leaves out {key!r}, which has size {n}")
    keep = "".join(k for k in axes if k in order)
    data = data.reshape([n for k, n in zip(axes, data.shape) if k in order])
    data = data.reshape(data.shape + (1,) * sum(k not in keep for k in order))
    return transpose_axes(data, keep + "".join(k for k in order if k not in keep), order), order


def output_path(
    filename_format: str,
    output_format: str,
    *,
    dataset_dir: str,
    nickname: str,
    result_type: str,
    axes: str = "",
    start: Sequence[int] = (),
    stop: Sequence[int] = (),
    working_dir: str | os.PathLike | None = None,
) -> str:
    """The file ilastik writes for one result (``{slice_index}`` left in for sequences).

    Parameters
    ----------
    filename_format
        ``--output_filename_format`` (or the project's stored one), e.g.
        ``{dataset_dir}/{nickname}_{result_type}``.
    output_format
        ilastik's format name (:data:`FORMATS`).
    dataset_dir, nickname, result_type
        The input's folder, its nickname and the export source's name.
    axes, start, stop
        Axes of the result and the cut-out, for ``{roi}`` and ``{x_start}`` ...
    working_dir
        Folder that a relative name is relative to (the current one for a name from the
        command line, the project's folder for the project's stored name).

    Examples
    --------
    >>> output_path("/out/{nickname}_{roi}.tif", "tif", dataset_dir="/d", nickname="a", result_type="x",
    ...             axes="yxc", start=(0, 0, 0), stop=(64, 32, 2))
    '/out/a_[(0, 0, 0), (64, 32, 2)].tif'
    """
    if output_format not in FORMATS:
        unsupported = output_format in _NOT_HERE
        raise InputError(
            f"--output_format {output_format!r}: "
            + ("an ilastik format gputrack does not write; " if unsupported else "")
            + f"expected one of {', '.join(sorted(FORMATS))}"
        )
    keys: dict[str, Any] = {"dataset_dir": dataset_dir, "nickname": nickname, "result_type": result_type}
    keys["roi"] = [tuple(int(v) for v in start), tuple(int(v) for v in stop)]
    for key, a, b in zip(axes, start, stop):
        keys[f"{key}_start"], keys[f"{key}_stop"] = int(a), int(b)
    name = _format_known(os.path.expanduser(filename_format), keys)
    if working_dir is not None and not os.path.isabs(name):
        name = os.path.join(os.fspath(working_dir), name)
    extension = FORMATS[output_format][0]
    return os.path.splitext(name)[0] + "." + extension


def _format_known(text: str, keys: dict[str, Any]) -> str:
    """Fill the placeholders that are known; others (``{slice_index}``) stay as they are."""
    out = []
    for literal, field, spec, conversion in string.Formatter().parse(text):
        out.append(literal)
        if field is None:
            continue
        if field in keys:
            value = keys[field]
            value = repr(value) if conversion == "r" else str(value) if conversion == "s" else value
            out.append(format(value, spec or ""))
        else:
            tail = (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            out.append("{" + field + tail + "}")
    return "".join(out)


_SLICE = re.compile(r"\{slice_index(?::([^}]*))?\}")


def export_files(path: str, output_format: str, shape: Sequence[int], offset: int = 0) -> list[Path]:
    """The files an export writes: one, or one per slice for a sequence format.

    >>> [p.name for p in export_files("/o/a_{slice_index}.png", "png sequence", (12, 8, 8))][:2]
    ['a_00.png', 'a_01.png']
    """
    kind = FORMATS[output_format][1]
    if kind not in ("sequence", "volumes"):
        return [Path(path)]
    if not _SLICE.search(path):
        raise InputError(
            f"--output_filename_format for {output_format!r} must contain {{slice_index}} "
            f"(one file per slice), e.g. {{dataset_dir}}/{{nickname}}_z{{slice_index}}.png; got {path!r}"
        )
    steps = [n for n in shape if n > 1]
    n = steps[0] if steps else 1
    digits = max(1, math.ceil(math.log10(offset + n + 1)))

    def name(index: int) -> str:
        return _SLICE.sub(lambda m: format(index, m.group(1) or f"0{digits}"), path)

    return [Path(name(offset + k)) for k in range(n)]


def _squeeze_2d(data: np.ndarray, axes: str, what: str) -> tuple[np.ndarray, str]:
    keep = [i for i, (k, n) in enumerate(zip(axes, data.shape)) if n > 1 or k in "yx"]
    spatial = [i for i in keep if axes[i] != "c"]
    if len(spatial) != 2 or len(keep) - len(spatial) > 1:
        raise InputError(
            f"{what}: a 2D image format needs 2 non-singleton axes (and channels); the result has axes "
            f"{axes!r} shape {data.shape}: use a sequence, multipage tiff or hdf5"
        )
    sub = "".join(axes[i] for i in keep)
    data = data.reshape([data.shape[i] for i in keep])
    if "c" in sub and sub[-1] != "c":
        data, sub = transpose_axes(data, sub, sub.replace("c", "") + "c"), sub.replace("c", "") + "c"
    return data, sub


def _write_2d(path: Path, data: np.ndarray, axes: str, extension: str, overwrite: bool) -> Path:
    data, axes = _squeeze_2d(data, axes, str(path))
    if extension in _PIL_ONLY:
        from PIL import Image  # noqa: PLC0415

        if data.dtype != np.uint8:
            raise InputError(f"{path}: .{extension} holds 8-bit images; pass --export_dtype uint8 (+ drange)")
        with atomic_output(path, overwrite=overwrite) as tmp:
            pil_format = {"pbm": "PPM", "pgm": "PPM", "pnm": "PPM"}.get(extension, extension.upper())
            Image.fromarray(data[..., 0] if data.ndim == 3 and data.shape[2] == 1 else data).save(
                tmp, format=pil_format
            )
        return path
    return write_image(path, data, axes=axes, overwrite=overwrite)


def write_export(
    data: np.ndarray,
    axes: str,
    path: str,
    output_format: str,
    *,
    internal_path: str = "exported_data",
    offset: int = 0,
    overwrite: bool = False,
) -> list[Path]:
    """Write a prepared export (after :func:`cutout`, :func:`normalize`, :func:`reorder`).

    Returns the files written. ``offset`` is the cut-out's start along a sequence's axis
    (added to ``{slice_index}``, as ilastik does).

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> [p.name for p in write_export(np.ones((4, 6, 1), np.uint8), "yxc", f"{d}/a.h5", "hdf5")]
    ['a.h5']
    """
    extension, kind = FORMATS[output_format]
    files = export_files(path, output_format, data.shape, offset)
    for f in files:
        check_writable(f, overwrite)
    if kind == "hdf5":
        write_image(files[0], data, axes=axes, dataset=internal_path.strip("/") or "exported_data",
                    overwrite=overwrite, compression="gzip" if output_format == "compressed hdf5" else None)
    elif kind == "numpy":
        with atomic_output(files[0], overwrite=overwrite) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, data)
    elif kind == "2d":
        _write_2d(files[0], data, axes, extension, overwrite)
    elif kind == "volume":
        keep = "".join(k for k, n in zip(axes, data.shape) if n > 1 or k in "yx")
        squeezed = data.reshape([n for k, n in zip(axes, data.shape) if k in keep])
        write_image(files[0], squeezed, axes=keep, overwrite=overwrite)
    else:
        step = next((i for i, n in enumerate(data.shape) if n > 1), 0)
        rest = axes[:step] + axes[step + 1 :]
        for k, f in enumerate(files):
            part = np.take(data, k, axis=step)
            if kind == "sequence":
                _write_2d(f, part, rest, extension, overwrite)
            else:
                keep = "".join(a for a, n in zip(rest, part.shape) if n > 1 or a in "yx")
                write_image(f, part.reshape([n for a, n in zip(rest, part.shape) if a in keep]), axes=keep,
                            overwrite=overwrite)
    return files
