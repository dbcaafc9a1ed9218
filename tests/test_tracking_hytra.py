"""hytra's tracking test videos (ilastik Conservation Tracking projects): the expected events.

Each project stores ilastik's label image (``TrackingFeatureExtraction/LabelImage*``), its
tracking parameters and its result events (``ConservationTracking/EventsVector``: moves,
divisions and merger resolutions per frame). We track the stored label images with the
project's parameters and compare the ancestry of every object of the last frame (which
object of the first frame it descends from) and the numbers of divisions and mergers.
"""

import re

import h5py
import numpy as np
import pandas as pd
import pytest

from gputrack.io.ilp import read_ilp
from gputrack.tracking import TrackingParameters, constraint_violations, track_labels
from tests.conftest import shared_path


def _blocks(group: h5py.Group) -> np.ndarray:
    """Assemble the stored (t, x, y, z, c) blocks of an ilastik label-image group."""
    parts = []

    def visit(name, obj):
        if not isinstance(obj, h5py.Dataset):
            return
        text = obj.attrs.get("blockSlice", name.split("/")[-1])
        text = text.decode() if isinstance(text, bytes) else str(text)
        if ":" in text:
            pairs = [(int(a), int(b)) for a, b in re.findall(r"(\d+):(\d+)", text)]
        else:
            nums = [int(v) for v in re.findall(r"\d+", text)]
            pairs = list(zip(nums[:5], nums[5:]))
        parts.append((pairs, obj[()]))

    group.visititems(visit)
    shape = np.max([[b for _, b in pairs] for pairs, _ in parts], axis=0)
    out = np.zeros(shape, parts[0][1].dtype)
    for pairs, data in parts:
        out[tuple(slice(a, b) for a, b in pairs)] = data
    return out


def _load(name):
    path = shared_path("hytra-tests", "tests", name, "tracking.ilp")
    project = read_ilp(path)
    with h5py.File(path, "r") as f:
        tfe = f["TrackingFeatureExtraction"]
        group = tfe["LabelImage_v2"] if "LabelImage_v2" in tfe else tfe["LabelImage"]
        labels = _blocks(group)[..., 0, 0].transpose(0, 2, 1)  # t, x, y -> t, y, x
        events = {}
        for t, grp in f["ConservationTracking/EventsVector/0000"].items():
            ev = {k: grp[k][()] for k in grp if isinstance(grp[k], h5py.Dataset)}
            if "res" in grp:
                ev["res"] = {int(k): grp["res"][k][()] for k in grp["res"]}
            events[int(t)] = ev
        probs = {}
        for applet in ("CountClassification", "DivisionDetection"):
            cached = f[applet]["CachedProbabilities/0000"]
            if len(cached):
                rows = [(int(t), lab, *p) for t in cached for lab, p in enumerate(cached[t][()]) if lab > 0]
                k = len(rows[0]) - 2
                probs[applet] = pd.DataFrame(rows, columns=["t", "label", *[f"p{i}" for i in range(k)]])
    return project, labels, events, probs


def _params(project, **changes):
    tp = project.tracking
    return TrackingParameters(
        max_objects=tp.max_obj, with_divisions=tp.with_divisions, transition_weight=tp.transition_weight,
        division_weight=tp.division_weight, appearance_cost=tp.appearance_cost,
        disappearance_cost=tp.disappearance_cost, division_threshold=tp.division_threshold,
        border_width=tp.border_aware_width, k_neighbors=tp.max_nearest_neighbors,
        max_distance=tp.max_dist, **changes,
    )


def _ilastik_ancestry(events, n_frames):
    """{last-frame label: first-frame label} from ilastik's move and division events."""
    parent = {}
    for t, ev in events.items():
        for a, b, *_ in ev.get("mov", np.zeros((0, 3))):
            parent[(t, int(b))] = (t - 1, int(a))
        for a, b, c, *_ in ev.get("div", np.zeros((0, 4))):
            parent[(t, int(b))] = parent[(t, int(c))] = (t - 1, int(a))
    out = {}
    for (t, lab) in [k for k in parent if k[0] == n_frames - 1]:
        node = (t, lab)
        while node in parent:
            node = parent[node]
        out[lab] = node[1] if node[0] == 0 else None
    return out


def _our_ancestry(result, n_frames):
    g, sol = result.graph, result.solution
    det = g.detections
    parent = {}
    for e in sol.active_links:
        a, b = g.src[e], g.dst[e]
        parent[b] = a
    out = {}
    for i in np.flatnonzero((g.t == n_frames - 1) & (sol.count > 0)):
        node = i
        while node in parent:
            node = parent[node]
        out[int(det["label"].iat[i])] = int(det["label"].iat[node]) if g.t[node] == 0 else None
    return out


def _check(result, events, n_frames):
    assert constraint_violations(result.solution) == []
    assert _our_ancestry(result, n_frames) == _ilastik_ancestry(events, n_frames)
    n_div = sum(len(ev.get("div", ())) for ev in events.values())
    assert int(result.solution.division.sum()) == n_div
    n_pieces = sum(len(r) for ev in events.values() for r in ev.get("res", {}).values()) if events else 0
    res_count = {t: len(ev.get("res", {})) for t, ev in events.items()}
    lin = result.lineage
    ours = lin[lin.merger_label > 0].groupby("t")["merger_label"].nunique().to_dict()
    assert ours == {t: c for t, c in res_count.items() if c}
    assert (lin["count"] <= 1).all()
    return n_pieces


def test_division_video():
    project, labels, events, _ = _load("divisionTestDataset")
    # no count classifier output is stored: the synthetic objects are all real
    params = _params(project, detection_probability=1 - 1e-6)
    res = track_labels(labels, params=params)
    _check(res, events, len(labels))
    lin = res.lineage
    assert lin.loc[lin.divides, ["t", "label"]].values.tolist() == [[1, 1]]
    assert lin["track_id"].nunique() == 3 and (lin.t[lin.parent_track > 0] >= 2).all()


def test_merger_resolution_video():
    project, labels, events, probs = _load("mergerResolvingTestDataset")
    assert project.tracking.max_obj == 2 and not project.tracking.with_divisions
    res = track_labels(labels, params=_params(project), count_probabilities=probs["CountClassification"])
    _check(res, events, len(labels))
    lin = res.lineage
    # the merger of frames 1 and 2 is split in two; both tracks run through all four frames
    assert lin.groupby("t").size().tolist() == [2, 2, 2, 2]
    assert sorted(lin.groupby("track_id")["t"].apply(list).tolist()) == [[0, 1, 2, 3]] * 2
    pieces = lin[lin.merger_label > 0]
    assert pieces.label.tolist() == [2, 3, 2, 3]  # new labels after the frame's maximum, as ilastik


def test_division_into_mergers_video():
    project, labels, events, probs = _load("divisionMergerTestDataset")
    div = probs["DivisionDetection"][["t", "label", "p1"]]
    res = track_labels(labels, params=_params(project), division_probabilities=div)
    _check(res, events, len(labels))
    lin = res.lineage
    assert lin.loc[lin.divides, ["t", "label"]].values.tolist() == [[0, 2]]
    # both objects of frame 1 are mergers of two, resolved into four pieces
    assert (lin[lin.t == 1]["merger_label"] > 0).sum() == 4


@pytest.mark.parametrize("name", ["divisionTestDataset", "mergerResolvingTestDataset"])
def test_videos_split_in_windows_give_the_same_events(name):
    project, labels, events, probs = _load(name)
    extra = {"count_probabilities": probs["CountClassification"]} if "CountClassification" in probs else {}
    params = _params(project, detection_probability=1 - 1e-6)
    whole = track_labels(labels, params=params, **extra)
    split = track_labels(labels, params=params, frames_per_split=2, **extra)
    _check(split, events, len(labels))
    np.testing.assert_array_equal(split.solution.link_value, whole.solution.link_value)


# --------------------------------------------------------------------------- the projects run headless

HYTRA_PROJECTS = [
    ("divisionTestDataset", "tracking.ilp"),
    ("mergerResolvingTestDataset", "tracking.ilp"),
    ("multiSegmentationHypothesesTestDataset", "tracking.ilp"),
    ("multiSegmentationHypothesesTestDataset", "trackingAlt.ilp"),
    pytest.param("divisionMergerTestDataset", "tracking.ilp", marks=pytest.mark.slow),
    ("skipLinksTestDataset", "tracking.ilp"),
]


@pytest.mark.parametrize(("name", "project"), HYTRA_PROJECTS)
def test_track_ilp_events_equal_ilastiks(name, project):
    """``track --ilp``: the project's label image (old ``LabelImage`` layout too), classifiers, parameters.

    Events equal ilastik's stored ones up to the labels of resolved merger pieces: in the
    merger videos (mergerResolving, multiSegmentation ``tracking.ilp``) frames 1 and 2 hold one
    merger of two crossing objects, which ilastik and gputrack both split in two and link
    the same way (same merger, same ancestry), but the pieces get different labels, because
    the Gaussian mixtures split the cross differently (see the next test). skipLinks stores
    no events (its tracking was never run in the project).
    """
    from gputrack.workflows.ilastik_tracking import stored_events, track_ilp

    path = shared_path("hytra-tests", "tests", name, project)
    done = track_ilp(path)
    stored = stored_events(path)
    assert constraint_violations(done["result"].solution) == []
    if not stored:
        assert done["differences"] is None
        return
    assert done["merger_differences"] == []
    merger_frames = {t for t, ev in stored.items() if ev.get("res")}
    assert {int(line.split()[0][2:]) for line in done["differences"]} <= merger_frames


@pytest.mark.parametrize("name", ["mergerResolvingTestDataset", "multiSegmentationHypothesesTestDataset"])
def test_merger_split_differs_from_ilastiks_by_the_mixture_optimum(name):
    """Why the merger pieces of these two videos (the same movie) are numbered differently.

    Frame 1's merger is a cross (two elongated objects over each other). ilastik's
    resolved image (``ConservationTracking/CachedOutput``) splits it into an upper-left and a
    lower-right half; gputrack's seeded full-covariance mixture into the two bars of the
    cross. Both are local optima of the same mixture likelihood; gputrack's is the better
    one (a fit started from ilastik's halves converges to a lower likelihood), so the
    difference is ilastik's (unseeded, version-dependent) initialisation, not the tracking.
    """
    from sklearn.mixture import GaussianMixture

    from gputrack.workflows.ilastik_tracking import track_ilp

    path = shared_path("hytra-tests", "tests", name, "tracking.ilp")
    with h5py.File(path, "r") as f:
        ilastik = _blocks(f["ConservationTracking/CachedOutput"])[..., 0, 0].transpose(0, 2, 1)
    res = track_ilp(path)["result"]
    lab = np.asarray(res.label_frames)[1]
    yy, xx = np.nonzero(lab)
    X = np.stack([yy, xx], 1).astype(float)
    ours, theirs = lab[yy, xx], ilastik[1][yy, xx]
    assert np.unique(ours).size == np.unique(theirs).size == 2
    # the two splits are different partitions of the same pixels ...
    agree = np.mean((ours == ours.min()) == (theirs == theirs.min()))
    assert 0.3 < agree < 0.7
    # ... and each is a fixed point of the mixture fit started from it; ours scores higher
    scores = []
    for part in (ours, theirs):
        means = np.array([X[part == v].mean(0) for v in np.unique(part)])
        gm = GaussianMixture(2, covariance_type="full", means_init=means, random_state=0).fit(X)
        again = gm.predict(X)
        assert max(np.mean(again == (part == part.max())), np.mean(again != (part == part.max()))) > 0.95
        scores.append(gm.score(X))
    assert scores[0] > scores[1]


def test_missing_prediction_maps_named_and_supplied_with_probabilities(tmp_path, capsys):
    """A project caching no label image needs its prediction maps: one line naming the missing file
    and ``--probabilities``; given them, its own threshold segments them and the events equal ilastik's."""
    import shutil

    from gputrack.cli import main
    from gputrack.io.images import write_image

    source = shared_path("hytra-tests", "tests", "divisionTestDataset", "tracking.ilp")
    path = tmp_path / "tracking.ilp"
    shutil.copyfile(source, path)
    with h5py.File(path, "a") as f:
        labels = _blocks(f["TrackingFeatureExtraction/LabelImage"])[..., 0, 0].transpose(0, 2, 1)
        del f["TrackingFeatureExtraction/LabelImage"]
    out = tmp_path / "res"
    assert main(["track", "--ilp", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dataset_00__Probabilities.h5" in err[0] and "--probabilities" in err[0]
    assert not out.exists()
    # the project's channel 1 is the foreground: a map that is 1 on ilastik's objects
    fg = (labels > 0).astype(np.float32)
    write_image(tmp_path / "probs.h5", np.stack([1 - fg, fg], -1), axes="tyxc")
    assert main(["track", "--ilp", str(path), "--probabilities", str(tmp_path / "probs.h5"),
                 "--out", str(out)]) == 0
    assert "events equal to the project's stored result" in capsys.readouterr().out


def test_track_ilp_writes_the_export_the_project_selects(tmp_path, capsys):
    """The project's ``Tracking Result Export``: divisionTestDataset selects none (ilastik's first
    source, Tracking-Result, as ``{dataset_dir}/{nickname}_{result_type}`` HDF5), which equals the
    Tracking-Result image ilastik cached (``ConservationTracking/CachedOutput``) pixel for pixel."""
    from gputrack.cli import main

    path = shared_path("hytra-tests", "tests", "divisionTestDataset", "tracking.ilp")
    with h5py.File(path, "r") as f:
        settings = {k: f["Tracking Result Export"][k][()].decode() for k in
                    ("OutputFilenameFormat", "OutputInternalPath")}
        nick = f["Input Data/infos/lane0000/Raw Data/nickname"][()].decode()
        cached = _blocks(f["ConservationTracking/CachedOutput"])
    out = tmp_path / "res"
    assert main(["track", "--ilp", str(path), "--out", str(out)]) == 0
    name = settings["OutputFilenameFormat"].format(dataset_dir=str(out), nickname=nick,
                                                    result_type="Tracking-Result") + ".h5"
    assert f"the project's export -> {name}" in capsys.readouterr().out
    with h5py.File(name, "r") as f:
        exported = f[settings["OutputInternalPath"]][()]
    assert exported.dtype == np.uint32 and exported.shape == cached.shape  # t, x, y, z, c as the lane
    np.testing.assert_array_equal(exported, cached)


def test_track_ilp_csv_table_plugin_export(tmp_path, capsys):
    """mitocheck ...HytraWithMergers selects the CSV-Table plugin: ilastik's tracking table."""
    import pandas as pd

    from gputrack.cli import main

    path = shared_path("ilastik-testdata", "tests", "test_ilastik", "data", "inputdata",
                       "mitocheckStructuredLearningTrackingHytraWithMergers.ilp")
    with h5py.File(path, "r") as f:
        g = f["Tracking Result Export"]
        assert g["SelectedExportSource"][()] == b"Plugin" and g["SelectedPlugin"][()] == b"CSV-Table"
        nick = f["Input Data/infos/lane0000/Raw Data/nickname"][()].decode()
    out = tmp_path / "res"
    assert main(["track", "--ilp", str(path), "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / f"{nick}_Plugin.csv")
    # the tracking table of the same result (gputrack's ilastik-style CSV, ilastik's numbering)
    from gputrack.export.tracking import tracking_table
    from gputrack.tracking.result import load_result

    expected = tracking_table(load_result(out / "tracking_result.h5"), ilastik_compat=True)
    assert list(table.columns) == list(expected.columns) and len(table) == len(expected) > 0
    np.testing.assert_allclose(table.to_numpy(np.float64), expected.to_numpy(np.float64))
