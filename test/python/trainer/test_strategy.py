"""--strategy fsdp (trainer/inheritune_trainer/strategy.py) through `inheritune train --devices 2` on CPU with gloo:
the same numbers as 1 process and as ddp, a sharded resume that continues bit for bit, and round folders that are
plain Hugging Face checkpoints. On a torch without FSDP2 (Debian's 1.13) the option says what it needs."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer_testlib import (REPO, SEQ, cli_train, cli_train_cmd, env, read_metrics, run_trainer, summary,
                             train_args)
from inheritune_trainer.strategy import fsdp_available

HAS_FSDP = fsdp_available() is None


def steps(out: Path) -> dict:
    return {e["step"]: e for e in read_metrics(out) if e["event"] == "step"}


@pytest.mark.skipif(HAS_FSDP, reason="this torch has FSDP2 (the fsdp tests run instead)")
def test_fsdp_on_a_torch_without_fully_shard_says_what_it_needs(tmp_path, ref_random, data_dir, cli_js):
    res = run_trainer(*train_args(ref_random, data_dir, tmp_path / "x", strategy="fsdp"), expect=2)
    assert "--strategy fsdp needs torch 2.x" in res.stderr and torch.__version__ in res.stderr


@pytest.mark.skipif(not HAS_FSDP, reason=f"torch {torch.__version__} has no torch.distributed.fsdp.fully_shard")
def test_fsdp_two_processes_equal_one_process_and_ddp_and_save_plain_hf_rounds(tmp_path, ref_random, data_dir,
                                                                                cli_js):
    from transformers import AutoModelForCausalLM

    kw = dict(layers=2, max_rounds=1, target_val_loss=0.0, steps_per_round=10, eval_interval=5, eval_iters=2,
              grad_accum=2)
    one, ddp, fsdp = tmp_path / "one", tmp_path / "ddp", tmp_path / "fsdp"
    run_trainer(*train_args(ref_random, data_dir, one, batch_size=8, **kw))
    cli_train(ref_random, data_dir, ddp, devices=2, batch_size=4, **kw)
    cli_train(ref_random, data_dir, fsdp, devices=2, batch_size=4, strategy="fsdp", activation_checkpointing=True,
              **kw)
    s1, sd, sf = summary(one), summary(ddp), summary(fsdp)
    assert sf["world_size"] == 2 and sf["args"]["strategy"] == "fsdp" and s1["global_batch"] == sf["global_batch"]
    a, b, c = steps(one), steps(ddp), steps(fsdp)
    assert sorted(a) == sorted(c) == list(range(1, 11))
    for k in a:
        for f in ("train_loss", "grad_norm"):
            assert abs(c[k][f] - a[k][f]) <= 1e-5 and abs(c[k][f] - b[k][f]) <= 1e-5, (k, f, a[k][f], b[k][f], c[k][f])
        assert c[k]["qk_grad_norms"] == pytest.approx(a[k]["qk_grad_norms"], abs=1e-5)
    ev = lambda out: [e["val_loss"] for e in read_metrics(out) if e["event"] == "eval"]  # noqa: E731
    # evals at the round start (step 0) and at steps 5 and 10
    assert len(ev(fsdp)) == 3 and np.allclose(ev(fsdp), ev(one), atol=1e-5, rtol=0)

    # The round folder of the fsdp run is an ordinary checkpoint: transformers loads it with nothing missing or
    # unexpected, and its logits equal those of the 1-process run's round folder.
    ckpt = Path(sf["final_checkpoint"])
    assert ckpt.name == "round-1-2L" and not (ckpt / "dcp").exists()
    cfg = json.loads((ckpt / "config.json").read_text())
    assert cfg["architectures"] == ["GPT2LMHeadModel"] and cfg["n_layer"] == 2
    mf, info = AutoModelForCausalLM.from_pretrained(str(ckpt), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    m1 = AutoModelForCausalLM.from_pretrained(s1["final_checkpoint"])
    x = torch.randint(0, 256, (2, SEQ), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        lf, l1 = mf.eval()(input_ids=x).logits, m1.eval()(input_ids=x).logits
    assert torch.allclose(lf, l1, atol=1e-4, rtol=0), (lf - l1).abs().max()


@pytest.mark.skipif(not HAS_FSDP, reason=f"torch {torch.__version__} has no torch.distributed.fsdp.fully_shard")
def test_fsdp_sharded_resume_continues_bit_identically(tmp_path, ref_random, data_dir, cli_js):
    from safetensors.torch import load_file

    T = 30
    kw = dict(layers=2, max_rounds=1, target_val_loss=0.0, steps_per_round=T, eval_interval=10, eval_iters=1,
              batch_size=4, strategy="fsdp")
    straight, out = tmp_path / "straight", tmp_path / "run"
    cli_train(ref_random, data_dir, straight, devices=2, **kw)

    log = open(tmp_path / "log.txt", "w")
    proc = subprocess.Popen(cli_train_cmd(ref_random, data_dir, out, devices=2, **kw), cwd=REPO, env=env(),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        t0 = time.time()
        while time.time() - t0 < 240:
            m = out / "metrics.jsonl"
            if m.exists() and any('"event": "step"' in l and json.loads(l)["step"] >= 3
                                  for l in m.read_text().splitlines() if l.endswith("}")):
                break
            assert proc.poll() is None, (tmp_path / "log.txt").read_text()[-3000:]
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    evs = read_metrics(out)
    sig = [e for e in evs if e["event"] == "checkpoint" and e["reason"] == "signal"]
    assert sig and 3 <= sig[-1]["step"] < T, (tmp_path / "log.txt").read_text()[-3000:]
    stopped = sig[-1]["step"]
    assert (out / "resume" / "dcp").is_dir() and not (out / "resume" / "optimizer.pt").exists()

    cli_train(ref_random, data_dir, out, devices=2, resume=True, **kw)
    got, want = steps(out), steps(straight)
    assert sorted(got) == list(range(1, T + 1))
    assert {k: v["train_loss"] for k, v in got.items()} == {k: v["train_loss"] for k, v in want.items()}
    assert {k: v["grad_norm"] for k, v in got.items() if k > stopped} == \
        {k: v["grad_norm"] for k, v in want.items() if k > stopped}
    a = load_file(str(Path(summary(out)["final_checkpoint"]) / "model.safetensors"))
    b = load_file(str(Path(summary(straight)["final_checkpoint"]) / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("backend", ["static", "c10d"])
def test_two_node_launch_on_one_machine_trains_and_writes_one_metrics_file(tmp_path, ref_random, data_dir, cli_js,
                                                                           backend):
    """Two `inheritune train --nnodes 2` invocations (as on two machines sharing a filesystem) rendezvous on
    127.0.0.1: with --node-rank (static rendezvous) or without (c10d assigns ranks). Rank 0 alone writes the one
    metrics.jsonl, and 2 nodes x batch 4 give 1 process x batch 8's losses."""
    kw = dict(layers=2, max_rounds=1, target_val_loss=0.0, steps_per_round=4, eval_interval=0, eval_iters=1)
    one, out = tmp_path / "one", tmp_path / "two-nodes"
    run_trainer(*train_args(ref_random, data_dir, one, batch_size=8, **kw))
    endpoint = f"127.0.0.1:{_free_port()}"
    procs, logs = [], []
    for r in range(2):
        launcher = ["--nnodes", 2, "--rdzv-endpoint", endpoint, "--rdzv-id", f"test-{backend}"]
        if backend == "static":
            launcher += ["--node-rank", r]
        logs.append(open(tmp_path / f"node{r}.txt", "w"))
        procs.append(subprocess.Popen(cli_train_cmd(ref_random, data_dir, out, devices=1, launcher=launcher,
                                                    batch_size=4, **kw),
                                      cwd=REPO, env=env(), stdout=logs[-1], stderr=subprocess.STDOUT))
    try:
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for p, f in zip(procs, logs):
            if p.poll() is None:
                p.kill()
            f.close()
    full = [(tmp_path / f"node{r}.txt").read_text() for r in range(2)]
    text = "\n".join(t[-2000:] for t in full)
    assert codes == [0, 0], text
    # The command echo is each log's first line; torch may append a long rendezvous-shutdown warning at exit on
    # the node that did not host the c10d store, so look for it in the whole log, not its tail.
    assert all("--nnodes 2 --nproc_per_node 1 --rdzv_endpoint " + endpoint in t for t in full), text
    assert not any("FutureWarning" in t for t in full), text
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".jsonl")) == ["metrics.jsonl"]
    s = summary(out)
    assert s["world_size"] == 2 and s["global_batch"] == 8 and s["steps"] == 4
    a, b = steps(one), steps(out)
    assert sorted(b) == [1, 2, 3, 4]
    for k in a:
        assert b[k]["train_loss"] == pytest.approx(a[k]["train_loss"], abs=1e-5)
    assert len([e for e in read_metrics(out) if e["event"] == "done"]) == 1
