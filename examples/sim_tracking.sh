#!/usr/bin/env bash
# Every tracking number of the README's "Tracking on Fluo-N2DH-SIM+ 01" section, from the command
# line alone: defaults on the GT masks, then trained division / object-count classifiers (trained on
# frames 0-31, tracking frames 32-64), on the GT masks and on a segmentation of the raw frames.
#
# Usage: examples/sim_tracking.sh [SEQUENCE_DIR] [OUT_DIR]
#   SEQUENCE_DIR defaults to ../shared/data/ctc-fluo-n2dh-sim-01/Fluo-N2DH-SIM+ (holding 01, 01_GT)
#   OUT_DIR defaults to out/sim_tracking (replaced)
# Prints one line per run: name, DET, TRA, LNK, divisions found / false. About 5 minutes on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SEQ="${1:-$ROOT/../shared/data/ctc-fluo-n2dh-sim-01/Fluo-N2DH-SIM+}"
OUT="${2:-out/sim_tracking}"
GPUTRACK="${GPUTRACK:-gputrack}"
RAW="$SEQ/01" GT="$SEQ/01_GT" TRA="$SEQ/01_GT/TRA"
[ -d "$RAW" ] && [ -d "$GT" ] || { echo "sim_tracking.sh: $SEQ: expected the folders 01 and 01_GT" >&2; exit 2; }
mkdir -p "$OUT"

score() {  # NAME, then the track command's arguments: one line of scores
    local name="$1"; shift
    local log="$OUT/$name.log"
    $GPUTRACK track --overwrite --out "$OUT/$name" --gt "$GT" "$@" > "$log"
    python3 - "$name" "$log" <<'EOF'
import re, sys
text = open(sys.argv[2]).read()
s = {k: float(v) for k, v in re.findall(r"(\w+(?:\(0\))?) (-?[0-9.]+)", text.split("CTC scores:")[-1])}
print(f"{sys.argv[1]:<28} DET {s['DET']:.4f}  TRA {s['TRA']:.4f}  LNK {s['LNK']:.4f}  "
      f"divisions {s['tp_div(0)']:.0f} of {s['gt_divisions']:.0f} / {s['fp_div(0)']:.0f} false")
EOF
}

# 1. the whole sequence, GT masks as detections, defaults (costs estimated from the data)
score defaults_0-64 --labels "$TRA" --raw "$RAW"

# 2. classifiers on the GT masks: division labels from man_track.txt, frames 0-31
$GPUTRACK annotate classes -q --overwrite --labels "$TRA" --gt "$GT" --kind division --frames 0:32 \
    --out "$OUT/gt_division.csv"
$GPUTRACK objects train -q --overwrite --kind division --labels "$TRA" --raw "$RAW" \
    --annotations "$OUT/gt_division.csv" --out "$OUT/gt_division.h5"
score gt_priors_32-64 --labels "$TRA" --raw "$RAW" --frames 32:65
score gt_division_32-64 --labels "$TRA" --raw "$RAW" --frames 32:65 --division-classifier "$OUT/gt_division.h5"
score gt_priors_500_32-64 --labels "$TRA" --raw "$RAW" --frames 32:65 --appearance-cost 500 \
    --disappearance-cost 500
score gt_division_500_32-64 --labels "$TRA" --raw "$RAW" --frames 32:65 --appearance-cost 500 \
    --disappearance-cost 500 --division-classifier "$OUT/gt_division.h5"

# 3. a segmentation of the raw frames (touching cells merge): count and division classes by
#    matching its objects to the GT cells (CTC rule), frames 0-31
$GPUTRACK segment -q --overwrite "$RAW" --threshold 100 --sigma 2 --min-size 20 --out "$OUT/seg.tif"
for kind in division count; do
    $GPUTRACK annotate classes -q --overwrite --labels "$OUT/seg.tif" --gt "$GT" --kind $kind --frames 0:32 \
        --out "$OUT/seg_$kind.csv"
    $GPUTRACK objects train -q --overwrite --kind $kind --labels "$OUT/seg.tif" --raw "$RAW" \
        --annotations "$OUT/seg_$kind.csv" --out "$OUT/seg_$kind.h5"
done
SEG=(--labels "$OUT/seg.tif" --raw "$RAW" --frames 32:65)
score seg_priors_32-64 "${SEG[@]}"
score seg_size_prior_M2_32-64 "${SEG[@]}" --max-objects 2
score seg_division_32-64 "${SEG[@]}" --division-classifier "$OUT/seg_division.h5"
score seg_division_count_32-64 "${SEG[@]}" --division-classifier "$OUT/seg_division.h5" \
    --count-classifier "$OUT/seg_count.h5"
