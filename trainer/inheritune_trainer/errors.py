"""Errors meant for people (printed without a traceback) and dependency checks."""
from __future__ import annotations

import importlib
import shlex
import sys
from pathlib import Path

# The folder with pyproject.toml (the repository's trainer/, or the copy inside the installed extension); a
# pip-installed package has none (its dependencies came with it).
_HERE = Path(__file__).resolve().parent.parent
TRAINER_DIR = _HERE if (_HERE / "pyproject.toml").is_file() else None

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
            f"  {pip_command(*missing)}"
            + (f"\n(or everything the trainer needs: {shlex.quote(sys.executable)} -m pip install "
               f"{shlex.quote(str(TRAINER_DIR))})" if TRAINER_DIR else "")
        )
    return loaded[0] if len(loaded) == 1 else loaded
