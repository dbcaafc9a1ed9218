"""Benchmark: labelling + full object feature table, gputrack vs scipy + scikit-image.

Cases: 4096x4096 with ~20k objects and 256^3 with ~6k objects (random ellipses/ellipsoids,
one per grid cell, float32 noise as intensities). For each case the same run times

* ``gputrack`` on the CPU (and on the GPU when present): :func:`gputrack.segment.label`
  + :func:`gputrack.objects.features` with all standard features,
* the peer: ``scipy.ndimage.label`` + ``skimage.measure.regionprops_table`` for the same
  features (area, centroid, bbox, intensity mean/min/max/std, inertia tensor eigenvalues,
  sum / skewness / kurtosis as ``extra_properties``).

Writes JSON (``bench/results/objects.json`` by default, ``--out``) and prints a table.

Examples
--------
``python bench/objects.py`` ; ``python bench/objects.py --quick`` (1024^2 and 128^3).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi
import scipy.stats

from gputrack import backend, objects, segment
from gputrack.benchmarks.engines import ellipses
from gputrack.io.atomic import atomic_output


def ours(mask: np.ndarray, raw: np.ndarray, device: str) -> tuple[float, int]:
    m = backend.to_device(mask, device)
    r = backend.to_device(raw, device)
    backend.synchronize(device)
    t0 = time.perf_counter()
    lab = segment.label(m, axes="zyx" if mask.ndim == 3 else "yx", device=device)
    tab = objects.features(r, lab, axes="zyx" if mask.ndim == 3 else "yx", device=device)
    backend.synchronize(device)
    return time.perf_counter() - t0, len(tab)


def _sum(region, intensity):
    return float(np.sum(intensity[region]))


def _skew(region, intensity):
    return float(scipy.stats.skew(intensity[region]))


def _kurt(region, intensity):
    return float(scipy.stats.kurtosis(intensity[region]))


def peer(mask: np.ndarray, raw: np.ndarray) -> tuple[float, int]:
    from skimage.measure import regionprops_table

    t0 = time.perf_counter()
    lab, _n = ndi.label(mask)
    tab = regionprops_table(
        lab,
        intensity_image=raw,
        properties=(
            "label",
            "area",
            "centroid",
            "bbox",
            "intensity_mean",
            "intensity_min",
            "intensity_max",
            "intensity_std",
            "inertia_tensor_eigvals",
        ),
        extra_properties=(_sum, _skew, _kurt),
    )
    return time.perf_counter() - t0, len(tab["label"])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "objects.json"))
    ap.add_argument("--quick", action="store_true", help="1024^2 and 128^3 instead of 4096^2 and 256^3")
    ap.add_argument("--no-peer", action="store_true", help="skip scikit-image (slow)")
    args = ap.parse_args(argv)
    cases = [("2d", (4096, 4096), 29), ("3d", (256, 256, 256), 14)]
    if args.quick:
        cases = [("2d", (1024, 1024), 29), ("3d", (128, 128, 128), 14)]
    devices = ["cpu"] + (["gpu"] if backend.gpu_available() else [])
    results = []
    for name, shape, cell in cases:
        mask = ellipses(shape, cell)
        raw = np.random.default_rng(1).normal(100, 10, size=shape).astype(np.float32)
        row = {"case": name, "shape": list(shape), "pixels": int(mask.size)}
        for dev in devices:
            ours(mask[: min(64, shape[0])], raw[: min(64, shape[0])], dev)  # warm-up (jit, kernels)
            t, n = ours(mask, raw, dev)
            row[f"gputrack_{dev}_s"] = t
            row["objects"] = n
            row[f"gputrack_{dev}_mpix_per_s"] = mask.size / t / 1e6
        if not args.no_peer:
            t, n_peer = peer(mask, raw)
            row["peer"] = "scipy.ndimage.label + skimage.measure.regionprops_table"
            row["peer_s"] = t
            row["peer_objects"] = n_peer
            for dev in devices:
                row[f"speedup_{dev}"] = t / row[f"gputrack_{dev}_s"]
        results.append(row)
        print(
            f"{name:3s} {'x'.join(map(str, shape)):>14s} objects={row['objects']:6d} "
            + " ".join(f"{dev}={row[f'gputrack_{dev}_s']:.3f}s" for dev in devices)
            + (f" peer={row['peer_s']:.2f}s " if "peer_s" in row else " ")
            + " ".join(f"x{row[f'speedup_{dev}']:.1f}({dev})" for dev in devices if f"speedup_{dev}" in row)
        )
    out = {"benchmark": "objects", "machine": backend.describe(), "results": results}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=True) as tmp:
        Path(tmp).write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
