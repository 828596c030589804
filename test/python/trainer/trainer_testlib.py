"""Helpers for the trainer tests: run the trainer as a subprocess, read its metrics with a schema check.
(A module with its own name, so that it never clashes with test/python/conftest.py.)"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TRAINER = REPO / "trainer"
CLI = REPO / "dist" / "cli.js"
if str(TRAINER) not in sys.path:
    sys.path.insert(0, str(TRAINER))

VOCAB = 256
SEQ = 32

# The metrics schema (from the trainer's spec), checked on every line the tests read.
COMMON = {"event", "time", "step", "round", "layers", "tokens"}
REQUIRED = {
    "step": {"train_loss", "lr", "tokens_per_s", "grad_norm", "qk_grad_norms"},
    "eval": {"val_loss", "train_loss", "target", "round_end", "round_start"},
    "grow": {"from_layers", "to_layers", "val_loss", "target", "mode"},
    "checkpoint": {"reason", "path"},
    "done": {"val_loss", "target", "reached", "summary"},
    "error": {"message"},
}


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(TRAINER) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e["PYTHONUNBUFFERED"] = "1"
    e.setdefault("TOKENIZERS_PARALLELISM", "false")
    return e


def trainer_cmd(*args) -> list:
    return [sys.executable, "-m", "inheritune_trainer", *map(str, args)]


def run_trainer(*args, expect: int = 0, timeout: float = 300) -> subprocess.CompletedProcess:
    res = subprocess.run(trainer_cmd(*args), cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, timeout=timeout)
    assert res.returncode == expect, (
        f"exit {res.returncode} (expected {expect}) for {' '.join(map(str, args))}\n"
        f"--- stdout ---\n{res.stdout[-4000:]}\n--- stderr ---\n{res.stderr[-4000:]}")
    return res


def cli_train_cmd(ref, data, out, *, devices: int = 1, launcher=(), **kw) -> list:
    trainer_opts = [str(a) for a in train_args(ref, data, out, **kw)[7:]]
    return ["node", str(CLI), "train", "--ref", str(ref), "--data", str(data), "--out", str(out),
            "--devices", str(devices), *map(str, launcher), "--python", sys.executable, "--no-check", "--",
            *trainer_opts]


def cli_train(ref, data, out, *, devices: int = 1, launcher=(), expect: int = 0, timeout: float = 300,
              **kw) -> subprocess.CompletedProcess:
    """`node dist/cli.js train --ref R --data D --out O --devices K [launcher options] -- <trainer options>`: the
    product's entry point (the VS Code task runs the same command), with this interpreter as --python."""
    cmd = cli_train_cmd(ref, data, out, devices=devices, launcher=launcher, **kw)
    res = subprocess.run(cmd, cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=timeout)
    assert res.returncode == expect, (
        f"exit {res.returncode} (expected {expect}) for {' '.join(cmd)}\n"
        f"--- stdout ---\n{res.stdout[-4000:]}\n--- stderr ---\n{res.stderr[-4000:]}")
    return res


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_event(ev: dict) -> None:
    kind = ev.get("event")
    assert kind in REQUIRED, ev
    missing = (COMMON | REQUIRED[kind]) - set(ev)
    assert not missing, f"{kind} event lacks {missing}: {ev}"
    assert _is_num(ev["time"]) and isinstance(ev["step"], int) and ev["step"] >= 0, ev
    assert isinstance(ev["tokens"], int) and ev["tokens"] >= 0, ev
    if kind == "step":
        assert ev["step"] >= 1 and isinstance(ev["round"], int) and isinstance(ev["layers"], int), ev
        for f in ("train_loss", "lr", "tokens_per_s", "grad_norm"):
            assert _is_num(ev[f]), (f, ev)
        assert ev["lr"] >= 0 and ev["tokens_per_s"] > 0 and ev["grad_norm"] >= 0, ev
        q = ev["qk_grad_norms"]
        assert isinstance(q, list) and len(q) == ev["layers"], ev
        assert all(_is_num(x) and x >= 0 for x in q), ev
    elif kind == "eval":
        assert _is_num(ev["val_loss"]) and _is_num(ev["train_loss"]) and _is_num(ev["target"]), ev
        assert isinstance(ev["round_end"], bool) and isinstance(ev["round_start"], bool), ev
        assert not (ev["round_end"] and ev["round_start"]), ev
    elif kind == "grow":
        assert isinstance(ev["from_layers"], int) and ev["to_layers"] > ev["from_layers"] == ev["layers"], ev
        assert ev["mode"] in ("reinherit", "extend") and ev["val_loss"] > ev["target"], ev
    elif kind == "checkpoint":
        assert ev["reason"] in ("eval", "round", "signal") and isinstance(ev["path"], str), ev
    elif kind == "done":
        assert isinstance(ev["reached"], bool) and _is_num(ev["val_loss"]), ev
    elif kind == "error":
        assert isinstance(ev["message"], str) and ev["message"], ev


def read_metrics(out: Path) -> list:
    """Every line must parse as strict JSON and match the schema."""
    events = []
    text = (Path(out) / "metrics.jsonl").read_text()
    assert text.endswith("\n")
    for i, line in enumerate(text.splitlines()):
        ev = json.loads(line, parse_constant=lambda c: pytest.fail(f"line {i + 1}: non-standard JSON {c}"))
        check_event(ev)
        events.append(ev)
    return events


def summary(out: Path) -> dict:
    return json.loads((Path(out) / "summary.json").read_text())


def train_args(ref, data, out, **kw) -> list:
    """Small defaults for the tiny models; keyword args override (`None` drops a flag, True is a switch)."""
    opts = {"steps_per_round": 30, "lr": 2e-3, "warmup_steps": 5, "batch_size": 8, "seq_len": SEQ,
            "eval_interval": 0, "eval_iters": 4, "log_interval": 1, "seed": 7}
    opts.update(kw)
    args = ["train", "--ref", ref, "--data", data, "--out", out]
    for k, v in opts.items():
        if v is None or v is False:
            continue
        args.append("--" + k.replace("_", "-"))
        if v is not True:
            args.append(v)
    return args
