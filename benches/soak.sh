#!/usr/bin/env bash
# Soak (not in CI): mixed load through the gateway example for 10 minutes (or the seconds given) while
# the file configuration is rewritten every second and one backend in turn dies for 5 s every 20 s.
# Load: HTTP/1.1 keep-alive, a new connection per request, TLS keep-alive, h2 cleartext, WebSocket
# echoes and 256 KiB uploads (the driver is benches/src/bin/soak.rs; the backends live in it). Prints
# per minute requests, failures by cause, p50/p99, and the gateway's RSS and descriptors; then which
# failures a dead backend explains and which it does not.
#   benches/soak.sh [seconds] [gateway workers]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}; WORKERS=${2:-1}
. benches/load/common.sh
cargo build -q --release --example gateway
cargo build -q --release -p switchyard-benches --bin soak

HTTP=8301; HTTPS=8302
mkdir -p "$W/dynamic"
cat >"$W/static.yml" <<YAML
entryPoints:
  web:
    address: "127.0.0.1:$HTTP"
  websecure:
    address: "127.0.0.1:$HTTPS"
providers:
  file:
    directory: "$W/dynamic"
    watch: true
log:
  level: WARN
YAML
target/release/examples/gateway --config "$W/static.yml" --workers "$WORKERS" 2>"$W/gateway.err" &
GATEWAY=$!; PIDS+=("$GATEWAY")
wait_port "$HTTP"
ulimit -n 65536 2>/dev/null || true
start_ticks=$(ticks "$GATEWAY")
target/release/soak --http "127.0.0.1:$HTTP" --https "127.0.0.1:$HTTPS" --dir "$W/dynamic" \
    --pid "$GATEWAY" --secs "$SECS"
read -r u0 s0 <<<"$start_ticks"; read -r u1 s1 < <(ticks "$GATEWAY")
echo "gateway CPU: user $(((u1 - u0) / HZ)) s, system $(((s1 - s0) / HZ)) s over $SECS s"
echo "gateway log lines at WARN or above: $(wc -l <"$W/gateway.err")"
grep -v -i "health\|unreachable\|connection refused" "$W/gateway.err" | sort | uniq -c | sort -rn | head -10 || true
