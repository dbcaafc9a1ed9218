"""``gputrack annotate import|export|classes|info``: manual-tracking annotations in a project file."""

from __future__ import annotations

import argparse

from ._common import add_common, frame_range, say


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``annotate`` parser and its actions."""
    from ..workflows.manual_tracking import FORMATS  # noqa: PLC0415

    p = sub.add_parser("annotate", help="manual-tracking annotations: import, export, summary")
    actions = p.add_subparsers(dest="annotate_command", metavar="ACTION", required=True)
    q = actions.add_parser("import", help="store the annotations of a CTC GT folder or an ilastik .ilp")
    add_common(q, overwrite=False)
    q.add_argument("--from", dest="source", required=True, help="CTC ground-truth folder (NN_GT) or .ilp")
    q.add_argument("--project", required=True,
                   help="gputrack project file (created, or its annotations replaced)")
    q.add_argument("--lane", type=int, default=0, help="lane of the .ilp (default 0)")
    q.set_defaults(func=run_import, inputs=("source",), outputs=("project",))
    q = actions.add_parser("export", help="write a project's annotations")
    add_common(q)
    q.add_argument("--project", required=True, help="gputrack project file with annotations")
    q.add_argument("--labels", help="label frames the annotations refer to (all formats but the CSVs)")
    q.add_argument("--label-axes", help="axes of the label file (guessed when absent)")
    q.add_argument("--format", required=True, choices=FORMATS, help="output format")
    q.add_argument("--out", required=True, help="output file or folder")
    q.set_defaults(func=run_export, inputs=("project", "labels"), outputs=("out",))
    q = actions.add_parser("extend", help="semi-automatic step: extend a track while one object overlaps it")
    add_common(q, overwrite=False)
    q.add_argument("--project", required=True,
                   help="gputrack project file with annotations (created with --from when absent)")
    q.add_argument("--labels", required=True, help="label frames the annotations refer to")
    q.add_argument("--label-axes", help="axes of the label file (guessed when absent)")
    q.add_argument("--track", required=True, type=_track,
                   help="track id to extend, or 'new' (needs --from)")
    q.add_argument("--from", dest="start", type=_object, metavar="T,LABEL",
                   help="first assign this object (frame T, label LABEL) to the track, then extend from it")
    q.add_argument("--window", type=int, nargs="+", default=[40],
                   help="search window in pixels, one value or one per axis (y x / z y x; default 40, "
                        "ilastik's)")
    q.add_argument("--last", type=int, help="last frame to reach (default: the last frame)")
    q.add_argument("--ilastik-compat", action="store_true",
                   help="keep the window where the track's last object was (ilastik) instead of following it")
    q.set_defaults(func=run_extend, inputs=("labels",))
    q = actions.add_parser("classes", help="t, label, class CSV of a segmentation's objects from a CTC "
                           "ground truth, for 'gputrack objects train --kind count|division'")
    add_common(q)
    q.add_argument("--labels", required=True, help="label frames (a segmentation) to annotate")
    q.add_argument("--label-axes", help="axes of the label file (guessed when absent)")
    q.add_argument("--gt", required=True, help="CTC ground-truth folder (NN_GT) of the same frames")
    q.add_argument("--kind", required=True, choices=("count", "division"),
                   help="count = GT cells per object (0 = false, 2 = two or more); division = 1 for a "
                        "GT mother in its last frame, else 0")
    q.add_argument("--frames", type=frame_range, metavar="START:STOP",
                   help="annotate the objects of these frames only (default: all)")
    q.add_argument("--out", required=True, help="annotation CSV")
    q.set_defaults(func=run_classes, inputs=("labels", "gt"), outputs=("out",))
    q = actions.add_parser("info", help="summary of a project's annotations")
    add_common(q, overwrite=False)
    q.add_argument("--project", required=True, help="gputrack project file with annotations")
    q.set_defaults(func=run_info, inputs=("project",))


def _track(text: str) -> int | None:
    if text == "new":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a track id (an integer > 0) or 'new'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a track id > 0 or 'new'")
    return value


def _object(text: str) -> tuple[int, int]:
    parts = text.split(",")
    try:
        t, label = (int(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected T,LABEL (frame and label, e.g. 0,12)") from None
    if t < 0 or label <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a frame >= 0 and a label > 0")
    return t, label


def _summary(ann) -> str:
    from ..tracking.annotation import MISDETECTION  # noqa: PLC0415

    objects = list(ann.objects())
    tracks = {k for _, _, ids in objects for k in ids if k > 0}
    mis = sum(MISDETECTION in ids for _, _, ids in objects)
    mergers = sum(len(ids) > 1 for _, _, ids in objects)
    return (f"{len(objects)} annotated objects in {len(ann.labels)} frames: {len(tracks)} tracks, "
            f"{len(ann.divisions)} divisions, {mergers} mergers, {mis} misdetections")


def run_import(args: argparse.Namespace) -> int:
    from ..workflows.manual_tracking import import_annotations  # noqa: PLC0415

    ann = import_annotations(args.source, args.project, lane=args.lane)
    say(args, f"{args.source}: {_summary(ann)} -> {args.project}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ..errors import InputError  # noqa: PLC0415
    from ..workflows.manual_tracking import export_annotations  # noqa: PLC0415

    if args.labels is None and args.format not in ("divisions-csv", "mergers-csv"):
        raise InputError(f"--format {args.format} needs --labels (the label frames)")
    export_annotations(args.project, args.labels, args.format, args.out, label_axes=args.label_axes,
                       overwrite=args.overwrite)
    say(args, f"{args.project} -> {args.out} ({args.format})")
    return 0


def run_classes(args: argparse.Namespace) -> int:
    from ..workflows.automatic_tracking import ground_truth_annotations  # noqa: PLC0415

    table = ground_truth_annotations(args.out, args.labels, args.gt, args.kind, frames=args.frames,
                                     label_axes=args.label_axes, overwrite=args.overwrite)
    counts = ", ".join(f"{n} of class {c}" for c, n in table["class"].value_counts().sort_index().items())
    say(args, f"{args.labels}: {len(table)} objects ({counts}) -> {args.out}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from ..project import load_annotations  # noqa: PLC0415
    from ..tracking.annotation import check_annotations  # noqa: PLC0415

    ann = load_annotations(args.project)
    print(_summary(ann))
    for line in check_annotations(ann):
        print(f"  rule broken: {line}")
    return 0


def run_extend(args: argparse.Namespace) -> int:
    """Extend a track while exactly one object overlaps it; save; say where and why it stopped."""
    from ..workflows.manual_tracking import extend_in_project  # noqa: PLC0415

    window = args.window[0] if len(args.window) == 1 else tuple(args.window)
    ext, _ = extend_in_project(args.project, args.labels, args.track, start=args.start, window=window,
                               last=args.last, ilastik_compat=args.ilastik_compat, label_axes=args.label_axes)
    added = ", ".join(f"{t}:{label}" for t, label in ext.added[:8]) + (" ..." if len(ext.added) > 8 else "")
    say(args, f"track {ext.track}: {len(ext.added)} object(s) added" + (f" ({added})" if ext.added else "")
              + f" -> {args.project}")
    print(f"stopped at t={ext.stopped_at}: {ext.reason}")
    return 0
