#!/usr/bin/env bash
# schemathesis against payglot: installs it (pinned in tests/schemathesis/requirements.txt) into
# the venv scripts/sdk-env.sh makes, then runs the bounded live test of tests/openapi.rs, which
# starts `payglot run` on the bundled config (free loopback ports, its sandbox in-process),
# runs schemathesis with docs/openapi/payglot.yaml and the signing hooks of
# tests/schemathesis/hooks.py, and stops payglot by its PID. See docs/openapi.md.
#
#   bash scripts/schemathesis.sh [--install-only] [EXAMPLES [SEED]]
#
# EXAMPLES: schemathesis --max-examples, per operation (default 200; the test command runs 20);
# SEED: schemathesis' seed (default: a fresh one, printed). PAYGLOT_SCHEMATHESIS_SECONDS bounds
# the run (default 900).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/sdk-venv
REQ=tests/schemathesis/requirements.txt
STAMP="$VENV/.schemathesis.sha256"

bash scripts/sdk-env.sh
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]] || ! "$VENV/bin/schemathesis" --version >/dev/null 2>&1; then
    echo "schemathesis: installing $REQ into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ" ||
        { echo "schemathesis: pip could not install $REQ into $VENV (is PyPI reachable?)" >&2; exit 1; }
    "$VENV/bin/schemathesis" --version >/dev/null ||
        { echo "schemathesis: not runnable after installing $REQ" >&2; exit 1; }
    echo "$want" >"$STAMP"
fi
if [[ "${1:-}" == "--install-only" ]]; then
    exit 0
fi

export PAYGLOT_SCHEMATHESIS_EXAMPLES=${1:-200}
export PAYGLOT_SCHEMATHESIS_SEED=${2:-$(( (RANDOM << 15) | RANDOM ))}
export PAYGLOT_SCHEMATHESIS_SECONDS=${PAYGLOT_SCHEMATHESIS_SECONDS:-900}
echo "schemathesis: $PAYGLOT_SCHEMATHESIS_EXAMPLES examples, seed $PAYGLOT_SCHEMATHESIS_SEED" >&2
bash scripts/ensure-build-deps.sh
exec cargo test --locked --test openapi -- --nocapture schemathesis_
