#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests.
#
#   scripts/test-postgres.sh start DIR   # initdb + start in DIR (created); prints the URL
#                                        # (as root, DIR's parents must let `postgres` through)
#   scripts/test-postgres.sh stop DIR    # stops it and deletes DIR
#   scripts/test-postgres.sh halt DIR    # stops it, keeping DIR (tests of an outage)
#   scripts/test-postgres.sh resume DIR  # starts a halted cluster again on the same port
#
# Installs Debian's postgresql package when initdb/pg_ctl are missing. PostgreSQL refuses to
# run as root, so as root the cluster belongs to the `postgres` user. It listens on 127.0.0.1
# only, on a free port, with its unix socket inside DIR; trust authentication, no fsync (the
# data is thrown away).
set -euo pipefail

find_bin() {
  local name=$1 dir
  if command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
    return
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/$name" ]; then
      echo "$dir/$name"
      return
    fi
  done
  return 1
}

ensure_installed() {
  if find_bin initdb >/dev/null && find_bin pg_ctl >/dev/null; then
    return
  fi
  echo "installing postgresql" >&2
  local sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql >&2
  find_bin initdb >/dev/null && find_bin pg_ctl >/dev/null || {
    echo "postgresql was installed but initdb/pg_ctl are still missing" >&2
    exit 1
  }
}

# Runs a PostgreSQL program as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start_on() {
  local dir=$1 port=$2
  as_owner "$(find_bin pg_ctl)" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" \
    start >/dev/null
}

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop|halt|resume DIR" >&2
  exit 2
fi

case "$cmd" in
start)
  ensure_installed
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      echo "$dir must be reachable by the postgres user: make its parents world-executable" >&2
      exit 1
    fi
  fi
  as_owner "$(find_bin initdb)" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C \
    --no-sync >/dev/null
  # A port nobody listens on now; retried should another process take it first.
  started=""
  for _ in 1 2 3 4 5; do
    port=$(( (RANDOM << 15 | RANDOM) % 30000 + 20000 ))
    if start_on "$dir" "$port" 2>/dev/null; then
      started=1
      break
    fi
  done
  if [ -z "$started" ]; then
    echo "could not start PostgreSQL; its log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
  fi
  echo "$port" >"$dir/port"
  as_owner "$(find_bin psql)" -h 127.0.0.1 -p "$port" -U postgres -q -c \
    "CREATE DATABASE payglot_test" >/dev/null
  url="postgres://postgres@127.0.0.1:$port/payglot_test"
  echo "$url" >"$dir/url"
  echo "$url"
  ;;
halt | stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$(find_bin pg_ctl)" -D "$dir/data" -m fast -w stop >/dev/null
  fi
  if [ "$cmd" = stop ]; then
    rm -rf "$dir"
  fi
  ;;
resume)
  start_on "$dir" "$(cat "$dir/port")"
  ;;
*)
  echo "usage: $0 start|stop|halt|resume DIR" >&2
  exit 2
  ;;
esac
