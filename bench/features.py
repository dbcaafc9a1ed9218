"""Benchmark: ilastik pixel features (all channels) on the CPU and GPU, with peers.

Peers timed in the same run, on the same image:

- ``scipy``: a straightforward scipy.ndimage implementation of the same channels
  (gaussian_filter, gaussian_laplace, gaussian_gradient_magnitude, DoG as two
  gaussian_filter calls, Hessian and structure tensor from gaussian_filter(order=...),
  eigenvalues with numpy.linalg.eigvalsh), one call per channel, default truncation;
- ``skimage``: ``skimage.feature.multiscale_basic_features`` at the same 7 sigmas
  (its own channel set; given for scale);
- ``fastfilters2`` (ilastik's own SIMD filter library, when installed; 2-D only):
  ``compute_filters(img, s)`` for the 7 scales (7 channels each), the scales spread over
  ``--threads`` threads, against gputrack's CPU path with as many numba threads, timed
  alternately in the same process, ``--repeat`` times, medians reported (also with 1
  thread). The 2-D image is the 2048^2 gray crop of the CMU-1 slide when the shared data
  has it (``--image random`` for the synthetic one).

Usage::

    python bench/features.py                 # 2048^2 (49 channels) and 256^3 (61 channels)
    python bench/features.py --quick         # 512^2 and 96^3
    python bench/features.py --size 1024 --size3d 128 --out bench/results/features.json
    python bench/features.py --only-fastfilters2 --repeat 5   # the fastfilters2 comparison alone

3-D volumes larger than ``--whole-max`` pixels (default 128^3) are computed by gputrack block
by block through ``iter_feature_blocks`` (blocks of ``--block-z`` planes, the whole y-x
extent; each block is consumed and dropped, as when streaming to a file), so the 256^3
case fits in memory; the scipy and skimage peers, which hold everything in memory, are then
timed on a centred crop of ``--whole-max`` pixels and compared per pixel (``*_mpx_s``,
``speedup_*`` = ratio of the per-pixel rates); the JSON records ``peer_shape`` and ``mode``.

Writes JSON (``bench/results/features.json`` by default) and prints a table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi

from gputrack import backend
from gputrack import features as gf
from gputrack.benchmarks.peers import fastfilters2_features

SCALES = gf.DEFAULT_SCALES
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GPUTRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))
SLIDE = SHARED_DATA / "large-wsi" / "CMU-1-Small-Region.svs"


def slide_crop(size: int) -> np.ndarray | None:
    """Gray (channel mean) ``size``-square crop of the CMU-1 slide, or None without the data."""
    if not SLIDE.exists():
        return None
    import tifffile  # noqa: PLC0415

    rgb = tifffile.imread(SLIDE, series=0, level=0)
    if min(rgb.shape[:2]) < size:
        return None
    return rgb[:size, :size].astype(np.float32).mean(axis=-1).astype(np.float32)


def versus_fastfilters2(img: np.ndarray, threads_list: list[int], repeat: int) -> dict:
    """gputrack (CPU, all 2-D channels) and fastfilters2 timed alternately: medians and ratio."""
    import numba  # noqa: PLC0415

    fastfilters2_features(img[:256, :256], SCALES, 1)
    gf.compute(img[:64, :64], "all", device="cpu")  # compilation / cache load outside the timing
    before = numba.get_num_threads()
    result = {}
    try:
        for threads in threads_list:
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            ours_s, peer_s = [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                data, _names = gf.compute(img, "all", device="cpu")
                ours_s.append(time.perf_counter() - t0)
                del data
                t0 = time.perf_counter()
                peer = fastfilters2_features(img, SCALES, threads)
                peer_s.append(time.perf_counter() - t0)
                del peer
            ratios = [p / o for o, p in zip(ours_s, peer_s)]
            result[str(threads)] = {
                "gputrack_s": statistics.median(ours_s), "fastfilters2_s": statistics.median(peer_s),
                "speedup_median": statistics.median(ratios), "gputrack_runs": ours_s,
                "fastfilters2_runs": peer_s,
            }
    finally:
        numba.set_num_threads(before)
    return result


def scipy_features(img: np.ndarray) -> list[np.ndarray]:
    """The 49 / 61 ilastik channels, computed the straightforward scipy way."""
    nd = img.ndim
    x = img.astype(np.float32)
    out = []
    big = [s for s in SCALES if s >= 0.7]
    out += [ndi.gaussian_filter(x, s) for s in SCALES]
    out += [ndi.gaussian_laplace(x, s) for s in big]
    out += [ndi.gaussian_gradient_magnitude(x, s) for s in big]
    out += [ndi.gaussian_filter(x, s) - ndi.gaussian_filter(x, 0.66 * s) for s in big]

    def order(i, j=None):
        o = [0] * nd
        o[i] += 1
        if j is not None:
            o[j] += 1
        return o

    for s in big:  # structure tensor
        g = [ndi.gaussian_filter(x, 0.5 * s, order=order(i)) for i in range(nd)]
        mat = np.empty(x.shape + (nd, nd), np.float32)
        for i in range(nd):
            for j in range(i, nd):
                mat[..., i, j] = mat[..., j, i] = ndi.gaussian_filter(g[i] * g[j], s)
        ev = np.linalg.eigvalsh(mat)[..., ::-1]
        out += [ev[..., k] for k in range(nd)]
    for s in big:  # Hessian
        mat = np.empty(x.shape + (nd, nd), np.float32)
        for i in range(nd):
            for j in range(i, nd):
                mat[..., i, j] = mat[..., j, i] = ndi.gaussian_filter(x, s, order=order(i, j))
        ev = np.linalg.eigvalsh(mat)[..., ::-1]
        out += [ev[..., k] for k in range(nd)]
    return out


def skimage_features(img: np.ndarray) -> np.ndarray:
    from skimage.feature import multiscale_basic_features  # noqa: PLC0415

    return multiscale_basic_features(
        img, intensity=True, edges=True, texture=True, sigma_min=min(SCALES), sigma_max=max(SCALES),
        num_sigma=len(SCALES),
    )


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def ours(img: np.ndarray, device: str, block: tuple[int, ...] | None = None) -> float:
    """Seconds for all channels of ``img`` on ``device`` (data already on the device).

    With ``block``, the features are computed through ``iter_feature_blocks`` with that
    block shape and each block is dropped once computed (``device`` synchronised).
    """
    x = backend.to_device(img, device)
    # warm-up on a small crop: kernel compilation, numba, cupy caches
    crop = tuple(slice(0, min(n, 48)) for n in img.shape)
    gf.compute(x[crop], "all", device=device)
    backend.synchronize(device)

    def run():
        if block is not None:
            for _region, feats in gf.iter_feature_blocks(x, "all", block, device=device):
                del feats
            backend.synchronize(device)
            return None
        data, _ = gf.compute(x, "all", device=device)
        backend.synchronize(device)
        return data

    return timed(run, repeat=2 if device == "gpu" else 1)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=2048, help="edge of the 2D image (default 2048)")
    p.add_argument("--size3d", type=int, default=256, help="edge of the 3D volume (default 256)")
    p.add_argument("--quick", action="store_true", help="512^2 and 96^3, for a run of a minute or two")
    p.add_argument("--no-peers", action="store_true", help="time gputrack only")
    p.add_argument("--whole-max", type=int, default=128**3,
                   help="3-D pixels above which gputrack runs blockwise and peers on a crop (default 128^3)")
    p.add_argument("--block-z", type=int, default=128, help="z planes per block in blockwise mode")
    p.add_argument("--image", choices=["slide", "random"], default="slide",
                   help="2-D image: the CMU-1 slide crop when available (default), or random")
    p.add_argument("--threads", type=int, action="append",
                   help="threads of the fastfilters2 comparison (repeatable; default 2 and 1)")
    p.add_argument("--repeat", type=int, default=3, help="runs of the fastfilters2 comparison (median)")
    p.add_argument("--only-fastfilters2", action="store_true", help="only the fastfilters2 comparison")
    p.add_argument("--out", default="bench/results/features.json")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.size3d = 512, 96
    rng = np.random.default_rng(0)
    img2d = slide_crop(args.size) if args.image == "slide" else None
    source = "CMU-1-Small-Region.svs gray crop" if img2d is not None else "random, smoothed"
    if img2d is None:
        img2d = ndi.gaussian_filter(rng.random((args.size, args.size)), 2).astype(np.float32)
    cases = {"2d": img2d}
    if not args.only_fastfilters2:
        cases["3d"] = ndi.gaussian_filter(rng.random((args.size3d,) * 3), 2).astype(np.float32)
    devices = ["cpu"] + (["gpu"] if backend.gpu_available() else [])
    rows = []
    for name, img in cases.items():
        n_px = img.size
        n_ch = len(gf.feature_names(img.shape, "all"))
        entry = {"case": name, "shape": list(img.shape), "pixels": n_px, "channels": n_ch}
        if img.ndim == 2:
            entry["image"] = source
            if importlib.util.find_spec("fastfilters2") is not None and not args.no_peers:
                entry["vs_fastfilters2"] = versus_fastfilters2(img, args.threads or [2, 1], args.repeat)
            if args.only_fastfilters2:
                rows.append(entry)
                continue
        blockwise = img.ndim == 3 and n_px > args.whole_max
        block = (min(args.block_z, img.shape[0]),) + img.shape[1:] if blockwise else None
        entry["mode"] = f"blockwise {list(block)}, blocks dropped" if blockwise else "whole image"
        for dev in devices:
            t = ours(img, dev, block)
            entry[f"gputrack_{dev}_s"] = t
            entry[f"gputrack_{dev}_mpx_s"] = n_px / t / 1e6
        if not args.no_peers:
            peer = img
            if blockwise:  # centred crop of about whole_max pixels, same number of dims
                edge = int(round(args.whole_max ** (1.0 / img.ndim)))
                peer = img[tuple(slice((n - min(n, edge)) // 2, (n - min(n, edge)) // 2 + min(n, edge))
                                 for n in img.shape)]
            entry["peer_shape"] = list(peer.shape)
            t = timed(lambda peer=peer: scipy_features(peer))
            entry["scipy_s"] = t
            entry["scipy_mpx_s"] = peer.size / t / 1e6
            for dev in devices:
                entry[f"speedup_{dev}_vs_scipy"] = entry[f"gputrack_{dev}_mpx_s"] / entry["scipy_mpx_s"]
            t = timed(lambda peer=peer: skimage_features(peer))
            entry["skimage_s"] = t
            entry["skimage_mpx_s"] = peer.size / t / 1e6
        rows.append(entry)
    result = {"benchmark": "features", "machine": backend.describe(), "results": rows}
    print(f"{'case':5} {'shape':>16} {'ch':>3} {'impl':>14} {'seconds':>9} {'Mpx/s':>9}")
    for r in rows:
        for threads, v in r.get("vs_fastfilters2", {}).items():
            print(f"{r['case']:5} {r['image']}, {threads} thread(s), medians of {args.repeat}: gputrack "
                  f"{v['gputrack_s']:.3f} s, fastfilters2 {v['fastfilters2_s']:.3f} s, "
                  f"speedup {v['speedup_median']:.2f}x")
        if args.only_fastfilters2:
            continue
        for impl in [f"gputrack_{d}" for d in devices] + ([] if args.no_peers else ["scipy", "skimage"]):
            shape = r.get("peer_shape", r["shape"]) if impl in ("scipy", "skimage") else r["shape"]
            print(f"{r['case']:5} {'x'.join(map(str, shape)):>16} {r['channels']:>3} {impl:>14} "
                  f"{r[impl + '_s']:9.3f} {r[impl + '_mpx_s']:9.2f}")
        for k in ("speedup_cpu_vs_scipy", "speedup_gpu_vs_scipy"):
            if k in r:
                print(f"{'':5} {k}: {r[k]:.1f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out)
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
