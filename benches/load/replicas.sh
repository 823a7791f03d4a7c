#!/usr/bin/env bash
# The replica kit: three gateways against one real redis-server (started by the tests on free ports) and
# three Ingress providers against one test API server, run in turn, printing the figures the tests
# assert on:
# - rateLimit.redis: a limit of 100/s (burst 50) holds across the three gateways within 5%, on one
#   Redis and on a three-master Redis Cluster; Redis frozen, then killed mid-load: every request gets
#   500 within readTimeout + writeTimeout (no hang), /metrics counts each, limiting resumes within a
#   second of Redis coming back; with allowOnError requests are forwarded.
# - leader election: the status leader is killed between two renewals; another takes over within the
#   Lease duration of its death, as soon as its Lease expires, and each Ingress status is written once.
#   benches/load/replicas.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-1}
command -v redis-server >/dev/null || { echo "redis-server is missing (apt-get install -y redis-server)" >&2; exit 1; }
command -v redis-cli >/dev/null || { echo "redis-cli is missing (apt-get install -y redis-server)" >&2; exit 1; }
cargo test -q -p switchyard-proxy --features metrics --test rate_limit_redis --no-run
cargo test -q -p switchyard-kubernetes --test leader_election --no-run
for r in $(seq "$ROUNDS"); do
  echo "== round $r"
  cargo test -q -p switchyard-proxy --features metrics --test rate_limit_redis -- --nocapture --test-threads 1 2>&1 |
    grep -E 'served|refused|Redis|500|forwarded|keys|test result|panicked'
  cargo test -q -p switchyard-kubernetes --test leader_election -- --nocapture 2>&1 |
    grep -E 'hand-over|test result|panicked'
done
