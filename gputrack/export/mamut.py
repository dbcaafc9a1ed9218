"""Fiji MaMuT export: the TrackMate/MaMuT XML of a tracking, plus the BigDataViewer data it shows.

:func:`write_mamut` writes ``<base>_mamut.xml`` (spec §8.5), which Fiji opens with
*Plugins > MaMuT > Load MaMuT file*. With ``raw=`` it also writes the raw data as
``<base>_bdv.xml`` + ``<base>_bdv.h5`` (:func:`gputrack.export.bdv.write_bdv`) and points the
MaMuT file at them, so no manual BigDataViewer export is needed; with ``bdv_xml=`` it points at an
existing BigDataViewer dataset instead. ``path`` is a base name: ``out/run``, ``out/run.xml`` and
``out/run_mamut.xml`` all give ``out/run_mamut.xml``.

Layout (TrackMate XML as MaMuT reads it; element and attribute names from TrackMate's
``TmXmlKeys``)::

    TrackMate version="3.4.0"
      Model spatialunits=<BDV unit> timeunits="frames"
        FeatureDeclarations / SpotFeatures, EdgeFeatures, TrackFeatures / Feature
            (feature, name, shortname, dimension, isint) for every attribute written below
        AllSpots nspots / SpotsInFrame frame / Spot
            ID (detection index in the result), name "track-<trackId>", POSITION_X/Y/Z (world
            coordinates: the BigDataViewer affine applied to the pixel centre, i.e. physical
            units), POSITION_T = FRAME (frame index from 0 = BigDataViewer time point), RADIUS,
            QUALITY, VISIBILITY=1, SOURCE_ID=0, LabelimageId, ObjectCount, TrackId, LineageId,
            ParentTrackId, MergerLabelId, Divides, and every numeric column of the detection
            table (size, count/division probabilities, ...)
        AllTracks / Track name TRACK_ID TRACK_INDEX + track features / Edge
            SPOT_SOURCE_ID, SPOT_TARGET_ID, LINK_COST, VELOCITY, DISPLACEMENT, LINK_VALUE
        FilteredTracks / TrackID TRACK_ID
      Settings
        ImageData filename folder width height nslices nframes pixelwidth pixelheight voxeldepth
                  timeinterval        (the BigDataViewer XML; folder absolute)
        BasicSettings, InitialSpotFilter, SpotFilterCollection, TrackFilterCollection,
        AnalyzerCollection (MaMuT's analyzers)
      GUIState / View key="MaMuT Viewer" (a viewer opens on load)
                / SetupAssignments (display range = data range; when ``raw`` is written)

Events:

- Only detections with count > 0 become spots (false detections are left out); tracks with no
  edge are not written (lone spots stay in AllSpots), as MaMuT requires.
- Links: every active link is one edge, source in frame t, target in frame t + 1.
- Divisions: two edges leave the parent's spot, one to each daughter.
- Mergers: with merger resolution (the default) every resolved piece is its own spot
  (``MergerLabelId`` = the label of the merged object it came from) with its own edges, so the
  objects' identities run through the merger. Without resolution the merged object is one spot
  with ``ObjectCount`` > 1; the edges of all the objects it carries enter and leave it
  (``LINK_VALUE`` = objects passed along an edge), which TrackMate shows as a merge followed by a
  split inside one track.
- Tracks are TrackMate tracks: the connected components of the edge graph. A lineage (a cell and
  its descendants) is one track; ``TRACK_ID`` is its lineage id. An unresolved merger joins the
  lineages it carries into one track whose ``TRACK_ID`` is the smallest of their lineage ids.
  Our per-branch track ids are kept as the spot feature ``TrackId``.

Differences from ilastik (spec §8.5):

- ilastik splits a dividing lineage into one ``Track`` element per track id (daughters' edges under
  the parent's id), which TrackMate then re-joins on load; we write one ``Track`` per connected
  component, which is what TrackMate reads back, with TRACK_ID = lineage id (ids from 1; ilastik's
  start at 2).
- ilastik needs a BigDataViewer XML that the user exports from Fiji by hand; we write it.
- Positions are in the BigDataViewer world coordinates (pixel centre times voxel size) instead of
  pixels, so spots sit on the image for anisotropic data too.
- RADIUS is the radius of the disc (2D) / ball (3D) of the object's size in physical units;
  ilastik writes twice the first RegionRadii. QUALITY is the probability of the chosen object
  count (1.0 if unknown); ilastik writes 3.0. No random ``Track_color``.
- Feature names: detection columns with ``<`` -> ``_``, ``>`` and spaces removed (as ilastik).

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from gputrack.tracking import track_labels
>>> lab = np.zeros((3, 16, 16), np.uint16); lab[:, 4:8, 4:8] = 1
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> [p.name for p in write_mamut(track_labels(lab), d / "run", raw=lab * 100)]
['run_mamut.xml', 'run_bdv.xml', 'run_bdv.h5']
>>> m = read_mamut(d / "run_mamut.xml")
>>> m.spots["POSITION_X"].tolist(), m.edges[["SPOT_SOURCE_ID", "SPOT_TARGET_ID"]].values.tolist()
([5.5, 5.5, 5.5], [[0, 1], [1, 2]])
"""

from __future__ import annotations

import contextlib
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, MissingInputError
from ..io.atomic import atomic_output, check_writable
from ..tracking.result import TrackingResult
from .bdv import bdv_paths, intensity_map, read_bdv_xml, to_uint16, write_bdv

__all__ = ["MamutData", "mamut_paths", "read_mamut", "write_mamut"]

TRACKMATE_VERSION = "3.4.0"
"""TrackMate XML version written (the one of ilastik's MaMuT template, read by MaMuT)."""

# (feature, name, shortname, dimension, isint) -- TrackMate's standard declarations
_SPOT_STANDARD = [
    ("QUALITY", "Quality", "Quality", "QUALITY", False),
    ("POSITION_X", "X", "X", "POSITION", False),
    ("POSITION_Y", "Y", "Y", "POSITION", False),
    ("POSITION_Z", "Z", "Z", "POSITION", False),
    ("POSITION_T", "T", "T", "TIME", False),
    ("FRAME", "Frame", "Frame", "NONE", True),
    ("RADIUS", "Radius", "R", "LENGTH", False),
    ("VISIBILITY", "Visibility", "Visibility", "NONE", True),
    ("SOURCE_ID", "Source ID", "Source", "NONE", True),
]
_SPOT_OURS = [
    ("LabelimageId", "Label image id", "labelid", "NONE", True),
    ("ObjectCount", "Objects in detection", "count", "NONE", True),
    ("TrackId", "Track id (branch)", "trackid", "NONE", True),
    ("LineageId", "Lineage id", "lineageid", "NONE", True),
    ("ParentTrackId", "Parent track id", "parenttrack", "NONE", True),
    ("MergerLabelId", "Merger label id", "mergerid", "NONE", True),
    ("Divides", "Divides", "divides", "NONE", True),
]
_EDGE_FEATURES = [
    ("SPOT_SOURCE_ID", "Source spot ID", "Source ID", "NONE", True),
    ("SPOT_TARGET_ID", "Target spot ID", "Target ID", "NONE", True),
    ("LINK_COST", "Link cost", "Cost", "NONE", False),
    ("VELOCITY", "Velocity", "V", "VELOCITY", False),
    ("DISPLACEMENT", "Displacement", "D", "LENGTH", False),
    ("LINK_VALUE", "Objects passed", "objects", "NONE", True),
]
_TRACK_FEATURES = [
    ("TRACK_INDEX", "Track index", "Index", "NONE", True),
    ("TRACK_ID", "Track ID", "ID", "NONE", True),
    ("TRACK_DURATION", "Duration of track", "Duration", "TIME", False),
    ("TRACK_START", "Track start", "T start", "TIME", False),
    ("TRACK_STOP", "Track stop", "T stop", "TIME", False),
    ("NUMBER_SPOTS", "Number of spots in track", "N spots", "NONE", True),
    ("NUMBER_GAPS", "Number of gaps", "Gaps", "NONE", True),
    ("NUMBER_SPLITS", "Number of split events", "Splits", "NONE", True),
    ("NUMBER_MERGES", "Number of merge events", "Merges", "NONE", True),
    ("NUMBER_COMPLEX", "Complex points", "Complex", "NONE", True),
]
_ANALYZERS = {
    "SpotAnalyzers": ["Spot Source ID", "CELL_DIVISION_TIME_ON_SPOTS", "MANUAL_SPOT_COLOR_ANALYZER"],
    "EdgeAnalyzers": ["Edge target", "Edge velocity", "MANUAL_EDGE_COLOR_ANALYZER"],
    "TrackAnalyzers": ["Track index", "Track duration", "Branching analyzer", "CELL_DIVISION_TIME_ANALYZER"],
}
_POSITION_COLUMNS = ("t", "label", "z", "y", "x")


@dataclass
class MamutData:
    """A MaMuT/TrackMate XML file read back by :func:`read_mamut`.

    Attributes
    ----------
    spots : DataFrame
        One row per Spot: ``ID``, ``name`` and every (numeric) attribute.
    edges : DataFrame
        One row per Edge: ``TRACK_ID`` of its Track and every attribute.
    tracks : DataFrame
        One row per Track: its attributes (``name`` as text) and ``filtered`` (listed in
        FilteredTracks).
    features : dict
        ``{"SpotFeatures"|"EdgeFeatures"|"TrackFeatures": [feature names]}`` as declared.
    image : dict
        The attributes of Settings/ImageData (``filename``, ``folder``, ...).
    spatial_units : str
    """

    spots: pd.DataFrame
    edges: pd.DataFrame
    tracks: pd.DataFrame
    features: dict
    image: dict
    spatial_units: str


def mamut_paths(path: str | os.PathLike) -> tuple[Path, Path, Path]:
    """``(<base>_mamut.xml, <base>_bdv.xml, <base>_bdv.h5)`` for a base name or ``*_mamut.xml`` path."""
    path = Path(path)
    name = path.name
    for suffix in ("_mamut.xml", ".xml"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    base = path.with_name(name)
    bdv_xml, bdv_h5 = bdv_paths(base.with_name(name + "_bdv"))
    return base.with_name(name + "_mamut.xml"), bdv_xml, bdv_h5


def _fmt(v) -> str:
    """Number as Java's Double.parseDouble / Integer.parseInt read it."""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(v)


def _feature_name(column: str) -> str:
    return str(column).replace("<", "_").replace(">", "").replace(" ", "")


def _shortname(name: str) -> str:
    if len(name) <= 15:
        return name.replace("_", "")
    parts = [p for p in name.split("_") if p]
    return "".join(p[:3] for p in parts)[:15]


def _frame_geometry(result: TrackingResult, label_frames) -> tuple[int, tuple[int, ...]]:
    """(number of frames, frame shape (y, x) or (z, y, x)) of the label frames."""
    frames = None
    if label_frames is not None:
        frames = list(label_frames)
    elif result.label_frames is not None or result.label_path is not None:
        frames = result.frames()
    if frames is not None:
        if not frames:
            raise InputError("write_mamut: no label frames; expected one per time point")
        shape = tuple(np.shape(frames[0]))
        bad = [k for k, f in enumerate(frames) if tuple(np.shape(f)) != shape]
        if bad or len(shape) not in (2, 3):
            raise InputError(f"write_mamut: label frame 0 has shape {shape}; expected (y, x) or (z, y, x) "
                             "frames all of one shape")
        return len(frames), shape
    det = result.detections
    shape = det.attrs.get("shape")
    span = det.attrs.get("frames")
    if shape is None or span is None:
        raise InputError("write_mamut: the result has no label frames and no image shape; pass label_frames")
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    return int(span[1]) - int(result.start) + 1, shape


def _check_raw(raw: np.ndarray, n_frames: int, shape: tuple[int, ...]) -> str:
    """Axes string of ``raw`` after checking it against the label frames."""
    spatial = "zyx" if len(shape) == 3 else "yx"
    if raw.ndim >= 1 and raw.shape[0] == n_frames and tuple(raw.shape[1:]) == shape:
        return "t" + spatial
    if raw.ndim == len(shape) + 2 and raw.shape[0] == n_frames and tuple(raw.shape[1:-1]) == shape:
        return "t" + spatial + "c"
    raise InputError(f"write_mamut: raw of shape {raw.shape} does not match the label frames; expected "
                     f"{(n_frames, *shape)} (t, {', '.join(spatial)}) or that plus a channel axis")


def _components(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` nodes for the undirected edges src-dst."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    adjacency = coo_matrix((np.ones(src.size, np.int8), (src, dst)), shape=(n, n))
    return connected_components(adjacency, directed=False)[1].astype(np.int64)


def _groups(keys: np.ndarray, values: np.ndarray) -> tuple[list[int], list[np.ndarray]]:
    """Split ``values`` (already sorted by ``keys``) into runs of equal key: (keys, arrays)."""
    if keys.size == 0:
        return [], []
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts].tolist(), np.split(values, starts[1:])


def _declare(parent: ET.Element, tag: str, features) -> None:
    group = ET.SubElement(parent, tag)
    for feature, name, short, dim, isint in features:
        ET.SubElement(group, "Feature", feature=feature, name=name, shortname=short, dimension=dim,
                      isint="true" if isint else "false")


def _model(result: TrackingResult, affine: np.ndarray, unit: str, ndim: int) -> ET.Element:
    """The Model element (spots, edges, tracks) for ``result`` in the world frame of ``affine``."""
    det = result.detections
    lin = result.lineage
    sol = result.solution
    g = sol.graph
    n = len(det)
    if len(lin) != n or not np.array_equal(lin["label"].to_numpy(), det["label"].to_numpy()):
        raise InputError("tracking result: lineage table and detections do not match row for row")
    count = np.asarray(sol.count, np.int64)
    active = count > 0
    pix = np.stack([det[c].to_numpy(np.float64) if c in det else np.zeros(n) for c in ("x", "y", "z")], 1)
    world = pix @ affine[:, :3].T + affine[:, 3]
    voxel = np.linalg.norm(affine[:, :3], axis=0)  # x, y, z voxel sizes
    if "size" in det:
        size = det["size"].to_numpy(np.float64)
        if ndim == 2:
            radius = np.sqrt(size * voxel[0] * voxel[1] / np.pi)
        else:
            radius = np.cbrt(3.0 * size * np.prod(voxel) / (4.0 * np.pi))
    else:
        radius = np.full(n, float(voxel[:ndim].mean()))
    quality = np.ones(n)
    probs = [c for c in det.columns if str(c).startswith("count_prob_")]
    if probs:
        table = det[sorted(probs, key=lambda c: int(str(c).rsplit("_", 1)[1]))].to_numpy(np.float64)
        quality = table[np.arange(n), np.minimum(count, table.shape[1] - 1)]
    frame = det["t"].to_numpy(np.int64) - int(result.start)
    ours = {
        "LabelimageId": det["label"].to_numpy(np.int64),
        "ObjectCount": count,
        "TrackId": lin["track_id"].to_numpy(np.int64),
        "LineageId": lin["lineage_id"].to_numpy(np.int64),
        "ParentTrackId": lin["parent_track"].to_numpy(np.int64),
        "MergerLabelId": (lin["merger_label"].to_numpy(np.int64) if "merger_label" in lin
                          else np.zeros(n, np.int64)),
        "Divides": np.asarray(sol.division, bool),
    }
    extra = []  # (feature name, values, isint)
    taken = {f[0] for f in _SPOT_STANDARD + _SPOT_OURS}
    for c in det.columns:
        values = det[c].to_numpy()
        name = _feature_name(c)
        if c in _POSITION_COLUMNS or values.dtype.kind not in "biuf" or name in taken:
            continue
        taken.add(name)
        extra.append((name, values, values.dtype.kind in "biu"))

    model = ET.Element("Model", spatialunits=unit, timeunits="frames")
    decl = ET.SubElement(model, "FeatureDeclarations")
    _declare(decl, "SpotFeatures", _SPOT_STANDARD + _SPOT_OURS
             + [(name, name, _shortname(name), "NONE", isint) for name, _, isint in extra])
    _declare(decl, "EdgeFeatures", _EDGE_FEATURES)
    _declare(decl, "TrackFeatures", _TRACK_FEATURES)

    # spots
    idx = np.flatnonzero(active)
    all_spots = ET.SubElement(model, "AllSpots", nspots=str(idx.size))
    by_frame = idx[np.argsort(frame[idx], kind="stable")]
    for f, members in zip(*_groups(frame[by_frame], by_frame)):
        in_frame = ET.SubElement(all_spots, "SpotsInFrame", frame=str(int(f)))
        for i in members:
            attrs = {
                "ID": _fmt(int(i)), "name": f"track-{int(ours['TrackId'][i])}",
                "POSITION_X": _fmt(world[i, 0]), "POSITION_Y": _fmt(world[i, 1]),
                "POSITION_Z": _fmt(world[i, 2]),
                "POSITION_T": _fmt(float(frame[i])), "FRAME": _fmt(int(frame[i])), "RADIUS": _fmt(radius[i]),
                "QUALITY": _fmt(quality[i]), "VISIBILITY": "1", "SOURCE_ID": "0",
            }
            attrs.update({k: _fmt(v[i]) for k, v in ours.items()})
            attrs.update({name: _fmt(v[i]) for name, v, _ in extra})
            ET.SubElement(in_frame, "Spot", attrs)

    # edges, grouped into TrackMate tracks (connected components)
    links = np.flatnonzero(np.asarray(sol.link_value) > 0)
    links = links[active[g.src[links]] & active[g.dst[links]]]
    src, dst = g.src[links], g.dst[links]
    value = np.asarray(sol.link_value)[links]
    states = sol.energies.link
    cost = states[links, np.minimum(value, states.shape[1] - 1)] if states.size else np.zeros(links.size)
    disp = np.linalg.norm(world[dst] - world[src], axis=1)
    dt = np.maximum(frame[dst] - frame[src], 1)
    root = _components(n, src, dst)
    lineage = ours["LineageId"]
    all_tracks = ET.SubElement(model, "AllTracks")
    track_ids = []
    outdeg_all = np.bincount(src, minlength=n)
    indeg_all = np.bincount(dst, minlength=n)
    spot_order = idx[np.argsort(root[idx], kind="stable")]  # active spots grouped by component
    spot_groups = dict(zip(*_groups(root[spot_order], spot_order)))
    edge_order = np.lexsort((dst, src, frame[src], root[src]))
    edge_groups = dict(zip(*_groups(root[src[edge_order]], edge_order)))
    comp_id = {}
    for r in edge_groups:
        ids = lineage[spot_groups[r]]
        comp_id[r] = int(ids[ids > 0].min()) if (ids > 0).any() else int(spot_groups[r].min()) + 1
    for index, r in enumerate(sorted(edge_groups, key=lambda c: comp_id[c])):
        tid = comp_id[r]
        members, sel = spot_groups[r], edge_groups[r]
        outdeg, indeg = outdeg_all[members], indeg_all[members]
        f_members = frame[members]
        attrs = {
            "name": f"Track_{tid}", "TRACK_INDEX": _fmt(index), "TRACK_ID": _fmt(tid),
            "TRACK_DURATION": _fmt(float(f_members.max() - f_members.min())),
            "TRACK_START": _fmt(float(f_members.min())), "TRACK_STOP": _fmt(float(f_members.max())),
            "NUMBER_SPOTS": _fmt(members.size), "NUMBER_GAPS": _fmt(int((dt[sel] > 1).sum())),
            "NUMBER_SPLITS": _fmt(int((outdeg > 1).sum())), "NUMBER_MERGES": _fmt(int((indeg > 1).sum())),
            "NUMBER_COMPLEX": _fmt(int(((outdeg > 1) & (indeg > 1)).sum())),
        }
        track = ET.SubElement(all_tracks, "Track", attrs)
        for e in sel:
            ET.SubElement(track, "Edge", {
                "SPOT_SOURCE_ID": _fmt(int(src[e])), "SPOT_TARGET_ID": _fmt(int(dst[e])),
                "LINK_COST": _fmt(cost[e]), "VELOCITY": _fmt(disp[e] / dt[e]), "DISPLACEMENT": _fmt(disp[e]),
                "LINK_VALUE": _fmt(int(value[e])),
            })
        track_ids.append(tid)
    filtered = ET.SubElement(model, "FilteredTracks")
    for tid in track_ids:
        ET.SubElement(filtered, "TrackID", TRACK_ID=str(tid))
    return model


def _settings(bdv_xml: Path, size_xyz, n_frames: int, voxel_xyz) -> ET.Element:
    settings = ET.Element("Settings")
    nx, ny, nz = (int(v) for v in size_xyz)
    ET.SubElement(settings, "ImageData", {
        "filename": bdv_xml.name, "folder": str(bdv_xml.parent.resolve()),
        "width": str(nx), "height": str(ny), "nslices": str(nz), "nframes": str(n_frames),
        "pixelwidth": _fmt(voxel_xyz[0]), "pixelheight": _fmt(voxel_xyz[1]), "voxeldepth": _fmt(voxel_xyz[2]),
        "timeinterval": "1.0",
    })
    ET.SubElement(settings, "BasicSettings", {
        "xstart": "0", "xend": str(nx - 1), "ystart": "0", "yend": str(ny - 1), "zstart": "0",
        "zend": str(nz - 1), "tstart": "0", "tend": str(n_frames - 1), "detectionchannel": "1",
    })
    ET.SubElement(settings, "InitialSpotFilter", feature="QUALITY", value="0.0", isabove="true")
    ET.SubElement(settings, "SpotFilterCollection")
    ET.SubElement(settings, "TrackFilterCollection")
    analyzers = ET.SubElement(settings, "AnalyzerCollection")
    for tag, keys in _ANALYZERS.items():
        group = ET.SubElement(analyzers, tag)
        for key in keys:
            ET.SubElement(group, "Analyzer", key=key)
    return settings


def _gui_state(display_max: Sequence[int] | None) -> ET.Element:
    gui = ET.Element("GUIState")
    ET.SubElement(gui, "View", key="MaMuT Viewer", x="0", y="0", width="800", height="600")
    if display_max is not None:
        sa = ET.SubElement(gui, "SetupAssignments")
        setups = ET.SubElement(sa, "ConverterSetups")
        groups = ET.SubElement(sa, "MinMaxGroups")
        for s, hi in enumerate(display_max):
            cs = ET.SubElement(setups, "ConverterSetup")
            for tag, v in (("id", s), ("min", 0), ("max", max(int(hi), 1)), ("color", -1), ("groupId", s)):
                ET.SubElement(cs, tag).text = str(v)
            grp = ET.SubElement(groups, "MinMaxGroup")
            for tag, v in (("id", s), ("fullRangeMin", 0), ("fullRangeMax", 65535), ("rangeMin", 0),
                           ("rangeMax", 65535), ("currentMin", 0), ("currentMax", max(int(hi), 1))):
                ET.SubElement(grp, tag).text = str(v)
    return gui


def write_mamut(
    result: TrackingResult,
    path: str | os.PathLike,
    *,
    raw: np.ndarray | None = None,
    bdv_xml: str | os.PathLike | None = None,
    scales: Sequence[float] | None = None,
    unit: str = "micrometer",
    value_range: tuple[float, float] | None = None,
    overwrite: bool = False,
    label_frames: Sequence[np.ndarray] | None = None,
) -> list[Path]:
    """Write the MaMuT XML of ``result`` (and the BigDataViewer files of ``raw``), atomically.

    Parameters
    ----------
    result : TrackingResult
    path : base name (``out/run``, ``out/run.xml`` or ``out/run_mamut.xml`` -> ``out/run_mamut.xml``)
    raw : array (t, [z,] y, x[, c]), optional
        The raw data, frame ``k`` at time ``result.start + k``; written as ``<base>_bdv.xml`` +
        ``<base>_bdv.h5`` (see :func:`gputrack.export.bdv.write_bdv`). Its shape must match the
        label frames.
    bdv_xml : path, optional
        An existing BigDataViewer XML to show instead (one of ``raw`` / ``bdv_xml`` is required).
        Spot positions use its first view's affine.
    scales : (z, y, x) voxel size for ``raw``; default the result's scales, else 1
    unit : spatial unit of ``scales`` (written BigDataViewer files)
    value_range : intensity range mapped onto uint16 for ``raw`` (default: automatic)
    overwrite : replace existing outputs (all outputs are checked before any is written)
    label_frames : object-identity frames, default ``result.frames()`` (used for shape checks)

    Returns
    -------
    list of Path : ``[<base>_mamut.xml]`` plus ``<base>_bdv.xml``, ``<base>_bdv.h5`` when ``raw`` is given.
    """
    if (raw is None) == (bdv_xml is None):
        raise InputError("write_mamut: pass exactly one of raw= (written as BigDataViewer XML/HDF5) or "
                         "bdv_xml= (an existing BigDataViewer XML) so MaMuT has an image to show")
    n_frames, shape = _frame_geometry(result, label_frames)
    ndim = len(shape)
    mamut_xml, out_bdv_xml, out_bdv_h5 = mamut_paths(path)
    if scales is None:
        scales = result.detections.attrs.get("scales") or (1.0, 1.0, 1.0)
    scales = tuple(float(s) for s in scales)
    if len(scales) != 3 or min(scales) <= 0:
        raise InputError(f"write_mamut: scales={scales}; expected three positive (z, y, x) voxel sizes")
    size_xyz = (shape[-1], shape[-2], shape[0] if ndim == 3 else 1)
    display_max = None
    if raw is not None:
        raw = np.asarray(raw)
        axes = _check_raw(raw, n_frames, shape)
        outputs = [mamut_xml, out_bdv_xml, out_bdv_h5]
        for p in outputs:
            check_writable(p, overwrite)
        target, voxel_xyz, space_unit = out_bdv_xml, scales[::-1], unit
        affine = np.hstack([np.diag(voxel_xyz), np.zeros((3, 1))])
    else:
        bdv_xml = Path(bdv_xml)
        if not bdv_xml.is_file():
            raise MissingInputError(f"{bdv_xml}: BigDataViewer XML not found")
        info = read_bdv_xml(bdv_xml)
        if tuple(info["size"]) != size_xyz or len(info["timepoints"]) < n_frames:
            raise InputError(f"{bdv_xml}: BigDataViewer image of size {tuple(info['size'])} (x, y, z) and "
                             f"{len(info['timepoints'])} time points; expected {size_xyz} and {n_frames} "
                             "to match the label frames")
        outputs = [mamut_xml]
        check_writable(mamut_xml, overwrite)
        target, voxel_xyz, space_unit = bdv_xml, info["voxel_size"], info["unit"] or "pixel"
        key = (info["timepoints"][0], info["setups"][0])
        affine = info["affines"].get(key, np.hstack([np.diag(voxel_xyz), np.zeros((3, 1))]))

    root = ET.Element("TrackMate", version=TRACKMATE_VERSION)
    root.append(_model(result, np.asarray(affine, np.float64), space_unit, ndim))
    root.append(_settings(target, size_xyz, n_frames, voxel_xyz))
    if raw is not None:
        value_range = intensity_map(raw, value_range)
        chans = raw if axes.endswith("c") else raw[..., None]
        display_max = [int(to_uint16(np.asarray([chans[..., c].max()]), value_range)[0])
                       for c in range(chans.shape[-1])]
    root.append(_gui_state(display_max))
    tree = ET.ElementTree(root)
    ET.indent(tree, space="  ")

    written = []
    try:
        if raw is not None:
            written += write_bdv(raw, out_bdv_xml, axes=axes, scales=scales, unit=unit,
                                 value_range=value_range, overwrite=overwrite)
        with atomic_output(mamut_xml, overwrite=overwrite) as tmp:
            tree.write(tmp, encoding="UTF-8", xml_declaration=True)
    except BaseException:
        for p in written:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        raise
    return [mamut_xml, *written]


def read_mamut(path: str | os.PathLike) -> MamutData:
    """Read a MaMuT/TrackMate XML (ours or Fiji's) into spot, edge and track tables."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: MaMuT XML not found")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise InputError(f"{path}: not a readable XML file ({err})") from err
    model = root.find("Model")
    if root.tag != "TrackMate" or model is None:
        raise InputError(f"{path}: not a TrackMate/MaMuT XML (expected TrackMate/Model)")

    def numeric(attrs: dict, keep=("name",)) -> dict:
        out = {}
        for k, v in attrs.items():
            if k in keep:
                out[k] = v
                continue
            try:
                out[k] = int(v)
            except ValueError:
                out[k] = float(v)
        return out

    spots = [numeric(s.attrib) for s in model.iter("Spot")]
    edges, tracks = [], []
    filtered = {int(t.get("TRACK_ID")) for t in model.iter("TrackID")}
    for track in model.iter("Track"):
        attrs = numeric(track.attrib)
        attrs["filtered"] = attrs.get("TRACK_ID") in filtered
        tracks.append(attrs)
        for e in track.iter("Edge"):
            row = numeric(e.attrib)
            row["TRACK_ID"] = attrs.get("TRACK_ID")
            edges.append(row)
    decl = model.find("FeatureDeclarations")
    features = {}
    if decl is not None:
        for group in decl:
            features[group.tag] = [f.get("feature") for f in group.iter("Feature")]
    image = root.find("Settings/ImageData")
    return MamutData(
        spots=pd.DataFrame(spots), edges=pd.DataFrame(edges), tracks=pd.DataFrame(tracks), features=features,
        image=dict(image.attrib) if image is not None else {}, spatial_units=model.get("spatialunits", ""),
    )
