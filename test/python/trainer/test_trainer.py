"""End-to-end tests of the Inheritune trainer (trainer/inheritune_trainer) on tiny CPU models.

Every training run goes through the real project CLI (dist/cli.js) for surgery and through the
trainer's real command line; nothing is mocked."""
from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer_testlib import (REPO, SEQ, VOCAB, cli_train, env, read_metrics, run_trainer, summary, train_args,
                             trainer_cmd)

# ------------------------------------------------------------------------------------------ helpers


def load_tensors(ckpt: Path) -> dict:
    from safetensors.torch import load_file

    ckpt = Path(ckpt)
    idx = ckpt / "model.safetensors.index.json"
    if idx.exists():
        files = sorted(set(json.loads(idx.read_text())["weight_map"].values()))
        out = {}
        for f in files:
            out.update(load_file(str(ckpt / f)))
        return out
    return load_file(str(ckpt / "model.safetensors"))


_BLOCK = re.compile(r"(?:^|\.)(?:h|layers)\.(\d+)\.(.+)$")


def _norm(name: str) -> str:
    return re.sub(r"^(transformer|model|gpt_neox)\.", "", name)


def blocks(sd: dict) -> dict:
    """{layer: {suffix: tensor}} for decoder-block tensors."""
    out: dict = {}
    for k, v in sd.items():
        m = _BLOCK.search(k)
        if m:
            out.setdefault(int(m.group(1)), {})[m.group(2)] = v
    return out


def non_block(sd: dict) -> dict:
    return {_norm(k): v for k, v in sd.items() if not _BLOCK.search(k)}


def same_block(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def n_layers(ckpt: Path) -> int:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(ckpt)).num_hidden_layers


def load_model(ckpt: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(ckpt), torch_dtype=torch.float32).eval()


@torch.no_grad()
def window_losses(model, data: np.ndarray, offsets) -> torch.Tensor:
    """Per-window mean next-token loss, computed here independently of the trainer."""
    w = torch.from_numpy(np.stack([np.asarray(data[o:o + SEQ + 1], dtype=np.int64) for o in offsets]))
    logits = model(input_ids=w[:, :-1]).logits
    l = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), w[:, 1:].reshape(-1), reduction="none")
    return l.view(len(offsets), -1).mean(1)


def memmap(data_dir: Path, split: str) -> np.ndarray:
    return np.memmap(Path(data_dir) / f"{split}.bin", dtype=np.uint16, mode="r")


def events(evs, kind):
    return [e for e in evs if e["event"] == kind]


def check_growth_decisions(evs, s):
    """Growth happens exactly after round ends whose val loss is above the target."""
    round_ends = [e for e in events(evs, "eval") if e["round_end"]]
    grows = events(evs, "grow")
    assert len(round_ends) == s["num_rounds"]
    for i, e in enumerate(round_ends):
        above = e["val_loss"] > s["target"]
        grew = [g for g in grows if g["round"] == e["round"]]
        last = i == len(round_ends) - 1
        if last:
            assert not grew
            assert s["reached"] == (not above)
        else:
            assert above and len(grew) == 1 and grew[0]["val_loss"] == e["val_loss"], (e, grew)


# ------------------------------------------------------------------------------------------ data


def test_synth_writes_learnable_order2_markov_corpus(data_dir):
    meta = json.loads((data_dir / "meta.json").read_text())
    train, val = memmap(data_dir, "train"), memmap(data_dir, "val")
    assert meta["dtype"] == "uint16" and meta["vocab_size"] == VOCAB
    assert len(train) == meta["train_tokens"] and len(val) == meta["val_tokens"]
    assert len(train) + len(val) >= 200_000 and 0.05 < len(val) / (len(train) + len(val)) < 0.15
    assert train.max() < VOCAB and val.max() < VOCAB
    # Structure: within documents, each token is followed by at most `branching` (4) distinct tokens.
    doc = meta["doc_len"]
    t = np.asarray(train[: (len(train) // doc) * doc]).reshape(-1, doc)
    pairs = np.stack([t[:, :-1].ravel(), t[:, 1:].ravel()], 1)
    succ = np.unique(pairs, axis=0)
    counts = np.bincount(succ[:, 0], minlength=VOCAB)
    assert counts.max() <= meta["branching"] and counts.sum() > VOCAB
    # Same seed -> same bytes.
    again = data_dir.parent / "data-again"
    run_trainer("synth", "--out", again, "--vocab-size", VOCAB, "--tokens", 200_000, "--seed", 3)
    assert (again / "train.bin").read_bytes() == (data_dir / "train.bin").read_bytes()


def test_prepare_tokenizes_text_with_the_checkpoint_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [" ".join(f"alpha{i % 7} beta{i % 5} gamma" for i in range(300)),
             "\n".join(f"line {i} of the second file" for i in range(200))]
    files = []
    for i, t in enumerate(texts):
        f = tmp_path / f"in{i}.txt"
        f.write_text(t)
        files.append(f)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train([str(f) for f in files], trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<eos>"]))
    ckpt = tmp_path / "ckpt"
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", unk_token="<unk>").save_pretrained(str(ckpt))

    out = tmp_path / "data"
    res = run_trainer("prepare", "--tokenizer", ckpt, "--input", *files, "--out", out, "--val-fraction", 0.2)
    assert "train" in res.stdout
    eos = tok.token_to_id("<eos>")
    exp_train, exp_val = [], []
    for t in texts:
        ids = Tokenizer.from_file(str(ckpt / "tokenizer.json")).encode(t, add_special_tokens=False).ids + [eos]
        cut = int(round(len(ids) * 0.8))
        exp_train += ids[:cut]
        exp_val += ids[cut:]
    assert memmap(out, "train").tolist() == exp_train
    assert memmap(out, "val").tolist() == exp_val
    meta = json.loads((out / "meta.json").read_text())
    assert meta["dtype"] == "uint16" and meta["eos_id"] == eos and meta["train_tokens"] == len(exp_train)


def test_bad_data_dir_names_the_missing_file(tmp_path, ref_random):
    data = tmp_path / "data"
    data.mkdir()
    np.arange(1000, dtype=np.uint16).tofile(data / "train.bin")
    out = tmp_path / "out"
    res = run_trainer(*train_args(ref_random, data, out), expect=2)
    assert "val.bin" in res.stderr and str(data) in res.stderr and "Traceback" not in res.stderr
    evs = read_metrics(out)
    assert [e["event"] for e in evs] == ["error"] and "val.bin" in evs[0]["message"]


def test_missing_torch_prints_the_pip_command(tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"
            "from inheritune_trainer.cli import main\n"
            f"sys.exit(main(['train', '--ref', 'r', '--data', 'd', '--out', {str(tmp_path / 'o')!r}]))")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env(), capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert f"{sys.executable} -m pip install 'torch>=1.13'" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


# ------------------------------------------------------------------------------------------ training


def test_short_run_lowers_training_loss(tmp_path, ref, data_dir):
    out = tmp_path / "run"
    run_trainer(*train_args(ref, data_dir, out, init="random", layers=2, steps_per_round=60, lr=3e-3,
                            target_val_loss=100.0))
    evs = read_metrics(out)
    losses = [e["train_loss"] for e in events(evs, "step")]
    assert len(losses) == 60
    assert losses[0] > math.log(VOCAB) - 0.5  # starts near uniform
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.0
    assert all(e["lr"] > 0 for e in events(evs, "step"))


def test_target_reached_immediately_means_no_growth(tmp_path, ref, data_dir):
    out = tmp_path / "run"
    res = run_trainer(*train_args(ref, data_dir, out, layers=2, grow_by=1, max_rounds=3, target_val_loss=100.0,
                                  eval_interval=10))
    evs = read_metrics(out)
    s = summary(out)
    assert s["reached"] and s["stop_reason"] == "reached" and s["num_rounds"] == 1 and s["layers"] == 2
    assert s["target"] == 100.0 and s["target_source"] == "given" and s["steps"] == 30
    assert not events(evs, "grow")
    # the round opens with an eval of the inherited model (step 0), then every eval_interval steps
    assert [(e["step"], e["round_start"]) for e in events(evs, "eval")] == [(0, True), (10, False), (20, False), (30, False)]
    assert events(evs, "done")[-1]["reached"] is True and evs[-1]["event"] == "done"
    check_growth_decisions(evs, s)
    assert re.search(r"^iter 1: loss \d+\.\d+, time \d+\.\d+ms", res.stdout, re.M)
    assert re.search(r"^step 30: train loss \d+\.\d+, val loss \d+\.\d+", res.stdout, re.M)
    # the round checkpoint is a Hugging Face folder that transformers loads
    ck = out / "round-1-2L"
    assert Path(s["final_checkpoint"]) == ck and n_layers(ck) == 2
    model = load_model(ck)
    val = memmap(data_dir, "val")
    assert math.isfinite(float(window_losses(model, val, [0, 100]).mean()))


def test_unreachable_target_grows_every_round_up_to_max_rounds(tmp_path, ref, data_dir):
    out = tmp_path / "run"
    T = 20
    run_trainer(*train_args(ref, data_dir, out, layers=1, grow_by=1, max_rounds=3, target_val_loss=0.0,
                            steps_per_round=T, keep_init=True))
    evs = read_metrics(out)
    s = summary(out)
    assert not s["reached"] and s["stop_reason"] == "max-rounds"
    assert [r["layers"] for r in s["rounds"]] == [1, 2, 3] and s["layers"] == 3 and s["steps"] == 3 * T
    grows = events(evs, "grow")
    assert [(g["from_layers"], g["to_layers"], g["step"], g["mode"]) for g in grows] == \
        [(1, 2, T, "reinherit"), (2, 3, 2 * T, "reinherit")]
    check_growth_decisions(evs, s)
    steps = events(evs, "step")
    assert [e["step"] for e in steps] == list(range(1, 3 * T + 1))
    assert [e["layers"] for e in steps] == [1] * T + [2] * T + [3] * T
    assert [e["round"] for e in steps] == [1] * T + [2] * T + [3] * T
    assert [len(e["qk_grad_norms"]) for e in steps] == [1] * T + [2] * T + [3] * T
    assert steps[-1]["tokens"] == 3 * T * 8 * SEQ
    for r, L in ((1, 1), (2, 2), (3, 3)):
        assert n_layers(out / f"round-{r}-{L}L") == L
    # reinherit: round 2 starts from a fresh 2-layer copy of the reference, not from the trained model
    ref_b, init_b = blocks(load_tensors(ref)), blocks(load_tensors(out / "init" / "round-2-2L"))
    assert sorted(init_b) == [0, 1] and all(same_block(init_b[i], ref_b[i]) for i in (0, 1))
    # ...and round 2 really trained from it: its first step loss is that model's loss on that step's batch
    from inheritune_trainer.data import train_offsets

    train = memmap(data_dir, "train")
    offs = train_offsets(7, T + 1, 8, len(train), SEQ)
    expect = float(window_losses(load_model(out / "init" / "round-2-2L"), train, offs).mean())
    assert steps[T]["train_loss"] == pytest.approx(expect, abs=1e-4)


def test_default_target_is_the_reference_val_loss(tmp_path, ref, data_dir):
    out = tmp_path / "run"
    run_trainer(*train_args(ref, data_dir, out, layers=1, grow_by=2, max_rounds=2, steps_per_round=15,
                            eval_iters=3, eval_seed=11))
    evs = read_metrics(out)
    s = summary(out)
    from inheritune_trainer.data import eval_offsets

    val = memmap(data_dir, "val")
    offs = eval_offsets(11, "val", 3 * 8, len(val), SEQ)
    ref_loss = float(window_losses(load_model(ref), val, offs).mean())
    assert s["target_source"] == "reference"
    assert s["target"] == pytest.approx(ref_loss, abs=1e-5)
    assert s["reference_val_loss"] == s["target"]
    assert all(e["target"] == s["target"] for e in events(evs, "eval"))
    check_growth_decisions(evs, s)
    # the reported val loss of a round checkpoint is its loss on the same windows
    last = s["rounds"][-1]
    mine = float(window_losses(load_model(Path(last["checkpoint"])), val, offs).mean())
    assert last["val_loss"] == pytest.approx(mine, abs=1e-5)


def test_init_random_uses_the_cli_random_init_of_the_same_size(tmp_path, ref, data_dir, cli_js):
    out = tmp_path / "run"
    # lr 0: the saved round checkpoint is exactly the initial model
    run_trainer(*train_args(ref, data_dir, out, init="random", layers=2, steps_per_round=3, lr=0.0, min_lr=0.0,
                            target_val_loss=100.0, seed=5))
    ck = out / "round-1-2L"
    assert n_layers(ck) == 2
    expect_dir = tmp_path / "expect"
    subprocess.run(["node", str(cli_js), "init-random", str(ref), "--layers", "2", "--out", str(expect_dir),
                    "--seed", "5", "--force"], check=True, capture_output=True)
    got, exp, refsd = load_tensors(ck), load_tensors(expect_dir), load_tensors(ref)
    gb, eb, rb = blocks(got), blocks(exp), blocks(refsd)
    assert sorted(gb) == [0, 1] and all(same_block(gb[i], eb[i]) for i in (0, 1))
    assert not any(same_block(gb[i], rb[i]) for i in (0, 1))  # not inherited
    gn, en = non_block(got), non_block(exp)
    for k in gn.keys() & en.keys():
        assert torch.equal(gn[k], en[k]), k
    evs = read_metrics(out)
    assert all(e["lr"] == 0.0 for e in events(evs, "step"))


def test_grow_mode_extend_keeps_trained_blocks_and_appends_reference_blocks(tmp_path, ref, data_dir):
    out = tmp_path / "run"
    T = 15
    run_trainer(*train_args(ref, data_dir, out, layers=1, grow_by=2, max_rounds=2, grow_mode="extend",
                            target_val_loss=0.0, steps_per_round=T, keep_init=True))
    s = summary(out)
    assert [r["layers"] for r in s["rounds"]] == [1, 3]
    evs = read_metrics(out)
    g = events(evs, "grow")
    assert [(e["from_layers"], e["to_layers"], e["mode"]) for e in g] == [(1, 3, "extend")]
    trained = load_tensors(out / "round-1-1L")
    grown = load_tensors(out / "init" / "round-2-3L")
    refsd = load_tensors(ref)
    tb, gb, rb = blocks(trained), blocks(grown), blocks(refsd)
    assert sorted(gb) == [0, 1, 2]
    assert same_block(gb[0], tb[0]) and not same_block(gb[0], rb[0])  # the trained block, not the reference's
    assert same_block(gb[1], rb[1]) and same_block(gb[2], rb[2])      # reference blocks n..n+G-1
    tn, gn = non_block(trained), non_block(grown)
    for k in gn.keys() & tn.keys():  # embeddings / final norm from the trained model
        assert torch.equal(gn[k], tn[k]), k
    assert n_layers(out / "round-2-3L") == 3
    from inheritune_trainer.data import train_offsets

    train = memmap(data_dir, "train")
    offs = train_offsets(7, T + 1, 8, len(train), SEQ)
    expect = float(window_losses(load_model(out / "init" / "round-2-3L"), train, offs).mean())
    assert events(evs, "step")[T]["train_loss"] == pytest.approx(expect, abs=1e-4)


def test_llama_tiny_inherit_extend_and_qk_norms(tmp_path, llama_ref, data_dir, cli_js):
    out = tmp_path / "run"
    run_trainer(*train_args(llama_ref, data_dir, out, layers=2, grow_by=1, max_rounds=2, grow_mode="extend",
                            target_val_loss=0.0, steps_per_round=8, keep_init=True))
    s = summary(out)
    assert [r["layers"] for r in s["rounds"]] == [2, 3]
    evs = read_metrics(out)
    steps = events(evs, "step")
    assert [len(e["qk_grad_norms"]) for e in steps] == [2] * 8 + [3] * 8
    assert all(x > 0 for e in steps for x in e["qk_grad_norms"])
    gb, rb = blocks(load_tensors(out / "init" / "round-2-3L")), blocks(load_tensors(llama_ref))
    assert same_block(gb[2], rb[2]) and not same_block(gb[0], rb[0])
    m = load_model(out / "round-2-3L")
    assert type(m).__name__ == "LlamaForCausalLM" and m.config.num_hidden_layers == 3
    # tokenizer files of the reference are copied into every round checkpoint
    from transformers import AutoTokenizer

    for ck in ("round-1-2L", "round-2-3L"):
        assert (out / ck / "tokenizer.json").read_bytes() == (llama_ref / "tokenizer.json").read_bytes()
    assert AutoTokenizer.from_pretrained(str(out / "round-2-3L")).convert_tokens_to_ids("<7>") == 7


# ------------------------------------------------------------------------------------------ resume


def _wait_for_step(proc, out: Path, step: int, timeout: float = 120) -> int:
    path = out / "metrics.jsonl"
    t0 = time.time()
    while time.time() - t0 < timeout:
        assert proc.poll() is None, f"trainer exited early with {proc.returncode}"
        if path.exists():
            for line in reversed(path.read_text().splitlines()):
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev["event"] == "step" and ev["step"] >= step:
                    return ev["step"]
                break
        time.sleep(0.01)
    raise AssertionError("timed out waiting for the trainer")


def test_sigterm_saves_and_resume_continues_exactly(tmp_path, ref, data_dir):
    T = 150
    kw = dict(layers=1, grow_by=1, max_rounds=2, target_val_loss=0.0, steps_per_round=T, eval_interval=25,
              eval_iters=2)
    out = tmp_path / "run"
    log = open(tmp_path / "log.txt", "w")
    proc = subprocess.Popen(trainer_cmd(*train_args(ref, data_dir, out, **kw)), cwd=REPO, env=env(),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_step(proc, out, T + 20)  # in round 2
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert rc == 143, (tmp_path / "log.txt").read_text()[-3000:]
    evs = read_metrics(out)
    assert evs[-1]["event"] == "checkpoint" and evs[-1]["reason"] == "signal"
    assert not events(evs, "done") and not events(evs, "error")
    stopped = evs[-1]["step"]
    assert stopped == events(evs, "step")[-1]["step"] and T < stopped < 2 * T
    state = json.loads((out / "resume" / "state.json").read_text())["state"]
    assert (state["step"], state["round"], state["layers"], state["local_step"]) == (stopped, 2, 2, stopped - T)
    assert not (out / "summary.json").exists()

    # Without --resume the folder is refused; with it the run continues from the saved step.
    res = run_trainer(*train_args(ref, data_dir, out, **kw), expect=2)
    assert "--resume" in res.stderr
    res = run_trainer(*train_args(ref, data_dir, out, resume=True, **kw))
    assert f"step {stopped}" in res.stdout and f"iter {stopped + 1}:" in res.stdout
    assert not re.search(rf"^iter {stopped}:", res.stdout, re.M)
    evs = read_metrics(out)
    steps = [e["step"] for e in events(evs, "step")]
    assert steps == list(range(1, 2 * T + 1))  # continuous, nothing repeated or lost
    s = summary(out)
    assert s["steps"] == 2 * T and s["num_rounds"] == 2 and s["layers"] == 2
    assert events(evs, "step")[-1]["tokens"] == 2 * T * 8 * SEQ
    assert [e for e in events(evs, "checkpoint") if e["reason"] == "signal"][0]["step"] == stopped

    # Bit-for-bit the same curve as a run that was never interrupted (model, optimizer, data position restored).
    ref_out = tmp_path / "straight"
    run_trainer(*train_args(ref, data_dir, ref_out, **kw))
    straight = {e["step"]: e["train_loss"] for e in events(read_metrics(ref_out), "step")}
    resumed = {e["step"]: e["train_loss"] for e in events(evs, "step")}
    assert resumed == straight
    assert s["final_val_loss"] == summary(ref_out)["final_val_loss"]

    # Resuming a finished run does nothing.
    res = run_trainer(*train_args(ref, data_dir, out, resume=True, **kw))
    assert "already finished" in res.stdout
    assert read_metrics(out) == evs


def test_sigint_exits_130_with_a_checkpoint_event(tmp_path, ref, data_dir):
    out = tmp_path / "run"
    proc = subprocess.Popen(trainer_cmd(*train_args(ref, data_dir, out, layers=2, steps_per_round=400,
                                                    target_val_loss=0.0)),
                            cwd=REPO, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_step(proc, out, 5)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 130
    evs = read_metrics(out)
    assert evs[-1]["event"] == "checkpoint" and evs[-1]["reason"] == "signal" and evs[-1]["signal"] == 2
    assert not events(evs, "error") and not events(evs, "done")
    state = json.loads((out / "resume" / "state.json").read_text())["state"]
    assert state["step"] == evs[-1]["step"] and state["phase"] == "train"


# ------------------------------------------------------------------------------------------ distributed


def test_cli_devices_2_two_gloo_processes_match_one_process(tmp_path, ref_random, data_dir, cli_js):
    ref = ref_random  # an untrained reference is enough to compare 1 and 2 processes (and much cheaper)
    """`inheritune train --devices 2` (the CLI, as the task runs it) on this interpreter's torch: the launcher
    starts (torch 1.13 on Python 3.11 and torch 2.x alike) and 2 x batch 4 equals 1 x batch 8."""
    kw = dict(layers=1, grow_by=1, max_rounds=2, target_val_loss=0.0, steps_per_round=12, eval_interval=6,
              eval_iters=2, grad_accum=2)
    one = tmp_path / "one"
    run_trainer(*train_args(ref, data_dir, one, batch_size=8, **kw))
    two = tmp_path / "two"
    res = cli_train(ref, data_dir, two, devices=2, batch_size=4, **kw)
    assert "-m inheritune_trainer.launch --standalone --nproc_per_node 2" in res.stderr
    a, b = read_metrics(one), read_metrics(two)
    sa, sb = summary(one), summary(two)
    assert sb["world_size"] == 2 and sa["world_size"] == 1 and sa["global_batch"] == sb["global_batch"] == 16
    assert [e["event"] for e in a] == [e["event"] for e in b]  # same events; only rank 0 wrote
    for x, y in zip(a, b):
        assert (x["step"], x["round"], x["layers"], x["tokens"]) == (y["step"], y["round"], y["layers"], y["tokens"])
        for f in ("train_loss", "val_loss", "grad_norm"):
            if x.get(f) is not None:
                assert y[f] == pytest.approx(x[f], abs=2e-4, rel=1e-4), (f, x, y)
        if x["event"] == "step":
            assert y["qk_grad_norms"] == pytest.approx(x["qk_grad_norms"], rel=1e-3, abs=1e-6)
    assert [r["layers"] for r in sb["rounds"]] == [1, 2]
    for r in sb["rounds"]:
        ta, tb = load_tensors(Path(r["checkpoint"].replace(str(two), str(one)))), load_tensors(Path(r["checkpoint"]))
        assert ta.keys() == tb.keys()
        for k in ta:
            x, y = ta[k], tb[k]
            if k.endswith("attn.c_attn.bias"):
                # The key bias has an exactly-zero true gradient (softmax is shift-invariant), so Adam turns
                # rounding noise into lr-sized steps there; compare the query and value thirds only.
                H = x.numel() // 3
                x, y = torch.cat([x[:H], x[2 * H:]]), torch.cat([y[:H], y[2 * H:]])
            assert torch.allclose(x, y, atol=1e-4), (k, (x - y).abs().max())


def test_no_trainer_flag_can_be_taken_for_a_launcher_flag():
    """torchrun's parser sees the trainer's flags too (after `-m inheritune_trainer train`): none may equal or
    abbreviate one of its options (`--node` did: ambiguous with --node-rank/--node_rank on torch 2.x)."""
    from inheritune_trainer.cli import build_parser
    from torch.distributed.run import get_args_parser

    launcher = {o for a in get_args_parser()._actions for o in a.option_strings if o.startswith("--")}
    train = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    ours = {o for a in train._actions for o in a.option_strings if o.startswith("--")} - {"--help"}
    assert "--node-bin" in ours and "--node" not in ours
    clash = sorted((o, l) for o in ours for l in launcher if l.startswith(o))
    assert not clash, clash


def test_launch_repairs_std_from_str_and_turns_off_abbreviations():
    from inheritune_trainer import launch
    from torch.distributed.elastic.multiprocessing import Std

    launch.repair_std_from_str()
    assert Std.from_str("0") == Std.NONE and Std.from_str("3") == Std.ALL
    assert Std.from_str("0:3,1:0") == {0: Std.ALL, 1: Std.NONE}
    assert launch.repair_std_from_str() is False  # idempotent: a working from_str is left alone
    # a worker flag that abbreviates a launcher flag stays the worker's
    args = launch.parse(["--standalone", "--nproc_per_node", "2", "-m", "inheritune_trainer", "train", "--node", "x"])
    assert args.training_script == "inheritune_trainer" and args.training_script_args == ["train", "--node", "x"]


# ------------------------------------------------------------------------------------------ unit: qk norms


def _zero_grads(model):
    for p in model.parameters():
        p.grad = torch.zeros_like(p)


def test_qk_grad_norms_gpt2_slices_c_attn_columns():
    from transformers import GPT2Config, GPT2LMHeadModel
    from inheritune_trainer.qk import qk_grad_norms, qk_pieces

    H = 16
    m = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=H, n_head=2, vocab_size=32, n_positions=8))
    _zero_grads(m)
    for i, blk in enumerate(m.transformer.h):
        g = blk.attn.c_attn.weight.grad  # Conv1D [in, 3H]: q | k | v along the output (column) axis
        g[:, :H] = 1.0 * (i + 1)
        g[:, H:2 * H] = 2.0 * (i + 1)
        g[:, 2 * H:] = 100.0
        blk.attn.c_proj.weight.grad.fill_(50.0)
    got = qk_grad_norms(qk_pieces(m))
    for i in range(2):
        assert got[i] == pytest.approx(math.sqrt(H * H * ((i + 1) ** 2 + (2 * (i + 1)) ** 2)), rel=1e-6)


def test_qk_grad_norms_gpt_neox_uses_per_head_interleaved_rows():
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
    from inheritune_trainer.qk import qk_grad_norms, qk_pieces

    nh, hd = 2, 4
    H = nh * hd
    m = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=32, hidden_size=H, intermediate_size=16, num_hidden_layers=1,
                                         num_attention_heads=nh, max_position_embeddings=8))
    _zero_grads(m)
    g = m.gpt_neox.layers[0].attention.query_key_value.weight.grad  # [3H, H], rows: head0 q k v, head1 q k v
    for h in range(nh):
        base = h * 3 * hd
        g[base:base + hd] = 1.0
        g[base + hd:base + 2 * hd] = 3.0
        g[base + 2 * hd:base + 3 * hd] = 100.0
    got = qk_grad_norms(qk_pieces(m))
    assert got[0] == pytest.approx(math.sqrt(nh * hd * H * (1 + 9)), rel=1e-6)
    # cross-check against the model's own split of the fused projection output
    x = torch.randn(1, 3, H)
    out = m.gpt_neox.layers[0].attention.query_key_value(x).view(1, 3, nh, 3 * hd)
    w = m.gpt_neox.layers[0].attention.query_key_value.weight
    q_rows = torch.cat([torch.arange(h * 3 * hd, h * 3 * hd + hd) for h in range(nh)])
    b = m.gpt_neox.layers[0].attention.query_key_value.bias
    assert torch.allclose(out[..., :hd].reshape(1, 3, -1), x @ w[q_rows].T + b[q_rows], atol=1e-5)


def test_qk_grad_norms_llama_q_proj_k_proj_only():
    from transformers import LlamaConfig, LlamaForCausalLM
    from inheritune_trainer.qk import qk_grad_norms, qk_pieces

    m = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=3,
                                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8))
    _zero_grads(m)
    for i, layer in enumerate(m.model.layers):
        layer.self_attn.q_proj.weight.grad.fill_(1.0)
        layer.self_attn.k_proj.weight.grad.fill_(2.0)
        layer.self_attn.v_proj.weight.grad.fill_(100.0)
    m.model.layers[1].self_attn.q_proj.weight.grad = None  # missing gradient -> None for that layer
    got = qk_grad_norms(qk_pieces(m))
    nq = m.model.layers[0].self_attn.q_proj.weight.numel()
    nk = m.model.layers[0].self_attn.k_proj.weight.numel()
    assert nk == nq // 2  # GQA
    exp = math.sqrt(nq + 4 * nk)
    assert got[0] == pytest.approx(exp, rel=1e-6) and got[1] is None and got[2] == pytest.approx(exp, rel=1e-6)


def test_schedule_warmup_then_cosine_to_min_lr():
    from inheritune_trainer.train import Schedule

    s = Schedule(lr=1.0, min_lr=0.1, warmup=10, total=110)
    assert s.lr_at(1) == pytest.approx(0.1) and s.lr_at(10) == pytest.approx(1.0)
    assert s.lr_at(60) == pytest.approx(0.55) and s.lr_at(110) == pytest.approx(0.1)
    assert all(s.lr_at(i) >= s.lr_at(i + 1) for i in range(10, 110))
