"""Connected components with face connectivity, consecutive labels, size filter.

Label order
-----------
Every function here returns ``uint32`` labels numbered ``1, 2, ...`` **in raster order of
first occurrence**: scanning the frame in C order (``z``, then ``y``, then ``x`` fastest),
the first pixel of object ``k`` comes before the first pixel of object ``k + 1``. The GPU
path (union-find kernel ``kernels/objects_ccl.cu``) and the CPU path (its numba twin) build
the same forest -- every component's root is its smallest raster index -- so both give
identical label images.

Connectivity is ilastik's (vigra ``labelMultiArrayWithBackground``, neighbourhood
"direct"): face neighbours only (4 in 2D, 6 in 3D), and two neighbours are connected only
when they carry the same non-zero value, so a label image keeps touching objects apart and
splits an id that occurs in several disconnected pieces.

Examples
--------
>>> import numpy as np
>>> mask = np.array([[0, 1, 0, 1],
...                  [1, 1, 0, 0],
...                  [0, 0, 2, 2]])
>>> label(mask)
array([[0, 1, 0, 2],
       [1, 1, 0, 0],
       [0, 0, 3, 3]], dtype=uint32)
>>> size_filter(label(mask), min_size=2, max_size=3)
array([[0, 1, 0, 0],
       [1, 1, 0, 0],
       [0, 0, 2, 2]], dtype=uint32)
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from .. import backend
from ..errors import InputError
from ..io.axes import guess_axes, normalize_axes, transpose_axes

_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
_CTYPE = {1: "unsigned char", 2: "unsigned short", 4: "unsigned int", 8: "unsigned long long"}
_INDEX_CTYPE = {4: "int", 8: "long long"}
_INT32_PIXELS = 2**31  # frames this large use 64-bit parent indices (GPU and CPU)
_THREADS = 256


def _kernel_names(itemsize: int, index_itemsize: int) -> tuple[str, str, str]:
    """``ccl_init``, ``ccl_merge`` and ``ccl_compress`` instantiations for a pixel and an index size."""
    t, i = _CTYPE[itemsize], _INDEX_CTYPE[index_itemsize]
    return f"ccl_init<{t}, {i}>", f"ccl_merge<{t}, {i}>", f"ccl_compress<{i}>"


_NAME_EXPRESSIONS = tuple(dict.fromkeys(n for a in _CTYPE for b in _INDEX_CTYPE for n in _kernel_names(a, b)))


# --------------------------------------------------------------------------- CPU twin


@numba.njit(cache=True, nogil=True)
def _find(parent, a):
    # same path halving as ccl_find in kernels/objects_ccl.cu: each visited node is
    # re-pointed at its grandparent ("atomicMin"; parents are smaller than their children)
    p = parent[a]
    while p != a:
        g = parent[p]
        if g == p:
            return p
        if g < parent[a]:
            parent[a] = g
        a = g
        p = parent[a]
    return a


@numba.njit(cache=True, nogil=True)
def _unite(parent, a, b):
    # same loop as ccl_unite in kernels/objects_ccl.cu (serial: the "atomicMin" always wins)
    while True:
        a = _find(parent, a)
        b = _find(parent, b)
        if a < b:
            old = parent[b]
            if a < old:
                parent[b] = a
            if old == b:
                return
            b = old
        elif b < a:
            old = parent[a]
            if b < old:
                parent[a] = b
            if old == a:
                return
            a = old
        else:
            return


@numba.njit(cache=True, nogil=True)
def _ccl_twin(img, parent, out):
    """Union-find labelling of a (nz, ny, nx) image; ``out`` gets raster-ordered labels."""
    nz, ny, nx = img.shape
    flat = img.ravel()
    n = flat.size
    plane = ny * nx
    for i in range(n):  # ccl_init
        parent[i] = i if flat[i] != 0 else -1
    for i in range(n):  # ccl_merge
        v = flat[i]
        if v == 0:
            continue
        x = i % nx
        y = (i // nx) % ny
        z = i // plane
        if x > 0 and flat[i - 1] == v:
            _unite(parent, i, i - 1)
        if y > 0 and flat[i - nx] == v:
            _unite(parent, i, i - nx)
        if z > 0 and flat[i - plane] == v:
            _unite(parent, i, i - plane)
    for i in range(n):  # ccl_compress
        if parent[i] >= 0:
            parent[i] = _find(parent, i)
    # number the roots in raster order; a root precedes every other pixel of its component
    count = 0
    for i in range(n):
        r = parent[i]
        if r < 0:
            out[i] = 0
        elif r == i:
            count += 1
            out[i] = count
        else:
            out[i] = out[r]
    return count


# --------------------------------------------------------------------------- one volume


def _as_unsigned(xp: Any, volume: Any) -> Any:
    """Integer/bool volume viewed as unsigned integers with the same zero / equality."""
    if volume.dtype == bool:
        return volume.view(xp.uint8)
    if volume.dtype.kind == "u":
        return volume
    if volume.dtype.kind == "i":
        return volume.view(_UNSIGNED[volume.dtype.itemsize])
    raise InputError(
        f"labels: expected a boolean or integer image (a mask or label image), got dtype {volume.dtype}"
    )


def label_volume(volume: Any, device: str | None = None) -> tuple[Any, int]:
    """Label one ``(z, y, x)`` (or ``(y, x)``) volume; see the module docstring for the order.

    Parameters
    ----------
    volume
        Boolean mask or integer label image (numpy or cupy).
    device
        ``"cpu"``, ``"gpu"`` or ``"auto"``; ``None`` follows the array's own device.

    Returns
    -------
    labels : array of uint32
        Same shape and namespace as the device's, labels ``1..n`` in raster order.
    n : int
        Number of components.

    Examples
    --------
    >>> import numpy as np
    >>> lab, n = label_volume(np.eye(3, dtype=bool))
    >>> n
    3
    """
    dev = backend.device_of(volume) if device is None else backend.resolve_device(device)
    xp = backend.array_module(dev)
    vol = backend.to_device(volume, dev)
    shape = vol.shape
    if vol.ndim not in (2, 3):
        raise InputError(f"labels: expected a 2D or 3D volume, got shape {tuple(shape)}")
    vol = xp.ascontiguousarray(_as_unsigned(xp, vol)).reshape((-1,) + shape[-2:])
    if vol.size == 0:
        return xp.zeros(shape, dtype=xp.uint32), 0
    if dev == "cpu":
        idx_dtype = np.int32 if vol.size < _INT32_PIXELS else np.int64
        parent = np.empty(vol.size, dtype=idx_dtype)
        out = np.empty(vol.size, dtype=np.uint32)
        n = int(_ccl_twin(vol, parent, out))
        return out.reshape(shape), n
    return _label_gpu(xp, vol, shape)


def _label_gpu(cp: Any, vol: Any, shape: tuple[int, ...]) -> tuple[Any, int]:
    size = int(vol.size)
    index = np.dtype(np.int32 if size < _INT32_PIXELS else np.int64)
    names = _kernel_names(vol.dtype.itemsize, index.itemsize)
    init, merge, compress = (backend.load_kernel("objects_ccl.cu", k, name_expressions=names) for k in names)
    nz, ny, nx = vol.shape
    parent = cp.empty(size, dtype=index)
    grid = ((size + _THREADS - 1) // _THREADS,)
    block = (_THREADS,)
    init(grid, block, (vol, parent, np.int64(size)))
    merge(grid, block, (vol, parent, np.int32(nz), np.int32(ny), np.int32(nx)))
    compress(grid, block, (parent, np.int64(size)))
    fg = parent >= 0
    roots = parent == cp.arange(size, dtype=index)
    rank = cp.cumsum(roots, dtype=cp.int64).astype(cp.uint32)
    out = cp.where(fg, rank[cp.maximum(parent, 0)], cp.uint32(0)).astype(cp.uint32)
    n = int(rank[-1])
    return out.reshape(shape), n


# --------------------------------------------------------------------------- public API


def label(image: Any, *, axes: str | None = None, device: str | None = "auto") -> Any:
    """Connected components of a mask or label image, per time frame.

    Parameters
    ----------
    image
        Boolean mask or integer label image (numpy or cupy), axes from ``tzyx``
        (a length-1 ``c`` axis is allowed and kept).
    axes
        Axis string; default guessed from the number of dimensions (``yx``, ``zyx``, ``tzyx``).
    device
        ``"auto"``, ``"cpu"`` or ``"gpu"``.

    Returns
    -------
    array of uint32
        Same shape as ``image``, on ``device``; each frame labelled ``1..n`` in raster
        order of first occurrence, face connectivity, equal values connected.

    Examples
    --------
    >>> import numpy as np
    >>> label(np.array([[1, 1, 2], [0, 0, 2]]), device="cpu")
    array([[1, 1, 2],
           [0, 0, 2]], dtype=uint32)
    """
    return _per_frame(image, axes, device, "labels", lambda vol, dev: label_volume(vol, dev)[0])


def size_filter(
    labels: Any,
    min_size: int = 0,
    max_size: int | None = None,
    *,
    axes: str | None = None,
    device: str | None = "auto",
) -> Any:
    """Remove objects whose pixel count is outside ``[min_size, max_size]``, per frame.

    Objects are kept iff ``min_size <= count <= max_size`` (ilastik's inclusive limits,
    pixel count without anisotropy correction). The input is relabelled first (face
    connectivity, see :func:`label`), so the result is consecutive in raster order.

    Parameters
    ----------
    labels
        Mask or label image, axes from ``tzyx``.
    min_size, max_size
        Inclusive size limits in pixels; ``max_size=None`` means no upper limit.
    axes, device
        As in :func:`label`.

    Returns
    -------
    array of uint32
        Relabelled image without the removed objects.

    Examples
    --------
    >>> import numpy as np
    >>> size_filter(np.array([[1, 0, 1, 1]]), min_size=2, device="cpu")
    array([[0, 0, 1, 1]], dtype=uint32)
    """
    if min_size < 0 or (max_size is not None and max_size < min_size):
        raise InputError(f"size filter: expected 0 <= min_size <= max_size, got {min_size}, {max_size}")

    def run(vol: Any, dev: str) -> Any:
        lab, n = label_volume(vol, dev)
        return filter_sizes(lab, n, min_size, max_size)

    return _per_frame(labels, axes, device, "labels", run)


def filter_sizes(labels: Any, n: int, min_size: int = 0, max_size: int | None = None) -> Any:
    """Size filter on a consecutive label volume (``1..n``), keeping the raster order.

    Examples
    --------
    >>> import numpy as np
    >>> filter_sizes(np.array([[1, 2, 2, 3]], dtype=np.uint32), 3, 2, 2)
    array([[0, 1, 1, 0]], dtype=uint32)
    """
    xp = backend.namespace_of(labels)
    counts = xp.bincount(labels.ravel(), minlength=n + 1)
    keep = counts >= min_size
    if max_size is not None:
        keep &= counts <= max_size
    keep[0] = False
    return select_labels(labels, keep)


def select_labels(labels: Any, keep: Any) -> Any:
    """Keep the labels ``i`` with ``keep[i]`` and renumber them consecutively in order.

    Examples
    --------
    >>> import numpy as np
    >>> select_labels(np.array([0, 1, 2, 3], dtype=np.uint32), np.array([0, 1, 0, 1], bool))
    array([0, 1, 0, 2], dtype=uint32)
    """
    xp = backend.namespace_of(labels)
    keep = xp.asarray(keep, dtype=bool).copy()
    keep[0] = False
    lut = xp.cumsum(keep, dtype=xp.int64).astype(xp.uint32)
    lut[~keep] = 0
    return lut[labels]


def _per_frame(image: Any, axes: str | None, device: str | None, what: str, fn) -> Any:
    dev = backend.resolve_device(device)
    xp = backend.array_module(dev)
    ax = guess_axes(image.shape, rgb_ok=False) if axes is None else normalize_axes(axes, image.shape, what)
    if "c" in ax and image.shape[ax.index("c")] != 1:
        n_c = image.shape[ax.index("c")]
        raise InputError(f"{what}: axis 'c' has length {n_c}; expected 1 (no channels)")
    vol4 = transpose_axes(image, ax, "tzyx")
    out = xp.zeros(vol4.shape, dtype=xp.uint32)
    for t in range(vol4.shape[0]):
        out[t] = fn(backend.to_device(vol4[t], dev), dev)
    return transpose_axes(out, "tzyx", ax)
