#!/usr/bin/env bash
# Detection quality on alert data at the operating point a user gets: `sonar eval --alerts`
# on the four AIT-ADS scenarios in ../shared/data/ait_ads (bench/ait/ait_plain.yaml, trained
# on the days before the first attack) and on the bundled demo (each bundled scenario with its
# labelled attacks in demo/labels.json), for the default scoring, the faithful scoring and the
# PCA baseline at the same threshold. Rewrites the section "Alert data at the default
# threshold" at the end of docs/quality.md; raw reports in target/alert_quality/*.json.
# Usage: scripts/alert_quality.sh [--data DIR] [--only NAME ...]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
ONLY=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA=$2; shift 2 ;;
    --only) ONLY+=("$2"); shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -p sonar-cli
BIN="$TARGET/release/sonar"
OUT="$TARGET/alert_quality"
mkdir -p "$OUT"
wanted() { [ ${#ONLY[@]} -eq 0 ] || printf '%s\n' "${ONLY[@]}" | grep -qx "$1"; }
started=$(date +%s)
if [ -f "$DATA/ait_ads/alerts_csv.zip" ]; then
  unzip -o -q "$DATA/ait_ads/alerts_csv.zip" -d "$OUT"
  for s in russellmitchell santos shaw fox; do
    wanted "$s" || continue
    echo "== AIT-ADS $s" >&2
    "$BIN" eval --alerts "$OUT/alerts_csv/${s}_alerts.txt" --scenario bench/ait/ait_plain.yaml \
      --attacks time_label --json > "$OUT/ait_$s.json"
  done
fi
for pair in brute_force_detection:security lateral_movement_detection:security \
            privilege_escalation_detection:security linux_resource_monitoring:resource; do
  s=${pair%%:*}; d=${pair##*:}
  wanted "$s" || continue
  echo "== demo $s" >&2
  "$BIN" eval --alerts "demo/${d}_training.ndjson" --detect-alerts "demo/${d}_detection.ndjson" \
    --scenario "scenarios/$s.yaml" --attacks demo/labels.json --json > "$OUT/demo_$s.json"
done
python3 scripts/alert_quality_md.py "$OUT" docs/quality.md "$(( $(date +%s) - started ))"
