"""The ``gputrack`` command: a thin layer that parses options, calls the API and reports.

User mistakes (:class:`gputrack.errors.GputrackError`) are printed on one line and the
command exits with status 2; no traceback.

Example
-------
>>> from gputrack.cli import main
>>> main(["info", "--device", "cpu", "--quiet"])
0
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__, backend
from .errors import GputrackError, one_line

log = logging.getLogger("gputrack")


# --------------------------------------------------------------------------- helpers


def _common(parser: argparse.ArgumentParser, *, overwrite: bool = True) -> None:
    parser.add_argument(
        "--device", default="auto", choices=backend.DEVICES, help="compute device (default: auto)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summaries")
    if overwrite:
        parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def _say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text)


# --------------------------------------------------------------------------- info


def cmd_info(args: argparse.Namespace) -> int:
    """Versions, devices, free memory and the backend each stage uses."""
    info = backend.describe()
    device = backend.resolve_device(args.device)
    info["gputrack"] = __version__
    info["device"] = device
    info["stages"] = _stage_backends(device)
    versions = {}
    for name in (
        "scipy",
        "numba",
        "h5py",
        "tifffile",
        "sklearn",
        "ortools",
        "zarr",
        "pandas",
        "cupy",
        "cucim",
    ):
        versions[name] = _version_of(name)
    info["versions"] = versions
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    if args.quiet:
        return 0
    print(f"gputrack {__version__} (python {info['python']}, {info['machine']}, {info['cpu_count']} cores)")
    print(f"host memory available: {info['host_memory_available_bytes'] / 2**30:.1f} GiB")
    gpu = info["gpu"]
    if gpu:
        print(
            f"GPU: {gpu['name']} (compute {gpu['compute_capability']}), "
            f"{gpu['memory_free_bytes'] / 2**30:.1f} of {gpu['memory_total_bytes'] / 2**30:.1f} GiB free, "
            f"cupy {gpu['cupy']}"
        )
    else:
        print(f"GPU: none ({info['gpu_status']})")
    print(
        f"device for this run: {device}"
        + (" (auto fell back to the CPU)" if args.device == "auto" and device == "cpu" else "")
    )
    print("stages:")
    for stage, how in info["stages"].items():
        print(f"  {stage:<10} {how}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    return 0


def _version_of(module: str) -> str | None:
    import importlib  # noqa: PLC0415

    try:
        mod = importlib.import_module(module)
    except Exception:
        return None
    return getattr(mod, "__version__", "?")


def _stage_backends(device: str) -> dict[str, str]:
    if device == "gpu":
        return {
            "io": "host reads (h5py, tifffile, zarr), one transfer per block",
            "features": "cupy separable convolutions + kernels/eigen.cu",
            "forest": "kernels/forest.cu",
            "segment": "cupyx.scipy.ndimage",
            "objects": "cupy segmented reductions",
            "tracking": "CPU core on object tables (numba, OR-Tools)",
        }
    return {
        "io": "h5py, tifffile, zarr",
        "features": "scipy.ndimage / numba",
        "forest": "numba",
        "segment": "scipy.ndimage",
        "objects": "numpy / numba reductions",
        "tracking": "numba, OR-Tools",
    }


# --------------------------------------------------------------------------- synth


def cmd_synth(args: argparse.Namespace) -> int:
    """Write the synthetic time-lapse with ground truth in CTC layout."""
    from .datasets import synthetic_timelapse, write_synthetic_ctc  # noqa: PLC0415

    shape = tuple(args.shape)
    data = synthetic_timelapse(n_frames=args.frames, shape=shape, n_cells=args.cells, seed=args.seed)
    out = write_synthetic_ctc(args.out, data, overwrite=args.overwrite)
    _say(args, f"wrote {args.frames} frames of {shape} with ground truth to {out}")
    return 0


# --------------------------------------------------------------------------- ilp-info


def cmd_ilp_info(args: argparse.Namespace) -> int:
    """Print what an ilastik project holds."""
    from .io.ilp import describe_ilp, read_ilp  # noqa: PLC0415

    raw = list(args.raw_data) if args.raw_data else None
    print(describe_ilp(read_ilp(args.project, raw_data=raw)))
    return 0


# --------------------------------------------------------------------------- segment


def _write_labels(out: Path, labels, axes: str, overwrite: bool) -> None:
    """Labels to an image file (by suffix), or to a folder of ``maskTTT.tif`` frames."""
    from .io.images import WRITE_SUFFIXES, write_image  # noqa: PLC0415

    if "".join(out.suffixes[-2:]).lower() in WRITE_SUFFIXES or out.suffix.lower() in WRITE_SUFFIXES:
        write_image(out, labels, axes=axes, overwrite=overwrite)
        return
    from .io.axes import transpose_axes  # noqa: PLC0415
    from .io.ctc import write_frames  # noqa: PLC0415

    frames = labels if "t" in axes else labels[None]
    frame_axes = axes if "t" in axes else "t" + axes
    frames = transpose_axes(frames, frame_axes, "t" + "".join(a for a in "zyx" if a in frame_axes))
    if frames.max(initial=0) > 65535:
        from .errors import InputError  # noqa: PLC0415

        raise InputError(
            f"{out}: {int(frames.max())} objects do not fit uint16 mask frames; write .h5 or .tif"
        )
    write_frames(out, frames.astype("uint16"), prefix="mask", overwrite=overwrite)


def cmd_segment(args: argparse.Namespace) -> int:
    """Threshold and size filter (ilastik's ThresholdTwoLevels) on probabilities or a mask."""
    from .io.atomic import check_writable  # noqa: PLC0415
    from .io.sequence import read_sequence  # noqa: PLC0415
    from .segment import threshold  # noqa: PLC0415

    out = check_writable(args.out, args.overwrite)
    image, axes = read_sequence(args.input, dataset=args.dataset, axes=args.axes)
    t0 = time.perf_counter()
    labels = threshold(
        image,
        method=args.method,
        threshold=args.threshold,
        high_threshold=args.high_threshold,
        sigma=args.sigma if len(args.sigma) > 1 else args.sigma[0],
        channel=args.channel,
        core_channel=args.core_channel,
        min_size=args.min_size,
        max_size=args.max_size,
        axes=axes,
        device=args.device,
    )
    seconds = time.perf_counter() - t0
    label_axes = axes.replace("c", "")
    _write_labels(out, backend.to_host(labels), label_axes, args.overwrite)
    _say(args, f"segmented {args.input} ({image.shape}, axes {axes}) in {seconds:.2f} s -> {out}")
    return 0


# --------------------------------------------------------------------------- pixel


def _selection(values: Sequence[str] | None):
    """``--features all`` or ``Feature=s1,s2 ...`` pairs -> a selection for gputrack.features."""
    from .errors import InputError  # noqa: PLC0415

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


def cmd_pixel_train(args: argparse.Namespace) -> int:
    """Train a pixel classifier from images + sparse labels; write the project file."""
    from .errors import InputError  # noqa: PLC0415
    from .project import train_project  # noqa: PLC0415

    if len(args.images) != len(args.labels):
        raise InputError(
            f"{len(args.images)} images but {len(args.labels)} label files: give one label file per image"
        )
    t0 = time.perf_counter()
    project = train_project(
        args.out,
        list(args.images),
        list(args.labels),
        _selection(args.features),
        axes=args.axes,
        label_names=args.label_names,
        n_trees=args.trees,
        random_state=args.seed,
        device=args.device,
        overwrite=args.overwrite,
    )
    clf = project.classifier
    _say(
        args,
        f"trained {clf.forest.n_trees} trees on {len(clf.feature_names)} features, "
        f"classes {list(clf.classes)} in {time.perf_counter() - t0:.1f} s -> {args.out}",
    )
    return 0


def cmd_pixel_predict(args: argparse.Namespace) -> int:
    """Classify images with a project file or an ilastik project; write the chosen export."""
    from .errors import InputError  # noqa: PLC0415
    from .pixel import classify_file, classify_files, predict_ilp  # noqa: PLC0415

    block = tuple(args.block_size) if args.block_size else None
    t0 = time.perf_counter()
    if args.ilp:
        if args.scale != 1.0:
            raise InputError(
                "--scale is not available with --ilp (the project's features are defined at its scale)"
            )
        written = predict_ilp(
            args.ilp,
            list(args.images) or None,
            args.out,
            retrain=args.retrain,
            export=args.export,
            format=args.format,
            axes=args.axes,
            raw_data=list(args.raw_data) if args.raw_data else None,
            block_shape=block,
            device=args.device,
            overwrite=args.overwrite,
            glasbey=args.glasbey,
        )
    else:
        if not args.project:
            raise InputError("give --project PROJECT.h5 (from 'gputrack pixel train') or --ilp PROJECT.ilp")
        if not args.images:
            raise InputError("no images to classify: pass image files or a folder")
        from .project import load_project  # noqa: PLC0415

        clf = load_project(args.project).classifier
        options = dict(
            export=args.export,
            axes=args.axes,
            scale=args.scale,
            output_scale=args.output_scale,
            glasbey=args.glasbey,
            block_size=block,
            device=args.device,
            overwrite=args.overwrite,
            quiet=args.quiet,
        )
        out = Path(args.out)
        if len(args.images) == 1 and Path(args.images[0]).is_file() and out.suffix:
            written = [classify_file(clf, args.images[0], out, **options)]
        else:
            written = classify_files(clf, list(args.images), out, format=args.format, **options)
    seconds = time.perf_counter() - t0
    _say(args, f"{args.export}: {len(written)} output(s) in {seconds:.1f} s -> {args.out}")
    return 0


# --------------------------------------------------------------------------- objects


def _object_table(args: argparse.Namespace, features=None):
    """Object feature table of ``--raw`` (optional) and ``--labels``; returns (table, labels, axes)."""
    from .errors import InputError  # noqa: PLC0415
    from .io.axes import transpose_axes  # noqa: PLC0415
    from .io.sequence import read_sequence  # noqa: PLC0415
    from .objects import features as object_features  # noqa: PLC0415

    labels, label_axes = read_sequence(args.labels, axes=args.label_axes)
    raw = None
    axes = label_axes
    if args.raw:
        raw, raw_axes = read_sequence(args.raw, axes=args.raw_axes)
        spatial = "".join(a for a in "tzyx" if a in label_axes)
        want = spatial + ("c" if "c" in raw_axes else "")
        try:
            raw = transpose_axes(raw, raw_axes, want)
            labels = transpose_axes(labels, label_axes, spatial)
        except GputrackError as err:
            raise InputError(
                f"{args.raw} (axes {raw_axes}) does not fit {args.labels} (axes {label_axes}): {err}"
            ) from None
        if raw.shape[: len(spatial)] != labels.shape:
            raise InputError(
                f"{args.raw}: shape {raw.shape} (axes {want}) does not match labels {args.labels} "
                f"shape {labels.shape} (axes {spatial})"
            )
        axes = want
    table = object_features(raw, labels, features, scales=args.scales, axes=axes, device=args.device)
    return table, labels, axes.replace("c", "")


def cmd_objects_features(args: argparse.Namespace) -> int:
    """Object feature table (one row per object and frame) from raw + labels to CSV."""
    from .export import object_table_csv  # noqa: PLC0415
    from .io.atomic import check_writable  # noqa: PLC0415

    out = check_writable(args.out, args.overwrite)
    t0 = time.perf_counter()
    table, _, _ = _object_table(args, args.features)
    seconds = time.perf_counter() - t0
    object_table_csv(out, table, ilastik_names=not args.raw_names, overwrite=args.overwrite)
    n_frames = table["t"].nunique() if len(table) else 0
    _say(args, f"{len(table)} objects in {n_frames} frames, {seconds:.2f} s -> {out}")
    return 0


def _preset_features(names: Sequence[str]) -> list[str]:
    from .objects import DIVISION_FEATURES, OBJECT_COUNT_FEATURES  # noqa: PLC0415

    presets = {"count": list(OBJECT_COUNT_FEATURES), "division": list(DIVISION_FEATURES)}
    return presets[names[0]] if len(names) == 1 and names[0] in presets else list(names)


def cmd_objects_train(args: argparse.Namespace) -> int:
    """Train an object classifier from a feature table and per-object class annotations."""
    import pandas as pd  # noqa: PLC0415

    from .errors import InputError, MissingInputError  # noqa: PLC0415
    from .io.atomic import check_writable  # noqa: PLC0415
    from .objects import save_classifier, train  # noqa: PLC0415

    out = check_writable(args.out, args.overwrite)
    if not Path(args.annotations).is_file():
        raise MissingInputError(f"{args.annotations}: no such annotation table")
    annotations = pd.read_csv(args.annotations)
    missing = {"t", "label", "class"} - set(annotations.columns)
    if missing:
        raise InputError(f"{args.annotations}: columns {sorted(missing)} missing (need t, label, class)")
    table, _, _ = _object_table(args)
    clf = train(
        table, annotations, _preset_features(args.features), n_trees=args.trees, random_state=args.seed
    )
    save_classifier(out, clf, overwrite=args.overwrite)
    _say(args, f"trained on {len(annotations)} annotated objects, classes {list(clf.classes)} -> {out}")
    return 0


def cmd_objects_predict(args: argparse.Namespace) -> int:
    """Classify every object; write the predictions table and optionally the painted image."""
    from .export import object_table_csv, write_object_predictions  # noqa: PLC0415
    from .io.atomic import check_writable  # noqa: PLC0415
    from .objects import load_classifier, predict  # noqa: PLC0415

    out = check_writable(args.out, args.overwrite)
    if args.image:
        check_writable(args.image, args.overwrite)
    clf = load_classifier(args.classifier)
    table, labels, axes = _object_table(args)
    predictions = predict(clf, table, device=args.device)
    merged = table.merge(predictions, on=["t", "label"])
    object_table_csv(out, merged, overwrite=args.overwrite)
    if args.image:
        write_object_predictions(
            args.image, labels, predictions, glasbey=args.glasbey, axes=axes, overwrite=args.overwrite
        )
    counts = predictions["class"].value_counts().sort_index().to_dict()
    _say(args, f"{len(predictions)} objects classified {counts} -> {out}")
    return 0


# --------------------------------------------------------------------------- track



def _as_frames(array, axes: str, what: str):
    """``t[z]yx`` frames of a sequence (singleton z dropped); InputError without a time axis."""
    from .errors import InputError  # noqa: PLC0415
    from .io.axes import transpose_axes  # noqa: PLC0415

    if "t" not in axes:
        raise InputError(f"{what}: axes {axes!r} have no time axis; tracking needs a sequence (t first)")
    if "c" in axes:
        if array.shape[axes.index("c")] != 1:
            raise InputError(f"{what}: {array.shape[axes.index('c')]} channels; expected one label channel")
    spatial = "".join(a for a in "zyx" if a in axes and array.shape[axes.index(a)] > 1)
    return transpose_axes(array, axes, "t" + spatial)


def cmd_track(args: argparse.Namespace) -> int:
    """Conservation tracking of a label sequence (or probabilities + threshold); exports."""
    from .errors import InputError  # noqa: PLC0415
    from .export.formats import export_many, parse_formats  # noqa: PLC0415
    from .io.atomic import atomic_output, check_writable  # noqa: PLC0415
    from .io.sequence import read_sequence  # noqa: PLC0415
    from .tracking import TrackingParameters  # noqa: PLC0415
    from .tracking.pipeline import track_labels  # noqa: PLC0415
    from .tracking.result import save_result  # noqa: PLC0415

    exports = parse_formats(args.export)
    if args.timeout is not None and args.timeout <= 0:
        raise InputError(f"--timeout {args.timeout}: expected a positive number of seconds")
    out = check_writable(args.out, args.overwrite)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    if args.labels:
        labels, axes = read_sequence(args.labels, axes=args.label_axes)
        labels = _as_frames(labels, axes, args.labels)
    elif args.probabilities:
        from .segment import threshold  # noqa: PLC0415

        prob, axes = read_sequence(args.probabilities, axes=args.probability_axes)
        labels = threshold(
            prob,
            threshold=args.threshold,
            sigma=args.sigma,
            channel=args.channel,
            min_size=args.min_size,
            max_size=args.max_size,
            axes=axes,
            device=args.device,
        )
        labels = _as_frames(backend.to_host(labels), axes.replace("c", ""), args.probabilities)
    else:
        raise InputError("give --labels (label frames) or --probabilities (with --threshold)")
    raw = None
    if args.raw:
        raw, raw_axes = read_sequence(args.raw, axes=args.raw_axes)
        raw = _as_frames(raw, raw_axes, args.raw)
    times["read"] = time.perf_counter() - t0

    params = TrackingParameters(
        with_divisions=not args.no_divisions,
        max_objects=args.max_objects,
        detection_weight=args.detection_weight,
        division_weight=args.division_weight,
        transition_weight=args.transition_weight,
        appearance_cost=args.appearance_cost,
        disappearance_cost=args.disappearance_cost,
        border_width=args.border_width,
        k_neighbors=args.k_neighbors,
        max_distance=args.max_distance,
        division_threshold=args.division_threshold,
        transition_alpha=args.transition_alpha,
        ilastik_compat=args.ilastik_compat,
    )
    t0 = time.perf_counter()
    result = track_labels(
        labels,
        raw,
        params=params,
        solver=args.solver,
        scales=args.scales,
        frames_per_split=args.frames_per_split,
        n_jobs=args.jobs,
        timeout=args.timeout,
    )
    times["track"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with atomic_output(out, overwrite=args.overwrite, directory=True) as tmp:
        export_many(result, exports, tmp, raw=raw, ilastik_compat=args.ilastik_compat)
        save_result(tmp / "tracking_result.h5", result)
    times["export"] = time.perf_counter() - t0
    sol, lin = result.solution, result.lineage
    n_tracks = int(lin.loc[lin["track_id"] > 0, "track_id"].nunique())
    _say(
        args,
        f"{len(lin)} detections in {labels.shape[0]} frames -> {n_tracks} tracks, "
        f"{int(sol.division.sum())} divisions, energy {sol.energy:.1f} ({args.solver}"
        + (", optimal" if sol.optimal else "")
        + f"); read {times['read']:.2f} s, track {times['track']:.2f} s, "
        f"export {times['export']:.2f} s -> {out}",
    )
    if args.gt:
        from .tracking.evaluate import ctc_scores  # noqa: PLC0415

        if "ctc" not in exports:
            raise InputError("--gt needs --export ctc (the scores are computed on the CTC result)")
        scores = ctc_scores(out, args.gt)
        _say(args, "CTC scores: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a saved tracking result (``tracking_result.h5``) in one or more formats."""
    from .errors import InputError  # noqa: PLC0415
    from .export.formats import ILASTIK_COMPAT, export_many, export_result, parse_formats  # noqa: PLC0415
    from .io.sequence import read_sequence  # noqa: PLC0415
    from .tracking.result import load_result  # noqa: PLC0415

    formats = parse_formats(args.format)
    t0 = time.perf_counter()
    result = load_result(args.result)
    raw = None
    if args.raw:
        raw, raw_axes = read_sequence(args.raw, axes=args.raw_axes)
        raw = _as_frames(raw, raw_axes, args.raw)
    if args.bdv_xml and formats != ["mamut"]:
        raise InputError("--bdv-xml: only with --format mamut")
    if len(formats) == 1:
        options = {"bdv_xml": args.bdv_xml} if args.bdv_xml else {}
        if args.ilastik_compat and formats[0] in ILASTIK_COMPAT:
            options["ilastik_compat"] = True
        written = export_result(result, formats[0], args.out, overwrite=args.overwrite, raw=raw, **options)
    else:
        written = export_many(result, formats, args.out, overwrite=args.overwrite, raw=raw,
                              ilastik_compat=args.ilastik_compat)
    seconds = time.perf_counter() - t0
    _say(args, f"{','.join(formats)}: {len(written)} output(s) in {seconds:.1f} s -> {args.out}")
    return 0


# --------------------------------------------------------------------------- demo


DEMO_FEATURES = {
    "GaussianSmoothing": [0.7, 1.6, 3.5],
    "LaplacianOfGaussian": [1.6, 3.5],
    "GaussianGradientMagnitude": [1.0, 3.5],
    "HessianOfGaussianEigenvalues": [1.6, 3.5],
}


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole pipeline on the embedded synthetic time-lapse, scored against its ground truth.

    synthetic time-lapse -> pixel classifier trained on its scribbles -> probabilities ->
    threshold + size filter -> object table -> conservation tracking -> CTC result, CSV tables,
    overlay and lineage pictures -> py-ctcmetrics against the ground truth.
    """
    import numpy as np  # noqa: PLC0415

    from . import pixel  # noqa: PLC0415
    from .datasets import synthetic_timelapse, write_synthetic_ctc  # noqa: PLC0415
    from .export import object_table_csv, tracking_csv, write_ctc  # noqa: PLC0415
    from .export.render import lineage_plot, track_overlay  # noqa: PLC0415
    from .io.atomic import atomic_output, check_writable  # noqa: PLC0415
    from .io.ctc import lineage_summary, read_tracks  # noqa: PLC0415
    from .io.images import write_image  # noqa: PLC0415
    from .objects import features as object_features  # noqa: PLC0415
    from .segment import threshold  # noqa: PLC0415
    from .tracking import TrackingParameters  # noqa: PLC0415
    from .tracking.evaluate import ctc_scores  # noqa: PLC0415
    from .tracking.pipeline import track_labels  # noqa: PLC0415
    from .tracking.result import save_result  # noqa: PLC0415

    out = check_writable(args.out, args.overwrite)
    device = backend.resolve_device(args.device)
    times: dict[str, float] = {}

    def timed(name: str, fn, *a, **kw):
        t0 = time.perf_counter()
        value = fn(*a, **kw)
        backend.synchronize(device)
        times[name] = time.perf_counter() - t0
        return value

    with atomic_output(out, overwrite=args.overwrite, directory=True) as tmp:
        data = timed("synthesise", synthetic_timelapse, n_frames=args.frames, seed=args.seed)
        write_synthetic_ctc(tmp / "data", data)
        scribbled = [t for t in range(data.raw.shape[0]) if data.scribbles[t].any()]
        clf = timed(
            "pixel train",
            pixel.train,
            [data.raw[t] for t in scribbled],
            [data.scribbles[t] for t in scribbled],
            DEMO_FEATURES,
            axes="yx",
            label_names=["background", "nucleus", "contact"][: int(data.scribbles.max())],
            n_trees=args.trees,
            random_state=args.seed,
            device=device,
        )
        prob = timed("pixel predict", pixel.predict, clf, data.raw, axes="tyx", device=device)
        write_image(tmp / "probabilities.h5", backend.to_host(prob), axes="tyxc")
        labels = timed(
            "segment",
            threshold,
            prob,
            threshold=0.5,
            sigma=1.0,
            channel=1,
            min_size=args.min_size,
            axes="tyxc",
            device=device,
        )
        labels = backend.to_host(labels)
        table = timed("objects", object_features, data.raw, labels, axes="tyx", device=device)
        object_table_csv(tmp / "objects.csv", table)
        params = TrackingParameters(
            appearance_cost=args.appearance_cost, disappearance_cost=args.appearance_cost
        )
        result = timed("track", track_labels, labels, data.raw, params=params)
        t0 = time.perf_counter()
        res_dir = tmp / "data" / "01_RES"
        write_ctc(result, res_dir)
        tracking_csv(tmp / "tracking.csv", result)
        save_result(tmp / "tracking_result.h5", result)
        lineage = result.lineage
        positions = result.detections[["t", "y", "x"]].assign(track_id=lineage["track_id"].to_numpy())
        tracks = read_tracks(res_dir / "res_track.txt")
        write_image(tmp / "overlay.png", track_overlay(data.raw, positions, parents=tracks), axes="yxc")
        write_image(tmp / "lineage.png", lineage_plot(tracks), axes="yxc")
        times["export"] = time.perf_counter() - t0
        scores = timed("evaluate", ctc_scores, res_dir, tmp / "data" / "01_GT")

        gt_summary = lineage_summary(data.tracks)
        fg, gt = labels > 0, data.labels > 0
        report = {
            "device": device,
            "frames": int(data.raw.shape[0]),
            "shape": list(data.raw.shape[1:]),
            "foreground_iou": float((fg & gt).sum() / max((fg | gt).sum(), 1)),
            "objects": int(len(table)),
            "gt_objects": int(sum(len(np.unique(f)) - 1 for f in data.labels)),
            "tracks": int(len(tracks)),
            "gt_tracks": int(gt_summary["n_tracks"]),
            "divisions_true": int(gt_summary["n_divisions"]),
            "divisions_found": int(lineage_summary(tracks)["n_divisions"]),
            "divisions_correct": int(scores.get("tp_div(0)", -1)),
            "scores": {k: scores[k] for k in ("Valid", "DET", "TRA", "LNK", "BC(0)") if k in scores},
            "seconds": {k: round(v, 3) for k, v in times.items()},
        }
        (tmp / "summary.json").write_text(json.dumps(report, indent=2))
    if not args.quiet:
        _print_demo(report, out)
    return 0


def _print_demo(report: dict, out: Path) -> None:
    s = report["scores"]
    print(f"gputrack demo on {report['device']}: {report['frames']} frames of {tuple(report['shape'])}")
    print("  synthetic time-lapse -> pixel classifier (scribbles) -> threshold -> objects -> tracking")
    rows = [
        ("foreground IoU vs GT", f"{report['foreground_iou']:.3f}"),
        ("objects (GT)", f"{report['objects']} ({report['gt_objects']})"),
        ("tracks (GT)", f"{report['tracks']} ({report['gt_tracks']})"),
        (
            "divisions true / found / correct",
            f"{report['divisions_true']} / {report['divisions_found']} / {report['divisions_correct']}",
        ),
    ]
    rows += [(name, f"{value:.4f}") for name, value in s.items()]
    rows += [(f"time: {k}", f"{v:.2f} s") for k, v in report["seconds"].items()]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(
        f"  outputs in {out}/ (data/01_RES CTC result, tracking.csv, objects.csv, overlay.png, lineage.png)"
    )


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gputrack`` command."""
    from .export.formats import FORMATS  # noqa: PLC0415 (a light module: the table only)

    format_names = ", ".join(FORMATS)
    parser = argparse.ArgumentParser(
        prog="gputrack",
        description="ilastik-style pixel classification, objects and tracking on GPUs and CPUs",
    )
    parser.add_argument("--version", action="version", version=f"gputrack {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("info", help="versions, devices, free memory, backend of each stage")
    _common(p, overwrite=False)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("synth", help="write a synthetic time-lapse with ground truth (CTC layout)")
    _common(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--shape", type=int, nargs="+", default=[256, 256], help="y x, or z y x")
    p.add_argument("--cells", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("ilp-info", help="print what an ilastik .ilp project holds")
    p.add_argument("project", help="PROJECT.ilp")
    p.add_argument("--raw-data", nargs="+", help="raw data per lane, replacing the project's paths")
    p.set_defaults(func=cmd_ilp_info)

    p = sub.add_parser("pixel", help="pixel classification: train, predict (ilastik projects too)")
    pixel_sub = p.add_subparsers(dest="pixel_command", metavar="ACTION", required=True)
    q = pixel_sub.add_parser("train", help="train a forest on images + sparse labels -> project file")
    _common(q)
    q.add_argument("--images", nargs="+", required=True, help="training images")
    q.add_argument("--labels", nargs="+", required=True, help="label images (0 = unlabelled), one per image")
    q.add_argument("--out", required=True, help="project file (HDF5) to write")
    q.add_argument("--features", nargs="+", help="'all' (default) or FEATURE=s1,s2 ...")
    q.add_argument("--axes", help="axes of the images (guessed when absent)")
    q.add_argument("--label-names", nargs="+", help="names of the classes 1, 2, ...")
    q.add_argument("--trees", type=int, default=100)
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=cmd_pixel_train)
    q = pixel_sub.add_parser("predict", help="classify images with a project file or an ilastik .ilp")
    _common(q)
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
    )
    q.add_argument(
        "--format", choices=("h5", "tif", "png", "zarr"), default="h5", help="output format (folders)"
    )
    q.add_argument("--glasbey", action="store_true", help="PNG segmentation with a Glasbey palette")
    q.add_argument("--scale", type=float, default=1.0, help="resize factor before classification (e.g. 0.2)")
    q.add_argument("--output-scale", choices=("input", "classified"), default="input")
    q.add_argument(
        "--block-size", type=int, nargs="+", help="block shape (y x or z y x); default from memory"
    )
    q.add_argument("--axes", help="axes of the images (guessed when absent)")
    q.set_defaults(func=cmd_pixel_predict)

    p = sub.add_parser("segment", help="threshold + size filter: probabilities or a mask -> labels")
    _common(p)
    p.add_argument("input", help="probabilities / mask: an image file or a folder of frames")
    p.add_argument(
        "--out", required=True, help="label image file (.h5, .tif, .zarr) or a folder of mask frames"
    )
    p.add_argument("--dataset", help="dataset inside an HDF5/Zarr input")
    p.add_argument("--axes", help="axes of the input, e.g. tyxc (guessed when absent)")
    p.add_argument("--method", choices=("simple", "hysteresis"), default="simple")
    p.add_argument("--threshold", type=float, default=0.5, help="(low) threshold, inclusive")
    p.add_argument("--high-threshold", type=float, default=0.8, help="core threshold for hysteresis")
    p.add_argument(
        "--sigma", type=float, nargs="+", default=[1.0], help="smoothing sigma, one or per axis (z y x)"
    )
    p.add_argument("--channel", type=int, default=0)
    p.add_argument("--core-channel", type=int)
    p.add_argument("--min-size", type=int, default=10)
    p.add_argument("--max-size", type=int, default=1_000_000)
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("objects", help="object feature tables and object classification")
    objects_sub = p.add_subparsers(dest="objects_command", metavar="ACTION", required=True)

    def object_inputs(q: argparse.ArgumentParser) -> None:
        _common(q)
        q.add_argument("--labels", required=True, help="label image or folder of label frames (CTC)")
        q.add_argument("--raw", help="intensities: image or folder of frames")
        q.add_argument("--raw-axes", help="axes of the raw data (guessed when absent)")
        q.add_argument("--label-axes", help="axes of the labels (guessed when absent)")
        q.add_argument("--scales", type=float, nargs="+", help="physical pixel size (z y x) or (y x)")

    q = objects_sub.add_parser("features", help="object feature table (CSV, ilastik column names)")
    object_inputs(q)
    q.add_argument("--out", required=True, help="TABLE.csv")
    q.add_argument("--features", nargs="+", help="feature names (default: all)")
    q.add_argument("--raw-names", action="store_true", help="our column names instead of ilastik's")
    q.set_defaults(func=cmd_objects_features)
    q = objects_sub.add_parser("train", help="train an object classifier from annotated objects")
    object_inputs(q)
    q.add_argument("--annotations", required=True, help="CSV with columns t, label, class")
    q.add_argument("--out", required=True, help="classifier file (HDF5)")
    q.add_argument("--features", nargs="+", default=["count"], help="'count', 'division' or feature names")
    q.add_argument("--trees", type=int, default=100)
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=cmd_objects_train)
    q = objects_sub.add_parser("predict", help="classify objects with a trained classifier")
    object_inputs(q)
    q.add_argument("--classifier", required=True, help="file from 'gputrack objects train'")
    q.add_argument("--out", required=True, help="predictions table (CSV)")
    q.add_argument("--image", help="also paint the classes into the objects (PNG/TIFF/HDF5)")
    q.add_argument("--glasbey", action="store_true", help="PNG with a Glasbey palette")
    q.set_defaults(func=cmd_objects_predict)

    p = sub.add_parser("track", help="conservation tracking of label frames (or probabilities + threshold)")
    _common(p)
    p.add_argument("--labels", help="label frames: a CTC mask folder or a t[z]yx image file")
    p.add_argument("--raw", help="raw frames (checked against the labels)")
    p.add_argument("--probabilities", help="instead of --labels: probabilities segmented with --threshold")
    p.add_argument("--out", required=True, help="result folder")
    p.add_argument(
        "--export", default="ctc", help=f"comma-separated formats: {format_names} (default ctc)"
    )
    p.add_argument("--gt", help="CTC ground-truth folder (NN_GT): print py-ctcmetrics scores")
    p.add_argument("--solver", choices=("flow", "ilp"), default="flow")
    p.add_argument("--no-divisions", action="store_true", help="animal tracking: no divisions")
    p.add_argument("--frames-per-split", type=int, help="solve windows of this many frames in parallel")
    p.add_argument("--jobs", type=int, default=1, help="processes for --frames-per-split")
    p.add_argument("--timeout", type=float, help="solver time limit in seconds (result + gap)")
    p.add_argument(
        "--scales", type=float, nargs="+", help="pixel size (z y x) or (y x): distances are physical"
    )
    p.add_argument("--max-objects", type=int, default=1, help="objects per merger (1 = no mergers)")
    p.add_argument("--detection-weight", type=float, default=10.0)
    p.add_argument("--division-weight", type=float, default=10.0)
    p.add_argument("--transition-weight", type=float, default=10.0)
    p.add_argument("--appearance-cost", type=float, default=500.0)
    p.add_argument("--disappearance-cost", type=float, default=500.0)
    p.add_argument("--border-width", type=float, default=10.0)
    p.add_argument("--k-neighbors", type=int, default=3)
    p.add_argument("--max-distance", type=float, default=200.0)
    p.add_argument("--division-threshold", type=float, default=0.1)
    p.add_argument("--transition-alpha", type=float, default=5.0)
    p.add_argument("--ilastik-compat", action="store_true", help="ilastik's quirks (unscaled distances, ...)")
    p.add_argument("--label-axes", help="axes of the label file (guessed when absent)")
    p.add_argument("--raw-axes", help="axes of the raw file (guessed when absent)")
    p.add_argument("--probability-axes", help="axes of the probabilities file (guessed when absent)")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--sigma", type=float, default=1.0)
    p.add_argument("--channel", type=int, default=1, help="probability channel of the objects")
    p.add_argument("--min-size", type=int, default=10)
    p.add_argument("--max-size", type=int, default=1_000_000)
    p.set_defaults(func=cmd_track)

    p = sub.add_parser("export", help="export a saved tracking result in any format")
    _common(p)
    p.add_argument("result", help="tracking_result.h5 written by 'gputrack track'")
    p.add_argument("--format", required=True, help=f"one or more, comma-separated: {format_names}")
    p.add_argument("--out", required=True,
                   help="output path of the format (folder, file or base name); a folder for several formats")
    p.add_argument("--raw", help="raw frames, for formats that carry image data (mamut: BigDataViewer)")
    p.add_argument("--raw-axes", help="axes of the raw file (guessed when absent)")
    p.add_argument("--bdv-xml", help="mamut: use this BigDataViewer XML instead of writing one")
    p.add_argument("--ilastik-compat", action="store_true", help="ilastik's numbering and quirks")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help="run the pipeline on the embedded synthetic data")
    _common(p)
    p.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trees", type=int, default=50, help="trees of the pixel classifier")
    p.add_argument("--min-size", type=int, default=20, help="smallest object in pixels")
    p.add_argument("--appearance-cost", type=float, default=100.0, help="appearance = disappearance cost")
    p.set_defaults(func=cmd_demo)
    return parser


def _configure_logging(verbose: bool) -> None:
    """gputrack's messages on stderr; readers' warnings (tifffile, ...) only with ``-v``."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("gputrack: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    for name in ("tifffile", "h5py", "zarr", "numcodecs"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gputrack`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except GputrackError as err:
        print(f"gputrack: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gputrack: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
