#!/usr/bin/env bash
# Load benchmark: payglot translating (AlpPay merchant -> Cryptomus upstream) and as a
# same-dialect pass-through (Cryptomus -> Cryptomus), against a plain pingora pass-through
# (examples/passthrough.rs) and nginx proxy_pass, all in front of the same static upstream
# (examples/static_upstream.rs), on loopback, one worker thread each.
#
#     bash scripts/bench-load.sh
#
# Each target gets, after a short warm-up, in interleaved rounds:
#   1. max-throughput runs: wrk, 1 thread, 32 connections (closed loop);
#   2. fixed-rate runs at half of payglot-translate's max rate: examples/loadgen.rs, 1 thread,
#      32 connections, latency from the intended send time (coordinated-omission corrected).
# Prints one Markdown table (also written to target/bench-load/last.md, raw rounds in
# last-raw.tsv): req/s, p50/p99/p99.9, CPU-seconds per 10k requests of the proxy process
# (utime+stime from /proc/PID/stat) and its peak RSS (VmHWM), each also as a ratio to nginx and
# to the pingora pass-through. About 4 minutes after the build.
#
# Environment: BENCH_DURATION (s per run, default 5), BENCH_ROUNDS (default 3), BENCH_WARMUP
# (s, default 2), BENCH_CONNECTIONS (default 32), BENCH_WITH_LOG=0 to skip the extra payglot
# target with its per-request info log on. Everything started here is stopped on exit, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=${BENCH_WARMUP:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
WITH_LOG=${BENCH_WITH_LOG:-1}

log() { printf '[bench-load] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools -------------------------------------------------------------------------------
install_missing() {
  local missing=()
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  command -v cc >/dev/null 2>&1 || missing+=(gcc)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  local sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  # Debian starts nginx as a service on install unless a policy forbids it; we want only the
  # nginx this script starts, so forbid it for the duration of the install.
  local policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
    $sudo_cmd chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
  [ $policy_added -eq 1 ] && $sudo_cmd rm -f /usr/sbin/policy-rc.d
  return 0
}
install_missing
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
# wrk2 (constant rate) is not packaged by Debian; examples/loadgen.rs does the fixed-rate runs.

# --- processes and cleanup (set before the build: an interrupt then waits for it, orphans nothing)
WORK=$(mktemp -d /tmp/payglot-bench.XXXXXX)
chmod 755 "$WORK"   # nginx's worker runs as an unprivileged user
PIDS=()
KEEP_WORK=1
cleanup() {
  local pid all=()
  # The processes started here and their children (nginx's worker), collected before any stops.
  for pid in "${PIDS[@]}"; do
    mapfile -t -O "${#all[@]}" all < <(tree_pids "$pid")
  done
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${all[@]}"; do
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "$KEEP_WORK" -eq 0 ]; then
    rm -rf "$WORK"
  elif ! rmdir "$WORK" 2>/dev/null; then
    log "logs kept in $WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build -------------------------------------------------------------------------------
log "building (release)"
cargo build --release --locked --bins --examples >&2
BIN=$ROOT/target/release
PAYGLOT=$BIN/payglot

# --- ports and accounting ----------------------------------------------------------------
USED_PORTS=" "
free_port() { # sets PORT to a loopback port nothing listens on and this script has not used
  while :; do
    PORT=$(( 20000 + RANDOM % 40000 ))
    case "$USED_PORTS" in *" $PORT "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      USED_PORTS="$USED_PORTS$PORT "
      return
    fi
  done
}

wait_listening() { # name port pid
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    kill -0 "$3" 2>/dev/null || die "$1 exited at start; see $WORK/$1.log"
    sleep 0.1
  done
  die "$1 is not listening on 127.0.0.1:$2 after 10 s; see $WORK/$1.log"
}

# A process and its direct children (nginx's worker), for CPU and memory accounting.
tree_pids() {
  local pid=$1
  echo "$pid"
  cat /proc/"$pid"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' || true
}

cpu_ticks() { # pid -> utime+stime of the process tree, in clock ticks
  local total=0 p stat
  for p in $(tree_pids "$1"); do
    stat=$(cat /proc/"$p"/stat 2>/dev/null) || continue
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    total=$(( total + ${12} + ${13} ))
  done
  echo "$total"
}

peak_rss_kib() { # pid -> VmHWM summed over the process tree
  local total=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk '/^VmHWM:/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0)
    total=$(( total + ${v:-0} ))
  done
  echo "$total"
}

free_port
UP_PORT=$PORT
UPSTREAM=127.0.0.1:$UP_PORT

start() { # name port command... ; sets STARTED_PID; output to $WORK/NAME.log or $START_LOG
  local name=$1 port=$2
  shift 2
  "$@" >"${START_LOG:-$WORK/$name.log}" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  wait_listening "$name" "$port" "$STARTED_PID"
}

# --- requests ----------------------------------------------------------------------------
ALP_BODY=$ROOT/bench/bodies/alppay-request.json
CM_BODY=$ROOT/bench/bodies/cryptomus-request.json
"$PAYGLOT" sign --dialect alppay "$ALP_BODY" >"$WORK/alppay.headers"
"$PAYGLOT" sign --dialect cryptomus "$CM_BODY" >"$WORK/cryptomus.headers"

# target name -> url, body, headers, pid
declare -A URL BODY HEADERS PID
add_target() { # name url body headers pid
  URL[$1]=$2; BODY[$1]=$3; HEADERS[$1]=$4; PID[$1]=$5
  TARGETS+=("$1")
}
TARGETS=()

log "starting the static upstream on $UPSTREAM"
start static-upstream "$UP_PORT" "$BIN/examples/static_upstream" "$UPSTREAM"
add_target "upstream-direct" "http://$UPSTREAM/cryptomus/v1/payment" "$CM_BODY" "$WORK/cryptomus.headers" "$STARTED_PID"

free_port
port=$PORT
mkdir -p "$WORK/nginx"
sed -e "s|@PREFIX@|$WORK/nginx|g" -e "s|@LISTEN@|127.0.0.1:$port|g" -e "s|@UPSTREAM@|$UPSTREAM|g" \
  bench/nginx.conf.template >"$WORK/nginx/nginx.conf"
log "starting nginx on 127.0.0.1:$port"
start nginx "$port" "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log"
add_target "nginx" "http://127.0.0.1:$port/cryptomus/v1/payment" "$CM_BODY" "$WORK/cryptomus.headers" "$STARTED_PID"

free_port
port=$PORT
log "starting the pingora pass-through on 127.0.0.1:$port"
start pingora-passthrough "$port" "$BIN/examples/passthrough" "$UPSTREAM" "127.0.0.1:$port"
add_target "pingora-passthrough" "http://127.0.0.1:$port/cryptomus/v1/payment" "$CM_BODY" "$WORK/cryptomus.headers" "$STARTED_PID"

start_payglot() { # name config log-level [log-file]
  local port metrics
  free_port
  port=$PORT
  free_port
  metrics=$PORT
  log "starting $1 on 127.0.0.1:$port"
  BENCH_LISTEN=127.0.0.1:$port BENCH_METRICS_LISTEN=127.0.0.1:$metrics BENCH_UPSTREAM=$UPSTREAM \
    PAYGLOT_LOG=$3 START_LOG=${4:-} start "$1" "$port" "$PAYGLOT" run --config "$2"
  PAYGLOT_PORT=$port
}
start_payglot payglot-passthrough bench/payglot-passthrough.yaml warn
add_target "payglot-passthrough" "http://127.0.0.1:$PAYGLOT_PORT/cryptomus/v1/payment" "$CM_BODY" "$WORK/cryptomus.headers" "$STARTED_PID"
start_payglot payglot-translate bench/payglot-translate.yaml warn
add_target "payglot-translate" "http://127.0.0.1:$PAYGLOT_PORT/v2/payment" "$ALP_BODY" "$WORK/alppay.headers" "$STARTED_PID"
if [ "$WITH_LOG" = 1 ]; then
  # The per-request log line is formatted and written (one write(2) each), but to /dev/null:
  # a file would add disk write-back stalls that also disturb the other targets' runs.
  start_payglot payglot-translate-infolog bench/payglot-translate.yaml info /dev/null
  add_target "payglot-translate-infolog" "http://127.0.0.1:$PAYGLOT_PORT/v2/payment" "$ALP_BODY" "$WORK/alppay.headers" "$STARTED_PID"
fi

# --- preflight: every target answers 200 with the expected shape -----------------------------
curl_args() { # target -> curl arguments for one request
  local h
  printf '%s\0' -sS -o "$WORK/preflight.body" -w '%{http_code}' -X POST "${URL[$1]}" \
    --data-binary "@${BODY[$1]}" -H 'Content-Type: application/json'
  while IFS= read -r h; do [ -n "$h" ] && printf '%s\0' -H "$h"; done <"${HEADERS[$1]}"
}
for t in "${TARGETS[@]}"; do
  mapfile -d '' args < <(curl_args "$t")
  code=$(curl "${args[@]}") || die "$t: request failed"
  [ "$code" = 200 ] || die "$t: HTTP $code: $(head -c 300 "$WORK/preflight.body")"
  case "$t" in
    payglot-translate*) grep -q '"paymentRedirectUrl"' "$WORK/preflight.body" || die "$t: not an AlpPay answer" ;;
    *) grep -q '"uuid"' "$WORK/preflight.body" || die "$t: not the Cryptomus answer" ;;
  esac
  log "preflight $t: HTTP $code, $(wc -c <"$WORK/preflight.body") bytes"
done

# --- runs --------------------------------------------------------------------------------
# Rounds are interleaved (every target once per round) so that noise from other work on the
# machine spreads over all targets instead of landing on one; the table shows medians.
RESULTS=$WORK/results.tsv
: >"$RESULTS"
CLK_TCK=$(getconf CLK_TCK)

field() { # line key
  printf '%s\n' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'
}

measure() { # mode target round command...
  local mode=$1 t=$2 round=$3 before after line
  shift 3
  before=$(cpu_ticks "${PID[$t]}")
  line=$("$@" | grep -E '^(WRK|LOADGEN) ' | tail -n1) || die "$t ($mode): the load generator failed"
  after=$(cpu_ticks "${PID[$t]}")
  local req errors non2xx
  req=$(field "$line" requests)
  errors=$(field "$line" errors)
  non2xx=$(field "$line" non2xx)
  [ "${req:-0}" -gt 0 ] || die "$t ($mode): no request completed: $line"
  if [ "$errors" != 0 ] || [ "$non2xx" != 0 ]; then
    log "warning: $t ($mode): $errors errors, $non2xx non-2xx answers"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$t" "$round" "$(field "$line" rps)" \
    "$(field "$line" p50_us)" "$(field "$line" p99_us)" "$(field "$line" p999_us)" \
    $(( after - before )) "$req" "$errors" "$non2xx" "$(field "$line" missed)" >>"$RESULTS"
  log "$mode round $round $t: $line cpu_ticks=$(( after - before ))"
}

run_wrk() { # target seconds
  BENCH_BODY=${BODY[$1]} BENCH_HEADERS=${HEADERS[$1]} \
    wrk -t1 -c"$CONNECTIONS" -d"${2}s" --timeout 5s -s bench/wrk.lua "${URL[$1]}"
}
run_loadgen() { # target rate seconds
  "$BIN/examples/loadgen" --url "${URL[$1]}" --body "${BODY[$1]}" --headers "${HEADERS[$1]}" \
    --connections "$CONNECTIONS" --rate "$2" --duration "$3"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for t in "${TARGETS[@]}"; do
  run_wrk "$t" "$WARMUP" >/dev/null
done
for round in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    measure max "$t" "$round" run_wrk "$t" "$DURATION"
  done
done
RATE=$(awk -F'\t' '$1 == "max" && $2 == "payglot-translate" {print $4}' "$RESULTS" | sort -n |
  awk '{v[NR] = $1} END {printf "%d", v[int((NR + 1) / 2)] / 2}')
log "fixed-rate runs at $RATE req/s (half of payglot-translate's median max)"
for round in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    measure "fixed $RATE/s" "$t" "$round" run_loadgen "$t" "$RATE" "$DURATION"
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
  echo "Load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM; wrk -t1 -c$CONNECTIONS (max) and loadgen 1 thread, $CONNECTIONS connections (fixed rate); $ROUNDS interleaved rounds of ${DURATION} s per target and mode; loadavg before $LOAD_BEFORE, after $LOAD_AFTER."
  echo
  echo "Each cell: value (÷ nginx / ÷ pingora pass-through, same mode). req/s and latencies: median of the rounds, latency in ms (fixed rate: from the intended send time). CPU: CPU-seconds of the proxy process per 10k requests, over all rounds. RSS: peak (VmHWM) over the whole run, MiB."
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
    FNR == NR { rss[$1] = $2 / 1024; next }
    {
      key = $1 SUBSEP $2
      if (!(key in count)) { order[++n] = key; mode[n] = $1; name[n] = $2 }
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
    }' "$WORK/rss.tsv" "$RESULTS"
} | tee target/bench-load/last.md
KEEP_WORK=0
