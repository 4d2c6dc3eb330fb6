#!/usr/bin/env bash
# Alerts from the server: paging raw alerts vs server-side aggregation (docs/benchmarks.md,
# "Alerts from the server"). Starts osmem-server (the in-memory OpenSearch the integration
# tests use) on a free loopback port, loads N Wazuh-shaped alerts, measures, prints a table,
# stops the server. Usage: bench/server_fetch.sh [N_ALERTS] [REPEAT] [PAGE_SIZES]
# (default 100000 3 10000; PAGE_SIZES comma-separated, e.g. 1000,10000)
set -euo pipefail
cd "$(dirname "$0")/.."
alerts="${1:-100000}"
repeat="${2:-3}"
page_sizes="${3:-10000}"

if ! python3 -c 'import osmem_server' 2>/dev/null; then
  echo "installing osmem-server (the test suite's OpenSearch server)" >&2
  python3 -m pip install --quiet 'osmem-server==0.1.6'
fi
bin="${SONAR_OSMEM_BIN:-$(python3 -c 'import osmem_server; print(osmem_server.resolve_binary())')}"

cargo build --release --locked -q -p sonar-eval --example server_fetch_bench

log="$(mktemp)"
"$bin" -addr 127.0.0.1:0 -no-ja -no-stdin-watch -parent-pid $$ >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  [ -s "$log" ] && break
  sleep 0.1
done
url="$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$log")"
echo "osmem-server $("$bin" -version 2>&1 | head -1) at $url; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

"${CARGO_TARGET_DIR:-target}/release/examples/server_fetch_bench" --url "$url" --alerts "$alerts" --repeat "$repeat" --page-sizes "$page_sizes"
