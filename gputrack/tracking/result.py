"""The saved tracking result: one HDF5 file holding everything exports need, so they never re-solve.

Layout (``FORMAT_VERSION`` 1)::

    /                      attrs: format_version, gputrack_version, params (JSON), start,
                           solver, energy, optimal (-1 unknown, 0, 1), bound (NaN if none), seconds
    /detections/<column>   one dataset per column of the detection table; attrs: columns, attrs (JSON)
    /graph/{t, positions, src, dst, distance}          attrs: scales
    /energies/{detection, appearance, disappearance, link, division, division_allowed}
    /solution/{count, appearance, disappearance, link_value, division}
    /lineage/<column>      the lineage table (track, lineage and parent ids per detection)
    /label_frames          (t, [z,] y, x) object identities (merger pieces relabelled), gzip;
                           or, instead, the root attr ``label_path`` naming a CTC folder of them

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from gputrack.tracking.pipeline import track_labels
>>> lab = np.zeros((3, 20, 20), np.uint16); lab[:, 5:9, 5:9] = 1
>>> res = track_labels(lab)
>>> p = pathlib.Path(tempfile.mkdtemp()) / "track.h5"
>>> save_result(p, res)
>>> load_result(p).lineage["track_id"].tolist()
[1, 1, 1]
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ..errors import InputError, MissingInputError
from ..io.atomic import atomic_output
from ..io.hdf5 import open_hdf5
from ..threads import thread_map
from .energies import Energies
from .graph import HypothesesGraph
from .params import TrackingParameters
from .solution import Solution

FORMAT_VERSION = 1
"""Version of the HDF5 layout written by :func:`save_result`; other versions are refused on load."""


@dataclass
class TrackingResult:
    """A solved tracking: solution (with graph and energies), lineages, parameters, identities.

    Attributes
    ----------
    solution : Solution
        After merger resolution when that ran; ``solution.graph.detections`` is the detection
        table (with ``merger_label``: the original label a resolved piece came from, else 0).
    lineage : DataFrame
        :func:`gputrack.tracking.lineages` of ``solution`` plus ``merger_label``.
    params : TrackingParameters
    label_frames : list of arrays or None
        Object identities per frame (ilastik's "Object-Identities": the segmentation with
        merger pieces relabelled); frame ``k`` is time ``start + k``.
    label_path : str or None
        A CTC folder holding the identities instead of ``label_frames`` (saved results only).
    start : int
        Time of the first frame.
    estimated : dict
        Parameters estimated from the data and the motion model used (not saved).
    """

    solution: Solution
    lineage: pd.DataFrame
    params: TrackingParameters = field(default_factory=TrackingParameters)
    label_frames: list[np.ndarray] | None = None
    label_path: str | None = None
    start: int = 0
    estimated: dict = field(default_factory=dict)

    @property
    def detections(self) -> pd.DataFrame:
        return self.solution.graph.detections

    @property
    def graph(self) -> HypothesesGraph:
        return self.solution.graph

    @property
    def energies(self) -> Energies:
        return self.solution.energies

    def frames(self) -> list[np.ndarray]:
        """The object-identity label frames, read from ``label_path`` when not in memory."""
        if self.label_frames is not None:
            return self.label_frames
        if self.label_path is None:
            raise InputError("tracking result: no label frames stored or referenced; pass label_frames")
        from ..io.ctc import read_frames

        return list(read_frames(self.label_path))


def _write_table(group: h5py.Group, table: pd.DataFrame) -> None:
    group.attrs["columns"] = json.dumps([str(c) for c in table.columns])
    group.attrs["attrs"] = json.dumps(table.attrs, default=str)
    for c in table.columns:
        values = table[c].to_numpy()
        if values.dtype == object:
            values = values.astype(str).astype("S")
        group.create_dataset(str(c), data=values)


def _read_table(group: h5py.Group) -> pd.DataFrame:
    cols = json.loads(group.attrs["columns"])
    data = {}
    for c in cols:
        v = group[c][()]
        data[c] = v.astype(str) if v.dtype.kind == "S" else v
    df = pd.DataFrame(data, columns=cols)
    attrs = json.loads(group.attrs["attrs"])
    df.attrs.update({k: tuple(v) if isinstance(v, list) else v for k, v in attrs.items()})
    return df


def save_result(
    path: str | os.PathLike,
    result: TrackingResult,
    *,
    label_path: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> None:
    """Save a tracking result to one HDF5 file, atomically (layout in the module docstring).

    Parameters
    ----------
    path : output ``.h5`` file
    result : TrackingResult
        E.g. from :func:`gputrack.tracking.pipeline.track_labels`.
    label_path : path, optional
        Store a reference to this CTC folder of label frames instead of the frames themselves;
        refused when mergers were resolved (the pieces exist only in ``result.label_frames``).
    overwrite : bool
        Replace an existing file (otherwise :class:`~gputrack.errors.OutputExistsError`).
    """
    from .. import __version__

    sol = result.solution
    g, e = sol.graph, sol.energies
    if label_path is not None and "merger_label" in g.detections and (g.detections["merger_label"] > 0).any():
        raise InputError(
            f"save_result: label_path={label_path} cannot hold resolved merger pieces; store the label frames"
        )
    with atomic_output(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["gputrack_version"] = __version__
        f.attrs["params"] = json.dumps(asdict(result.params))
        f.attrs["start"] = int(result.start)
        f.attrs["solver"] = sol.solver
        f.attrs["energy"] = float(sol.energy)
        f.attrs["optimal"] = -1 if sol.optimal is None else int(bool(sol.optimal))
        f.attrs["bound"] = np.nan if sol.bound is None else float(sol.bound)
        f.attrs["seconds"] = float(sol.seconds)
        _write_table(f.create_group("detections"), g.detections)
        gg = f.create_group("graph")
        gg.attrs["scales"] = np.asarray(g.scales, np.float64)
        for name in ("t", "positions", "src", "dst", "distance"):
            gg.create_dataset(name, data=getattr(g, name))
        ge = f.create_group("energies")
        for name in ("detection", "appearance", "disappearance", "link", "division", "division_allowed"):
            ge.create_dataset(name, data=getattr(e, name))
        gs = f.create_group("solution")
        for name in ("count", "appearance", "disappearance", "link_value", "division"):
            gs.create_dataset(name, data=getattr(sol, name))
        _write_table(f.create_group("lineage"), result.lineage)
        if label_path is not None:
            f.attrs["label_path"] = str(label_path)
        elif result.label_frames is not None:
            # frame by frame into chunks of one frame (no stacked copy); gzip level 1: within 40 %
            # of level 4's size on label images, in two thirds of its time
            frames = result.label_frames
            first = np.asarray(frames[0]) if len(frames) else np.zeros((0, 0), np.uint16)
            shape = (len(frames), *first.shape)
            big = first.size > 0
            ds = f.create_dataset("label_frames", shape=shape, dtype=first.dtype,
                                  compression="gzip" if big else None, compression_opts=1 if big else None,
                                  shuffle=big, chunks=(1, *first.shape) if big else None)
            if big:
                _write_gzip_frames(ds, frames)
            else:
                for k in range(len(frames)):
                    ds[k] = np.asarray(frames[k])
        elif result.label_path is not None:
            f.attrs["label_path"] = str(result.label_path)


def _gzip_chunk(frame: np.ndarray) -> bytes:
    # HDF5's filter pipeline for shuffle + deflate, done here: the byte planes of the elements one
    # after the other (shuffle; a no-op for 1-byte types), then a zlib stream (HDF5's deflate filter
    # is zlib's compress2), so h5py reads it back through its own filters
    a = np.ascontiguousarray(frame)
    planes = a.view(np.uint8).reshape(-1, a.itemsize).T.tobytes() if a.itemsize > 1 else a.tobytes()
    return zlib.compress(planes, 1)


def _write_gzip_frames(ds: h5py.Dataset, frames) -> None:
    # zlib releases the GIL: frames compress on every core while chunks are written in order
    # (h5py compressing chunk by chunk in one thread took a second for 100 frames of 1024^2)
    tail = (0,) * (ds.ndim - 1)

    def checked(fr):
        fr = np.asarray(fr, ds.dtype)
        if fr.shape != ds.shape[1:]:
            raise InputError(f"save_result: label frames of shape {fr.shape} and {ds.shape[1:]}; "
                             "expected one shape for all frames")
        return fr

    for k, chunk in enumerate(thread_map(lambda fr: _gzip_chunk(checked(fr)), frames)):
        ds.id.write_direct_chunk((k, *tail), chunk)


def load_result(path: str | os.PathLike) -> TrackingResult:
    """Load a tracking result written by :func:`save_result`.

    Raises
    ------
    MissingInputError
        If the file does not exist.
    InputError
        If it is not a gputrack tracking result, or was written in another format version.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: tracking result file not found")
    if not h5py.is_hdf5(path):
        raise InputError(f"{path}: not an HDF5 file; expected a tracking result (tracking_result.h5)")
    with open_hdf5(path, "tracking result") as f:
        version = f.attrs.get("format_version")
        if version is None or "solution" not in f:
            raise InputError(f"{path}: not a gputrack tracking result (no format_version / solution)")
        if int(version) != FORMAT_VERSION:
            raise InputError(
                f"{path}: tracking result format version {int(version)} (gputrack "
                f"{f.attrs.get('gputrack_version', '?')}); this gputrack reads version {FORMAT_VERSION}"
            )
        params = TrackingParameters(**json.loads(f.attrs["params"]))
        det = _read_table(f["detections"])
        gg = f["graph"]
        graph = HypothesesGraph(det, gg["t"][()], gg["positions"][()], gg["src"][()], gg["dst"][()],
                                gg["distance"][()], tuple(float(s) for s in gg.attrs["scales"]))
        ge = f["energies"]
        energies = Energies(*(ge[n][()] for n in ("detection", "appearance", "disappearance", "link",
                                                  "division", "division_allowed")))
        gs = f["solution"]
        optimal = int(f.attrs["optimal"])
        bound = float(f.attrs["bound"])
        sol = Solution(graph, energies, gs["count"][()], gs["appearance"][()], gs["disappearance"][()],
                       gs["link_value"][()], gs["division"][()], float(f.attrs["energy"]),
                       solver=str(f.attrs["solver"]), optimal=None if optimal < 0 else bool(optimal),
                       bound=None if np.isnan(bound) else bound, seconds=float(f.attrs["seconds"]))
        lineage = _read_table(f["lineage"])
        frames = list(f["label_frames"][()]) if "label_frames" in f else None
        label_path = str(f.attrs["label_path"]) if "label_path" in f.attrs else None
        return TrackingResult(sol, lineage, params, frames, label_path, int(f.attrs["start"]))
