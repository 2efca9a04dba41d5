#!/usr/bin/env bash
# Every test in the repository, on a fresh machine: the Rust workspace
# (`cargo test --workspace`), then the Python package (`python/test.sh`
# creates a virtual environment in target/python-venv, installs maturin,
# pytest and the frameworks the adapters are tested with from the package
# index, builds the extension and runs pytest).
#
# Tests against software written elsewhere (biscuit-cli, nginx, the MCP
# Python SDK) run when it is installed; `.ci/run` installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
python/test.sh
