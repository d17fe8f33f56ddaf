#!/usr/bin/env bash
# Soak: payglot (the release binary, `payglot run`) under a fixed load through all nine
# dialect pairs for a few minutes, while its config file is rewritten every few seconds and one
# upstream flaps. Prints a Markdown table of the results (also kept in target/soak/last.md)
# and exits non-zero when the run is not clean: an unexpected error, a reload not applied, a
# panic, or RSS / open file descriptors that grow. See docs/soak.md.
#
#     bash scripts/soak.sh
#
# Environment (defaults in brackets): SOAK_SECONDS [240] of load; SOAK_RATE [180] requests/s
# over all pairs (each pair gets an equal share); SOAK_CONNECTIONS [4] per pair; SOAK_RELOAD_SECS
# [5] between config rewrites; SOAK_FLAP_SECS [10]: the flapping sandbox is stopped, then
# started again, each after this long; SOAK_SAMPLE_SECS [2] between RSS / FD samples;
# SOAK_WARMUP_SECS [90] of samples left out of the trend. Everything started here is stopped
# on exit, by PID; the logs are kept when the run fails (or with SOAK_KEEP_LOGS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${SOAK_SECONDS:-240}
RATE=${SOAK_RATE:-180}
CONNECTIONS=${SOAK_CONNECTIONS:-4}
RELOAD_EVERY=${SOAK_RELOAD_SECS:-5}
FLAP_EVERY=${SOAK_FLAP_SECS:-10}
SAMPLE_EVERY=${SOAK_SAMPLE_SECS:-2}
WARMUP=${SOAK_WARMUP_SECS:-90}
DIALECTS=(alppay cryptomus apollo)

log() { printf '[soak] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v curl >/dev/null 2>&1 || die "curl is needed (apt-get install curl)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed (apt-get install python3)"
bash scripts/ensure-build-deps.sh

# --- processes and cleanup (set before the build: an interrupt then orphans nothing) -------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/payglot-soak.XXXXXX")
PIDS=()
FLAPPING_PID=""
KEEP_WORK=1
cleanup() {
  local pid
  for pid in "${PIDS[@]}" $FLAPPING_PID; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}" $FLAPPING_PID; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  if [ "$KEEP_WORK" -eq 0 ]; then
    rm -rf "$WORK"
  else
    log "logs and samples kept in $WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build -------------------------------------------------------------------------------
log "building (release)"
cargo build --release --locked --bin payglot --example loadgen >&2
PAYGLOT=$ROOT/target/release/payglot
LOADGEN=$ROOT/target/release/examples/loadgen

# --- ports ---------------------------------------------------------------------------------
# shellcheck source=scripts/ports-lib.sh
source "$ROOT/scripts/ports-lib.sh"
free_port; PROXY_PORT=$PORT
free_port; METRICS_PORT=$PORT
free_port; STABLE_PORT=$PORT
free_port; FLAPPING_PORT=$PORT

# --- config --------------------------------------------------------------------------------
# One merchant per pair (match on merchant), each with its own keys; every pair's route goes to
# the target provider on the stable sandbox, except the three towards Cryptomus: they go to a
# second sandbox that flaps, with the stable one as failover. Routes to AlpPay split between two
# upstream ids of the stable sandbox; each rewrite swaps their weights (a real change).
key_id() { # from to
  case $1 in
    alppay) echo "ak_soak_$1_to_$2" ;;
    cryptomus) printf '5eed0000-0000-4000-8000-0000000000%02d\n' "$(($(index_of "$2") + 1))" ;;
    apollo) echo "pk_soak_$1_to_$2" ;;
  esac
}
index_of() { local i; for i in "${!DIALECTS[@]}"; do [ "${DIALECTS[$i]}" = "$1" ] && echo "$i"; done; }
write_config() { # generation -> the config file, replaced atomically
  local generation=$1 heavy light from to file=$WORK/payglot.yaml
  if [ $((generation % 2)) -eq 0 ]; then heavy=3; light=1; else heavy=1; light=3; fi
  {
    cat <<EOF
# soak generation $generation
server:
  listen: "127.0.0.1:$PROXY_PORT"
  metrics_listen: "127.0.0.1:$METRICS_PORT"
  threads: 1
store: { kind: embedded, path: "$WORK/index.redb" }
webhooks:
  public_base_url: "http://127.0.0.1:$PROXY_PORT"
merchants:
EOF
    for from in "${DIALECTS[@]}"; do
      for to in "${DIALECTS[@]}"; do
        cat <<EOF
  - id: $from-to-$to
    dialect: $from
    credentials: { key_id: "$(key_id "$from" "$to")", secret: "soak_secret_${from}_to_$to" }
    profile:
      name: "Soak shop $from to $to"
      site_url: "https://soak-shop.example"
      email: "billing@soak-shop.example"
      default_customer: { name: "Soak Customer", email: "customer@soak-shop.example" }
      default_networks: { USDT: tron }
    webhook_url: "http://127.0.0.1:9/unused"
EOF
      done
    done
    echo "upstreams:"
    upstream() { # id dialect port
      cat <<EOF
  - id: $1
    dialect: $2
    base_url: "http://127.0.0.1:$3/$(case $2 in alppay) echo alppay/v2 ;; cryptomus) echo cryptomus/v1 ;; apollo) echo apollo/api-gateway ;; esac)"
    credentials: { key_id: "$(demo_key "$2")", secret: "$(demo_secret "$2")" }
    connect_timeout_ms: 1000
    circuit_breaker: { failures: 3, cooldown_ms: 1000 }
EOF
    }
    upstream alppay-stable alppay "$STABLE_PORT"
    upstream alppay-stable-2 alppay "$STABLE_PORT"
    upstream cryptomus-stable cryptomus "$STABLE_PORT"
    upstream cryptomus-flapping cryptomus "$FLAPPING_PORT"
    upstream apollo-stable apollo "$STABLE_PORT"
    echo "routes:"
    for from in "${DIALECTS[@]}"; do
      for to in "${DIALECTS[@]}"; do
        echo "  - name: $from-to-$to"
        echo "    match: { merchant: $from-to-$to }"
        case $to in
          alppay)
            echo "    split:"
            echo "      - { upstream: alppay-stable, weight: $heavy }"
            echo "      - { upstream: alppay-stable-2, weight: $light }"
            ;;
          cryptomus)
            echo "    to: cryptomus-flapping"
            echo "    failover: [cryptomus-stable]"
            ;;
          apollo) echo "    to: apollo-stable" ;;
        esac
      done
    done
  } >"$file.next"
  mv "$file.next" "$file"
}
# The sandbox's demo account at each provider (payglot's upstream credentials).
demo_key() {
  case $1 in
    alppay) echo ak_test_payglot_alppay ;;
    cryptomus) echo c0ffee00-0000-4000-8000-000000000001 ;;
    apollo) echo pk_test_payglot_apollo ;;
  esac
}
demo_secret() {
  case $1 in
    alppay) echo sk_test_payglot_alppay ;;
    cryptomus) echo cm_test_payglot_key ;;
    apollo) echo sk_test_payglot_apollo ;;
  esac
}
config_hash() { sha256sum "$WORK/payglot.yaml" | cut -c1-12; }

# Request bodies: `{seq}` is unique per request (order reference, Apollo nonce).
cat >"$WORK/alppay.json" <<'EOF'
{"amount":"25.00","asset":{"short":"USDT","network":"tron"},"customer":{"id":7,"name":"Ann","email":"ann@example.com"},"invoice":"SOAK-{seq}","checkoutUrl":"https://soak-shop.example/back"}
EOF
cat >"$WORK/cryptomus.json" <<'EOF'
{"amount":"25.00","currency":"USDT","order_id":"soak-{seq}","network":"tron","url_callback":"https://soak-shop.example/cryptomus-webhook","lifetime":3600}
EOF
cat >"$WORK/apollo.json" <<'EOF'
{"currency":"USDT","network":"tron","amount":"25.00","order":"Soak order {seq}","nonce":{seq},"successWebhook":"https://soak-shop.example/apollo-webhook","lifetime":3600}
EOF
create_path() { # from pair-target
  case $1 in
    alppay) echo /v2/payment ;;
    # Cryptomus merchants to Cryptomus use the NearPayments prefix.
    cryptomus) if [ "$2" = cryptomus ]; then echo /cryptomus/v1/payment; else echo /v1/payment; fi ;;
    apollo) echo /api-gateway/make-order ;;
  esac
}

# --- start ---------------------------------------------------------------------------------
write_config 0
"$PAYGLOT" check --config "$WORK/payglot.yaml" >/dev/null || die "the soak config does not check"

PAYGLOT_LOG=warn "$PAYGLOT" sandbox --listen "127.0.0.1:$STABLE_PORT" >"$WORK/sandbox-stable.log" 2>&1 &
PIDS+=($!)
wait_listening sandbox-stable "$STABLE_PORT" "$!"
start_flapping() {
  PAYGLOT_LOG=warn "$PAYGLOT" sandbox --listen "127.0.0.1:$FLAPPING_PORT" \
    >>"$WORK/sandbox-flapping.log" 2>&1 &
  FLAPPING_PID=$!
  wait_listening sandbox-flapping "$FLAPPING_PORT" "$FLAPPING_PID"
}
stop_flapping() {
  kill -TERM "$FLAPPING_PID" 2>/dev/null || true
  wait "$FLAPPING_PID" 2>/dev/null || true
  FLAPPING_PID=""
}
start_flapping

PAYGLOT_LOG_FORMAT=json "$PAYGLOT" run --config "$WORK/payglot.yaml" >"$WORK/payglot.log" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
wait_listening payglot "$PROXY_PORT" "$PROXY_PID"
wait_listening payglot-metrics "$METRICS_PORT" "$PROXY_PID"
metrics() { curl -s --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics"; }
# Waits (bounded) until the metrics show the config file's hash as the loaded one.
wait_applied() { # hash -> prints the milliseconds it took, or fails
  local started=$EPOCHREALTIME i
  for i in $(seq 1 100); do
    if metrics | grep -q "^payglot_config_info{hash=\"$1\"} 1"; then
      python3 -c "print(round(($EPOCHREALTIME - $started) * 1000))"
      return 0
    fi
    sleep 0.05
  done
  return 1
}
wait_applied "$(config_hash)" >/dev/null || die "payglot does not report the first config as loaded"

# --- load ----------------------------------------------------------------------------------
PER_PAIR=$(python3 -c "print($RATE / 9)")
log "load: $RATE req/s over 9 pairs for $DURATION s; reload every $RELOAD_EVERY s; flap every $FLAP_EVERY s"
LOADGEN_PIDS=()
for from in "${DIALECTS[@]}"; do
  for to in "${DIALECTS[@]}"; do
    pair=$from-to-$to
    "$LOADGEN" --url "http://127.0.0.1:$PROXY_PORT$(create_path "$from" "$to")" \
      --body "$WORK/$from.json" --unique --sign-config "$WORK/payglot.yaml" --merchant "$pair" \
      --rate "$PER_PAIR" --duration "$DURATION" --connections "$CONNECTIONS" \
      --non2xx-log "$WORK/$pair.non2xx" >"$WORK/$pair.loadgen" 2>&1 &
    LOADGEN_PIDS+=($!)
    PIDS+=($!)
  done
done

# One loop does the periodic work: samples, config rewrites (each checked to apply), flaps.
sample() { # elapsed -> one line: seconds rss_kib fds
  local rss fds
  rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PROXY_PID/status")
  fds=$(find "/proc/$PROXY_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
  echo "$1 $rss $fds" >>"$WORK/samples.txt"
}
: >"$WORK/samples.txt"
: >"$WORK/reloads.txt"
: >"$WORK/flaps.txt"
started=$SECONDS
next_sample=0
next_reload=$RELOAD_EVERY
next_flap=$FLAP_EVERY
generation=0
while [ $((SECONDS - started)) -lt "$DURATION" ]; do
  kill -0 "$PROXY_PID" 2>/dev/null || die "payglot exited during the soak; see $WORK/payglot.log"
  now=$((SECONDS - started))
  if [ "$now" -ge "$next_sample" ]; then
    sample "$now"
    next_sample=$((next_sample + SAMPLE_EVERY))
  fi
  if [ "$now" -ge "$next_reload" ]; then
    generation=$((generation + 1))
    write_config "$generation"
    written=$EPOCHREALTIME   # the rename that publishes it has just happened
    hash=$(config_hash)
    if took=$(wait_applied "$hash"); then
      echo "$now $generation $hash applied $took $written" >>"$WORK/reloads.txt"
    else
      echo "$now $generation $hash missed - $written" >>"$WORK/reloads.txt"
    fi
    next_reload=$((next_reload + RELOAD_EVERY))
  fi
  if [ "$now" -ge "$next_flap" ]; then
    if [ -n "$FLAPPING_PID" ]; then
      stop_flapping
      echo "$now stopped" >>"$WORK/flaps.txt"
    else
      start_flapping
      echo "$now started" >>"$WORK/flaps.txt"
    fi
    next_flap=$((next_flap + FLAP_EVERY))
  fi
  sleep 0.2
done
for pid in "${LOADGEN_PIDS[@]}"; do
  wait "$pid" || die "a load generator failed; see $WORK/*.loadgen"
done
# The in-flight gauge back to zero, then the last sample.
for _ in $(seq 1 50); do
  metrics | grep -q '^payglot_in_flight_requests 0' && break
  sleep 0.1
done
sample "$((SECONDS - started))"
metrics >"$WORK/metrics.txt"

# --- results -------------------------------------------------------------------------------
mkdir -p target/soak
cp "$WORK/samples.txt" target/soak/last-samples.txt
verdict=0
python3 - "$WORK" "$DURATION" "$RATE" "$WARMUP" "$RELOAD_EVERY" "$FLAP_EVERY" <<'PY' | tee target/soak/last.md || verdict=$?
import datetime, json, pathlib, re, sys

work = pathlib.Path(sys.argv[1])
duration, rate, warmup = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
reload_every, flap_every = sys.argv[5], sys.argv[6]
dialects = ["alppay", "cryptomus", "apollo"]
problems = []

# The load generators' lines.
pairs = {}
for source in dialects:
    for target in dialects:
        pair = f"{source}-to-{target}"
        text = (work / f"{pair}.loadgen").read_text()
        line = next(l for l in text.splitlines() if l.startswith("LOADGEN "))
        pairs[pair] = dict(kv.split("=", 1) for kv in line.split()[1:])

# payglot's own counters, by label.
samples = []
for line in (work / "metrics.txt").read_text().splitlines():
    m = re.match(r'^(\w+)(?:\{(.*)\})? ([0-9.e+-]+|NaN)$', line)
    if m:
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
def total(name, **want):
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in want.items()))

answered = sum(int(p["requests"]) for p in pairs.values())
non2xx = sum(int(p["non2xx"]) for p in pairs.values())
transport = sum(int(p["errors"]) for p in pairs.values())
missed = sum(int(p["missed"]) for p in pairs.values())
counted = total("payglot_requests_total")
not_ok = counted - total("payglot_requests_total", outcome="ok")
# What a flap explains: an exchange with the flapping sandbox that broke when it stopped
# (502 upstream_unreachable); a refused connection is failed over and never reaches the caller.
flap = total("payglot_requests_total", upstream="cryptomus-flapping", outcome="upstream_unreachable")
unexpected = not_ok - flap + transport + abs(non2xx - not_ok)
if unexpected:
    problems.append(f"{unexpected:.0f} unexpected errors")

# Every non-2xx the callers saw: 502 in the caller's dialect.
envelope = {
    "alppay": lambda b: "code" in b and "message" in b,
    "cryptomus": lambda b: b.get("state") == 1 and "message" in b,
    "apollo": lambda b: b.get("success") is False and "message" in b.get("error", {}),
}
bad_envelopes = 0
for pair in pairs:
    source = pair.split("-to-")[0]
    for line in (work / f"{pair}.non2xx").read_text().splitlines():
        status, _, body = line.partition("\t")
        try:
            ok = status == "502" and envelope[source](json.loads(body))
        except ValueError:
            ok = False
        bad_envelopes += not ok
if bad_envelopes:
    problems.append(f"{bad_envelopes} non-2xx answers not a 502 in the caller's dialect")

reloads = [l.split() for l in (work / "reloads.txt").read_text().splitlines()]
applied = [r for r in reloads if r[3] == "applied"]
if len(applied) != len(reloads):
    problems.append(f"{len(reloads) - len(applied)} reloads not applied")
reload_metric = total("payglot_config_reloads_total", result="applied")
if reload_metric != len(reloads):
    problems.append(f"payglot counted {reload_metric:.0f} applied reloads for {len(reloads)} rewrites")
refused = total("payglot_config_reloads_total", result="refused")
flaps = (work / "flaps.txt").read_text().splitlines()
log_text = (work / "payglot.log").read_text(errors="replace")
# When payglot logged each config as reloaded, by hash.
reloaded_at = {}
for line in log_text.splitlines():
    if '"config reloaded"' in line:
        entry = json.loads(line)
        stamp = datetime.datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
        reloaded_at[entry["fields"]["config"]] = stamp.timestamp()
apply_ms = sorted(round((reloaded_at[r[2]] - float(r[5])) * 1000) for r in applied if r[2] in reloaded_at)
panics = log_text.count("panicked")
if panics:
    problems.append(f"{panics} panics in payglot's log")

rows = [tuple(map(int, l.split())) for l in (work / "samples.txt").read_text().splitlines()]
steady = [r for r in rows if r[0] >= warmup] or rows
third = max(1, len(steady) // 3)
def trend(column, unit, scale, limit_ratio, limit_abs):
    values = [r[column] for r in rows]
    first = sum(r[column] for r in steady[:third]) / third
    last = sum(r[column] for r in steady[-third:]) / third
    grew = last - first
    if grew > max(first * limit_ratio, limit_abs):
        problems.append(f"{unit} grew from {first / scale:.1f} to {last / scale:.1f}")
    fmt = lambda v: f"{v / scale:.1f}" if scale != 1 else f"{v:.0f}"
    return (fmt(values[0]), fmt(values[-1]), fmt(max(values)), fmt(first), fmt(last),
            f"{(grew / first * 100) if first else 0:+.1f} %")

print(f"Soak: {duration} s at {rate:g} req/s over 9 pairs ({rate / 9:.1f} each), config rewritten "
      f"every {reload_every} s, the Cryptomus upstream flapping every {flap_every} s.\n")
print("| pair | sent | 2xx | non-2xx | transport errors | missed | p50 ms | p99 ms | max ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for pair, p in pairs.items():
    n = int(p["requests"])
    print(f"| {pair} | {n} | {n - int(p['non2xx'])} | {p['non2xx']} | {p['errors']} | {p['missed']} "
          f"| {int(p['p50_us']) / 1000:.2f} | {int(p['p99_us']) / 1000:.2f} | {int(p['max_us']) / 1000:.1f} |")
print(f"| **all** | {answered} | {answered - non2xx} | {non2xx} | {transport} | {missed} | | | |\n")
took = sorted(int(r[4]) for r in applied)
rss = trend(1, "RSS (MiB)", 1024, 0.10, 4 * 1024)
fds = trend(2, "open FDs", 1, 0.25, 16)
print("| check | result |")
print("|---|---|")
print(f"| requests payglot counted / not ok | {counted:.0f} / {not_ok:.0f} |")
print(f"| explained by the flap (502, exchange with the flapping sandbox broke) | {flap:.0f} |")
print(f"| **unexpected errors** | **{unexpected:.0f}** |")
print(f"| failovers to the stable sandbox | {total('payglot_failovers_total'):.0f} |")
print(f"| upstream failures (connect / broken / timeout) | "
      f"{total('payglot_upstream_failures_total', reason='connect'):.0f} / "
      f"{total('payglot_upstream_failures_total', reason='broken'):.0f} / "
      f"{total('payglot_upstream_failures_total', reason='timeout'):.0f} |")
print(f"| flaps (stops + starts) | {len(flaps)} |")
print(f"| config rewrites / applied (payglot's counter) / refused | {len(reloads)} / {reload_metric:.0f} / {refused:.0f} |")
if apply_ms:
    print(f"| rewrite to payglot's log line (config reloaded), median / max | "
          f"{apply_ms[len(apply_ms) // 2]} / {apply_ms[-1]} ms |")
if took:
    print(f"| rewrite to the new hash seen on /metrics, median / max | {took[len(took) // 2]} / {took[-1]} ms |")
print(f"| split by the alternating weights (alppay-stable / -2) | "
      f"{total('payglot_requests_total', upstream='alppay-stable'):.0f} / "
      f"{total('payglot_requests_total', upstream='alppay-stable-2'):.0f} |")
print(f"| panics in the log | {panics} |\n")
print(f"| sampled every few s | first | last | max | mean of first third (after {warmup} s) | mean of last third | trend |")
print("|---|---:|---:|---:|---:|---:|---:|")
print("| RSS MiB | " + " | ".join(rss) + " |")
print("| open FDs | " + " | ".join(fds) + " |\n")
print("**PASS**" if not problems else "**FAIL**: " + "; ".join(problems))
sys.exit(1 if problems else 0)
PY
[ "$verdict" -eq 0 ] && KEEP_WORK=${SOAK_KEEP_LOGS:-0}
exit "$verdict"
