"""Reading and writing images, CTC folders and ilastik projects.

>>> from gputrack.io import guess_axes
>>> guess_axes((5, 64, 64))
'zyx'
"""

from .atomic import atomic_output, check_writable
from .axes import (
    ILASTIK_AXES,
    INTERNAL_AXES,
    guess_axes,
    make_axistags,
    normalize_axes,
    parse_axistags,
    transpose_axes,
)
from .ctc import (
    CtcGroundTruth,
    check_tracks,
    iter_frames,
    lineage_summary,
    list_frames,
    read_ctc_gt,
    read_frames,
    read_tracks,
    tracks_from_masks,
    write_ctc,
    write_frames,
    write_tracks,
)
from .images import (
    Block,
    ImageSource,
    glasbey_palette,
    iter_blocks,
    open_image,
    read_image,
    write_image,
)

__all__ = [
    "CtcGroundTruth",
    "check_tracks",
    "iter_frames",
    "lineage_summary",
    "list_frames",
    "read_ctc_gt",
    "read_frames",
    "read_tracks",
    "tracks_from_masks",
    "write_ctc",
    "write_frames",
    "write_tracks",
    "ILASTIK_AXES",
    "INTERNAL_AXES",
    "Block",
    "ImageSource",
    "atomic_output",
    "check_writable",
    "glasbey_palette",
    "guess_axes",
    "iter_blocks",
    "make_axistags",
    "normalize_axes",
    "open_image",
    "parse_axistags",
    "read_image",
    "transpose_axes",
    "write_image",
]
