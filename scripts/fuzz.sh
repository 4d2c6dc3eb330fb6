#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/: the alert parser, the model-file loader) for a bounded
# time. Not part of CI (it needs nightly and minutes of CPU). Installs the nightly toolchain
# and cargo-fuzz when missing, seeds the corpora (demo alerts, golden models), and prints each
# target's result; a crash leaves its input under fuzz/artifacts/<target>/ and fails the script.
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(alert_parser model_loader)

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "installing the nightly toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

# Seeds: a slice of each bundled demo alert file, and every golden model in the fuzz input
# layout [u32 LE meta length][model_meta.json][model.safetensors].
mkdir -p fuzz/corpus/alert_parser fuzz/corpus/model_loader
for f in demo/*.ndjson; do
  [ -e "$f" ] || continue
  { printf '\x00'; head -n 20 "$f"; } > "fuzz/corpus/alert_parser/seed-$(basename "$f")"
done
python3 - <<'PY'
import pathlib, struct
for d in sorted(pathlib.Path("crates/sonar-mvad/tests/golden").iterdir()):
    meta, weights = d / "model_meta.json", d / "model.safetensors"
    if meta.exists() and weights.exists():
        m = meta.read_bytes()
        out = pathlib.Path("fuzz/corpus/model_loader") / f"seed-{d.name}"
        out.write_bytes(struct.pack("<I", len(m)) + m + weights.read_bytes())
PY

status=0
for target in "${targets[@]}"; do
  max_len=65536
  [ "$target" = model_loader ] && max_len=2000000
  echo "== fuzz $target for ${seconds}s"
  log="fuzz/$target.log"
  # No sanitizer: the crates forbid unsafe code, so ASan would add build time, not findings;
  # panics, overflows (debug assertions are on) and runaway allocations still crash.
  if cargo +nightly fuzz run --fuzz-dir fuzz --sanitizer none "$target" -- \
      -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=4096 -print_final_stats=1 \
      >"$log" 2>&1; then
    echo "   no crash; $(grep -E '^stat::number_of_executed_units' "$log" | tail -1)"
  else
    status=1
    echo "   CRASH or error: see $log and fuzz/artifacts/$target/"
    tail -40 "$log"
  fi
done
exit $status
