"""The classifier applets of an ilastik project: pixel-classification stages and object classifiers.

``PixelClassification[NN]/``: ``LabelNames``, ``LabelColors``, ``LabelSets`` (read by
:mod:`.labels`) and ``ClassifierForests/`` (``known_labels``, ``feature_names``,
``ForestNNNN``; the trees themselves are compiled by
:func:`gputrack.forest.read_ilp_forests`). ``ObjectClassification/``,
``CountClassification/``, ``DivisionDetection/``: class names, colours, selected object
features and per-object labels.

Examples
--------
>>> from gputrack.io.ilp import read_ilp
>>> read_ilp("PixelClass.ilp").pixel_stages[0].n_trees        # doctest: +SKIP
100
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import h5py
import numpy as np

from .features import FeatureSelection
from .labels import LabelBlock, _read_label_blocks
from .lanes import Lane
from .stored import _colors, _string_list, _text

_OBJECT_CLASSIFIERS = ("ObjectClassification", "CountClassification", "DivisionDetection")


@dataclass
class PixelStage:
    """One pixel-classification stage (autocontext projects have two).

    ``label_problems`` names the stored label blocks that could not be placed in their
    lane (left out of :func:`~gputrack.io.ilp.label_image`; the stored forest does not
    need them). ``classifier_type`` is the class name ilastik pickled next to the
    forests (``ParallelVigraRfLazyflowClassifier``); empty in projects that predate it,
    for which ilastik assumes that class.
    """

    group: str
    features: FeatureSelection | None
    label_names: list[str]
    label_colors: np.ndarray
    label_blocks: list[list[LabelBlock]]
    known_labels: list[int]
    feature_names: list[str]
    has_forest: bool
    n_forests: int = 0
    n_trees: int = 0
    label_problems: list[str] = field(default_factory=list)
    classifier_type: str = ""

    @property
    def forest_usable(self) -> bool:
        """Whether the stored classifier is vigra random forests that gputrack can run."""
        return self.has_forest and (not self.classifier_type or "VigraRf" in self.classifier_type)


@dataclass
class ObjectClassifierInfo:
    """An object-level classifier applet: class names, colours, per-object labels.

    ``labels[lane][t]`` is the stored per-object label array (index = object id, 0 =
    unlabelled); ``selected_features`` maps each feature plugin to its feature names.
    """

    group: str
    label_names: list[str]
    label_colors: np.ndarray
    labels: dict[int, dict[int, np.ndarray]]
    selected_features: dict[str, list[str]]
    has_forest: bool
    known_labels: list[int]

    def label_counts(self) -> dict[int, int]:
        """Number of labelled objects per class id, over all lanes and frames."""
        counts: dict[int, int] = {}
        for frames in self.labels.values():
            for values in frames.values():
                ids, n = np.unique(np.asarray(values, dtype=np.int64), return_counts=True)
                for i, k in zip(ids.tolist(), n.tolist()):
                    if i > 0:
                        counts[i] = counts.get(i, 0) + k
        return dict(sorted(counts.items()))


def _classifier_type(forests: h5py.Group) -> str:
    """The classifier class named by ``ClassifierForests/pickled_type`` ("" when not stored)."""
    if "pickled_type" not in forests:
        return ""
    text = _text(forests["pickled_type"][()])
    if text.startswith("c") and text.count("\n") >= 1:  # pickle protocol 0: c<module>\n<name>\n
        return text.split("\n")[1].strip()
    match = re.search(r"[A-Za-z_]\w*Classifier\b", text)
    return match.group(0) if match else text[:60]


def _read_forest_info(group: h5py.Group) -> tuple[list[int], list[str], int, int, str]:
    """``known_labels``, ``feature_names``, forest and tree counts, classifier type of the forests group."""
    forests = group.get("ClassifierForests")
    known: list[int] = []
    names: list[str] = []
    n_forests = n_trees = 0
    kind = ""
    if isinstance(forests, h5py.Group):
        if "known_labels" in forests:
            known = [int(v) for v in np.atleast_1d(forests["known_labels"][()])]
        names = _string_list(forests, "feature_names")
        forest_groups = [forests[k] for k in sorted(forests) if k.startswith("Forest")]
        forest_groups = [g for g in forest_groups if isinstance(g, h5py.Group)]
        n_forests = len(forest_groups)
        n_trees = sum(sum(1 for k in g if k.startswith("Tree")) for g in forest_groups)
        kind = _classifier_type(forests)
    return known, names, n_forests, n_trees, kind


def _read_pixel_stage(
    f: h5py.File, group: h5py.Group, features: FeatureSelection | None, lanes: list[Lane], forced: bool
) -> PixelStage:
    blocks, problems = _read_label_blocks(f, group, lanes, forced)
    known, names, n_forests, n_trees, kind = _read_forest_info(group)
    return PixelStage(
        group=group.name.lstrip("/"),
        features=features,
        label_names=_string_list(group, "LabelNames"),
        label_colors=_colors(group, "LabelColors"),
        label_blocks=blocks,
        known_labels=known,
        feature_names=names,
        has_forest=n_trees > 0,
        n_forests=n_forests,
        n_trees=n_trees,
        label_problems=problems,
        classifier_type=kind,
    )


def _read_object_classifier(group: h5py.Group) -> ObjectClassifierInfo:
    labels: dict[int, dict[int, np.ndarray]] = {}
    inputs = group.get("LabelInputs")
    if isinstance(inputs, h5py.Group):
        for lane in inputs:
            frames = inputs[lane]
            if isinstance(frames, h5py.Group):
                labels[int(lane)] = {
                    int(t): np.asarray(frames[t][()]) for t in sorted(frames, key=int) if t.isdigit()
                }
    features: dict[str, list[str]] = {}
    selected = group.get("SelectedFeatures")
    if isinstance(selected, h5py.Group):
        features = {plugin: sorted(selected[plugin]) for plugin in selected}
    forests = group.get("ClassifierForests")
    known = []
    if isinstance(forests, h5py.Group) and "known_labels" in forests:
        known = [int(v) for v in np.atleast_1d(forests["known_labels"][()])]
    has_forest = isinstance(forests, h5py.Group) and any(k.startswith("Forest") for k in forests)
    return ObjectClassifierInfo(
        group=group.name.lstrip("/"),
        label_names=_string_list(group, "LabelNames"),
        label_colors=_colors(group, "LabelColors"),
        labels=labels,
        selected_features=features,
        has_forest=has_forest,
        known_labels=known,
    )
