"""Random forests: fit (scikit-learn, cuML), compile to flat arrays, predict on GPU and CPU.

The flat :class:`Forest` (layout in :mod:`gputrack.forest.model`) comes from
:func:`fit`, from a fitted scikit-learn / cuML / treelite forest, or from the vigra forests
of an ilastik project (:func:`read_ilp_forests`); :func:`predict_proba` evaluates it with a
CUDA kernel or its numba twin, giving scikit-learn's (or ilastik's) probabilities.

Examples
--------
>>> import numpy as np
>>> import gputrack.forest as gf
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(500, 9)).astype(np.float32)
>>> y = np.where(X[:, 0] > 0, 2, 1)
>>> forest = gf.fit(X, y, n_trees=20, n_jobs=1)
>>> proba = gf.predict_proba(forest, X[:5], device="cpu")
>>> proba.shape, proba.dtype.name
((5, 2), 'float32')
"""

from .model import Forest, Tree, check_forest, compile_forest, packed_nodes, round_thresholds
from .predict import predict, predict_proba
from .storage import load, save
from .train import fit, from_cuml, from_sklearn, from_treelite, vigra_mtry
from .vigra import read_ilp_forests, vigra_tree

__all__ = [
    "Forest",
    "Tree",
    "check_forest",
    "compile_forest",
    "fit",
    "from_cuml",
    "from_sklearn",
    "from_treelite",
    "load",
    "packed_nodes",
    "predict",
    "predict_proba",
    "read_ilp_forests",
    "round_thresholds",
    "save",
    "vigra_mtry",
    "vigra_tree",
]
