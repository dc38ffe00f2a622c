#!/usr/bin/env bash
# Resource kit and gateway benchmarks (see bench/README.md, "Resource kit and gateway").
#
#  1. Validator::validate vs frontdesk_jose::verify, ES256, one thread on CPU 0.
#  2. The gateway's added latency: wrk on CPU 1 calls the demo API directly
#     and through the gateway (local route), once with the gateway's memory of
#     verified tokens (the default) and once without; gateways + demo API on CPU 0,
#     frontdesk serve on CPU 0 (idle on local routes after the JWKS fetch).
#
#   bench/resource.sh [DURATION_SECS]     (needs: wrk, taskset; builds --release)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-15}
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }

cargo build --release -q -p frontdesk --bin frontdesk -p frontdesk-resource --example validate_bench
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/frontdesk

echo "# $(date -u +%FT%TZ) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "## Validator vs raw verify (1 thread, CPU 0, best of 4 x 2 s)"
taskset -c 0 "$TARGET/release/examples/validate_bench"

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }

cat > "$work/frontdesk.toml" <<TOML
log_level = "warn"
[[clients]]
client_id = "order-service"
client_secret = "order-service-secret-0123456789"
client_name = "Order Service"
grant_types = ["client_credentials"]
scope = "photos:read charge:customer"
audience = ["https://photos.example.com", "https://payments.example.com"]
TOML
taskset -c 0 "$BIN" --config "$work/frontdesk.toml" --data-dir "$work/data" \
  serve --listen 127.0.0.1:9191 --issuer http://127.0.0.1:9191 >/dev/null &
wait_port 9191
taskset -c 0 "$BIN" demo-api --listen 127.0.0.1:9192 >/dev/null 2>&1 &
wait_port 9192
cat > "$work/gateway.toml" <<TOML
listen = "127.0.0.1:9193"
issuer = "http://127.0.0.1:9191"
log_level = "warn"
metrics_listen = "127.0.0.1:9195"
[[routes]]
method = "GET"
path_prefix = "/photos"
upstream = "http://127.0.0.1:9192"
audience = "https://photos.example.com"
scopes = ["photos:read"]
mode = "local"
TOML
taskset -c 0 "$BIN" gateway --config "$work/gateway.toml" >/dev/null 2>&1 &
wait_port 9193
# The same gateway without its memory of verified tokens: every request
# verifies the ES256 signature (what a never-seen-before token costs).
sed -e 's/9193/9194/' -e 's/9195/9196/' -e 's/^log_level = "warn"$/log_level = "warn"\nverified_cache_max_entries = 0/' \
  "$work/gateway.toml" > "$work/gateway-nocache.toml"
taskset -c 0 "$BIN" gateway --config "$work/gateway-nocache.toml" >/dev/null 2>&1 &
wait_port 9194

TOKEN=$(curl -s -u order-service:order-service-secret-0123456789 http://127.0.0.1:9191/token \
  -d grant_type=client_credentials -d scope=photos:read -d resource=https://photos.example.com \
  | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
for port in 9193 9194; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" http://127.0.0.1:$port/photos)" = 200 ]
done

run() { # label url connections auth xf
  BENCH_AUTH=$4 BENCH_XF=$5 taskset -c 1 wrk -t1 -c"$3" -d"${DUR}s" --latency -s bench/get.lua "$2" \
    | grep RESULT | sed "s/^RESULT/$1 c=$3/"
}
echo "## Gateway added latency (wrk -t1 on CPU 1; gateway + demo API on CPU 0; ${DUR}s per run)"
for c in 1 16; do
  run "direct          " http://127.0.0.1:9192/photos "$c" "" 1
  run "gateway         " http://127.0.0.1:9193/photos "$c" "Bearer $TOKEN" 0
  run "gateway no cache" http://127.0.0.1:9194/photos "$c" "Bearer $TOKEN" 0
done
curl -s http://127.0.0.1:9195/metrics | grep -E '^frontdesk_gateway_(local_checks_total|verified_cache_entries)'
