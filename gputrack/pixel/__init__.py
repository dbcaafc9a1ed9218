"""Pixel classification (ilastik's workflow): labels -> features -> forest -> outputs.

>>> import numpy as np
>>> from gputrack import pixel
>>> img = np.zeros((40, 40), np.float32); img[:, 20:] = 1
>>> lab = np.zeros((40, 40), np.uint8); lab[5:10, 2:6] = 1; lab[5:10, 30:35] = 2
>>> clf = pixel.train(img, lab, {"GaussianSmoothing": [1.0]}, n_trees=5, device="cpu", n_jobs=1)
>>> pixel.predict(clf, img, output="simple-segmentation", device="cpu")[0, [0, 39]].tolist()
[1, 2]
"""

from .classifier import (
    EXPORTS,
    PixelClassifier,
    export_block,
    forest_probabilities,
    predict,
    predict_blocks,
    simple_segmentation,
    train,
    uncertainty,
)
from .export import (
    area_weights,
    classify_file,
    classify_files,
    output_name,
    read_scaled,
    upsample_region,
)
from .ilp import ilp_classifiers, predict_chain, predict_ilp
from .labels import check_labels, label_bounding_boxes, read_labels, training_samples

__all__ = [
    "EXPORTS",
    "area_weights",
    "classify_file",
    "classify_files",
    "ilp_classifiers",
    "output_name",
    "predict_chain",
    "predict_ilp",
    "read_scaled",
    "upsample_region",
    "PixelClassifier",
    "check_labels",
    "export_block",
    "forest_probabilities",
    "label_bounding_boxes",
    "predict",
    "predict_blocks",
    "read_labels",
    "simple_segmentation",
    "train",
    "training_samples",
    "uncertainty",
]
