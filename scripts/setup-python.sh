#!/usr/bin/env bash
# Creates .venv: Debian's torch 1.13 (python3-torch, apt) + PyPI transformers that still supports it.
# Used by the Python tests (independent references) and by the trainer in tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r trainer/requirements-test.txt
.venv/bin/python -c "import torch, transformers, safetensors, onnx, onnxruntime; print('python env: torch', torch.__version__, 'transformers', transformers.__version__)"
