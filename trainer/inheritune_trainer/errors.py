"""Errors meant for people (printed without a traceback) and dependency checks."""
from __future__ import annotations

import importlib
import shlex
import sys

# Lower bounds match trainer/requirements.txt.
PIP_SPECS = {
    "torch": "torch>=1.13",
    "transformers": "transformers>=4.40",
    "numpy": "numpy>=1.22",
    "safetensors": "safetensors>=0.4",
    "tokenizers": "tokenizers>=0.15",
}


class TrainerError(Exception):
    """A problem the user can fix (bad path, missing file, bad option). Printed as `error: ...`."""


class Interrupted(Exception):
    """Raised after a SIGINT/SIGTERM was handled cleanly (state saved). Carries the exit code."""

    def __init__(self, signum: int, saved: bool):
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum
        self.saved = saved

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def pip_command(*packages: str) -> str:
    specs = [PIP_SPECS.get(p, p) for p in packages]
    return f"{shlex.quote(sys.executable)} -m pip install " + " ".join(shlex.quote(s) for s in specs)


def require(*modules: str):
    """Import modules; on failure raise a TrainerError naming the exact pip command."""
    loaded = []
    missing = []
    for name in modules:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError:
            missing.append(name)
    if missing:
        raise TrainerError(
            f"missing Python package{'s' if len(missing) > 1 else ''} {', '.join(missing)}; install with:\n"
            f"  {pip_command(*missing)}\n"
            f"(or: {shlex.quote(sys.executable)} -m pip install -r trainer/requirements.txt)"
        )
    return loaded[0] if len(loaded) == 1 else loaded
