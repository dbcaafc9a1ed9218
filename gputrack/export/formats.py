"""The table of tracking export formats: one name per format, one call to write any of them.

Every format reads a saved or in-memory :class:`~gputrack.tracking.TrackingResult` and never
re-solves. :func:`export_result` writes one format to a path; :func:`export_many` writes several
into one folder under default names (what ``gputrack track --export a,b,c`` and
``gputrack export RESULT.h5 --format a,b`` do).

==================  ======================================  ====================================
name                writes (``path`` is ...)                 default name inside a folder
==================  ======================================  ====================================
``ctc``             CTC result: ``maskTTT.tif`` +            the folder itself
                    ``res_track.txt`` (a folder)
``csv``             ilastik's tracking table (a file)        ``tracking.csv``
``images``          Tracking-Result, Object-Identities,      ``images/``
                    Merger-Result as HDF5 (a folder)
``h5-events``       ilastik's H5 event sequence, one         ``events/``
                    ``%05d.h5`` per frame (a folder)
``json``            ``<base>_graph.json``,                   ``tracking``
                    ``<base>_result.json``,
                    ``<base>_weights.json`` (a base name)
``mamut``           ``<base>_mamut.xml`` (+ ``<base>_bdv``   ``tracking``
                    ``.xml/.h5`` of the raw data when given)
``geff``            a geff zarr store (a ``.geff`` path)     ``tracking.geff``
``mwt``             Multi-Worm-Tracker ``<base>.summary`` +  ``tracking``
                    ``<base>.blobs`` (a base name)
``contours``        ``<base>.outline`` (a base name)         ``tracking``
``divisions-csv``   ``timestep_parent, track_id_parent,      ``divisions.csv``
                    track_id_child1, track_id_child2``
``mergers-csv``     ``timestep, object_id, track_ids``       ``mergers.csv``
==================  ======================================  ====================================

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from gputrack.tracking import track_labels
>>> lab = np.zeros((3, 16, 16), np.uint16); lab[:, 4:8, 4:8] = 2
>>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> [p.name for p in export_many(track_labels(lab), ["csv", "ctc"], out)]
['tracking.csv', 'mask000.tif', 'mask001.tif', 'mask002.tif', 'res_track.txt']
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, OutputExistsError

if TYPE_CHECKING:
    from ..tracking.result import TrackingResult

__all__ = ["FORMATS", "ILASTIK_COMPAT", "Format", "export_many", "export_result", "parse_formats"]


@dataclass(frozen=True)
class Format:
    """One export format: where its writer lives and where it goes inside an output folder."""

    name: str
    module: str
    function: str
    default_name: str
    description: str
    takes_raw: bool = False

    def writer(self) -> Callable[..., Any]:
        return getattr(importlib.import_module(f"gputrack.export.{self.module}"), self.function)


def _ctc(result, path, *, overwrite=False, label_frames=None):
    from .tracking import write_ctc

    write_ctc(result, path, label_frames=label_frames, overwrite=overwrite)
    return [Path(path)]


def _csv(result, path, *, overwrite=False, label_frames=None, ilastik_compat=False):
    from .tracking import tracking_csv

    tracking_csv(path, result, ilastik_compat=ilastik_compat, overwrite=overwrite)
    return [Path(path)]


def _images(result, path, *, overwrite=False, label_frames=None, ilastik_compat=False):
    from .tracking import write_result_images

    return list(write_result_images(path, result, label_frames, ilastik_compat=ilastik_compat,
                                    overwrite=overwrite).values())


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("ctc", "formats", "_ctc", ".", "Cell Tracking Challenge result folder"),
        Format("csv", "formats", "_csv", "tracking.csv", "ilastik's tracking table"),
        Format("images", "formats", "_images", "images", "result images (HDF5)"),
        Format("h5-events", "events", "write_h5_events", "events", "ilastik's H5 event sequence"),
        Format("json", "jsongraph", "write_json", "tracking", "hypotheses graph + result JSON"),
        Format("mamut", "mamut", "write_mamut", "tracking", "Fiji MaMuT XML (+ BigDataViewer)",
               takes_raw=True),
        Format("geff", "geff", "write_geff", "tracking.geff", "geff graph (zarr)"),
        Format("mwt", "mwt", "write_mwt", "tracking", "Multi-Worm-Tracker summary + blobs"),
        Format("contours", "contours", "write_contours", "tracking", "contour outlines"),
        Format("divisions-csv", "manual_csv", "write_divisions_csv", "divisions.csv",
               "divisions table (manual tracking style)"),
        Format("mergers-csv", "manual_csv", "write_mergers_csv", "mergers.csv",
               "mergers table (manual tracking style)"),
    )
}
"""Every export format by name (see the module docstring)."""

ILASTIK_COMPAT = ("csv", "images", "h5-events", "mwt", "contours")
"""Formats whose writer takes ``ilastik_compat`` (ilastik's numbering and quirks)."""


def parse_formats(text: str | Sequence[str]) -> list[str]:
    """Split ``"ctc,csv"`` into known format names; a one-line error lists the valid ones.

    Examples
    --------
    >>> parse_formats("ctc, geff")
    ['ctc', 'geff']
    """
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise InputError(f"export format {','.join(unknown) or repr(text)}: unknown; choose from "
                         f"{', '.join(FORMATS)}")
    return list(dict.fromkeys(names))


def export_result(
    result: TrackingResult,
    fmt: str,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    raw: np.ndarray | Sequence[np.ndarray] | None = None,
    label_frames: Sequence[np.ndarray] | None = None,
    **options: Any,
) -> list[Path]:
    """Write ``result`` in format ``fmt`` to ``path``; returns the paths written.

    Parameters
    ----------
    result : TrackingResult
    fmt : a name of :data:`FORMATS`
    path : the folder, file or base name the format writes (module docstring)
    overwrite : replace existing outputs (otherwise :class:`~gputrack.errors.OutputExistsError`)
    raw : (t, [z,] y, x) raw frames, used by formats that carry image data (``mamut``)
    label_frames : object identities; default the result's own
    **options : passed to the format's writer
    """
    (name,) = parse_formats([fmt])
    spec = FORMATS[name]
    if spec.takes_raw and raw is not None:
        options["raw"] = raw
    return spec.writer()(result, path, overwrite=overwrite, label_frames=label_frames, **options)


def export_many(
    result: TrackingResult,
    formats: str | Sequence[str],
    folder: str | os.PathLike,
    *,
    overwrite: bool = False,
    raw: np.ndarray | Sequence[np.ndarray] | None = None,
    label_frames: Sequence[np.ndarray] | None = None,
    ilastik_compat: bool = False,
) -> list[Path]:
    """Write several formats into ``folder`` under their default names; returns the paths.

    Every output is checked before anything is written, so an existing output stops the
    export with nothing changed (unless ``overwrite``).
    """
    names = parse_formats(formats)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder; exports need an output folder")
    if not overwrite:
        for name in names:
            target = folder / FORMATS[name].default_name
            clash = [target] if name != "ctc" else list(folder.glob("mask*.tif")) + list(
                folder.glob("res_track.txt"))
            clash += list(folder.glob(f"{FORMATS[name].default_name}_*")) if name != "ctc" else []
            existing = [p for p in clash if p.exists() and p != folder]
            if existing:
                raise OutputExistsError(f"{existing[0]}: output exists; pass --overwrite to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    if label_frames is None and result.label_frames is None and result.label_path is not None:
        label_frames = result.frames()  # read a referenced CTC folder once for all formats
    written: list[Path] = []
    for name in names:
        options = {"ilastik_compat": ilastik_compat} if name in ILASTIK_COMPAT else {}
        if name == "ctc":
            written += _ctc_into(result, folder, label_frames)
            continue
        written += export_result(result, name, folder / FORMATS[name].default_name, overwrite=overwrite,
                                 raw=raw, label_frames=label_frames, **options)
    return written


def _ctc_into(result: TrackingResult, folder: Path, label_frames) -> list[Path]:
    """Write the CTC files into an existing folder without touching its other contents."""
    tmp = folder / ".ctc.partial"
    try:
        _ctc(result, tmp, overwrite=True, label_frames=label_frames)
        moved = []
        for p in sorted(tmp.iterdir()):
            os.replace(p, folder / p.name)
            moved.append(folder / p.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return moved
