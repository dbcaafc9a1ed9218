"""Atomic outputs: write to a temporary sibling, rename on success, remove on failure.

Every file or folder gputrack writes goes through :func:`atomic_output`, so a failed run
leaves nothing partial behind and an existing output is never replaced unless
``overwrite=True``.

``overwrite`` replaces only gputrack's own output names. Overwriting a folder output moves
the new entries into the existing folder: an entry of the same name is replaced (a folder
is merged the same way), numbered frames of a family being written (``mask0040.tif``
beside a new ``mask0000.tif``) are removed so that no stale frame survives, and every other
file in the folder is kept. An empty existing folder counts as absent.

Example
-------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_output(d / "table.csv") as tmp:
...     _ = tmp.write_text("a,b\\n1,2\\n")
>>> (d / "table.csv").read_text()
'a,b\\n1,2\\n'
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputExistsError, OutputNotWritableError

_FRAME = re.compile(r"^(\D+?)(\d+)(\.[A-Za-z0-9.]+)$")


def _exists(path: Path) -> bool:
    """True when ``path`` exists, an empty folder counting as absent."""
    if path.is_dir() and not path.is_symlink():
        return any(path.iterdir())
    return path.exists() or path.is_symlink()


def check_writable(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check that ``path`` can be written; return it as a :class:`~pathlib.Path`.

    Raises :class:`OutputExistsError` when ``path`` exists (an empty folder does not count)
    and ``overwrite`` is false, and :class:`OutputNotWritableError` when neither ``path`` nor
    the nearest existing folder above it accepts a new file (probed by creating one).

    >>> import tempfile, pathlib
    >>> check_writable(pathlib.Path(tempfile.mkdtemp()) / "new" / "out.h5").name
    'out.h5'
    """
    path = Path(path)
    if _exists(path) and not overwrite:
        raise OutputExistsError(f"{path}: output exists; pass overwrite=True (--overwrite) to replace it")
    probe_writable(path)
    return path


def probe_writable(path: str | os.PathLike) -> None:
    """Raise :class:`OutputNotWritableError` unless a file can be created where ``path`` goes.

    Probes the nearest existing folder above ``path`` (outputs are written beside it, then
    renamed) and, when ``path`` is an existing folder, that folder too.
    """
    path = Path(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if folder.exists() and not folder.is_dir():
        raise OutputNotWritableError(f"{path}: {folder} is a file, not a folder; cannot write there")
    for where in [folder] + ([path] if path.is_dir() else []):
        try:
            fd, name = tempfile.mkstemp(prefix=".gputrack-probe-", dir=where)
        except OSError as err:
            raise OutputNotWritableError(
                f"{path}: cannot write in {where} ({err.strerror or err}); choose another output"
            ) from None
        os.close(fd)
        os.unlink(name)


def _is_zarr_store(path: Path) -> bool:
    """True for a Zarr v2 or v3 store root (what a store writer makes), not a user's folder."""
    return any((path / name).is_file() for name in ("zarr.json", ".zgroup", ".zarray"))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _frame_family(name: str) -> tuple[str, str] | None:
    """``("mask", ".tif")`` for a numbered frame ``mask0007.tif``; None for other names."""
    m = _FRAME.match(name)
    return (m.group(1), m.group(3)) if m else None


def _check_merge(tmp: Path, final: Path) -> None:
    """Raise before anything moves when an entry of ``tmp`` would replace a folder by a file."""
    for entry in tmp.iterdir():
        target = final / entry.name
        if target.is_dir() and not target.is_symlink():
            if not entry.is_dir():
                raise OutputExistsError(
                    f"{target}: a folder where gputrack writes a file; move it away or choose another --out"
                )
            _check_merge(entry, target)


def _merge_into(tmp: Path, final: Path) -> None:
    """Move the entries of ``tmp`` into the existing folder ``final``, keeping every other file.

    Entries of the same name are replaced (folders merged the same way, recursively), and
    numbered frames of a family being written (``mask0040.tif`` beside new ``mask0000.tif``
    ...) are removed so no stale frame survives; nothing else in ``final`` is touched.
    """
    if not final.is_dir():
        raise OutputExistsError(f"{final}: exists and is not a folder; gputrack writes a folder there")
    _check_merge(tmp, final)
    entries = list(tmp.iterdir())
    names = {p.name for p in entries}
    families = {f for f in map(_frame_family, names) if f}
    for old in list(final.iterdir()):
        if old.name not in names and _frame_family(old.name) in families and old.is_file():
            old.unlink()
    for entry in entries:
        target = final / entry.name
        if entry.is_dir() and target.is_dir() and not target.is_symlink():
            _merge_into(entry, target)
            continue
        os.replace(entry, target)
    _remove(tmp)


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike, *, overwrite: bool = False, directory: bool = False
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it to ``path`` when the block succeeds.

    Parameters
    ----------
    path
        Final output path (file, or folder when ``directory=True``).
    overwrite
        Replace an existing output. Without it an existing output raises
        :class:`~gputrack.errors.OutputExistsError` before anything is written.
    directory
        Create the temporary path as an empty folder (for multi-file outputs such as a
        CTC result folder or a Zarr store).

    The temporary name keeps the suffix of ``path`` so writers that dispatch on it work.
    """
    final = check_writable(path, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.tmp-{uuid.uuid4().hex[:8]}{final.suffix}")
    if directory:
        tmp.mkdir()
    try:
        yield tmp
        if _exists(final) and not overwrite:  # appeared meanwhile
            raise OutputExistsError(f"{final}: output exists; pass overwrite=True (--overwrite) to replace")
        if final.is_dir() and not final.is_symlink() and _is_zarr_store(tmp) and _is_zarr_store(final):
            # a Zarr store (geff, OME-Zarr, .zarr) replaces the old store whole: merging its chunk
            # folders would leave stale chunks of a larger earlier result
            aside = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(final, aside)
            os.replace(tmp, final)
            _remove(aside)
            return
        if directory and final.exists():
            _merge_into(tmp, final)
            return
        if final.is_dir() and not final.is_symlink():
            raise OutputExistsError(f"{final}: is a folder; gputrack writes a file there")
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise
