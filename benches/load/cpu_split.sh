#!/usr/bin/env bash
# Where a proxy's CPU goes per request: user space versus kernel, nginx beside switchyard, same setup as
# the peer harness (proxy on core 1, backend and wrk on core 0, keep-alive, 64 connections).
#   benches/load/cpu_split.sh [seconds per run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-5}; ROUNDS=${2:-3}
P=${BENCH_PEERS:-../shared/bench/peers}
. benches/load/common.sh

cargo build -q --release --example gateway
printf 'entryPoints:\n  web:\n    address: "127.0.0.1:8090"\nproviders:\n  file:\n    filename: "%s"\n    watch: false\n' \
  "$PWD/benches/load/routes-1.yml" >"$W/static.yml"
taskset -c 0 nginx -c "$(realpath "$P")/backend-nginx.conf" -p "$W" & PIDS+=($!)
wait_port 9000
taskset -c 1 nginx -c "$(realpath "$P")/nginx.conf" -p "$W" & PIDS+=($!); NGINX=$!
taskset -c 1 target/release/examples/gateway --workers 1 --config "$W/static.yml" >"$W/gw.log" 2>&1 & PIDS+=($!); GW=$!
wait_port 8081; wait_port 8090
declare -A PID=([nginx]=$NGINX [switchyard]=$GW) PORT=([nginx]=8081 [switchyard]=8090)
for t in nginx switchyard; do taskset -c 0 wrk -t1 -c64 -d1s "http://127.0.0.1:${PORT[$t]}/" >/dev/null; done
printf '| round | target | requests | user µs/req | kernel µs/req | total µs/req | kernel share |\n|---|---|---|---|---|---|---|\n'
for r in $(seq "$ROUNDS"); do
  for t in nginx switchyard; do
    read -r u0 s0 < <(ticks "${PID[$t]}")
    n=$(taskset -c 0 wrk -t1 -c64 -d"${DUR}s" "http://127.0.0.1:${PORT[$t]}/" | awk '/requests in/ {print $1}')
    read -r u1 s1 < <(ticks "${PID[$t]}")
    awk -v r="$r" -v t="$t" -v n="$n" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$HZ" 'BEGIN {
      us = u / hz * 1e6 / n; ks = s / hz * 1e6 / n;
      printf "| %s | %s | %d | %.2f | %.2f | %.2f | %.0f%% |\n", r, t, n, us, ks, us + ks, 100 * ks / (us + ks) }'
  done
done
