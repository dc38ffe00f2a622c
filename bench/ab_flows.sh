#!/usr/bin/env bash
# A/B of code + PKCE flows with an existing SSO session: two frontdesk
# binaries (say, a release build of main and one of an older commit, built
# from a `git worktree`), each serving its own SQLite database pinned to
# CPU 0, driven by flow_bench on CPU 1, alternating A, B, A, B … RUNS times
# each; prints every run and the medians with their ratio B/A.
#
#   bench/ab_flows.sh BIN_A BIN_B FLOW_BENCH [DURATION_SECS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1 B=$2 FLOW=$3 DUR=${4:-10} RUNS=${5:-5}

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
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
TOML

wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "# $(date -u +%FT%TZ) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# A=$A B=$B; flow_bench c=16 on CPU 1, server on CPU 0, SQLite, ${DUR}s per run, $RUNS runs each"
: > "$work/A"; : > "$work/B"
for i in $(seq 1 "$RUNS"); do
  for side in A B; do
    bin=${!side}
    rm -rf "$work/data-$side" "$work/$side.db"*
    taskset -c 0 "$bin" --config "$work/frontdesk.toml" --data-dir "$work/data-$side" \
      --database "sqlite://$work/$side.db" serve --listen 127.0.0.1:9097 >/dev/null &
    pid=$!
    wait_port 9097
    sleep 1
    r=$(taskset -c 1 "$FLOW" http://127.0.0.1:9097 16 "$DUR" | grep RESULT)
    echo "run $i $side: $r"
    echo "$r" | sed 's/.*flows_per_sec=\([0-9]*\).*/\1/' >> "$work/$side"
    kill $pid; wait $pid 2>/dev/null || true
  done
done
a=$(median < "$work/A"); b=$(median < "$work/B")
echo "median flows/s: A $a, B $b, ratio B/A $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b / a}')"
