#!/usr/bin/env bash
# The Python package's tests (crates/sonar-py): builds and installs the package the way the
# README says (`pip install crates/sonar-py`) into a fresh venv, then runs pytest
# (crates/sonar-py/tests: the seed's quick start in debug mode, the golden fixtures through
# Python, a round trip against osmem-server, errors as exceptions).
#
# The wheel is built with the dev profile (MATURIN_PEP517_ARGS) into the workspace's target
# directory, so it reuses the dependencies `cargo test` compiled (opt-level 3, see the
# workspace Cargo.toml); `pip install crates/sonar-py` without it builds the release profile.
# Called by scripts/test.sh; SONAR_OSMEM_BIN must name the osmem-server binary.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$(pwd)/target}"
venv="$target/sonar-py-test-venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet 'pytest>=7' 'pandas>=1.5'

# The wheel reuses `cargo test`'s dependency artifacts only if it resolves the same features
# (crates/sonar-py/Cargo.toml, "workspace hack"); say so when they drift apart.
feature_sets() { cargo tree --locked "$@" --prefix none -f '{p} [{f}]' 2>/dev/null | sed 's/ (\*)$//' | sort -u; }
drift=$(comm -13 <(feature_sets --workspace -e normal,build,dev) <(feature_sets -p sonar-py -e normal,build) | head -5 || true)
if [ -n "$drift" ]; then
  echo "warning: sonar-py resolves other features than the workspace for these crates (the wheel build recompiles them):" >&2
  echo "$drift" >&2
fi

started=$(date +%s)
MATURIN_PEP517_ARGS="--profile dev --locked" CARGO_TARGET_DIR="$target" \
  "$venv/bin/python" -m pip install --quiet ./crates/sonar-py
echo "sonar-py: wheel built and installed in $(( $(date +%s) - started )) s"

# From the repository root, never from crates/sonar-py: the tests import the installed
# package, not python/sonar.
"$venv/bin/python" -m pytest -q -p no:cacheprovider crates/sonar-py/tests
