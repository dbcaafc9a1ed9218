"""ImageJ / Fiji lookup tables: Fiji's Glasbey LUT, ``.lut`` files and class -> RGB tables.

A lookup table maps the values 0-255 of a label or class image to RGB colours; a paletted
PNG written with one shows those colours in any viewer, and tools that pick objects by
colour (Nutil / PyNutil in the QUINT workflow) find them there.

- :func:`fiji_glasbey` is Fiji's ``glasbey.lut`` (Image > Lookup Tables > Glasbey; index 0
  white), entry for entry; ``fiji_glasbey(dark=True)`` is ``glasbey_on_dark.lut`` (index 0
  black). The 256 x 3 values ship with the package in ImageJ's raw binary format
  (``gputrack/io/luts/*.lut``); they were taken from Fiji's tables as transcribed in
  mastodon-sc/mastodon-tomancak, ``src/main/java/org/mastodon/mamut/tomancak/
  lineage_registration/Glasbey.java`` (commit c4b24ef), ARGB hex converted to RGB.
- :func:`read_lut` reads what ImageJ's ``LutLoader`` reads: a raw binary LUT (768 bytes:
  256 reds, 256 greens, 256 blues), an NIH Image LUT (a 32-byte ``ICOL`` header, then
  ``n`` reds, greens and blues, interpolated to 256 when ``n < 256``) and a text LUT (256
  rows of 3 columns ``r g b``, or 4 columns ``index r g b``, a header row allowed); and
  also a CSV table of class -> RGB (``class,r,g,b``, any subset of the values 0-255;
  values not listed are black).
- :func:`write_lut` writes a raw binary ``.lut`` that Fiji opens.

Examples
--------
>>> fiji_glasbey()[:3].tolist()
[[255, 255, 255], [0, 0, 255], [255, 0, 0]]
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingInputError
from .atomic import atomic_output

__all__ = ["BUILTIN_LUTS", "fiji_glasbey", "lut_palette", "read_lut", "segmentation_palette", "write_lut"]

#: LUTs shipped with the package, by the name ``--lut`` accepts.
BUILTIN_LUTS = ("glasbey", "glasbey_on_dark")
_ICOL = 0x49434F4C  # 'ICOL', the NIH Image LUT magic number


def _builtin(name: str) -> np.ndarray:
    data = resources.files("gputrack.io").joinpath("luts", f"{name}.lut").read_bytes()
    return _raw_lut(data)


def fiji_glasbey(*, dark: bool = False) -> np.ndarray:
    """Fiji's Glasbey lookup table, entry for entry.

    Parameters
    ----------
    dark
        ``glasbey_on_dark.lut`` (index 0 black) instead of ``glasbey.lut`` (index 0 white).

    Returns
    -------
    numpy.ndarray
        ``(256, 3)`` uint8 RGB; row ``k`` is the colour of value ``k``.

    Examples
    --------
    >>> fiji_glasbey(dark=True)[:2].tolist()
    [[0, 0, 0], [255, 255, 0]]
    """
    return _builtin("glasbey_on_dark" if dark else "glasbey")


def _raw_lut(data: bytes) -> np.ndarray:
    return np.frombuffer(data[:768], np.uint8).reshape(3, 256).T.copy()


def _interpolate(rgb: np.ndarray) -> np.ndarray:
    """Stretch ``n < 256`` colours to 256 as ImageJ does (linear between neighbours)."""
    n = rgb.shape[0]
    pos = np.arange(256) * (n / 256.0)
    i1 = pos.astype(np.int64)
    i2 = np.minimum(i1 + 1, n - 1)
    frac = (pos - i1)[:, None]
    return ((1.0 - frac) * rgb[i1] + frac * rgb[i2]).astype(np.uint8)


def _nih_lut(data: bytes, path: Path) -> np.ndarray | None:
    if len(data) < 32 or int.from_bytes(data[:4], "big") != _ICOL:
        return None
    n = int.from_bytes(data[6:8], "big", signed=True)
    if not 1 <= n <= 256 or len(data) < 32 + 3 * n:
        raise InputError(f"{path}: NIH Image LUT header says {n} colours; expected 1-256 and 3 x {n} bytes")
    rgb = np.frombuffer(data[32 : 32 + 3 * n], np.uint8).reshape(3, n).T
    return rgb.copy() if n == 256 else _interpolate(rgb)


def _text_rows(text: str, path: Path) -> list[list[float]]:
    rows = []
    for k, line in enumerate(text.splitlines()):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c for c in re.split(r"[,;\t ]+", line) if c]
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            if rows:  # only the first row may be a header
                raise InputError(f"{path}: line {k + 1} is not numbers: {line[:60]!r}") from None
    return rows


def _text_lut(text: str, path: Path) -> np.ndarray:
    rows = _text_rows(text, path)
    widths = {len(r) for r in rows}
    if not rows or len(widths) != 1 or widths.pop() not in (3, 4):
        raise InputError(
            f"{path}: expected rows of 3 columns (r g b) or 4 columns (index/class r g b), "
            f"one row per value"
        )
    table = np.asarray(rows, np.float64)
    if table.shape[1] == 3:
        if table.shape[0] > 256:
            raise InputError(f"{path}: {table.shape[0]} rows; a LUT has at most 256")
        index, rgb = np.arange(table.shape[0]), table
    else:
        index, rgb = table[:, 0], table[:, 1:]
        if np.any(index != np.round(index)) or index.min() < 0 or index.max() > 255:
            raise InputError(f"{path}: the first column must be values 0-255 (class ids)")
        if len(set(index.tolist())) != index.size:
            raise InputError(f"{path}: a value is listed twice in the first column")
    if np.any(rgb < 0) or np.any(rgb > 255) or np.any(rgb != np.round(rgb)):
        raise InputError(f"{path}: colours must be integers 0-255")
    out = np.zeros((256, 3), np.uint8)
    out[index.astype(np.int64)] = rgb.astype(np.uint8)
    return out


def read_lut(path: str | os.PathLike) -> np.ndarray:
    """Read an ImageJ ``.lut`` (binary, NIH Image or text) or a CSV table of class -> RGB.

    Parameters
    ----------
    path
        The file. The format is told from the content, as ImageJ does: exactly 768 bytes
        (or 970) is a raw binary LUT, an ``ICOL`` header an NIH Image LUT, anything else a
        text table (``.lut``, ``.txt``, ``.csv``; comma, semicolon, tab or space separated).

    Returns
    -------
    numpy.ndarray
        ``(256, 3)`` uint8 RGB, row ``k`` the colour of value ``k``.

    Raises
    ------
    MissingInputError
        The file does not exist.
    InputError
        The file is none of those formats (the message says what was expected).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "classes.csv").write_text("class,r,g,b\\n1,255,0,0\\n2,0,128,255\\n")
    >>> read_lut(d / "classes.csv")[:3].tolist()
    [[0, 0, 0], [255, 0, 0], [0, 128, 255]]
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: lookup table not found")
    data = path.read_bytes()
    if len(data) > 1_000_000:
        raise InputError(f"{path}: {len(data)} bytes is too large for a lookup table")
    nih = _nih_lut(data, path)
    if nih is not None:
        return nih
    if len(data) in (768, 970):
        return _raw_lut(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(
            f"{path}: not an ImageJ LUT (768-byte binary, NIH Image 'ICOL', or text) nor a CSV of "
            "class,r,g,b"
        ) from None
    return _text_lut(text, path)


def lut_palette(lut: str | os.PathLike | np.ndarray) -> np.ndarray:
    """A ``(256, 3)`` palette from a built-in LUT name, a LUT file or an array of colours.

    Examples
    --------
    >>> lut_palette("glasbey")[1].tolist()
    [0, 0, 255]
    """
    if isinstance(lut, np.ndarray):
        colours = np.asarray(lut)
        if colours.ndim != 2 or colours.shape[1] != 3 or not 1 <= colours.shape[0] <= 256:
            raise InputError(f"a palette must be (N, 3) colours with N <= 256, got shape {colours.shape}")
        out = np.zeros((256, 3), np.uint8)
        out[: colours.shape[0]] = np.clip(colours, 0, 255).astype(np.uint8)
        return out
    if isinstance(lut, str) and lut in BUILTIN_LUTS:
        return _builtin(lut)
    return read_lut(lut)


def segmentation_palette(
    glasbey: bool = False, lut: str | os.PathLike | np.ndarray | None = None
) -> np.ndarray | None:
    """The palette of a PNG class / label image: Fiji's Glasbey (``glasbey``), a LUT, or None.

    Parameters
    ----------
    glasbey
        Fiji's ``glasbey.lut`` (:func:`fiji_glasbey`).
    lut
        A built-in name (``glasbey``, ``glasbey_on_dark``), an ImageJ ``.lut`` or a CSV of
        class -> RGB (:func:`read_lut`), or an ``(N, 3)`` array.

    Examples
    --------
    >>> segmentation_palette(glasbey=True)[2].tolist()
    [255, 0, 0]
    >>> segmentation_palette() is None
    True
    """
    if glasbey and lut is not None:
        raise InputError("give either glasbey (--glasbey) or a lookup table (--lut), not both")
    if glasbey:
        return fiji_glasbey()
    return None if lut is None else lut_palette(lut)


def write_lut(path: str | os.PathLike, colours: np.ndarray, *, overwrite: bool = False) -> Path:
    """Write ``(256, 3)`` colours as a raw binary ImageJ ``.lut`` (768 bytes; Fiji opens it).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_lut(pathlib.Path(tempfile.mkdtemp()) / "g.lut", fiji_glasbey())
    >>> p.stat().st_size, bool((read_lut(p) == fiji_glasbey()).all())
    (768, True)
    """
    colours = np.asarray(colours)
    if colours.shape != (256, 3):
        raise InputError(f"{path}: a .lut holds (256, 3) colours, got shape {colours.shape}")
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(np.clip(colours, 0, 255).astype(np.uint8).T.tobytes())
    return Path(path)
