"""ilastik's headless pixel classification: a ``run_ilastik.sh --headless`` call, run by gputrack.

:func:`run_headless` takes what ilastik's command line takes (the project, the inputs, the
export options; :mod:`gputrack.export.ilastik_export` has the export rules) and writes the
files ilastik would write, computed with the project's stored forests. Defaults come from
the project's own export settings (``Prediction Export``: ``OutputFilenameFormat``,
``OutputFormat``, ``OutputInternalPath``), as in ilastik; ilastik's own defaults
(``{dataset_dir}/{nickname}_{result_type}``, ``hdf5``, ``exported_data``) where the project
stores none. A file name from the command line is relative to the current folder, the
project's stored one to the project's folder.

Inputs: image files (``img.png``, ``stack.tif``, ``movie.h5/data``), or stacks of 2D files
given as a glob (``"slices/z_*.png"``) or an ``os.pathsep``-separated list, stacked along
``stack_along`` (``z``, ``t`` or ``c``; ilastik's ``--stack_along``). Without inputs the
project's own lanes are exported. ``{nickname}`` is the input's file name without its
extension (``*`` removed for a glob); for a dataset inside an HDF5 file ilastik 1.4 appends
the dataset's path (``movie-data``).

Export sources (``--export_source``, any case): ``Probabilities``, ``Simple Segmentation``,
``Uncertainty``, ``Features``, ``Labels``; autocontext projects name them per stage
(``Probabilities Stage 2``, ...) and have ``Probabilities All Stages``. ``Labels`` are the
project's labels when the input is one of its lanes and zeros otherwise (ilastik's batch
lanes carry no labels).

Examples
--------
>>> run_headless("MyProject.ilp", ["img1.png"], export_source="Simple Segmentation",
...              output_format="png")                                  # doctest: +SKIP
[PosixPath('/data/img1_Simple Segmentation.png')]
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import InputError, MissingInputError
from ..export.ilastik_export import cutout, export_files, normalize, output_path, reorder, write_export
from ..io.atomic import check_writable
from ..io.axes import transpose_axes
from ..io.ilp import IlpProject, label_image, read_ilp
from ..io.ilp.lanes import _split_internal
from ..io.images import open_image

__all__ = ["DEFAULT_FILENAME_FORMAT", "export_settings", "export_sources", "nickname", "run_headless"]

#: ilastik's default ``OutputFilenameFormat``.
DEFAULT_FILENAME_FORMAT = "{dataset_dir}/{nickname}_{result_type}"
_PIXEL_SOURCES = ("Probabilities", "Simple Segmentation", "Uncertainty", "Features", "Labels")
_EXPORTS = {"Probabilities": "probabilities", "Simple Segmentation": "simple-segmentation",
            "Uncertainty": "uncertainty"}
_GLOB = ("*", "?", "[")


def export_sources(project: IlpProject) -> list[str]:
    """The export source names of a project, as ilastik lists them.

    >>> export_sources(read_ilp("PixelClass.ilp"))                      # doctest: +SKIP
    ['Probabilities', 'Simple Segmentation', 'Uncertainty', 'Features', 'Labels']
    """
    stages = [s for s in project.pixel_stages if s.features is not None]
    if len(stages) < 2:
        return list(_PIXEL_SOURCES)
    names = [f"{name} Stage {k}" for name in _PIXEL_SOURCES for k in range(1, len(stages) + 1)]
    return names[:2] + ["Probabilities All Stages"] + names[2:]


def export_settings(path: str | os.PathLike,
                    groups: Sequence[str] = ("Prediction Export", "DataExport")) -> dict[str, str]:
    """The export settings stored in a project (the first of ``groups`` it has); empty when none.

    Keys as ilastik stores them: ``OutputFilenameFormat``, ``OutputFormat``,
    ``OutputInternalPath`` and, where set, ``ExportDtype``, ``SelectedExportSource``,
    ``SelectedPlugin``. Tracking projects keep theirs in ``Tracking Result Export``, object
    classification in ``Object Information Export``.

    >>> export_settings("PixelClass.ilp")                                # doctest: +SKIP
    {'OutputFilenameFormat': '{dataset_dir}/{nickname}_{result_type}', 'OutputFormat': 'hdf5', ...}
    """
    out: dict[str, str] = {}
    with h5py.File(path, "r") as f:
        group = next((f[g] for g in groups if isinstance(f.get(g), h5py.Group)), None)
        if group is None:
            return out
        for key in ("OutputFilenameFormat", "OutputFormat", "OutputInternalPath", "ExportDtype",
                    "SelectedExportSource", "SelectedPlugin"):
            obj = group.get(key)
            if isinstance(obj, h5py.Dataset) and obj.shape == ():
                value = obj[()]
                out[key] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return out


def nickname(path: str) -> str:
    """ilastik's nickname of an input: its file name without the extension.

    ``*`` is removed from a glob; a dataset inside an HDF5 / Zarr file is appended with
    ``-`` (ilastik 1.4: ``movie.h5/data`` -> ``movie-data``).

    >>> nickname("/d/my_stack_*.png"), nickname("/d/movie.h5/volume/data"), nickname("img.v2.tif")
    ('my_stack_', 'movie-volume-data', 'img.v2')
    """
    first = path.split(os.pathsep)[0]
    file_part, inner = _split_internal(first.replace("\\", "/"))
    file = Path(file_part)
    name = file.name
    for suffix in (".ome.tif", ".ome.tiff", ".ome.zarr"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    else:
        name = Path(name).stem
    name = name.replace("*", "")
    return f"{name}-{inner.strip('/').replace('/', '-')}" if inner else name


def _dataset_dir(path: str) -> str:
    first = _split_internal(path.split(os.pathsep)[0].replace("\\", "/"))[0]
    return str(Path(first).expanduser().resolve().parent)


def _stack(path: str, stack_along: str, input_axes: str | None) -> tuple[np.ndarray, str]:
    """A glob or an ``os.pathsep`` list of images stacked along ``stack_along`` (ilastik's rule)."""
    files: list[str] = []
    for part in path.split(os.pathsep):
        found = sorted(glob.glob(os.path.expanduser(part))) if any(ch in part for ch in _GLOB) else [part]
        if not found:
            raise MissingInputError(f"{part}: no files match")
        files += found
    if stack_along not in ("z", "t", "c"):
        raise InputError(f"--stack_along {stack_along!r}: expected z, t or c")
    planes, axes = [], None
    for name in files:
        with open_image(name) as src:
            data, src_axes = src.read(), src.axes
        if "c" not in src_axes:
            data, src_axes = data[..., None], src_axes + "c"
        if axes is not None and (src_axes != axes or data.shape != planes[0].shape):
            raise InputError(f"{name}: shape {data.shape} differs from the stack's first, {planes[0].shape}")
        planes.append(data)
        axes = src_axes
    if stack_along == "c":
        return np.concatenate(planes, axis=axes.index("c")), axes
    if stack_along in axes:
        raise InputError(f"{path}: the images have a {stack_along!r} axis already (see --stack_along)")
    out, out_axes = np.stack(planes), stack_along + axes
    if input_axes and len(input_axes) == out.ndim:
        out_axes = input_axes.lower()
    return out, out_axes


def _input_files(path: str) -> set[Path]:
    """The files an input names (a glob or ``os.pathsep`` list; the file of ``file.h5/data``), resolved."""
    found: set[Path] = set()
    for part in path.split(os.pathsep):
        names = glob.glob(os.path.expanduser(part)) if any(ch in part for ch in _GLOB) else [part]
        found |= {Path(_split_internal(n.replace("\\", "/"))[0]).expanduser().resolve() for n in names}
    return found


def _read_input(path: str, input_axes: str | None, stack_along: str) -> tuple[Any, str]:
    if os.pathsep in path or any(ch in Path(path).name for ch in _GLOB):
        return _stack(path, stack_along, input_axes)
    src = open_image(path, axes=input_axes.lower() if input_axes else None)
    return src, src.axes


def _resolve_source(name: str | None, sources: list[str]) -> str:
    if name is None:
        return sources[0]
    lowered = [s.lower() for s in sources]
    if name.strip().lower() not in lowered:
        raise InputError(f"--export_source {name!r}: this project's sources are {', '.join(sources)}")
    return sources[lowered.index(name.strip().lower())]


def _split_source(source: str) -> tuple[str, int | None]:
    base, _, stage = source.partition(" Stage ")
    return base, (int(stage) if stage.isdigit() else None)


def _with_c(axes: str) -> str:
    return axes if "c" in axes else axes + "c"


def _compute(source: str, classifiers: list, image: Any, axes: str, labels: Any, device: str) -> np.ndarray:
    """The export source for one image: non-channel axes of the image, then ``c``."""
    from ..features import compute  # noqa: PLC0415
    from ..pixel.ilp import _stage_input, predict_chain  # noqa: PLC0415

    base, stage = _split_source(source)
    stage = stage or len(classifiers)
    if base == "Probabilities All Stages":
        parts = [predict_chain(classifiers[:k], image, axes=axes, device=device) for k in (1, 2)]
        return np.concatenate(parts, axis=-1)
    if base in _EXPORTS:
        out = predict_chain(classifiers[:stage], image, axes=axes, output=_EXPORTS[base], device=device)
        return np.asarray(out) if base == "Probabilities" else np.asarray(out)[..., None]
    spatial = axes.replace("c", "")
    if base == "Labels":
        return labels[..., None]
    data = image.read() if hasattr(image, "read") else np.asarray(image)
    previous = None
    if stage > 1:
        previous = predict_chain(classifiers[: stage - 1], data, axes=axes, device=device)
    stage_img, stage_axes = _stage_input(data, axes, previous)
    feats = compute(stage_img, classifiers[stage - 1].selection, axes=stage_axes, device=device).data
    feats = np.asarray(feats)
    keep = stage_axes.replace("c", "")
    return transpose_axes(feats, keep + "c", spatial + "c") if keep != spatial else feats


def _lane_of(project: IlpProject, path: str) -> int | None:
    target = Path(path.split(os.pathsep)[0]).expanduser().resolve()
    for lane in project.lanes:
        raw = lane.raw
        if raw is not None and raw.path is not None:
            stored = Path(raw.path).resolve()
            if stored == target or (raw.dataset and stored / raw.dataset == target):
                return lane.index
    return None


def run_headless(
    project: str | os.PathLike,
    inputs: Sequence[str] = (),
    *,
    export_source: str | None = None,
    output_format: str | None = None,
    output_filename_format: str | None = None,
    output_internal_path: str | None = None,
    export_dtype: str | None = None,
    pipeline_result_drange: tuple[float, float] | None = None,
    export_drange: tuple[float, float] | None = None,
    cutout_subregion: tuple[Sequence[int | None], Sequence[int | None]] | None = None,
    output_axis_order: str | None = None,
    input_axes: str | None = None,
    stack_along: str = "z",
    device: str = "auto",
    overwrite: bool = False,
) -> list[Path]:
    """Run an ilastik pixel-classification project headless, as ``run_ilastik.sh --headless``.

    Parameters
    ----------
    project
        The ``.ilp`` (pixel classification or autocontext, with a trained classifier).
    inputs
        Input images (see the module notes); default the project's lanes.
    export_source, output_format, output_filename_format, output_internal_path
        As ilastik's options; ``None`` takes the project's stored setting, then ilastik's
        default.
    export_dtype, pipeline_result_drange, export_drange, cutout_subregion, output_axis_order
        ilastik's transformations (:mod:`gputrack.export.ilastik_export`).
    input_axes, stack_along
        The inputs' axes (ilastik's ``--input_axes``) and the axis image stacks are
        stacked along.
    device, overwrite
        Compute device; replace existing outputs (they are never replaced otherwise).

    Returns
    -------
    list of Path
        The files written, input by input.

    Raises
    ------
    InputError
        An option ilastik would refuse (unknown source or format, ``export_drange``
        without ``pipeline_result_drange``, a sequence name without ``{slice_index}``...)
        or an output that exists; nothing is computed then.
    """
    from ..pixel.ilp import ilp_classifiers  # noqa: PLC0415

    project_path = Path(project)
    ilp = read_ilp(project_path)
    stored = export_settings(project_path)
    sources = export_sources(ilp)
    source = _resolve_source(export_source, sources)
    fmt = (output_format or stored.get("OutputFormat") or "hdf5").strip()
    if output_filename_format:
        name_format, working_dir = output_filename_format, Path.cwd()
    else:
        name_format = stored.get("OutputFilenameFormat") or DEFAULT_FILENAME_FORMAT
        working_dir = project_path.resolve().parent
    internal = output_internal_path or stored.get("OutputInternalPath") or "exported_data"
    normalize(np.zeros(1, np.float32), export_dtype, pipeline_result_drange, export_drange)  # checks options
    classifiers = ilp_classifiers(ilp, device=device)
    jobs = []  # (input name, image, axes, lane, nickname)
    if inputs:
        for item in inputs:
            image, axes = _read_input(str(item), input_axes, stack_along)
            jobs.append((str(item), image, axes, _lane_of(ilp, str(item)), nickname(str(item))))
    else:
        from ..io.ilp import open_lane  # noqa: PLC0415

        for lane in ilp.lanes:
            raw = lane.raw
            where = str(raw.path or raw.file_path)
            where = f"{where}/{raw.dataset}" if raw.path and raw.dataset else where
            nick = (raw.nickname or nickname(where)).replace("*", "")
            jobs.append((where, open_lane(ilp, lane.index), raw.axes, lane.index, nick))
    read = {f for name, *_ in jobs for f in _input_files(name)}
    plans = []
    for name, image, axes, lane, nick in jobs:
        shape = dict(zip(axes, image.shape))
        spatial = axes.replace("c", "")
        base, stage = _split_source(source)
        out_axes = _with_c(axes)
        n_c = _channels(base, stage, classifiers, shape.get("c", 1), spatial, shape)
        result_shape = tuple(n_c if k == "c" else shape[k] for k in out_axes)
        start, stop = cutout(result_shape, cutout_subregion, out_axes)
        path = output_path(name_format, fmt, dataset_dir=_dataset_dir(name), nickname=nick,
                           result_type=source, axes=out_axes, start=start, stop=stop, working_dir=working_dir)
        final_shape = tuple(b - a for a, b in zip(start, stop))
        preview, order = reorder(np.empty(final_shape, np.uint8), out_axes, output_axis_order)
        step = next((i for i, n in enumerate(preview.shape) if n > 1), 0)
        offset = start[out_axes.index(order[step])] if order[step] in out_axes else 0
        for f in export_files(path, fmt, preview.shape, offset):
            if Path(f).resolve() in read:
                raise InputError(f"{f}: the output would replace an input; choose another "
                                 "--output_filename_format (gputrack never writes over its inputs)")
            check_writable(f, overwrite)
        plans.append((name, image, axes, lane, out_axes, start, stop, path, offset))
    written: list[Path] = []
    for _name, image, axes, lane, out_axes, start, stop, path, offset in plans:
        spatial = axes.replace("c", "")
        labels = None
        if _split_source(source)[0] == "Labels":
            shape = tuple(n for k, n in zip(axes, image.shape) if k != "c")
            labels = (label_image(ilp, lane, shape, axes=spatial, stage=(_split_source(source)[1] or 1) - 1)
                      if lane is not None else np.zeros(shape, np.uint8))
        result = _compute(source, classifiers, image, axes, labels, device)
        result = transpose_axes(result, spatial + "c", out_axes)
        result = result[tuple(slice(a, b) for a, b in zip(start, stop))]
        result = normalize(result, export_dtype, pipeline_result_drange, export_drange)
        result, order = reorder(result, out_axes, output_axis_order)
        written += write_export(result, order, path, fmt, internal_path=internal, offset=offset,
                                overwrite=overwrite)
    return written


def _channels(base: str, stage: int | None, classifiers: list, n_in: int, spatial: str, shape: dict) -> int:
    """Channels of an export source, known before computing it."""
    from ..features.selection import channel_names  # noqa: PLC0415

    stage = stage or len(classifiers)
    if base == "Probabilities All Stages":
        return classifiers[0].n_classes + classifiers[1].n_classes
    if base == "Probabilities":
        return classifiers[stage - 1].n_classes
    if base == "Features":
        n = n_in + sum(c.n_classes for c in classifiers[: stage - 1])
        ndim = 3 if shape.get("z", 1) > 1 else 2
        return len(channel_names(classifiers[stage - 1].selection, ndim=ndim, n_channels=n))
    return 1
