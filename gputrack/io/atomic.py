"""Atomic outputs: write to a temporary sibling, rename on success, remove on failure.

Every file or folder gputrack writes goes through :func:`atomic_output`, so a failed run
leaves nothing partial behind and an existing output is never replaced unless
``overwrite=True``.

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
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputExistsError


def check_writable(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Raise :class:`OutputExistsError` when ``path`` exists and ``overwrite`` is false."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: output exists; pass overwrite=True (--overwrite) to replace it")
    return path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


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
        if final.exists():
            if not overwrite:  # appeared meanwhile
                raise OutputExistsError(
                    f"{final}: output exists; pass overwrite=True (--overwrite) to replace it"
                )
            _remove(final)
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise
