#!/usr/bin/env bash
# What the canary's ring of recent requests (static `canary`) costs on the request path: nginx, the
# gateway example without a canary, and the same with `canary.requests: 1000`, side by side as in the
# peer harness (proxy on core 1, backend and wrk on core 0, keep-alive, 64 connections), rounds
# interleaved. Prints requests per proxy CPU-second per round, their medians and the paired ratio;
# then instructions per request of both gateways under callgrind (valgrind: deterministic, unlike time
# on a shared machine; this machine's VM offers no hardware counters to `perf stat`).
#   benches/load/canary.sh [seconds per run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-5}; ROUNDS=${2:-5}
P=${BENCH_PEERS:-../shared/bench/peers}
. benches/load/common.sh

cargo build -q --release --example gateway
declare -A PORT=([nginx]=8081 [switchyard]=8090 [canary]=8093)
for name in switchyard canary; do
  printf 'entryPoints:\n  web:\n    address: "127.0.0.1:%s"\nproviders:\n  file:\n    filename: "%s"\n    watch: false\n' \
    "${PORT[$name]}" "$PWD/benches/load/routes-1.yml" >"$W/static-$name.yml"
done
printf 'canary:\n  requests: 1000\n' >>"$W/static-canary.yml"
taskset -c 0 nginx -c "$(realpath "$P")/backend-nginx.conf" -p "$W" & PIDS+=($!)
wait_port 9000
taskset -c 1 nginx -c "$(realpath "$P")/nginx.conf" -p "$W" & PIDS+=($!); NGINX=$!
taskset -c 1 target/release/examples/gateway --workers 1 --config "$W/static-switchyard.yml" >"$W/plain.log" 2>&1 & PIDS+=($!); PLAIN=$!
taskset -c 1 target/release/examples/gateway --workers 1 --config "$W/static-canary.yml" >"$W/canary.log" 2>&1 & PIDS+=($!); CANARY=$!
wait_port 8081; wait_port 8090; wait_port 8093
declare -A PID=([nginx]=$NGINX [switchyard]=$PLAIN [canary]=$CANARY)
TARGETS="nginx switchyard canary"
interleaved_rounds
paired_summary switchyard

# Instructions per request under callgrind: each gateway alone, warmed up, counters zeroed, then the
# requests wrk sends on 4 connections in $DUR seconds.
kill "$PLAIN" "$CANARY"; wait "$PLAIN" "$CANARY" 2>/dev/null || true
for name in switchyard canary; do
  port=${PORT[$name]}
  valgrind --tool=callgrind --callgrind-out-file="$W/cg.$name" \
    target/release/examples/gateway --workers 1 --config "$W/static-$name.yml" >"$W/cg-$name.log" 2>&1 & PIDS+=($!); VG=$!
  for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
  taskset -c 0 wrk -t1 -c4 -d3s "http://127.0.0.1:$port/" >/dev/null
  callgrind_control -z "$VG" >/dev/null 2>&1
  n=$(taskset -c 0 wrk -t1 -c4 -d"${DUR}s" "http://127.0.0.1:$port/" | awk '/requests in/ {print $1}')
  callgrind_control -d "$VG" >/dev/null 2>&1
  sleep 1
  ir=$(cat "$W/cg.$name".[0-9]* | awk '/^summary:/ {s += $2} END {print s + 0}')
  kill "$VG"; wait "$VG" 2>/dev/null || true
  awk -v t="$name" -v n="$n" -v ir="$ir" 'BEGIN { printf "callgrind, %s: %d requests, %.0f instructions per request\n", t, n, ir / n }'
done
