"""The npe2 plugin: manifest valid, entry point declared, readers / writers / widgets through napari."""

from __future__ import annotations

from .conftest import require_viewer

require_viewer()

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import MANIFEST

ROOT = Path(__file__).resolve().parents[2]
WIDGETS = ("Pixel Classification", "Threshold and Size Filter", "Object Classification", "Tracking",
           "Manual Tracking")


def test_npe2_validate_and_entry_point():
    run = subprocess.run([sys.executable, "-m", "npe2", "validate", str(MANIFEST)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "valid" in run.stdout
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["napari.manifest"]["gputrack"] == "gputrack.napari:napari.yaml"
    assert "Framework :: napari" in project["classifiers"]
    assert any(d.startswith("napari") for d in project["optional-dependencies"]["napari"])


def test_every_contribution_imports(plugin):
    for cmd in plugin.contributions.commands:
        assert callable(_resolve(cmd.python_name)), cmd.id


def _resolve(python_name: str):
    import importlib

    module, _, attr = python_name.partition(":")
    return getattr(importlib.import_module(module), attr)


def test_widgets_dock_from_the_plugin_menu(viewer):
    for name in WIDGETS:
        dock, widget = viewer.window.add_plugin_dock_widget("gputrack", name)
        assert type(widget).__module__.startswith("gputrack.napari.widgets")
        assert widget.viewer.layers is not None     # napari hands plugins a proxy of the viewer


def test_open_and_save_through_napari(viewer, tmp_path):
    import napari

    from gputrack.io import read_image
    from gputrack.io.ctc import write_frames
    from gputrack.tracking.pipeline import track_labels
    from gputrack.tracking.result import save_result

    lab = np.zeros((4, 30, 30), np.uint16)
    for t in range(4):
        lab[t, 5 + t:10 + t, 5:10] = 1
        lab[t, 20:25, 18:23] = 2
    write_frames(tmp_path / "01", lab.astype(np.uint8) * 50 + 10, prefix="t")
    save_result(tmp_path / "tracking_result.h5", track_labels(lab))
    layers = viewer.open(tmp_path / "01", plugin="gputrack")
    assert [type(ly).__name__ for ly in layers] == ["Image"]
    layers = viewer.open(tmp_path / "tracking_result.h5", plugin="gputrack")
    assert [type(ly).__name__ for ly in layers] == ["Labels", "Tracks"]
    tracks = layers[1]
    assert sorted(np.unique(tracks.data[:, 0])) == [1, 2] and len(tracks.data) == 8
    out = napari.save_layers(str(tmp_path / "tracks.csv"), [tracks], plugin="gputrack")
    assert out and Path(out[0]).is_file()
    out = napari.save_layers(str(tmp_path / "ids.tif"), [layers[0]], plugin="gputrack")
    np.testing.assert_array_equal(read_image(out[0]), layers[0].data)


@pytest.mark.parametrize("name", ["no_such.ilp"])
def test_reader_refuses_what_is_not_ours(tmp_path, name):
    from gputrack.napari.readers import get_reader

    assert get_reader(str(tmp_path / name)) is None
    (tmp_path / "plain.h5").write_bytes(b"")
    assert get_reader(str(tmp_path / "plain.h5")) is None
