#!/usr/bin/env bash
# Where the payment index's cost goes under load, thread by thread: payglot translating
# (AlpPay -> Cryptomus, as scripts/bench-load.sh) with its index on disk, on a memory
# filesystem, and on no index at all (examples/no_index.rs), in interleaved rounds at each
# concurrency.
#
#     bash scripts/bench-index-threads.sh
#
# With one worker thread, a max-throughput run is as fast as the proxy thread gets through its
# requests. Per request, its wall time (1 / req/s) is the time it runs, the time it waits to run
# while another thread has its CPU (the scheduler's run-queue wait, /proc/<pid>/task/<tid>/
# schedstat), and the time it sleeps for want of work. This prints those three for the proxy
# thread, and the run and wait time of the index's journal writer and committer, per request.
#
# Prints a Markdown table of medians (also written to target/bench-index-threads/last.md, raw
# rounds in last-raw.tsv). About 3 minutes after the build.
#
# Environment: BENCH_ROUNDS (default 4), BENCH_DURATION (s per run, default 5),
# BENCH_CONCURRENCY (space-separated, default "32 128"). Everything started here is stopped on
# exit, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOG_TAG=bench-index-threads
ROUNDS=${BENCH_ROUNDS:-4}
DURATION=${BENCH_DURATION:-5}
CONCURRENCY=${BENCH_CONCURRENCY:-32 128}
CONNECTIONS=32
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

install_missing
build
start_upstream
mkdir -p "$WORK/index"
[ "$(stat -f -c %T "$WORK")" != tmpfs ] || log "warning: $WORK is on tmpfs: index-disk does not reach a disk"
start_payglot index-disk bench/payglot-translate.yaml "$WORK/index/translate.redb" warn
add_target index-disk "http://127.0.0.1:$PAYGLOT_PORT/v2/payment" alppay "$STARTED_PID"
start_payglot index-tmpfs bench/payglot-translate.yaml "$MEMDIR/translate.redb" warn
add_target index-tmpfs "http://127.0.0.1:$PAYGLOT_PORT/v2/payment" alppay "$STARTED_PID"
start_payglot noindex bench/payglot-translate.yaml "(none)" warn 1 "" "$BIN/examples/no_index"
add_target noindex "http://127.0.0.1:$PAYGLOT_PORT/v2/payment" alppay "$STARTED_PID"
NAMES=(index-disk index-tmpfs noindex)
for t in "${NAMES[@]}"; do preflight "$t" "pre-$t"; done

# Thread names as the kernel keeps them (15 bytes).
THREADS=("payglot proxy" "payglot-store-w" "payglot-store-c")

schedstats() { # pid -> one line: run-ns wait-ns for each of THREADS (0 0 when absent)
  local pid=$1 name task found line=()
  for name in "${THREADS[@]}"; do
    found="0 0"
    for task in /proc/"$pid"/task/*; do
      if [ "$(cat "$task/comm" 2>/dev/null)" = "$name" ]; then
        found=$(awk '{print $1, $2}' "$task/schedstat")
        break
      fi
    done
    line+=("$found")
  done
  echo "${line[*]}"
}

OUT=$ROOT/target/bench-index-threads
mkdir -p "$OUT"
RAW=$OUT/last-raw.tsv
: >"$RAW"
for round in $(seq 1 "$ROUNDS"); do
  for c in $CONCURRENCY; do
    for t in "${NAMES[@]}"; do
      CONNECTIONS=$c
      file=$(make_requests "$t" "r$round-c$c" $(( 40000 * DURATION )))
      before=$(schedstats "${PID[$t]}")
      line=$(run_wrk "$t" "$file" "$DURATION" | grep '^WRK') || die "$t: wrk failed"
      after=$(schedstats "${PID[$t]}")
      rm -f "$file"
      n=$(field "$line" requests)
      [ "${n:-0}" -gt 0 ] || die "$t: no request completed: $line"
      # c target round req/s p50-ms, then per thread: run and wait, µs per request.
      echo "$c $t $round $(field "$line" rps) $(field "$line" p50_us) $before $after $n" | awk '{
        printf "%s\t%s\t%s\t%.0f\t%.2f", $1, $2, $3, $4, $5 / 1000
        for (i = 0; i < 6; i++) printf "\t%.1f", ($(12 + i) - $(6 + i)) / 1e3 / $18
        printf "\n"
      }' >>"$RAW"
      log "round $round c$c $t: $(field "$line" rps) req/s"
    done
  done
done

# Medians over the rounds, and the rate as a ratio to noindex's median at the same concurrency.
python3 - "$RAW" <<'EOF' | tee "$OUT/last.md"
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault((int(r[0]), r[1]), []).append([float(x) for x in r[3:]])
print("| connections | target | req/s (÷ noindex) | p50 ms | proxy thread: run / run-queue wait / idle, µs per request | journal writer: run / wait | committer: run / wait |")
print("|---|---|---|---|---|---|---|")
# In the order the first round ran them.
for (c, t) in by:
    m = [statistics.median(col) for col in zip(*by[(c, t)])]
    rps, p50, prun, pwait, wrun, wwait, crun, cwait = m
    base = statistics.median(x[0] for x in by[(c, "noindex")])
    idle = max(0.0, 1e6 / rps - prun - pwait)
    store = f"{wrun:.1f} / {wwait:.1f}" if t != "noindex" else "-"
    commit = f"{crun:.1f} / {cwait:.1f}" if t != "noindex" else "-"
    print(f"| {c} | {t} | {rps:.0f} ({rps / base:.2f}) | {p50:.2f} | {prun:.1f} / {pwait:.1f} / {idle:.1f} | {store} | {commit} |")
EOF
log "table in target/bench-index-threads/last.md; raw rounds in last-raw.tsv (connections, target, round, req/s, p50 ms, then run and wait µs per request of the proxy thread, journal writer, committer)"
