#!/usr/bin/env bash
# Creates (or reuses) the Python venv at target/sdk-venv with the real provider SDKs that
# tests/sdk.rs drives against payglot (pinned in tests/sdk/requirements.txt). Idempotent: when the
# venv already holds exactly these requirements it returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/sdk-venv
REQ=tests/sdk/requirements.txt
STAMP="$VENV/.requirements.sha256"

fail() {
    echo "sdk-env: $*" >&2
    exit 1
}

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 || fail "no $PYTHON on PATH; install Python 3 (>= 3.8) with venv support"

want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] &&
    "$VENV/bin/python" -c 'import cryptomus, pyCryptomusAPI, apollopayment_api' 2>/dev/null; then
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
"$VENV/bin/python" -c 'import cryptomus, pyCryptomusAPI, apollopayment_api' ||
    fail "the SDKs do not import after installing $REQ"
echo "$want" >"$STAMP"
