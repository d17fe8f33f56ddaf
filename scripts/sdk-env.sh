#!/usr/bin/env bash
# Installs the real client libraries that tests/sdk.rs drives against payglot: the PyPI ones into
# the venv target/sdk-venv (pinned in tests/sdk/requirements.txt) and the npm ones into
# tests/sdk/node_modules (`npm ci` from tests/sdk/package-lock.json). Idempotent: each half
# returns at once when it already holds exactly its pinned set. Fails loudly, never skips.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/sdk-venv
REQ=tests/sdk/requirements.txt
STAMP="$VENV/.requirements.sha256"
# What the venv must import: one module per library in requirements.txt.
IMPORTS='import cryptomus, heleket, pyCryptomusAPI, CryptomusAPI, HeleketAPI, aioheleket, heleket_sdk, milkpay.cryptomus, py_cryptomus, apollopayment_api, onchainpay_api'
NODE_DIR=tests/sdk
NODE_STAMP="$NODE_DIR/node_modules/.package-lock.sha256"

fail() {
    echo "sdk-env: $*" >&2
    exit 1
}

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 || fail "no $PYTHON on PATH; install Python 3 (>= 3.8) with venv support"

install_npm() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
        fail "no node/npm on PATH; install Node.js >= 18 with npm (Debian: apt-get install nodejs npm)"
    local want_lock
    want_lock=$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)
    if [[ -f "$NODE_STAMP" && "$(cat "$NODE_STAMP")" == "$want_lock" ]]; then
        return 0
    fi
    echo "sdk-env: npm ci in $NODE_DIR" >&2
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
        fail "npm ci could not install $NODE_DIR/package-lock.json (is the npm registry reachable?)"
    (cd "$NODE_DIR" && node -e 'require("cryptomus-sdk")') ||
        fail "the npm client libraries do not load after npm ci"
    echo "$want_lock" >"$NODE_STAMP"
}
install_npm

want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] &&
    "$VENV/bin/python" -c "$IMPORTS" 2>/dev/null; then
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$VENV"
    mkdir -p target
    if ! venv_err=$("$PYTHON" -m venv "$VENV" 2>&1); then
        # Debian/Ubuntu ship venv (ensurepip) separately.
        if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
            echo "sdk-env: installing python3-venv" >&2
            apt-get update -qq >/dev/null && apt-get install -y -qq python3-venv >/dev/null ||
                fail "could not install python3-venv"
            rm -rf "$VENV"
            "$PYTHON" -m venv "$VENV" || fail "'$PYTHON -m venv $VENV' failed even with python3-venv"
        else
            rm -rf "$VENV"
            fail "'$PYTHON -m venv $VENV' failed: $venv_err
install the venv module (Debian: apt-get install python3-venv)"
        fi
    fi
fi

echo "sdk-env: installing $REQ into $VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ" ||
    fail "pip could not install $REQ into $VENV (is PyPI reachable?)"
"$VENV/bin/python" -c "$IMPORTS" ||
    fail "the client libraries do not import after installing $REQ"
echo "$want" >"$STAMP"
