"""Tracking result as a geff graph (a ``.geff`` zarr), written with the ``geff`` package.

`geff <https://liveimagetrackingtools.org/geff/>`_ is the graph exchange format of the
tracking tools (traccuracy, motile, napari plugins). :func:`write_geff` writes:

- **nodes**: every detection with count > 0 (false detections are left out), node id = row
  of the detection table; properties ``t`` (frame), ``z`` (3D only), ``y``, ``x`` (object
  centre in physical units: pixels times ``scales``), ``seg_id`` (the object's label in the
  Object-Identities frame of time ``t``), ``track_id``, ``lineage_id``, ``parent_track_id``
  (track id of the division parent, 0 if none), ``count`` (objects the detection carries:
  > 1 for an unresolved merger), ``merger_label`` (original label of a resolved merger
  piece, 0 otherwise) and ``size`` (pixels) when known;
- **edges**: every active link (flow > 0) between kept nodes, division edges included, with
  ``flow`` (objects moving along it) and ``division`` (true for the two edges out of a
  dividing parent);
- **metadata**: directed graph; axes ``t`` (time, ``time_unit``) and ``[z,] y, x`` (space,
  ``space_unit``) with their scales; ``track_node_props`` = ``{"tracklet": "track_id",
  "lineage": "lineage_id"}``; with ``labels=True`` (default) the Object-Identities frames as
  a related ``labels`` zarr array ``<geff>/labels`` (axes t, [z,] y, x; its values are the
  nodes' ``seg_id``), so traccuracy can load graph and segmentation together
  (``load_geff_data(path, load_geff_seg=True)``).

Ids follow gputrack: track and lineage ids from 1 (ilastik: from 2).

Examples
--------
>>> import numpy as np, tempfile, pathlib, geff
>>> from gputrack.tracking import track_labels
>>> lab = np.zeros((3, 16, 16), np.uint16); lab[:, 4:8, 4:8] = 2
>>> out = write_geff(track_labels(lab), pathlib.Path(tempfile.mkdtemp()) / "run.geff")[0]
>>> graph, meta = geff.read(out)
>>> sorted(graph.edges), sorted(meta.track_node_props.items())
([(0, 1), (1, 2)], [('lineage', 'lineage_id'), ('tracklet', 'track_id')])
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_output, check_writable
from ..tracking.result import TrackingResult

__all__ = ["geff_graph", "geff_path", "write_geff"]


def geff_path(path: str | os.PathLike) -> Path:
    """``<base>.geff`` for ``path`` given with or without the ``.geff`` (or ``.zarr``) suffix."""
    path = Path(path)
    return path if path.suffix in (".geff", ".zarr") else path.with_name(path.name + ".geff")


def _is3d(result: TrackingResult) -> bool:
    shape = result.detections.attrs.get("shape", (1,))
    return len(shape) == 3 and int(shape[0]) > 1


def geff_graph(result: TrackingResult, *, scales: Sequence[float] | None = None):
    """The tracking result as a ``networkx.DiGraph`` with geff's node and edge properties.

    Parameters
    ----------
    result : TrackingResult
    scales : (z, y, x) pixel size; default the tracking graph's scales

    Returns
    -------
    networkx.DiGraph
    """
    import networkx as nx

    det = result.detections
    lin = result.lineage
    sol = result.solution
    if len(lin) != len(det) or not np.array_equal(lin["label"].to_numpy(), det["label"].to_numpy()):
        raise InputError("tracking result: lineage table and detections do not match row for row")
    scales = tuple(float(s) for s in (result.graph.scales if scales is None else scales))
    if len(scales) != 3 or min(scales) <= 0:
        raise InputError(f"write_geff: scales must be three positive (z, y, x) pixel sizes, got {scales}")
    is3d = _is3d(result)
    count = np.asarray(sol.count, np.int64)
    keep = count > 0
    axes = (("z", 0), ("y", 1), ("x", 2)) if is3d else (("y", 1), ("x", 2))
    columns = {
        "t": det["t"].to_numpy(np.int64),
        **{name: det[name].to_numpy(np.float64) * scales[k] for name, k in axes},
        "seg_id": det["label"].to_numpy(np.int64),
        "track_id": lin["track_id"].to_numpy(np.int64),
        "lineage_id": lin["lineage_id"].to_numpy(np.int64),
        "parent_track_id": lin["parent_track"].to_numpy(np.int64),
        "count": count,
        "merger_label": (lin["merger_label"].to_numpy(np.int64) if "merger_label" in lin
                         else np.zeros(len(lin), np.int64)),
    }
    if "size" in det.columns:
        columns["size"] = det["size"].to_numpy(np.int64)
    graph = nx.DiGraph()
    for i in np.flatnonzero(keep).tolist():
        graph.add_node(i, **{name: values[i].item() for name, values in columns.items()})
    src = np.asarray(result.graph.src, np.int64)
    dst = np.asarray(result.graph.dst, np.int64)
    flow = np.asarray(sol.link_value, np.int64)
    active = (flow > 0) & keep[src] & keep[dst]
    divides = np.asarray(sol.division, bool)
    for s, d, f in zip(src[active].tolist(), dst[active].tolist(), flow[active].tolist()):
        graph.add_edge(s, d, flow=int(f), division=bool(divides[s]))
    return graph


def write_geff(
    result: TrackingResult,
    path: str | os.PathLike,
    *,
    scales: Sequence[float] | None = None,
    overwrite: bool = False,
    label_frames: Sequence[np.ndarray] | None = None,
    labels: bool = True,
    space_unit: str = "pixel",
    time_unit: str = "frame",
) -> list[Path]:
    """Write the tracking result as a geff zarr (contents in the module docstring).

    Parameters
    ----------
    result : TrackingResult
    path : the ``.geff`` folder to write (``out/run`` or ``out/run.geff`` -> ``out/run.geff``)
    scales : (z, y, x) pixel size; default the tracking graph's scales
    overwrite : replace an existing output
    label_frames : object identities (default ``result.frames()``), for ``labels``
    labels : also store the Object-Identities frames as the related ``labels`` array
    space_unit, time_unit : units written in the axes metadata (e.g. ``"micrometer"``, ``"second"``)

    Returns
    -------
    list of Path : the ``.geff`` folder
    """
    import geff
    import zarr
    from geff_spec import GeffMetadata, RelatedObject

    out = check_writable(geff_path(path), overwrite)
    graph = geff_graph(result, scales=scales)
    scale = tuple(float(s) for s in (result.graph.scales if scales is None else scales))
    is3d = _is3d(result)
    space = ["z", "y", "x"] if is3d else ["y", "x"]
    space_scales = list(scale) if is3d else list(scale[1:])
    frames = None
    if labels:
        frames = result.frames() if label_frames is None else [np.asarray(f) for f in label_frames]
        frames = np.stack([np.asarray(f) for f in frames]) if len(frames) else None
        if frames is not None and frames.ndim != 1 + len(space):
            raise InputError(f"write_geff: label frames have {frames.ndim - 1} axes; the result is "
                             f"{len(space)}D")
    with atomic_output(out, overwrite=overwrite) as tmp:
        geff.write(graph, tmp, axis_names=["t", *space], axis_types=["time"] + ["space"] * len(space),
                   axis_units=[time_unit] + [space_unit] * len(space), zarr_format=2)
        meta = GeffMetadata.read(tmp)
        meta.track_node_props = {"tracklet": "track_id", "lineage": "lineage_id"}
        meta.extra = {**(meta.extra or {}), "gputrack": {
            "start": int(result.start), "scales_zyx": list(scale), "ids": "track/lineage ids from 1",
            "space_scales": space_scales}}
        if frames is not None:
            arr = zarr.open_array(str(Path(tmp) / "labels"), mode="w", shape=frames.shape,
                                  chunks=(1, *frames.shape[1:]), dtype=frames.dtype, zarr_format=2)
            arr[:] = frames
            arr.attrs["axes"] = ["t", *space]
            arr.attrs["start"] = int(result.start)
            with warnings.catch_warnings():
                # traccuracy 0.4 reads the older name ``label_prop`` (geff-spec >= 1.2.1 calls
                # it ``node_prop`` and keeps ``label_prop`` as a deprecated alias): set that one
                warnings.simplefilter("ignore", DeprecationWarning)
                meta.related_objects = [RelatedObject(type="labels", path="labels", label_prop="seg_id")]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            meta.write(tmp)
            geff.validate_structure(tmp)
    return [out]
