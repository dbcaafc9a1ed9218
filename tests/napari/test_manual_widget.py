"""Manual tracking in a real viewer: clicks and ilastik's keys rebuild ground-truth tracks and a division."""

from __future__ import annotations

from .conftest import require_viewer

require_viewer()

from types import SimpleNamespace

import numpy as np
from app_model.types import KeyBinding

from gputrack.datasets import synthetic_timelapse
from gputrack.napari.widgets.manual import LAYER, ManualTrackingWidget
from gputrack.tracking.annotation import track_objects


def _inside(frame: np.ndarray, label: int) -> tuple[float, float]:
    pts = np.argwhere(frame == label)
    return tuple(float(v) for v in pts[len(pts) // 2])


def _press(viewer, key: str) -> None:
    """A key press as napari dispatches it: the handler bound to the key in the viewer's keymap."""
    viewer.keymap[KeyBinding.from_str(key.upper())](viewer)


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
    # first object by a real left click through the layer's mouse callback; the view moves on
    t0 = 0
    world = (t0, *_inside(gt[t0], parent))
    event = SimpleNamespace(type="mouse_press", button=1, position=world, modifiers=())
    for cb in objects.mouse_drag_callbacks:
        cb(objects, event)
    assert widget.session.objects() == {0: parent}
    assert viewer.dims.current_step[0] == 1
    # right click: the semi-automatic step from the next object
    ext = widget.mouse((1, *_inside(gt[1], parent)), right=True)
    assert ext.added and ext.stopped_at >= 2
    # finish the parent by clicks where the step stopped, and delete what went past its end
    for t in range(end + 1):
        if t not in widget.session.objects():
            widget.mouse((t, *_inside(gt[t], parent)))
    if max(widget.session.objects()) > end:
        viewer.dims.set_current_step(0, end + 1)
        widget.delete("later")
    assert widget.session.objects() == expected[parent]
    # division (d): parent, then its two children in the next frame
    _press(viewer, "d")
    widget.mouse((end, *_inside(gt[end], parent)))
    assert viewer.dims.current_step[0] == end + 1
    widget.mouse((end + 1, *_inside(gt[end + 1], c1)))
    widget.mouse((end + 1, *_inside(gt[end + 1], c2)))
    assert len(widget.session.ann.divisions) == 1
    k1 = widget.session.active
    (k_parent, (d1, d2, t_div)), = widget.session.ann.divisions.items()
    assert (k_parent, t_div, k1) == (1, end, d1)
    # each child: the semi-automatic step, then clicks where it stopped
    for k, gt_label in ((d1, c1), (d2, c2)):
        while widget.session.active != k:
            _press(viewer, "q")                                   # next track (ilastik's q)
        widget.mouse((end + 1, *_inside(gt[end + 1], gt_label)), right=True)
        for t in range(end + 1, gt.shape[0]):
            if t not in widget.session.objects():
                widget.mouse((t, *_inside(gt[t], gt_label)))
    ann = widget.session.ann
    got = {gt_label: track_objects(ann, k) for k, gt_label in ((1, parent), (d1, c1), (d2, c2))}
    assert got == expected
    painted = viewer.layers[LAYER].data
    assert set(np.unique(painted[gt == c1])) == {d1}
    # a false detection (f) and the next unlabelled object (g)
    other = int(np.unique(gt[0])[-1])
    _press(viewer, "f")
    widget.mouse((0, *_inside(gt[0], other)))
    assert ann.ids(0, other) == {-1}
    found = widget.next_unlabelled()
    assert found is not None and not ann.ids(*found)
    assert viewer.dims.current_step[0] == found[0]
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


def test_mistakes_are_notifications(viewer, monkeypatch):
    from gputrack.napari.widgets import _common

    shown = []
    monkeypatch.setattr(_common, "show_error", shown.append)
    gt = np.zeros((3, 20, 20), np.uint16)
    gt[:, 2:6, 2:6] = 1
    viewer.add_labels(gt, name="objects")
    widget = ManualTrackingWidget(viewer)
    widget.start(viewer.layers["objects"])
    widget.mouse((0, 3, 3))                                       # no active track yet
    widget.new_track()
    widget.mouse((0, 15, 15))                                     # background
    assert shown == ["no active track: press s to start a track", "no object at (15, 15) in frame 0"]
