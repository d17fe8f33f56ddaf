#!/usr/bin/env bash
# How payglot's cost grows with work: throughput and CPU per request of payglot translating
# (AlpPay -> Cryptomus) and of the plain pingora pass-through (examples/passthrough.rs), for
# request bodies of 0.5, 4, 16 and 60 KiB, with 1 and 2 worker threads, in front of the static
# upstream (examples/static_upstream.rs) on loopback.
#
#     bash scripts/bench-scaling.sh             # table in target/bench-scaling/, plot beside it
#     BENCH_PUBLISH=1 bash scripts/bench-scaling.sh   # also docs/scaling.md and docs/scaling.png
#
# The body is bench/bodies/alppay-request.json grown with a field neither proxy reads (`note`,
# see bench/make-requests.py), so it stays a valid create that payglot verifies (the HMAC covers
# every byte), parses and translates; the Cryptomus body payglot sends stays the same size. The
# pass-through gets the same bytes (signed in Cryptomus's scheme, which the upstream checks for).
# Every request has its own reference (payglot records each create in its index, here on a
# memory filesystem, as payglot-translate in scripts/bench-load.sh).
#
# Max-throughput runs only (wrk -t1 -c32), interleaved rounds, medians. wrk and the static
# upstream run on the same 2 cores as the proxy, so a second worker thread competes with them:
# the 2-thread figures say what a second thread buys on a machine this size, not how payglot
# scales on free cores. Plot: gnuplot (Debian's gnuplot-nox, installed when missing) with
# bench/plot-scaling.gp.
#
# Environment: BENCH_DURATION (s per run, default 4), BENCH_ROUNDS (default 3), BENCH_WARMUP
# (s, default 1), BENCH_CONNECTIONS (default 32), BENCH_MAX_RPS (default 50000),
# BENCH_SIZES (bytes, default "512 4096 16384 61440"), BENCH_THREADS (default "1 2").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOG_TAG=bench-scaling
DURATION=${BENCH_DURATION:-4}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=${BENCH_WARMUP:-1}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
MAX_RPS=${BENCH_MAX_RPS:-50000}
read -r -a SIZES <<<"${BENCH_SIZES:-512 4096 16384 61440}"
read -r -a THREADS <<<"${BENCH_THREADS:-1 2}"
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

install_missing gnuplot:gnuplot-nox
build
start_upstream

for threads in "${THREADS[@]}"; do
  free_port
  log "starting the pingora pass-through ($threads threads) on 127.0.0.1:$PORT"
  start "pingora-passthrough-t$threads" "$PORT" "$BIN/examples/passthrough" "$UPSTREAM" \
    "127.0.0.1:$PORT" "$threads"
  for size in "${SIZES[@]}"; do
    add_target "pingora-passthrough t$threads $size" "http://127.0.0.1:$PORT/cryptomus/v1/payment" \
      alppay "$STARTED_PID" cryptomus "$size"
  done
  start_payglot "payglot-translate-t$threads" bench/payglot-translate.yaml \
    "$MEMDIR/translate-t$threads.redb" warn "$threads"
  for size in "${SIZES[@]}"; do
    add_target "payglot-translate t$threads $size" "http://127.0.0.1:$PAYGLOT_PORT/v2/payment" \
      alppay "$STARTED_PID" alppay "$size"
  done
done

# Every target answers 200 for its body before anything is measured.
for t in "${TARGETS[@]}"; do
  preflight "$t"
done

# References for a run of `seconds`: BENCH_MAX_RPS per second, but at most BENCH_FILE_BYTES
# (default 400 MB) of requests, which wrk holds in memory.
request_count() { # target seconds
  local by_rate=$(( MAX_RPS * $2 )) by_size=$(( ${BENCH_FILE_BYTES:-400000000} / ${PAD[$1]} ))
  echo $(( by_rate < by_size ? by_rate : by_size ))
}

RESULTS=$WORK/results.tsv
: >"$RESULTS"
CLK_TCK=$(getconf CLK_TCK)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
i=0
for t in "${TARGETS[@]}"; do
  i=$((i + 1))
  file=$(make_requests "$t" "w$i" "$(request_count "$t" "$WARMUP")")
  run_wrk "$t" "$file" "$WARMUP" >/dev/null
  rm -f "$file"
done
for round in $(seq 1 "$ROUNDS"); do
  i=0
  for t in "${TARGETS[@]}"; do
    i=$((i + 1))
    measure max "m$round-$i" "$t" "$round" "$(request_count "$t" "$DURATION")" wrk_with "$t" "$DURATION"
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- table and plot ----------------------------------------------------------------------
OUT=target/bench-scaling
mkdir -p "$OUT"
cp "$RESULTS" "$OUT/last-raw.tsv"
# One line per (proxy, threads, size): median req/s, CPU µs per request over all rounds.
awk -F'\t' -v hz="$CLK_TCK" '
  {
    key = $2
    if (!(key in n)) order[++count] = key
    v[key, ++n[key]] = $4; ticks[key] += $8; reqs[key] += $9
  }
  END {
    for (k = 1; k <= count; k++) {
      key = order[k]; m = n[key]
      for (i = 1; i <= m; i++) tmp[i] = v[key, i]
      for (i = 2; i <= m; i++) for (j = i; j > 1 && tmp[j - 1] > tmp[j]; j--) { x = tmp[j]; tmp[j] = tmp[j - 1]; tmp[j - 1] = x }
      med = m % 2 ? tmp[(m + 1) / 2] : (tmp[m / 2] + tmp[m / 2 + 1]) / 2
      split(key, part, " ")
      printf "%s\t%s\t%s\t%.0f\t%.2f\n", part[1], substr(part[2], 2), part[3], med, ticks[key] / hz / reqs[key] * 1e6
    }
  }' "$RESULTS" >"$OUT/last.tsv"
{
  echo "# How payglot's cost grows with the request body"
  echo
  echo "Made by \`bash scripts/bench-scaling.sh\` (plot: bench/plot-scaling.gp)."
  echo
  echo "![throughput and CPU per request by body size](scaling.png)"
  echo
  echo "Scaling benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): $(machine_line); wrk -t1 -c$CONNECTIONS, $ROUNDS interleaved rounds of ${DURATION} s per target; loadavg before $LOAD_BEFORE, after $LOAD_AFTER. wrk and the static upstream share the cores with the proxy."
  echo
  echo "req/s: median of the rounds. CPU: CPU-microseconds of the proxy process per request, over all rounds. payglot ÷ pingora: same body size and threads."
  echo
  echo "| body | threads | payglot req/s | pingora req/s | req/s ratio | payglot CPU µs/req | pingora CPU µs/req | CPU ratio |"
  echo "|---|---|---|---|---|---|---|---|"
  awk -F'\t' '
    { rps[$1, $2, $3] = $4; cpu[$1, $2, $3] = $5; if (!(($2, $3) in seen)) { seen[$2, $3] = 1; rows[++n] = $2 SUBSEP $3 } }
    END {
      for (i = 1; i <= n; i++) {
        split(rows[i], r, SUBSEP); th = r[1]; size = r[2]
        a = "payglot-translate"; b = "pingora-passthrough"
        printf "| %.1f KiB | %s | %.0f | %.0f | %.2f | %.1f | %.1f | %.2f |\n", size / 1024, th,
          rps[a, th, size], rps[b, th, size], rps[a, th, size] / rps[b, th, size],
          cpu[a, th, size], cpu[b, th, size], cpu[a, th, size] / cpu[b, th, size]
      }
    }' "$OUT/last.tsv"
} | tee "$OUT/last.md"
gnuplot -e "data='$OUT/last.tsv'; out='$OUT/scaling.png'" bench/plot-scaling.gp
log "plot: $OUT/scaling.png"
if [ "${BENCH_PUBLISH:-0}" = 1 ]; then
  cp "$OUT/last.md" docs/scaling.md
  cp "$OUT/scaling.png" docs/scaling.png
  log "copied to docs/scaling.md and docs/scaling.png"
fi
KEEP_WORK=0
