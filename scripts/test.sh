#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: build tools first, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-build-deps.sh
bash scripts/sdk-env.sh
cargo test --all-targets --locked
