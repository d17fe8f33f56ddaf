#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: build tools and the SDK venv first, then every
# test target; ends with one total line over all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-build-deps.sh
bash scripts/sdk-env.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --all-targets --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# "test result: ok. 45 passed; 0 failed; ..." from each test binary, summed.
totals=$(sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' "$log" |
    awk '{p += $1; f += $2} END {printf "%d %d", p, f}')
read -r passed failed <<<"$totals"
echo
echo "${passed} passed, ${failed} failed"
exit "$status"
