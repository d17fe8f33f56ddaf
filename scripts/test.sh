#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: build tools, the SDK venv and a throwaway
# PostgreSQL cluster (unless PAYGLOT_TEST_POSTGRES_URL names one) first, then every test
# target; ends with one total line over all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-build-deps.sh
bash scripts/sdk-env.sh
# schemathesis for the bounded live run of tests/openapi.rs (about 20 s).
bash scripts/schemathesis.sh --install-only
# nginx + njs for the benchmark peer's test (seconds when missing, nothing when present).
bash scripts/ensure-nginx.sh
log=$(mktemp)
pg_dir=""
cleanup() {
  rm -f "$log"
  if [ -n "$pg_dir" ]; then
    bash scripts/test-postgres.sh stop "$pg_dir/cluster" || true
    rmdir "$pg_dir" 2>/dev/null || true
  fi
}
trap cleanup EXIT
# The store tests run against PostgreSQL too: a throwaway cluster unless one is given.
if [ -z "${PAYGLOT_TEST_POSTGRES_URL:-}" ]; then
  pg_dir=$(mktemp -d)
  chmod 755 "$pg_dir" # the cluster runs as `postgres` when this runs as root
  PAYGLOT_TEST_POSTGRES_URL=$(bash scripts/test-postgres.sh start "$pg_dir/cluster")
  export PAYGLOT_TEST_POSTGRES_URL
fi
# The fixtures' signatures, recomputed with Python alone (independently of payglot's code).
python3 tests/fixtures/tools/check_signatures.py
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
