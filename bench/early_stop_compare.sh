#!/usr/bin/env bash
# Early-stopping rules compared by detection quality: for each series, one fit per rule
# (crates/sonar-mvad/examples/fit_and_score.rs: default params plus the rule's keys), every test
# row scored, and the VUS-PR of each rule's scores measured by `sonar eval --scores` (the
# report's metric code). Prints a Markdown table: VUS-PR, epochs run (best epoch), fit time.
#
#   bench/early_stop_compare.sh [SERIES ...]     # default: smd/machine-1-6 asd/omi-1 asd/omi-2
#
# SERIES is `<family>/<name>` of a set stored as `<name>_train.csv.gz`, `<name>_test.csv.gz` and
# `<name>_test_label.csv.gz` under SONAR_DATA (default ../shared/data): SMD and ASD. RULES
# (env) is a `;`-separated list of NAME=JSON; the default compares the default rule with the
# previous one (patience 10 on the raw loss) and with no early stop. SONAR_BIN names a built
# `sonar` binary and FIT_AND_SCORE a built fit_and_score example (default: build them). Work files: $SONAR_TTQ_DIR (default
# target/time_to_quality)/<name>/es/. Fit times depend on the machine's load: see the load
# averages printed.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${SONAR_DATA:-../shared/data}
TARGET=${CARGO_TARGET_DIR:-target}
ROOT=${SONAR_TTQ_DIR:-$TARGET/time_to_quality}
RULES=${RULES:-'default={};previous={"early_stopping_patience": 10, "early_stopping_min_delta": 0, "early_stopping_smoothing": 1};none={"early_stopping_patience": null}'}
SERIES=("$@")
[ ${#SERIES[@]} -gt 0 ] || SERIES=(smd/machine-1-6 asd/omi-1 asd/omi-2)
FIT=${FIT_AND_SCORE:-$TARGET/release/examples/fit_and_score}
[ -n "${FIT_AND_SCORE:-}" ] || cargo build --release -p sonar-mvad --example fit_and_score >/dev/null 2>&1
SONAR=${SONAR_BIN:-$TARGET/release/sonar}
[ -n "${SONAR_BIN:-}" ] || cargo build --release -p sonar-cli >/dev/null 2>&1

number() { # FILE.gz FIRST_ROW OUT: a first column of zero-padded row numbers
  zcat "$1" | awk -v first="$2" 'NR == 1 { print "timestamp," $0; next }
    { printf "%08d,%s\n", first + NR - 2, $0 }' >"$3"
}

echo "| series | rule | VUS-PR | epochs run (best) | fit wall time | load average before |"
echo "|---|---|---:|---:|---:|---|"
for series in "${SERIES[@]}"; do
  family=${series%%/*}
  name=${series#*/}
  work="$ROOT/$name"
  mkdir -p "$work/es"
  if [ ! -s "$work/test.csv" ]; then
    number "$DATA/$family/${name}_train.csv.gz" 0 "$work/train.csv"
    rows=$(($(wc -l <"$work/train.csv") - 1))
    number "$DATA/$family/${name}_test.csv.gz" "$rows" "$work/test.csv"
    zcat "$DATA/$family/${name}_test_label.csv.gz" >"$work/labels.csv"
  fi
  IFS=';' read -ra rules <<<"$RULES"
  for rule in "${rules[@]}"; do
    rname=${rule%%=*}
    json=${rule#*=}
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    if [ ! -s "$work/es/$rname.json" ]; then
      "$FIT" "$work/train.csv" "$work/test.csv" "$json" \
        "$work/es/$rname.csv" >"$work/es/$rname.json" 2>"$work/es/$rname.log"
      echo "$load" >"$work/es/$rname.load"
    fi
    "$SONAR" eval --train "$work/train.csv" --test "$work/test.csv" --labels "$work/labels.csv" \
      --options '{"engine": false}' --scores "$rname=$work/es/$rname.csv" --json \
      >"$work/es/$rname.eval.json"
    python3 - "$series" "$rname" "$work/es/$rname" <<'PY'
import json, sys
series, rule, base = sys.argv[1:4]
fit = json.load(open(base + ".json"))
report = json.load(open(base + ".eval.json"))
vus = next(m["metrics"]["vus_pr"] for m in report["methods"] if m["method"] == rule)
load = open(base + ".load").read().strip()
print(f"| {series} | {rule} | {vus:.3f} | {fit['epochs']} ({fit['best_epoch']}) | {fit['fit_s']:.0f} s | {load} |")
PY
  done
done
