"""Forest inference: class probabilities of samples, on the GPU (CUDA kernel) or the CPU (numba).

Both paths run the same algorithm: for each sample, the trees in order ``0..n_trees-1``, each
walked from its root to a leaf (``x[feature] <= threshold`` or ``<``, per the forest's
``op``; NaN follows ``missing_left``), the leaf's class distribution added in float32, and the
sum multiplied by ``1 / n_trees``. The GPU kernel (``kernels/forest.cu``) gives each sample a
thread that accumulates in registers; the CPU twin walks each tree for a block of 1024
samples before the next tree (the tree stays in cache), eight samples at a time in
interleaved branch-free steps (their load chains overlap), with leaves that absorb further
steps and the NaN test compiled only into blocks that hold a NaN (see :func:`_cpu_tables`).
Both add the trees in the same order in float32: results are identical bit for bit.

Examples
--------
>>> import numpy as np
>>> from sklearn.ensemble import RandomForestClassifier
>>> from gputrack.forest import from_sklearn
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 5)).astype(np.float32)
>>> y = (X[:, 0] > 0).astype(int) + 1
>>> rf = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
>>> p = predict_proba(from_sklearn(rf), X, device="cpu")
>>> bool(np.allclose(p, rf.predict_proba(X), atol=1e-6))
True
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

from .. import backend
from ..errors import InputError
from .model import Forest, check_forest, packed_nodes

log = logging.getLogger("gputrack")

_KERNEL_FILE = "forest.cu"
_MAXC = (2, 4, 8, 16, 32)
_NAME_EXPRESSIONS = tuple(
    f"forest_proba<{c},{'true' if s else 'false'}>" for c in (*_MAXC, 0) for s in (True, False)
)
_THREADS = 128
_SHARED_BYTES = 48 * 1024
_CPU_BLOCK = 1024
_CPU_CHUNK = 4


# --------------------------------------------------------------------------- CPU twin


@numba.njit(boundscheck=False)
def _step(X, base, i, code, feature, threshold, left, missing_left, check_nan):
    """One traversal step of the row at ``X[base:]`` from node ``i`` (feature code ``code``).

    Leaves absorb (see :func:`_cpu_tables`), so a row already at its leaf stays there and
    the step needs no branch. Indices are unsigned: numba emits no wraparound code.
    """
    v = X[base + np.uint64(code & 0x7FFFFFFF)]
    right = not (v <= threshold[i])
    if check_nan:
        if v != v:
            right = not missing_left[i]
    i = np.uint64(left[i]) + np.uint64(right)
    return i, feature[i]


@numba.njit(inline="always", boundscheck=False)
def _walk_block(X, n_features, start, stop, tables, acc, check_nan):
    """Add the leaf distributions of rows ``start:stop`` over all trees, in tree order."""
    feature, threshold, left, missing_left, leaf_row, roots, value = tables
    n_classes = value.shape[1]
    nf = np.uint64(n_features)
    for t in range(roots.shape[0]):
        root = np.uint64(roots[t])
        froot = feature[root]
        r = start
        # 8 rows walk the tree together, one step each per round: their load chains are
        # independent, so the core overlaps them; the round loop ends when all 8 sit on a
        # leaf (every feature code negative)
        while r + 8 <= stop:
            b0 = np.uint64(r) * nf
            b1 = b0 + nf
            b2 = b1 + nf
            b3 = b2 + nf
            b4 = b3 + nf
            b5 = b4 + nf
            b6 = b5 + nf
            b7 = b6 + nf
            i0 = i1 = i2 = i3 = i4 = i5 = i6 = i7 = root
            f0 = f1 = f2 = f3 = f4 = f5 = f6 = f7 = froot
            while (f0 & f1 & f2 & f3 & f4 & f5 & f6 & f7) >= 0:
                i0, f0 = _step(X, b0, i0, f0, feature, threshold, left, missing_left, check_nan)
                i1, f1 = _step(X, b1, i1, f1, feature, threshold, left, missing_left, check_nan)
                i2, f2 = _step(X, b2, i2, f2, feature, threshold, left, missing_left, check_nan)
                i3, f3 = _step(X, b3, i3, f3, feature, threshold, left, missing_left, check_nan)
                i4, f4 = _step(X, b4, i4, f4, feature, threshold, left, missing_left, check_nan)
                i5, f5 = _step(X, b5, i5, f5, feature, threshold, left, missing_left, check_nan)
                i6, f6 = _step(X, b6, i6, f6, feature, threshold, left, missing_left, check_nan)
                i7, f7 = _step(X, b7, i7, f7, feature, threshold, left, missing_left, check_nan)
            k = r - start
            l0, l1 = np.uint64(leaf_row[i0]), np.uint64(leaf_row[i1])
            l2, l3 = np.uint64(leaf_row[i2]), np.uint64(leaf_row[i3])
            l4, l5 = np.uint64(leaf_row[i4]), np.uint64(leaf_row[i5])
            l6, l7 = np.uint64(leaf_row[i6]), np.uint64(leaf_row[i7])
            for c in range(n_classes):
                acc[k, c] += value[l0, c]
                acc[k + 1, c] += value[l1, c]
                acc[k + 2, c] += value[l2, c]
                acc[k + 3, c] += value[l3, c]
                acc[k + 4, c] += value[l4, c]
                acc[k + 5, c] += value[l5, c]
                acc[k + 6, c] += value[l6, c]
                acc[k + 7, c] += value[l7, c]
            r += 8
        while r < stop:
            i, f, base = root, froot, np.uint64(r) * nf
            while f >= 0:
                i, f = _step(X, base, i, f, feature, threshold, left, missing_left, check_nan)
            row = np.uint64(leaf_row[i])
            for c in range(n_classes):
                acc[r - start, c] += value[row, c]
            r += 1


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _proba_blocks(X, tables, block, scale, out, b0, b1):
    """Probabilities of the rows of blocks ``b0:b1`` (``block`` rows each) into ``out``."""
    n, n_features = X.shape
    n_classes = out.shape[1]
    flat = X.reshape(-1)
    for b in range(b0, b1):
        start = b * block
        stop = min(n, start + block)
        acc = np.zeros((stop - start, n_classes), dtype=np.float32)
        has_nan = False
        for j in range(start * n_features, stop * n_features):
            has_nan |= flat[j] != flat[j]
        # two compiled walks: the common one without the per-step NaN test
        if has_nan:
            _walk_block(flat, n_features, start, stop, tables, acc, True)
        else:
            _walk_block(flat, n_features, start, stop, tables, acc, False)
        for r in range(start, stop):
            for c in range(n_classes):
                out[r, c] = acc[r - start, c] * scale


def _cpu_tables(forest: Forest) -> tuple[np.ndarray, ...]:
    """Node tables of the CPU twin, built once per forest and cached.

    ``(feature, threshold, left, missing_left, leaf_row, roots, value)``, rewritten from the
    forest's so that one branch-free step serves every node:

    - the split test is always ``x <= threshold``: for float32 ``x`` and ``t``, ``x < t``
      holds exactly when ``x <= nextafter(t, -inf)`` (never when ``t = -inf``, which
      becomes NaN: no ``x <= NaN`` passes), so ``"lt"`` forests take the same decisions;
    - leaves absorb: feature code ``INT32_MIN`` (negative, and column 0 once the sign bit
      is masked), threshold ``+inf``, ``left`` = the leaf itself and NaN going left, so any
      further step stays on the leaf; ``leaf_row`` keeps the row of its distribution.
    """
    cached = forest._cache.get("cpu")
    if cached is None:
        leaf = forest.feature < 0
        threshold = np.ascontiguousarray(forest.threshold, dtype=np.float32)
        if forest.op == "lt":
            neg_inf = np.isneginf(threshold)
            threshold = np.nextafter(threshold, np.float32(-np.inf))
            threshold[neg_inf] = np.nan
        threshold = np.where(leaf, np.float32(np.inf), threshold).astype(np.float32)
        feature = np.where(leaf, np.iinfo(np.int32).min, forest.feature).astype(np.int32)
        left = np.where(leaf, np.arange(forest.n_nodes), forest.left).astype(np.int32)
        cached = (
            feature,
            threshold,
            left,
            (forest.missing_left | leaf).astype(np.bool_),
            np.ascontiguousarray(forest.left, dtype=np.int32),
            forest.tree_offsets[:-1].astype(np.int64),
            np.ascontiguousarray(forest.value, dtype=np.float32),
        )
        forest._cache["cpu"] = cached
    return cached


def _predict_cpu(forest: Forest, X: np.ndarray) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.float32)
    out = np.empty((X.shape[0], forest.n_classes), dtype=np.float32)
    if X.shape[0] == 0:
        return out
    tables = _cpu_tables(forest)
    scale = np.float32(1.0 / forest.n_trees)
    n_blocks = -(-X.shape[0] // _CPU_BLOCK)
    threads = min(numba.get_num_threads(), -(-n_blocks // _CPU_CHUNK))
    if threads <= 1:
        _proba_blocks(X, tables, _CPU_BLOCK, scale, out, 0, n_blocks)
        return out
    # blocks handed out a few at a time from a queue, not split evenly up front: a thread
    # that the OS pauses on a busy machine does not hold the others up (the compiled walk
    # releases the GIL; one plain function compiles several times faster than a parallel loop)
    chunks = [(b, min(b + _CPU_CHUNK, n_blocks)) for b in range(0, n_blocks, _CPU_CHUNK)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda c: _proba_blocks(X, tables, _CPU_BLOCK, scale, out, c[0], c[1]), chunks))
    return out


# --------------------------------------------------------------------------- GPU


def _device_arrays(forest: Forest) -> tuple[Any, Any, Any]:
    """The forest's node, root and value tables on the GPU (uploaded once, cached)."""
    cached = forest._cache.get("gpu")
    if cached is None:
        cp = backend.array_module("gpu")
        nodes = cp.asarray(packed_nodes(forest))
        roots = cp.asarray(forest.tree_offsets[:-1].astype(np.int32))
        values = cp.asarray(np.ascontiguousarray(forest.value, dtype=np.float32))
        cached = (nodes, roots, values)
        forest._cache["gpu"] = cached
    return cached


def _launch_config(n_features: int) -> tuple[int, bool, int]:
    """Threads per block, whether rows are staged in shared memory, and shared bytes."""
    stride = n_features | 1
    for threads in (_THREADS, 64, 32):
        nbytes = threads * stride * 4
        if nbytes <= _SHARED_BYTES:
            return threads, True, nbytes
    return _THREADS, False, 0


def _kernel_name(n_classes: int, stage: bool) -> str:
    maxc = next((c for c in _MAXC if n_classes <= c), 0)
    return f"forest_proba<{maxc},{'true' if stage else 'false'}>"


def _predict_gpu_block(forest: Forest, Xd: Any) -> Any:
    """Probabilities of a C-contiguous float32 cupy block."""
    cp = backend.array_module("gpu")
    n, n_features = Xd.shape
    out = cp.empty((n, forest.n_classes), dtype=cp.float32)
    if n == 0:
        return out
    nodes, roots, values = _device_arrays(forest)
    threads, stage, shared = _launch_config(n_features)
    kernel = backend.load_kernel(
        _KERNEL_FILE, _kernel_name(forest.n_classes, stage), name_expressions=_NAME_EXPRESSIONS
    )
    grid = (n + threads - 1) // threads
    kernel(
        (grid,),
        (threads,),
        (
            Xd,
            np.int64(n),
            np.int32(n_features),
            nodes,
            roots,
            np.int32(forest.n_trees),
            values,
            np.int32(forest.n_classes),
            np.int32(forest.op == "lt"),
            np.float32(1.0 / forest.n_trees),
            out,
        ),
        shared_mem=shared,
    )
    return out


def _default_block_rows(forest: Forest, n_features: int) -> int:
    per_row = 4 * (n_features + forest.n_classes)
    budget = int(backend.free_memory("gpu") * 0.25)
    return int(max(1024, min(1 << 26, budget // max(per_row, 1))))


def _predict_gpu(forest: Forest, X: Any, block_rows: int | None) -> Any:
    """GPU probabilities; X numpy or cupy; returns cupy. Blocks shrink on out-of-memory."""
    cp = backend.array_module("gpu")
    n = X.shape[0]
    on_device = backend.device_of(X) == "gpu"
    if on_device and block_rows is None:
        rows = n
    else:
        rows = block_rows or _default_block_rows(forest, X.shape[1])
    rows = max(1, min(int(rows), max(n, 1)))
    while True:
        try:
            if rows >= n:
                return _predict_gpu_block(forest, cp.ascontiguousarray(cp.asarray(X), dtype=cp.float32))
            out = cp.empty((n, forest.n_classes), dtype=cp.float32)
            for start in range(0, n, rows):
                block = cp.ascontiguousarray(cp.asarray(X[start : start + rows]), dtype=cp.float32)
                out[start : start + rows] = _predict_gpu_block(forest, block)
            return out
        except Exception as err:
            if not backend.is_out_of_memory(err) or rows <= 1024:
                raise
            backend.free_cached_memory("gpu")
            rows = max(1024, rows // 2)
            log.info("forest: out of GPU memory, retrying with blocks of %d rows", rows)


# --------------------------------------------------------------------------- public


def predict_proba(
    forest: Forest, X: Any, *, device: str | None = "auto", block_rows: int | None = None
) -> Any:
    """Class probabilities of samples under a flat forest.

    Parameters
    ----------
    forest
        A compiled :class:`~gputrack.forest.Forest`.
    X
        ``(n_samples, n_features)`` feature matrix (numpy or cupy); cast to float32 as
        scikit-learn does. A cupy input is a GPU input.
    device
        ``"auto"`` (the GPU when there is one or when ``X`` is a cupy array), ``"cpu"`` or
        ``"gpu"``.
    block_rows
        GPU only: rows moved and predicted per step (default: from free device memory for a
        host input, everything at once for a device input). Halved on out-of-memory errors.

    Returns
    -------
    array
        ``(n_samples, n_classes)`` float32, columns in ``forest.classes`` order, each row
        the mean over trees of the leaf distributions. Same array type as ``X`` (numpy for
        numpy input, cupy for cupy input), whichever device computed it.

    Raises
    ------
    InputError
        ``X`` is not 2-D or has a different number of columns than the forest's features.

    Examples
    --------
    >>> import numpy as np
    >>> from gputrack.forest import Tree, compile_forest
    >>> stump = Tree(np.array([0, -1, -1]), np.array([0.5, 0, 0]), np.array([1, -1, -1]),
    ...              np.array([2, -1, -1]), np.array([[0, 0], [1, 0], [0, 1]]))
    >>> f = compile_forest([stump], op="le", classes=[1, 2], n_features=1)
    >>> predict_proba(f, np.array([[0.5], [0.6]]), device="cpu").tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    if getattr(X, "ndim", None) != 2:
        X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"X: expected a 2-D array (n_samples, n_features), got shape {tuple(X.shape)}")
    if X.shape[1] != forest.n_features:
        raise InputError(
            f"X has {X.shape[1]} features (columns), the forest expects {forest.n_features}"
        )
    if "checked" not in forest._cache:
        check_forest(forest)
        forest._cache["checked"] = True
    on_gpu_input = backend.device_of(X) == "gpu"
    dev = "gpu" if (device in (None, "auto") and on_gpu_input) else backend.resolve_device(device)
    if dev == "gpu":
        out = _predict_gpu(forest, X, block_rows)
        return out if on_gpu_input else backend.to_host(out)
    out = _predict_cpu(forest, backend.to_host(X))
    return backend.to_device(out, "gpu") if on_gpu_input else out


def predict(forest: Forest, X: Any, *, device: str | None = "auto", block_rows: int | None = None) -> Any:
    """Most probable class label of each sample (first class on ties, like scikit-learn).

    Parameters
    ----------
    forest, X, device, block_rows
        As for :func:`predict_proba`.

    Returns
    -------
    array
        ``(n_samples,)`` labels from ``forest.classes`` (numpy or cupy like ``X``).

    Examples
    --------
    >>> import numpy as np
    >>> from gputrack.forest import Tree, compile_forest
    >>> stump = Tree(np.array([0, -1, -1]), np.array([0.5, 0, 0]), np.array([1, -1, -1]),
    ...              np.array([2, -1, -1]), np.array([[0, 0], [1, 0], [0, 1]]))
    >>> f = compile_forest([stump], op="le", classes=[3, 7], n_features=1)
    >>> predict(f, np.array([[0.0], [1.0]]), device="cpu").tolist()
    [3, 7]
    """
    proba = predict_proba(forest, X, device=device, block_rows=block_rows)
    xp = backend.namespace_of(proba)
    idx = xp.argmax(proba, axis=1)
    if forest.classes.dtype.kind not in "biuf":  # string labels live on the host
        return forest.classes[backend.to_host(idx)]
    return xp.asarray(forest.classes)[idx]
