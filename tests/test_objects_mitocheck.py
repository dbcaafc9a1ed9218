"""Object-count prior on ilastik's mitocheck mergers crop, against the projects' annotations.

ilastik's test data hold a 6-frame 2D+t crop in which neighbouring nuclei merge, its
probability maps, and tracking projects whose annotations give every object's track ids
(several ids = a merger of that many nuclei) and whose object-count classifier labels a few
objects as "1 Object", "2 Objects", "3 Objects". We segment the probabilities with each
project's own threshold settings, check the segmentation against ilastik's (object counts
per frame from the project's cached predictions, annotated tracks moving smoothly), then
measure how well the size-only :func:`gputrack.objects.count_prior` finds the mergers.
Run with ``-s`` to see the numbers.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from gputrack import objects, segment
from gputrack.io.ilp import read_ilp
from gputrack.io.images import read_image
from tests.conftest import shared_path

INPUT = ("ilastik-testdata", "tests", "test_ilastik", "data", "inputdata")
PROJECTS = [
    "mitocheckStructuredLearningTrackingHytraWithMergers.ilp",
    "mitocheckStructuredLearningTrackingMergers.ilp",
]


def segment_project(name: str):
    project_path = shared_path(*INPUT, name)
    project = read_ilp(project_path)
    raw = read_image(
        shared_path(*INPUT, "mitocheck_2d+t", "mitocheck_small_2D+t_mergers.h5"), out_axes="tzyxc"
    )
    prob = read_image(
        shared_path(*INPUT, "mitocheck_2d+t", "mitocheck_small_2D+t_mergers_export.h5"), out_axes="tzyxc"
    )
    th = project.threshold
    assert th is not None and th.method == "simple"
    labels = segment.threshold(
        prob,
        method=th.method,
        threshold=th.low_threshold,
        high_threshold=th.high_threshold,
        sigma=[th.sigmas[a] for a in "zyx"],
        channel=th.channel,
        core_channel=th.core_channel,
        min_size=th.min_size,
        max_size=th.max_size,
        axes="tzyxc",
        device="cpu",
    )
    table = objects.features(raw, labels, ["Count", "Mean", "RegionCenter"], axes="tzyxc", device="cpu")
    return project_path, project, labels, table


def ilastik_objects_per_frame(project_path) -> list[int]:
    """Objects per frame in ilastik's own segmentation (rows of its cached predictions)."""
    with h5py.File(project_path, "r") as f:
        group = f["CountClassification/CachedProbabilities/0000"]
        return [group[k].shape[0] - 1 for k in sorted(group, key=int)]  # row 0 = background


def f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@pytest.mark.parametrize("name", PROJECTS)
def test_count_prior_finds_annotated_mergers(name):
    project_path, project, labels, table = segment_project(name)
    n_frames = labels.shape[0]

    # our segmentation is ilastik's: same number of objects in every frame ...
    ours = [int(labels[t].max()) for t in range(n_frames)]
    assert ours == ilastik_objects_per_frame(project_path)
    # ... and the same ids: every annotated single-nucleus track moves a few pixels per frame
    tracks = project.annotations.labels[0]
    centre = {
        (int(t), int(i)): (x, y)
        for t, i, x, y in table[["t", "label", "RegionCenter_0", "RegionCenter_1"]].values
    }
    last: dict[int, tuple[int, tuple[float, float]]] = {}
    steps = []
    for t in sorted(tracks):
        for oid, ids in tracks[t].items():
            if len(ids) == 1 and ids[0] > 0:
                if ids[0] in last and last[ids[0]][0] == t - 1:
                    steps.append(np.hypot(*np.subtract(centre[(t, oid)], last[ids[0]][1])))
                last[ids[0]] = (t, centre[(t, oid)])
    assert len(steps) >= 8 and max(steps) < 8.0

    # annotated number of nuclei per object (unannotated objects are left out)
    annotated = {
        (t, oid): len(ids) for t, frame in tracks.items() for oid, ids in frame.items() if ids[0] > 0
    }
    keys = list(zip(table["t"].astype(int), table["label"].astype(int)))
    have = np.array([k in annotated for k in keys])
    truth = np.array([annotated.get(k, 0) for k in keys])[have]
    assert have.sum() == len(annotated)  # every annotated object exists in our segmentation

    prior = objects.count_prior(table, max_objects=2)
    flagged = (prior["p2"] > prior["p1"]).to_numpy()[have]
    merger = truth >= 2
    tp = int((flagged & merger).sum())
    precision = tp / max(int(flagged.sum()), 1)
    recall = tp / max(int(merger.sum()), 1)
    # size-blind baselines: flag everything, or flag as many objects at random
    base_precision = merger.mean()
    base_f1 = f1(base_precision, 1.0)
    random_recall = flagged.sum() / flagged.size

    # number of nuclei (max 3, as the projects' count classifiers) against the annotations
    prior3 = objects.count_prior(table, max_objects=3)
    count = prior3.to_numpy().argmax(axis=1)[have]
    exact = float((count == truth).mean())

    # the project's object-count classifier labels (class k + 1 = "k Objects")
    counts_labels = project.object_classifiers["CountClassification"].labels[0]
    pairs = [
        (int(t), oid, int(v) - 1)
        for t, values in counts_labels.items()
        for oid, v in enumerate(np.asarray(values).astype(int))
        if v > 0
    ]
    row = {k: i for i, k in enumerate(keys)}
    label_agree = [int(prior3.to_numpy()[row[(t, oid)]].argmax()) == k for t, oid, k in pairs]

    print(
        f"\n{name}: {len(table)} objects in {n_frames} frames, {int(merger.sum())} annotated mergers, "
        f"{int(flagged.sum())} flagged (P(2) > P(1)); precision {precision:.2f}, recall {recall:.2f}, "
        f"F1 {f1(precision, recall):.2f} (flag-all baseline: precision {base_precision:.2f}, "
        f"F1 {base_f1:.2f}; "
        f"random same-count recall {random_recall:.2f}); nuclei count exact {exact:.2f}; "
        f"count-classifier labels agreeing {sum(label_agree)}/{len(pairs)}"
    )
    assert merger.sum() >= 3
    assert recall > random_recall and recall >= 0.8
    assert f1(precision, recall) > base_f1 + 0.3
    assert exact >= 0.9
    assert len(pairs) >= 2 and all(label_agree)
