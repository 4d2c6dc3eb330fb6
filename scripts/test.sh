#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the integration tests need
# (osmem-server, the in-memory OpenSearch used as a real server on loopback; nginx for the
# TLS/auth tests), then runs every test of the workspace, the Python package's tests
# (scripts/python_test.sh: pip install crates/sonar-py into a fresh venv, pytest) and the
# Debian package test (scripts/package_test.sh, which installs cargo-deb). Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import osmem_server' 2>/dev/null; then
  echo "installing osmem-server (integration-test OpenSearch server)"
  python3 -m pip install --quiet 'osmem-server==0.1.6'
fi
export SONAR_OSMEM_BIN="${SONAR_OSMEM_BIN:-$(python3 -c 'import osmem_server; print(osmem_server.resolve_binary())')}"

# nginx (Debian package) terminates TLS and checks basic auth in front of osmem in the TLS
# tests (crates/sonar/tests/it/tls.rs). The tests run it unprivileged in a temp directory;
# only this install needs root. With CI set, the tests fail (not skip) when it is missing.
nginx_bin="$(command -v nginx || true)"
[ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx
if [ -z "$nginx_bin" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing nginx (TLS + basic-auth proxy for the integration tests)"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  # Only the binary is needed: the service apt may start (or policy-rc.d forbid) is unused.
  install_nginx() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx openssl; }
  install_nginx || { $sudo apt-get update && install_nginx; } || echo "warning: apt-get could not install nginx"
  [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx
fi
if [ -n "$nginx_bin" ]; then
  export SONAR_NGINX_BIN="${SONAR_NGINX_BIN:-$nginx_bin}"
else
  echo "warning: nginx not available: the TLS tests will skip (or fail when CI is set)"
fi

cargo test --workspace --locked "$@"

# The Python package (crates/sonar-py): built by pip into a fresh venv, then pytest.
scripts/python_test.sh

# The Debian package (scripts/package.sh) from the debug binary the tests built: file list,
# conffiles, maintainer script, systemd unit.
if command -v dpkg-deb >/dev/null 2>&1; then
  scripts/package_test.sh
elif [ -n "${CI:-}" ]; then
  echo "error: dpkg-deb is missing: the package test cannot run" >&2
  exit 1
else
  echo "warning: dpkg-deb not available: the package test is skipped"
fi
