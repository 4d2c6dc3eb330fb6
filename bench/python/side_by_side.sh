#!/usr/bin/env bash
# Side by side from Python: the reference library (time-series-anomaly-detector 0.4.0, in its
# venv ~/.cache/sonar-mvad-reference, see bench/reference/side_by_side.sh) and SONAR's
# `sonar.mvad` (crates/sonar-py, built in release mode into a venv under target/), on the
# same CSVs with the same params: fit per epoch, predict per window, import time, installed
# size. Prints both JSON reports and a markdown table (docs/benchmarks.md "Python").
#
#   bench/python/side_by_side.sh [N_TRAIN] [K] [EPOCHS] [SLIDING_WINDOW]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-10000}; K=${2:-10}; EPOCHS=${3:-3}; SW=${4:-200}
REF=${SONAR_REF_VENV:-$HOME/.cache/sonar-mvad-reference}
OURS=target/sonar-py-bench-venv
if ! "$REF/bin/python" -c 'import anomaly_detector' 2>/dev/null; then
  echo "the reference venv $REF has no anomaly_detector: run bench/reference/side_by_side.sh once" >&2
  exit 1
fi
if [ ! -x "$OURS/bin/python" ]; then
  python3 -m venv "$OURS"
fi
"$OURS/bin/python" -m pip install --quiet pandas
"$OURS/bin/python" -m pip install --quiet --force-reinstall --no-deps ./crates/sonar-py
WORK=$(mktemp -d)
"$REF/bin/python" bench/reference/make_data.py "$N" "$K" "$WORK/train.csv"
"$REF/bin/python" bench/reference/make_data.py 1000 "$K" "$WORK/predict.csv"
PARAMS="{\"sliding_window\": $SW, \"epochs\": $EPOCHS}"
echo "# data: N=$N k=$K sliding_window=$SW epochs=$EPOCHS; predict on 1000 rows; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
import_time() {  # median of 3 fresh interpreters, seconds spent in the import statement
  for _ in 1 2 3; do
    "$1" -c "import time; t = time.perf_counter(); import $2; print(time.perf_counter() - t)"
  done | sort -g | sed -n 2p
}
REF_IMPORT=$(import_time "$REF/bin/python" "anomaly_detector")
OURS_IMPORT=$(import_time "$OURS/bin/python" "sonar.mvad")
REF_JSON=$("$REF/bin/python" bench/python/mvad_timing.py reference "$WORK/train.csv" "$WORK/predict.csv" "$PARAMS" 2>"$WORK/ref.log")
OURS_JSON=$("$OURS/bin/python" bench/python/mvad_timing.py sonar "$WORK/train.csv" "$WORK/predict.csv" "$PARAMS" 2>"$WORK/ours.log")
site() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
REF_SITE=$(site "$REF/bin/python"); OURS_SITE=$(site "$OURS/bin/python")
REF_PKG=$(du -sb "$REF_SITE/anomaly_detector" | cut -f1)
REF_ALL=$(du -sb --exclude=pip --exclude='pip-*' --exclude=setuptools --exclude='setuptools-*' "$REF_SITE" | cut -f1)
OURS_PKG=$(du -sb "$OURS_SITE/sonar" | cut -f1)
echo "reference: $REF_JSON"
echo "sonar:     $OURS_JSON"
python3 - "$REF_JSON" "$OURS_JSON" "$REF_IMPORT" "$OURS_IMPORT" "$REF_PKG" "$REF_ALL" "$OURS_PKG" <<'PY'
import json, sys
ref, ours = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ri, oi = float(sys.argv[3]), float(sys.argv[4])
rp, ra, op = (int(x) for x in sys.argv[5:8])
def row(name, r, o, fmt="{:.4g}"):
    print(f"| {name} | {fmt.format(r)} | {fmt.format(o)} | {r / o:.2f}x |")
print("| measure | reference | sonar.mvad | reference/sonar (higher: sonar faster or smaller) |")
print("|---|---|---|---|")
row("fit per epoch (s): train + validation", ref["fit_per_epoch_s"], ours["fit_per_epoch_s"])
row("  train part per epoch (s)", ref["train_per_epoch_s"], ours["train_per_epoch_s"])
row("  validation part per epoch (s)", ref["val_per_epoch_s"], ours["val_per_epoch_s"])
row("batched predict per window (ms)", ref["predict_per_window_ms"], ours["predict_per_window_ms"])
row("minimum-input predict, one result (ms)", ref["one_new_bucket_minimal_predict_ms"], ours["one_new_bucket_minimal_predict_ms"])
row("import (s)", ri, oi, "{:.3f}")
row("installed package (MB)", rp / 1e6, op / 1e6, "{:.2f}")
row("package + required dependencies (MB)", ra / 1e6, op / 1e6, "{:.0f}")
PY
rm -rf "$WORK"
