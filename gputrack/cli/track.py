"""``gputrack track``: conservation tracking of label frames (or probabilities + threshold)."""

from __future__ import annotations

import argparse

from ._common import (
    CHANNEL_HELP,
    add_common,
    add_scheduler,
    add_threshold_method,
    count,
    fraction,
    frame_range,
    nonnegative,
    positive,
    positive_count,
    say,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``track`` parser."""
    from ..export.formats import FORMATS  # noqa: PLC0415 (a light module: the table only)

    format_names = ", ".join(FORMATS)
    p = sub.add_parser("track", help="conservation tracking of label frames (or probabilities + threshold)")
    add_common(p)
    p.add_argument("--labels", help="label frames: a CTC mask folder or a t[z]yx image file")
    p.add_argument("--ilp", metavar="PROJECT",
                   help="run an ilastik tracking project headless: its objects, classifiers and parameters "
                        "(default: none)")
    p.add_argument("--weights", metavar="JSON",
                   help="learned weights ('gputrack learn') replacing the five weights (default: none)")
    p.add_argument("--raw", help="raw frames (checked against the labels)")
    p.add_argument("--probabilities",
                   help="instead of --labels: probabilities segmented with --threshold (with --ilp: replace "
                        "the project's prediction maps, segmented with its own threshold)")
    p.add_argument("--out", required=True, help="result folder")
    p.add_argument(
        "--export", default="ctc", help=f"comma-separated formats: {format_names} (default ctc)"
    )
    p.add_argument("--pictures", action="store_true",
                   help="also draw overlay_tTTTT.png of 5 frames and lineage.png into --out "
                        "(see 'gputrack render')")
    p.add_argument("--gt", help="CTC ground-truth folder (NN_GT): print py-ctcmetrics scores")
    p.add_argument("--frames", type=frame_range, metavar="START:STOP",
                   help="track frames START..STOP-1 only (CTC result numbered from 0, scored against the "
                        "same frames of --gt; default: all)")
    p.add_argument("--solver", choices=("flow", "ilp"), default="flow",
                   help="flow (fast, certified optimal where it can) or ilp (OR-Tools)")
    p.add_argument("--no-divisions", action="store_true", help="animal tracking: no divisions")
    p.add_argument("--frames-per-split", type=positive_count,
                   help="solve windows of this many frames in parallel (default: all frames at once)")
    p.add_argument("--jobs", type=positive_count, default=1, help="processes for --frames-per-split")
    add_scheduler(p)
    p.add_argument("--timeout", type=positive,
                   help="solver time limit in seconds (result + gap; default: none)")
    p.add_argument(
        "--scales", type=positive, nargs="+",
        help="pixel size (z y x) or (y x): distances are physical (default: 1 per axis)",
    )
    p.add_argument("--max-objects", type=positive_count, default=1,
                   help="objects per merger (default 1 = no mergers; a count classifier's largest class "
                        "raises it)")
    p.add_argument("--division-classifier",
                   help="classifier file of 'gputrack objects train --kind division': P(divides) per object "
                        "(default: the geometric prior of the two nearest successors)")
    p.add_argument("--count-classifier",
                   help="classifier file of 'gputrack objects train --kind count': P(0..K objects) per "
                        "object (default: every labelled object is one real object)")
    p.add_argument("--detection-weight", type=nonnegative, default=10.0,
                   help="weight of the detection energy (default 10)")
    p.add_argument("--division-weight", type=nonnegative, default=10.0,
                   help="weight of the division energy (default 10)")
    p.add_argument("--transition-weight", type=nonnegative, default=10.0,
                   help="weight of the transition (move) energy (default 10)")
    estimated = "; default: estimated from the data and printed (--ilastik-compat: ilastik's {})"
    p.add_argument("--appearance-cost", type=nonnegative,
                   help="cost of a track starting inside the image" + estimated.format(500))
    p.add_argument("--disappearance-cost", type=nonnegative,
                   help="cost of a track ending inside the image" + estimated.format(500))
    p.add_argument("--border-width", type=nonnegative,
                   help="appearing/disappearing within this distance of the border is cheaper"
                        + estimated.format(10))
    p.add_argument("--transition-alpha", type=positive,
                   help="distance scale of the transition probability exp(-d / alpha)" + estimated.format(5))
    p.add_argument("--k-neighbors", type=positive_count, default=3,
                   help="candidate successors per object (default 3)")
    p.add_argument("--max-distance", type=positive, default=200.0,
                   help="longest move between frames (default 200)")
    p.add_argument("--division-threshold", type=fraction, default=0.1,
                   help="division probability (0 to 1) below which no division is proposed (default 0.1)")
    p.add_argument("--motion", choices=("auto", "none", "drift"), default=None,
                   help="transition model: drift = neighbourhood-consistent displacements from a first "
                        "solve; auto (default; none with --ilastik-compat or --frames-per-split) uses it "
                        "when it lowers the energy")
    p.add_argument("--ilastik-compat", action="store_true",
                   help="ilastik's GUI defaults and quirks: costs 500, border 10, alpha 5 (nothing "
                        "estimated), objects may be switched off, unscaled distances")
    p.add_argument("--label-axes", help="axes of the label file (guessed when absent)")
    p.add_argument("--raw-axes", help="axes of the raw file (guessed when absent)")
    p.add_argument("--probability-axes", help="axes of the probabilities file (guessed when absent)")
    p.add_argument("--threshold", type=fraction, default=0.5, help="with --probabilities: threshold")
    add_threshold_method(p, "with --probabilities: ")
    p.add_argument("--sigma", type=nonnegative, default=1.0, help="with --probabilities: smoothing sigma")
    p.add_argument("--channel", type=count,
                   help="with --probabilities: " + CHANNEL_HELP)
    p.add_argument("--min-size", type=count, default=10,
                   help="with --probabilities: smallest object (pixels)")
    p.add_argument("--max-size", type=count, default=1_000_000,
                   help="with --probabilities: largest object (pixels)")
    p.set_defaults(func=run, inputs=("labels", "raw", "probabilities", "gt", "ilp", "weights",
                                     "division_classifier", "count_classifier"), outputs=("out",))


ESTIMATED_OPTIONS = {"appearance_cost": 500.0, "disappearance_cost": 500.0, "border_width": 10.0,
                     "transition_alpha": 5.0}
"""Options estimated from the data unless given, with ilastik's value used otherwise."""


def fixed_parameters(args: argparse.Namespace) -> list[str]:
    """The estimated parameters the user set on the command line."""
    return [name for name in ESTIMATED_OPTIONS if getattr(args, name) is not None]


def parameters(args: argparse.Namespace):
    """The :class:`gputrack.tracking.TrackingParameters` of the parsed options."""
    from ..tracking import TrackingParameters  # noqa: PLC0415

    given = {k: v if getattr(args, k) is None else getattr(args, k) for k, v in ESTIMATED_OPTIONS.items()}
    return TrackingParameters(
        with_divisions=not args.no_divisions,
        max_objects=args.max_objects,
        detection_weight=args.detection_weight,
        division_weight=args.division_weight,
        transition_weight=args.transition_weight,
        appearance_cost=given["appearance_cost"],
        disappearance_cost=given["disappearance_cost"],
        border_width=given["border_width"],
        k_neighbors=args.k_neighbors,
        max_distance=args.max_distance,
        division_threshold=args.division_threshold,
        transition_alpha=given["transition_alpha"],
        ilastik_compat=args.ilastik_compat,
    )


def run(args: argparse.Namespace) -> int:
    """Conservation tracking of a label sequence (or probabilities + threshold); exports."""
    from ..workflows.tracking import track_files  # noqa: PLC0415

    if args.ilp:
        return _run_ilp(args)
    params = parameters(args)
    if args.weights:
        from ..tracking.learning import load_weights, to_parameters  # noqa: PLC0415

        params = to_parameters(load_weights(args.weights), params)
    done = track_files(
        args.out,
        labels=args.labels,
        probabilities=args.probabilities,
        raw=args.raw,
        params=params,
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
        method=args.method,
        high_threshold=args.high_threshold,
        beta=args.beta,
        sigma=args.sigma,
        channel=args.channel,
        min_size=args.min_size,
        max_size=args.max_size,
        device=args.device,
        overwrite=args.overwrite,
        gt=args.gt,
        frames=args.frames,
        scheduler=args.scheduler,
        quiet=args.quiet,
        # learned weights include the appearance and disappearance costs: used as learned
        fixed=fixed_parameters(args) + (["appearance_cost", "disappearance_cost"] if args.weights else []),
        motion=args.motion,
        division_classifier=args.division_classifier,
        count_classifier=args.count_classifier,
        pictures=args.pictures,
    )
    result, times = done["result"], done["times"]
    est = result.estimated
    if est:
        user = fixed_parameters(args)
        shown = ", ".join(f"{k} {est[k]:g}" for k in ESTIMATED_OPTIONS if k in est and k not in user)
        say(args, f"estimated from {est.get('pairs', 0)} mutual-neighbour moves: {shown or 'nothing'}; "
                  f"motion model: {est.get('motion', 'none')}")
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


def _run_ilp(args: argparse.Namespace) -> int:
    """``track --ilp``: an ilastik tracking project headless (workflows.ilastik_tracking)."""
    from ..errors import InputError  # noqa: PLC0415
    from ..workflows.ilastik_tracking import track_ilp  # noqa: PLC0415

    if args.labels:
        raise InputError("--ilp takes the objects from the project; leave out --labels")
    weights = None
    if args.weights:
        from ..tracking.learning import load_weights  # noqa: PLC0415

        weights = load_weights(args.weights)
    done = track_ilp(args.ilp, args.out, exports=args.export, weights=weights, solver=args.solver,
                     probabilities=args.probabilities, probability_axes=args.probability_axes,
                     overwrite=args.overwrite, pictures=args.pictures)
    for note in done["notes"]:
        say(args, note)
    for path in done["project_export"]:
        say(args, f"the project's export -> {path}")
    res = done["result"]
    lin = res.lineage
    n_tracks = int(lin.loc[lin["track_id"] > 0, "track_id"].nunique())
    say(args, f"{args.ilp}: {len(lin)} detections -> {n_tracks} tracks, {int(res.solution.division.sum())} "
              f"divisions -> {done['out']}")
    diff = done["differences"]
    if diff is None:
        say(args, "the project stores no tracking result to compare with")
    elif not diff:
        say(args, "events equal to the project's stored result")
    elif not done["merger_differences"]:
        say(args, f"events equal to the project's stored result up to the labels of merger pieces "
                  f"({len(diff)} frame(s) number the pieces differently)")
    else:
        mdiff = done["merger_differences"]
        say(args, f"events differ from the project's stored result in {len(mdiff)} frame(s): "
                  + "; ".join(mdiff[:3]))
    return 0
