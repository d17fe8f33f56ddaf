# Loopback ports for the benchmark and soak scripts; sourced, not run. The sourcing script
# defines `die` and WORK (where each process's log is) first. PORT_SPAN (default 40000) bounds
# the ports drawn from 20000 up: scripts/bench-idle.sh keeps them below the ephemeral range
# its 10,000 client connections use.

USED_PORTS=" "
free_port() { # sets PORT to a loopback port nothing listens on and this script has not used
  while :; do
    PORT=$((20000 + RANDOM % ${PORT_SPAN:-40000}))
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
