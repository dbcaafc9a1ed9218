"""Fiji MaMuT XML and BigDataViewer XML/HDF5 exports, parsed back with lxml / h5py.

Expectations come from the event fixture's ``truth``, the solution arrays, scipy (centres of mass,
connected components), scikit-image (block means) and ilastik-testdata's real BigDataViewer pair
``smallVideoBdv.xml`` / ``smallVideoBdv.h5``; never from numbers printed by the writers.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from lxml import etree
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.measure import block_reduce

from gputrack.errors import InputError, OutputExistsError
from gputrack.export.bdv import read_bdv, write_bdv
from gputrack.export.mamut import mamut_paths, read_mamut, write_mamut
from tests.conftest import shared_path
from tests.event_fixture import event_result, truth

INPUTDATA = ("ilastik-testdata", "tests", "test_ilastik", "data", "inputdata")


@pytest.fixture(scope="module", params=[(2, True), (2, False), (3, True), (3, False)],
                ids=["2d", "2d-unresolved", "3d", "3d-unresolved"])
def scene(request):
    ndim, resolve = request.param
    result, raw = event_result(ndim, resolve)
    return ndim, resolve, result, raw


def _mamut(path):
    """Independent lxml parse: spots {ID: attrs}, edges [(track id, attrs)], tracks, filtered, root."""
    root = etree.parse(str(path)).getroot()
    assert root.tag == "TrackMate"
    model = root.find("Model")
    spots = {int(s.get("ID")): dict(s.attrib) for s in model.iterfind("AllSpots/SpotsInFrame/Spot")}
    edges, tracks = [], {}
    for tr in model.iterfind("AllTracks/Track"):
        tracks[int(tr.get("TRACK_ID"))] = dict(tr.attrib)
        edges += [(int(tr.get("TRACK_ID")), dict(e.attrib)) for e in tr.iterfind("Edge")]
    filtered = [int(t.get("TRACK_ID")) for t in model.iterfind("FilteredTracks/TrackID")]
    return spots, edges, tracks, filtered, root


def _key(attrs):
    return int(attrs["FRAME"]), int(attrs["LabelimageId"])


def test_mamut_spots_edges_tracks(scene, tmp_path):
    ndim, resolve, result, raw = scene
    scales = (2.0, 0.5, 0.25)  # z, y, x: anisotropic, so wrong axis order shows
    paths = write_mamut(result, tmp_path / "ev", raw=raw, scales=scales)
    assert [p.name for p in paths] == ["ev_mamut.xml", "ev_bdv.xml", "ev_bdv.h5"]
    spots, edges, tracks, filtered, root = _mamut(paths[0])
    det, sol, frames = result.detections, result.solution, result.frames()

    # spots: exactly the detections with count > 0; the false detection is absent
    active = np.flatnonzero(sol.count > 0)
    assert sorted(spots) == active.tolist()
    assert int(root.find("Model/AllSpots").get("nspots")) == active.size
    keys = {_key(a) for a in spots.values()}
    assert truth["false_detection"] not in keys
    for i, a in spots.items():
        t, label = int(det["t"].iloc[i]), int(det["label"].iloc[i])
        assert _key(a) == (t - result.start, label)
        assert float(a["POSITION_T"]) == int(a["FRAME"])
        # centre of the object in the label frame (scipy), in physical units
        c = ndimage.center_of_mass(frames[t - result.start] == label)
        zyx = (c[0], c[1], c[2]) if ndim == 3 else (0.0, c[0], c[1])
        got = (float(a["POSITION_Z"]), float(a["POSITION_Y"]), float(a["POSITION_X"]))
        np.testing.assert_allclose(got, np.multiply(zyx, scales), atol=1e-6)
        assert float(a["RADIUS"]) > 0 and a["VISIBILITY"] == "1"

    # edges: exactly the active links
    links = np.flatnonzero(sol.link_value > 0)
    want = {(int(result.graph.src[e]), int(result.graph.dst[e])) for e in links}
    got = [(int(a["SPOT_SOURCE_ID"]), int(a["SPOT_TARGET_ID"])) for _, a in edges]
    assert len(got) == len(set(got)) and set(got) == want
    for _, a in edges:
        assert float(a["LINK_COST"]) == float(a["LINK_COST"])  # a number, not NaN
        s, d = spots[int(a["SPOT_SOURCE_ID"])], spots[int(a["SPOT_TARGET_ID"])]
        assert int(d["FRAME"]) == int(s["FRAME"]) + 1
        dist = np.linalg.norm([float(d[k]) - float(s[k]) for k in ("POSITION_X", "POSITION_Y", "POSITION_Z")])
        assert float(a["DISPLACEMENT"]) == pytest.approx(dist)

    # the division: two edges from the parent's spot, to the two daughters
    (pt, plabel, daughters) = truth["division"]
    by_key = {_key(a): i for i, a in spots.items()}
    parent = by_key[(pt, plabel)]
    children = sorted(_key(spots[d]) for s, d in got if s == parent)
    assert children == sorted(daughters)

    # tracks: edges grouped per connected component of the spot graph (as TrackMate does)
    ids = sorted(spots)
    index = {s: k for k, s in enumerate(ids)}
    a_ = [index[s] for s, _ in got]
    b_ = [index[d] for _, d in got]
    n_comp, comp = connected_components(coo_matrix((np.ones(len(a_)), (a_, b_)), shape=(len(ids),) * 2),
                                        directed=False)
    by_track = {}
    for (tid, a) in edges:
        by_track.setdefault(tid, set()).add(comp[index[int(a["SPOT_SOURCE_ID"])]])
    assert all(len(c) == 1 for c in by_track.values())  # one component per track
    assert len({next(iter(c)) for c in by_track.values()}) == len(by_track)  # one track per component
    with_edges = {comp[k] for k in a_}
    assert len(by_track) == len(with_edges)
    assert sorted(filtered) == sorted(tracks)
    lin = result.lineage
    for tid, comps in by_track.items():
        members = [s for s in ids if comp[index[s]] in comps]
        lineage_ids = set(lin["lineage_id"].to_numpy()[members].tolist())
        assert tid == min(lineage_ids)  # TRACK_ID = lineage id (smallest when a merger joins several)
        assert int(tracks[tid]["NUMBER_SPOTS"]) == len(members)
        n_split = sum(1 for m in members if sum(1 for s, _ in got if s == m) > 1)
        assert int(tracks[tid]["NUMBER_SPLITS"]) == n_split
    div_track = int(lin["lineage_id"].iloc[parent])
    assert int(tracks[div_track]["NUMBER_SPLITS"]) >= 1

    # mergers
    for t, label, n in truth["mergers"]:
        if resolve:  # pieces: own spots with MergerLabelId, own edges in and out
            pieces = [i for i, a in spots.items()
                      if int(a["FRAME"]) == t and int(a["MergerLabelId"]) == label]
            assert len(pieces) == n
            assert all(int(spots[p]["ObjectCount"]) == 1 for p in pieces)
            assert all(sum(1 for s, d in got if d == p) == 1 for p in pieces)
        else:  # one spot carrying n objects, entered by n edges (or fewer carrying n objects)
            spot = by_key[(t, label)]
            assert int(spots[spot]["ObjectCount"]) == n
            incoming = [a for _, a in edges if int(a["SPOT_TARGET_ID"]) == spot]
            assert sum(int(a["LINK_VALUE"]) for a in incoming) == n
    if not resolve:  # the merger joins lineages B and C into one TrackMate track with a merge
        spot = by_key[(truth["mergers"][0][0], truth["mergers"][0][1])]
        tid = next(t for t, a in edges if int(a["SPOT_TARGET_ID"]) == spot)
        assert int(tracks[tid]["NUMBER_MERGES"]) >= 1

    # every attribute is declared, as TrackMate requires
    decl = {g.tag: {f.get("feature") for f in g} for g in root.find("Model/FeatureDeclarations")}
    assert all(set(a) - {"ID", "name"} <= decl["SpotFeatures"] for a in spots.values())
    assert all(set(a) <= decl["EdgeFeatures"] for _, a in edges)
    assert all(set(a) - {"name"} <= decl["TrackFeatures"] for a in tracks.values())

    # the image: our BDV XML, which exists, and a MaMuT viewer in the GUI state
    img = root.find("Settings/ImageData")
    assert (tmp_path / img.get("filename")).resolve() == paths[1].resolve()
    assert (paths[1].parent.resolve() / img.get("filename")).is_file()
    assert img.get("folder") == str(paths[1].parent.resolve())
    assert [v.get("key") for v in root.iterfind("GUIState/View")] == ["MaMuT Viewer"]
    assert int(img.get("nframes")) == truth["n_frames"]

    # our reader agrees with lxml
    m = read_mamut(paths[0])
    assert sorted(m.spots["ID"]) == sorted(spots)
    assert set(map(tuple, m.edges[["SPOT_SOURCE_ID", "SPOT_TARGET_ID"]].to_numpy().tolist())) == want
    assert sorted(m.tracks["TRACK_ID"]) == sorted(tracks) and m.tracks["filtered"].all()


def _bdv_consistent(xml_path):
    """BDV XML consistent with its HDF5; returns (setups, timepoints, voxel size x y z)."""
    root = etree.parse(str(xml_path)).getroot()
    assert root.tag == "SpimData" and root.get("version") == "0.2"
    seq = root.find("SequenceDescription")
    assert seq.find("ImageLoader").get("format") == "bdv.hdf5"
    h5_path = xml_path.parent / seq.findtext("ImageLoader/hdf5")
    setups = [(int(v.findtext("id")), [int(s) for s in v.findtext("size").split()],
               [float(s) for s in v.findtext("voxelSize/size").split()])
              for v in seq.iterfind("ViewSetups/ViewSetup")]
    first, last = int(seq.findtext("Timepoints/first")), int(seq.findtext("Timepoints/last"))
    regs = {(int(r.get("timepoint")), int(r.get("setup"))):
            [float(v) for v in r.findtext("ViewTransform/affine").split()]
            for r in root.iterfind("ViewRegistrations/ViewRegistration")}
    assert set(regs) == {(t, s) for t in range(first, last + 1) for s, _, _ in setups}
    with h5py.File(h5_path, "r") as f:
        for s, size, vox in setups:
            res = f[f"s{s:02d}/resolutions"][()]
            sub = f[f"s{s:02d}/subdivisions"][()]
            assert res.dtype == np.float64 and sub.dtype == np.int32 and res.shape == sub.shape
            np.testing.assert_array_equal(res[0], 1)
            for t in range(first, last + 1):
                np.testing.assert_allclose(np.reshape(regs[(t, s)], (3, 4))[:, :3], np.diag(vox))
                for level in range(res.shape[0]):
                    ds = f[f"t{t:05d}/s{s:02d}/{level}/cells"]
                    expect = [max(1, n // int(r)) for n, r in zip(size, res[level])]
                    assert ds.shape == tuple(expect[::-1]) and ds.dtype == np.int16
                    assert ds.chunks == tuple(int(b) for b in sub[level][::-1])
            assert f"t{last + 1:05d}" not in f
    return setups, (first, last), h5_path


@pytest.mark.parametrize("ndim", [2, 3])
def test_bdv_of_the_mamut_export(ndim, tmp_path):
    result, raw = event_result(ndim, True)
    scales = (2.0, 0.5, 0.25)
    paths = write_mamut(result, tmp_path / "run.xml", raw=raw, scales=scales)
    setups, (first, last), h5_path = _bdv_consistent(paths[1])
    shape = raw.shape[1:]
    assert (first, last) == (0, raw.shape[0] - 1)
    size = [shape[-1], shape[-2], shape[0] if ndim == 3 else 1]
    assert setups == [(0, size, [0.25, 0.5, 2.0])]
    # float raw is mapped linearly from [min, max] onto [0, 65535]
    lo, hi = float(raw.min()), float(raw.max())
    expect = np.rint((raw.astype(np.float64) - lo) / (hi - lo) * 65535)
    with h5py.File(h5_path, "r") as f:
        got = np.stack([f[f"t{t:05d}/s00/0/cells"][()].view(np.uint16) for t in range(raw.shape[0])])
    got = got if ndim == 3 else got[:, 0]
    assert np.abs(got.astype(np.float64) - expect).max() <= 1
    root = etree.parse(str(paths[0])).getroot()  # display range: the data range
    assert int(root.findtext("GUIState/SetupAssignments/ConverterSetups/ConverterSetup/max")) == 65535


def test_bdv_pyramid_channels_and_uint16_convention(tmp_path):
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 65536, size=(2, 300, 520, 2), dtype=np.uint16)
    raw[0, 0, 0, 0] = 40000  # above int16's range: stored as the int16 with the same bits
    paths = write_bdv(raw, tmp_path / "pyr", axes="tyxc")
    setups, (first, last), h5_path = _bdv_consistent(paths[0])
    assert [s for s, _, _ in setups] == [0, 1] and (first, last) == (0, 1)
    with h5py.File(h5_path, "r") as f:
        assert f["t00000/s00/0/cells"][0, 0, 0] == np.int16(40000 - 65536)
        res = f["s00/resolutions"][()].astype(int)
        # BigDataViewer's proposal: halve x, y (and z) until the largest side is <= 256
        assert res.tolist() == [[1, 1, 1], [2, 2, 2], [4, 4, 4]]
        for t in range(2):
            for c in range(2):
                for level, (fx, fy, _) in enumerate(res):
                    cells = f[f"t{t:05d}/s{c:02d}/{level}/cells"][()].view(np.uint16)[0]
                    ny, nx = raw.shape[1] // fy, raw.shape[2] // fx
                    block = raw[t, : ny * fy, : nx * fx, c].astype(np.float64)
                    means = block_reduce(block, (fy, fx), np.mean)
                    np.testing.assert_array_equal(cells, np.floor(means + 0.5))
    data, info = read_bdv(paths[0])
    np.testing.assert_array_equal(data[:, 0], raw)
    assert info["resolutions"].shape == (3, 3)


def test_bdv_anisotropic_blocks(tmp_path):
    raw = np.arange(2 * 20 * 300 * 300, dtype=np.uint32).reshape(2, 20, 300, 300) % 1000
    paths = write_bdv(raw, tmp_path / "aniso.h5", scales=(5.0, 1.0, 1.0))
    assert [p.name for p in paths] == ["aniso.xml", "aniso.h5"]
    _bdv_consistent(paths[0])
    with h5py.File(paths[1], "r") as f:
        # ProposeMipmaps: 32x32x4 blocks for voxels 5x deeper than wide; z not halved at level 1
        assert f["s00/subdivisions"][()].tolist() == [[32, 32, 4], [16, 16, 16]]
        assert f["s00/resolutions"][()].tolist() == [[1, 1, 1], [2, 2, 1]]
        assert f["t00001/s00/0/cells"].shape == (20, 300, 300)
        np.testing.assert_array_equal(f["t00001/s00/0/cells"][()], raw[1])  # integral, in range: unchanged


def _tree(el, h5_name):
    text = (el.text or "").strip()
    if el.tag == "hdf5":
        text = h5_name
    return (el.tag, dict(el.attrib), text, [_tree(c, h5_name) for c in el if isinstance(c.tag, str)])


def test_bdv_matches_ilastik_testdata_pair(tmp_path):
    ref_xml = shared_path(*INPUTDATA, "smallVideoBdv.xml")
    ref_h5 = shared_path(*INPUTDATA, "smallVideoBdv.h5")
    with h5py.File(shared_path(*INPUTDATA, "smallVideo.h5"), "r") as f:
        raw = f["data"][()][..., 0].transpose(0, 2, 1)  # ilastik file: t, x, y, c -> t, y, x
    paths = write_bdv(raw, tmp_path / "smallVideoBdv")
    ours = _tree(etree.parse(str(paths[0])).getroot(), "H5")
    ref = _tree(etree.parse(str(ref_xml)).getroot(), "H5")
    assert ours == ref  # same element tree, attributes and values
    with h5py.File(ref_h5, "r") as a, h5py.File(paths[1], "r") as b:
        layout, names = [], []
        a.visit(layout.append)  # append returns None: visit goes on
        b.visit(names.append)
        assert sorted(names) == sorted(layout) and len(names) == 3 + 3 + 7 * (2 + 2 * 2)
        for name in names:
            x, y = a[name], b[name]
            assert type(x) is type(y), name
            if isinstance(x, h5py.Dataset):
                assert (x.shape, x.dtype, x.chunks, x.maxshape, x.compression) == \
                       (y.shape, y.dtype, y.chunks, y.maxshape, y.compression), name
                np.testing.assert_array_equal(x[()], y[()], err_msg=name)


def test_mamut_on_a_real_tracking(tmp_path):
    from gputrack.io.ctc import read_frames
    from gputrack.tracking import track_labels

    root = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+")
    labels = read_frames(root / "01_GT" / "SEG", frames=range(6, 16))
    raw = read_frames(root / "01", frames=range(6, 16))
    result = track_labels(labels, raw, start=6)
    paths = write_mamut(result, tmp_path / "sim", raw=raw)
    spots, edges, tracks, filtered, _ = _mamut(paths[0])
    sol = result.solution
    assert sorted(spots) == np.flatnonzero(sol.count > 0).tolist()
    links = np.flatnonzero(sol.link_value > 0)
    assert {(int(a["SPOT_SOURCE_ID"]), int(a["SPOT_TARGET_ID"])) for _, a in edges} == \
           {(int(result.graph.src[e]), int(result.graph.dst[e])) for e in links}
    # frames count from the first exported frame; centres = scipy's centres of mass
    for a in list(spots.values())[::17]:
        f, label = _key(a)
        cy, cx = ndimage.center_of_mass(labels[f] == label)
        assert (float(a["POSITION_Y"]), float(a["POSITION_X"])) == pytest.approx((cy, cx))
    assert sum(int(t["NUMBER_SPLITS"]) for t in tracks.values()) == int(sol.division.sum()) > 0
    assert sorted(filtered) == sorted(tracks)
    data, _ = read_bdv(paths[1])
    np.testing.assert_array_equal(data[:, 0, :, :, 0], raw)  # uint16 raw stored unchanged


def test_mamut_points_at_an_existing_bdv(tmp_path):
    result, raw = event_result(3, True)
    bdv = write_bdv(raw, tmp_path / "mine", scales=(3.0, 1.0, 1.0))[0]
    paths = write_mamut(result, tmp_path / "out" / "run_mamut.xml", bdv_xml=bdv)
    assert paths == [tmp_path / "out" / "run_mamut.xml"]
    assert not (tmp_path / "out" / "run_bdv.xml").exists()
    spots, _, _, _, root = _mamut(paths[0])
    img = root.find("Settings/ImageData")
    assert (img.get("folder"), img.get("filename")) == (str(tmp_path.resolve()), "mine.xml")
    det = result.detections
    for i, a in spots.items():  # world coordinates from the BDV affine: z scaled by 3
        assert float(a["POSITION_Z"]) == pytest.approx(3.0 * det["z"].iloc[i])
        assert float(a["POSITION_X"]) == pytest.approx(det["x"].iloc[i])


def test_bad_input(tmp_path):
    result, raw = event_result(2, True)
    with pytest.raises(InputError, match=r"raw of shape \(6, 40, 64\).*\(6, 48, 64\)") as err:
        write_mamut(result, tmp_path / "a", raw=raw[:, :40])
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="raw of shape"):
        write_mamut(result, tmp_path / "a", raw=raw[:4])
    with pytest.raises(InputError, match="exactly one of raw"):
        write_mamut(result, tmp_path / "a")
    other = write_bdv(raw[:, :40], tmp_path / "small")[0]
    with pytest.raises(InputError, match="size"):
        write_mamut(result, tmp_path / "a", bdv_xml=other)
    assert not any((tmp_path / n).exists() for n in ("a_mamut.xml", "a_bdv.xml", "a_bdv.h5"))

    # an existing output: nothing is written, nothing replaced, unless overwrite
    mamut_xml, bdv_xml, bdv_h5 = mamut_paths(tmp_path / "b")
    bdv_h5.write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="b_bdv.h5"):
        write_mamut(result, tmp_path / "b", raw=raw)
    assert not mamut_xml.exists() and not bdv_xml.exists() and bdv_h5.read_bytes() == b"keep"
    paths = write_mamut(result, tmp_path / "b", raw=raw, overwrite=True)
    assert all(p.is_file() for p in paths) and h5py.is_hdf5(bdv_h5)
    with pytest.raises(OutputExistsError):
        write_mamut(result, tmp_path / "b_mamut.xml", raw=raw)
    with pytest.raises(OutputExistsError):
        write_bdv(raw, tmp_path / "b_bdv")
    with pytest.raises(InputError, match="axes"):
        write_bdv(raw, tmp_path / "c", axes="tzyx")
