"""geff export: read back with the geff package and loaded by traccuracy (2D, 3D, real data)."""

from __future__ import annotations

import numpy as np
import pytest

from gputrack.errors import InputError, OutputExistsError
from gputrack.export.geff import write_geff
from tests.conftest import shared_path
from tests.event_fixture import event_result, truth

geff = pytest.importorskip("geff")


@pytest.fixture(scope="module", params=[2, 3])
def events(request):
    result, _ = event_result(request.param)
    return request.param, result


def _node_at(graph, t, label):
    hits = [n for n, d in graph.nodes(data=True) if d["t"] == t and d["seg_id"] == label]
    assert len(hits) == 1, (t, label, hits)
    return hits[0]


def test_geff_round_trip(events, tmp_path):
    ndim, result = events
    scales = (2.0, 0.5, 0.25)
    out = write_geff(result, tmp_path / "run", scales=scales)
    assert out == [tmp_path / "run.geff"]
    graph, meta = geff.read(out[0])
    lin = result.lineage
    det = result.detections
    active = lin["count"].to_numpy() > 0
    # nodes: exactly the detections with count > 0, with their properties
    assert graph.number_of_nodes() == int(active.sum())
    for i in np.flatnonzero(active):
        d = graph.nodes[int(i)]
        assert d["t"] == det["t"].iloc[i] and d["seg_id"] == det["label"].iloc[i]
        assert d["track_id"] == lin["track_id"].iloc[i] and d["lineage_id"] == lin["lineage_id"].iloc[i]
        assert d["y"] == pytest.approx(det["y"].iloc[i] * 0.5)
        assert d["x"] == pytest.approx(det["x"].iloc[i] * 0.25)
        if ndim == 3:
            assert d["z"] == pytest.approx(det["z"].iloc[i] * 2.0)
        else:
            assert "z" not in d
    # the false detection is absent
    ft, flabel = truth["false_detection"]
    assert not any(d["t"] == ft and d["seg_id"] == flabel for _, d in graph.nodes(data=True))
    # edges: active links between kept nodes, recomputed from the solution arrays
    sol, g = result.solution, result.graph
    expected = {(int(s), int(d)) for s, d, v in zip(g.src, g.dst, sol.link_value)
                if v > 0 and active[s] and active[d]}
    assert set(graph.edges) == expected
    # the division: both edges from the parent (truth), flagged, daughters in new tracks
    (pt, plabel), daughters = truth["division"][:2], truth["division"][2]
    parent = _node_at(graph, pt, plabel)
    kids = {_node_at(graph, t, label) for t, label in daughters}
    assert set(graph.successors(parent)) == kids
    assert all(graph.edges[parent, k]["division"] for k in kids)
    ptrack = graph.nodes[parent]["track_id"]
    assert {graph.nodes[k]["parent_track_id"] for k in kids} == {ptrack}
    assert len({graph.nodes[k]["track_id"] for k in kids} | {ptrack}) == 3
    assert {graph.nodes[k]["lineage_id"] for k in kids} == {graph.nodes[parent]["lineage_id"]}
    # the merger: resolved into pieces carrying merger_label = original label
    for t, label, n in truth["mergers"]:
        pieces = [d for _, d in graph.nodes(data=True) if d["t"] == t and d["merger_label"] == label]
        assert len(pieces) == n
    # metadata
    assert meta.directed
    assert [(a.name, a.type) for a in meta.axes] == [("t", "time")] + [
        (n, "space") for n in (("z", "y", "x") if ndim == 3 else ("y", "x"))]
    assert meta.axes[1].unit == "pixel" and meta.axes[0].unit == "frame"
    assert meta.track_node_props == {"tracklet": "track_id", "lineage": "lineage_id"}
    assert meta.related_objects[0].type == "labels"


def test_geff_labels_match_seg_ids(events, tmp_path):
    ndim, result = events
    zarr = pytest.importorskip("zarr")
    out = write_geff(result, tmp_path / "run.geff")[0]
    arr = np.asarray(zarr.open_array(str(out / "labels"))[:])
    frames = np.stack(result.frames())
    np.testing.assert_array_equal(arr, frames)
    graph, _ = geff.read(out)
    for _, d in graph.nodes(data=True):
        assert (arr[d["t"]] == d["seg_id"]).any()


def test_traccuracy_loads_geff(events, tmp_path):
    ndim, result = events
    loaders = pytest.importorskip("traccuracy.loaders")
    out = write_geff(result, tmp_path / "run.geff")[0]
    tg = loaders.load_geff_data(str(out), load_geff_seg=True)
    graph, _ = geff.read(out)
    assert set(tg.graph.nodes) == set(graph.nodes)
    assert set(tg.graph.edges) == set(graph.edges)
    assert tg.segmentation.shape == np.stack(result.frames()).shape
    # traccuracy finds the division from the graph structure
    (pt, plabel) = truth["division"][:2]
    divs = [n for n in tg.graph.nodes if tg.graph.out_degree(n) == 2]
    assert [(tg.graph.nodes[n]["t"], tg.graph.nodes[n]["seg_id"]) for n in divs] == [(pt, plabel)]


def test_geff_overwrite_and_bad_input(tmp_path):
    result, _ = event_result(2)
    write_geff(result, tmp_path / "a.geff")
    with pytest.raises(OutputExistsError):
        write_geff(result, tmp_path / "a.geff")
    write_geff(result, tmp_path / "a.geff", overwrite=True)
    with pytest.raises(InputError, match="scales"):
        write_geff(result, tmp_path / "b.geff", scales=(1.0, 0.0, 1.0))
    assert not (tmp_path / "b.geff").exists()
    with pytest.raises(InputError, match="axes"):
        write_geff(result, tmp_path / "c.geff", label_frames=[f[None] for f in result.frames()])
    assert not (tmp_path / "c.geff").exists()


def test_geff_traccuracy_ctc_metrics_vs_gt(tmp_path):
    """Real data: track the GT masks of ctc-fluo-n2dh-sim-01, export geff, score it against the
    GT with traccuracy's CTC matcher: a perfect segmentation tracked well scores TRA close to 1."""
    loaders = pytest.importorskip("traccuracy.loaders")
    from traccuracy import run_metrics
    from traccuracy.matchers import CTCMatcher
    from traccuracy.metrics import CTCMetrics

    from gputrack.io.ctc import read_frames
    from gputrack.tracking import track_labels

    gt_dir = shared_path("ctc-fluo-n2dh-sim-01", "Fluo-N2DH-SIM+", "01_GT", "TRA")
    n = 10
    frames = np.stack(list(read_frames(gt_dir))[:n]).astype(np.uint16)
    result = track_labels(frames, resolve_mergers=False)
    out = write_geff(result, tmp_path / "run.geff")[0]
    pred = loaders.load_geff_data(str(out), load_geff_seg=True)
    # the GT cut to the same frames (traccuracy reads a CTC folder)
    gt_cut = tmp_path / "gt"
    gt_cut.mkdir()
    for k, f in enumerate(sorted(gt_dir.glob("man_track*.tif"))[:n]):
        (gt_cut / f"man_track{k:03d}.tif").write_bytes(f.read_bytes())
    rows = [list(map(int, line.split())) for line in (gt_dir / "man_track.txt").read_text().split("\n")
            if line.strip()]
    kept = [(lab, b, min(e, n - 1), p) for lab, b, e, p in rows if b < n]
    (gt_cut / "man_track.txt").write_text("".join(f"{lab} {b} {e} {p}\n" for lab, b, e, p in kept))
    gt = loaders.load_ctc_data(str(gt_cut), str(gt_cut / "man_track.txt"))
    results, _ = run_metrics(gt_data=gt, pred_data=pred, matcher=CTCMatcher(), metrics=[CTCMetrics()])
    tra = results[0]["results"]["TRA"]
    assert tra > 0.95
