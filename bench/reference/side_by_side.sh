#!/usr/bin/env bash
# Side-by-side timing of the reference MVAD (time-series-anomaly-detector 0.4.0, PyTorch) and
# sonar-mvad on the same CSV with the same params. Prints both JSON reports and the ratios.
#
#   bench/reference/side_by_side.sh [N_TRAIN] [K] [EPOCHS] [SLIDING_WINDOW]
#
# The reference is installed into a venv OUTSIDE the repository (default
# ~/.cache/sonar-mvad-reference, override with SONAR_REF_VENV); about 3 minutes and a few GB
# the first time. It is never a dependency of the build or the tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-10000}; K=${2:-10}; EPOCHS=${3:-3}; SW=${4:-200}
VENV=${SONAR_REF_VENV:-$HOME/.cache/sonar-mvad-reference}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import anomaly_detector' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'time-series-anomaly-detector==0.4.0'
fi
WORK=$(mktemp -d)
"$VENV/bin/python" bench/reference/make_data.py "$N" "$K" "$WORK/train.csv"
"$VENV/bin/python" bench/reference/make_data.py 1000 "$K" "$WORK/predict.csv"
PARAMS="{\"sliding_window\": $SW, \"epochs\": $EPOCHS}"
cargo build --release -p sonar-mvad --example mvad_run >/dev/null 2>&1
echo "# data: N=$N k=$K sliding_window=$SW epochs=$EPOCHS; predict on 1000 rows; $(nproc) cores"
REF=$("$VENV/bin/python" bench/reference/reference_timing.py "$WORK/train.csv" "$WORK/predict.csv" "$PARAMS" 2>"$WORK/reference.log")
OURS=$(target/release/examples/mvad_run "$WORK/train.csv" "$WORK/predict.csv" "$PARAMS" reference 2>/dev/null)
echo "reference: $REF"
echo "sonar:     $OURS"
python3 - "$REF" "$OURS" <<'PY'
import json, sys
ref, ours = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def row(name, key_ref, key_ours=None):
    r, o = ref[key_ref], ours[key_ours or key_ref]
    print(f"| {name} | {r:.4g} | {o:.4g} | {o / r:.3f}x |")
print("| measure | reference | sonar | sonar/reference (lower is better) |")
print("|---|---|---|---|")
row("fit per epoch (s): train + validation", "fit_per_epoch_s")
row("  train part per epoch (s)", "train_per_epoch_s")
row("  validation part per epoch (s)", "val_per_epoch_s")
row("threshold pass (s)", "threshold_pass_s")
row("batched predict per window (ms)", "predict_per_window_ms")
row("one new bucket (ms): reference minimum-input predict vs sonar streaming", "one_new_bucket_minimal_predict_ms", "one_new_bucket_stream_ms")
row("one new bucket (ms): both minimum-input predict", "one_new_bucket_minimal_predict_ms")
PY
rm -rf "$WORK"
