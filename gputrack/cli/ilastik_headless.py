"""``gputrack ilastik-headless``: an ilastik headless command line, run by gputrack.

Takes ilastik's own spellings, so that ``run_ilastik.sh --headless --project=P.ilp ...``
runs by changing the program name: ``--project=``, ``--headless`` (ignored),
``--readonly`` (ignored; the project is never written), input files as positional arguments
or after ``--raw_data``, and the export options of ilastik's headless mode (see
:mod:`gputrack.workflows.ilastik_headless`). Unlike ilastik, existing outputs are only
replaced with ``--overwrite``.
"""

from __future__ import annotations

import argparse

from ._common import add_common, say

_IGNORED_VALUE = ("--logfile", "--process_name")
_IGNORED_FLAG = ("--headless", "--debug", "--redirect_output")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``ilastik-headless`` parser."""
    from ..export.ilastik_export import DTYPES, FORMATS  # noqa: PLC0415

    p = sub.add_parser(
        "ilastik-headless",
        help="run an ilastik pixel-classification project with ilastik's headless options",
        description="Run ilastik's headless pixel classification (run_ilastik.sh --headless) with the "
        "project's stored forests; writes the files ilastik would write.",
    )
    add = p.add_argument
    add("--project", required=True, help="the ilastik project (.ilp), e.g. --project=MyProject.ilp")
    add("inputs", nargs="*", help="input images (globs stack 2D files; default: the project's lanes)")
    add("--raw_data", nargs="+", default=[], help="input images, as ilastik's --raw_data (default: none)")
    for flag in _IGNORED_FLAG:
        p.add_argument(flag, action="store_true", help="accepted for ilastik compatibility; ignored")
    for flag in _IGNORED_VALUE:
        p.add_argument(flag, help="accepted for ilastik compatibility; ignored")
    p.add_argument("--readonly", nargs="?", const="1", help="accepted for ilastik compatibility; ignored")
    p.add_argument("--export_source", help="Probabilities, Simple Segmentation, Uncertainty, Features or "
                   "Labels (any case; autocontext: '... Stage N'); default: the first, Probabilities")
    p.add_argument("--output_format", choices=sorted(FORMATS), metavar="FORMAT",
                   help="ilastik's format name: hdf5, compressed hdf5, numpy, multipage tiff, png, tif, "
                   "png sequence, ... (default: the project's stored format, else hdf5)")
    p.add_argument("--output_filename_format", help="output path with {dataset_dir} {nickname} {result_type} "
                   "{roi} {x_start} ... {slice_index} (default: the project's, else "
                   "{dataset_dir}/{nickname}_{result_type})")
    add("--output_internal_path", help="HDF5 dataset name (default: the project's, else exported_data)")
    p.add_argument("--export_dtype", choices=DTYPES, help="convert the result to this type (default: keep)")
    add("--pipeline_result_drange", help="range before renormalising, e.g. '(0.0,1.0)' (default: none)")
    p.add_argument("--export_drange", help="range after renormalising, e.g. '(0,255)'; needs "
                   "--pipeline_result_drange (default: none)")
    p.add_argument("--cutout_subregion", help="export only [(start,...),(stop,...)] in the result's axes, "
                   "None for the full extent (default: everything)")
    add("--output_axis_order", help="axis order of the written data, e.g. tzyxc (default: the input's)")
    p.add_argument("--input_axes", help="axes of the inputs, e.g. zcyx (default: from the files)")
    p.add_argument("--stack_along", default="z", choices=("z", "t", "c"),
                   help="axis that a glob of 2D files is stacked along (default: z)")
    add_common(p)
    p.set_defaults(func=run, inputs=("project",))


def _readonly_input(value: str | None) -> list[str]:
    """``--readonly`` takes an optional 0/1; anything else after it is an input file.

    >>> _readonly_input("1"), _readonly_input("img.png")
    ([], ['img.png'])
    """
    if value is None or value.lower() in ("0", "1", "true", "false"):
        return []
    return [value]


def run(args: argparse.Namespace) -> int:
    """Export every input as ilastik's headless mode would."""
    from ..export.ilastik_export import parse_range, parse_roi  # noqa: PLC0415
    from ..workflows.ilastik_headless import run_headless  # noqa: PLC0415

    written = run_headless(
        args.project,
        [*args.raw_data, *_readonly_input(args.readonly), *args.inputs],
        export_source=args.export_source,
        output_format=args.output_format,
        output_filename_format=args.output_filename_format,
        output_internal_path=args.output_internal_path,
        export_dtype=args.export_dtype,
        pipeline_result_drange=(parse_range(args.pipeline_result_drange, "--pipeline_result_drange")
                                if args.pipeline_result_drange else None),
        export_drange=parse_range(args.export_drange) if args.export_drange else None,
        cutout_subregion=parse_roi(args.cutout_subregion) if args.cutout_subregion else None,
        output_axis_order=args.output_axis_order,
        input_axes=args.input_axes,
        stack_along=args.stack_along,
        device=args.device,
        overwrite=args.overwrite,
    )
    for path in written:
        say(args, str(path))
    return 0
