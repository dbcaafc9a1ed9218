"""Saving and loading flat forests in HDF5.

A forest is one HDF5 group with attributes ``format = "gputrack-forest"``,
``format_version``, ``op``, ``n_features``, ``source`` and the datasets ``feature``,
``threshold``, ``left``, ``right``, ``missing_left``, ``value``, ``tree_offsets``,
``classes`` and (when known) ``feature_names`` (UTF-8). Writing a file goes through
:func:`~gputrack.io.atomic.atomic_output`; a group can also be written into an open file
(e.g. a project file).

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from gputrack.forest import Tree, compile_forest
>>> leaf = Tree(np.array([-1]), np.array([0.0]), np.array([-1]), np.array([-1]), np.array([[1.0]]))
>>> f = compile_forest([leaf], op="le", classes=[1], n_features=3)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "forest.h5"
>>> save(f, path)
>>> load(path).n_features
3
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from ..errors import InputError, MissingInputError, OutputExistsError
from ..io.atomic import atomic_output
from ..io.hdf5 import open_hdf5
from .model import Forest, check_forest

FORMAT = "gputrack-forest"
FORMAT_VERSION = 1
_ARRAYS = ("feature", "threshold", "left", "right", "missing_left", "value", "tree_offsets")


def _write(forest: Forest, g: h5py.Group) -> None:
    g.attrs["format"] = FORMAT
    g.attrs["format_version"] = FORMAT_VERSION
    g.attrs["op"] = forest.op
    g.attrs["n_features"] = int(forest.n_features)
    g.attrs["source"] = forest.source
    for name in _ARRAYS:
        g.create_dataset(name, data=getattr(forest, name), compression="gzip", shuffle=True)
    classes = forest.classes
    if classes.dtype.kind in "OUS":
        g.create_dataset("classes", data=[str(c) for c in classes], dtype=h5py.string_dtype())
        g["classes"].attrs["kind"] = "str"
    else:
        g.create_dataset("classes", data=classes)
    if forest.feature_names is not None:
        g.create_dataset("feature_names", data=list(forest.feature_names), dtype=h5py.string_dtype())


def save(forest: Forest, target: str | os.PathLike | h5py.Group, *, name: str = "forest",
         overwrite: bool = False) -> None:
    """Write a forest to an HDF5 file (atomically) or into an open HDF5 group.

    Parameters
    ----------
    forest
        The forest to store.
    target
        A file path (a new HDF5 file whose group ``name`` holds the forest) or an open
        ``h5py.Group`` (the forest becomes its subgroup ``name``).
    name
        Name of the forest's group.
    overwrite
        Replace an existing file / subgroup; otherwise
        :class:`~gputrack.errors.OutputExistsError`.

    Examples
    --------
    >>> save(forest, "forest.h5")  # doctest: +SKIP
    """
    check_forest(forest)
    if isinstance(target, h5py.Group):
        if name in target:
            if not overwrite:
                raise OutputExistsError(
                    f"{target.file.filename}:{target[name].name}: exists; pass overwrite=True to replace it"
                )
            del target[name]
        _write(forest, target.create_group(name))
        return
    with atomic_output(target, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as fh:
        _write(forest, fh.create_group(name))


def _read(g: h5py.Group, where: str) -> Forest:
    if g.attrs.get("format") != FORMAT:
        raise InputError(f"{where}: not a gputrack forest (attribute format != {FORMAT!r})")
    version = int(g.attrs.get("format_version", -1))
    if version > FORMAT_VERSION or version < 1:
        raise InputError(f"{where}: forest format version {version}, this gputrack reads 1..{FORMAT_VERSION}")
    missing = [k for k in (*_ARRAYS, "classes") if k not in g]
    if missing:
        raise InputError(f"{where}: missing datasets {', '.join(missing)}")
    arrays = {k: g[k][()] for k in _ARRAYS}
    classes = g["classes"][()]
    if g["classes"].attrs.get("kind") == "str":
        classes = np.array([c.decode("utf-8") if isinstance(c, bytes) else str(c) for c in classes])
    names = None
    if "feature_names" in g:
        names = tuple(s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in g["feature_names"][()])
    forest = Forest(
        feature=arrays["feature"].astype(np.int32),
        threshold=arrays["threshold"].astype(np.float32),
        left=arrays["left"].astype(np.int32),
        right=arrays["right"].astype(np.int32),
        missing_left=arrays["missing_left"].astype(bool),
        value=arrays["value"].astype(np.float32),
        tree_offsets=arrays["tree_offsets"].astype(np.int64),
        op=str(g.attrs["op"]),
        classes=np.asarray(classes),
        n_features=int(g.attrs["n_features"]),
        feature_names=names,
        source=str(g.attrs.get("source", "")),
    )
    try:
        check_forest(forest)
    except InputError as err:
        raise InputError(f"{where}: {err}") from err
    return forest


def load(source: str | os.PathLike | h5py.Group, *, name: str = "forest") -> Forest:
    """Read a forest written by :func:`save`.

    Parameters
    ----------
    source
        A file path, an open ``h5py.Group`` holding the subgroup ``name``, or the forest's
        group itself.
    name
        Name of the forest's group.

    Returns
    -------
    Forest

    Examples
    --------
    >>> forest = load("forest.h5")  # doctest: +SKIP
    """
    if isinstance(source, h5py.Group):
        g = source if source.attrs.get("format") == FORMAT else source.get(name)
        if g is None:
            raise MissingInputError(f"{source.file.filename}:{source.name}: no forest group {name!r}")
        return _read(g, f"{source.file.filename}:{g.name}")
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise MissingInputError(f"{path}: forest file not found")
    with open_hdf5(path, "forest file") as fh:
        g = fh if fh.attrs.get("format") == FORMAT else fh.get(name)
        if g is None:
            raise MissingInputError(f"{path}: no forest group {name!r}")
        return _read(g, f"{path}:{g.name}")

