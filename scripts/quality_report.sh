#!/usr/bin/env bash
# Detection-quality report: trains our engine and the baselines on the development data in
# ../shared/data and writes docs/quality.md (raw reports: target/quality_report.json).
# Bounded by default (a subset of series, 15 epochs, ≤ 8000 training rows per series);
# pass --full for every development series and all training rows, --epochs N, --only FAMILY
# (SMD, SMAP, MSL, ASD, SKAB, AIT-ADS), --data DIR, --out FILE, --json FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release -p sonar --example quality_report -- "$@"
