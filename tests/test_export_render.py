"""Track overlay and lineage tree pictures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gputrack.export.render import lineage_plot, track_overlay
from gputrack.io.images import glasbey_palette


def test_overlay_draws_each_track_in_its_colour():
    raw = np.zeros((3, 40, 40), np.uint16)
    raw[:, 30:, 30:] = 1000  # a bright corner: background is stretched grey
    pos = pd.DataFrame(
        {
            "t": [0, 1, 2, 0, 1, 2, 1],
            "track_id": [1, 1, 1, 2, 2, 2, -1],
            "y": [5.0, 5.0, 5.0, 20.0, 25.0, 30.0, 10.0],
            "x": [5.0, 15.0, 25.0, 10.0, 10.0, 10.0, 10.0],
        }
    )
    img = track_overlay(raw, pos)
    pal = glasbey_palette(256)
    # track 1 is a horizontal line at row 5 from x=5 to x=25
    np.testing.assert_array_equal(img[5, 6:23], np.repeat(pal[1][None], 17, axis=0))
    # track 2 is a vertical line at column 10 from y=20 to y=30
    np.testing.assert_array_equal(img[21:28, 10], np.repeat(pal[2][None], 7, axis=0))
    # a false detection (-1) is not drawn; the bright corner is grey
    assert (img[10, 10] == img[10, 10, 0]).all()
    assert img[35, 35, 0] == img[35, 35, 1] == img[35, 35, 2] > 150
    # drawing only up to frame 1 stops the first track at x = 15
    early = track_overlay(raw, pos, frame=1)
    assert not (early[5, 20] == pal[1]).all()


def test_overlay_draws_divisions_and_3d():
    raw = np.zeros((2, 4, 30, 30), np.float32)
    pos = pd.DataFrame(
        {"t": [0, 1, 1], "track_id": [1, 2, 3], "y": [15.0, 5.0, 25.0], "x": [15.0, 15.0, 15.0]}
    )
    parents = pd.DataFrame({"label": [1, 2, 3], "begin": [0, 1, 1], "end": [0, 1, 1], "parent": [0, 1, 1]})
    img = track_overlay(raw, pos, parents=parents)
    pal = glasbey_palette(256)
    assert (img[10, 15] == pal[2]).all()  # mother -> daughter 2 (upwards)
    assert (img[20, 15] == pal[3]).all()  # mother -> daughter 3 (downwards)


def test_lineage_plot_bars_and_connectors():
    tracks = pd.DataFrame(
        {"label": [1, 2, 3, 4], "begin": [0, 4, 4, 2], "end": [3, 9, 7, 9], "parent": [0, 1, 1, 0]}
    )
    fw, rh = 4, 6
    img = lineage_plot(tracks, frame_width=fw, row_height=rh)
    assert img.shape == (4 * rh, 10 * fw, 3)
    pal = glasbey_palette(256)
    # depth-first rows: 1, 2, 3 (its daughters), then 4; daughters share the root's colour
    for row, (label, colour_id) in enumerate([(1, 1), (2, 1), (3, 1), (4, 4)]):
        r = row * rh + rh // 2
        begin, end = tracks.set_index("label").loc[label, ["begin", "end"]]
        coloured = np.flatnonzero((img[r] == pal[colour_id]).all(axis=1))
        assert coloured.min() == begin * fw
        assert coloured.max() == (end + 1) * fw - 1
    # connector from the mother's row down to daughter 3, just left of its first frame
    col = 4 * fw - 1
    half = rh // 4
    assert (img[rh // 2 + half : 2 * rh + rh // 2 - half + 1, col] == 0).all()
