#!/usr/bin/env bash
# Install the Python dependencies. torch goes first so that pip keeps the CPU (or already
# installed CUDA) build instead of pulling a multi-GB CUDA build for the loose range.
#   bash scripts/setup.sh          # runtime deps
#   bash scripts/setup.sh --test   # runtime + test deps
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  "$PY" -m pip install -q "torch==2.13.0"
fi
"$PY" -m pip install -q -r requirements.txt
if [ "${1:-}" = "--test" ]; then
  "$PY" -m pip install -q -r requirements-test.txt
fi
