"""The napari plugin (npe2): readers, writers and dock widgets over gputrack's workflows.

Nothing here imports Qt or napari at import time: the conversions between gputrack's tables
and napari's layer data (:mod:`.layers`), the readers (:mod:`.readers`), the writers
(:mod:`.writers`) and the live pixel classifier (:mod:`.live`) are plain functions, tested
without a viewer. The widgets (:mod:`.widgets`) only lay out controls and call them.
The manifest is ``napari.yaml`` next to this file (entry point ``napari.manifest``).
"""
