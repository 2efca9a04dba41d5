#!/usr/bin/env bash
# Builds the Python package and runs its tests, from a fresh machine:
#
#   1. a virtual environment in target/python-venv (created if missing),
#      with maturin, pytest, httpx, requests, langchain, mcp and
#      pydantic-ai-slim from the package index;
#   2. the agentcap CLI (cargo build --workspace --bins), which the
#      interoperability and HTTP tests run;
#   3. the extension module, built by maturin into a wheel and installed;
#   4. pytest on python/tests.
#
# The exit code is pytest's (or the failing step's). Every step is bounded
# in time. Environment: PYTHON (the interpreter to build the venv from,
# default python3), AGENTCAP_PY_VENV (the venv folder), PYTEST_ARGS (extra
# pytest arguments).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

python="${PYTHON:-python3}"
venv="${AGENTCAP_PY_VENV:-$repo/target/python-venv}"
wheels="$repo/target/python-wheels"

step() { printf '\n== %s\n' "$*" >&2; }

make_venv() {
    "$python" -m venv "$venv" 2>/dev/null && return 0
    rm -rf "$venv"
    # Debian ships the venv module separately (python3-venv).
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        local version
        version="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        step "installing python$version-venv (Debian)"
        timeout 600 apt-get install -y -q "python$version-venv" >/dev/null \
            || { timeout 300 apt-get update -q >/dev/null && timeout 600 apt-get install -y -q "python$version-venv" >/dev/null; }
        "$python" -m venv "$venv" && return 0
    fi
    echo "python/test.sh: cannot create a virtual environment with $python (install python3-venv)" >&2
    return 1
}

if [ ! -x "$venv/bin/python" ]; then
    step "creating $venv"
    mkdir -p "$(dirname "$venv")"
    make_venv
fi
if ! "$venv/bin/python" -c 'import maturin, pytest, httpx, requests, langchain, mcp, pydantic_ai' 2>/dev/null \
    || [ ! -x "$venv/bin/maturin" ]; then
    step "installing maturin, pytest, httpx, requests, langchain, mcp, pydantic-ai-slim"
    timeout 600 "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        'maturin>=1.9,<2' 'pytest>=7' 'httpx>=0.24' 'requests>=2.28' 'langchain>=1,<2' 'mcp>=2,<3' 'pydantic-ai-slim>=2,<3'
fi

step "building the agentcap CLI"
timeout 2400 cargo build --workspace --bins --locked

step "building the extension module"
rm -f "$wheels"/agentcap-*.whl
timeout 2400 "$venv/bin/maturin" build --locked -q -m python/Cargo.toml --out "$wheels"
timeout 300 "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    --force-reinstall --no-deps "$wheels"/agentcap-*.whl

step "pytest"
# Run from the tests folder so that `import agentcap` is the installed
# package, not the source folder next to it.
cd "$here/tests"
set +e
AGENTCAP_BIN="${AGENTCAP_BIN:-$repo/target/debug/agentcap}" \
    timeout 900 "$venv/bin/python" -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-} .
status=$?
exit "$status"
