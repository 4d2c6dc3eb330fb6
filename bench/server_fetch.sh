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

cargo build --release --locked -q -p sonar-eval --example server_fetch_bench

. bench/osmem.sh
trap stop_osmem EXIT

"${CARGO_TARGET_DIR:-target}/release/examples/server_fetch_bench" --url "$url" --alerts "$alerts" --repeat "$repeat" --page-sizes "$page_sizes"
