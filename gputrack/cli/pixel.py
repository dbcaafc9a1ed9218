"""``gputrack pixel train|predict``: pixel classification (ilastik projects too)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from ._common import add_common, add_scheduler, block_shape, positive, positive_count, say, seed


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``pixel`` parser and its ``train`` and ``predict`` actions."""
    p = sub.add_parser("pixel", help="pixel classification: train, predict (ilastik projects too)")
    pixel_sub = p.add_subparsers(dest="pixel_command", metavar="ACTION", required=True)
    q = pixel_sub.add_parser("train", help="train a forest on images + sparse labels -> project file")
    add_common(q)
    q.add_argument("--images", nargs="+", required=True, help="training images")
    q.add_argument("--labels", nargs="+", required=True, help="label images (0 = unlabelled), one per image")
    q.add_argument("--out", required=True, help="project file (HDF5) to write")
    q.add_argument("--features", nargs="+", help="'all' (default) or FEATURE=s1,s2 ...")
    q.add_argument("--axes", help="axes of the images (guessed when absent)")
    q.add_argument("--label-names", nargs="+", help="names of the classes 1, 2, ...")
    q.add_argument("--trees", type=positive_count, default=100, help="trees of the random forest")
    q.add_argument("--seed", type=seed, default=0, help="random seed of the forest")
    q.add_argument(
        "--scale", type=positive, default=1.0,
        help="train on the images resized by this factor (y, x; e.g. 0.2); the project records it "
        "and 'pixel predict' uses it",
    )
    q.set_defaults(func=run_train, inputs=("images", "labels"), outputs=("out",))
    q = pixel_sub.add_parser("predict", help="classify images with a project file or an ilastik .ilp")
    add_common(q)
    q.add_argument("images", nargs="*", help="image files or folders (default with --ilp: its lanes)")
    q.add_argument("--project", help="project file from 'gputrack pixel train'")
    q.add_argument("--ilp", help="ilastik pixel-classification project (runs its stored forest)")
    q.add_argument("--retrain", action="store_true", help="with --ilp: train our forest on its labels")
    q.add_argument(
        "--raw-data", nargs="+", help="with --ilp: raw data per lane, replacing the project's paths"
    )
    q.add_argument("--out", required=True, help="output file (one image) or folder")
    q.add_argument(
        "--export",
        choices=("probabilities", "simple-segmentation", "uncertainty"),
        default="probabilities",
        help="what to write: class probabilities, the most likely class, or the uncertainty",
    )
    q.add_argument(
        "--format", choices=("h5", "tif", "png", "zarr", "ome.zarr"), default="h5",
        help="output format (folders; default h5)",
    )
    q.add_argument("--ngff-version", choices=("0.4", "0.5"), default="0.4",
                   help="OME-Zarr outputs: NGFF 0.4 (Zarr v2) or 0.5 (Zarr v3) (default 0.4)")
    add_scheduler(q)
    q.add_argument(
        "--glasbey", action="store_true", help="PNG segmentation with Fiji's Glasbey LUT (default: grey)"
    )
    q.add_argument(
        "--lut",
        metavar="FILE",
        help="PNG segmentation with this lookup table: ImageJ .lut (binary or text), CSV of class,r,g,b, "
        "or glasbey / glasbey_on_dark (default: none)",
    )
    q.add_argument(
        "--scale", type=positive,
        help="resize factor before classification (e.g. 0.2); default: the scale the project was "
        "trained at (pixel train --scale); another scale is refused",
    )
    q.add_argument(
        "--output-scale", choices=("input", "classified"), default="input",
        help="size of the outputs with --scale: the input's or the classified (resized) one",
    )
    q.add_argument(
        "--block-size", type=positive_count, nargs="+",
        help="block shape (y x or z y x); default: from memory (1024 in 2D, 128 in 3D)",
    )
    q.add_argument("--axes", help="axes of the images (guessed when absent)")
    q.set_defaults(func=run_predict, inputs=("images", "project", "ilp", "raw_data"), outputs=("out",))


def feature_selection(values: Sequence[str] | None):
    """``--features all`` or ``Feature=s1,s2 ...`` pairs -> a selection for gputrack.features.

    >>> feature_selection(["GaussianSmoothing=0.3,1"])
    {'GaussianSmoothing': [0.3, 1.0]}
    """
    from ..errors import InputError  # noqa: PLC0415

    if not values or values == ["all"]:
        return "all"
    selection: dict[str, list[float]] = {}
    for item in values:
        name, _, scales = item.partition("=")
        try:
            selection[name] = [float(s) for s in scales.split(",") if s]
        except ValueError:
            raise InputError(
                f"--features {item!r}: expected FEATURE=s1,s2 (e.g. GaussianSmoothing=0.3,1.0)"
            ) from None
        if not selection[name]:
            raise InputError(f"--features {item!r}: no scales given (FEATURE=s1,s2)")
    return selection


def run_train(args: argparse.Namespace) -> int:
    """Train a pixel classifier from images + sparse labels; write the project file."""
    from ..workflows.pixel_classification import train_files  # noqa: PLC0415

    t0 = time.perf_counter()
    project = train_files(
        args.out,
        args.images,
        args.labels,
        feature_selection(args.features),
        axes=args.axes,
        label_names=args.label_names,
        n_trees=args.trees,
        random_state=args.seed,
        device=args.device,
        scale=args.scale,
        overwrite=args.overwrite,
    )
    clf = project.classifier
    say(
        args,
        f"trained {clf.forest.n_trees} trees on {len(clf.feature_names)} features, "
        f"classes {list(clf.classes)} in {time.perf_counter() - t0:.1f} s -> {args.out}",
    )
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Classify images with a project file or an ilastik project; write the chosen export."""
    from ..workflows.pixel_classification import predict_files  # noqa: PLC0415

    t0 = time.perf_counter()
    written = predict_files(
        list(args.images),
        args.out,
        project=args.project,
        ilp=args.ilp,
        retrain=args.retrain,
        export=args.export,
        format=args.format,
        axes=args.axes,
        raw_data=args.raw_data,
        block_size=block_shape(args.block_size),
        scale=args.scale,
        output_scale=args.output_scale,
        glasbey=args.glasbey,
        lut=args.lut,
        device=args.device,
        overwrite=args.overwrite,
        quiet=args.quiet,
        scheduler=args.scheduler,
        ngff_version=args.ngff_version,
    )
    seconds = time.perf_counter() - t0
    say(args, f"{args.export}: {len(written)} output(s) in {seconds:.1f} s -> {args.out}")
    return 0
