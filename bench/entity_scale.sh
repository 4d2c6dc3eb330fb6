#!/usr/bin/env bash
# Per-entity detection at scale (docs/benchmarks.md "Per-entity detection at scale", issue #15
# item 8). Starts osmem-server (the in-memory OpenSearch of the integration tests) on a free
# loopback port with Wazuh's own index template, loads ENTITIES hosts × DAYS days of
# Wazuh-shaped alerts (crates/sonar-eval/examples/entity_scale_bench.rs), measures the bytes
# of one pass paging vs aggregating, then times `sonar train` of bench/entities/by_host.yaml
# over every host and one realtime poll over all of them, with peak RSS (GNU time).
# "SONAR's own time" is the sonar process's CPU time (user + sys); wall time includes the
# server's, which osmem spends scanning (it has no doc values).
# Usage: bench/entity_scale.sh [ENTITIES] [DAYS] [RATE] [MODEL]
#   (default 1000 7 0.5 per_entity; RATE: mean alerts per host and 5-minute bucket;
#    MODEL: training.entity_model, per_entity or shared)
set -euo pipefail
cd "$(dirname "$0")/.."
entities="${1:-1000}"
days="${2:-7}"
rate="${3:-0.5}"
model="${4:-per_entity}"

if ! python3 -c 'import osmem_server' 2>/dev/null; then
  echo "installing osmem-server (the test suite's OpenSearch server)" >&2
  python3 -m pip install --quiet 'osmem-server==0.1.6'
fi
bin="${SONAR_OSMEM_BIN:-$(python3 -c 'import osmem_server; print(osmem_server.resolve_binary())')}"
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time; apt install time)" >&2; exit 2; }

cargo build --release --locked -q -p sonar-cli
cargo build --release --locked -q -p sonar-eval --example entity_scale_bench
target="${CARGO_TARGET_DIR:-target}/release"

work="$(mktemp -d)"
log="$work/osmem.log"
"$bin" -addr 127.0.0.1:0 -no-ja -no-stdin-watch -parent-pid $$ >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  [ -s "$log" ] && break
  sleep 0.1
done
url="$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$log")"
echo "osmem-server at $url; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
curl -sf -X PUT "$url/_template/wazuh" -H 'content-type: application/json' \
  --data-binary @crates/sonar/tests/data/wazuh_template/wazuh-template-4.x.json >/dev/null

"$target/examples/entity_scale_bench" --url "$url" --entities "$entities" --days "$days" --rate "$rate"

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
end="$(python3 -c "import datetime as d; print((d.datetime(2024,6,1,tzinfo=d.timezone.utc)+d.timedelta(days=$days)).strftime('%Y-%m-%dT%H:%M:%SZ'))")"
train_end="$(python3 -c "import datetime as d; print((d.datetime(2024,6,1,tzinfo=d.timezone.utc)+d.timedelta(days=$days, hours=-1)).strftime('%Y-%m-%dT%H:%M:%SZ'))")"
export SONAR_WAZUH_PASSWORD=admin NO_COLOR=1

measure() { # name, command...
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/$name.time" "$@" >"$work/$name.out" 2>&1 || {
    echo "$name failed:" >&2; tail -30 "$work/$name.out" >&2; exit 1; }
  read -r wall user sys rss <"$work/$name.time"
  python3 -c "import sys; w,u,s,r=map(float,sys.argv[2:]); print(f'| {sys.argv[1]} | {w:.1f} s | {u+s:.1f} s | {r/1024:.0f} MiB |')" "$name" "$wall" "$user" "$sys" "$rss"
}
echo "| step | wall | SONAR's own time (CPU) | peak RSS |"
echo "|---|---:|---:|---:|"
measure "train ($model, $entities hosts, training window $(( days * 24 - 1 )) h)" \
  "$target/sonar" train --config "$work/config.yaml" --scenario "$work/by_host.yaml" \
  --start 2024-06-01T00:00:00Z --end "$train_end"
measure "one realtime poll over all hosts (the last hour)" \
  "$target/sonar" detect --config "$work/config.yaml" --scenario "$work/by_host.yaml" \
  --mode realtime --now "$end" --max-polls 1
grep -E "entities|modelled" "$work/train ($model"*.out | tail -3 >&2 || true
grep -c "^poll " "$work/one realtime poll"*.out | sed 's/^/host poll lines: /' >&2 || true
du -sb "$work/models" | cut -f1 | sed 's/^/model set bytes: /'
