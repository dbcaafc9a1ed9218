"""ilastik's workflows as compositions of stages, one module each.

Only this layer composes stages (io -> features -> forest -> segment -> objects ->
tracking -> export); the command line, the napari plugin and Dask call it.

- :mod:`~gputrack.workflows.pixel_classification`: train a project, classify files.
- :mod:`~gputrack.workflows.segmentation`: probabilities or a mask file -> label file.
- :mod:`~gputrack.workflows.object_classification`: object tables, train and predict.
- :mod:`~gputrack.workflows.tracking`: automatic tracking of label or probability files,
  exports of a saved result.
- :mod:`~gputrack.workflows.demo`: the whole pipeline on the embedded synthetic data.

The modules import their stages when first used, so importing this package is cheap.
"""
