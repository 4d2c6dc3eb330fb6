#!/usr/bin/env bash
# Per-entity detection at scale (docs/benchmarks.md "Per-entity detection at scale", issue #15
# item 8). Starts osmem-server (bench/osmem.sh) with Wazuh's own index template, loads
# ENTITIES hosts × DAYS days of Wazuh-shaped alerts
# (crates/sonar-eval/examples/entity_scale_bench.rs), measures the bytes of one pass paging
# vs aggregating (skipped with SKIP_BYTES=1), then times `sonar train` of
# bench/entities/by_host.yaml over every host and one realtime poll over all of them, with
# peak RSS (GNU time). "SONAR's own time" is the sonar process's CPU time (user + sys); wall
# time includes the server's, which osmem spends scanning (it has no doc values). The poll is
# measured twice: the second finds nothing new, so it is the start-up (loading and checking
# the model set) alone.
# Usage: bench/entity_scale.sh [ENTITIES] [DAYS] [RATE] [MODEL]
#   (default 1000 7 0.5 per_entity; RATE: mean alerts per host and 5-minute bucket, before
#    each host's own factor; MODEL: training.entity_model, per_entity or shared)
set -euo pipefail
cd "$(dirname "$0")/.."
entities="${1:-1000}"
days="${2:-7}"
rate="${3:-0.5}"
model="${4:-per_entity}"
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time; apt install time)" >&2; exit 2; }

cargo build --release --locked -q -p sonar-cli
cargo build --release --locked -q -p sonar-eval --example entity_scale_bench
target="${CARGO_TARGET_DIR:-target}/release"

. bench/osmem.sh
work="$(mktemp -d)"
trap 'stop_osmem; rm -rf "$work"' EXIT
curl -sf -X PUT "$url/_template/wazuh" -H 'content-type: application/json' \
  --data-binary @crates/sonar/tests/data/wazuh_template/wazuh-template-4.x.json >/dev/null

"$target/examples/entity_scale_bench" --url "$url" --entities "$entities" --days "$days" \
  --rate "$rate" ${SKIP_BYTES:+--load-only}

cat >"$work/config.yaml" <<YAML
wazuh:
  base_url: "$url"
  username: "admin"
  alerts_index_pattern: "wazuh-alerts-*"
  anomalies_index: "sonar-bench-anomalies"
  request_timeout_seconds: 3600
model_path: "$work/models/mvad_model"
YAML
sed -e "s/max_entities: 1000/max_entities: $entities/" \
    -e "s/entity_model: per_entity/entity_model: $model/" \
    bench/entities/by_host.yaml >"$work/by_host.yaml"
at() { python3 -c "import datetime as d, sys; print((d.datetime(2024,6,1,tzinfo=d.timezone.utc)+d.timedelta(hours=eval(sys.argv[1]))).strftime('%Y-%m-%dT%H:%M:%SZ'))" "$1"; }
# Polls at 2 minutes past the last two buckets' ends (the default ingestion delay is 60 s).
before="$(at "$(( days * 24 )) - 3/60")"
end="$(at "$(( days * 24 )) + 2/60")"
train_end="$(at $(( days * 24 - 1 )))"
export SONAR_WAZUH_PASSWORD=admin NO_COLOR=1

measure() { # file, label, command...
  local file=$1 label=$2; shift 2
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/$file.out" 2>&1 || {
    echo "$label failed:" >&2; tail -30 "$work/$file.out" >&2; exit 1; }
  read -r wall user sys rss <"$work/time"
  python3 -c "import sys; w,u,s,r=map(float,sys.argv[2:]); print(f'| {sys.argv[1]} | {w:.1f} s | {u+s:.1f} s | {r/1024:.0f} MiB |')" "$label" "$wall" "$user" "$sys" "$rss"
}
poll() { # now
  echo "$target/sonar" detect --config "$work/config.yaml" --scenario "$work/by_host.yaml" \
    --mode realtime --now "$1" --max-polls 1
}
echo "| step | wall | SONAR's own time (CPU) | peak RSS |"
echo "|---|---:|---:|---:|"
measure train "train $entities hosts ($model), $(( days * 24 - 1 )) h each" "$target/sonar" train --config "$work/config.yaml" --scenario "$work/by_host.yaml" \
  --start 2024-06-01T00:00:00Z --end "$train_end"
set_bytes="$(du -sb "$work/models" | cut -f1) bytes in $(find "$work/models" -type f | wc -l) files"
# The first poll of each host scores the scenario's lookback (the last hour) after its
# warm-up; later polls score the buckets completed since, one per host every 5 minutes.
measure first "first realtime poll over all hosts (the last hour, with warm-up)" $(poll "$before")
measure poll "next realtime poll over all hosts (one new bucket each)" $(poll "$end")
measure again "the same poll again (nothing new: start-up alone)" $(poll "$end")
grep -E "^✓ model set" "$work/train.out" >&2 || true
echo "hosts polled: $(grep -c '^poll ' "$work/poll.out"); $(grep -m1 'all entities in one pass' "$work/poll.out" | cut -c1-160)" >&2
echo "model set ($model): $set_bytes; with the realtime state files after the polls: $(du -sb "$work/models" | cut -f1) bytes"
