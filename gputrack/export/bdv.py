"""BigDataViewer XML + HDF5 of an image sequence, so Fiji (BigDataViewer, MaMuT) can open it.

:func:`write_bdv` writes the pair ``<base>.xml`` + ``<base>.h5`` in BigDataViewer's ``bdv.hdf5``
format, the layout Fiji's "Export Current Image as XML/HDF5" produces (checked field by field
against ilastik-testdata's ``smallVideoBdv.xml`` / ``smallVideoBdv.h5``):

XML (``SpimData version="0.2"``)::

    BasePath type="relative" "."
    SequenceDescription
        ImageLoader format="bdv.hdf5" / hdf5 type="relative" "<base>.h5"
        ViewSetups / ViewSetup (one per channel: id, name "channel <c>", size "x y z",
                     voxelSize unit + size "sx sy sz", attributes/channel)
                   / Attributes name="channel" / Channel (id, name)
        Timepoints type="range" (first, last)
    ViewRegistrations / ViewRegistration timepoint setup / ViewTransform type="affine"
        affine: the 3x4 row-major matrix diag(sx, sy, sz) (pixel -> physical units)

HDF5::

    __DATA_TYPES__/{Enum_Boolean, String_VariableLength}   committed types (as Fiji's writer)
    s<SS>/resolutions    (levels, 3) float64, x y z down-sampling factor of each level
    s<SS>/subdivisions   (levels, 3) int32, x y z block (chunk) size of each level
    t<TTTTT>/s<SS>/<level>/cells   (z, y, x) int16, gzip, chunked by the subdivision

Pixel values: BigDataViewer's HDF5 loader reads ``cells`` as **unsigned** 16 bit although the
datasets are declared int16 (Java has no unsigned short): the bits of the uint16 value are stored
as int16, so 40000 reads back as -25536 in h5py and as 40000 in BigDataViewer. :func:`write_bdv`
stores ``uint16.view(int16)`` and :func:`read_bdv` undoes it. Images that are integral and within
``[0, 65535]`` (uint8, uint16, integral floats, ...) are stored unchanged; anything else is mapped
linearly from ``[min, max]`` (or ``value_range``) onto ``[0, 65535]`` and rounded.

Levels: by default BigDataViewer's own proposal (``bdv.export.ProposeMipmaps``): halve the axes
whose relative voxel size is <= 2 until the largest dimension is <= 256; blocks 16x16x16, or
32x32x4 when the voxels are strongly anisotropic. Level ``k`` has size ``max(1, n // f)`` per axis
and each voxel is the mean of its ``f``-block (edge-replicated where the image is smaller than
the block), rounded half up, as BigDataViewer's exporter does.

Differences from Fiji's exporter: none in the layout. Timepoints are always ``0 .. T-1``.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> raw = np.arange(2 * 4 * 5, dtype=np.uint16).reshape(2, 4, 5)
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> [p.name for p in write_bdv(raw, d / "movie")]
['movie.xml', 'movie.h5']
>>> data, info = read_bdv(d / "movie.xml")
>>> data.shape, bool((data[:, 0, :, :, 0] == raw).all()), info["size"]
((2, 1, 4, 5, 1), True, (5, 4, 1))
"""

from __future__ import annotations

import contextlib
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError, MissingInputError
from ..io.atomic import atomic_output, check_writable

__all__ = ["bdv_paths", "downsample_mean", "intensity_map", "propose_mipmaps", "read_bdv", "read_bdv_xml",
           "to_uint16", "write_bdv"]

_AXES = {3: "tyx", 4: "tzyx", 5: "tzyxc"}


def bdv_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The ``(<base>.xml, <base>.h5)`` pair for ``path`` (a base name, or ending in .xml / .h5)."""
    path = Path(path)
    if path.suffix.lower() in (".xml", ".h5"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".xml"), path.with_name(path.name + ".h5")


def propose_mipmaps(
    size_xyz: Sequence[int], voxel_size_xyz: Sequence[float] = (1.0, 1.0, 1.0)
) -> tuple[np.ndarray, np.ndarray]:
    """BigDataViewer's default pyramid for an image: ``(resolutions, subdivisions)``, x y z per row.

    Parameters
    ----------
    size_xyz : image size in x, y, z
    voxel_size_xyz : voxel size in x, y, z (only ratios matter)

    Returns
    -------
    resolutions : (levels, 3) int array of down-sampling factors
    subdivisions : (levels, 3) int array of block sizes

    Examples
    --------
    >>> r, s = propose_mipmaps((408, 408, 1))
    >>> r.tolist(), s.tolist()
    ([[1, 1, 1], [2, 2, 2]], [[16, 16, 16], [16, 16, 16]])
    """
    size = np.asarray(size_xyz, np.int64)
    scale = np.asarray(voxel_size_xyz, np.float64)
    if size.shape != (3,) or scale.shape != (3,) or (scale <= 0).any():
        raise InputError(f"propose_mipmaps: expected 3 sizes and 3 positive voxel sizes, got {size_xyz}, "
                         f"{voxel_size_xyz}")
    scale = scale / scale.min()
    res = np.ones(3, np.int64)
    resolutions, subdivisions = [], []
    while True:
        resolutions.append(res.copy())
        dmax = int(np.argmax(scale))
        vmax = scale[dmax]
        if 4 * vmax / 32 > 1 / vmax:
            sub = np.full(3, 32, np.int64)
            sub[dmax] = 4
        else:
            sub = np.full(3, 16, np.int64)
        subdivisions.append(sub)
        if (size // res).max() <= 256:
            break
        grow = scale <= 2.0
        res[grow] *= 2
        scale[grow] *= 2
        scale = scale / scale.min()
    return np.array(resolutions), np.array(subdivisions)


def downsample_mean(volume: np.ndarray, factors_zyx: Sequence[int]) -> np.ndarray:
    """Block means of a (z, y, x) uint16 volume, rounded half up; size ``max(1, n // f)`` per axis.

    Where an axis is shorter than its factor the block is completed by repeating the edge.

    Examples
    --------
    >>> downsample_mean(np.array([[[1, 2, 5, 7, 9]]], np.uint16), (2, 1, 2)).tolist()
    [[[2, 6]]]
    """
    out = np.asarray(volume, np.float64)
    for axis, f in enumerate(int(f) for f in factors_zyx):
        if f == 1:
            continue
        n = max(1, out.shape[axis] // f)
        need = n * f
        if out.shape[axis] < need:
            pad = [(0, 0)] * out.ndim
            pad[axis] = (0, need - out.shape[axis])
            out = np.pad(out, pad, mode="edge")
        out = np.take(out, np.arange(need), axis=axis)
        shape = out.shape[:axis] + (n, f) + out.shape[axis + 1:]
        out = out.reshape(shape).mean(axis=axis + 1)
    return np.floor(out + 0.5).astype(np.uint16)


def intensity_map(
    raw: np.ndarray, value_range: tuple[float, float] | None = None
) -> tuple[float, float] | None:
    """How :func:`write_bdv` stores ``raw``: None (unchanged) or the (lo, hi) mapped onto [0, 65535].

    Examples
    --------
    >>> intensity_map(np.array([[0.0, 255.0]])), intensity_map(np.array([[0.5, 2.0]]))
    (None, (0.5, 2.0))
    """
    if value_range is not None:
        lo, hi = (float(v) for v in value_range)
        if not hi > lo:
            raise InputError(f"write_bdv: value_range {tuple(value_range)} must have max > min")
        return lo, hi
    if raw.dtype == bool or raw.dtype in (np.uint8, np.uint16):
        return None
    lo = hi = None
    integral = True
    for frame in raw:  # per time point: no whole-stack temporaries
        f = np.asarray(frame)
        if f.dtype.kind == "f" and not np.isfinite(f).all():
            raise InputError("write_bdv: raw data contain NaN or infinite values; expected finite values")
        fmin, fmax = float(f.min()), float(f.max())
        lo = fmin if lo is None else min(lo, fmin)
        hi = fmax if hi is None else max(hi, fmax)
        if integral and f.dtype.kind == "f":
            integral = bool(np.array_equal(f, np.round(f)))
    if integral and lo >= 0 and hi <= 65535:
        return None
    return lo, hi


def to_uint16(image: np.ndarray, value_map: tuple[float, float] | None) -> np.ndarray:
    """The uint16 values BigDataViewer shows for ``image`` under ``value_map`` (see :func:`write_bdv`).

    Examples
    --------
    >>> to_uint16(np.array([0.0, 0.5, 1.0]), (0.0, 1.0)).tolist()
    [0, 32768, 65535]
    """
    a = np.asarray(image)
    if value_map is None:
        return a.astype(np.uint16)
    lo, hi = value_map
    scaled = (a.astype(np.float64) - lo) * (65535.0 / (hi - lo))
    return np.floor(np.clip(scaled, 0, 65535) + 0.5).astype(np.uint16)


def _fmt(v: float) -> str:
    return repr(float(v))


def _sub(parent: ET.Element, tag: str, text=None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = str(text)
    return el


def _bdv_xml(h5_name: str, size_xyz, scales_xyz, unit: str, n_setups: int, n_times: int) -> ET.ElementTree:
    root = ET.Element("SpimData", version="0.2")
    _sub(root, "BasePath", ".", type="relative")
    seq = _sub(root, "SequenceDescription")
    loader = _sub(seq, "ImageLoader", format="bdv.hdf5")
    _sub(loader, "hdf5", h5_name, type="relative")
    setups = _sub(seq, "ViewSetups")
    for s in range(n_setups):
        vs = _sub(setups, "ViewSetup")
        _sub(vs, "id", s)
        _sub(vs, "name", f"channel {s + 1}")
        _sub(vs, "size", " ".join(str(int(v)) for v in size_xyz))
        vox = _sub(vs, "voxelSize")
        _sub(vox, "unit", unit)
        _sub(vox, "size", " ".join(_fmt(v) for v in scales_xyz))
        _sub(_sub(vs, "attributes"), "channel", s + 1)
    channels = _sub(setups, "Attributes", name="channel")
    for s in range(n_setups):
        ch = _sub(channels, "Channel")
        _sub(ch, "id", s + 1)
        _sub(ch, "name", s + 1)
    tps = _sub(seq, "Timepoints", type="range")
    _sub(tps, "first", 0)
    _sub(tps, "last", n_times - 1)
    regs = _sub(root, "ViewRegistrations")
    sx, sy, sz = (float(v) for v in scales_xyz)
    affine = np.array([[sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0]], np.float64)
    text = " ".join(_fmt(v) for v in affine.ravel())
    for t in range(n_times):
        for s in range(n_setups):
            reg = _sub(regs, "ViewRegistration", timepoint=t, setup=s)
            _sub(_sub(reg, "ViewTransform", type="affine"), "affine", text)
    tree = ET.ElementTree(root)
    ET.indent(tree, space="  ")
    return tree


def write_bdv(
    raw: np.ndarray,
    path: str | os.PathLike,
    *,
    axes: str | None = None,
    scales: Sequence[float] = (1.0, 1.0, 1.0),
    unit: str = "micrometer",
    resolutions: Sequence[Sequence[int]] | None = None,
    subdivisions: Sequence[Sequence[int]] | None = None,
    value_range: tuple[float, float] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``raw`` as a BigDataViewer XML + HDF5 pair (layout in the module docstring).

    Parameters
    ----------
    raw : array (t, [z,] y, x[, c])
        The image sequence; each channel becomes one BigDataViewer setup.
    path : base name; ``out/movie``, ``out/movie.xml`` and ``out/movie.h5`` all write
        ``out/movie.xml`` + ``out/movie.h5``.
    axes : {"tyx", "tzyx", "tyxc", "tzyxc"}, optional
        Default from ``raw.ndim``: 3 -> ``tyx``, 4 -> ``tzyx``, 5 -> ``tzyxc``.
    scales : (z, y, x) voxel size, in ``unit``
    unit : unit of ``scales`` (BigDataViewer's ``voxelSize/unit``)
    resolutions : (levels, 3) x y z down-sampling factors, optional
        First row must be ``(1, 1, 1)``. Default :func:`propose_mipmaps`.
    subdivisions : (levels, 3) x y z block sizes, optional
        Default :func:`propose_mipmaps`'s (or 16 16 16 for each given resolution level).
    value_range : (min, max), optional
        Map this range onto [0, 65535] (default: store unchanged when possible, see module docstring).
    overwrite : replace existing files

    Returns
    -------
    list of Path : ``[xml, h5]``
    """
    raw = np.asarray(raw)
    axes = _AXES.get(raw.ndim) if axes is None else axes
    if axes not in ("tyx", "tzyx", "tyxc", "tzyxc") or len(axes) != raw.ndim:
        raise InputError(f"write_bdv: raw of shape {raw.shape} with axes={axes!r}; expected "
                         "(t, [z,] y, x[, c]) with axes one of tyx, tzyx, tyxc, tzyxc")
    if raw.dtype.kind not in "biuf":
        raise InputError(f"write_bdv: raw of dtype {raw.dtype}; expected a numeric image")
    if "z" not in axes:
        raw = raw[:, None]
    if "c" not in axes:
        raw = raw[..., None]
    if 0 in raw.shape:
        raise InputError(f"write_bdv: raw has an empty axis (shape {raw.shape})")
    n_t, nz, ny, nx, n_c = raw.shape
    scales = tuple(float(s) for s in scales)
    if len(scales) != 3 or min(scales) <= 0:
        raise InputError(f"write_bdv: scales={scales}; expected three positive (z, y, x) voxel sizes")
    scales_xyz = scales[::-1]
    size_xyz = (nx, ny, nz)
    if resolutions is None:
        res, sub = propose_mipmaps(size_xyz, scales_xyz)
        if subdivisions is not None:
            sub = np.asarray(subdivisions, np.int64)
    else:
        res = np.asarray(resolutions, np.int64)
        sub = (np.full(res.shape, 16, np.int64) if subdivisions is None
               else np.asarray(subdivisions, np.int64))
    if res.ndim != 2 or res.shape[1] != 3 or (res < 1).any() or not (res[0] == 1).all():
        raise InputError(f"write_bdv: resolutions {res.tolist()}; expected rows of 3 factors >= 1, "
                         "the first (1, 1, 1)")
    if sub.shape != res.shape or (sub < 1).any():
        raise InputError(f"write_bdv: subdivisions {sub.tolist()}; expected {res.shape[0]} rows of 3 block "
                         "sizes >= 1 (one per resolution level)")
    value_map = intensity_map(raw, value_range)
    xml_path, h5_path = bdv_paths(path)
    check_writable(xml_path, overwrite)
    check_writable(h5_path, overwrite)
    tree = _bdv_xml(h5_path.name, size_xyz, scales_xyz, unit, n_c, n_t)
    with contextlib.ExitStack() as stack:
        tmp_xml = stack.enter_context(atomic_output(xml_path, overwrite=overwrite))
        tmp_h5 = stack.enter_context(atomic_output(h5_path, overwrite=overwrite))
        with h5py.File(tmp_h5, "w") as f:
            types = f.create_group("__DATA_TYPES__")
            types["Enum_Boolean"] = np.dtype(bool)
            types["String_VariableLength"] = h5py.string_dtype("ascii")
            for s in range(n_c):  # chunked and extendable, as Fiji's (JHDF5) writer makes them
                f.create_dataset(f"s{s:02d}/resolutions", data=res.astype(np.float64), chunks=res.shape,
                                 maxshape=(None, None))
                f.create_dataset(f"s{s:02d}/subdivisions", data=sub.astype(np.int32), chunks=sub.shape,
                                 maxshape=(None, None))
            for t in range(n_t):
                for s in range(n_c):
                    vol = to_uint16(raw[t, ..., s], value_map)
                    for level, (factors, block) in enumerate(zip(res, sub)):
                        data = vol if level == 0 else downsample_mean(vol, factors[::-1])
                        f.create_dataset(f"t{t:05d}/s{s:02d}/{level}/cells", data=data.view(np.int16),
                                         chunks=tuple(int(b) for b in block[::-1]), maxshape=(None,) * 3,
                                         compression="gzip", compression_opts=6)
        tree.write(tmp_xml, encoding="UTF-8", xml_declaration=True)
    return [xml_path, h5_path]


def _floats(text: str | None, what: str, path: Path) -> list[float]:
    try:
        return [float(v) for v in (text or "").split()]
    except ValueError as err:
        raise InputError(f"{path}: {what} {text!r} is not a list of numbers") from err


def read_bdv_xml(path: str | os.PathLike) -> dict:
    """Metadata of a BigDataViewer XML (any ``bdv.hdf5`` dataset, e.g. one written by Fiji).

    Returns
    -------
    dict with ``hdf5`` (Path of the data file), ``setups`` (list of ids), ``names``,
    ``size`` (x, y, z of the first setup), ``voxel_size`` (x, y, z), ``unit``,
    ``timepoints`` (list of ints), ``affines`` ({(timepoint, setup): (3, 4) array}, the
    concatenation of every ViewTransform of that view, pixel -> world).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: BigDataViewer XML not found")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise InputError(f"{path}: not a readable XML file ({err})") from err
    seq = root.find("SequenceDescription")
    loader = None if seq is None else seq.find("ImageLoader")
    if root.tag != "SpimData" or loader is None:
        raise InputError(f"{path}: not a BigDataViewer XML "
                         "(expected SpimData/SequenceDescription/ImageLoader)")
    if loader.get("format") != "bdv.hdf5" or loader.find("hdf5") is None:
        raise InputError(f"{path}: ImageLoader format {loader.get('format')!r}; expected 'bdv.hdf5'")
    base = root.find("BasePath")
    base_dir = path.parent
    if base is not None and base.text:
        relative = base.get("type", "relative") == "relative"
        base_dir = (path.parent / base.text) if relative else Path(base.text)
    h5 = loader.find("hdf5")
    h5_name = (h5.text or "").strip()
    h5_path = (base_dir / h5_name) if h5.get("type", "relative") == "relative" else Path(h5_name)
    setups, names, sizes, voxel, unit = [], [], [], None, ""
    for vs in seq.iter("ViewSetup"):
        setups.append(int(vs.findtext("id")))
        names.append(vs.findtext("name") or "")
        sizes.append(tuple(int(v) for v in _floats(vs.findtext("size"), "ViewSetup size", path)))
        if voxel is None and vs.find("voxelSize") is not None:
            voxel = tuple(_floats(vs.findtext("voxelSize/size"), "voxelSize", path))
            unit = vs.findtext("voxelSize/unit") or ""
    if not setups:
        raise InputError(f"{path}: no ViewSetup; expected at least one")
    tps = seq.find("Timepoints")
    if tps is None:
        raise InputError(f"{path}: no Timepoints element")
    if tps.get("type") == "range":
        timepoints = list(range(int(tps.findtext("first")), int(tps.findtext("last")) + 1))
    elif tps.get("type") == "pattern":
        timepoints = []
        for part in (tps.findtext("integerpattern") or "").split(","):
            a, _, b = part.strip().partition("-")
            timepoints += list(range(int(a), int(b or a) + 1))
    else:
        timepoints = [int(v) for v in (tps.findtext("list") or "").replace(",", " ").split()]
    affines = {}
    for reg in root.iter("ViewRegistration"):
        m = np.eye(4)
        for vt in reg.findall("ViewTransform"):
            a = np.eye(4)
            a[:3] = np.reshape(_floats(vt.findtext("affine"), "affine", path), (3, 4))
            m = m @ a  # transforms are listed outermost first
        affines[(int(reg.get("timepoint")), int(reg.get("setup")))] = m[:3]
    return {"hdf5": h5_path, "setups": setups, "names": names, "size": sizes[0], "sizes": sizes,
            "voxel_size": voxel or (1.0, 1.0, 1.0), "unit": unit, "timepoints": timepoints,
            "affines": affines}


def read_bdv(path: str | os.PathLike, *, level: int = 0) -> tuple[np.ndarray, dict]:
    """Read a BigDataViewer XML + HDF5 pair back as a (t, z, y, x, c) uint16 array.

    Parameters
    ----------
    path : the XML file
    level : resolution level to read

    Returns
    -------
    data : (t, z, y, x, c) uint16 (setups as channels, in setup order)
    info : :func:`read_bdv_xml` plus ``resolutions`` and ``subdivisions`` of the first setup
    """
    info = read_bdv_xml(path)
    h5_path = info["hdf5"]
    if not h5_path.is_file():
        raise MissingInputError(f"{path}: its HDF5 file {h5_path} is not there")
    with h5py.File(h5_path, "r") as f:
        s0 = f"s{info['setups'][0]:02d}"
        if f"{s0}/resolutions" not in f:
            raise InputError(f"{h5_path}: no {s0}/resolutions; not a BigDataViewer HDF5 file")
        info["resolutions"] = f[f"{s0}/resolutions"][()]
        info["subdivisions"] = f[f"{s0}/subdivisions"][()]
        if not 0 <= level < len(info["resolutions"]):
            raise InputError(f"{h5_path}: level {level} requested; the file has {len(info['resolutions'])}")
        frames = []
        for t in info["timepoints"]:
            chans = []
            for s in info["setups"]:
                name = f"t{t:05d}/s{s:02d}/{level}/cells"
                if name not in f:
                    raise InputError(f"{h5_path}: dataset {name} missing")
                cells = f[name][()]
                chans.append(cells.view(np.uint16) if cells.dtype == np.int16 else cells.astype(np.uint16))
            frames.append(np.stack(chans, axis=-1))
    return np.stack(frames), info
