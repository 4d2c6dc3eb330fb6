#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the integration tests need
# (osmem-server, the in-memory OpenSearch used as a real server on loopback), then runs
# every test of the workspace. Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import osmem_server' 2>/dev/null; then
  echo "installing osmem-server (integration-test OpenSearch server)"
  python3 -m pip install --quiet 'osmem-server==0.1.6'
fi
export SONAR_OSMEM_BIN="${SONAR_OSMEM_BIN:-$(python3 -c 'import osmem_server; print(osmem_server.resolve_binary())')}"

cargo test --workspace --locked "$@"
