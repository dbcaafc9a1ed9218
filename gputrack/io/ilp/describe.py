"""A short human-readable summary of an ilastik project (what ``gputrack ilp-info`` prints).

Examples
--------
>>> from gputrack.io.ilp import read_ilp, describe_ilp
>>> print(describe_ilp(read_ilp("PixelClass.ilp")))          # doctest: +SKIP
PixelClass.ilp: Pixel Classification (ilastik 1.4.1b15)
...
"""

from __future__ import annotations

from .features import FEATURE_IDS, FeatureSelection
from .labels import label_counts
from .project import IlpProject

# the ilastik workflows gputrack has an equivalent of (name fragments of workflowName)
_WORKFLOWS = ("Pixel Classification", "Autocontext", "Object Classification", "Tracking")


def _fmt(value: float) -> str:
    return f"{value:g}"


def _describe_features(fs: FeatureSelection) -> list[str]:
    width = max(len(i) for i in fs.feature_ids)
    header = " " * (width + 4) + " ".join(f"{_fmt(s):>5}" for s in fs.scales)
    lines = [header]
    for i, fid in enumerate(fs.feature_ids):
        marks = " ".join(f"{'x' if fs.matrix[i, j] else '.':>5}" for j in range(len(fs.scales)))
        lines.append(f"    {fid:<{width}}{marks}")
    flags = " ".join(f"{'2D' if v else '3D':>5}" for v in fs.compute_in_2d)
    note = "" if fs.compute_in_2d_stored else "  (not stored: 3D where z > 1)"
    lines.append(f"    {'compute in':<{width}}{flags}{note}")
    return lines


def _frame_summary(frames: dict[int, dict[int, dict[int, list[int]]]]) -> str:
    parts = []
    for lane, per_t in sorted(frames.items()):
        n_obj = sum(len(o) for o in per_t.values())
        tracks = {tr for o in per_t.values() for ids in o.values() for tr in ids if tr >= 0}
        parts.append(f"lane {lane}: {n_obj} objects in {len(per_t)} frames, {len(tracks)} tracks")
    return "; ".join(parts) if parts else "none"


def describe_ilp(project: IlpProject) -> str:
    """A short human-readable summary of a project (what ``gputrack ilp-info`` prints).

    Lists the workflow, each lane's inputs (path, whether found, axes, shape), the
    feature table, classes with labelled-pixel counts, the classifier, threshold
    settings, tracking parameters and annotation counts, then what gputrack cannot use
    (:func:`cannot_use`).

    Examples
    --------
    >>> print(describe_ilp(read_ilp("PixelClass.ilp")))          # doctest: +SKIP
    PixelClass.ilp: Pixel Classification (ilastik 1.4.1b15)
    ...
    """
    out = [f"{project.path.name}: {project.workflow or '?'} (ilastik {project.ilastik_version or '?'})"]
    out.append(f"lanes: {len(project.lanes)}")
    for lane in project.lanes:
        for role, entry in lane.inputs.items():
            if entry.location == "ProjectInternal" and not entry.overridden:
                where = f"<project>/{entry.dataset or entry.file_path}"
            else:
                where = str(entry.path) + (f"/{entry.dataset}" if entry.dataset else "")
            status = "found" if entry.exists else "MISSING"
            if entry.relocated:
                status += ", found next to the project"
            if entry.overridden:
                status += ", from --raw-data"
            shape = "x".join(map(str, entry.shape)) if entry.shape else "?"
            axes = entry.axes or "?"
            out.append(f"  lane {lane.index} {role}: {where} [{status}] axes {axes} shape {shape}")
    for k, stage in enumerate(project.pixel_stages):
        tag = f" (stage {k + 1})" if len(project.pixel_stages) > 1 else ""
        if stage.features is not None:
            n_sel = int(stage.features.matrix.sum())
            out.append(f"features{tag}: {n_sel} selected")
            out.extend(_describe_features(stage.features))
        if stage.label_names or stage.label_blocks:
            counts = label_counts(project, stage=k)
            out.append(f"classes{tag}:")
            n = max(len(stage.label_names), max(counts, default=0))
            for cid in range(1, n + 1):
                name = stage.label_names[cid - 1] if cid <= len(stage.label_names) else "?"
                color = tuple(stage.label_colors[cid - 1].tolist()) if cid <= len(stage.label_colors) else ""
                out.append(f"    {cid} {name!r} {color} {counts.get(cid, 0)} labelled pixels")
        if stage.has_forest:
            kind = stage.classifier_type or "older storage without pickled_type"
            out.append(
                f"classifier{tag}: {stage.n_forests} forests, {stage.n_trees} trees, "
                f"{len(stage.feature_names)} feature channels, known labels {stage.known_labels} [{kind}]"
            )
        elif stage.label_names:
            out.append(f"classifier{tag}: none stored (train before predicting)")
    th = project.threshold
    if th is not None:
        sig = ", ".join(f"{k}={_fmt(v)}" for k, v in th.sigmas.items())
        levels = (
            f"threshold {_fmt(th.low_threshold)}"
            if th.method in ("simple", "graphcut")
            else f"low {_fmt(th.low_threshold)} high {_fmt(th.high_threshold)} "
            f"(core channel {th.core_channel})"
        )
        if th.method == "graphcut":
            levels += f", beta {_fmt(0.2 if th.beta is None else th.beta)}"
        out.append(
            f"threshold: {th.method}, channel {th.channel}, {levels}, sigmas {sig}, "
            f"size {th.min_size}..{th.max_size}"
        )
    tr = project.tracking
    if tr is not None:
        scales = ", ".join(f"{k}={_fmt(v)}" for k, v in tr.scales.items())
        out.append(
            f"tracking ({tr.applet}): solver {tr.solver}, maxObj {tr.max_obj}, divisions "
            f"{'on' if tr.with_divisions else 'off'} (threshold {_fmt(tr.division_threshold)}), "
            f"mergers {'on' if tr.with_merger_resolution else 'off'}"
        )
        out.append(
            f"    weights: transition {_fmt(tr.transition_weight)}, detection {_fmt(tr.detection_weight)}, "
            f"division {_fmt(tr.division_weight)}, appearance {_fmt(tr.appearance_cost)}, "
            f"disappearance {_fmt(tr.disappearance_cost)}"
        )
        out.append(
            f"    maxDist {_fmt(tr.max_dist)}, neighbours {tr.max_nearest_neighbors}, border width "
            f"{_fmt(tr.border_aware_width)}, frames per split {tr.frames_per_split}, timeout "
            f"{_fmt(tr.timeout) if tr.timeout is not None else 'none'}, scales {scales}, "
            f"size range {tr.size_range}, time range {tr.time_range}"
        )
        if tr.learned_weights:
            learned = ", ".join(f"{k} {_fmt(v)}" for k, v in tr.learned_weights.items())
            out.append(f"    learned weights: {learned}")
        if tr.defaulted:
            out.append(f"    not stored (GUI defaults used): {', '.join(tr.defaulted)}")
    for name, info in project.object_classifiers.items():
        counts = info.label_counts()
        classes = ", ".join(
            f"{cid} {nm!r} ({counts.get(cid, 0)} objects)" for cid, nm in enumerate(info.label_names, start=1)
        )
        out.append(f"{name}: {classes or 'no classes'}; classifier {'stored' if info.has_forest else 'none'}")
    ann = project.annotations
    if ann is not None:
        n_div = sum(len(d) for d in ann.divisions.values())
        out.append(f"annotations ({ann.source}): {_frame_summary(ann.labels)}; {n_div} divisions")
    unusable = cannot_use(project)
    if unusable:
        out.append("cannot use:")
        out.extend(f"    {line}" for line in unusable)
    return "\n".join(out)


def cannot_use(project: IlpProject) -> list[str]:
    """What gputrack cannot use in a project, one line each (empty when it can use everything).

    Sections that could not be read, label blocks that cannot be placed, missing input
    files, stored classifiers that are missing or not vigra random forests, feature ids
    gputrack does not know, and workflows gputrack has no equivalent of.

    Examples
    --------
    >>> cannot_use(read_ilp("PixelClass.ilp"))                   # doctest: +SKIP
    []
    """
    out = list(project.problems)
    if project.workflow and not any(w in project.workflow for w in _WORKFLOWS):
        out.append(f"workflow {project.workflow!r}: gputrack has no equivalent (only what is listed above)")
    for lane in project.lanes:
        for k, (role, entry) in enumerate(lane.inputs.items()):
            if not entry.exists and entry.file_path:
                hint = ": pass the images or --raw-data PATH (raw_data= in the API)" if k == 0 else ""
                out.append(f"lane {lane.index} {role!r}: {entry.file_path} not found{hint}")
    for k, stage in enumerate(project.pixel_stages):
        tag = f"stage {k + 1}: " if len(project.pixel_stages) > 1 else ""
        for line in stage.label_problems:
            out.append(f"{tag}label block {line} (retraining needs them; the stored forest does not)")
        if stage.features is not None:
            unknown = [fid for fid in stage.features.feature_ids if fid not in FEATURE_IDS]
            if unknown:
                out.append(f"{tag}features {unknown}: not ilastik pixel features gputrack computes")
        if stage.has_forest and not stage.forest_usable:
            out.append(f"{tag}{stage.group}/ClassifierForests: a {stage.classifier_type}, not vigra random "
                       "forests; retrain (--retrain) to predict")
        elif not stage.has_forest and stage.features is not None and stage.group != "FeatureSelections":
            out.append(f"{tag}{stage.group}: no trained classifier stored; retrain (--retrain) to predict")
    return out
