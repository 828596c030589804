"""Model surgery through the project's own CLI (`node dist/cli.js inherit|grow|stack|half-width|init-random`).

The trainer never edits weights itself: every inherited, grown or freshly initialised model is
written by the CLI as a Hugging Face checkpoint folder, which the trainer then loads.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Callable, List, Optional

from .errors import TrainerError

REPO_ROOT = Path(__file__).resolve().parents[2]
# `inheritune train` (and the extension's task) name their own cli.js in INHERITUNE_CLI; a checkout or the installed
# extension has it at <root>/dist/cli.js, next to trainer/.
DEFAULT_CLI = Path(os.environ["INHERITUNE_CLI"]) if os.environ.get("INHERITUNE_CLI") else REPO_ROOT / "dist" / "cli.js"


class Surgery:
    def __init__(self, cli: Optional[str], node: str = "node", log: Callable[[str], None] = print,
                 stop_signal: Callable[[], Optional[int]] = lambda: None):
        self.cli = Path(cli) if cli else DEFAULT_CLI
        self.node = node
        self.log = log
        self.stop_signal = stop_signal

    def check(self) -> None:
        if not self.cli.is_file():
            if self.cli != DEFAULT_CLI:
                hint = "check --cli"
            elif (REPO_ROOT / "esbuild.mjs").is_file():
                hint = f"build it with `cd {shlex.quote(str(REPO_ROOT))} && node esbuild.mjs`"
            else:  # pip-installed: the CLI comes with the extension or `npm install -g`
                hint = "run training through `inheritune train` (it sets INHERITUNE_CLI), set INHERITUNE_CLI"
            raise TrainerError(f"project CLI not found at {self.cli}; {hint}, or pass --cli PATH")

    def _run(self, args: List[str], out: Path) -> Path:
        self.check()
        cmd = [self.node, str(self.cli), *args]
        self.log("surgery: " + " ".join(shlex.quote(c) for c in cmd))
        t0 = time.time()
        try:
            res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except FileNotFoundError as e:
            raise TrainerError(f"cannot run node ({self.node!r}): {e}; install Node.js >= 20 or pass --node-bin PATH") from e
        if res.returncode != 0:
            signum = self.stop_signal()
            if signum is not None:  # Ctrl-C reached the CLI too: a clean interrupt, not a failure
                from .errors import Interrupted

                raise Interrupted(signum, saved=False)
            tail = "\n".join((res.stderr or res.stdout or "").strip().splitlines()[-20:])
            raise TrainerError(
                f"surgery failed (exit {res.returncode}): {' '.join(shlex.quote(c) for c in cmd)}\n{tail}")
        if not (out / "config.json").is_file():
            raise TrainerError(f"surgery command succeeded but {out} has no config.json: {' '.join(cmd)}")
        self.log(f"surgery: wrote {out} ({time.time() - t0:.1f}s)")
        return out

    def inherit(self, ref: str, layers: int, out: Path, seed: int, preset: str = "paper", stride: int = 1) -> Path:
        extra = ["--stride", str(stride)] if stride != 1 else []
        return self._run(["inherit", str(ref), "--layers", str(layers), "--out", str(out),
                          "--preset", preset, "--seed", str(seed), *extra, "--force"], out)

    def stack(self, small: Path, out: Path) -> Path:
        return self._run(["stack", str(small), "--out", str(out), "--force"], out)

    def half_width(self, ref: str, out: Path) -> Path:
        return self._run(["half-width", str(ref), "--out", str(out), "--force"], out)

    def grow(self, small: Path, ref: str, add: int, out: Path) -> Path:
        return self._run(["grow", str(small), "--ref", str(ref), "--add", str(add), "--out", str(out),
                          "--force"], out)

    def init_random(self, ref: str, layers: int, out: Path, seed: int) -> Path:
        return self._run(["init-random", str(ref), "--layers", str(layers), "--out", str(out),
                          "--seed", str(seed), "--force"], out)
