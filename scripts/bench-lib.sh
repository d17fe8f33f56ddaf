# Shared by the load benchmarks (scripts/bench-load.sh, scripts/bench-scaling.sh); sourced, not
# run. Tools, the release build, the temporary directory, ports, starting processes (stopped on
# exit, by PID), CPU and memory accounting, the signed request files and the load generators.
# The sourcing script sets ROOT (the repository) and LOG_TAG first.

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools -------------------------------------------------------------------------------
install_missing() { # extra Debian packages the caller needs, as `command:package` pairs
  local missing=() pair
  for pair in cmake:cmake cc:gcc wrk:wrk curl:curl python3:python3 "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    local sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  bash "$ROOT/scripts/ensure-nginx.sh"
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  local dir
  NGINX_MODULES=""
  for dir in /usr/lib/nginx/modules /usr/lib64/nginx/modules /usr/share/nginx/modules; do
    if [ -e "$dir/ngx_http_js_module.so" ]; then NGINX_MODULES=$dir; break; fi
  done
  [ -n "$NGINX_MODULES" ] || die "nginx's JavaScript module is not installed"
}

# --- processes and cleanup (set before the build: an interrupt then waits for it, orphans nothing)
WORK=$(mktemp -d /tmp/payglot-bench.XXXXXX)
chmod 755 "$WORK"   # nginx's worker runs as an unprivileged user
# A memory filesystem for payment index files that must not wait on the disk (see bench/*.yaml).
MEMDIR=""
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
  MEMDIR=$(mktemp -d /dev/shm/payglot-bench.XXXXXX)
else
  MEMDIR=$WORK/mem
  mkdir -p "$MEMDIR"
  log "warning: no tmpfs at /dev/shm; the 'memory' index files are on $(stat -f -c %T "$WORK")"
fi
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
  case "$MEMDIR" in /dev/shm/payglot-bench.*) rm -rf "$MEMDIR" ;; esac
  rm -f "$WORK"/*.tsv.req
  if [ "$KEEP_WORK" -eq 0 ]; then
    rm -rf "$WORK"
  elif ! rmdir "$WORK" 2>/dev/null; then
    log "logs kept in $WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build() {
  log "building (release)"
  (cd "$ROOT" && cargo build --release --locked --bin payglot --example static_upstream \
    --example passthrough --example loadgen --example no_index >&2)
  BIN=$ROOT/target/release
  PAYGLOT=$BIN/payglot
}

# --- ports and accounting ----------------------------------------------------------------
# shellcheck source=scripts/ports-lib.sh
source "$ROOT/scripts/ports-lib.sh"

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

start() { # name port command... ; sets STARTED_PID; output to $WORK/NAME.log or $START_LOG
  local name=$1 port=$2
  shift 2
  "$@" >"${START_LOG:-$WORK/$name.log}" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  wait_listening "$name" "$port" "$STARTED_PID"
}

start_upstream() { # sets UPSTREAM (ip:port) and UPSTREAM_PID
  free_port
  UPSTREAM=127.0.0.1:$PORT
  log "starting the static upstream on $UPSTREAM"
  start static-upstream "$PORT" "$BIN/examples/static_upstream" "$UPSTREAM"
  UPSTREAM_PID=$STARTED_PID
}

start_payglot() { # name config store-file log-level [threads] [log-file] [program]; sets PAYGLOT_PORT
  # `program`: another binary that runs the config as `payglot run` does (examples/no_index).
  local name=$1 config=$2 store=$3 level=$4 threads=${5:-1} metrics command=("$PAYGLOT" run)
  [ -z "${7:-}" ] || command=("$7")
  free_port
  PAYGLOT_PORT=$PORT
  free_port
  metrics=$PORT
  if [ "$threads" != 1 ]; then
    sed "s/^  threads: 1$/  threads: $threads/" "$config" >"$WORK/$name.yaml"
    grep -q "^  threads: $threads$" "$WORK/$name.yaml" || die "$config: no 'threads: 1' to change"
    config=$WORK/$name.yaml
  fi
  log "starting $name on 127.0.0.1:$PAYGLOT_PORT (index $store)"
  BENCH_LISTEN=127.0.0.1:$PAYGLOT_PORT BENCH_METRICS_LISTEN=127.0.0.1:$metrics \
    BENCH_UPSTREAM=$UPSTREAM BENCH_STORE=$store PAYGLOT_LOG=$level START_LOG=${6:-} \
    start "$name" "$PAYGLOT_PORT" "${command[@]}" --config "$config"
}

start_nginx() { # name template; sets NGINX_PORT
  free_port
  NGINX_PORT=$PORT
  mkdir -p "$WORK/$1"
  sed -e "s|@PREFIX@|$WORK/$1|g" -e "s|@LISTEN@|127.0.0.1:$NGINX_PORT|g" \
    -e "s|@UPSTREAM@|$UPSTREAM|g" -e "s|@MODULES@|$NGINX_MODULES|g" -e "s|@NJS@|$ROOT/bench/njs|g" \
    "$2" >"$WORK/$1/nginx.conf"
  log "starting $1 on 127.0.0.1:$NGINX_PORT"
  # The peer's credentials: the same demo accounts as bench/payglot-translate.yaml.
  PEER_ALPPAY_KEY_ID=ak_test_payglot_alppay PEER_ALPPAY_SECRET=sk_test_payglot_alppay \
    PEER_CRYPTOMUS_MERCHANT=c0ffee00-0000-4000-8000-000000000001 \
    PEER_CRYPTOMUS_KEY=cm_test_payglot_key \
    start "$1" "$NGINX_PORT" "$NGINX" -p "$WORK/$1" -c "$WORK/$1/nginx.conf" -e "$WORK/$1/error.log"
}

# --- requests ----------------------------------------------------------------------------
# target name -> url, dialect of its body (alppay|cryptomus|lookup), pid, signing scheme,
# padded size
declare -A URL DIALECT PID SIGN_AS PAD
TARGETS=()
add_target() { # name url dialect pid [sign-as] [pad]
  URL[$1]=$2; DIALECT[$1]=$3; PID[$1]=$4; SIGN_AS[$1]=${5:-$3}; PAD[$1]=${6:-0}
  TARGETS+=("$1")
}

make_requests() { # target tag count -> prints the file: `count` signed requests, unique references
  local t=$1 file=$WORK/$1-$2.tsv.req
  if [ "${DIALECT[$t]}" = lookup ]; then
    printf 'API-KEY: ak_test_payglot_alppay\t\n' >"$file"
  else
    python3 "$ROOT/bench/make-requests.py" --dialect "${DIALECT[$t]}" \
      --body "$ROOT/bench/bodies/${DIALECT[$t]}-request.json" --sign-as "${SIGN_AS[$t]}" \
      --count "$3" --tag "$2" --pad "${PAD[$t]}" >"$file"
  fi
  echo "$file"
}

method_of() { [ "${DIALECT[$1]}" = lookup ] && echo GET || echo POST; }

run_wrk() { # target requests-file seconds
  BENCH_REQUESTS=$2 BENCH_METHOD=$(method_of "$1") \
    wrk -t1 -c"$CONNECTIONS" -d"${3}s" --timeout 5s -s "$ROOT/bench/wrk.lua" "${URL[$1]}"
}
run_loadgen() { # target requests-file rate seconds
  "$BIN/examples/loadgen" --url "${URL[$1]}" --requests "$2" --method "$(method_of "$1")" \
    --connections "$CONNECTIONS" --rate "$3" --duration "$4"
}

preflight() { # target [tag] -> the answer in $WORK/preflight.body
  local file code args=() h
  file=$(make_requests "$1" "${2:-pre}" 1)
  local fields=()
  mapfile -t fields < <(tr '\t' '\n' <"$file")
  local body=${fields[-1]}
  unset 'fields[-1]'
  for h in "${fields[@]}"; do [ -n "$h" ] && args+=(-H "$h"); done
  if [ "$(method_of "$1")" = GET ]; then
    code=$(curl -sS -o "$WORK/preflight.body" -w '%{http_code}' "${URL[$1]}" "${args[@]}") || die "$1: request failed"
  else
    code=$(curl -sS -o "$WORK/preflight.body" -w '%{http_code}' -X POST "${URL[$1]}" \
      -H 'Content-Type: application/json' --data-binary "$body" "${args[@]}") || die "$1: request failed"
  fi
  rm -f "$file"
  [ "$code" = 200 ] || die "$1: HTTP $code: $(head -c 300 "$WORK/preflight.body")"
  log "preflight $1: HTTP $code, $(wc -c <"$WORK/preflight.body") bytes"
}

field() { # line key
  printf '%s\n' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'
}

# One run, recorded as a line of $RESULTS: mode target round rps p50 p99 p99.9 cpu-ticks
# requests errors non2xx missed. The requests are made first (outside the measured window);
# a run that sends more requests than the file holds repeats references (payglot then answers
# from its index), which is reported.
measure() { # mode tag target round count command...
  local mode=$1 tag=$2 t=$3 round=$4 count=$5 file before after line
  shift 5
  file=$(make_requests "$t" "$tag" "$count")
  before=$(cpu_ticks "${PID[$t]}")
  line=$("$@" "$file" | grep -E '^(WRK|LOADGEN) ' | tail -n1) || die "$t ($mode): the load generator failed"
  after=$(cpu_ticks "${PID[$t]}")
  rm -f "$file"
  local req errors non2xx
  req=$(field "$line" requests)
  errors=$(field "$line" errors)
  non2xx=$(field "$line" non2xx)
  [ "${req:-0}" -gt 0 ] || die "$t ($mode): no request completed: $line"
  if [ "$errors" != 0 ] || [ "$non2xx" != 0 ]; then
    log "warning: $t ($mode): $errors errors, $non2xx non-2xx answers"
  fi
  if [ "${DIALECT[$t]}" != lookup ] && [ "$req" -gt "$count" ] && [[ "$t" == payglot* ]]; then
    log "warning: $t ($mode): $req requests for $count references; raise BENCH_MAX_RPS"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$t" "$round" "$(field "$line" rps)" \
    "$(field "$line" p50_us)" "$(field "$line" p99_us)" "$(field "$line" p999_us)" \
    $(( after - before )) "$req" "$errors" "$non2xx" "$(field "$line" missed)" >>"$RESULTS"
  log "$mode round $round $t: $line cpu_ticks=$(( after - before ))"
}

wrk_with() { # target seconds file -> for measure: wrk's argument order
  run_wrk "$1" "$3" "$2"
}
loadgen_with() { # target rate seconds file
  run_loadgen "$1" "$4" "$2" "$3"
}

machine_line() {
  echo "$(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM"
}
