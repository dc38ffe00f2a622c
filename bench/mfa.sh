#!/usr/bin/env bash
# Code + PKCE flows with an existing SSO session, for a user without a
# second factor and for one with two-step verification on (TOTP), on the
# same server: the second-factor policy must stay off the hot path of a
# session that already has what it needs (issue 12: at most 5 % fewer
# flows/s). The two users alternate, RUNS times each, on SQLite and on
# PostgreSQL; the server is pinned to CPU 0, the load generator to CPU 1.
#
#   bench/mfa.sh [DURATION_SECS] [RUNS]        (needs taskset; builds --release)
#   BENCH_BIN=… BENCH_FLOW=… bench/mfa.sh   (binaries built already)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
RUNS=${2:-3}

TARGET=${CARGO_TARGET_DIR:-target}
if [ -z "${BENCH_BIN:-}" ] || [ -z "${BENCH_FLOW:-}" ]; then
  cargo build --release -q -p frontdesk --bin frontdesk --example flow_bench
fi
BIN=${BENCH_BIN:-$TARGET/release/frontdesk}
FLOW=${BENCH_FLOW:-$TARGET/release/examples/flow_bench}

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# require_mfa is the default, "if_enrolled": bench-mfa's every flow asks
# whether the session has the second factor; bench's flows need none.
cat > "$work/frontdesk.toml" <<TOML
log_level = "warn"
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

[[users]]
username = "bench-mfa"
password = "bench-password-123"
TOML

wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "# $(date -u +%FT%TZ) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# flow_bench c=16 on CPU 1, server on CPU 0, ${DUR}s per run, $RUNS runs per user, alternating"

for db in sqlite postgres; do
  if [ "$db" = postgres ]; then
    command -v psql >/dev/null && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null || { echo "postgres: skipped"; continue; }
    psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS frontdesk_bench_mfa" -c "CREATE DATABASE frontdesk_bench_mfa"
    DBURL=postgres://postgres@127.0.0.1:5432/frontdesk_bench_mfa
  else
    DBURL=sqlite://$work/frontdesk.db
  fi
  taskset -c 0 "$BIN" --config "$work/frontdesk.toml" --data-dir "$work/data-$db" --database "$DBURL" \
    serve --listen 127.0.0.1:9095 >/dev/null &
  pid=$!
  wait_port 9095
  sleep 1
  : > "$work/plain"; : > "$work/mfa"
  # A B B A …: each run adds its flows' grants to the database, so the
  # order alternates, and neither user always runs on the fuller one.
  for i in $(seq 1 "$RUNS"); do
    if [ $((i % 2)) -eq 1 ]; then order="plain mfa"; else order="mfa plain"; fi
    for who in $order; do
      if [ "$who" = plain ]; then
        r=$(taskset -c 1 "$FLOW" http://127.0.0.1:9095 16 "$DUR" | grep RESULT)
        echo "frontdesk-$db run $i password only:  $r"
      else
        # flow_bench enrols bench-mfa from the account page, then runs;
        # the CLI then turns it off again for the next run to enrol afresh.
        r=$(taskset -c 1 "$FLOW" http://127.0.0.1:9095 16 "$DUR" mfa | grep RESULT)
        echo "frontdesk-$db run $i two-step on:    $r"
        "$BIN" --config "$work/frontdesk.toml" --data-dir "$work/data-$db" --database "$DBURL" \
          users reset-mfa bench-mfa >/dev/null
      fi
      echo "$r" | sed 's/.*flows_per_sec=\([0-9]*\).*/\1/' >> "$work/$who"
    done
  done
  p=$(median < "$work/plain"); m=$(median < "$work/mfa")
  echo "frontdesk-$db median flows/s: password only $p, two-step on $m, ratio $(awk -v a="$m" -v b="$p" 'BEGIN {printf "%.3f", a / b}')"
  kill $pid; wait $pid 2>/dev/null || true
done
