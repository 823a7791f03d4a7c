#!/usr/bin/env bash
# Runs the peer load harness (../shared/bench/run.sh, or $BENCH_HARNESS) with switchyard's example
# gateway as extra targets: `switchyard` with the same one-router file Traefik gets, `switchyard10k`
# with 10,000 host routers in front of the same catch-all, and `switchyardmw` with that router behind a
# typical middleware stack (routes-stack.yml). Each runs on one core, like the peers.
#   benches/load/run.sh [harness options, e.g. -r 3 -d 5 -t "nginx haproxy traefik"]
set -euo pipefail
cd "$(dirname "$0")/../.."
HARNESS=${BENCH_HARNESS:-../shared/bench/run.sh}
W=/tmp/switchyard-load
mkdir -p "$W"
cargo build --release --example gateway
python3 - "$W" "$PWD/benches/load/routes-1.yml" "$PWD/benches/load/routes-stack.yml" <<'PY'
import sys
w = sys.argv[1]
with open(f"{w}/routes-10k.yml", "w") as f:
    f.write("http:\n  routers:\n")
    for i in range(10000):
        f.write(f"    r{i}:\n      rule: \"Host(`svc{i}.example.com`) && PathPrefix(`/api/v{i}`)\"\n")
        f.write("      service: backend\n      entryPoints: [web]\n")
    f.write("    all:\n      rule: \"PathPrefix(`/`)\"\n      service: backend\n      entryPoints: [web]\n")
    f.write("  services:\n    backend:\n      loadBalancer:\n        servers:\n          - url: \"http://127.0.0.1:9000\"\n")
for name, port, routes in [("one", 8090, sys.argv[2]), ("10k", 8091, f"{w}/routes-10k.yml"), ("stack", 8092, sys.argv[3])]:
    with open(f"{w}/static-{name}.yml", "w") as f:
        f.write(f"entryPoints:\n  web:\n    address: \"127.0.0.1:{port}\"\n")
        f.write(f"providers:\n  file:\n    filename: \"{routes}\"\n    watch: false\n")
PY
BIN=$PWD/target/release/examples/gateway
exec "$HARNESS" "$@" \
  --extra "switchyard=8090=$BIN --workers 1 --config $W/static-one.yml" \
  --extra "switchyard10k=8091=$BIN --workers 1 --config $W/static-10k.yml" \
  --extra "switchyardmw=8092=$BIN --workers 1 --config $W/static-stack.yml"
