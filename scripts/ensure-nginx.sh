#!/usr/bin/env bash
# nginx with its JavaScript module (njs), from the distribution's packages: the load benchmark's
# peers (scripts/bench-load.sh) and the test that the njs peer translates as payglot does
# (tests/bench_peer.rs). Does nothing when both are there.
set -euo pipefail
have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
have_njs() {
  local dir
  for dir in /usr/lib/nginx/modules /usr/lib64/nginx/modules /usr/share/nginx/modules; do
    [ -e "$dir/ngx_http_js_module.so" ] && return 0
  done
  return 1
}
missing=()
have_nginx || missing+=(nginx)
have_njs || missing+=(libnginx-mod-http-js)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
# Debian starts nginx as a service on install unless a policy forbids it; only the nginx that
# the benchmark or a test starts should run, so forbid it for the duration of the install.
policy_added=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
  $sudo_cmd chmod +x /usr/sbin/policy-rc.d
  policy_added=1
fi
remove_policy() { [ $policy_added -eq 1 ] && $sudo_cmd rm -f /usr/sbin/policy-rc.d; return 0; }
trap remove_policy EXIT
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
