"""Manual tracking in a real viewer: clicks and ilastik's keys rebuild ground-truth tracks and a division;
the annotations feed learning (weights = ``gputrack learn``) and the tracking widget's next run."""

from __future__ import annotations

from .conftest import require_viewer

require_viewer()

from types import SimpleNamespace

import numpy as np
import tifffile
from app_model.types import KeyBinding
from napari.utils.interactions import mouse_press_callbacks

from gputrack.datasets import synthetic_timelapse
from gputrack.napari.widgets.manual import LAYER, ManualTrackingWidget
from gputrack.napari.widgets.tracking import TrackingWidget
from gputrack.tracking.annotation import track_objects

from .conftest import errors, wait_until


def _inside(frame: np.ndarray, label: int) -> tuple[float, float]:
    pts = np.argwhere(frame == label)
    return tuple(float(v) for v in pts[len(pts) // 2])


def _press(viewer, key: str) -> None:
    """A key press as napari dispatches it: the handler bound to the key in the viewer's keymap."""
    viewer.keymap[KeyBinding.from_str(key.upper())](viewer)


def _click(viewer, t: int, yx, *, right: bool = False) -> None:
    """A mouse press on the canvas at world ``(t, y, x)``, as napari dispatches it: the viewer's
    callbacks, then the active layer's (the widget keeps the objects layer active)."""
    event = SimpleNamespace(type="mouse_press", button=2 if right else 1, position=(t, *yx), modifiers=(),
                            pos=(0, 0), view_direction=None, dims_displayed=[1, 2], handled=False)
    mouse_press_callbacks(viewer, event)
    mouse_press_callbacks(viewer.layers.selection.active, event)


def test_clicks_rebuild_three_gt_tracks_and_a_division(viewer, tmp_path, screenshot):
    movie = synthetic_timelapse(n_frames=12, shape=(160, 160), n_cells=8, seed=1)
    gt = movie.labels.astype(np.uint16)
    tracks = movie.tracks.set_index("label")
    parent, (c1, c2) = 1, sorted(tracks.index[tracks["parent"] == 1])
    end = int(tracks.loc[parent, "end"])
    expected = {k: {t: k for t in range(int(tracks.loc[k, "begin"]), int(tracks.loc[k, "end"]) + 1)}
                for k in (parent, c1, c2)}

    viewer.add_image(movie.raw, name="raw")
    objects = viewer.add_labels(gt, name="objects")
    widget = ManualTrackingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Manual Tracking")
    widget.picker.setCurrentText("objects")
    widget.start()
    _press(viewer, "s")                                           # new track (ilastik's s)
    assert widget.session.active == 1
    assert viewer.layers.selection.active is objects
    # left click: the object joins the active track and the view moves on a frame
    _click(viewer, 0, _inside(gt[0], parent))
    assert widget.session.objects() == {0: parent}
    assert viewer.dims.current_step[0] == 1
    # right click: the semi-automatic step from the next object
    _click(viewer, 1, _inside(gt[1], parent), right=True)
    assert len(widget.session.objects()) >= 3
    # finish the parent by clicks where the step stopped, and delete what went past its end
    for t in range(end + 1):
        if t not in widget.session.objects():
            _click(viewer, t, _inside(gt[t], parent))
    if max(widget.session.objects()) > end:
        viewer.dims.set_current_step(0, end + 1)
        widget.delete("later")
    assert widget.session.objects() == expected[parent]
    # division (d): parent, then its two children in the next frame
    _press(viewer, "d")
    _click(viewer, end, _inside(gt[end], parent))
    assert viewer.dims.current_step[0] == end + 1
    _click(viewer, end + 1, _inside(gt[end + 1], c1))
    _click(viewer, end + 1, _inside(gt[end + 1], c2))
    assert len(widget.session.ann.divisions) == 1
    k1 = widget.session.active
    (k_parent, (d1, d2, t_div)), = widget.session.ann.divisions.items()
    assert (k_parent, t_div, k1) == (1, end, d1)
    _press(viewer, "a")                                           # previous track (ilastik's a)
    assert widget.session.active == 1
    # each child: the semi-automatic step, then clicks where it stopped
    for k, gt_label in ((d1, c1), (d2, c2)):
        while widget.session.active != k:
            _press(viewer, "q")                                   # next track (ilastik's q)
        _click(viewer, end + 1, _inside(gt[end + 1], gt_label), right=True)
        for t in range(end + 1, gt.shape[0]):
            if t not in widget.session.objects():
                _click(viewer, t, _inside(gt[t], gt_label))
    ann = widget.session.ann
    got = {gt_label: track_objects(ann, k) for k, gt_label in ((1, parent), (d1, c1), (d2, c2))}
    assert got == expected
    painted = viewer.layers[LAYER].data
    assert set(np.unique(painted[gt == c1])) == {d1}
    # a false detection (f) and the next unlabelled object (g)
    other = int(np.unique(gt[0])[-1])
    _press(viewer, "f")
    _click(viewer, 0, _inside(gt[0], other))
    assert ann.ids(0, other) == {-1}
    _press(viewer, "g")
    found = widget.session.last_unlabelled
    assert found is not None and not ann.ids(*found)
    assert viewer.dims.current_step[0] == found[0] and objects.selected_label == found[1]
    # e / r toggle the layers
    _press(viewer, "e")
    assert not viewer.layers[LAYER].visible
    _press(viewer, "e")
    viewer.dims.set_current_step(0, end + 1)
    tracks_layer = widget.show_tracks()
    assert tracks_layer.graph[d1] == [1] and tracks_layer.graph[d2] == [1]
    _press(viewer, "r")                                           # hide the objects: annotations show
    assert not objects.visible
    screenshot(viewer, "manual_tracking")

    # saved into the project and reloaded in a fresh widget
    project = tmp_path / "project.h5"
    widget.save(project)
    other_widget = ManualTrackingWidget(viewer)
    other_widget.start(objects)
    other_widget.load(project)
    assert other_widget.session.ann.labels == ann.labels
    assert other_widget.session.ann.divisions == ann.divisions
    reloaded = {gt_label: track_objects(other_widget.session.ann, k)
                for k, gt_label in ((1, parent), (d1, c1), (d2, c2))}
    assert reloaded == expected

    # annotations feed learning: the weights equal `gputrack learn` on the saved project, and the
    # tracking widget's next run uses them as `gputrack track --weights` does
    from gputrack.cli import main
    from gputrack.io.ctc import read_frames, read_tracks
    from gputrack.napari.layers import tracks_from_masks
    from gputrack.tracking.learning import load_weights

    tracking = TrackingWidget(viewer)
    viewer.window.add_dock_widget(tracking, name="Tracking")
    worker = widget.learn()
    wait_until(lambda: widget.learned is not None and not worker.is_running)
    tifffile.imwrite(tmp_path / "objects.tif", gt)
    assert main(["learn", "--annotations", str(project), "--labels", str(tmp_path / "objects.tif"),
                 "--label-axes", "tyx", "--out", str(tmp_path / "w.json"), "--quiet"]) == 0
    ref = load_weights(tmp_path / "w.json")
    assert widget.learned.weights.keys() == ref.keys()
    np.testing.assert_allclose(list(widget.learned.weights.values()), list(ref.values()), atol=1e-6)
    assert tracking.weights == widget.learned.weights
    assert tracking.parameters().transition_weight == 10 * ref["transition"]
    tracking.labels_picker.setCurrentText("objects")
    worker = tracking.run()
    wait_until(lambda: tracking.result is not None and not worker.is_running)
    assert main(["track", "--labels", str(tmp_path / "objects.tif"), "--label-axes", "tyx",
                 "--weights", str(tmp_path / "w.json"), "--appearance-cost", "0", "--disappearance-cost", "0",
                 "--out", str(tmp_path / "res"), "--quiet"]) == 0
    masks = read_frames(tmp_path / "res")
    data, _, graph = tracks_from_masks(masks, read_tracks(tmp_path / "res" / "res_track.txt"))
    np.testing.assert_allclose(viewer.layers["tracks"].data, data, atol=1e-9)
    assert viewer.layers["tracks"].graph == graph
    screenshot(viewer, "learned_weights")


def test_mistakes_are_notifications(viewer, notifications):
    gt = np.zeros((3, 20, 20), np.uint16)
    gt[:, 2:6, 2:6] = 1
    viewer.add_labels(gt, name="objects")
    widget = ManualTrackingWidget(viewer)
    widget.start(viewer.layers["objects"])
    _click(viewer, 0, (3, 3))                                     # no active track yet
    _press(viewer, "s")
    _click(viewer, 0, (15, 15))                                   # background
    worker = widget.learn()                                       # nothing annotated: in the worker
    wait_until(lambda: len(errors(notifications)) == 3 and not worker.is_running, timeout=30)
    assert errors(notifications) == ["no active track: press s to start a track",
                                      "no object at (15, 15) in frame 0",
                                      "no annotations to learn from: annotate tracks first"]
