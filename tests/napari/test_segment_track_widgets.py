"""Threshold, object classification and tracking widgets in a real viewer, against the command line."""

from __future__ import annotations

from .conftest import require_viewer

require_viewer()

import numpy as np
import pandas as pd
import pytest

from gputrack.datasets import synthetic_timelapse
from gputrack.napari.widgets.objects import ObjectClassificationWidget
from gputrack.napari.widgets.threshold import ThresholdWidget
from gputrack.napari.widgets.tracking import TrackingWidget

from .conftest import wait_until


@pytest.fixture(scope="module")
def movie():
    return synthetic_timelapse(n_frames=12, shape=(160, 160), n_cells=8, seed=1)


def _threshold(viewer, raw):
    viewer.add_image(raw, name="raw")
    widget = ThresholdWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Threshold")
    widget.picker.setCurrentText("raw")
    widget.threshold.setValue(220.0)
    widget.sigma.setValue(1.0)
    widget.min_size.setValue(20)
    return widget


def test_threshold_preview_and_labels_equal_cli(viewer, movie, tmp_path, screenshot):
    import tifffile

    from gputrack.cli import main
    from gputrack.io import read_image

    widget = _threshold(viewer, movie.raw)
    viewer.dims.set_current_step(0, 3)
    wait_until(lambda: "Threshold preview" in viewer.layers)
    preview = viewer.layers["Threshold preview"].data
    assert preview[3].max() > 3 and not preview[2].any()      # the current frame only
    worker = widget.apply()
    wait_until(lambda: "Objects" in viewer.layers and not worker.is_running)
    labels = viewer.layers["Objects"].data
    np.testing.assert_array_equal(labels[3] > 0, preview[3] > 0)
    tifffile.imwrite(tmp_path / "raw.tif", movie.raw)
    assert main(["segment", str(tmp_path / "raw.tif"), "--axes", "tyx", "--out", str(tmp_path / "lab.h5"),
                 "--threshold", "220", "--sigma", "1.0", "--min-size", "20", "--device", "cpu",
                 "--quiet"]) == 0
    np.testing.assert_array_equal(labels, read_image(tmp_path / "lab.h5"))
    # each ground-truth cell is found: most GT objects overlap exactly one label
    gt = movie.labels
    hits = [len(np.unique(labels[t][gt[t] == g])) for t in range(3) for g in np.unique(gt[t])[1:]]
    assert np.mean(np.asarray(hits) >= 1) > 0.9
    screenshot(viewer, "threshold")


def test_tracks_layer_equals_cli_track(viewer, movie, tmp_path, screenshot):
    from gputrack.cli import main
    from gputrack.io.ctc import read_frames, read_tracks, write_frames
    from gputrack.napari.layers import tracks_from_masks

    labels = movie.labels.astype(np.uint16)
    viewer.add_image(movie.raw, name="raw")
    viewer.add_labels(labels, name="GT objects")
    widget = TrackingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Tracking")
    widget.labels_picker.setCurrentText("GT objects")
    # a cost changed in the panel is kept; the other costs, the border and alpha are estimated (as the CLI)
    widget.params["appearance_cost"][1].setValue(100)
    assert widget.fixed() == ["appearance_cost"]
    worker = widget.run()
    wait_until(lambda: widget.result is not None and not worker.is_running)
    tracks = viewer.layers["tracks"]
    assert "tracked labels" in viewer.layers

    write_frames(tmp_path / "lab", labels, prefix="mask")
    assert main(["track", "--labels", str(tmp_path / "lab"), "--out", str(tmp_path / "res"),
                 "--export", "ctc", "--appearance-cost", "100", "--quiet"]) == 0
    masks = read_frames(tmp_path / "res")
    ref, _, ref_graph = tracks_from_masks(masks, read_tracks(tmp_path / "res" / "res_track.txt"))
    np.testing.assert_allclose(tracks.data, ref, atol=1e-9)
    assert tracks.graph == ref_graph
    assert len(ref_graph) >= 2                              # the movie's divisions are there
    np.testing.assert_array_equal(viewer.layers["tracked labels"].data, masks)
    assert widget.lineage.pixmap().width() > 0
    est = widget.result.estimated
    assert est["appearance_cost"] == 100 and est["disappearance_cost"] != 500     # estimated
    assert "estimated: transition_alpha" in widget.status.text()
    viewer.dims.set_current_step(0, labels.shape[0] - 1)
    screenshot(viewer, "tracking")


def test_object_classification_by_clicks(viewer, movie, screenshot):
    from scipy import ndimage

    labels = movie.labels.astype(np.uint16)
    viewer.add_image(movie.raw, name="raw")
    layer = viewer.add_labels(labels, name="objects")
    widget = ObjectClassificationWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Object Classification")
    widget.labels_picker.setCurrentText("objects")
    widget.raw_picker.setCurrentText("raw")
    widget.features.setText("Count")
    # class 2 = large objects, class 1 = small ones: click three of each in frame 0 (centre of mass)
    ids = np.unique(labels[0])[1:]
    sizes = ndimage.sum(np.ones_like(labels[0]), labels[0], ids)
    order = ids[np.argsort(sizes)]
    centres = dict(zip(ids, ndimage.center_of_mass(labels[0] > 0, labels[0], ids)))
    for cls, chosen in ((1, order[:3]), (2, order[-3:])):
        widget.active.setValue(cls)
        for k in chosen:
            y, x = centres[k]
            assert widget.click((0, y, x)) == (0, int(k))
    assert len(widget.annotations) == 6 and "Object annotations" in viewer.layers
    worker = widget.run()
    wait_until(lambda: widget.predictions is not None and not worker.is_running)
    pred = widget.predictions
    counts = pd.Series(ndimage.sum(np.ones_like(labels[0]), labels[0], ids), index=ids)
    frame0 = pred[pred["t"] == 0].set_index("label")
    small, large = counts[order[:3]].max(), counts[order[-3:]].min()
    assert (frame0.loc[counts[counts <= small].index, "class"] == 1).all()
    assert (frame0.loc[counts[counts >= large].index, "class"] == 2).all()
    assert ((pred["uncertainty"] >= 0) & (pred["uncertainty"] <= 1)).all()
    painted = viewer.layers["Object classes"].data
    assert set(np.unique(painted[labels > 0])) <= {1, 2}
    rows = widget.fill_assist()
    assert widget.assist.rowCount() == len(rows) == len(pred)
    assert rows["Count"].is_monotonic_decreasing
    layer.mode = "pan_zoom"
    screenshot(viewer, "object_classification")
