"""The saved tracking result: HDF5 round trip, format version, exports without re-solving."""

import h5py
import numpy as np
import pandas as pd
import pytest

from gputrack.errors import InputError, MissingInputError, OutputExistsError
from gputrack.export import tracking_table, write_ctc
from gputrack.io.ctc import read_frames
from gputrack.tracking import (
    FORMAT_VERSION,
    TrackingParameters,
    constraint_violations,
    load_result,
    save_result,
    total_energy,
    track_labels,
)
from tests.test_tracking_mergers import merger_movie


@pytest.fixture(scope="module")
def result():
    frames, _ = merger_movie()
    return track_labels(frames, params=TrackingParameters(max_objects=2, appearance_cost=300))


def test_round_trip_restores_every_array(tmp_path, result):
    path = tmp_path / "track.h5"
    save_result(path, result)
    back = load_result(path)
    assert back.params == result.params and back.start == result.start
    a, b = result.solution, back.solution
    for name in ("count", "appearance", "disappearance", "link_value", "division"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for name in ("t", "positions", "src", "dst", "distance"):
        np.testing.assert_array_equal(getattr(a.graph, name), getattr(b.graph, name))
    for name in ("detection", "appearance", "disappearance", "link", "division", "division_allowed"):
        np.testing.assert_array_equal(getattr(a.energies, name), getattr(b.energies, name))
    assert b.graph.scales == a.graph.scales
    assert (b.energy, b.solver, b.optimal, b.bound) == (a.energy, a.solver, a.optimal, a.bound)
    # the energy stored is the energy of the stored labelling (independent recomputation)
    assert b.energy == pytest.approx(total_energy(b.energies, b.count, b.appearance, b.disappearance,
                                                  b.link_value, b.division))
    assert constraint_violations(b) == []
    pd.testing.assert_frame_equal(back.lineage, result.lineage)
    pd.testing.assert_frame_equal(back.detections, result.detections)
    assert back.detections.attrs["shape"] == result.detections.attrs["shape"]
    for x, y in zip(back.label_frames, result.label_frames):
        np.testing.assert_array_equal(x, y)
    # exports from the loaded file equal those of the live result
    pd.testing.assert_frame_equal(tracking_table(back), tracking_table(result))
    write_ctc(back, tmp_path / "a")
    write_ctc(result, tmp_path / "b")
    np.testing.assert_array_equal(read_frames(tmp_path / "a"), read_frames(tmp_path / "b"))
    with h5py.File(path) as f:
        assert f.attrs["format_version"] == FORMAT_VERSION
        assert "gputrack_version" in f.attrs


def test_other_format_version_and_bad_files_are_one_line_errors(tmp_path, result):
    path = tmp_path / "track.h5"
    save_result(path, result)
    with pytest.raises(OutputExistsError):
        save_result(path, result)
    save_result(path, result, overwrite=True)
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    expected = f"version {FORMAT_VERSION + 1}.*reads version {FORMAT_VERSION}"
    with pytest.raises(InputError, match=expected) as err:
        load_result(path)
    assert "\n" not in str(err.value)
    with pytest.raises(MissingInputError):
        load_result(tmp_path / "nope.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(InputError, match="not a gputrack tracking result"):
        load_result(tmp_path / "other.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.h5", "track.h5"]  # no temp files left


def test_label_path_reference(tmp_path):
    frames = np.zeros((3, 20, 20), np.uint16)
    frames[:, 4:8, 4:8] = 1
    res = track_labels(frames)
    write_ctc(res, tmp_path / "RES")
    save_result(tmp_path / "r.h5", res, label_path=tmp_path / "RES")
    back = load_result(tmp_path / "r.h5")
    assert back.label_frames is None and back.label_path == str(tmp_path / "RES")
    write_ctc(back, tmp_path / "RES2")  # frames read from the referenced folder
    np.testing.assert_array_equal(read_frames(tmp_path / "RES2"), read_frames(tmp_path / "RES"))


def test_label_path_refused_with_resolved_mergers(tmp_path, result):
    with pytest.raises(InputError, match="merger"):
        save_result(tmp_path / "r.h5", result, label_path=tmp_path)
    assert not (tmp_path / "r.h5").exists()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int64])
@pytest.mark.parametrize("shape", [(4, 37, 53), (3, 5, 17, 11)])
def test_label_frames_chunks_read_back_through_hdf5s_filters(tmp_path, dtype, shape):
    # the frames are compressed here (shuffle + zlib), written as raw chunks: HDF5's own gzip and
    # shuffle filters must read them back, and the chunks equal those h5py itself writes
    from gputrack.tracking.result import _write_gzip_frames

    rng = np.random.default_rng(3)
    high = 200 if dtype == np.uint8 else 300
    frames = [rng.integers(0, high, shape[1:]).astype(dtype) for _ in range(shape[0])]
    with h5py.File(tmp_path / "a.h5", "w") as f:
        kw = dict(shape=shape, dtype=dtype, compression="gzip", compression_opts=1, shuffle=True,
                  chunks=(1, *shape[1:]))
        ours = f.create_dataset("ours", **kw)
        _write_gzip_frames(ours, frames)
        theirs = f.create_dataset("theirs", **kw)
        for k, fr in enumerate(frames):
            theirs[k] = fr
    with h5py.File(tmp_path / "a.h5") as f:
        np.testing.assert_array_equal(f["ours"][()], np.stack(frames))
        tail = (0,) * (len(shape) - 1)
        for k in range(shape[0]):
            assert f["ours"].id.read_direct_chunk((k, *tail)) == f["theirs"].id.read_direct_chunk((k, *tail))
    with h5py.File(tmp_path / "b.h5", "w") as f:
        ds = f.create_dataset("x", shape=(2, 4, 4), dtype=np.uint16, compression="gzip", compression_opts=1,
                              shuffle=True, chunks=(1, 4, 4))
        with pytest.raises(InputError, match="one shape"):
            _write_gzip_frames(ds, [np.zeros((4, 4), np.uint16), np.zeros((4, 5), np.uint16)])
