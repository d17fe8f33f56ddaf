#!/usr/bin/env bash
# Memory per idle keep-alive client connection: nginx proxy_pass, the plain pingora pass-through
# (examples/passthrough.rs) and payglot translating (bench/payglot-translate.yaml), in front of
# the same static upstream (examples/static_upstream.rs), on loopback, one worker thread each.
#
#     bash scripts/bench-idle.sh
#
# For each target and each of two cases, a fresh proxy process is started and answers one request
# (warm), then examples/idle_clients.rs opens N connections and holds them:
#   idle      - opened and left idle, not a byte sent;
#   after-1   - one whole request answered on each, then kept alive and idle.
# The proxy's RSS growth (VmRSS of its process tree, after the connections are held and its RSS
# has settled, minus before) divided by N is the cost of one connection, in KiB. Prints one Markdown
# table (also written to target/bench-idle/last.md) with ratios to nginx and to pingora.
#
# Environment: BENCH_IDLE_CONNECTIONS (N, default 10000). Everything started here is stopped on
# exit, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${BENCH_IDLE_CONNECTIONS:-10000}

log() { printf '[bench-idle] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools -------------------------------------------------------------------------------
install_missing() {
  local missing=()
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  command -v cc >/dev/null 2>&1 || missing+=(gcc)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  local sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  # Debian starts nginx as a service on install unless a policy forbids it; we want only the
  # nginx this script starts.
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

# --- limits: every connection is a descriptor in the client and in the proxy ---------------
WANT_FDS=$(( N + 4096 ))
if [ "$(ulimit -n)" -lt "$WANT_FDS" ]; then
  if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$WANT_FDS" ]; then
    ulimit -Hn "$WANT_FDS" 2>/dev/null ||
      die "the open-files hard limit is $(ulimit -Hn), below $WANT_FDS; raise it or lower BENCH_IDLE_CONNECTIONS"
  fi
  ulimit -n "$WANT_FDS"
fi
[ "$(cat /proc/sys/fs/nr_open)" -ge "$WANT_FDS" ] || die "fs.nr_open is below $WANT_FDS"
read -r PORT_LOW PORT_HIGH </proc/sys/net/ipv4/ip_local_port_range
# Each case's client ports stay in TIME_WAIT after it ends; two cases per target.
[ $(( PORT_HIGH - PORT_LOW )) -gt $(( 2 * N )) ] ||
  die "net.ipv4.ip_local_port_range ($PORT_LOW-$PORT_HIGH) is too narrow for 2 x $N connections"

# --- processes and cleanup (set before the build: an interrupt then orphans nothing) ----------
WORK=$(mktemp -d /tmp/payglot-bench-idle.XXXXXX)
chmod 755 "$WORK"   # nginx's worker runs as an unprivileged user
PIDS=()
KEEP_WORK=1
HOLD_FD_OPEN=0
tree_pids() { # a process and its direct children (nginx's worker)
  local pid=$1
  echo "$pid"
  cat /proc/"$pid"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' || true
}
stop_pid() { # pid: TERM it and its children, KILL whatever is left after 3 s
  local pid=$1 p all
  mapfile -t all < <(tree_pids "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  for p in "${all[@]}"; do
    for _ in $(seq 1 30); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  wait "$pid" 2>/dev/null || true
}
forget_pid() { # pid: no longer to be stopped on exit
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
cleanup() {
  local pid
  [ "$HOLD_FD_OPEN" -eq 1 ] && exec 7>&-
  for pid in "${PIDS[@]}"; do
    stop_pid "$pid"
  done
  if [ "$KEEP_WORK" -eq 0 ]; then
    rm -rf "$WORK"
  else
    log "logs kept in $WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build -------------------------------------------------------------------------------
log "building (release)"
cargo build --release --locked --bin payglot --example static_upstream --example passthrough \
  --example idle_clients >&2
BIN=$ROOT/target/release
PAYGLOT=$BIN/payglot

# --- ports, processes, accounting --------------------------------------------------------
# Below the ephemeral port range (32768 up), which the idle clients' connections use.
PORT_SPAN=12000
# shellcheck source=scripts/ports-lib.sh
source "$ROOT/scripts/ports-lib.sh"

start() { # name port command... ; sets STARTED_PID; output to $WORK/NAME.log
  local name=$1 port=$2
  shift 2
  "$@" >"$WORK/$name.log" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  wait_listening "$name" "$port" "$STARTED_PID"
}

rss_kib() { # pid -> VmRSS summed over the process tree
  local total=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0)
    total=$(( total + ${v:-0} ))
  done
  echo "$total"
}

open_sockets() { # pid -> open socket descriptors of the process tree
  local total=0 p
  for p in $(tree_pids "$1"); do
    total=$(( total + $(find /proc/"$p"/fd -lname 'socket:*' 2>/dev/null | wc -l) ))
  done
  echo "$total"
}

settled_rss_kib() { # pid -> VmRSS once it changed by under 0.5 % over half a second (max 10 s)
  local pid=$1 last now i
  last=$(rss_kib "$pid")
  for i in $(seq 1 20); do
    sleep 0.5
    now=$(rss_kib "$pid")
    if [ $(( (now - last) * 200 )) -le "$last" ] && [ $(( (last - now) * 200 )) -le "$last" ]; then
      echo "$now"
      return
    fi
    last=$now
  done
  echo "$now"
}

free_port
UP_PORT=$PORT
UPSTREAM=127.0.0.1:$UP_PORT
log "starting the static upstream on $UPSTREAM"
start static-upstream "$UP_PORT" "$BIN/examples/static_upstream" "$UPSTREAM"

# payglot gets the benchmark body without its invoice: with the same invoice every request
# after the first would be answered as a repeat of the first create, not translated afresh.
ALP_BODY=$WORK/alppay-request.json
sed 's/"invoice":"[^"]*",//' bench/bodies/alppay-request.json >"$ALP_BODY"
cmp -s "$ALP_BODY" bench/bodies/alppay-request.json && die "the AlpPay benchmark body has no invoice to drop"
CM_BODY=$ROOT/bench/bodies/cryptomus-request.json
"$PAYGLOT" sign --dialect alppay "$ALP_BODY" >"$WORK/alppay.headers"
"$PAYGLOT" sign --dialect cryptomus "$CM_BODY" >"$WORK/cryptomus.headers"

# Starts one target; sets TARGET_PID and TARGET_URL, BODY and HEADERS for its requests.
start_target() { # target run-number
  local t=$1 run=$2 port metrics
  free_port
  port=$PORT
  case "$t" in
    nginx)
      mkdir -p "$WORK/nginx-$run"
      # One worker that can hold every connection (the template's 1024 cannot).
      sed -e "s|@PREFIX@|$WORK/nginx-$run|g" -e "s|@LISTEN@|127.0.0.1:$port|g" \
        -e "s|@UPSTREAM@|$UPSTREAM|g" \
        -e "s|worker_connections [0-9]*;|worker_connections $(( N + 1024 ));|" \
        bench/nginx.conf.template >"$WORK/nginx-$run/nginx.conf"
      grep -q "worker_connections $(( N + 1024 ));" "$WORK/nginx-$run/nginx.conf" ||
        die "bench/nginx.conf.template has no worker_connections line to raise"
      start "nginx-$run" "$port" "$NGINX" -p "$WORK/nginx-$run" -c "$WORK/nginx-$run/nginx.conf" \
        -e "$WORK/nginx-$run/error.log"
      TARGET_URL=http://127.0.0.1:$port/cryptomus/v1/payment
      BODY=$CM_BODY HEADERS=$WORK/cryptomus.headers ;;
    pingora)
      start "pingora-$run" "$port" "$BIN/examples/passthrough" "$UPSTREAM" "127.0.0.1:$port"
      TARGET_URL=http://127.0.0.1:$port/cryptomus/v1/payment
      BODY=$CM_BODY HEADERS=$WORK/cryptomus.headers ;;
    payglot)
      free_port
      metrics=$PORT
      # Its own directory and payment index file for each run.
      mkdir -p "$WORK/payglot-$run"
      (cd "$WORK/payglot-$run" &&
        BENCH_LISTEN=127.0.0.1:$port BENCH_METRICS_LISTEN=127.0.0.1:$metrics \
          BENCH_UPSTREAM=$UPSTREAM BENCH_STORE=$WORK/payglot-$run/index.redb PAYGLOT_LOG=warn \
          exec "$PAYGLOT" run --config "$ROOT/bench/payglot-translate.yaml") \
        >"$WORK/payglot-$run.log" 2>&1 &
      STARTED_PID=$!
      PIDS+=("$STARTED_PID")
      wait_listening "payglot-$run" "$port" "$STARTED_PID"
      TARGET_URL=http://127.0.0.1:$port/v2/payment
      BODY=$ALP_BODY HEADERS=$WORK/alppay.headers ;;
  esac
  TARGET_PID=$STARTED_PID
}

# One request through the target: it must answer 200 with the expected shape.
warm() { # target
  local args=(-sS -o "$WORK/warm.body" -w '%{http_code}' -X POST "$TARGET_URL"
    --data-binary "@$BODY" -H 'Content-Type: application/json') h code
  while IFS= read -r h; do [ -n "$h" ] && args+=(-H "$h"); done <"$HEADERS"
  code=$(curl "${args[@]}") || die "$1: request failed"
  [ "$code" = 200 ] || die "$1: HTTP $code: $(head -c 300 "$WORK/warm.body")"
}

# --- runs --------------------------------------------------------------------------------
RESULTS=$WORK/results.tsv
: >"$RESULTS"
mkfifo "$WORK/hold"
run=0
for case_name in idle after-1; do
  for t in nginx pingora payglot; do
    run=$(( run + 1 ))
    start_target "$t" "$run"
    warm "$t"
    before=$(settled_rss_kib "$TARGET_PID")
    sockets_before=$(open_sockets "$TARGET_PID")
    client_args=(--url "$TARGET_URL" --connections "$N")
    [ "$case_name" = after-1 ] && client_args+=(--body "$BODY" --headers "$HEADERS")
    # The client holds its connections until a line arrives on the FIFO (fd 7 keeps it open).
    exec 7<>"$WORK/hold"
    HOLD_FD_OPEN=1
    "$BIN/examples/idle_clients" "${client_args[@]}" <"$WORK/hold" >"$WORK/client-$run.out" \
      2>"$WORK/client-$run.err" &
    client=$!
    PIDS+=("$client")
    for _ in $(seq 1 600); do
      grep -q '^IDLE ' "$WORK/client-$run.out" && break
      kill -0 "$client" 2>/dev/null || die "the client exited early: $(cat "$WORK/client-$run.err")"
      sleep 0.1
    done
    line=$(grep '^IDLE ' "$WORK/client-$run.out") || die "$t: the client did not open its connections in 60 s"
    # The proxy has accepted them all once it holds N more sockets.
    for _ in $(seq 1 100); do
      [ $(( $(open_sockets "$TARGET_PID") - sockets_before )) -ge "$N" ] && break
      sleep 0.1
    done
    after=$(settled_rss_kib "$TARGET_PID")
    held=$(( $(open_sockets "$TARGET_PID") - sockets_before ))
    echo stop >&7
    exec 7>&-
    HOLD_FD_OPEN=0
    wait "$client" 2>/dev/null || true
    forget_pid "$client"
    stop_pid "$TARGET_PID"
    forget_pid "$TARGET_PID"
    log "$case_name $t: $line; proxy holds $held more sockets; RSS $before -> $after KiB"
    [ "$held" -ge $(( N * 99 / 100 )) ] ||
      log "warning: $t ($case_name) holds only $held of $N connections"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$case_name" "$t" "$before" "$after" "$held" \
      "$(printf '%s\n' "$line" | tr ' ' '\n' | awk -F= '$1 == "errors" || $1 == "non2xx" {s += $2} END {print s + 0}')" \
      >>"$RESULTS"
  done
done

# --- table -------------------------------------------------------------------------------
mkdir -p target/bench-idle
cp "$RESULTS" target/bench-idle/last-raw.tsv
{
  echo "Memory per idle keep-alive client connection, $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) CPUs, $N connections per case, one worker thread per proxy; RSS growth of the proxy process tree (VmRSS after the connections are held and RSS has settled, minus before, after one warm-up request) ÷ $N."
  echo
  echo "| case | target | KiB per connection | ÷ nginx | ÷ pingora | RSS before → after MiB | connections held |"
  echo "|---|---|---|---|---|---|---|"
  awk -F'\t' -v n="$N" '
    { key = $1 SUBSEP $2; per[key] = ($4 - $3) / n; row[++rows] = $0 }
    END {
      for (i = 1; i <= rows; i++) {
        split(row[i], f, "\t")
        key = f[1] SUBSEP f[2]
        ng = per[f[1] SUBSEP "nginx"]; pg = per[f[1] SUBSEP "pingora"]
        note = ""
        if (f[6] > 0) note = " (" f[6] " failed)"
        by_nginx = "-"
        if (ng > 0) by_nginx = sprintf("%.1f", per[key] / ng)
        by_pingora = "-"
        if (pg > 0) by_pingora = sprintf("%.2f", per[key] / pg)
        printf "| %s | %s%s | %.1f | %s | %s | %.1f → %.1f | %d |\n", f[1], f[2], note, per[key], by_nginx, by_pingora, f[3] / 1024, f[4] / 1024, f[5]
      }
    }' "$RESULTS"
} | tee target/bench-idle/last.md
KEEP_WORK=0
