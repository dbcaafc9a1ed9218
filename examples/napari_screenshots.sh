#!/usr/bin/env bash
# Regenerate examples/screenshots/ (the README's napari pictures): the napari tests write a
# screenshot of each widget in use (GPUTRACK_SCREENSHOTS), shrunk here to small palette PNGs.
# Usage: examples/napari_screenshots.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-python3}"
RAW="$(mktemp -d)"
trap 'rm -rf "$RAW"' EXIT
GPUTRACK_SCREENSHOTS="$RAW" .ci/napari-tests "$PY"
"$PY" - "$RAW" examples/screenshots <<'PYTHON'
import sys
from pathlib import Path

from PIL import Image

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
for path in sorted(src.glob("*.png")):
    image = Image.open(path).convert("RGB")
    image = image.resize((900, round(image.height * 900 / image.width)), Image.LANCZOS)
    for colors in (256, 128, 64, 32):
        out = dst / path.name
        image.quantize(colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
            out, optimize=True)
        if out.stat().st_size < 140_000:
            break
    print(f"{out}: {out.stat().st_size // 1000} kB")
PYTHON
