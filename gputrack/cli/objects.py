"""``gputrack objects features|train|predict``: object tables and object classification."""

from __future__ import annotations

import argparse
import time

from ._common import add_common, add_scheduler, block_shape, positive, positive_count, say, seed


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``objects`` parser and its ``features``, ``train`` and ``predict`` actions."""
    p = sub.add_parser("objects", help="object feature tables and object classification")
    objects_sub = p.add_subparsers(dest="objects_command", metavar="ACTION", required=True)

    q = objects_sub.add_parser("features", help="object feature table (CSV, ilastik column names)")
    _object_inputs(q)
    q.add_argument("--out", required=True, help="TABLE.csv")
    q.add_argument("--features", nargs="+", help="feature names (default: all)")
    q.add_argument("--raw-names", action="store_true", help="our column names instead of ilastik's")
    add_scheduler(q)
    q.add_argument("--block-size", type=positive_count, nargs="+",
                   help="with --scheduler, one frame: blocks (y x or z y x) as tasks (default 4096 per axis)")
    q.add_argument("--frames-per-task", type=positive_count, default=1,
                   help="with --scheduler and a time-lapse: frames per task (default 1)")
    q.set_defaults(func=run_features, inputs=("labels", "raw"), outputs=("out",))
    q = objects_sub.add_parser("train", help="train an object classifier from annotated objects")
    _object_inputs(q)
    q.add_argument("--annotations", required=True,
                   help="CSV with columns t, label, class; with --kind also a label image painted over the "
                        "objects (class = painted value - 1)")
    q.add_argument("--out", required=True, help="classifier file (HDF5)")
    q.add_argument("--kind", choices=("division", "count", "classes"),
                   help="a classifier for tracking (gputrack track --division-classifier / "
                        "--count-classifier): division = 1 dividing / 0 not, with ilastik's division "
                        "features of the children; count = objects per detection (0 = false); classes = any "
                        "classes (default: none, the plain object classifier of --features)")
    q.add_argument("--annotation-axes", help="axes of an annotation image (guessed when absent)")
    q.add_argument("--features", nargs="+", default=None,
                   help="'count', 'division' or feature names (default: the preset of --kind, else 'count')")
    q.add_argument("--trees", type=positive_count, default=100,
                   help="trees of the random forest (default 100)")
    q.add_argument("--seed", type=seed, default=0, help="random seed of the forest (default 0)")
    q.set_defaults(func=run_train, inputs=("labels", "raw", "annotations"), outputs=("out",))
    q = objects_sub.add_parser("predict",
                               help="classify objects with a trained classifier or an ilastik project")
    _object_inputs(q, labels_required=False)
    q.add_argument("--classifier", help="file from 'gputrack objects train' (or --ilp)")
    q.add_argument("--ilp", metavar="PROJECT",
                   help="an ilastik object-classification project: its objects, cached features and "
                        "stored forest; predictions compared with those it caches (instead of --labels / "
                        "--classifier)")
    q.add_argument("--out", required=True, help="predictions table (CSV)")
    q.add_argument("--export-dir",
                   help="with --ilp: folder of the export the project selects, named as it says with "
                        "{dataset_dir} = this folder (default: --out's folder)")
    q.add_argument("--image", help="also paint the classes into the objects (PNG/TIFF/HDF5)")
    q.add_argument("--glasbey", action="store_true", help="PNG with Fiji's Glasbey LUT (default: grey)")
    q.set_defaults(func=run_predict, inputs=("labels", "raw", "classifier", "ilp"),
                   outputs=("out", "image"))


def _object_inputs(q: argparse.ArgumentParser, labels_required: bool = True) -> None:
    add_common(q)
    q.add_argument("--labels", required=labels_required, help="label image or folder of label frames (CTC)")
    q.add_argument("--raw", help="intensities: image or folder of frames")
    q.add_argument("--raw-axes", help="axes of the raw data (guessed when absent)")
    q.add_argument("--label-axes", help="axes of the labels (guessed when absent)")
    q.add_argument("--scales", type=positive, nargs="+",
                   help="physical pixel size (z y x) or (y x) (default: 1 per axis)")


def _read(args: argparse.Namespace) -> dict:
    return {"label_axes": args.label_axes, "raw_axes": args.raw_axes, "scales": args.scales}


def run_features(args: argparse.Namespace) -> int:
    """Object feature table (one row per object and frame) from raw + labels to CSV."""
    from ..workflows.object_classification import features_file  # noqa: PLC0415

    t0 = time.perf_counter()
    table = features_file(
        args.out, args.labels, args.raw, args.features, ilastik_names=not args.raw_names,
        overwrite=args.overwrite, device=args.device, scheduler=args.scheduler,
        block_size=block_shape(args.block_size), frames_per_task=args.frames_per_task, quiet=args.quiet,
        **_read(args),
    )
    seconds = time.perf_counter() - t0
    n_frames = table["t"].nunique() if len(table) else 0
    say(args, f"{len(table)} objects in {n_frames} frames, {seconds:.2f} s -> {args.out}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    """Train an object classifier from a feature table and per-object class annotations."""
    if args.kind:
        from ..workflows.automatic_tracking import train_tracking_file  # noqa: PLC0415

        clf, annotations = train_tracking_file(
            args.out, args.kind, args.annotations, args.labels, args.raw, features=args.features,
            annotation_axes=args.annotation_axes, n_trees=args.trees, random_state=args.seed,
            overwrite=args.overwrite, device=args.device, **_read(args),
        )
        say(args, f"{args.kind} classifier trained on {len(annotations)} annotated objects, classes "
                  f"{[int(c) for c in clf.classes]} -> {args.out}")
        return 0
    from ..workflows.object_classification import train_file  # noqa: PLC0415

    clf, annotations = train_file(
        args.out, args.annotations, args.labels, args.raw, args.features or ["count"], n_trees=args.trees,
        random_state=args.seed, overwrite=args.overwrite, device=args.device, **_read(args),
    )
    say(args, f"trained on {len(annotations)} annotated objects, classes {list(clf.classes)} -> {args.out}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Classify every object; write the predictions table and optionally the painted image."""
    from ..errors import InputError  # noqa: PLC0415
    from ..workflows.object_classification import predict_file  # noqa: PLC0415

    if args.export_dir and not args.ilp:
        raise InputError("--export-dir goes with --ilp (the project's selected export)")
    if args.ilp:
        if args.labels or args.classifier or args.raw:
            raise InputError("--ilp takes the objects and the classifier from the project; leave out "
                             "--labels / --raw / --classifier")
        return _run_predict_ilp(args)
    if not args.labels or not args.classifier:
        raise InputError("objects predict: give --labels and --classifier (or --ilp PROJECT)")
    predictions = predict_file(
        args.out, args.classifier, args.labels, args.raw, image=args.image, glasbey=args.glasbey,
        device=args.device, overwrite=args.overwrite, **_read(args),
    )
    counts = predictions["class"].value_counts().sort_index().to_dict()
    say(args, f"{len(predictions)} objects classified {counts} -> {args.out}")
    codes = predictions.attrs.get("class_codes")
    if codes and args.image:
        say(args, f"{args.image}: pixel values " + ", ".join(f"{v} = {c}" for c, v in codes.items()))
    return 0


def _run_predict_ilp(args: argparse.Namespace) -> int:
    """``objects predict --ilp``: an ilastik object-classification project headless."""
    from ..workflows.ilastik_objects import predict_ilp_file  # noqa: PLC0415

    done = predict_ilp_file(args.ilp, args.out, image=args.image, glasbey=args.glasbey,
                            export_dir=args.export_dir, overwrite=args.overwrite)
    table = done["table"]
    counts = table["class_name"].value_counts().sort_index().to_dict() if len(table) else {}
    say(args, f"{args.ilp}: {len(table)} objects classified {counts} -> {args.out}")
    for path in done["project_export"]:
        say(args, f"the project's export -> {path}")
    cmp = done["comparison"]
    if cmp is None:
        say(args, "the project caches no object predictions to compare with")
    else:
        say(args, f"ilastik's cached predictions: {cmp['same_class']}/{cmp['objects']} objects in the same "
                  f"class, largest probability difference {cmp['max_abs_difference']:.2g}")
    return 0
