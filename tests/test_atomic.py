"""Atomic outputs: no partial files, no silent overwrite."""

from __future__ import annotations

import numpy as np
import pytest

from gputrack.errors import OutputExistsError
from gputrack.io.atomic import atomic_output


def test_file_written_atomically(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    with atomic_output(target) as tmp:
        assert tmp.suffix == ".txt" and tmp.parent == target.parent
        tmp.write_text("x")
        assert not target.exists()
    assert target.read_text() == "x"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_existing_output_needs_overwrite(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(OutputExistsError, match="a.txt.*overwrite"):
        with atomic_output(target):
            pass
    assert target.read_text() == "old"
    with atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_failure_leaves_nothing(tmp_path):
    target = tmp_path / "res"
    with pytest.raises(RuntimeError):
        with atomic_output(target, directory=True) as tmp:
            (tmp / "mask000.tif").write_bytes(b"123")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_the_old_output(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target, overwrite=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_overwrite_of_a_zarr_store_leaves_no_stale_chunks(tmp_path):
    """A smaller array written over a larger one: the old store's extra chunks must not survive
    (a folder merge would keep them and a reader of the new store would never notice)."""
    import zarr

    out = tmp_path / "a.zarr"
    with atomic_output(out, directory=True) as tmp:
        zarr.open_array(str(tmp), mode="w", shape=(8,), chunks=(2,), dtype="u1", zarr_format=2)[:] = 1
    with atomic_output(out, overwrite=True, directory=True) as tmp:
        zarr.open_array(str(tmp), mode="w", shape=(2,), chunks=(2,), dtype="u1", zarr_format=2)[:] = 2
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["0"]
    np.testing.assert_array_equal(zarr.open_array(str(out), mode="r")[:], [2, 2])
