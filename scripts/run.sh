#!/usr/bin/env bash
# Runs payglot on the bundled config: the proxy on 127.0.0.1:8080, metrics on 127.0.0.1:9464,
# and the provider sandbox in-process on 127.0.0.1:8090. Extra arguments go to `payglot run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-build-deps.sh
cargo build --release --locked --bin payglot
exec target/release/payglot run --config config/payglot.yaml "$@"
