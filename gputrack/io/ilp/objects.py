"""What an ilastik tracking / object-classification project caches about its objects.

Tracking projects keep, per lane, ilastik's own label image and object features:

- ``<Applet>/LabelImage_v2/labelimageNNN/blockNNNN`` (uint32, ``t, x, y, z, c`` blocks with a
  ``blockSlice`` attribute): the thresholded, size-filtered, labelled segmentation whose labels
  the annotations and stored events refer to; projects of older ilastik versions store it as
  ``<Applet>/LabelImage/NNNN/[[t0, x0, y0, z0, c0], [t1, x1, y1, z1, c1]]`` (the block's
  start and stop in its name);
- ``<Applet>/RegionFeatures[Vigra]/NNNN/[[t], [t+1]]/<plugin>/<feature>`` (one row per label,
  row 0 = background) and, for tracking, ``RegionFeaturesDivision`` (the "Cell Division
  Features" between frames t and t + 1).

``<Applet>`` is ``TrackingFeatureExtraction`` in the tracking workflows and
``ObjectExtraction`` in object classification. :func:`object_feature_matrix` orders the
selected features as ilastik's object classifiers do (plugins, then features, by sorted name;
each feature's columns in turn; row = label), so the stored vigra forests
(:func:`gputrack.forest.read_ilp_forests`) apply to it unchanged.

Examples
--------
>>> frames = read_label_frames("tracking.ilp")                     # doctest: +SKIP
>>> feats = read_object_features("tracking.ilp")                   # doctest: +SKIP
>>> X = object_feature_matrix(feats[0], {"Standard Object Features": ["Count", "Mean"]})  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import h5py
import numpy as np

from ...errors import InputError, MissingInputError

__all__ = ["feature_applet", "object_feature_matrix", "read_label_frames", "read_object_features"]

_APPLETS = ("TrackingFeatureExtraction", "ObjectExtraction")
_TIME_KEY = re.compile(r"\[\[(\d+)\],\s*\[(\d+)\]\]")


def _open(path: str | os.PathLike) -> h5py.File:
    if not os.path.isfile(path):
        raise MissingInputError(f"{path}: ilastik project not found")
    return h5py.File(path, "r")


def feature_applet(path: str | os.PathLike) -> str | None:
    """The applet of ``path`` holding the cached label image (tracking before object extraction), or None."""
    with _open(path) as f:
        for name in _APPLETS:
            for group in ("LabelImage_v2", "LabelImage"):
                g = f.get(f"{name}/{group}")
                if isinstance(g, h5py.Group) and len(g):
                    return name
    return None


def _features_applet(path: str | os.PathLike) -> str | None:
    with _open(path) as f:
        for name in _APPLETS:
            for group in ("RegionFeaturesVigra", "RegionFeatures"):
                if isinstance(f.get(f"{name}/{group}"), h5py.Group) and len(f[f"{name}/{group}"]):
                    return name
    return None


def _label_blocks(f: h5py.File, applet: str, lane: int) -> list[tuple[tuple[slice, ...], h5py.Dataset]]:
    """``(slices, dataset)`` of every cached label block of a lane, in either layout."""
    g = f.get(f"{applet}/LabelImage_v2/labelimage{lane:03d}")
    if isinstance(g, h5py.Group) and len(g):
        return [(_slices(g[k].attrs["blockSlice"].decode() if isinstance(g[k].attrs["blockSlice"], bytes)
                         else str(g[k].attrs["blockSlice"])), g[k]) for k in sorted(g)]
    g = f.get(f"{applet}/LabelImage/{lane:04d}")
    blocks = []
    if isinstance(g, h5py.Group):
        for k in sorted(g):
            nums = [int(v) for v in re.findall(r"-?\d+", k)]
            if len(nums) == 10 and isinstance(g[k], h5py.Dataset):
                blocks.append((tuple(slice(a, b) for a, b in zip(nums[:5], nums[5:])), g[k]))
    return blocks


def _slices(text: str) -> tuple[slice, ...]:
    out = []
    for part in text.strip("[]").split(","):
        a, b = part.split(":")
        out.append(slice(int(a), int(b)))
    return tuple(out)


def read_label_frames(path: str | os.PathLike, lane: int = 0, applet: str | None = None) -> np.ndarray:
    """ilastik's cached label image of a lane as ``(t, y, x)`` or ``(t, z, y, x)`` uint32.

    Raises
    ------
    InputError
        The project caches no label image for this lane (ilastik caches it once object
        extraction has run in the GUI).
    """
    applet = applet or feature_applet(path)
    with _open(path) as f:
        blocks = _label_blocks(f, applet, lane) if applet else []
        if not blocks:
            raise InputError(f"{path}: no cached label image for lane {lane} "
                             "(<Applet>/LabelImage_v2); run object extraction in ilastik or segment it")
        shape = tuple(max(s[i].stop for s, _ in blocks) for i in range(5))
        out = np.zeros(shape, np.uint32)
        for sl, ds in blocks:
            out[sl] = ds[()]
    txyz = out[..., 0]
    if txyz.shape[3] == 1:
        return np.ascontiguousarray(txyz[..., 0].transpose(0, 2, 1))       # t, y, x
    return np.ascontiguousarray(txyz.transpose(0, 3, 2, 1))                 # t, z, y, x


def _read_group(g: h5py.Group) -> dict[str, dict[str, np.ndarray]]:
    return {plugin: {name: np.asarray(g[plugin][name][()]) for name in g[plugin]
                     if isinstance(g[plugin][name], h5py.Dataset)}
            for plugin in g if isinstance(g[plugin], h5py.Group)}


def read_object_features(path: str | os.PathLike, lane: int = 0,
                         applet: str | None = None) -> dict[int, dict[str, dict[str, np.ndarray]]]:
    """Cached object features per frame: ``{t: {plugin: {feature: (n_labels + 1, k) array}}}``.

    Division features (tracking projects) are merged in as the plugin ``"Cell Division Features"``.
    ``applet`` defaults to the one caching the label image, else the first caching features.
    """
    applet = applet or feature_applet(path) or _features_applet(path)
    out: dict[int, dict[str, dict[str, np.ndarray]]] = {}
    with _open(path) as f:
        for group in ("RegionFeaturesVigra", "RegionFeatures", "RegionFeaturesDivision"):
            g = f.get(f"{applet}/{group}/{lane:04d}") if applet else None
            if not isinstance(g, h5py.Group):
                continue
            for key in g:
                m = _TIME_KEY.fullmatch(key)
                if m is None:
                    continue
                frame = out.setdefault(int(m.group(1)), {})
                for plugin, feats in _read_group(g[key]).items():
                    frame.setdefault(plugin, {}).update(feats)
    if not out:
        raise InputError(f"{path}: no cached object features for lane {lane} (<Applet>/RegionFeatures*)")
    return dict(sorted(out.items()))


def object_feature_matrix(frame_features: Mapping[str, Mapping[str, np.ndarray]],
                          selected: Mapping[str, Sequence[str]]) -> np.ndarray:
    """``(n_labels + 1, n_columns)`` float32 matrix of the selected features, in ilastik's order.

    Plugins and their features in sorted order (Python string order, as ilastik sorts them),
    each feature contributing its columns; the ``"Default features"`` group never. A selected
    feature that ilastik did not compute (e.g. ``ChildrenRatio_SquaredDistances``) is skipped,
    as ilastik skips it; the stored forest's feature count is the check.
    """
    columns = []
    n = None
    for plugin in sorted(selected):
        if plugin == "Default features":
            continue
        have = frame_features.get(plugin, {})
        for name in sorted(set(selected[plugin]) & set(have)):
            v = np.asarray(have[name], np.float32)
            v = v.reshape(v.shape[0], -1)
            if n is not None and v.shape[0] != n:
                raise InputError(f"object features: {plugin!r} / {name!r} has {v.shape[0]} rows, "
                                 f"expected {n}")
            n = v.shape[0]
            columns.append(v)
    if not columns:
        raise InputError("object features: no feature selected")
    return np.concatenate(columns, axis=1)
