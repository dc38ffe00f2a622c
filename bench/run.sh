#!/usr/bin/env bash
# Client-credentials throughput of `frontdesk serve` next to the ceiling of a
# bare axum handler that signs one ES256 JWT per request (same run, same
# machine). Each server is pinned to CPU 0, the load generator (wrk) to CPU 1.
#
#   bench/run.sh [DURATION_SECS]        (needs: wrk, taskset; builds --release)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-15}
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }

cargo build --release -q -p frontdesk --bin frontdesk --example es256_ceiling --example flow_bench --example dpop_proofs
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/frontdesk
CEIL=$TARGET/release/examples/es256_ceiling
FLOW=$TARGET/release/examples/flow_bench
PROOFS=$TARGET/release/examples/dpop_proofs

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/frontdesk.toml" <<TOML
log_level = "warn"
[[clients]]
client_id = "order-service"
client_secret = "order-service-secret-0123456789"
client_name = "Order Service"
grant_types = ["client_credentials"]
scope = "charge:customer"
audience = ["https://payments.example.com"]

[[clients]]
client_id = "bench-app"
client_secret = "bench-app-secret-0123456789"
client_name = "Bench App"
first_party = true
grant_types = ["authorization_code"]
redirect_uris = ["https://bench.example.com/cb"]
scope = "openid profile"

[[users]]
username = "bench"
password = "bench-password-123"
TOML

wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
rss_kb() { awk '/VmRSS/ {print $2}' /proc/$1/status; }

run_wrk() { # url connections
  taskset -c 1 wrk -t1 -c"$2" -d"${DUR}s" --latency -s bench/token.lua "$1" | grep RESULT
}

echo "# $(date -u +%FT%TZ) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# wrk -t1 on CPU 1, server on CPU 0, ${DUR}s per run"

taskset -c 0 "$CEIL" 127.0.0.1:9090 >/dev/null &
wait_port 9090
for c in 16 64; do echo "ceiling   c=$c $(run_wrk http://127.0.0.1:9090/token $c)"; done
kill %1; wait %1 2>/dev/null || true

for db in sqlite postgres; do
  if [ "$db" = postgres ]; then
    command -v psql >/dev/null && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null || { echo "postgres: skipped"; continue; }
    psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS frontdesk_bench" -c "CREATE DATABASE frontdesk_bench"
    DBURL=postgres://postgres@127.0.0.1:5432/frontdesk_bench
  else
    DBURL=sqlite://$work/frontdesk.db
  fi
  taskset -c 0 "$BIN" --config "$work/frontdesk.toml" --data-dir "$work/data-$db" --database "$DBURL" \
    serve --listen 127.0.0.1:9091 >/dev/null &
  pid=$!
  wait_port 9091
  sleep 2
  echo "frontdesk-$db idle RSS: $(rss_kb $pid) kB"
  for c in 16 64; do echo "frontdesk-$db c=$c $(run_wrk http://127.0.0.1:9091/token $c)"; done
  # DPoP (RFC 9449): the same requests with a fresh proof each, made before
  # the run (on CPU 1, while the server idles), so wrk signs nothing.
  for c in 16 64; do
    taskset -c 1 "$PROOFS" http://127.0.0.1:9091/token $((DUR * 20000)) > "$work/proofs"
    echo "frontdesk-$db DPoP c=$c $(DPOP_PROOFS=$work/proofs taskset -c 1 wrk -t1 -c$c -d${DUR}s --latency -s bench/dpop.lua http://127.0.0.1:9091/token | grep RESULT)"
  done
  for c in 16; do echo "frontdesk-$db code+PKCE flows c=$c $(taskset -c 1 "$FLOW" http://127.0.0.1:9091 $c "$DUR" | grep RESULT)"; done
  echo "frontdesk-$db RSS after load: $(rss_kb $pid) kB"
  kill $pid; wait $pid 2>/dev/null || true
done
