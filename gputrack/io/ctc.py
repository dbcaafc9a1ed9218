"""Cell Tracking Challenge (CTC) folders: frames, track tables, ground truth and results.

The CTC layout of one sequence ``NN``::

    NN/tTTT.tif                      raw frames
    NN_GT/TRA/man_trackTTT.tif       tracking ground truth (label = track id)
    NN_GT/TRA/man_track.txt          one line ``L B E P`` per track
    NN_GT/SEG/man_segTTT.tif         segmentation ground truth (often a subset of frames)
    NN_RES/maskTTT.tif               a result: uint16 label masks
    NN_RES/res_track.txt             the result's track table

``TTT`` has 3 to 6 digits; frames are found by globbing, never by assuming a width.
3D frames are multi-page TIFFs with one page per z slice, read and written as ``(z, y, x)``
arrays (ilastik's own CTC export writes pages along x; we do not copy that quirk).

Track tables follow CTC semantics: ``label`` is the track id used in the masks, ``begin`` and
``end`` are the first and last frame (inclusive) in which the label is present, and ``parent``
is the label of the mother track (0 for none). A track must be present in every frame of
``[begin, end]``; a gap is modelled as a new track whose parent is the old one.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> masks = np.zeros((3, 8, 8), np.uint16)
>>> masks[:, 2:4, 2:4] = 1
>>> masks[2, 5:7, 5:7] = 2
>>> tracks = tracks_from_masks(masks)
>>> out = pathlib.Path(tempfile.mkdtemp()) / "01_RES"
>>> write_ctc(out, masks, tracks)
>>> [p.name for _, p in list_frames(out)]
['mask000.tif', 'mask001.tif', 'mask002.tif']
>>> read_tracks(out / "res_track.txt").values.tolist()
[[1, 0, 2, 0], [2, 2, 2, 0]]
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from ..errors import InputError, MissingInputError
from .atomic import atomic_output

__all__ = [
    "FRAME_PREFIXES",
    "CtcGroundTruth",
    "check_tracks",
    "iter_frames",
    "lineage_summary",
    "list_frames",
    "read_ctc_gt",
    "read_frames",
    "read_tracks",
    "tracks_from_masks",
    "write_ctc",
    "write_frames",
    "write_tracks",
]

#: File name prefixes of CTC frame files: raw, TRA ground truth, SEG ground truth, results.
FRAME_PREFIXES = ("t", "man_track", "man_seg", "mask")
TRACK_COLUMNS = ["label", "begin", "end", "parent"]
_FRAME_RE = re.compile(r"^(man_track|man_seg|mask|t)(\d{3,6})\.tiff?$")
_MAX_UINT16 = np.iinfo(np.uint16).max


# --------------------------------------------------------------------------- frames


def _ranges(numbers: Sequence[int]) -> str:
    """``[1, 2, 3, 7, 9, 10]`` -> ``'1-3, 7, 9-10'``."""
    parts: list[str] = []
    start = prev = None
    for n in [*numbers, None]:
        if start is not None and (n is None or n != prev + 1):
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if start is None and n is not None:
            start = n
        prev = n
    return ", ".join(parts)


def list_frames(
    folder: str | os.PathLike, *, prefix: str | None = None, contiguous: bool = False
) -> list[tuple[int, Path]]:
    """List the CTC frame files of a folder, sorted by frame number.

    Parameters
    ----------
    folder
        A CTC folder (``NN``, ``NN_GT/TRA``, ``NN_GT/SEG`` or a result folder).
    prefix
        Only files with this prefix (one of :data:`FRAME_PREFIXES`). By default the folder's
        files must all share one prefix.
    contiguous
        Require the frame numbers to have no gaps; missing frames are named in the error.

    Returns
    -------
    list of (int, Path)
        ``(frame number, path)`` pairs. Names are ``<prefix><3 to 6 digits>.tif``.

    Raises
    ------
    InputError
        The folder is not a folder, holds no frame files, mixes prefixes, holds the same
        frame twice (``t001.tif`` and ``t0001.tif``), or has gaps when ``contiguous``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, tifffile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for t in (0, 1, 2):
    ...     tifffile.imwrite(d / f"t{t:04d}.tif", np.zeros((4, 4), np.uint8))
    >>> [(t, p.name) for t, p in list_frames(d)]
    [(0, 't0000.tif'), (1, 't0001.tif'), (2, 't0002.tif')]
    """
    folder = Path(folder)
    if not folder.exists():
        raise MissingInputError(f"{folder}: CTC folder does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder}: expected a CTC folder of frame files, got a file")
    if prefix is not None and prefix not in FRAME_PREFIXES:
        raise InputError(f"prefix {prefix!r}: expected one of {', '.join(FRAME_PREFIXES)}")
    found: dict[str, dict[int, Path]] = {}
    for path in folder.iterdir():
        match = _FRAME_RE.match(path.name)
        if match is None or not path.is_file():
            continue
        pre, number = match.group(1), int(match.group(2))
        if prefix is not None and pre != prefix:
            continue
        frames = found.setdefault(pre, {})
        if number in frames:
            raise InputError(
                f"{folder}: frame {number} appears twice ({frames[number].name} and {path.name})"
            )
        frames[number] = path
    if not found:
        wanted = f"{prefix}TTT.tif" if prefix else "tTTT/man_trackTTT/man_segTTT/maskTTT.tif"
        raise InputError(f"{folder}: no CTC frame files ({wanted}, TTT = 3 to 6 digits) in this folder")
    if len(found) > 1:
        raise InputError(
            f"{folder}: mixes frame files with prefixes {', '.join(sorted(found))}; pass prefix= to pick one"
        )
    frames = found.popitem()[1]
    numbers = sorted(frames)
    if contiguous:
        missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
        if missing:
            raise InputError(
                f"{folder}: frames {numbers[0]}-{numbers[-1]} are not contiguous; "
                f"missing frame(s) {_ranges(missing)}"
            )
    return [(n, frames[n]) for n in numbers]


def _select(
    folder: Path, frames: Sequence[int] | None, prefix: str | None, contiguous: bool
) -> list[tuple[int, Path]]:
    listing = list_frames(folder, prefix=prefix, contiguous=contiguous and frames is None)
    if frames is None:
        return listing
    by_number = dict(listing)
    missing = [int(t) for t in frames if int(t) not in by_number]
    if missing:
        raise InputError(f"{folder}: requested frame(s) {_ranges(sorted(set(missing)))} not found")
    return [(int(t), by_number[int(t)]) for t in frames]


def iter_frames(
    folder: str | os.PathLike,
    *,
    frames: Sequence[int] | None = None,
    prefix: str | None = None,
    contiguous: bool = True,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame number, array)`` for each frame of a CTC folder, one file at a time.

    The variant of :func:`read_frames` for sequences too large to stack in memory. 2D frames
    are ``(y, x)``, 3D frames ``(z, y, x)`` (one TIFF page per z slice).

    Parameters
    ----------
    folder, prefix
        As in :func:`list_frames`.
    frames
        Frame numbers to read, in this order; default all.
    contiguous
        With ``frames=None``, require the folder's frames to have no gaps.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "01"
    >>> write_frames(d, np.arange(24, dtype=np.uint16).reshape(2, 3, 4))
    >>> [(t, a.shape) for t, a in iter_frames(d)]
    [(0, (3, 4)), (1, (3, 4))]
    """
    folder = Path(folder)
    for number, path in _select(folder, frames, prefix, contiguous):
        try:
            image = tifffile.imread(path)
        except Exception as err:  # tifffile raises several types for broken files
            raise InputError(f"{path}: cannot read TIFF frame ({err})") from err
        if image.ndim not in (2, 3):
            raise InputError(f"{path}: expected a 2D (y, x) or 3D (z, y, x) frame, got shape {image.shape}")
        yield number, image


def read_frames(
    folder: str | os.PathLike,
    *,
    frames: Sequence[int] | None = None,
    prefix: str | None = None,
    contiguous: bool = True,
) -> np.ndarray:
    """Read the frames of a CTC folder into one ``(t, [z,] y, x)`` array.

    Parameters
    ----------
    folder
        A CTC folder; see :func:`list_frames`.
    frames
        Frame numbers to read, in this order; default all frames of the folder.
    prefix
        Only files with this prefix; see :func:`list_frames`.
    contiguous
        With ``frames=None``, raise :class:`~gputrack.errors.InputError` naming the missing
        frames when the numbering has gaps (pass False for sparse folders such as ``SEG``).

    Returns
    -------
    ndarray
        Frames stacked along a new first axis, in the files' dtype. Use :func:`iter_frames`
        to stream large sequences.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "01"
    >>> write_frames(d, np.zeros((3, 2, 5, 6), np.uint16))   # 3 frames of (z, y, x)
    >>> read_frames(d).shape
    (3, 2, 5, 6)
    """
    folder = Path(folder)
    selected = [number for number, _ in _select(folder, frames, prefix, contiguous)]
    out = None  # filled in place (no list of frames copied by a final stack)
    for k, (number, image) in enumerate(iter_frames(folder, frames=selected, prefix=prefix)):
        if out is None:
            out = np.empty((len(selected), *image.shape), image.dtype)
        elif image.shape != out.shape[1:] or image.dtype != out.dtype:
            raise InputError(
                f"{folder}: frame {number} has shape {image.shape} {image.dtype}, "
                f"expected {out.shape[1:]} {out.dtype} like the first frame"
            )
        out[k] = image
    if out is None:
        raise InputError(f"{folder}: no frames selected")
    return out


# --------------------------------------------------------------------------- tracks


def _as_tracks(tracks: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    if isinstance(tracks, pd.DataFrame):
        missing = [c for c in TRACK_COLUMNS if c not in tracks.columns]
        if missing:
            raise InputError(f"track table: missing column(s) {', '.join(missing)}; expected {TRACK_COLUMNS}")
        table = tracks[TRACK_COLUMNS]
    else:
        array = np.asarray(tracks)
        if array.size == 0:
            array = array.reshape(0, 4)
        if array.ndim != 2 or array.shape[1] != 4:
            raise InputError(f"track table: expected shape (n, 4) L B E P, got {array.shape}")
        table = pd.DataFrame(array, columns=TRACK_COLUMNS)
    return table.astype(np.int64).reset_index(drop=True)


def read_tracks(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CTC track file (``man_track.txt`` or ``res_track.txt``).

    Parameters
    ----------
    path
        Text file with one line ``L B E P`` per track (label, begin, end, parent), separated
        by spaces or tabs. Blank lines are ignored.

    Returns
    -------
    DataFrame
        Columns ``label, begin, end, parent`` (int64), in file order.

    Raises
    ------
    InputError
        A line that is not four non-negative integers, a label of 0 or above 65535, an end
        before its begin, a repeated label, a parent that is not a label of the file or that
        does not end before its child begins. The message gives the line number.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "man_track.txt"
    >>> _ = p.write_text("1 0 4 0\\n2 5 9 1\\n3 5 7 1\\n")
    >>> read_tracks(p)
       label  begin  end  parent
    0      1      0    4       0
    1      2      5    9       1
    2      3      5    7       1
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: CTC track file not found")
    rows: list[tuple[int, int, int, int]] = []
    line_of: dict[int, int] = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{path}:{lineno}"
            if len(fields) != 4:
                raise InputError(f"{where}: expected 4 integers 'L B E P', got {line.strip()!r}")
            try:
                label, begin, end, parent = (int(f) for f in fields)
            except ValueError:
                raise InputError(f"{where}: expected 4 integers 'L B E P', got {line.strip()!r}") from None
            if not 0 < label <= _MAX_UINT16:
                raise InputError(f"{where}: label {label} out of range 1-65535")
            if begin < 0 or end < begin:
                raise InputError(f"{where}: track {label} has begin {begin}, end {end}; expected 0 <= B <= E")
            if parent < 0 or parent == label:
                raise InputError(f"{where}: track {label} has invalid parent {parent}")
            if label in line_of:
                raise InputError(f"{where}: label {label} already defined on line {line_of[label]}")
            line_of[label] = lineno
            rows.append((label, begin, end, parent))
    table = _as_tracks(np.array(rows, dtype=np.int64))
    ends = dict(zip(table["label"].tolist(), table["end"].tolist()))
    for label, begin, _, parent in rows:
        if parent == 0:
            continue
        where = f"{path}:{line_of[label]}"
        if parent not in ends:
            raise InputError(f"{where}: track {label} has parent {parent}, which is not a track of the file")
        if ends[parent] >= begin:
            raise InputError(
                f"{where}: track {label} begins at frame {begin} "
                f"but its parent {parent} ends at {ends[parent]}"
            )
    return table


def write_tracks(
    path: str | os.PathLike, tracks: pd.DataFrame | np.ndarray, *, overwrite: bool = False
) -> None:
    """Write a CTC track table as ``L B E P`` lines (atomically).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "res_track.txt"
    >>> write_tracks(p, np.array([[1, 0, 3, 0], [2, 4, 5, 1]]))
    >>> p.read_text()
    '1 0 3 0\\n2 4 5 1\\n'
    """
    table = _as_tracks(tracks)
    text = "".join(f"{a} {b} {c} {d}\n" for a, b, c, d in table.itertuples(index=False))
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")


def lineage_summary(tracks: pd.DataFrame | np.ndarray) -> dict[str, int | float]:
    """Count tracks, divisions and lineages of a CTC track table.

    Parameters
    ----------
    tracks
        Track table (``label, begin, end, parent``), e.g. from :func:`read_tracks`.

    Returns
    -------
    dict
        ``n_tracks``; ``n_divisions`` (parents with two or more children);
        ``n_single_child_parents`` (parents with exactly one child: a gap or a lost sister);
        ``n_multi_child_parents`` (parents with three or more children);
        ``n_roots`` (tracks without parent, i.e. lineages); ``n_leaves`` (tracks without
        children); ``n_gap_links`` (children that begin more than one frame after their
        parent ends); ``first_frame``, ``last_frame``, ``n_frames`` (frames covered);
        ``mean_length`` (mean number of frames per track); ``max_depth`` (generations in the
        deepest lineage, 1 for a lone track).

    Examples
    --------
    >>> import numpy as np
    >>> s = lineage_summary(np.array([[1, 0, 4, 0], [2, 5, 9, 1], [3, 5, 9, 1], [4, 0, 9, 0]]))
    >>> s["n_tracks"], s["n_divisions"], s["n_roots"], s["n_frames"], s["max_depth"]
    (4, 1, 2, 10, 2)
    """
    table = _as_tracks(tracks)
    if table.empty:
        return {
            "n_tracks": 0, "n_divisions": 0, "n_single_child_parents": 0, "n_multi_child_parents": 0,
            "n_roots": 0, "n_leaves": 0, "n_gap_links": 0, "first_frame": -1, "last_frame": -1,
            "n_frames": 0, "mean_length": 0.0, "max_depth": 0,
        }
    labels = table["label"].to_numpy()
    parents = table["parent"].to_numpy()
    has_parent = parents > 0
    children = pd.Series(parents[has_parent]).value_counts()
    ends = dict(zip(labels.tolist(), table["end"].tolist()))
    begins = table["begin"].tolist()
    gap_links = sum(1 for b, p in zip(begins, parents.tolist()) if p in ends and b > ends[p] + 1)
    parent_of = dict(zip(labels.tolist(), parents.tolist()))
    depth: dict[int, int] = {}
    for label in labels.tolist():
        chain = []
        node = label
        while node not in depth and node in parent_of and len(chain) <= len(labels):
            chain.append(node)
            node = parent_of[node]
        base = depth.get(node, 0)
        for offset, n in enumerate(reversed(chain), start=1):
            depth[n] = base + offset
    first, last = int(table["begin"].min()), int(table["end"].max())
    return {
        "n_tracks": int(len(table)),
        "n_divisions": int((children >= 2).sum()),
        "n_single_child_parents": int((children == 1).sum()),
        "n_multi_child_parents": int((children >= 3).sum()),
        "n_roots": int((~has_parent).sum()),
        "n_leaves": int(len(set(labels.tolist()) - set(children.index.tolist()))),
        "n_gap_links": int(gap_links),
        "first_frame": first,
        "last_frame": last,
        "n_frames": last - first + 1,
        "mean_length": float((table["end"] - table["begin"] + 1).mean()),
        "max_depth": int(max(depth.values())),
    }


def _labels_per_frame(masks: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    present = []
    for t in range(len(masks)):
        frame = np.asarray(masks[t])
        if frame.dtype.kind not in "iu":
            raise InputError(f"masks: frame {t} has dtype {frame.dtype}; expected integer labels")
        if frame.dtype.kind == "i" and frame.size and frame.min() < 0:
            raise InputError(f"masks: frame {t} has negative label {int(frame.min())}")
        # the foreground first (label images are mostly background), then a flag per label
        fg = frame[frame > 0]
        flag = np.zeros(int(fg.max()) + 1 if fg.size else 1, bool)
        flag[fg] = True
        present.append(np.flatnonzero(flag))
    return present


def tracks_from_masks(
    masks: Sequence[np.ndarray] | np.ndarray,
    parents: Mapping[int, int] | None = None,
    *,
    first_frame: int = 0,
) -> pd.DataFrame:
    """Build the CTC track table of a sequence of label masks.

    Parameters
    ----------
    masks
        ``(t, [z,] y, x)`` integer labels (or a sequence of frames); label = track id.
    parents
        ``{child label: parent label}`` for division daughters (and gap links).
    first_frame
        Frame number of ``masks[0]``.

    Returns
    -------
    DataFrame
        ``label, begin, end, parent`` (int64) sorted by label; ``begin``/``end`` are the
        first and last frames in which the label appears. A label absent from some frame in
        between is not split here; :func:`check_tracks` reports such gaps.

    Raises
    ------
    InputError
        A parent or child of ``parents`` that is not a label of the masks.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((4, 5, 5), np.uint16)
    >>> m[:2, 1, 1] = 1; m[2:, 1, 1] = 2; m[2:, 3, 3] = 3
    >>> tracks_from_masks(m, {2: 1, 3: 1}).values.tolist()
    [[1, 0, 1, 0], [2, 2, 3, 1], [3, 2, 3, 1]]
    """
    begin: dict[int, int] = {}
    end: dict[int, int] = {}
    for t, labels in enumerate(_labels_per_frame(masks)):
        for label in labels.tolist():
            begin.setdefault(label, t + first_frame)
            end[label] = t + first_frame
    parents = dict(parents or {})
    for child, parent in parents.items():
        if child not in begin:
            raise InputError(f"parents: child {child} is not a label of the masks")
        if parent and parent not in begin:
            raise InputError(f"parents: parent {parent} of {child} is not a label of the masks")
    rows = [(label, begin[label], end[label], int(parents.get(label, 0))) for label in sorted(begin)]
    return _as_tracks(np.array(rows, dtype=np.int64).reshape(-1, 4))


def _tracks_consistent(present: list[np.ndarray], table: pd.DataFrame, first_frame: int) -> bool:
    """Whether :func:`check_tracks` finds nothing, decided on arrays (the messages need loops)."""
    labels = np.concatenate(present) if present else np.zeros(0, np.int64)
    frames = np.repeat(np.arange(len(present)) + first_frame, [p.size for p in present])
    label, begin, end, parent = (table[c].to_numpy(np.int64) for c in ("label", "begin", "end", "parent"))
    if np.unique(label).size != label.size or np.any(end < begin):
        return False
    order = np.argsort(label, kind="stable")
    label, begin, end, parent = label[order], begin[order], end[order], parent[order]
    row = np.searchsorted(label, labels)
    if np.any(row >= label.size) or np.any(label[np.minimum(row, label.size - 1)] != labels):
        return False  # a label of the masks without a track
    if np.any((frames < begin[row]) | (frames > end[row])):
        return False  # present outside [begin, end]
    # each label appears at most once per frame, so inside [begin, end] every frame is seen
    # exactly when the count is the length of the range
    if np.any(np.bincount(row, minlength=label.size) != end - begin + 1):
        return False
    has = parent != 0
    prow = np.searchsorted(label, parent[has])
    if np.any(prow >= label.size) or np.any(label[np.minimum(prow, label.size - 1)] != parent[has]):
        return False
    return not np.any(end[prow] >= begin[has])


def check_tracks(
    masks: Sequence[np.ndarray] | np.ndarray, tracks: pd.DataFrame | np.ndarray, *, first_frame: int = 0
) -> list[str]:
    """List the inconsistencies between label masks and a CTC track table.

    A CTC-valid pair has every label of the masks in the table, every track present in
    exactly the frames ``[begin, end]``, and parents that end before their children begin.

    Returns
    -------
    list of str
        One line per problem; empty when the pair is consistent.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((3, 4, 4), np.uint16); m[0, 0, 0] = m[2, 0, 0] = 1
    >>> check_tracks(m, np.array([[1, 0, 2, 0]]))
    ['track 1: absent from frame(s) 1 inside [0, 2]']
    """
    table = _as_tracks(tracks)
    present = _labels_per_frame(masks)
    if _tracks_consistent(present, table, first_frame):
        return []
    problems: list[str] = []
    frames_of: dict[int, list[int]] = {}
    for t, labels in enumerate(present):
        for label in labels.tolist():
            frames_of.setdefault(label, []).append(t + first_frame)
    known = set(table["label"].tolist())
    for label in sorted(set(frames_of) - known):
        frames = _ranges(frames_of[label])
        problems.append(f"label {label}: in the masks (frames {frames}) but not in the tracks")
    ends = dict(zip(table["label"].tolist(), table["end"].tolist()))
    for label, begin, end, parent in table.itertuples(index=False):
        seen = frames_of.get(label, [])
        if not seen:
            problems.append(f"track {label}: in the tracks but in no mask frame")
            continue
        outside = [t for t in seen if t < begin or t > end]
        if outside:
            problems.append(f"track {label}: present in frame(s) {_ranges(outside)} outside [{begin}, {end}]")
        absent = sorted(set(range(begin, end + 1)) - set(seen))
        if absent:
            problems.append(f"track {label}: absent from frame(s) {_ranges(absent)} inside [{begin}, {end}]")
        if parent and parent not in ends:
            problems.append(f"track {label}: parent {parent} is not a track")
        elif parent and ends[parent] >= begin:
            problems.append(f"track {label}: begins at {begin} but parent {parent} ends at {ends[parent]}")
    return problems


# --------------------------------------------------------------------------- ground truth


@dataclass
class CtcGroundTruth:
    """A CTC ground-truth folder (``NN_GT``) read by :func:`read_ctc_gt`.

    Attributes
    ----------
    tra
        ``(t, [z,] y, x)`` TRA label masks; label = track id.
    tracks
        The ``man_track.txt`` table (``label, begin, end, parent``).
    frames
        Frame numbers of ``tra`` (``tra[i]`` is frame ``frames[i]``).
    seg_frames
        ``(frame number, path)`` of the SEG ground truth (often only some frames); empty
        when the folder has no ``SEG``. Read them with ``read_frames(folder / "SEG", contiguous=False)``.
    folder
        The ground-truth folder.
    """

    tra: np.ndarray
    tracks: pd.DataFrame
    frames: list[int]
    seg_frames: list[tuple[int, Path]]
    folder: Path


def read_ctc_gt(folder: str | os.PathLike) -> CtcGroundTruth:
    """Read a CTC ground-truth folder: TRA masks, ``man_track.txt`` and the SEG frame list.

    Parameters
    ----------
    folder
        The ``NN_GT`` folder (holding ``TRA/`` and optionally ``SEG/``).

    Returns
    -------
    CtcGroundTruth

    Raises
    ------
    InputError
        Missing ``TRA`` folder or ``man_track.txt``, gaps in the TRA frames, malformed tracks.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> gt = pathlib.Path(tempfile.mkdtemp()) / "01_GT"
    >>> m = np.zeros((2, 6, 6), np.uint16); m[:, 1:3, 1:3] = 1
    >>> write_ctc(gt / "TRA", m, tracks_from_masks(m), prefix="man_track", track_file="man_track.txt")
    >>> g = read_ctc_gt(gt)
    >>> g.tra.shape, g.frames, g.tracks.values.tolist(), g.seg_frames
    ((2, 6, 6), [0, 1], [[1, 0, 1, 0]], [])
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingInputError(f"{folder}: CTC ground-truth folder (NN_GT) not found")
    tra_dir = folder / "TRA"
    if not tra_dir.is_dir():
        raise MissingInputError(f"{folder}: no TRA folder; expected a CTC ground-truth folder (NN_GT)")
    tracks = read_tracks(tra_dir / "man_track.txt")
    listing = list_frames(tra_dir, prefix="man_track", contiguous=True)
    tra = read_frames(tra_dir, prefix="man_track")
    seg_dir = folder / "SEG"
    seg_frames = list_frames(seg_dir, prefix="man_seg") if seg_dir.is_dir() else []
    return CtcGroundTruth(
        tra=tra, tracks=tracks, frames=[t for t, _ in listing], seg_frames=seg_frames, folder=folder
    )


# --------------------------------------------------------------------------- writing


def _frame_digits(n_frames: int, digits: int) -> int:
    if not 3 <= digits <= 6:
        raise InputError(f"digits={digits}: CTC frame numbers have 3 to 6 digits")
    needed = len(str(max(n_frames - 1, 0)))
    if needed > 6:
        raise InputError(f"{n_frames} frames: CTC frame numbers have at most 6 digits")
    return max(digits, needed)


def _write_pages(path: Path, image: np.ndarray) -> None:
    if image.ndim not in (2, 3):
        raise InputError(f"{path.name}: expected a 2D (y, x) or 3D (z, y, x) frame, got shape {image.shape}")
    # 3D frames: one page per z slice, as the CTC expects (not ilastik's pages along x).
    tifffile.imwrite(path, np.ascontiguousarray(image), photometric="minisblack")


def _write_frames_into(folder: Path, images, prefix: str, digits: int) -> None:
    width = _frame_digits(len(images), digits)
    shape = None
    for t in range(len(images)):
        image = np.asarray(images[t])
        if shape is not None and image.shape != shape:
            raise InputError(f"frame {t}: shape {image.shape} differs from frame 0's {shape}")
        shape = image.shape
        _write_pages(folder / f"{prefix}{t:0{width}d}.tif", image)


def write_frames(
    folder: str | os.PathLike,
    images: Sequence[np.ndarray] | np.ndarray,
    *,
    prefix: str = "t",
    digits: int = 3,
    overwrite: bool = False,
) -> None:
    """Write a ``(t, [z,] y, x)`` sequence as CTC frame files ``<prefix>TTT.tif`` (atomically).

    Parameters
    ----------
    folder
        Output folder, created as a whole (an existing one is replaced only with ``overwrite``).
    images
        Frames in any dtype (raw data keeps its dtype); 3D frames become one page per z slice.
    prefix
        ``"t"`` for raw frames; see :data:`FRAME_PREFIXES`.
    digits
        Zero padding of the frame number; raised automatically when there are more frames.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "01"
    >>> write_frames(d, np.zeros((2, 4, 4), np.uint16), digits=4)
    >>> sorted(p.name for p in d.iterdir())
    ['t0000.tif', 't0001.tif']
    """
    if prefix not in FRAME_PREFIXES:
        raise InputError(f"prefix {prefix!r}: expected one of {', '.join(FRAME_PREFIXES)}")
    with atomic_output(folder, overwrite=overwrite, directory=True) as tmp:
        _write_frames_into(tmp, images, prefix, digits)


def _as_uint16_masks(masks) -> list[np.ndarray]:
    frames = []
    for t in range(len(masks)):
        frame = np.asarray(masks[t])
        if frame.dtype.kind == "f":
            if not np.all(np.isfinite(frame)) or np.any(frame != np.round(frame)):
                raise InputError(f"masks: frame {t} holds non-integer values; expected integer labels")
        elif frame.dtype.kind not in "iub":
            raise InputError(f"masks: frame {t} has dtype {frame.dtype}; expected integer labels")
        if frame.size:
            low, high = frame.min(), frame.max()
            if low < 0:
                raise InputError(f"masks: frame {t} has negative label {int(low)}")
            if high > _MAX_UINT16:
                raise InputError(
                    f"masks: frame {t} has label {int(high)}; CTC masks are uint16 (labels up to 65535)"
                )
        frames.append(frame.astype(np.uint16, copy=False))
    return frames


def write_ctc(
    folder: str | os.PathLike,
    masks: Sequence[np.ndarray] | np.ndarray,
    tracks: pd.DataFrame | np.ndarray | None,
    *,
    overwrite: bool = False,
    digits: int = 3,
    prefix: str = "mask",
    track_file: str | None = "res_track.txt",
    check: bool = True,
) -> None:
    """Write label masks and their track table as a CTC folder (atomically, as a whole).

    Parameters
    ----------
    folder
        Output folder (e.g. ``01_RES``); replaced only with ``overwrite``. A failed write
        leaves nothing behind.
    masks
        ``(t, y, x)`` or ``(t, z, y, x)`` labels (or a sequence of frames); label = track id.
        Written as uint16 ``<prefix>TTT.tif``, 3D frames as one page per z slice.
    tracks
        The ``label, begin, end, parent`` table; ``None`` derives it from the masks without
        parents (:func:`tracks_from_masks`).
    digits
        Zero padding of frame numbers (3 by default, more when the frames need it).
    prefix
        ``"mask"`` for results, ``"man_track"`` / ``"man_seg"`` for ground truth.
    track_file
        Name of the track file (``res_track.txt``, ``man_track.txt``), or None for none
        (a ``SEG`` folder).
    check
        Verify that masks and tracks agree (:func:`check_tracks`) before writing.

    Raises
    ------
    InputError
        Labels above 65535 or negative, non-integer masks, inconsistent masks and tracks.
    OutputExistsError
        ``folder`` exists and ``overwrite`` is false.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "01_RES"
    >>> m = np.zeros((2, 3, 6, 6), np.uint16); m[:, 1, 2:4, 2:4] = 5   # 3D
    >>> write_ctc(out, m, None)
    >>> read_frames(out).shape, (out / "res_track.txt").read_text()
    ((2, 3, 6, 6), '5 0 1 0\\n')
    """
    if prefix not in FRAME_PREFIXES:
        raise InputError(f"prefix {prefix!r}: expected one of {', '.join(FRAME_PREFIXES)}")
    frames = _as_uint16_masks(masks)
    if not frames:
        raise InputError("masks: no frames to write")
    if frames[0].ndim not in (2, 3):
        raise InputError(
            f"masks: expected (t, y, x) or (t, z, y, x) labels, got frames of shape {frames[0].shape}"
        )
    table = tracks_from_masks(frames) if tracks is None else _as_tracks(tracks)
    if check and tracks is not None:
        problems = check_tracks(frames, table)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise InputError(f"{folder}: masks and tracks disagree: {problems[0]}{more}")
    if len(table) and table["label"].max() > _MAX_UINT16:
        top = int(table["label"].max())
        raise InputError(f"tracks: label {top} above 65535 does not fit CTC uint16 masks")
    with atomic_output(folder, overwrite=overwrite, directory=True) as tmp:
        _write_frames_into(tmp, frames, prefix, digits)
        if track_file is not None:
            write_tracks(tmp / track_file, table)


def restrict_ground_truth(
    gt: CtcGroundTruth, first: int, stop: int, out: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Write the TRA ground truth of frames ``first .. stop - 1`` renumbered from 0 as ``out``.

    What a result of the same frames is scored against (CTC results are numbered from 0):
    tracks are clipped to the range, and a daughter whose mother ends before ``first`` loses
    its parent. Returns ``out`` (a ``NN_GT`` folder holding ``TRA``).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> m = np.zeros((3, 6, 6), np.uint16); m[:, 1:3, 1:3] = 1
    >>> write_ctc(root / "01_GT" / "TRA", m, tracks_from_masks(m), prefix="man_track",
    ...           track_file="man_track.txt")
    >>> part = restrict_ground_truth(read_ctc_gt(root / "01_GT"), 1, 3, root / "part_GT")
    >>> read_ctc_gt(part).tracks.values.tolist()
    [[1, 0, 1, 0]]
    """
    first_frame = gt.frames[0]
    if not (first_frame <= first < stop <= gt.frames[-1] + 1):
        raise InputError(
            f"{gt.folder}: frames {first}:{stop} outside the ground truth's {first_frame}:{gt.frames[-1] + 1}"
        )
    t = gt.tracks
    keep = t[(t["end"] >= first) & (t["begin"] < stop)].copy()
    alive = set(keep["label"].tolist())
    keep["begin"] = np.maximum(keep["begin"], first) - first
    keep["end"] = np.minimum(keep["end"], stop - 1) - first
    keep["parent"] = [p if p in alive else 0 for p in keep["parent"].tolist()]
    masks = gt.tra[first - first_frame : stop - first_frame]
    out = Path(out)
    write_ctc(out / "TRA", masks, keep.reset_index(drop=True), prefix="man_track", track_file="man_track.txt",
              overwrite=overwrite)
    return out
