"""The export an ilastik tracking or object-classification project selects, written by gputrack.

A project stores its export settings (``Tracking Result Export`` / ``Object Information
Export``: ``OutputFilenameFormat``, ``OutputFormat``, ``OutputInternalPath``, ``ExportDtype``,
``SelectedExportSource``, ``SelectedPlugin``; :func:`~gputrack.workflows.ilastik_headless.export_settings`).
:func:`write_project_export` writes the selected source with
:mod:`gputrack.export.ilastik_export` (ilastik's file names, formats, dtype, HDF5 dataset and
axistags), as ``gputrack ilastik-headless`` does for pixel classification:

- the source: the stored ``SelectedExportSource``, else ilastik's first (``Tracking-Result``,
  ``Object Predictions``); a tracking project's ``Plugin`` source writes the stored plugin's
  format (``CSV-Table``, ``CellTrackingChallenge``, ``JSON``, ``Fiji-MaMuT``, ``H5-Event-Sequence``,
  ``Multi-Worm-Tracker``, ``Contours-With-Head``) with gputrack's writer of that format;
- the file name: the stored format with ilastik's placeholders (``{nickname}`` = the lane's
  stored nickname, ``{result_type}`` = the source's name) where ``{dataset_dir}`` (and a relative
  name) is the given output folder, so a run never writes beside its inputs;
- the image: the lane's axis order (``txyzc`` for the mitocheck projects) with ``c`` of 1, cast
  to the stored ``ExportDtype`` when one is set (uint32 otherwise).

Examples
--------
>>> write_project_export("tracking.ilp", "out", images={"Tracking-Result": (arr, "tyx")})  # doctest: +SKIP
[PosixPath('out/movie_Tracking-Result.h5')]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ..errors import InputError

PathLike = str | os.PathLike

__all__ = ["OBJECT_SOURCES", "PLUGINS", "TRACKING_SOURCES", "project_export", "write_project_export"]

TRACKING_SOURCES = ("Tracking-Result", "Merger-Result", "Object-Identities", "Plugin")
"""ilastik's tracking export sources, in its order (the first is the default)."""
OBJECT_SOURCES = ("Object Predictions", "Object Probabilities", "Object Identities")
"""The object-classification export sources gputrack writes (ilastik's first is the default)."""
PLUGINS = {"CSV-Table": "csv", "CellTrackingChallenge": "ctc", "JSON": "json", "Fiji-MaMuT": "mamut",
           "H5-Event-Sequence": "h5-events", "Multi-Worm-Tracker": "mwt", "Contours-With-Head": "contours"}
"""ilastik's tracking export plugins -> gputrack's export formats (:mod:`gputrack.export.formats`)."""
_GROUPS = {"tracking": ("Tracking Result Export",), "objects": ("Object Information Export",)}
_SUFFIX = {"csv": ".csv"}


def project_export(path: PathLike, kind: str) -> dict[str, str]:
    """The project's export settings with the source (and plugin) resolved; ``kind``: tracking | objects."""
    from .ilastik_headless import export_settings

    if kind not in _GROUPS:
        raise ValueError(f"kind must be one of {sorted(_GROUPS)}, not {kind!r}")
    stored = export_settings(path, _GROUPS[kind])
    sources = TRACKING_SOURCES if kind == "tracking" else OBJECT_SOURCES
    source = stored.get("SelectedExportSource") or sources[0]
    if source not in sources:
        raise InputError(f"{path}: export source {source!r} is not one gputrack writes; "
                         f"expected one of {', '.join(sources)}")
    if source == "Plugin":
        plugin = stored.get("SelectedPlugin", "")
        if plugin not in PLUGINS:
            raise InputError(f"{path}: export plugin {plugin!r} is not one gputrack writes; "
                             f"expected one of {', '.join(PLUGINS)}")
    settings = {"OutputFilenameFormat": "{dataset_dir}/{nickname}_{result_type}", "OutputFormat": "hdf5",
                "OutputInternalPath": "exported_data", **stored, "SelectedExportSource": source}
    return settings


def _lane_nickname(project, lane: int) -> tuple[str, str]:
    raw = project.lanes[lane].raw if lane < len(project.lanes) else None
    if raw is None:
        return Path(project.path).stem, "tzyxc"
    nick = raw.nickname or Path(str(raw.file_path)).stem
    return nick.replace("*", ""), raw.axes or "tzyxc"


def write_project_export(
    path: PathLike,
    out: PathLike,
    *,
    kind: str,
    images: Mapping[str, tuple[np.ndarray, str]] | None = None,
    plugin: Callable[[str, Path], list[Path]] | None = None,
    lane: int = 0,
    overwrite: bool = False,
    dry_run: bool = False,
) -> list[Path]:
    """Write the export the project ``path`` selects into the folder ``out``.

    ``images`` maps source names to ``(array, axes)`` (axes from ``tzyx``, no ``c``);
    ``plugin(format, path)`` writes a plugin export (tracking) and returns its files.
    ``dry_run`` only returns the files it would write (checked writable).
    """
    from ..export.ilastik_export import export_files, normalize, output_path, reorder, write_export
    from ..io.atomic import check_writable
    from ..io.ilp import read_ilp

    settings = project_export(path, kind)
    source = settings["SelectedExportSource"]
    project = read_ilp(path)
    nick, lane_axes = _lane_nickname(project, lane)
    out = Path(out)
    fmt = settings["OutputFormat"].strip()
    name = output_path(settings["OutputFilenameFormat"], "hdf5" if source == "Plugin" else fmt,
                       dataset_dir=os.fspath(out), nickname=nick, result_type=source, working_dir=out)
    if source == "Plugin":
        fmt_name = PLUGINS[settings["SelectedPlugin"]]
        target = Path(os.path.splitext(name)[0] + _SUFFIX.get(fmt_name, ""))
        check_writable(target, overwrite)
        if dry_run:
            return [target]
        if plugin is None:
            raise InputError(f"{path}: its export is a plugin ({settings['SelectedPlugin']}), which needs a "
                             "tracking result")
        target.parent.mkdir(parents=True, exist_ok=True)
        return plugin(fmt_name, target)
    if images is None or source not in images:
        raise InputError(f"{path}: export source {source!r} is not available here")
    data, axes = images[source]
    want = "".join(a for a in lane_axes if a in "tzyxc") or "tzyxc"
    for a in "tc":  # ilastik's exports keep t and c even when the lane has neither
        if a not in want:
            want = a + want if a == "t" else want + a
    data = np.asarray(data)
    if "c" not in axes:
        data, axes = data[..., None], axes + "c"
    data, order = reorder(data, axes, want)
    dtype = settings.get("ExportDtype")
    data = normalize(data, dtype) if dtype else data
    files = export_files(name, fmt, data.shape)
    for f in files:
        check_writable(f, overwrite)
    if dry_run:
        return files
    out.mkdir(parents=True, exist_ok=True)
    return write_export(data, order, name, fmt, internal_path=settings["OutputInternalPath"],
                        overwrite=overwrite)
