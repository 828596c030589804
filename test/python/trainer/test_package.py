"""The trainer as a package: `pip install trainer/` into a fresh venv gives `inheritune-trainer` and
`python -m inheritune_trainer` from any folder, and `inheritune train --data corpus.txt` (the built CLI, run in a
folder outside the repository, PYTHONPATH unset) trains on text with that Python: on a 40-token repeating corpus the
train loss of round 1 falls by more than 20% in 30 steps with the default schedule."""
from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from trainer_testlib import CLI, TRAINER, read_metrics
from test_textdata import CORPUS, word_ref  # noqa: F401 (fixture)


def _clean_env() -> dict:
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "INHERITUNE_CLI")}
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    return e


@pytest.fixture(scope="module")
def pip_venv(tmp_path_factory) -> Path:
    """A new venv that sees this interpreter's packages (torch, transformers) through a .pth file, with the trainer
    installed by pip from trainer/ (no dependency resolution: torch and the rest come from this interpreter)."""
    root = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, env=_clean_env())
    py = root / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    parents = [p for p in site.getsitepackages() + [site.getusersitepackages()] if os.path.isdir(p)]
    Path(purelib, "parent-packages.pth").write_text("\n".join(parents) + "\n")
    # Offline when the venv can build a wheel itself (setuptools + wheel seen); else pip fetches the build backend.
    can_build = subprocess.run([str(py), "-c", "import setuptools, wheel"], capture_output=True).returncode == 0
    isolation = ["--no-build-isolation"] if can_build else []
    res = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", *isolation, str(TRAINER)],
                         env=_clean_env(), capture_output=True, text=True, cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr
    return root


def test_pip_install_gives_the_command_and_the_module_from_any_folder(pip_venv, tmp_path):
    exe = pip_venv / "bin" / "inheritune-trainer"
    assert exe.is_file()
    res = subprocess.run([str(exe), "train", "--help"], cwd=tmp_path, env=_clean_env(), capture_output=True, text=True)
    assert res.returncode == 0 and "usage: inheritune-trainer train" in res.stdout, res.stdout + res.stderr
    assert ".jsonl" in res.stdout and "--val-fraction" in res.stdout
    res = subprocess.run([str(pip_venv / "bin" / "python"), "-m", "inheritune_trainer", "--help"], cwd=tmp_path,
                         env=_clean_env(), capture_output=True, text=True)
    assert res.returncode == 0 and "usage: python -m inheritune_trainer" in res.stdout, res.stderr
    # the installed copy, not the repository's
    res = subprocess.run([str(pip_venv / "bin" / "python"), "-c", "import inheritune_trainer; print(inheritune_trainer.__file__)"],
                         cwd=tmp_path, env=_clean_env(), capture_output=True, text=True)
    assert str(pip_venv) in res.stdout and str(TRAINER) not in res.stdout, res.stdout


def test_inheritune_train_on_text_from_outside_the_repo(pip_venv, word_ref, tmp_path):  # noqa: F811
    assert CLI.is_file(), "build the CLI first (node esbuild.mjs)"
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "corpus.txt").write_text(CORPUS * 100)  # 4,000 tokens: the same 40 words over and over
    res = subprocess.run(["node", str(CLI), "train", "--ref", str(word_ref), "--data", "corpus.txt", "--out", "run",
                          "--python", str(pip_venv / "bin" / "python"), "--steps-per-round", "30", "--max-rounds", "1",
                          "--eval-iters", "4"],
                         cwd=work, env=_clean_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "data: tokenizing 1 file(s)" in res.stdout and "\r" not in res.stdout + res.stderr  # no progress-bar frames
    evs = read_metrics(work / "run")
    steps = [e for e in evs if e["event"] == "step" and e["round"] == 1]
    assert len(steps) == 30
    assert max(e["lr"] for e in steps) == pytest.approx(6e-4)  # default lr, reached after the 3-step warmup
    first, last = steps[0]["train_loss"], sum(e["train_loss"] for e in steps[-3:]) / 3
    print(f"round 1 train loss {first:.3f} -> {last:.3f} ({100 * (1 - last / first):.0f}% lower)")
    assert last < 0.8 * first, (first, last)
    starts = [e for e in evs if e["event"] == "eval" and e["round_start"]]
    assert len(starts) == 1 and starts[0]["step"] == 0
    manifest = json.loads((work / "run" / "data" / "manifest.json").read_text())
    assert manifest["files"][0]["path"] == str((work / "corpus.txt").resolve())
