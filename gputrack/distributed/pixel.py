"""Pixel classification as Dask tasks: the blocks of one huge image, or of many files.

Every block of the output grid is one task. A task reads its block plus the halo the
features need (as :func:`gputrack.pixel.predict_blocks` does in one process), classifies
it on its worker's device and writes it into a chunked Zarr array whose chunks tile the
block grid, so no two tasks touch the same chunk and no locks are needed. Each finished
block is recorded in a second Zarr array (one chunk per block); a rerun with the same
input, classifier and settings skips the recorded blocks (resume after a crash, a killed
worker or a cancelled job). Values are bit for bit those of a single-process
:func:`gputrack.pixel.classify_file` with the same block size.

The unfinished output lives beside the target as ``.{name}.partial.zarr`` (and
``.{name}.partial.done.zarr``); when every block is done it is renamed onto a ``.zarr``
output or converted to ``.h5``, ``.tif``, ``.png`` or ``.ome.zarr`` (with a multiscale
pyramid, :mod:`gputrack.io.omezarr`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend
from ..errors import InputError
from ..io import atomic_output, check_writable, make_axistags, open_image, write_image
from ..io.lut import segmentation_palette
from ..pixel.classifier import PixelClassifier, block_grid, output_dtype, predict_blocks
from ..pixel.export import (
    DATASET,
    FORMATS,
    PNG_ONLY,
    _plan,
    classifier_digest,
    input_stem,
    list_images,
    output_name,
)
from .cluster import connect, wait_all

log = logging.getLogger("gputrack")

ZARR_CHUNK = 512


@dataclass
class BlockPlan:
    """One output of a distributed classification: its grid, partial store and what is left."""

    out: Path
    fmt: str
    source: tuple[str, str | None, str] | None
    array: Any
    axes: str
    export: str
    block: tuple[int, ...]
    grid: list[tuple[slice, ...]]
    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: tuple[int, ...]
    part: Path
    done_path: Path
    todo: list[int]
    palette: np.ndarray | None = None
    ngff: str | None = None
    scales: dict[str, float] | None = None


def _chunks(block: Sequence[int], base: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
    # single-process outputs use chunks of min(block, 512); keep them where they tile the blocks
    spatial = tuple(min(ZARR_CHUNK, b, n) if b % min(ZARR_CHUNK, b, n) == 0 or b >= n else min(b, n)
                    for b, n in zip(block, base))
    return spatial + tuple(shape[len(base):])


def _ome_target(out: Path) -> bool:
    return out.name.lower().endswith(".ome.zarr")


def _open_store(plan: BlockPlan, fingerprint: str) -> list[int]:
    import zarr  # noqa: PLC0415

    n = len(plan.grid)
    if plan.part.exists() and plan.done_path.exists():
        try:
            done = zarr.open_array(str(plan.done_path), mode="r")
            data = zarr.open_array(str(plan.part), mode="r")
            if (done.attrs.get("fingerprint") == fingerprint and done.shape == (n,)
                    and tuple(data.shape) == plan.shape):
                finished = np.asarray(done[:]).astype(bool)
                log.info("%s: resuming, %d of %d blocks done", plan.part, int(finished.sum()), n)
                return [i for i in range(n) if not finished[i]]
        except (OSError, ValueError, KeyError) as err:  # damaged: start over
            log.info("%s: unreadable partial output (%s), starting over", plan.part, err)
    for p in (plan.part, plan.done_path):
        if p.exists():
            shutil.rmtree(p)
    arr = zarr.open_array(str(plan.part), mode="w", shape=plan.shape, chunks=plan.chunks, dtype=plan.dtype,
                          zarr_format=2)
    arr.attrs["_ARRAY_DIMENSIONS"] = list(_out_axes(plan.axes, plan.export))
    done = zarr.open_array(str(plan.done_path), mode="w", shape=(n,), chunks=(1,), dtype=np.uint8,
                           fill_value=0, zarr_format=2)
    done.attrs["fingerprint"] = fingerprint
    return list(range(n))


def _out_axes(axes: str, export: str) -> str:
    spatial = axes.replace("c", "")
    return spatial + "c" if export == "probabilities" else spatial


def plan_file(
    classifier: PixelClassifier,
    image: Any,
    out: str | os.PathLike,
    *,
    export: str = "probabilities",
    axes: str | None = None,
    block_size: int | Sequence[int] | None = None,
    glasbey: bool = False,
    lut: Any = None,
    overwrite: bool = False,
    ngff_version: str = "0.4",
) -> BlockPlan:
    """Check an output, open (or resume) its partial store and list the blocks still to do."""
    out = Path(out)
    ome = _ome_target(out)
    fmt = "ome.zarr" if ome else out.suffix.lower().lstrip(".")
    if not ome and fmt not in FORMATS:
        raise InputError(
            f"{out}: unsupported output type {out.suffix!r}; expected .h5, .zarr, .ome.zarr, .tif or .png"
        )
    if fmt == "png" and export != "simple-segmentation":
        raise InputError(f"{out}: {PNG_ONLY}{export}")
    if (glasbey or lut is not None) and fmt != "png":
        raise InputError(f"{out}: a Glasbey palette or a LUT needs a .png output")
    palette = segmentation_palette(glasbey, lut)
    check_writable(out, overwrite)
    array = None
    if isinstance(image, (str, os.PathLike)):
        image = open_image(image, axes=axes)
    src, axes, _, base, block, shape = _plan(classifier, image, axes, export, 1.0, "input", block_size)
    if hasattr(src, "path") and hasattr(src, "dataset"):
        source = (str(src.path), src.dataset, axes)
        spacing = _source_scales(src)
    else:
        source, array, spacing = None, np.asarray(src), None
    dtype = output_dtype(classifier, export)
    grid = block_grid(base, block)
    fingerprint = json.dumps({
        "input": source[0] if source else "array", "input_shape": list(src.shape), "axes": axes,
        "export": export, "block": list(block), "classifier": classifier_digest(classifier),
    }, sort_keys=True)
    part = out.with_name(f".{out.name}.partial.zarr")
    plan = BlockPlan(out, fmt, source, array, axes, export, tuple(block), grid, tuple(shape), dtype,
                     _chunks(block, base, shape), part, out.with_name(f".{out.name}.partial.done.zarr"), [],
                     palette, ngff_version if ome else None, spacing)
    part.parent.mkdir(parents=True, exist_ok=True)
    plan.todo = _open_store(plan, fingerprint)
    return plan


def _source_scales(src: Any) -> dict[str, float] | None:
    if getattr(src, "format", None) != "zarr":
        return None
    from ..io.omezarr import pixel_sizes  # noqa: PLC0415

    try:
        return pixel_sizes(src.path)
    except InputError:
        return None


def _classify_block(classifier, source, array, axes, export, block, region, index, part, done_path, device):
    """Task: classify one block of the grid and record it."""
    import zarr  # noqa: PLC0415

    if source is not None:
        path, dataset, src_axes = source
        image = open_image(path, dataset=dataset, axes=src_axes)
    else:
        image = array
    target = tuple((r.start, r.stop) for r in region)
    out = zarr.open_array(part, mode="r+")
    try:
        for reg, values in predict_blocks(
            classifier, image, axes=axes, export=export, block_shape=block, device=device,
            skip=lambda r: tuple((s.start, s.stop) for s in r) != target,
        ):
            out[reg] = backend.to_host(values)
    finally:
        if source is not None:
            image.close()
    zarr.open_array(done_path, mode="r+")[index] = 1
    return index


def submit_plan(client: Any, plan: BlockPlan, classifier: Any, *, device: str | None = "auto",
                retries: int = 2) -> list[Any]:
    """Submit the blocks still to do of ``plan`` (``classifier`` may be a scattered future)."""
    array = plan.array
    if array is not None:
        array = client.scatter(array, broadcast=True)
    futures = []
    for i in plan.todo:
        futures.append(client.submit(
            _classify_block, classifier, plan.source, array, plan.axes, plan.export, plan.block, plan.grid[i],
            i, str(plan.part), str(plan.done_path), device,
            key=f"gputrack-pixel-{plan.out.name}-{i}-{os.getpid()}", retries=retries, pure=False,
        ))
    return futures


def _copy_rows(src: Any, put: Any) -> None:
    step = max(1, (src.chunks[0] if src.chunks else 1)) * max(1, 4096 // max(src.chunks[0], 1))
    for lo in range(0, src.shape[0], step):
        put(slice(lo, lo + step), src[lo : lo + step])


def finish_plan(plan: BlockPlan, *, overwrite: bool = False, pyramid_levels: int | None = None) -> Path:
    """Turn a complete partial store into the output (rename or convert), then remove it."""
    import zarr  # noqa: PLC0415

    done = zarr.open_array(str(plan.done_path), mode="r")
    missing = int(len(plan.grid) - np.count_nonzero(done[:]))
    if missing:
        raise InputError(f"{plan.out}: {missing} block(s) not finished; rerun to resume")
    out, out_axes = plan.out, _out_axes(plan.axes, plan.export)
    check_writable(out, overwrite)
    if plan.fmt == "zarr":
        with atomic_output(out, overwrite=overwrite, directory=True) as tmp:
            if tmp.exists():
                shutil.rmtree(tmp)
            os.replace(plan.part, tmp)
    elif plan.fmt == "ome.zarr":
        import dask.array as da  # noqa: PLC0415

        from ..io.omezarr import write_ome_zarr  # noqa: PLC0415

        data = da.from_zarr(str(plan.part))
        labels = plan.export == "simple-segmentation"
        write_ome_zarr(out, data, axes=out_axes, scales=plan.scales, version=plan.ngff, overwrite=overwrite,
                       levels=pyramid_levels, labels=labels, chunks=plan.chunks)
    else:
        src = zarr.open_array(str(plan.part), mode="r")
        if plan.fmt in ("h5", "hdf5"):
            import h5py  # noqa: PLC0415

            with atomic_output(out, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as fh:
                ds = fh.create_dataset(DATASET, shape=src.shape, dtype=src.dtype, chunks=plan.chunks)
                _copy_rows(src, lambda sl, v: ds.__setitem__(sl, v))
                ds.attrs["axistags"] = make_axistags(out_axes)
        else:
            write_image(out, src[...], axes=out_axes, overwrite=overwrite, palette=plan.palette)
    for p in (plan.part, plan.done_path):
        if p.exists():
            shutil.rmtree(p)
    return out


def classify_file(
    classifier: PixelClassifier,
    image: Any,
    out: str | os.PathLike,
    *,
    scheduler: str | None = None,
    client: Any = None,
    export: str = "probabilities",
    axes: str | None = None,
    block_size: int | Sequence[int] | None = None,
    glasbey: bool = False,
    lut: Any = None,
    device: str | None = "auto",
    overwrite: bool = False,
    quiet: bool = False,
    ngff_version: str = "0.4",
) -> Path:
    """Classify one (huge) image disk to disk, its blocks as Dask tasks; resumable.

    Parameters
    ----------
    classifier
        A trained :class:`~gputrack.pixel.PixelClassifier`.
    image
        Path (any format of :func:`gputrack.io.open_image`; each worker reads its blocks),
        :class:`~gputrack.io.ImageSource` or array (scattered to the workers).
    out
        ``.zarr``, ``.ome.zarr``, ``.h5``, ``.tif`` or ``.png`` (simple segmentation).
    scheduler, client
        Where to run (:func:`gputrack.distributed.connect`).
    export, axes, block_size, glasbey, lut, device, overwrite
        As for :func:`gputrack.pixel.classify_file` (``block_size`` default 1024 / 128);
        the same block size gives the same output bit for bit.
    quiet
        No dashboard line and no progress bar.
    ngff_version
        ``"0.4"`` (Zarr v2) or ``"0.5"`` (Zarr v3) for ``.ome.zarr`` outputs.

    Returns
    -------
    Path

    Examples
    --------
    >>> classify_file(clf, "slide.tif", "slide.ome.zarr", scheduler="local:2",
    ...               export="simple-segmentation")                      # doctest: +SKIP
    """
    return classify_files(classifier, [image], [out], scheduler=scheduler, client=client, export=export,
                          axes=axes, block_size=block_size, glasbey=glasbey, lut=lut, device=device,
                          overwrite=overwrite, quiet=quiet, ngff_version=ngff_version)[0]


def classify_files(
    classifier: PixelClassifier,
    inputs: Any,
    outputs: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    scheduler: str | None = None,
    client: Any = None,
    export: str = "probabilities",
    format: str = "h5",
    axes: str | None = None,
    block_size: int | Sequence[int] | None = None,
    glasbey: bool = False,
    lut: Any = None,
    device: str | None = "auto",
    overwrite: bool = False,
    quiet: bool = False,
    ngff_version: str = "0.4",
) -> list[Path]:
    """Classify many images (a folder or a list) as one set of Dask tasks, one bar.

    ``outputs`` is a folder (outputs named ``{stem}_{Result}.{format}``, as
    :func:`gputrack.pixel.classify_files`; ``format`` may be ``ome.zarr``) or one path per
    input. Other parameters as for :func:`classify_file`.

    Examples
    --------
    >>> classify_files(clf, "images/", "out/", scheduler="local:2", format="zarr")  # doctest: +SKIP
    """
    if isinstance(outputs, (str, os.PathLike)):
        paths = list_images(inputs)
        names = [output_name(input_stem(p), export, format) for p in paths]
        if len(set(names)) != len(names):
            raise InputError("two inputs have the same file stem: their outputs would collide; rename one")
        images, outs = list(paths), [Path(outputs) / n for n in names]
    else:
        images = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        outs = [Path(o) for o in outputs]
        if len(outs) != len(images):
            raise InputError(f"{len(images)} input(s) but {len(outs)} output path(s): expected one each")
    for o in outs:
        check_writable(o, overwrite)
    plans = [plan_file(classifier, img, o, export=export, axes=axes, block_size=block_size, glasbey=glasbey,
                       lut=lut, overwrite=overwrite, ngff_version=ngff_version)
             for img, o in zip(images, outs)]
    total = sum(len(p.grid) for p in plans)
    left = sum(len(p.todo) for p in plans)
    with connect(scheduler, client=client, quiet=quiet) as c:
        clf = c.scatter(classifier, broadcast=True) if left else None
        futures = [f for p in plans for f in submit_plan(c, p, clf, device=device)]
        wait_all(c, futures, total=total, done=total - left, quiet=quiet,
                 desc=f"{len(plans)} image(s)" if len(plans) > 1 else plans[0].out.name, unit="block")
        return [finish_plan(p, overwrite=overwrite) for p in plans]
