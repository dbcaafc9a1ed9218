"""An ilastik project as a whole: :class:`IlpProject` and :func:`read_ilp`.

Reads ``workflowName``, ``ilastikVersion`` and every section the other modules of this
package know (lanes, features, labels, classifiers, tracking settings).

Examples
--------
>>> from gputrack.io.ilp import read_ilp
>>> project = read_ilp("PixelClass.ilp")                       # doctest: +SKIP
>>> project.workflow, len(project.lanes)                       # doctest: +SKIP
('Pixel Classification', 1)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ...errors import InputError, MissingInputError
from ..hdf5 import open_hdf5
from .classifiers import (
    _OBJECT_CLASSIFIERS,
    ObjectClassifierInfo,
    PixelStage,
    _read_object_classifier,
    _read_pixel_stage,
)
from .features import FeatureSelection, _read_features
from .lanes import Lane, _normalise_raw_data, _read_lanes
from .stored import _value
from .tracking import (
    ThresholdSettings,
    TrackingAnnotations,
    TrackingParameters,
    _read_annotations,
    _read_threshold,
    _read_tracking,
)


@dataclass
class IlpProject:
    """Everything gputrack reads from an ilastik project (see :mod:`gputrack.io.ilp`).

    ``problems`` names the sections that could not be read (left out, the rest of the
    project still reads); label blocks that cannot be placed are named per stage in
    :attr:`PixelStage.label_problems`.
    """

    path: Path
    workflow: str
    ilastik_version: str
    roles: list[str]
    lanes: list[Lane]
    pixel_stages: list[PixelStage]
    threshold: ThresholdSettings | None
    tracking: TrackingParameters | None
    annotations: TrackingAnnotations | None
    object_classifiers: dict[str, ObjectClassifierInfo]
    problems: list[str] = field(default_factory=list)

    @property
    def features(self) -> FeatureSelection | None:
        """Feature selection of the first pixel-classification stage."""
        return self.pixel_stages[0].features if self.pixel_stages else None

    @property
    def label_names(self) -> list[str]:
        """Pixel class names (first stage), class id ``k`` is ``label_names[k - 1]``."""
        return self.pixel_stages[0].label_names if self.pixel_stages else []

    @property
    def label_colors(self) -> np.ndarray:
        """Pixel class colours (first stage), ``(n_classes, 3)`` uint8 RGB."""
        if not self.pixel_stages:
            return np.zeros((0, 3), np.uint8)
        return self.pixel_stages[0].label_colors

    @property
    def known_labels(self) -> list[int]:
        """Class ids the stored pixel classifier was trained on (first stage)."""
        return self.pixel_stages[0].known_labels if self.pixel_stages else []

    @property
    def has_forest(self) -> bool:
        """Whether the project stores a trained pixel classifier (first stage)."""
        return bool(self.pixel_stages) and self.pixel_stages[0].has_forest

    @property
    def object_label_names(self) -> list[str]:
        """Class names of the object classification applet (empty when absent)."""
        info = self.object_classifiers.get("ObjectClassification")
        return info.label_names if info else []


def read_ilp(
    path: str | os.PathLike, *, raw_data: dict[int, str] | list[str] | None = None
) -> IlpProject:
    """Read an ilastik project's metadata, parameters and labels.

    Parameters
    ----------
    path
        The ``.ilp`` file.
    raw_data
        Replacement raw-data paths, per lane: a list (lane order) or a ``{lane: path}``
        dict. A path may name a dataset inside an HDF5 file (``file.h5/data``); a plain
        HDF5 path keeps the project's dataset name. Relative paths are relative to the
        current directory. Only the lane's first role (``Raw Data``) is replaced.

    Returns
    -------
    IlpProject
        Reading never needs the input images: missing files show as
        ``exists=False`` in :attr:`IlpProject.lanes`.

    Raises
    ------
    MissingInputError
        ``path`` does not exist.
    InputError
        ``path`` is not an HDF5 file (or a damaged one), or not an ilastik project. A
        section that cannot be read does not raise: it is named in
        :attr:`IlpProject.problems`.

    Examples
    --------
    >>> project = read_ilp("tracking.ilp", raw_data=["movie.h5/data"])   # doctest: +SKIP
    >>> project.tracking.max_obj, project.threshold.method               # doctest: +SKIP
    (2, 'simple')
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: ilastik project not found")
    if not h5py.is_hdf5(path):
        raise InputError(f"{path}: not an ilastik project (not an HDF5 file)")
    overrides = _normalise_raw_data(raw_data)
    base = path.resolve().parent
    with open_hdf5(path, "ilastik project") as f:
        if "workflowName" not in f and "Input Data" not in f:
            raise InputError(f"{path}: HDF5 file is not an ilastik project (no workflowName / 'Input Data')")
        workflow = _value(f, "workflowName", "")
        roles, lanes = _read_lanes(f, base, overrides)
        unknown = sorted(set(overrides) - set(range(len(lanes))))
        if unknown:
            raise InputError(
                f"{path}: raw_data given for lane(s) {unknown} but the project has {len(lanes)} lane(s)"
            )
        problems: list[str] = []

        def section(what: str, read, *args):
            """One section's reader; a section that cannot be read is named in ``problems``."""
            try:
                return read(*args)
            except (InputError, KeyError, ValueError, TypeError, IndexError, OSError) as err:
                problems.append(f"{what}: cannot be read ({err})")
                return None

        forced = "Object Classification" in workflow or "Tracking" in workflow
        stages = []
        for name in sorted(k for k in f if re.fullmatch(r"PixelClassification\d*", k)):
            suffix = name[len("PixelClassification") :]
            selection = f"FeatureSelections{suffix}"
            features = section(selection, _read_features, f.get(selection))
            stage = section(name, _read_pixel_stage, f, f[name], features, lanes, forced)
            if stage is not None:
                stages.append(stage)
        if not stages and "FeatureSelections" in f:
            features = section("FeatureSelections", _read_features, f["FeatureSelections"])
            if features is not None:
                stages.append(PixelStage("FeatureSelections", features, [], np.zeros((0, 3), np.uint8),
                                         [], [], [], False))
        classifiers = {}
        for name in _OBJECT_CLASSIFIERS:
            if name in f:
                info = section(name, _read_object_classifier, f[name])
                if info is not None:
                    classifiers[name] = info
        return IlpProject(
            path=path,
            workflow=workflow,
            ilastik_version=_value(f, "ilastikVersion", ""),
            roles=roles,
            lanes=lanes,
            pixel_stages=stages,
            threshold=section("ThresholdTwoLevels", _read_threshold, f.get("ThresholdTwoLevels")),
            tracking=section("tracking parameters", _read_tracking, f),
            annotations=section("tracking annotations", _read_annotations, f),
            object_classifiers=classifiers,
            problems=problems,
        )
