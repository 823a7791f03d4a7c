#!/usr/bin/env bash
# TCP forwarding side by side: HAProxy (`mode tcp`), nginx (`stream`, Debian's libnginx-mod-stream) and
# switchyard (a ``HostSNI(`*`)`` TCP router), each a plain TCP proxy on core 1 in front of the same nginx
# backend; the load and the backend share core 0. Two loads per round:
#   short — wrk with `Connection: close` and 64 connections: every request is a new client connection
#           and a new backend connection; connections per second and per proxy CPU-second, p99;
#   bulk  — 1 GiB fetched with curl through the proxy, three times: bytes per proxy CPU-second.
#   benches/load/tcp.sh [seconds per run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-5}; ROUNDS=${2:-3}
. benches/load/common.sh

command -v haproxy >/dev/null || { echo "install haproxy (apt-get install haproxy)" >&2; exit 1; }
STREAM=/usr/lib/nginx/modules/ngx_stream_module.so
[ -f "$STREAM" ] || { echo "install libnginx-mod-stream (apt-get install libnginx-mod-stream)" >&2; exit 1; }
cargo build -q --release --example gateway

truncate -s 1G "$W/big"; chmod 755 "$W"; chmod 644 "$W/big"  # nginx workers read it as another user
cat >"$W/backend.conf" <<NGINX
worker_processes 1;
daemon off;
pid $W/backend.pid;
error_log $W/backend.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:9100 backlog=4096 reuseport;
    location = /big { root $W; default_type application/octet-stream; }
    location / { default_type text/plain; return 200 "hello, world\n"; }
  }
}
NGINX
cat >"$W/stream.conf" <<NGINX
load_module $STREAM;
worker_processes 1;
daemon off;
pid $W/stream.pid;
error_log $W/stream.err warn;
events { worker_connections 4096; }
stream {
  server {
    listen 127.0.0.1:8201 backlog=4096;
    proxy_pass 127.0.0.1:9100;
    proxy_buffer_size 32k;
  }
}
NGINX
cat >"$W/haproxy.cfg" <<CFG
global
  nbthread 1
  maxconn 8192
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:8202
  default_backend be
backend be
  server b1 127.0.0.1:9100
CFG
cat >"$W/dynamic.yml" <<YAML
tcp:
  routers:
    all:
      rule: "HostSNI(\`*\`)"
      service: backend
  services:
    backend:
      loadBalancer:
        servers:
          - address: "127.0.0.1:9100"
YAML
printf 'entryPoints:\n  tcp:\n    address: "127.0.0.1:8203"\nproviders:\n  file:\n    filename: "%s"\n    watch: false\n' \
  "$W/dynamic.yml" >"$W/static.yml"

taskset -c 0 nginx -c "$W/backend.conf" -p "$W" & PIDS+=($!)
wait_port 9100
taskset -c 1 nginx -c "$W/stream.conf" -p "$W" & PIDS+=($!); NGINX=$!
taskset -c 1 haproxy -f "$W/haproxy.cfg" & PIDS+=($!); HAPROXY=$!
taskset -c 1 target/release/examples/gateway --workers 1 --config "$W/static.yml" >"$W/gw.log" 2>&1 & PIDS+=($!); GW=$!
wait_port 8201; wait_port 8202; wait_port 8203
TARGETS="haproxy nginx switchyard"
declare -A PID=([nginx]=$NGINX [haproxy]=$HAPROXY [switchyard]=$GW) PORT=([nginx]=8201 [haproxy]=8202 [switchyard]=8203)
for t in $TARGETS; do
  curl -sf "http://127.0.0.1:${PORT[$t]}/" >/dev/null || { echo "$t does not forward" >&2; cat "$W/gw.log" >&2; exit 1; }
  taskset -c 0 wrk -t1 -c64 -d1s -H "Connection: close" "http://127.0.0.1:${PORT[$t]}/" >/dev/null
done
cpu() { read -r u s < <(ticks "$1"); echo $((u + s)); }
printf '| round | target | load | per second | per proxy CPU-second | p99 ms |\n|---|---|---|---:|---:|---:|\n'
for r in $(seq "$ROUNDS"); do
  for t in $TARGETS; do
    c0=$(cpu "${PID[$t]}")
    out=$(taskset -c 0 wrk -t1 -c64 -d"${DUR}s" --latency -H "Connection: close" "http://127.0.0.1:${PORT[$t]}/")
    c1=$(cpu "${PID[$t]}")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    errors=$(awk '/Socket errors|Non-2xx/ {print}' <<<"$out" | tr '\n' ' ')
    p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; print v}' <<<"$out")
    awk -v r="$r" -v t="$t" -v n="$n" -v c=$((c1 - c0)) -v hz="$HZ" -v d="$DUR" -v p="$p99" -v e="$errors" 'BEGIN {
      printf "| %s | %s | short connections | %.0f | %.0f | %s |%s\n", r, t, n / d, n / (c / hz), p, (e == "" ? "" : " " e) }'
  done
  for t in $TARGETS; do
    c0=$(cpu "${PID[$t]}"); t0=$(date +%s.%N)
    for _ in 1 2 3; do taskset -c 0 curl -sSf -o /dev/null "http://127.0.0.1:${PORT[$t]}/big"; done
    c1=$(cpu "${PID[$t]}"); t1=$(date +%s.%N)
    awk -v r="$r" -v t="$t" -v c=$((c1 - c0)) -v hz="$HZ" -v t0="$t0" -v t1="$t1" 'BEGIN {
      s = t1 - t0; b = 3 * 1024 * 1024 * 1024; printf "| %s | %s | 1 GiB transfers | %.0f MiB | %.0f MiB |  |\n", r, t, b / s / 1048576, b / (c / hz) / 1048576 }'
  done
done
