#!/usr/bin/env bash
# What metrics (`metrics.prometheus`) and the access log (`accessLog` to a file) cost on the request
# path: nginx, the gateway example with neither, with metrics, and with the access log, side by side as
# in the peer harness (proxy on core 1, backend and wrk on core 0, keep-alive, 64 connections), rounds
# interleaved. Prints requests per proxy CPU-second per round, their medians and each cost as a ratio
# to the plain gateway paired per round (the targets of the observability issue: metrics < 3%, access
# log < 5%).
#   benches/load/observe.sh [seconds per run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-4}; ROUNDS=${2:-9}
P=${BENCH_PEERS:-../shared/bench/peers}
. benches/load/common.sh

cargo build -q --release --example gateway
declare -A PORT=([nginx]=8081 [switchyard]=8090 [metrics]=8096 [accesslog]=8097)
for name in switchyard metrics accesslog; do
  printf 'entryPoints:\n  web:\n    address: "127.0.0.1:%s"\nproviders:\n  file:\n    filename: "%s"\n    watch: false\n' \
    "${PORT[$name]}" "$PWD/benches/load/routes-1.yml" >"$W/static-$name.yml"
done
printf 'metrics:\n  prometheus:\n    manualRouting: true\n' >>"$W/static-metrics.yml"
printf 'accessLog:\n  filePath: "%s/access.log"\n' "$W" >>"$W/static-accesslog.yml"
taskset -c 0 nginx -c "$(realpath "$P")/backend-nginx.conf" -p "$W" & PIDS+=($!)
wait_port 9000
taskset -c 1 nginx -c "$(realpath "$P")/nginx.conf" -p "$W" & PIDS+=($!); NGINX=$!
taskset -c 1 target/release/examples/gateway --workers 1 --config "$W/static-switchyard.yml" >"$W/plain.log" 2>&1 & PIDS+=($!); PLAIN=$!
taskset -c 1 target/release/examples/gateway --workers 1 --config "$W/static-metrics.yml" >"$W/metrics.log" 2>&1 & PIDS+=($!); METRICS=$!
taskset -c 1 target/release/examples/gateway --workers 1 --config "$W/static-accesslog.yml" >"$W/accesslog.log" 2>&1 & PIDS+=($!); ACCESS=$!
wait_port 8081; wait_port 8090; wait_port 8096; wait_port 8097
declare -A PID=([nginx]=$NGINX [switchyard]=$PLAIN [metrics]=$METRICS [accesslog]=$ACCESS)
TARGETS="nginx switchyard metrics accesslog"
interleaved_rounds
paired_summary switchyard

