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

# Interleaved rounds: each of $TARGETS (ports in the PORT array, processes in PID) driven by wrk on
# core 0 for $DUR seconds, round after round ($ROUNDS), after a 1 s warm-up each. Prints a row per run
# (round, target, requests, requests per proxy CPU-second) and keeps the rows in $W/rows.
interleaved_rounds() {
  local r t n u0 s0 u1 s1
  for t in $TARGETS; do taskset -c 0 wrk -t1 -c64 -d1s "http://127.0.0.1:${PORT[$t]}/" >/dev/null; done
  printf '| round | target | requests | req per CPU-s |\n|---|---|---|---|\n'
  for r in $(seq "$ROUNDS"); do
    for t in $TARGETS; do
      read -r u0 s0 < <(ticks "${PID[$t]}")
      n=$(taskset -c 0 wrk -t1 -c64 -d"${DUR}s" "http://127.0.0.1:${PORT[$t]}/" | awk '/requests in/ {print $1}')
      read -r u1 s1 < <(ticks "${PID[$t]}")
      awk -v r="$r" -v t="$t" -v n="$n" -v c=$((u1 - u0 + s1 - s0)) -v hz="$HZ" 'BEGIN {
        printf "| %s | %s | %d | %.0f |\n", r, t, n, n / (c / hz) }' | tee -a "$W/rows"
    done
  done
}

# After interleaved_rounds: each target's median requests per CPU-second, and each target after
# `base` as a ratio to `base`, paired per round (median of the rounds' ratios).
#   paired_summary BASE
paired_summary() {
  awk -F'|' -v base="$1" -v targets="$TARGETS" '
    { t = $3; gsub(/ /, "", t); rate[t, $2 + 0] = $5 + 0; if ($2 + 0 > rounds) rounds = $2 + 0 }
    function median(a, n,   i, j, x) {
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    END {
      count = split(targets, names, " ")
      printf "\nmedians over %d rounds, req per CPU-s:", rounds
      for (k = 1; k <= count; k++) { for (r = 1; r <= rounds; r++) v[r] = rate[names[k], r]; printf " %s %.0f", names[k], median(v, rounds) }
      printf "\n"
      after = 0
      for (k = 1; k <= count; k++) {
        if (after) {
          for (r = 1; r <= rounds; r++) v[r] = rate[names[k], r] / rate[base, r]
          printf "%s / %s, paired per round, median: %.3f\n", names[k], base, median(v, rounds)
        }
        if (names[k] == base) after = 1
      }
    }' "$W/rows"
}
