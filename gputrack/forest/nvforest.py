"""nvForest (RAPIDS, the successor of cuML's FIL) as an optional forest inference backend.

``nvforest-cu12`` / ``nvforest-cu13`` load a fitted scikit-learn forest through Treelite and
evaluate it on the GPU (or CPU); inputs may be numpy or cupy arrays. gputrack's own kernel
(:func:`gputrack.forest.predict_proba`) stays the default: it also runs ilastik's vigra
forests, which nvForest cannot import, and it is the one held to scikit-learn's numbers in
the tests. ``bench/forest.py`` measures nvForest as the GPU peer when it is installed.

Example
-------
>>> from gputrack.forest import nvforest
>>> isinstance(nvforest.available(), bool)
True
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import backend
from ..errors import DeviceError


@functools.lru_cache(maxsize=1)
def _module() -> Any:
    try:
        import nvforest  # noqa: PLC0415
    except Exception:  # ImportError, or CUDA libraries that fail to load
        return None
    return nvforest


def available() -> bool:
    """True when ``nvforest`` imports."""
    return _module() is not None


def load(estimator: Any, *, device: str = "gpu", layout: str = "depth_first") -> Any:
    """An nvForest model of a fitted scikit-learn forest (``nvforest.load_from_sklearn``).

    Parameters
    ----------
    estimator
        Fitted ``sklearn.ensemble.RandomForestClassifier`` (or another forest nvForest reads).
    device
        ``"gpu"``, ``"cpu"`` or ``"auto"`` (nvForest's device choice).
    layout
        nvForest's node layout: ``"depth_first"``, ``"breadth_first"`` or ``"layered"``.

    Raises
    ------
    DeviceError
        nvForest is not installed.
    """
    nvf = _module()
    if nvf is None:
        raise DeviceError("nvForest is not installed: pip install nvforest-cu12 (or -cu13)")
    return nvf.load_from_sklearn(estimator, device=device, layout=layout)


def predict_proba(model: Any, X: Any) -> Any:
    """Class probabilities from an nvForest model; cupy in, cupy out; numpy in, numpy out.

    Columns are in the estimator's ``classes_`` order, as scikit-learn's ``predict_proba``.
    """
    on_gpu = backend.device_of(X) == "gpu"
    X = X.astype(np.float32, copy=False) if on_gpu else np.ascontiguousarray(X, dtype=np.float32)
    out = model.predict_proba(X)
    if on_gpu:
        return backend.array_module("gpu").asarray(out, dtype=np.float32)
    return np.asarray(backend.to_host(out), dtype=np.float32)
