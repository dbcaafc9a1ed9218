"""Benchmark: gputrack against ilastik's own engines on the same CPU, in the same run.

ilastik computes its pixel features with fastfilters2 (vigra as fallback), classifies with
``vigra.learning.RandomForest`` and measures objects with ``vigra.analysis.extractRegionFeatures``.
This script times each of them against gputrack on the same inputs, medians of ``--repeat``
runs (default 3), and reports the ratios (peer seconds / gputrack seconds):

- features: the 49 channels of a 2048² gray crop of the CMU-1 H&E slide (``../shared/data/
  large-wsi``), gputrack vs ``fastfilters2.compute_filters`` at the 7 scales and vigra's filters
  (2 threads), with the largest difference to vigra per feature family;
- forest: 100 trees trained on 10k labelled pixels of those 49 channels and 4.2 Mpx predicted,
  gputrack vs vigra (2 forests x 50 trees in 2 threads, as ilastik's parallel classifier),
  with held-out accuracy and agreement;
- objects: the full object table (15 features) of 4096² (~29k objects) and 192³ label
  images, gputrack vs extractRegionFeatures on the same features and objects;
- tracking: 100 frames x 1000 objects, gputrack vs laptrack.

vigra (Debian's ``python3-vigra``) cannot be imported with this environment's numpy; it runs
in the system Python (``/usr/bin/python3``, or ``GPUTRACK_VIGRA_PYTHON``) fed with ``.npy``
files, timing inside that process (:mod:`gputrack.benchmarks.peers`). Missing peers are
reported as "not installed". ``gputrack bench`` runs the same code at smaller sizes.

Usage::

    python bench/ilastik_engines.py [--quick] [--repeat 3] [--stage forest ...]
        [--out bench/results]      # ilastik_engines.json, .md, .png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gputrack.benchmarks import engines, report  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="gputrack bench's quick sizes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--stage", action="append", choices=engines.STAGES, help="default: all")
    ap.add_argument("--out", default=None, help="folder (default bench/results, out/bench with --quick)")
    args = ap.parse_args(argv)
    default = ROOT / "out" / "bench" if args.quick else ROOT / "bench" / "results"
    out = Path(args.out) if args.out else default
    stages = tuple(args.stage) if args.stage else engines.STAGES
    result = engines.run_suite(stages, "quick" if args.quick else "full", args.repeat,
                               log=lambda text: print(text, flush=True))
    written = report.write_outputs(result, out, "ilastik_engines")
    print(report.markdown_table(result), end="")
    print(f"{result['total_s']:.0f} s; wrote {', '.join(map(str, written))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
