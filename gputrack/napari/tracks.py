"""Automatic and animal tracking behind the napari widget: ilastik's panel, result -> layers.

The widget tracks with :func:`gputrack.workflows.tracking.track_frames` (what ``gputrack
track`` runs) on the parameters of ilastik's tracking panel (:func:`panel_parameters`);
:func:`result_layers` turns the result into napari layer data: the labels coloured by track id
and a Tracks layer (with the lineage graph) that carries the result for the writers.
:func:`lineage_image` is the lineage view.

Examples
--------
>>> import numpy as np
>>> from gputrack.workflows.tracking import track_frames
>>> lab = np.zeros((3, 20, 20), np.uint16); lab[:, 5:9, 5:9] = 1
>>> layers = result_layers(track_frames(lab, params=panel_parameters()))
>>> [(kw["name"], kind) for _, kw, kind in layers], layers[1][0][:, :2].tolist()
([('tracked labels', 'labels'), ('tracks', 'tracks')], [[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tracking.estimate import ESTIMATED
from ..tracking.params import TrackingParameters, animal_parameters

PANEL = (
    ("max_objects", "Max. objects per merger", 1, int),
    ("division_threshold", "Division threshold", 0.1, float),
    ("max_distance", "Max. distance", 200.0, float),
    ("k_neighbors", "Transition neighbourhood (k)", 3, int),
    ("transition_alpha", "Transition parameter α", 5.0, float),
    ("detection_weight", "Detection weight", 10.0, float),
    ("division_weight", "Division weight", 10.0, float),
    ("transition_weight", "Transition weight", 10.0, float),
    ("appearance_cost", "Appearance cost", 500.0, float),
    ("disappearance_cost", "Disappearance cost", 500.0, float),
    ("border_width", "Border width", 10.0, float),
)
"""ilastik's tracking panel: (parameter, label, default, type), defaults of its GUI."""


def panel_parameters(values: dict[str, Any] | None = None, *, animal: bool = False) -> TrackingParameters:
    """TrackingParameters from the panel's values; ``animal`` = animal tracking (no divisions)."""
    values = dict(values or {})
    if animal:
        return animal_parameters(**values)
    return TrackingParameters(**values)


def result_layers(result, name: str = "tracks") -> list[tuple[Any, dict[str, Any], str]]:
    """Layer data of a :class:`~gputrack.tracking.TrackingResult`: track-coloured labels + Tracks."""
    from .layers import track_labels_image, tracks_layer_data  # noqa: PLC0415

    data, props, graph = tracks_layer_data(result.lineage, result.detections)
    meta = {"gputrack_result": result}
    return [
        (track_labels_image(result), {"name": "tracked labels" if name == "tracks" else f"{name} labels",
                                      "metadata": meta}, "labels"),
        (data, {"name": name, "properties": props, "graph": graph, "metadata": meta,
                "tail_length": 10}, "tracks"),
    ]


def lineage_image(lineage) -> np.ndarray:
    """The lineage view of a lineage table: :func:`gputrack.export.render.lineage_figure` as RGB."""
    from ..export.render import figure_rgb, lineage_figure  # noqa: PLC0415
    from ..tracking.lineage import track_table  # noqa: PLC0415

    return figure_rgb(lineage_figure(track_table(lineage)))


def summary(result, fixed: tuple[str, ...] | list[str] = ()) -> str:
    """One line: detections, tracks, divisions, energy, optimality and the parameters estimated
    from the data (those not in ``fixed``) of a result."""
    lin, sol = result.lineage, result.solution
    n_tracks = int(lin.loc[lin["track_id"] > 0, "track_id"].nunique())
    line = (f"{len(lin)} detections -> {n_tracks} tracks, {int(sol.division.sum())} divisions, "
            f"energy {sol.energy:.1f}" + (" (optimal)" if sol.optimal else ""))
    est = getattr(result, "estimated", None) or {}
    shown = ", ".join(f"{k} {est[k]:g}" for k in ESTIMATED if k in est and k not in fixed)
    return line + (f"; estimated: {shown}" if shown else "")
