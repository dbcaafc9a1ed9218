"""ilastik's Multi-Worm-Tracker export: ``<base>.summary`` and ``<base>.blobs`` (spec §8.6).

Both files describe every tracked object (count > 0) by its 2D shape: pixel count ("area"),
centre, and the radii and major axis of its second moments (vigra's ``RegionRadii``:
square roots of the eigenvalues of the pixel coordinates' covariance, largest first). 3D
frames are described by the objects' footprints (masks projected along z), as the format
is 2D (see :mod:`gputrack.export.contours`).

``.summary``: one line per frame holding tracked objects, 14 space-separated fields::

    frame+1 frame objects valid_objects 0.0 0.0 0.0 length length width width aspect aspect 0.0

(duration, speed, angular speed and end wiggle are 0; length, width and aspect ratio are the
frame's means of the largest radius, the second radius and their ratio, each written twice:
absolute and "relative", as ilastik does).

``.blobs``: per blob a header ``% <id>`` then one line per frame::

    count t x y area major_x major_y std length width %% x0 y0 n <chain code>

``count`` runs from 1 within the blob, ``(major_x, major_y)`` is the major axis scaled by the
largest radius (its sign is arbitrary), ``std`` the mean of the two radii, ``(x0, y0)`` the
first point of the object's outline (through the centres of the bordering background pixels,
:func:`~gputrack.export.contours.object_contours` with ``level=0``) and ``n`` its number of
points. The chain code packs the ``n - 1`` unit steps between consecutive points, 2 bits each
(``00`` −x, ``01`` +x, ``10`` −y, ``11`` +y; a diagonal step is written as its x then its y
step), three steps per character, first step in the high bits, character = ``chr(ord('0') +
bits)``.

Differences from ilastik
------------------------
- Blobs are tracks: ``% <track id>`` and the track's objects frame by frame. ilastik groups
  objects by their label in the Object-Identities image across frames, which mixes unrelated
  objects (labels are per frame). ``ilastik_compat=True`` groups by label.
- The last character of the chain code is padded with zero bits to 6 bits. ilastik appends
  ``00001`` after a final single step (a 7-bit value that decoders misread) and drops a final
  single step that follows a diagonal; ``ilastik_compat=True`` reproduces both;
  :func:`read_mwt` reads either.
- ``major_x, major_y`` is the major axis (x, y) times the largest radius. ilastik writes the
  first row of vigra's ``RegionAxes`` matrix times that radius: the x components of the major
  and the minor axis, which have the same magnitudes in 2D but other signs.
- Blob ids are track ids, from 1 (ilastik: labels, from 1; so in ``ilastik_compat`` mode).

Examples
--------
>>> encode_chain(np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], float))
('LP', 5)
>>> decode_chain(0, 0, 5, "LP").tolist()
[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, MissingInputError
from ..io.atomic import atomic_output, check_writable
from ..tracking.result import TrackingResult
from .contours import _mask_contour, tracked_masks

__all__ = ["BLOB_COLUMNS", "SUMMARY_COLUMNS", "blob_table", "decode_chain", "encode_chain",
           "mwt_paths", "read_mwt", "write_mwt"]

SUMMARY_COLUMNS = ("frame", "t", "objects", "valid_objects", "duration", "speed", "angular_speed",
                   "length", "relative_length", "width", "relative_width", "aspect",
                   "relative_aspect", "end_wiggle")
"""Names of the 14 fields of a ``.summary`` line."""

BLOB_COLUMNS = ("count", "t", "x", "y", "area", "major_x", "major_y", "std", "length", "width",
                "x0", "y0", "n", "code")
"""Names of the fields of a ``.blobs`` line (``%%`` left out)."""

_STEP_BITS = {(-1, 0): 0, (1, 0): 1, (0, -1): 2, (0, 1): 3}
_BIT_STEPS = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)], np.float64)


def mwt_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(<base>.summary, <base>.blobs)`` for a base name (a ``.summary``/``.blobs`` suffix is stripped)."""
    path = Path(path)
    if path.suffix in (".summary", ".blobs"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".summary"), path.with_name(path.name + ".blobs")


def _steps(contour: np.ndarray) -> list[int]:
    """2-bit step codes between consecutive (x, y) points; diagonals as x step then y step."""
    d = np.diff(np.asarray(contour, np.float64), axis=0)
    if d.size and (np.abs(d) > 1).any() or not np.array_equal(d, np.round(d)):
        raise InputError("chain code: contour points must be integer and 8-connected (use level=0 outlines)")
    codes: list[int] = []
    for dx, dy in d.astype(np.int64).tolist():
        if dx:
            codes.append(_STEP_BITS[(dx, 0)])
        if dy:
            codes.append(_STEP_BITS[(0, dy)])
    return codes


def encode_chain(contour: np.ndarray, *, ilastik_compat: bool = False) -> tuple[str, int]:
    """Multi-Worm-Tracker chain code of an outline.

    Parameters
    ----------
    contour : (N, 2) integer-valued (x, y) points, consecutive points 8-connected
    ilastik_compat : pack the last character as ilastik does (module docstring)

    Returns
    -------
    code : str
    n : int, the number of points the code describes (unit steps + 1)

    Examples
    --------
    >>> encode_chain(np.array([[2, 2], [1, 2], [1, 1]], float))
    ('8', 3)
    """
    contour = np.asarray(contour, np.float64)
    codes = _steps(contour)
    if not ilastik_compat:
        padded = codes + [0] * (-len(codes) % 3)
        chars = [chr(ord("0") + (a << 4 | b << 2 | c))
                 for a, b, c in zip(padded[0::3], padded[1::3], padded[2::3])]
        return "".join(chars), len(codes) + 1
    # ilastik's packing, point by point: a full (or over-full) 6-bit buffer is flushed; at the
    # last point a 2-bit rest gets "00001" appended (7 bits), a 4-bit rest "00".
    d = np.diff(contour, axis=0).astype(np.int64).tolist()
    bits, out, k = "", [], 0
    for i in range(len(contour)):
        if i > 0:
            n_codes = (d[i - 1][0] != 0) + (d[i - 1][1] != 0)
            for code in codes[k:k + n_codes]:
                bits += format(code, "02b")
            k += n_codes
        if len(bits) >= 6:
            out.append(chr(int(bits[:6], 2) + ord("0")))
            bits = bits[6:]
        elif i >= len(contour) - 1 and bits:
            bits += "00001" if len(bits) == 2 else "00"
            out.append(chr(int(bits, 2) + ord("0")))
            bits = ""
    return "".join(out), len(codes) + 1


def decode_chain(x0: float, y0: float, n: int, code: str) -> np.ndarray:
    """Points of a chain code: ``n`` (x, y) points from ``(x0, y0)`` (fewer if the code is short).

    Reads ilastik's 7-bit last character too (a single step in its two highest bits).

    Examples
    --------
    >>> decode_chain(2, 2, 3, "8").tolist()
    [[2.0, 2.0], [1.0, 2.0], [1.0, 1.0]]
    """
    steps: list[int] = []
    for j, ch in enumerate(code):
        v = ord(ch) - ord("0")
        if v >= 64 and j == len(code) - 1:  # ilastik: 2 bits + "00001"
            steps.append((v >> 5) & 3)
        elif 0 <= v < 64:
            steps.extend(((v >> 4) & 3, (v >> 2) & 3, v & 3))
        else:
            raise InputError(f"chain code: character {ch!r} is not a 6-bit code")
    steps = steps[:max(int(n) - 1, 0)]
    moves = _BIT_STEPS[np.asarray(steps, np.int64)] if steps else np.zeros((0, 2))
    return _walk(x0, y0, moves)


def _walk(x0: float, y0: float, moves: np.ndarray) -> np.ndarray:
    start = np.array([[float(x0), float(y0)]])
    return np.vstack([start, start + np.cumsum(moves, axis=0)]) if len(moves) else start


def _shape(mask: np.ndarray, origin: tuple[int, int]) -> tuple[float, ...]:
    """area, centre x, y, largest radius, second radius, major axis (x, y) of a 2D mask."""
    ys, xs = np.nonzero(mask)
    area = float(ys.size)
    cx, cy = xs.mean(), ys.mean()
    dx, dy = xs - cx, ys - cy
    cov = np.array([[np.mean(dx * dx), np.mean(dx * dy)], [np.mean(dx * dy), np.mean(dy * dy)]])
    w, v = np.linalg.eigh(cov)
    w = np.sqrt(np.clip(w, 0, None))
    return (area, float(cx + origin[1]), float(cy + origin[0]), float(w[1]), float(w[0]),
            float(v[0, 1]), float(v[1, 1]))


def blob_table(
    result: TrackingResult,
    label_frames: Sequence[np.ndarray] | None = None,
    *,
    ilastik_compat: bool = False,
) -> pd.DataFrame:
    """One row per tracked object with its blob fields (``BLOB_COLUMNS``) and ``blob`` (its id).

    Rows are in file order: by blob id, then frame.
    """
    rows = []
    for t, label, row, mask, origin in tracked_masks(result, label_frames):
        area, x, y, r0, r1, ax, ay = _shape(mask, origin)
        contour = _mask_contour(mask, 0.0, origin)
        code, n = encode_chain(contour, ilastik_compat=ilastik_compat) if len(contour) else ("", 0)
        x0, y0 = (contour[0] if len(contour) else (x, y))
        rows.append((label if ilastik_compat else int(row["track_id"]), 0, t, x, y, area, ax * r0, ay * r0,
                     (r0 + r1) / 2, r0, r1, float(x0), float(y0), n, code))
    table = pd.DataFrame(rows, columns=["blob", *BLOB_COLUMNS])
    table = table.sort_values(["blob", "t"], kind="stable").reset_index(drop=True)
    table["count"] = table.groupby("blob").cumcount() + 1
    return table


def write_mwt(
    result: TrackingResult,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    label_frames: Sequence[np.ndarray] | None = None,
    ilastik_compat: bool = False,
) -> list[Path]:
    """Write ``<base>.summary`` and ``<base>.blobs`` (formats in the module docstring).

    Parameters
    ----------
    result : TrackingResult
    path : base name (``out/run`` or ``out/run.summary`` -> ``out/run.summary``, ``out/run.blobs``)
    overwrite : replace existing files (both are checked before either is written)
    label_frames : object identities (default ``result.frames()``)
    ilastik_compat : blobs grouped by label and ilastik's chain-code packing

    Returns
    -------
    list of Path : the two files written

    Examples
    --------
    >>> import tempfile
    >>> from gputrack.tracking import track_labels
    >>> lab = np.zeros((2, 12, 12), np.uint16); lab[:, 3:7, 4:9] = 1
    >>> paths = write_mwt(track_labels(lab), Path(tempfile.mkdtemp()) / "run")
    >>> [p.name for p in paths]
    ['run.summary', 'run.blobs']
    >>> read_mwt(paths[0])[1][["blob", "t", "x", "y", "area"]].values.tolist()
    [[1.0, 0.0, 6.0, 4.5, 20.0], [1.0, 1.0, 6.0, 4.5, 20.0]]
    """
    summary_path, blobs_path = mwt_paths(path)
    for p in (summary_path, blobs_path):
        check_writable(p, overwrite)
    table = blob_table(result, label_frames, ilastik_compat=ilastik_compat)
    summary = []
    for t, group in table.groupby("t", sort=True):
        n = len(group)
        length = float(group["length"].mean())
        width = float(group["width"].mean())
        aspect = float((group["length"] / group["width"].where(group["width"] > 0, np.nan)).mean())
        summary.append(f"{t + 1} {t} {n} {n} 0.0 0.0 0.0 {length!r} {length!r} {width!r} {width!r} "
                       f"{aspect!r} {aspect!r} 0.0")
    blobs = []
    for blob, group in table.groupby("blob", sort=True):
        blobs.append(f"% {int(blob)}")
        for r in group.itertuples(index=False):
            blobs.append(f"{r.count} {r.t} {r.x!r} {r.y!r} {r.area!r} {r.major_x!r} {r.major_y!r} {r.std!r} "
                         f"{r.length!r} {r.width!r} %% {r.x0!r} {r.y0!r} {r.n} {r.code}")
    with atomic_output(summary_path, overwrite=overwrite) as tmp_s, \
            atomic_output(blobs_path, overwrite=overwrite) as tmp_b:
        tmp_s.write_text("".join(line + "\n" for line in summary))
        tmp_b.write_text("".join(line + "\n" for line in blobs))
    return [summary_path, blobs_path]


def read_mwt(path: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a ``.summary`` / ``.blobs`` pair (given the base name or either file).

    Returns
    -------
    summary : DataFrame with ``SUMMARY_COLUMNS``
    blobs : DataFrame with ``blob`` (the ``%`` id), ``BLOB_COLUMNS`` and ``contour`` (the
        decoded outline, (n, 2) x, y points)
    """
    summary_path, blobs_path = mwt_paths(path)
    for p in (summary_path, blobs_path):
        if not p.is_file():
            raise MissingInputError(f"{p}: Multi-Worm-Tracker file not found")
    rows = []
    for n_line, line in enumerate(summary_path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(SUMMARY_COLUMNS):
            raise InputError(f"{summary_path}:{n_line}: expected {len(SUMMARY_COLUMNS)} fields, "
                             f"got {len(fields)}")
        rows.append([float(v) for v in fields])
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    for c in ("frame", "t", "objects", "valid_objects"):
        summary[c] = summary[c].astype(np.int64)
    rows, blob = [], None
    for n_line, line in enumerate(blobs_path.read_text().splitlines(), 1):
        if line.startswith("% "):
            blob = int(line[2:])
            continue
        if not line.strip():
            continue
        try:
            head, tail = line.split(" %% ")
            values = [float(v) for v in head.split()]
            parts = tail.split()
            x0, y0, n = float(parts[0]), float(parts[1]), int(parts[2])
            code = parts[3] if len(parts) > 3 else ""
        except ValueError as err:
            raise InputError(f"{blobs_path}:{n_line}: expected 'count t x y area mx my std length width "
                             f"%% x0 y0 n code' ({err})") from None
        if blob is None or len(values) != 10:
            raise InputError(f"{blobs_path}:{n_line}: blob line before a '% id' header or with "
                             f"{len(values)} fields before '%%' (expected 10)")
        rows.append((blob, int(values[0]), int(values[1]), *values[2:], x0, y0, n, code,
                     decode_chain(x0, y0, n, code)))
    blobs = pd.DataFrame(rows, columns=["blob", *BLOB_COLUMNS, "contour"])
    return summary, blobs
