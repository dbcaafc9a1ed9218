"""Data movement of GPU runs: pixels stay on the device, only tables cross (``-m gpu``).

Under the emulation (``tests/emulation/fake_cupy``) every host/device copy is recorded;
these tests assert where per-pixel arrays go. On a real GPU they skip (no transfer log).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gputrack import objects
from gputrack.datasets import synthetic_timelapse
from gputrack.objects.division import division_features
from gputrack.tracking.detections import detections_from_labels

pytestmark = pytest.mark.gpu


def per_pixel(events, frame_pixels):
    """Copies of at least one frame's worth of elements (a label frame of uint8 is the smallest)."""
    return [e for e in events if int(np.prod(e.shape, dtype=np.int64)) >= frame_pixels]


def test_detections_and_division_features_on_device_move_only_tables(emulated_cupy):
    cp = emulated_cupy
    data = synthetic_timelapse(n_frames=4, shape=(64, 64), n_cells=5, seed=2)
    cpu = detections_from_labels(data.labels)
    tab = objects.features(data.raw, data.labels, ["Count", "Mean", "RegionCenter"], axes="tyx", device="cpu")
    dev = cp.asarray(data.labels)
    cp.transfers.reset()
    gpu = detections_from_labels(dev)
    pd.testing.assert_frame_equal(gpu, cpu)
    assert per_pixel(cp.transfers.of("d2h"), 64 * 64) == []
    for t in range(3):
        cur, nxt = tab[tab.t == t], tab[tab.t == t + 1]
        ref = division_features(cur, nxt, data.labels[t + 1])
        cp.transfers.reset()
        got = division_features(cur, nxt, dev[t + 1])
        pd.testing.assert_frame_equal(got, ref)
        assert per_pixel(cp.transfers.of("d2h"), 64 * 64) == []


def test_region_moments_with_host_values_and_device_labels(emulated_cupy):
    from gputrack.objects.regions import region_moments

    data = synthetic_timelapse(n_frames=1, shape=(48, 56), n_cells=4, seed=3)
    lab, raw = data.labels[0][None], data.raw[0][None, ..., None]
    ref = region_moments(lab, raw, "cpu")
    got = region_moments(emulated_cupy.asarray(lab), raw, "gpu")
    for name in ("ids", "count", "coord_mean", "value_sum", "value_min", "value_max"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-12)


def test_demo_on_gpu_moves_pixels_to_the_host_only_to_write_them(emulated_cupy, tmp_path, monkeypatch):
    """The demo's per-pixel device-to-host copies are its written outputs, each once, at the end."""
    from gputrack.tracking import pipeline
    from gputrack.workflows.demo import run_demo

    cp = emulated_cupy
    marks = {}
    solve = pipeline.solve_graph

    def track_marked(*args, **kwargs):  # where the detections are done and the solver starts
        marks["solve"] = len(cp.transfers.events)
        return solve(*args, **kwargs)

    monkeypatch.setattr(pipeline, "solve_graph", track_marked)
    shape, frames = (64, 64), 3
    cpu = run_demo(tmp_path / "cpu", frames=frames, shape=shape, trees=5, min_size=10, device="cpu")
    cp.transfers.reset()
    gpu = run_demo(tmp_path / "gpu", frames=frames, shape=shape, trees=5, min_size=10, device="gpu")
    assert gpu["device"] == "gpu"
    for key in ("objects", "tracks", "foreground_iou", "scores", "divisions_found"):
        assert gpu[key] == cpu[key], key
    pixels = per_pixel(cp.transfers.of("d2h"), shape[0] * shape[1])
    big = [(i, e) for i, e in enumerate(cp.transfers.events) if e in pixels]
    n_classes = 3
    prob = [i for i, e in big if e.shape == (frames, *shape, n_classes)]
    labels = [i for i, e in big if e.shape == shape]
    assert len(prob) == 1, [e.shape for _, e in big]  # probabilities.h5
    assert len(labels) == frames  # the label frames of the result (CTC, masks): once each
    assert len(big) == 1 + frames, [e.shape for _, e in big]
    assert min(labels) >= marks["solve"]  # after the objects and detections, with the solution
