"""Pixel classification in a real viewer: painted scribbles -> live outputs = `gputrack pixel predict`."""

from __future__ import annotations

from .conftest import require_viewer

require_viewer()

import h5py
import numpy as np
import tifffile

from gputrack.napari.widgets._common import camera_of
from gputrack.napari.widgets.pixel import PixelClassificationWidget
from tests.conftest import shared_path

from .conftest import errors, wait_until


def _sim_first_frame() -> np.ndarray:
    folder = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01")
    return tifffile.imread(sorted(folder.glob("t*.tif"))[0])


def _paint_line(layer, points, label: int) -> None:
    """Brush strokes through the widget's painted layer, as a user's mouse would (layer.paint)."""
    layer.selected_label = label
    for (y0, x0), (y1, x1) in zip(points[:-1], points[1:]):
        for s in np.linspace(0, 1, 12):
            layer.paint((y0 + s * (y1 - y0), x0 + s * (x1 - x0)), label, refresh=True)


def _settle(seconds: float) -> None:
    import time

    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def test_live_prediction_equals_cli(viewer, tmp_path, screenshot):
    from gputrack.cli import main

    frame = _sim_first_frame()
    image = viewer.add_image(frame, name="SIM+ 01 t000")
    widget = PixelClassificationWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Pixel Classification")
    widget.trees.setValue(20)
    widget.device.setCurrentText("cpu")
    # ilastik's table: rows = filter families, columns = scales; tick one more cell by its checkbox
    from qtpy.QtCore import Qt

    table = widget.table
    row = [table.verticalHeaderItem(i).text() for i in range(table.rowCount())].index("Diff. of Gauss.")
    col = [table.horizontalHeaderItem(k).text() for k in range(table.columnCount())].index("1")
    table.item(row, col).setCheckState(Qt.CheckState.Checked)
    assert widget.selection()["DifferenceOfGaussians"] == [1.0]
    # nucleus and background scribbles around a bright nucleus found in the frame
    cy, cx = np.unravel_index(np.argmax(frame), frame.shape)
    scribbles = widget.add_scribbles(image)
    # defaults: class 1 first, a brush scaled to the frame, scribbles in their probability layer's colour
    assert scribbles.selected_label == 1 and scribbles.mode == "paint" and scribbles.brush_size == 5
    scribbles.brush_size = 3
    camera = camera_of(viewer)
    camera.center = (cy, cx)
    camera.zoom = 2.5
    _paint_line(scribbles, [(cy - 3, cx - 3), (cy + 3, cx + 3)], 1)
    bg = frame < np.percentile(frame, 20)
    by, bx = np.argwhere(bg)[len(np.argwhere(bg)) // 2]
    _paint_line(scribbles, [(by, max(bx - 10, 0)), (by, min(bx + 10, frame.shape[1] - 1))], 2)
    assert (scribbles.data == 1).sum() > 10 and (scribbles.data == 2).sum() > 10
    # the paint events start one live update (debounced) in a worker
    # (training on the whole frame: minutes when the machine is loaded, seconds otherwise)
    wait_until(lambda: widget.updates >= 1 and widget.worker is not None and not widget.worker.is_running,
               timeout=240)
    first = widget.worker
    _settle(1.0)                             # showing the outputs starts no further update
    assert widget.worker is first and widget.updates == 1
    region = widget.region
    assert "Probability Label 1" in viewer.layers and "Segmentation" in viewer.layers
    for k in (1, 2):
        top = viewer.layers[f"Probability Label {k}"].colormap.colors[-1]
        np.testing.assert_allclose(scribbles.colormap.map(k), top)
        np.testing.assert_allclose(viewer.layers["Segmentation"].colormap.map(k), top)
    h, w = region[0].stop - region[0].start, region[1].stop - region[1].start
    assert 0 < h * w < frame.size            # the visible region only
    viewer.layers.move(viewer.layers.index(scribbles), len(viewer.layers))     # scribbles on top
    shot = screenshot(viewer, "pixel_classification")
    assert shot.stat().st_size > 10_000

    # the command line trained on the same scribbles with the same features predicts the whole frame
    widget.save_project(tmp_path / "saved.h5")
    tifffile.imwrite(tmp_path / "frame.tif", frame)
    tifffile.imwrite(tmp_path / "scribbles.tif", scribbles.data)
    features = [f"{f}={','.join(f'{v:g}' for v in scales)}" for f, scales in widget.selection().items()]
    project = tmp_path / "cells.h5"
    assert main(["pixel", "train", "--images", str(tmp_path / "frame.tif"), "--labels",
                 str(tmp_path / "scribbles.tif"), "--features", *features, "--trees", "20", "--seed", "0",
                 "--out", str(project), "--device", "cpu", "--quiet"]) == 0
    runs = [(project, e) for e in ("probabilities", "simple-segmentation", "uncertainty")]
    runs.append((tmp_path / "saved.h5", "probabilities"))     # the widget's saved project too
    for proj, export in runs:
        out = tmp_path / f"{proj.stem}-{export}.h5"
        assert main(["pixel", "predict", "--project", str(proj), str(tmp_path / "frame.tif"),
                     "--out", str(out), "--export", export, "--device", "cpu", "--quiet"]) == 0
        with h5py.File(out) as fh:
            ref = fh[next(iter(fh))][()]
        live = {
            "probabilities": np.stack([viewer.layers[f"Probability {n}"].data
                                       for n in widget.classifier.label_names], -1),
            "simple-segmentation": viewer.layers["Segmentation"].data,
            "uncertainty": viewer.layers["Uncertainty"].data,
        }[export]
        np.testing.assert_allclose(live[region], ref.reshape(live.shape)[region], atol=1e-6)
    # the widget's export of the whole frame = the command line's
    exported = widget.export(tmp_path / "exported.h5", "simple-segmentation")
    with h5py.File(exported) as fh, h5py.File(tmp_path / "cells-simple-segmentation.h5") as ref:
        np.testing.assert_array_equal(fh["exported_data"][()], ref["exported_data"][()])
    # a second stroke cancels/replaces the update and retrains on both strokes
    before = widget.updates
    _paint_line(scribbles, [(cy, cx - 2), (cy, cx + 2)], 1)
    wait_until(lambda: widget.updates > before and not widget.worker.is_running, timeout=240)


def test_scribbles_of_one_class_notify(viewer, notifications):
    image = viewer.add_image(np.random.default_rng(0).random((64, 64)).astype(np.float32), name="img")
    widget = PixelClassificationWidget(viewer)
    widget.live.setChecked(False)
    scr = widget.add_scribbles(image)
    scr.data[10:20, 10:20] = 1
    worker = widget.update_live(retrain=True)
    wait_until(lambda: not worker.is_running and bool(errors(notifications)), timeout=30)
    assert errors(notifications) == ["paint at least two classes to train (found 1: [1])"]
