# Shared by the side-by-side scripts in this directory (sourced, not run). Sets up a scratch directory
# $W, processes started with `... & PIDS+=($!)` that are stopped on exit, and helpers to wait for a port
# and to read a process's CPU time.
W=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
HZ=$(getconf CLK_TCK)
ticks() { # "user system": CPU ticks of a process and its children
  local u=0 s=0 p pu ps
  for p in $1 $(pgrep -P "$1" 2>/dev/null); do
    read -r pu ps < <(awk '{print $14, $15}' "/proc/$p/stat")
    u=$((u + pu)); s=$((s + ps))
  done
  echo "$u $s"
}
