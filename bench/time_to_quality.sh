#!/usr/bin/env bash
# Time to quality on one SMD machine (default machine-1-6: 23.7k training rows × 38 metrics):
# our fit's wall time with default parameters, our VUS-PR on the labelled test half, and the
# reference MVAD's VUS-PR after its default 100 epochs, all with the same metric code
# (`sonar eval --scores`, crates/sonar/src/eval/metrics.rs). Prints a Markdown table.
# Our scores come from crates/sonar-mvad/examples/fit_and_score.rs (one fit, timed inside);
# SONAR_BIN names an already built `sonar` binary to skip building it.
#
#   bench/time_to_quality.sh [MACHINE] [PARAMS_JSON]
#
# The reference (time-series-anomaly-detector 0.4.0 in the venv SONAR_REF_VENV, default
# ~/.cache/sonar-mvad-reference, see bench/reference/side_by_side.sh) takes minutes, so its
# scores are computed once and kept in $SONAR_TTQ_DIR (default target/time_to_quality); delete
# the `reference` folder there to measure it again (SONAR_TTQ_REFERENCE_ONLY=1 stops after it). Without the venv the reference row is left
# out. Data: SONAR_DATA (default ../shared/data), gzipped SMD CSVs without a time column: row i
# gets the zero-padded row number as its label (test rows continue after the training rows).
set -euo pipefail
cd "$(dirname "$0")/.."
MACHINE=${1:-machine-1-6}
PARAMS=${2:-'{}'}
SMD=${SONAR_DATA:-../shared/data}/smd
TARGET=${CARGO_TARGET_DIR:-target}
WORK=${SONAR_TTQ_DIR:-$TARGET/time_to_quality}/$MACHINE
VENV=${SONAR_REF_VENV:-$HOME/.cache/sonar-mvad-reference}
mkdir -p "$WORK/reference"

# Train and test CSVs with a first column of row labels (what the engine and the reference read).
number() { # FILE.gz FIRST_ROW OUT
  zcat "$1" | awk -v first="$2" 'NR == 1 { print "timestamp," $0; next }
    { printf "%08d,%s\n", first + NR - 2, $0 }' >"$3"
}
if [ ! -s "$WORK/test.csv" ]; then
  number "$SMD/${MACHINE}_train.csv.gz" 0 "$WORK/train.csv"
  rows=$(($(wc -l <"$WORK/train.csv") - 1))
  number "$SMD/${MACHINE}_test.csv.gz" "$rows" "$WORK/test.csv"
  zcat "$SMD/${MACHINE}_test_label.csv.gz" >"$WORK/labels.csv"
fi

# The reference, once: bench/reference/reference_scores.py trains it on the training CSV with
# its defaults and scores every test row (the last W training rows as context).
REF_SCORES="$WORK/reference/smd__$MACHINE.reference.csv"
if [ ! -s "$REF_SCORES" ] && [ -x "$VENV/bin/python" ] \
  && "$VENV/bin/python" -c 'import anomaly_detector' 2>/dev/null; then
  echo '{}' >"$WORK/reference/params.json"
  cp "$WORK/train.csv" "$WORK/reference/smd__$MACHINE.train.csv"
  cp "$WORK/test.csv" "$WORK/reference/smd__$MACHINE.test.csv"
  echo "training the reference (100 epochs, minutes) ..." >&2
  started=$(date +%s.%N)
  SONAR_REF_THREADS=${SONAR_REF_THREADS:-$(nproc)} "$VENV/bin/python" \
    bench/reference/reference_scores.py "$WORK/reference" 2>"$WORK/reference/log.txt"
  echo "$(date +%s.%N) - $started" | bc >"$WORK/reference/seconds.txt"
  echo "$(date -u +%FT%TZ), load average before: $(cut -d' ' -f1-3 /proc/loadavg)" \
    >"$WORK/reference/when.txt"
fi

[ -n "${SONAR_TTQ_REFERENCE_ONLY:-}" ] && exit 0
cargo build --release -p sonar-mvad --example fit_and_score >/dev/null 2>&1
SONAR=${SONAR_BIN:-$TARGET/release/sonar}
[ -n "${SONAR_BIN:-}" ] || cargo build --release -p sonar-cli >/dev/null 2>&1
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# Our fit (timed inside the example) and the score of every test row, as `sonar eval` scores.
FIT=$("$TARGET/release/examples/fit_and_score" "$WORK/train.csv" "$WORK/test.csv" "$PARAMS" \
  "$WORK/sonar-mvad.csv" 2>"$WORK/fit.log")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
score_args=(--scores "sonar-mvad=$WORK/sonar-mvad.csv")
[ -s "$REF_SCORES" ] && score_args+=(--scores "reference=$REF_SCORES")
# The metrics of both score files (and the PCA and random baselines) with the report's code.
"$SONAR" eval --train "$WORK/train.csv" --test "$WORK/test.csv" --labels "$WORK/labels.csv" \
  --options '{"engine": false}' "${score_args[@]}" --json >"$WORK/eval.json"
python3 - "$FIT" "$WORK" "$MACHINE" "$PARAMS" "$load_before" "$load_after" "$(nproc)" <<'PY'
import json, os, sys
fit, work, machine, params, before, after, cores = sys.argv[1:8]
fit = json.loads(fit)
report = json.load(open(os.path.join(work, "eval.json")))
methods = {m["method"]: m for m in report["methods"]}
def vus(name):
    m = methods.get(name)
    return None if m is None else m["metrics"]["vus_pr"]
ref_dir = os.path.join(work, "reference")
def read(name):
    p = os.path.join(ref_dir, name)
    return open(p).read().strip() if os.path.exists(p) else None
print(f"SMD {machine} ({report['train_rows']} training rows, {report['test_rows']} test rows, "
      f"{report['features']} features), params {params}, {cores} cores; "
      f"load average {before} before our fit, {after} after")
print()
print("| | fit wall time | epochs run | VUS-PR |")
print("|---|---:|---:|---:|")
print(f"| sonar-mvad (default params) | {fit['fit_s']:.1f} s | {fit['epochs']} (best {fit['best_epoch']}) | {vus('sonar-mvad'):.3f} |")
if vus("reference") is not None:
    secs = read("seconds.txt")
    print(f"| reference 0.4.0, default params (measured {read('when.txt')}) | {float(secs):.0f} s (fit and scoring) | 100 | {vus('reference'):.3f} |")
for name in ("pca", "random"):
    if vus(name) is not None:
        print(f"| {name} baseline | | | {vus(name):.3f} |")
PY
