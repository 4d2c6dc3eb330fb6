# Sourced by the bench scripts that need a server: installs osmem-server (the in-memory
# OpenSearch of the integration tests) when missing, starts it on a free loopback port for the
# life of the calling script, and sets `url` and `osmem_bin`. The caller's EXIT trap must run
# `stop_osmem`.
if ! python3 -c 'import osmem_server' 2>/dev/null; then
  echo "installing osmem-server (the test suite's OpenSearch server)" >&2
  python3 -m pip install --quiet 'osmem-server==0.1.6'
fi
osmem_bin="${SONAR_OSMEM_BIN:-$(python3 -c 'import osmem_server; print(osmem_server.resolve_binary())')}"
osmem_log="$(mktemp)"
"$osmem_bin" -addr 127.0.0.1:0 -no-ja -no-stdin-watch -parent-pid $$ >"$osmem_log" 2>&1 &
osmem_pid=$!
stop_osmem() { kill "$osmem_pid" 2>/dev/null || true; rm -f "$osmem_log"; }
for _ in $(seq 100); do
  [ -s "$osmem_log" ] && break
  sleep 0.1
done
url="$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$osmem_log")"
echo "osmem-server $("$osmem_bin" -version 2>&1 | head -1) at $url; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
