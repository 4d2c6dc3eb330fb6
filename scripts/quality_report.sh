#!/usr/bin/env bash
# Detection-quality report: trains our engine and the baselines on the development data in
# ../shared/data, runs the Python reference MVAD on the same series in parallel (when its venv
# is there: SONAR_REF_VENV, default ~/.cache/sonar-mvad-reference, see
# bench/reference/side_by_side.sh) and writes docs/quality.md (raw reports:
# target/quality_report.json).
# Bounded by default (a subset of series, 15 epochs, ≤ 8000 training rows per series, a second
# "trained longer" run with LONGER's parameters, the reference for at most SONAR_REF_BUDGET_S
# seconds of starts); pass --full for every development series and all training rows, --epochs N,
# --only FAMILY (SMD, SMAP, MSL, ASD, SKAB, AIT-ADS), --data DIR, --out FILE, --json FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -p sonar-eval --example quality_report
BIN="$TARGET/release/examples/quality_report"
VENV=${SONAR_REF_VENV:-$HOME/.cache/sonar-mvad-reference}
REF_DIR=${SONAR_REF_DIR:-$TARGET/quality_reference}
REF_BUDGET=${SONAR_REF_BUDGET_S:-1500}
LONGER=${LONGER:-'{"epochs": 60}'}
args=(--longer "$LONGER" "$@")
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import anomaly_detector' 2>/dev/null; then
  rm -rf "$REF_DIR"
  "$BIN" --export "$REF_DIR" "$@"
  (
    "$VENV/bin/python" bench/reference/reference_scores.py "$REF_DIR" "$REF_BUDGET" \
      2>"$REF_DIR/log.txt" || echo "reference runner failed: see $REF_DIR/log.txt" >&2
    touch "$REF_DIR/done"
  ) &
  args+=(--reference "$REF_DIR")
else
  echo "no reference venv at $VENV: the report has no reference column" >&2
fi
"$BIN" "${args[@]}"
wait
