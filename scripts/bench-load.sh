#!/usr/bin/env bash
# Load benchmark: payglot translating (AlpPay merchant -> Cryptomus upstream) and as a
# same-dialect pass-through (Cryptomus -> Cryptomus), against what one would run instead: a plain
# pingora pass-through (examples/passthrough.rs), nginx proxy_pass, and nginx + njs doing the
# same translation (bench/njs/alppay_to_cryptomus.js, tested equal to payglot's by
# tests/bench_peer.rs); all in front of the same static upstream (examples/static_upstream.rs),
# on loopback, one worker thread each.
#
#     bash scripts/bench-load.sh
#
# Targets:
#   upstream-direct            the static upstream itself
#   nginx                      nginx proxy_pass
#   pingora-passthrough        pingora's proxy, no translation
#   nginx-njs-translate        nginx + njs translating AlpPay -> Cryptomus
#   payglot-passthrough        payglot, Cryptomus -> Cryptomus
#   payglot-translate          payglot, AlpPay -> Cryptomus, payment index on a memory filesystem
#   payglot-translate-index    the same with the index on disk (every create durable, fsync'd)
#   payglot-translate-noindex  the same proxy on an index that keeps nothing (examples/no_index.rs):
#                              what the index costs, not a way to run payglot
#   payglot-lookup             AlpPay GET /v2/payment/{id} on the payglot-translate-index process:
#                              the index, one Cryptomus payment/info call, the AlpPay get answer
#   payglot-translate-infolog  payglot-translate with its per-request info log (BENCH_WITH_LOG=0: off)
# payglot records every create in its payment index before answering, so every request carries
# its own order reference (bench/make-requests.py signs them; a repeated one would be answered
# from the index instead of created). The other proxies keep no index, so they are compared with
# payglot-translate, whose index file is on a memory filesystem (the index work done, no disk
# wait); payglot-translate-index shows what the durable disk write costs, and
# payglot-translate-noindex what the whole index costs.
#
# Each target gets, after a short warm-up, in interleaved rounds:
#   1. max-throughput runs: wrk, 1 thread, 32 connections (closed loop); the three
#      payglot-translate targets also with 128 connections (the group commit's batches grow with
#      the creates in flight);
#   2. fixed-rate runs at half of payglot-translate's max rate: examples/loadgen.rs, 1 thread,
#      32 connections, latency from the intended send time (coordinated-omission corrected).
# Prints one Markdown table (also written to target/bench-load/last.md, raw rounds in
# last-raw.tsv): req/s, p50/p99/p99.9, CPU-seconds per 10k requests of the proxy process
# (utime+stime from /proc/PID/stat) and its peak RSS (VmHWM), each also as a ratio to nginx and
# to the pingora pass-through; then the issue's targets as ratios from the same run, each said
# held or missed. About 10 minutes after the build on a busy 2-core machine (the signed
# requests are made before each run, outside its measured window).
#
# Environment: BENCH_DURATION (s per run, default 5), BENCH_ROUNDS (default 3), BENCH_WARMUP
# (s, default 2), BENCH_CONNECTIONS (default 32), BENCH_MAX_RPS (references made per second of
# a max-throughput run, default 50000), BENCH_INDEX_CONNECTIONS (the index targets' extra
# max-throughput runs, default 128; 0: none), BENCH_WITH_LOG=0 to skip the infolog target,
# BENCH_TARGETS (space-separated names, default all). Everything started here is stopped on exit,
# by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOG_TAG=bench-load
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=${BENCH_WARMUP:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
MAX_RPS=${BENCH_MAX_RPS:-50000}
INDEX_CONNECTIONS=${BENCH_INDEX_CONNECTIONS:-128}
WITH_LOG=${BENCH_WITH_LOG:-1}
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

install_missing
build
start_upstream
add_target "upstream-direct" "http://$UPSTREAM/cryptomus/v1/payment" cryptomus "$UPSTREAM_PID"

start_nginx nginx bench/nginx.conf.template
add_target "nginx" "http://127.0.0.1:$NGINX_PORT/cryptomus/v1/payment" cryptomus "$STARTED_PID"

free_port
log "starting the pingora pass-through on 127.0.0.1:$PORT"
start pingora-passthrough "$PORT" "$BIN/examples/passthrough" "$UPSTREAM" "127.0.0.1:$PORT"
add_target "pingora-passthrough" "http://127.0.0.1:$PORT/cryptomus/v1/payment" cryptomus "$STARTED_PID"

start_nginx nginx-njs-translate bench/nginx-njs.conf.template
add_target "nginx-njs-translate" "http://127.0.0.1:$NGINX_PORT/v2/payment" alppay "$STARTED_PID"

start_payglot payglot-passthrough bench/payglot-passthrough.yaml "$MEMDIR/passthrough.redb" warn
add_target "payglot-passthrough" "http://127.0.0.1:$PAYGLOT_PORT/cryptomus/v1/payment" cryptomus "$STARTED_PID"
start_payglot payglot-translate bench/payglot-translate.yaml "$MEMDIR/translate.redb" warn
add_target "payglot-translate" "http://127.0.0.1:$PAYGLOT_PORT/v2/payment" alppay "$STARTED_PID"
mkdir -p "$WORK/index"
[ "$(stat -f -c %T "$WORK/index")" != tmpfs ] ||
  log "warning: $WORK is on tmpfs: payglot-translate-index does not reach a disk"
start_payglot payglot-translate-index bench/payglot-translate.yaml "$WORK/index/translate.redb" warn
add_target "payglot-translate-index" "http://127.0.0.1:$PAYGLOT_PORT/v2/payment" alppay "$STARTED_PID"
INDEX_PORT=$PAYGLOT_PORT
INDEX_PID=$STARTED_PID
start_payglot payglot-translate-noindex bench/payglot-translate.yaml "(none)" warn 1 "" "$BIN/examples/no_index"
add_target "payglot-translate-noindex" "http://127.0.0.1:$PAYGLOT_PORT/v2/payment" alppay "$STARTED_PID"
if [ "$WITH_LOG" = 1 ]; then
  # The per-request log line is formatted and written (one write(2) each), but to /dev/null:
  # a file would add disk write-back stalls that also disturb the other targets' runs.
  start_payglot payglot-translate-infolog bench/payglot-translate.yaml "$MEMDIR/infolog.redb" info 1 /dev/null
  add_target "payglot-translate-infolog" "http://127.0.0.1:$PAYGLOT_PORT/v2/payment" alppay "$STARTED_PID"
fi

# --- preflight: every target answers 200 with the expected shape -----------------------------
for t in "${TARGETS[@]}"; do
  preflight "$t"
  case "${DIALECT[$t]}" in
    alppay) grep -q '"paymentRedirectUrl"' "$WORK/preflight.body" || die "$t: not an AlpPay answer" ;;
    *) grep -q '"uuid"' "$WORK/preflight.body" || die "$t: not the Cryptomus answer" ;;
  esac
done
# The lookup target asks for a payment the index target created.
preflight payglot-translate-index pre2
PAYMENT_ID=$(sed -n 's/^{"id":"\([0-9a-f-]*\)".*/\1/p' "$WORK/preflight.body")
[ -n "$PAYMENT_ID" ] || die "no payment id in payglot-translate-index's answer"
add_target "payglot-lookup" "http://127.0.0.1:$INDEX_PORT/v2/payment/$PAYMENT_ID" lookup "$INDEX_PID"
preflight payglot-lookup
grep -q '"data":{"id":"'"$PAYMENT_ID"'"' "$WORK/preflight.body" || die "payglot-lookup: not the AlpPay get answer"

if [ -n "${BENCH_TARGETS:-}" ]; then
  read -r -a TARGETS <<<"$BENCH_TARGETS"
fi

# --- runs --------------------------------------------------------------------------------
# Rounds are interleaved (every target once per round) so that noise from other work on the
# machine spreads over all targets instead of landing on one; the table shows medians.
RESULTS=$WORK/results.tsv
: >"$RESULTS"
CLK_TCK=$(getconf CLK_TCK)
MAX_COUNT=$(( MAX_RPS * DURATION ))

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for t in "${TARGETS[@]}"; do
  file=$(make_requests "$t" warm $(( MAX_RPS * WARMUP )))
  run_wrk "$t" "$file" "$WARMUP" >/dev/null
  rm -f "$file"
done
for round in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    measure max "m$round" "$t" "$round" "$MAX_COUNT" wrk_with "$t" "$DURATION"
  done
done
# The index's group commit shares one disk flush among the creates waiting for it, so its rate
# grows with the creates in flight: the index targets, and the one without, with more connections.
if [ "$INDEX_CONNECTIONS" -gt 0 ]; then
  for round in $(seq 1 "$ROUNDS"); do
    for t in payglot-translate payglot-translate-index payglot-translate-noindex; do
      [[ " ${TARGETS[*]} " == *" $t "* ]] || continue
      CONNECTIONS=$INDEX_CONNECTIONS measure "max c$INDEX_CONNECTIONS" "c$round" "$t" "$round" \
        "$MAX_COUNT" wrk_with "$t" "$DURATION"
    done
  done
fi
RATE=$(awk -F'\t' '$1 == "max" && $2 == "payglot-translate" {print $4}' "$RESULTS" | sort -n |
  awk '{v[NR] = $1} END {printf "%d", v[int((NR + 1) / 2)] / 2}')
[ "${RATE:-0}" -gt 0 ] || RATE=$(awk -F'\t' '$1 == "max" {print int($4 / 2); exit}' "$RESULTS")
log "fixed-rate runs at $RATE req/s (half of payglot-translate's median max)"
for round in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    measure "fixed $RATE/s" "f$round" "$t" "$round" $(( RATE * DURATION + 1000 )) \
      loadgen_with "$t" "$RATE" "$DURATION"
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
for t in "${TARGETS[@]}"; do
  printf '%s\t%s\n' "$t" "$(peak_rss_kib "${PID[$t]}")"
done >"$WORK/rss.tsv"

# --- table -------------------------------------------------------------------------------
mkdir -p target/bench-load
cp "$RESULTS" target/bench-load/last-raw.tsv
{
  echo "Load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): $(machine_line); wrk -t1 -c$CONNECTIONS (max) and loadgen 1 thread, $CONNECTIONS connections (fixed rate); $ROUNDS interleaved rounds of ${DURATION} s per target and mode; loadavg before $LOAD_BEFORE, after $LOAD_AFTER."
  echo
  echo "Each cell: value (÷ nginx / ÷ pingora pass-through, same mode). req/s and latencies: median of the rounds, latency in ms (fixed rate: from the intended send time). CPU: CPU-seconds of the proxy process per 10k requests, over all rounds. RSS: peak (VmHWM) over the whole run, MiB (payglot-lookup runs in payglot-translate-index's process)."
  echo
  awk -F'\t' -v OFS='' -v hz="$CLK_TCK" '
    function median(key, what,    i, j, k, tmp, m) {
      m = count[key]
      for (i = 1; i <= m; i++) tmp[i] = vals[key, what, i]
      for (i = 2; i <= m; i++) for (j = i; j > 1 && tmp[j - 1] > tmp[j]; j--) { k = tmp[j]; tmp[j] = tmp[j - 1]; tmp[j - 1] = k }
      return m % 2 ? tmp[(m + 1) / 2] : (tmp[m / 2] + tmp[m / 2 + 1]) / 2
    }
    function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
    function cell(v, vn, vp, fmt) { return sprintf(fmt " (%s / %s)", v, ratio(v, vn), ratio(v, vp)) }
    function idx(m, name) { return at[m, name] }
    # A target ratio line: "a ÷ b" of one measure in one mode, held when within the bound.
    function check(what, m, a, b, measure, bound, upper,    ia, ib, va, vb, r, ok) {
      ia = idx(m, a); ib = idx(m, b)
      if (!ia || !ib) return
      va = measure == "rps" ? rps[ia] : measure == "cpu" ? cpu[ia] : p99[ia]
      vb = measure == "rps" ? rps[ib] : measure == "cpu" ? cpu[ib] : p99[ib]
      if (vb <= 0) return
      r = va / vb
      ok = upper ? r <= bound : r >= bound
      printf "| %s | %s | %.2f | %s %.2f | %s |\n", what, m, r, upper ? "≤" : "≥", bound, ok ? "held" : "**missed**"
    }
    FNR == NR { rss[$1] = $2 / 1024; next }
    {
      key = $1 SUBSEP $2
      if (!(key in count)) { order[++n] = key; mode[n] = $1; name[n] = $2; at[$1, $2] = n }
      c = ++count[key]
      vals[key, "rps", c] = $4; vals[key, "p50", c] = $5 / 1000
      vals[key, "p99", c] = $6 / 1000; vals[key, "p999", c] = $7 / 1000
      ticks[key] += $8; reqs[key] += $9; errs[key] += $10 + $11
    }
    END {
      for (i = 1; i <= n; i++) {
        key = order[i]
        rps[i] = median(key, "rps"); p50[i] = median(key, "p50"); p99[i] = median(key, "p99")
        p999[i] = median(key, "p999"); cpu[i] = ticks[key] / hz / reqs[key] * 10000
        if (name[i] == "nginx") ref_n[mode[i]] = i
        if (name[i] == "pingora-passthrough") ref_p[mode[i]] = i
        if (!(mode[i] in seen_mode)) { seen_mode[mode[i]] = 1; modes[++nm] = mode[i] }
      }
      print "| mode | target | req/s | p50 | p99 | p99.9 | CPU s/10k req | peak RSS MiB |"
      print "|---|---|---|---|---|---|---|---|"
      for (i = 1; i <= n; i++) {
        a = ref_n[mode[i]]; b = ref_p[mode[i]]
        note = errs[order[i]] > 0 ? " (" errs[order[i]] " errors)" : ""
        print "| ", mode[i], " | ", name[i], note, \
          " | ", cell(rps[i], rps[a], rps[b], "%.0f"), \
          " | ", cell(p50[i], p50[a], p50[b], "%.3f"), \
          " | ", cell(p99[i], p99[a], p99[b], "%.3f"), \
          " | ", cell(p999[i], p999[a], p999[b], "%.3f"), \
          " | ", cell(cpu[i], cpu[a], cpu[b], "%.3f"), \
          " | ", cell(rss[name[i]], rss[name[a]], rss[name[b]], "%.1f"), " |"
      }
      print ""
      print "Targets (issues 10 and 13), as ratios from this run:"
      print ""
      print "| target | mode | ratio | bound | |"
      print "|---|---|---|---|---|"
      for (k = 1; k <= nm; k++) {
        m = modes[k]
        if (m == "max") {
          check("payglot-translate ÷ nginx-njs-translate, req/s", m, "payglot-translate", "nginx-njs-translate", "rps", 1, 0)
        }
        check("payglot-translate ÷ nginx-njs-translate, CPU/req", m, "payglot-translate", "nginx-njs-translate", "cpu", 1, 1)
        check("payglot-translate ÷ nginx-njs-translate, p99", m, "payglot-translate", "nginx-njs-translate", "p99", 1, 1)
        if (m == "max") {
          check("payglot-translate ÷ pingora-passthrough, req/s", m, "payglot-translate", "pingora-passthrough", "rps", 0.9, 0)
        }
        check("payglot-translate ÷ pingora-passthrough, CPU/req", m, "payglot-translate", "pingora-passthrough", "cpu", 1.15, 1)
        if (m ~ /^max/) {
          check("payglot-translate-index ÷ payglot-translate-noindex, req/s", m, "payglot-translate-index", "payglot-translate-noindex", "rps", 0.8, 0)
          check("payglot-translate ÷ payglot-translate-noindex, req/s", m, "payglot-translate", "payglot-translate-noindex", "rps", 0.8, 0)
        }
        check("payglot-lookup ÷ payglot-translate-index, CPU/req", m, "payglot-lookup", "payglot-translate-index", "cpu", 1, 1)
      }
      if (ref_p["max"] && at["max", "payglot-translate"]) {
        r = rss["payglot-translate"] / rss["pingora-passthrough"]
        printf "| payglot-translate ÷ pingora-passthrough, peak RSS | all | %.2f | ≤ 1.50 | %s |\n", r, r <= 1.5 ? "held" : "**missed**"
      }
    }' "$WORK/rss.tsv" "$RESULTS"
} | tee target/bench-load/last.md
KEEP_WORK=0
