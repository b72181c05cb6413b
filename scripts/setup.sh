#!/usr/bin/env bash
# Install the Python dependencies into the `python` that README's commands run.
#   bash scripts/setup.sh          # runtime deps
#   bash scripts/setup.sh --test   # runtime + test deps
# torch goes first, and only when missing: requirements.txt's torch range is then already
# satisfied, so pip keeps the build you have (a CUDA build you installed, or the CPU wheel).
# A plain `pip install torch` from PyPI on Linux is the multi-GB CUDA build; for the CPU-only
# wheel set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  "$PY" -m pip install -q "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
"$PY" -m pip install -q -r requirements.txt
if [ "${1:-}" = "--test" ]; then
  "$PY" -m pip install -q -r requirements-test.txt
fi
