"""Reading ilastik ``.ilp`` projects: inputs, features, labels, classifiers, tracking settings.

An ilastik project is an HDF5 file. This package reads what gputrack needs from it,
without ilastik installed, and never needs the project's input images to do so: a
project whose raw data is missing still reads (metadata only); only
:func:`open_lane` and :func:`raw_data_path` need the files, and they say how to point
at them (``raw_data=`` / ``--raw-data``) when they are not where the project says.

One module per part of the file:

- :mod:`.lanes`: ``Input Data/`` (where each lane's images lie, their axes and shapes);
- :mod:`.features`: ``FeatureSelections[NN]/`` (the selection matrix);
- :mod:`.labels`: ``PixelClassification[NN]/LabelSets/`` (the label blocks);
- :mod:`.classifiers`: pixel-classification stages (``ClassifierForests``) and the
  object classifiers (``ObjectClassification``, ``CountClassification``,
  ``DivisionDetection``);
- :mod:`.tracking`: ``ThresholdTwoLevels``, the tracking applets' ``Parameters`` and
  learned weights, ``TrackingAnnotations`` / ``ManualTracking``;
- :mod:`.project`: :func:`read_ilp`, which reads them all into an :class:`IlpProject`;
- :mod:`.describe`: :func:`describe_ilp`, the summary ``gputrack ilp-info`` prints.

Examples
--------
>>> from gputrack.io.ilp import read_ilp, describe_ilp, label_counts
>>> project = read_ilp("PixelClass.ilp")                       # doctest: +SKIP
>>> project.workflow, len(project.lanes)                       # doctest: +SKIP
('Pixel Classification', 1)
>>> label_counts(project)                                      # doctest: +SKIP
{1: 79, 2: 78}
>>> print(describe_ilp(project))                               # doctest: +SKIP
"""

from .classifiers import ObjectClassifierInfo, PixelStage
from .describe import describe_ilp
from .features import DEFAULT_SCALES, FEATURE_IDS, FeatureSelection, selected_features
from .labels import LabelBlock, label_counts, label_image
from .lanes import Lane, LaneInput, open_lane, raw_data_path
from .project import IlpProject, read_ilp
from .tracking import ThresholdSettings, TrackingAnnotations, TrackingParameters

__all__ = [
    "FEATURE_IDS",
    "DEFAULT_SCALES",
    "FeatureSelection",
    "IlpProject",
    "Lane",
    "LaneInput",
    "LabelBlock",
    "ObjectClassifierInfo",
    "PixelStage",
    "ThresholdSettings",
    "TrackingAnnotations",
    "TrackingParameters",
    "describe_ilp",
    "label_counts",
    "label_image",
    "open_lane",
    "raw_data_path",
    "read_ilp",
    "selected_features",
]
