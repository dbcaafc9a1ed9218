"""``compute``: ilastik pixel features of an array, with ilastik's channel names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import backend
from ..errors import InputError
from .filters import check_scales, feature_stack
from .selection import channel_names, normalize_selection

AXES_LETTERS = "tzyxc"


class Features(NamedTuple):
    """Result of :func:`compute`: unpacks as ``data, names = compute(...)``."""

    data: Any
    """float32 array, the input's non-channel axes in their order, feature channels last."""
    names: list[str]
    """ilastik's channel names, one per last-axis channel."""


def default_axes(ndim: int) -> str:
    """Axes assumed for an array without ``axes=``: ``yx``, ``zyx``, ``zyxc``, ``tzyxc``."""
    table = {2: "yx", 3: "zyx", 4: "zyxc", 5: "tzyxc"}
    if ndim not in table:
        raise InputError(f"image of {ndim} dims: expected 2 to 5 dims, or pass axes= (letters of 'tzyxc')")
    return table[ndim]


def check_axes(axes: str | None, ndim: int) -> str:
    """Validate an axes string (letters of ``tzyxc``, each once, y and x required)."""
    if axes is None:
        return default_axes(ndim)
    axes = str(axes).lower()
    if len(axes) != ndim:
        raise InputError(f"axes={axes!r} has {len(axes)} letters: the image has {ndim} dims")
    if len(set(axes)) != len(axes) or any(a not in AXES_LETTERS for a in axes):
        raise InputError(f"axes={axes!r}: expected distinct letters of 'tzyxc'")
    if "y" not in axes or "x" not in axes:
        raise InputError(f"axes={axes!r}: both 'y' and 'x' are required")
    return axes


def to_tzyxc(image: Any, axes: str) -> Any:
    """View of ``image`` in ``t, z, y, x, c`` order (singleton axes inserted)."""
    xp = backend.namespace_of(image)
    present = [a for a in AXES_LETTERS if a in axes]
    arr = xp.transpose(image, [axes.index(a) for a in present])
    shape = [arr.shape[present.index(a)] if a in present else 1 for a in AXES_LETTERS]
    return arr.reshape(shape)


def from_tzyxc(stack: Any, axes: str) -> Any:
    """Feature stack ``(t, z, y, x, F)`` back to the input's non-channel axes, ``F`` last."""
    xp = backend.namespace_of(stack)
    keep = [a for a in "tzyx" if a in axes]
    drop = tuple(i for i, a in enumerate("tzyx") if a not in axes)
    arr = stack.reshape([n for i, n in enumerate(stack.shape) if i not in drop])
    order = [a for a in axes if a != "c"]
    return xp.transpose(arr, [keep.index(a) for a in order] + [len(keep)])


def spatial_ndim(shape_zyx: Sequence[int]) -> int:
    """2 when the image has a single z plane, else 3."""
    return 2 if shape_zyx[0] == 1 else 3


def compute(
    image: Any,
    selection: Any = "all",
    *,
    axes: str | None = None,
    in_2d: bool | Sequence[bool] = False,
    scales: Sequence[float] | None = None,
    spacing: Sequence[float] | None = None,
    device: str | None = "auto",
) -> Features:
    """ilastik's pixel features (all six families, any scales, 2D / 3D / in-2D).

    Parameters
    ----------
    image
        numpy or cupy array, any real dtype (converted to float32).
    selection
        ``"all"``, ilastik's bool matrix (6 x scales), a ``{feature: [scales]}`` dict, or a
        :class:`~gputrack.features.FeatureSelection`.
    axes
        Letters of ``tzyxc`` naming the image's axes; default ``yx``, ``zyx``, ``zyxc`` or
        ``tzyxc`` by ``image.ndim``. Each channel ``c`` is filtered separately, each
        time point ``t`` independently.
    in_2d
        Compute slice by slice (one flag, or one per scale column). Always on when z is absent.
    scales
        Scale columns of a matrix selection or of ``"all"`` (default 0.3 0.7 1.0 1.6 3.5 5.0 10.0).
    spacing
        Optional pixel size per spatial axis present (``(z, y, x)`` or ``(y, x)``); sigmas are
        then in that unit and divided by it per axis, derivatives are per unit. Not in
        ilastik (its issue #100); off by default.
    device
        ``"auto"``, ``"cpu"`` or ``"gpu"``.

    Returns
    -------
    Features
        ``(data, names)``: float32 array with the input's non-channel axes and the feature
        channels last (on the device that computed it), and ilastik's channel names.

    Raises
    ------
    InputError
        Unknown feature, malformed selection or axes, or a scale too large for the image
        (ilastik's rule ``ceil(3.5 * s) + 1 <= size``).

    Examples
    --------
    >>> img = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    >>> data, names = compute(img, {"GaussianSmoothing": [1.0], "HessianOfGaussianEigenvalues": [1.6]})
    >>> data.shape, names[1]
    ((64, 64, 3), 'Hessian of Gaussian Eigenvalues (σ=1.6) in 2D [0]')
    """
    device = backend.resolve_device(device)
    image = _as_array(image)
    axes = check_axes(axes, image.ndim)
    sel = normalize_selection(selection, scales=scales, in_2d=in_2d)
    vol = to_tzyxc(image, axes)
    sp = normalize_spacing(spacing, axes)
    check_scales(sel, vol.shape[1:4], sp)
    stack = feature_stack(vol, sel, spacing=sp, device=device)
    names = channel_names(sel, ndim=spatial_ndim(vol.shape[1:4]), n_channels=vol.shape[4])
    return Features(from_tzyxc(stack, axes), names)


def normalize_spacing(spacing: Sequence[float] | None, axes: str) -> tuple[float, float, float] | None:
    """Spacing for the spatial axes present in ``axes`` -> ``(z, y, x)`` (z = 1 when absent)."""
    if spacing is None:
        return None
    spatial = [a for a in "zyx" if a in axes]
    vals = [float(v) for v in np.ravel(spacing)]
    if len(vals) != len(spatial):
        names = "".join(spatial)
        raise InputError(f"spacing={tuple(vals)}: expected {len(spatial)} values, one per axis {names}")
    if any(not (v > 0 and np.isfinite(v)) for v in vals):
        raise InputError(f"spacing={tuple(vals)}: expected positive pixel sizes")
    d = dict(zip(spatial, vals))
    return (d.get("z", 1.0), d["y"], d["x"])


def _as_array(image: Any) -> Any:
    if type(image).__module__.startswith("cupy"):
        arr = image
    else:
        arr = np.asarray(image)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"image of dtype {arr.dtype}: expected a real-valued (bool, int or float) array")
    return arr

