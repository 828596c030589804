"""Shared pytest fixtures: the built CLI (built once if missing) and tiny transformers models from a seed."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "dist" / "cli.js"


@pytest.fixture(scope="session")
def cli():
    if not CLI.exists():
        subprocess.run(["node", "esbuild.mjs"], cwd=ROOT, check=True)

    def run(*args, check=True):
        r = subprocess.run(["node", str(CLI), *map(str, args)], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError(f"inheritune {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr}")
        return r

    return run


os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
