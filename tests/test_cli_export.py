"""``gputrack export`` and ``gputrack track --export a,b,c``: every format from one command."""

from __future__ import annotations

import h5py
import pandas as pd
import pytest

from gputrack.cli import main
from gputrack.export.formats import FORMATS
from tests.test_cli import assert_one_line_error, run_cli

# what each format leaves in an output folder (default names of gputrack.export.formats)
EXPECTED = {
    "ctc": ["res_track.txt", "mask000.tif"],
    "csv": ["tracking.csv"],
    "images": ["images/Tracking-Result.h5"],
    "h5-events": ["events/00000.h5"],
    "json": ["tracking_graph.json", "tracking_result.json"],
    "mamut": ["tracking_mamut.xml", "tracking_bdv.xml", "tracking_bdv.h5"],
    "geff": ["tracking.geff"],
    "mwt": ["tracking.summary", "tracking.blobs"],
    "contours": ["tracking.outline"],
    "divisions-csv": ["divisions.csv"],
    "mergers-csv": ["mergers.csv"],
}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """A synthetic sequence tracked once with every export format."""
    tmp = tmp_path_factory.mktemp("cli_export")
    seq = tmp / "synth"
    assert main(["synth", "--out", str(seq), "--frames", "8", "--cells", "6", "--quiet"]) == 0
    res = tmp / "RES"
    code = main(["track", "--raw", str(seq / "01"), "--labels", str(seq / "01_GT" / "TRA"), "--out", str(res),
                 "--export", ",".join(FORMATS), "--quiet"])
    assert code == 0
    return seq, res


def test_every_format_is_expected_here():
    assert set(EXPECTED) == set(FORMATS)


def test_track_writes_every_format(tracked):
    _, res = tracked
    for name, files in EXPECTED.items():
        for f in files:
            assert (res / f).exists(), f"{name}: {f} missing"
    assert (res / "tracking_result.h5").is_file()


def test_export_from_saved_result_equals_track_exports(tracked, tmp_path):
    seq, res = tracked
    out = tmp_path / "again.csv"
    saved = str(res / "tracking_result.h5")
    assert main(["export", saved, "--format", "csv", "--out", str(out), "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(res / "tracking.csv"))
    # several formats into a folder; mamut with the raw data written as BigDataViewer next to it
    folder = tmp_path / "many"
    assert main(["export", saved, "--format", "ctc,mamut,divisions-csv",
                 "--raw", str(seq / "01"), "--out", str(folder), "--quiet"]) == 0
    assert (folder / "res_track.txt").read_text() == (res / "res_track.txt").read_text()
    assert (folder / "tracking_bdv.h5").is_file() and (folder / "divisions.csv").is_file()


def test_export_bad_input(tracked, tmp_path):
    _, res = tracked
    result = res / "tracking_result.h5"
    # unknown format: the valid ones are listed
    assert_one_line_error(run_cli("export", str(result), "--format", "nope", "--out", str(tmp_path / "x")),
                          "nope", "ctc", "geff", "mamut")
    # existing output: refused without --overwrite, left as it was
    out = tmp_path / "t.csv"
    out.write_text("keep")
    assert_one_line_error(run_cli("export", str(result), "--format", "csv", "--out", str(out)), "exists")
    assert out.read_text() == "keep"
    assert main(["export", str(result), "--format", "csv", "--out", str(out), "--overwrite", "--quiet"]) == 0
    assert out.read_text() != "keep"
    # a result from another format version: both versions named
    other = tmp_path / "other.h5"
    other.write_bytes(result.read_bytes())
    with h5py.File(other, "r+") as f:
        f.attrs["format_version"] = 99
        f.attrs["gputrack_version"] = "9.9.9"
    assert_one_line_error(run_cli("export", str(other), "--format", "csv", "--out", str(tmp_path / "y.csv")),
                          "99", "9.9.9", "version 1")
    # not a result at all
    assert_one_line_error(run_cli("export", str(tmp_path / "t.csv"), "--format", "csv", "--out",
                                  str(tmp_path / "z.csv")), "t.csv")
    assert not (tmp_path / "y.csv").exists() and not (tmp_path / "z.csv").exists()
