#!/usr/bin/env bash
# One model per entity against one shared model (docs/entities.md "One model per entity or
# one shared", issue #15 item 2): `sonar eval` of each `training.entity_model` on the demo
# (scenarios/brute_force_by_host.yaml with its labelled attacks) and on the four AIT-ADS sets
# in ../shared/data/ait_ads with hosts as entities (bench/ait/ait_by_host.yaml). Prints one
# table row per data set: phases hit, false events a day, VUS-PR, seconds, model set bytes.
# Usage: bench/ait/entity_models.sh [--data DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=../shared/data
[ "${1:-}" = "--data" ] && DATA=$2
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p sonar-cli
BIN="$TARGET/release/sonar"
OUT="$TARGET/entity_models"
rm -rf "$OUT" && mkdir -p "$OUT"

# A copy of a scenario with `entity_model` set; the demo copy is named after the scenario
# whose labels it is scored against (demo/labels.json names brute_force_detection).
copy() { # source, model, destination
  mkdir -p "$(dirname "$3")"
  sed "s/^  entity_field: \(.*\)/  entity_field: \1\n  entity_model: $2/" "$1" >"$3"
  grep -q "entity_model: $2" "$3"
}
run() { # name, model, scenario, eval arguments...
  local name=$1 model=$2 scenario=$3; shift 3
  "$BIN" eval --scenario "$scenario" --methods default --json --work-dir "$OUT/work_${name}_$model" "$@" \
    >"$OUT/${name}_$model.json"
}
for model in per_entity shared; do
  copy scenarios/brute_force_by_host.yaml "$model" "$OUT/$model/brute_force_detection.yaml"
  run demo "$model" "$OUT/$model/brute_force_detection.yaml" --alerts demo/security_training.ndjson \
    --detect-alerts demo/security_detection.ndjson --attacks demo/labels.json
done
if [ -f "$DATA/ait_ads/alerts_csv.zip" ]; then
  unzip -o -q "$DATA/ait_ads/alerts_csv.zip" -d "$OUT"
  for model in per_entity shared; do
    copy bench/ait/ait_by_host.yaml "$model" "$OUT/$model/ait_by_host.yaml"
    for s in russellmitchell santos shaw fox; do
      echo "== $s $model" >&2
      run "$s" "$model" "$OUT/$model/ait_by_host.yaml" --alerts "$OUT/alerts_csv/${s}_alerts.txt" \
        --attacks time_label
    done
  done
fi
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
def set_bytes(work):
    for root, _, files in os.walk(work):
        if "entities.json" in files:
            members = len(json.load(open(os.path.join(root, "entities.json")))["members"])
            size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(root) for f in fs)
            return members, size
    return 0, 0
print("| data | hosts | phases hit: per entity / shared | false events a day | VUS-PR | seconds | model set bytes |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name in ["demo", "russellmitchell", "santos", "shaw", "fox"]:
    rows = []
    for model in ["per_entity", "shared"]:
        path = os.path.join(out, f"{name}_{model}.json")
        if not os.path.exists(path):
            break
        m = json.load(open(path))["methods"][0]
        hosts, size = set_bytes(os.path.join(out, f"work_{name}_{model}"))
        rows.append((m, hosts, size))
    if len(rows) < 2:
        continue
    (a, hosts, sa), (b, _, sb) = rows
    hit = lambda m: f"{sum(p['hit'] for p in m['phases'])}/{len(m['phases'])}"
    print(f"| {name} | {hosts} | {hit(a)} / {hit(b)} | {a['false_events_per_day']:.2f} / {b['false_events_per_day']:.2f} "
          f"| {a['vus_pr']:.3f} / {b['vus_pr']:.3f} | {a['seconds']:.0f} / {b['seconds']:.0f} | {sa/1e6:.1f} MB / {sb/1e6:.1f} MB |")
PY
