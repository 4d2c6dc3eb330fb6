#!/usr/bin/env bash
# Builds the Debian package target/debian/sonar_<version>-1_<arch>.deb with cargo-deb (installed
# from crates.io when missing): the binary, /etc/sonar/config.yaml and the bundled scenarios as
# conffiles, and sonar.service (README "Install as a service"; metadata in
# crates/sonar-cli/Cargo.toml, files in packaging/).
# Usage: scripts/package.sh [--dev]
#   --dev  package the debug binary the test suite already built (CI's package test) instead
#          of building a release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version >/dev/null 2>&1; then
  echo "installing cargo-deb $CARGO_DEB_VERSION (builds the Debian package)"
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi
if [ "${1:-}" = "--dev" ]; then
  cargo deb -p sonar-cli --no-build --profile dev --no-strip
else
  cargo deb -p sonar-cli
fi
