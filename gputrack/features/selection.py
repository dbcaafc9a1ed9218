"""Feature selections: ilastik's matrix, ``{feature: scales}`` dicts, presets, channel names.

A selection says which of the six ilastik filter families are computed at which scales,
and whether each scale is computed slice by slice ("in 2D"). Every accepted form is
normalised to a :class:`FeatureSelection` (the bool matrix of ilastik's
``FeatureSelections/SelectionMatrix``, its scale columns and per-scale ``ComputeIn2d``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.ilp import DEFAULT_SCALES, FEATURE_IDS  # ilastik's ids and scales (spec 1.1, 1.2)

DISPLAY_NAMES: dict[str, str] = {
    "GaussianSmoothing": "Gaussian Smoothing",
    "LaplacianOfGaussian": "Laplacian of Gaussian",
    "GaussianGradientMagnitude": "Gaussian Gradient Magnitude",
    "DifferenceOfGaussians": "Difference of Gaussians",
    "StructureTensorEigenvalues": "Structure Tensor Eigenvalues",
    "HessianOfGaussianEigenvalues": "Hessian of Gaussian Eigenvalues",
}


MINIMUM_SCALE: dict[str, float] = {f: (0.3 if f == "GaussianSmoothing" else 0.7) for f in FEATURE_IDS}
"""Smallest scale ilastik's GUI lets a user select per feature (used by the ``"all"`` preset)."""

TENSOR_FEATURES = ("StructureTensorEigenvalues", "HessianOfGaussianEigenvalues")


@dataclass(frozen=True)
class FeatureSelection:
    """Normalised selection: ``matrix[f, k]`` selects feature ``FEATURE_IDS[f]`` at ``scales[k]``.

    Attributes
    ----------
    scales
        Scale columns (user values, sigma in pixels or in the unit of ``spacing``).
    matrix
        bool array of shape ``(6, len(scales))``, rows in :data:`FEATURE_IDS` order.
    in_2d
        Per-scale flag: compute that column slice by slice (ilastik ``ComputeIn2d``).
    """

    scales: tuple[float, ...]
    matrix: np.ndarray
    in_2d: tuple[bool, ...]

    def columns(self) -> list[tuple[float, bool, tuple[str, ...]]]:
        """Selected scale columns as ``(scale, in_2d, feature ids)``, empty columns left out."""
        out = []
        for k, s in enumerate(self.scales):
            feats = tuple(f for i, f in enumerate(FEATURE_IDS) if self.matrix[i, k])
            if feats:
                out.append((s, self.in_2d[k], feats))
        return out

    def pairs(self) -> list[tuple[str, float, bool]]:
        """Selected ``(feature id, scale, in_2d)`` in ilastik's channel order (features outer)."""
        return [
            (f, s, self.in_2d[k])
            for i, f in enumerate(FEATURE_IDS)
            for k, s in enumerate(self.scales)
            if self.matrix[i, k]
        ]


def feature_id(name: str) -> str:
    """Map a feature id or display name (any case, spaces optional) to its ilastik id.

    Examples
    --------
    >>> feature_id("Hessian of Gaussian Eigenvalues"), feature_id("gaussiansmoothing")
    ('HessianOfGaussianEigenvalues', 'GaussianSmoothing')
    """
    key = str(name).replace(" ", "").replace("_", "").lower()
    for fid in FEATURE_IDS:
        if key == fid.lower():
            return fid
    raise InputError(f"feature {name!r}: expected one of {', '.join(FEATURE_IDS)} or their display names")


def _check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    out = tuple(float(s) for s in scales)
    for s in out:
        if not (math.isfinite(s) and s > 0):
            raise InputError(f"scale {s}: expected a positive, finite sigma")
    return out


def _in_2d_flags(in_2d: bool | Sequence[bool], n: int) -> tuple[bool, ...]:
    if np.isscalar(in_2d) or in_2d is None:
        return (bool(in_2d),) * n
    flags = tuple(bool(v) for v in in_2d)
    if len(flags) != n:
        raise InputError(f"in_2d has {len(flags)} flags: expected one per scale ({n})")
    return flags


def normalize_selection(
    selection: Any = "all",
    *,
    scales: Sequence[float] | None = None,
    in_2d: bool | Sequence[bool] = False,
) -> FeatureSelection:
    """Turn any accepted selection into a :class:`FeatureSelection`.

    Parameters
    ----------
    selection
        - ``"all"``: every family at every scale at or above its GUI minimum (0.3 for
          Gaussian Smoothing, 0.7 otherwise): 49 channels in 2D, 61 in 3D with the defaults;
        - a bool matrix ``(6, n_scales)`` (ilastik's ``SelectionMatrix``), rows in
          :data:`FEATURE_IDS` order, columns ``scales``;
        - a dict ``{feature: [scales]}`` (ids or display names);
        - an existing :class:`FeatureSelection` (returned as is).
    scales
        Scale columns of a matrix / of the ``"all"`` preset; default :data:`DEFAULT_SCALES`.
        Dict selections take their scales from the dict.
    in_2d
        One flag for all scales or one per scale (aligned with ``scales``); for dicts a
        single flag, or a ``{scale: flag}`` mapping.

    Returns
    -------
    FeatureSelection

    Examples
    --------
    >>> sel = normalize_selection({"Gaussian Smoothing": [1.0], "HessianOfGaussianEigenvalues": [1.0, 3.5]})
    >>> sel.scales, sel.matrix.sum()
    ((1.0, 3.5), np.int64(3))
    """
    if isinstance(selection, FeatureSelection):
        return selection
    if isinstance(selection, str):
        if selection.lower() != "all":
            raise InputError(f"selection {selection!r}: expected 'all', a dict or a bool matrix")
        sc = _check_scales(DEFAULT_SCALES if scales is None else scales)
        matrix = np.array([[s >= MINIMUM_SCALE[f] - 1e-9 for s in sc] for f in FEATURE_IDS], dtype=bool)
        return FeatureSelection(sc, matrix, _in_2d_flags(in_2d, len(sc)))
    if isinstance(selection, Mapping):
        wanted: dict[str, set[float]] = {}
        for name, svals in selection.items():
            fid = feature_id(name)
            svals = [svals] if np.isscalar(svals) else list(svals)
            wanted.setdefault(fid, set()).update(_check_scales(svals))
        sc = tuple(sorted(set().union(*wanted.values()))) if wanted else ()
        if not sc:
            raise InputError("feature selection is empty: select at least one feature at one scale")
        matrix = np.array([[s in wanted.get(f, ()) for s in sc] for f in FEATURE_IDS], dtype=bool)
        if isinstance(in_2d, Mapping):
            flags = tuple(bool(in_2d.get(s, False)) for s in sc)
        else:
            if not np.isscalar(in_2d):
                raise InputError("in_2d for a dict selection: expected one flag or a {scale: flag} mapping")
            flags = _in_2d_flags(in_2d, len(sc))
        return FeatureSelection(sc, matrix, flags)
    matrix = np.asarray(selection, dtype=bool)
    sc = _check_scales(DEFAULT_SCALES if scales is None else scales)
    if matrix.ndim != 2 or matrix.shape != (len(FEATURE_IDS), len(sc)):
        raise InputError(
            f"selection matrix of shape {matrix.shape}: expected ({len(FEATURE_IDS)}, {len(sc)}) "
            "= (features in ilastik order, scales)"
        )
    if not matrix.any():
        raise InputError("feature selection is empty: select at least one feature at one scale")
    return FeatureSelection(sc, matrix.copy(), _in_2d_flags(in_2d, len(sc)))


def channels_per_input(feature: str, ndim: int) -> int:
    """Output channels of one family per input channel: 1, or the number of filtered axes."""
    return ndim if feature in TENSOR_FEATURES else 1


def format_scale(scale: float) -> str:
    """ilastik's spelling of a scale in channel names (Python float repr: ``1.0``, ``0.3``)."""
    return repr(float(scale))


def channel_names(
    selection: FeatureSelection,
    *,
    ndim: int = 2,
    n_channels: int = 1,
) -> list[str]:
    """ilastik's channel names for a selection, in feature-matrix order.

    Parameters
    ----------
    selection
        Normalised selection.
    ndim
        Spatial dimensionality of the data (2 or 3); scales computed in 2D use 2 either way.
    n_channels
        Input channels (each filtered separately).

    Returns
    -------
    list of str
        e.g. ``"Hessian of Gaussian Eigenvalues (σ=3.5) in 2D [1]"``; the ``[k]`` index is
        present when a family yields more than one channel (``k = input channel * per + i``).

    Examples
    --------
    >>> channel_names(normalize_selection({"GaussianSmoothing": [1.0]}), n_channels=2)
    ['Gaussian Smoothing (σ=1.0) in 2D [0]', 'Gaussian Smoothing (σ=1.0) in 2D [1]']
    """
    names = []
    for fid, s, flag in selection.pairs():
        two_d = flag or ndim == 2
        per = channels_per_input(fid, 2 if two_d else 3)
        base = f"{DISPLAY_NAMES[fid]} (σ={format_scale(s)})" + (" in 2D" if two_d else "")
        total = per * n_channels
        names.extend([base] if total == 1 else [f"{base} [{k}]" for k in range(total)])
    return names
