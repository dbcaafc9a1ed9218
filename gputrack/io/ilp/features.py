"""The pixel-feature selection of an ilastik project (``FeatureSelections[NN]/``).

``FeatureIds``, ``Scales``, ``SelectionMatrix`` and ``ComputeIn2d``, one group per
pixel-classification stage (autocontext has two).

Examples
--------
>>> from gputrack.io.ilp import read_ilp, selected_features
>>> selected_features(read_ilp("PixelClass.ilp"))[:2]        # doctest: +SKIP
[('GaussianSmoothing', 0.3, True), ('GaussianSmoothing', 1.0, True)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import h5py
import numpy as np

from ...errors import InputError
from .stored import _string_list

if TYPE_CHECKING:
    from .project import IlpProject


FEATURE_IDS = (
    "GaussianSmoothing",
    "LaplacianOfGaussian",
    "GaussianGradientMagnitude",
    "DifferenceOfGaussians",
    "StructureTensorEigenvalues",
    "HessianOfGaussianEigenvalues",
)
#: ilastik's default scale columns (spec §1.2).
DEFAULT_SCALES = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)


@dataclass
class FeatureSelection:
    """The pixel-feature table: ``matrix[i, j]`` selects ``feature_ids[i]`` at ``scales[j]``."""

    feature_ids: list[str]
    scales: np.ndarray
    matrix: np.ndarray
    compute_in_2d: np.ndarray
    compute_in_2d_stored: bool = True


def _read_features(group: h5py.Group | None) -> FeatureSelection | None:
    if group is None or "SelectionMatrix" not in group:
        return None
    matrix = np.asarray(group["SelectionMatrix"][()], dtype=bool)
    ids = _string_list(group, "FeatureIds") or list(FEATURE_IDS[: matrix.shape[0]])
    scales = np.asarray(group["Scales"][()], np.float64) if "Scales" in group else np.array(DEFAULT_SCALES)
    if matrix.shape != (len(ids), len(scales)):
        raise InputError(
            f"{group.file.filename}: {group.name}/SelectionMatrix has shape {matrix.shape}, "
            f"expected ({len(ids)}, {len(scales)}) features x scales"
        )
    stored = "ComputeIn2d" in group
    in_2d = np.asarray(group["ComputeIn2d"][()], bool) if stored else np.zeros(len(scales), bool)
    in_2d = np.resize(in_2d, len(scales)) if in_2d.size else np.zeros(len(scales), bool)
    return FeatureSelection(ids, scales, matrix, in_2d, stored)


def selected_features(project: IlpProject, stage: int = 0) -> list[tuple[str, float, bool]]:
    """Selected ``(feature_id, scale, in_2d)`` triples in ilastik's channel order.

    Features vary slowest and scales fastest, as in ilastik's feature matrix (spec §1.7).

    Examples
    --------
    >>> selected_features(read_ilp("PixelClass.ilp"))[:2]        # doctest: +SKIP
    [('GaussianSmoothing', 0.3, True), ('GaussianSmoothing', 1.0, True)]
    """
    if stage >= len(project.pixel_stages) or project.pixel_stages[stage].features is None:
        return []
    fs = project.pixel_stages[stage].features
    return [
        (fid, float(fs.scales[j]), bool(fs.compute_in_2d[j]))
        for i, fid in enumerate(fs.feature_ids)
        for j in range(len(fs.scales))
        if fs.matrix[i, j]
    ]
