"""``gputrack track``: conservation tracking of label frames (or probabilities + threshold)."""

from __future__ import annotations

import argparse

from ._common import add_common, add_scheduler, say


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``track`` parser."""
    from ..export.formats import FORMATS  # noqa: PLC0415 (a light module: the table only)

    format_names = ", ".join(FORMATS)
    p = sub.add_parser("track", help="conservation tracking of label frames (or probabilities + threshold)")
    add_common(p)
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
    add_scheduler(p)
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
    p.set_defaults(func=run)


def parameters(args: argparse.Namespace):
    """The :class:`gputrack.tracking.TrackingParameters` of the parsed options."""
    from ..tracking import TrackingParameters  # noqa: PLC0415

    return TrackingParameters(
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


def run(args: argparse.Namespace) -> int:
    """Conservation tracking of a label sequence (or probabilities + threshold); exports."""
    from ..workflows.tracking import track_files  # noqa: PLC0415

    done = track_files(
        args.out,
        labels=args.labels,
        probabilities=args.probabilities,
        raw=args.raw,
        params=parameters(args),
        exports=args.export,
        solver=args.solver,
        scales=args.scales,
        frames_per_split=args.frames_per_split,
        n_jobs=args.jobs,
        timeout=args.timeout,
        label_axes=args.label_axes,
        raw_axes=args.raw_axes,
        probability_axes=args.probability_axes,
        threshold=args.threshold,
        sigma=args.sigma,
        channel=args.channel,
        min_size=args.min_size,
        max_size=args.max_size,
        device=args.device,
        overwrite=args.overwrite,
        gt=args.gt,
        scheduler=args.scheduler,
        quiet=args.quiet,
    )
    result, times = done["result"], done["times"]
    sol, lin = result.solution, result.lineage
    n_tracks = int(lin.loc[lin["track_id"] > 0, "track_id"].nunique())
    say(
        args,
        f"{len(lin)} detections in {done['n_frames']} frames -> {n_tracks} tracks, "
        f"{int(sol.division.sum())} divisions, energy {sol.energy:.1f} ({args.solver}"
        + (", optimal" if sol.optimal else "")
        + f"); read {times['read']:.2f} s, track {times['track']:.2f} s, "
        f"export {times['export']:.2f} s -> {done['out']}",
    )
    if done["scores"] is not None:
        say(args, "CTC scores: " + ", ".join(f"{k} {v:.4f}" for k, v in done["scores"].items()))
    return 0
