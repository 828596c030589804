"""Text as --data (readers, the tokenized cache and its manifest, the too-little-data message), the warmup cap, the
round-start eval, and the trainer as a pip-installed package driven by `inheritune train` from outside the repo.
Real tokenizers, real training runs through the trainer's command line; nothing mocked."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from trainer_testlib import CLI, REPO, TRAINER, env, read_metrics, run_trainer, train_args

WORDS = [f"w{i}" for i in range(40)]
CORPUS = " ".join(WORDS) + "\n"  # 40 tokens (and a newline) with the word-level tokenizer below


def _word_tokenizer(path: Path) -> Path:
    """A word-level tokenizer (whitespace split) over the 40 corpus words and the words of the other tests."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<eos>": 1}
    for w in WORDS + ["alpha", "beta", "gamma", "delta", "record", "one", "two", "three", "parquet", "row"]:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>").save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def word_ref(tmp_path_factory) -> Path:
    """A tiny random GPT-2 (4 layers, vocab 64, context 64) with the word-level tokenizer."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("wordref") / "ref"
    cfg = GPT2Config(n_layer=4, n_embd=64, n_head=4, vocab_size=64, n_positions=64, resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=1)
    GPT2LMHeadModel(cfg).save_pretrained(str(path), safe_serialization=True)
    return _word_tokenizer(path)


def _ids(ref: Path, text: str) -> list:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(ref / "tokenizer.json")).encode(text, add_special_tokens=False).ids


def _bins(folder: Path):
    meta = json.loads((folder / "meta.json").read_text())
    return [np.fromfile(folder / f"{s}.bin", dtype=meta["dtype"]).tolist() for s in ("train", "val")], meta


def _logs():
    lines = []
    return lines, lines.append


# ------------------------------------------------------------------------------------------ readers


def test_readers_txt_md_jsonl_and_the_split(tmp_path, word_ref):
    from inheritune_trainer.textdata import prepare_text_data

    d = tmp_path / "corpus"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("alpha beta gamma delta " * 10)
    (d / "sub" / "b.md").write_text("one two three " * 10)
    (d / "c.jsonl").write_text(json.dumps({"text": "record one", "id": 1}) + "\n\n" + json.dumps({"text": "record two"}) + "\n")
    (d / "ignored.csv").write_text("not, read")
    (d / ".hidden").mkdir()
    (d / ".hidden" / "x.txt").write_text("alpha")
    logs, log = _logs()
    cache = prepare_text_data([str(d)], word_ref, tmp_path / "run" / "data", 0.2, log=log)
    (train, val), meta = _bins(cache)
    eos = 1
    # files sorted by path: a.txt, c.jsonl, sub/b.md; each file's tokens split 80/20; EOS after every document
    exp_train, exp_val = [], []
    for docs in (["alpha beta gamma delta " * 10], ["record one", "record two"], ["one two three " * 10]):
        ids = [t for doc in docs for t in _ids(word_ref, doc) + [eos]]
        cut = int(round(len(ids) * 0.8))
        exp_train += ids[:cut]
        exp_val += ids[cut:]
    assert train == exp_train and val == exp_val
    assert meta["dtype"] == "uint16" and meta["documents"] == 4 and meta["eos_id"] == eos
    manifest = json.loads((cache / "manifest.json").read_text())
    assert [Path(f["path"]).name for f in manifest["files"]] == ["a.txt", "c.jsonl", "b.md"]
    assert all({"size", "mtime_ns"} <= set(f) for f in manifest["files"])
    assert manifest["split"]["val_fraction"] == 0.2 and len(manifest["tokenizer"]["sha256"]) == 64
    assert any("[3/3] b.md" in line for line in logs), logs  # progress per file


def test_jsonl_without_text_names_the_line(tmp_path, word_ref):
    from inheritune_trainer.errors import TrainerError
    from inheritune_trainer.textdata import prepare_text_data

    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"text": "alpha"}) + "\n" + json.dumps({"body": "beta"}) + "\n")
    with pytest.raises(TrainerError, match=r'bad\.jsonl:2: no "text" string field \(found: body\)'):
        prepare_text_data([str(f)], word_ref, tmp_path / "data", 0.1, log=lambda s: None)


def test_unsupported_file_and_empty_folder_are_named(tmp_path, word_ref):
    from inheritune_trainer.errors import TrainerError
    from inheritune_trainer.textdata import prepare_text_data

    f = tmp_path / "x.csv"
    f.write_text("a,b")
    with pytest.raises(TrainerError, match=r"x\.csv: unsupported data file type \.csv"):
        prepare_text_data([str(f)], word_ref, tmp_path / "data", 0.1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainerError, match="neither train.bin/val.bin nor text files"):
        prepare_text_data([str(tmp_path / "empty")], word_ref, tmp_path / "data", 0.1)


def test_parquet_reader_text_column(tmp_path, word_ref):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from inheritune_trainer.textdata import prepare_text_data

    f = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "text": ["parquet row one", None, "parquet row two"]}), str(f))
    cache = prepare_text_data([str(f)], word_ref, tmp_path / "data", 0.5, log=lambda s: None)
    (train, val), meta = _bins(cache)
    ids = _ids(word_ref, "parquet row one") + [1] + _ids(word_ref, "parquet row two") + [1]
    assert train + val == ids and meta["documents"] == 2


def test_parquet_without_pyarrow_says_how_to_install_it(tmp_path, word_ref):
    # A real interpreter in which `import pyarrow` fails (sys.modules entry None), whatever this venv has.
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    code = ("import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None\n"
            "from inheritune_trainer.textdata import prepare_text_data\n"
            "from inheritune_trainer.errors import TrainerError\n"
            f"try: prepare_text_data([{str(tmp_path / 't.parquet')!r}], __import__('pathlib').Path({str(word_ref)!r}), "
            f"__import__('pathlib').Path({str(tmp_path / 'd')!r}), 0.1, log=lambda s: None)\n"
            "except TrainerError as e: print(e); sys.exit(2)\n")
    res = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert "needs pyarrow" in res.stdout and f"{sys.executable} -m pip install pyarrow" in res.stdout, res.stdout


# ------------------------------------------------------------------------------------------ the cache


def test_manifest_reuse_and_invalidation(tmp_path, word_ref):
    from inheritune_trainer.textdata import prepare_text_data

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("alpha beta " * 50)
    b.write_text("gamma delta " * 50)
    cache = tmp_path / "run" / "data"

    def prep(paths, vf=0.1):
        logs, log = _logs()
        prepare_text_data([str(p) for p in paths], word_ref, cache, vf, log=log)
        return "reusing" in " ".join(logs), (cache / "train.bin").read_bytes()

    reused, first = prep([a, b])
    assert not reused
    stamp = (cache / "train.bin").stat().st_mtime_ns
    reused, again = prep([a, b])
    assert reused and again == first and (cache / "train.bin").stat().st_mtime_ns == stamp
    # a file edited (same size, new mtime and content): tokenized again
    time.sleep(0.01)
    a.write_text("beta alpha " * 50)
    reused, edited = prep([a, b])
    assert not reused and edited != first
    assert prep([a, b])[0]
    # a file removed from the inputs, another split, another tokenizer: each invalidates
    assert not prep([a])[0]
    assert not prep([a], vf=0.3)[0]
    assert prep([a], vf=0.3)[0]
    tj = word_ref / "tokenizer.json"
    saved = tj.read_text()
    try:
        tj.write_text(saved.replace('"w39"', '"w39x"'))
        assert not prep([a], vf=0.3)[0]
    finally:
        tj.write_text(saved)
    # a damaged token file is not reused
    assert not prep([a], vf=0.3)[0]
    with open(cache / "val.bin", "ab") as f:
        f.write(b"\0\0")
    assert not prep([a], vf=0.3)[0]


def test_a_bin_folder_is_used_as_it_is(tmp_path, word_ref):
    from inheritune_trainer.textdata import prepare_text_data

    d = tmp_path / "bins"
    d.mkdir()
    np.arange(100, dtype=np.uint16).tofile(d / "train.bin")
    np.arange(100, dtype=np.uint16).tofile(d / "val.bin")
    assert prepare_text_data([str(d)], word_ref, tmp_path / "cache", 0.1) == d
    assert not (tmp_path / "cache").exists()


# ------------------------------------------------------------------------------------------ too little data


def test_too_little_data_message_computes_the_fix():
    from inheritune_trainer.data import check_enough
    from inheritune_trainer.errors import TrainerError

    check_enough(2000, 1025, 1024, "x")  # exactly one window: fine
    # the case: val.bin of 766 tokens against seq_len 1024, a bin folder
    with pytest.raises(TrainerError) as e:
        check_enough(6900, 766, 1024, "data/mine")
    msg = str(e.value)
    assert "the val split has 766 tokens" in msg and "seq_len + 1 = 1,025" in msg
    assert "--seq-len 512 (at most 765 fits)" in msg and "more tokens" in msg
    # text: 7,666 tokens, 10% val: a larger validation share fits; more text is computed from bytes per token
    with pytest.raises(TrainerError) as e:
        check_enough(6900, 766, 1024, "corpus.txt", val_fraction=0.1, text_bytes=7666 * 4)
    msg = str(e.value)
    assert "--seq-len 512" in msg
    assert "--val-fraction 0.134 (now 0.1)" in msg  # ceil(1025 / 7666, 3 places)
    assert "at least 2,584 more tokens (about 11 KB more at 4.0 bytes per token)" in msg  # 10250 - 7666
    # far too little: no seq-len fix below 2, still the text fix
    with pytest.raises(TrainerError) as e:
        check_enough(2, 1, 64, "tiny.txt", val_fraction=0.1, text_bytes=12)
    assert "--seq-len" not in str(e.value) and "more text: at least 647 more tokens" in str(e.value)


def test_too_little_text_through_the_trainer(tmp_path, word_ref):
    (tmp_path / "small.txt").write_text(CORPUS * 3)  # 120 tokens + EOS: val gets 12; 33 / 121 -> 0.273
    out = tmp_path / "run"
    res = run_trainer("train", "--ref", word_ref, "--data", tmp_path / "small.txt", "--out", out, "--seq-len", 32,
                      expect=2)
    assert "too little data in" in res.stderr and "the val split has 12 tokens" in res.stderr, res.stderr
    assert "--seq-len 8 (at most 11 fits)" in res.stderr and "--val-fraction 0.273" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    # the fix as the message says; the tokens made by the failed start are reused
    res = run_trainer("train", "--ref", word_ref, "--data", tmp_path / "small.txt", "--out", out, "--seq-len", 8,
                      "--steps-per-round", 2, "--eval-iters", 1, "--max-rounds", 1, "--target-val-loss", 1e-6)
    assert "data: reusing" in res.stdout and "data: tokenizing" not in res.stdout, res.stdout


# ------------------------------------------------------------------------------------------ schedule, round start


def test_warmup_is_at_most_a_tenth_of_the_round():
    from inheritune_trainer.train import effective_warmup

    logs, log = _logs()
    assert effective_warmup(None, 30, log) == 3
    assert effective_warmup(None, 5000, log) == 100
    assert effective_warmup(None, 5, log) == 0
    assert effective_warmup(20, 30, log) == 20 and not logs  # explicit and within the round: kept
    assert effective_warmup(100, 30, log) == 3
    assert logs == ["warning: --warmup-steps 100 is longer than a round (30 steps, and warmup restarts every round); "
                    "using 3 (a tenth of the round)"]


def test_every_round_starts_with_an_eval_at_its_step_0(tmp_path, word_ref):
    """Text data end to end through the trainer: tokenized into <out>/data, two rounds (reinherit), each opened by an
    `eval` event with round_start before its first step; the default warmup is a tenth of the round."""
    (tmp_path / "c.txt").write_text(CORPUS * 60)
    out = tmp_path / "run"
    res = run_trainer(*train_args(word_ref, tmp_path / "c.txt", out, steps_per_round=10, warmup_steps=None,
                                  eval_iters=2, target_val_loss=1e-6, max_rounds=2, layers=1, lr=3e-3))
    assert (out / "data" / "manifest.json").is_file() and "data: tokenizing 1 file(s)" in res.stdout
    evs = read_metrics(out)
    starts = [e for e in evs if e["event"] == "eval" and e["round_start"]]
    assert [(e["round"], e["layers"], e["step"], e["round_end"]) for e in starts] == [(1, 1, 0, False), (2, 2, 10, False)]
    for s in starts:
        i = evs.index(s)
        first_step = next(e for e in evs[i:] if e["event"] == "step")
        assert first_step["round"] == s["round"] and first_step["step"] == s["step"] + 1
        assert not any(e["event"] == "step" and e["round"] == s["round"] for e in evs[:i])
    lrs = [e["lr"] for e in evs if e["event"] == "step" and e["round"] == 1]
    assert lrs[0] == pytest.approx(3e-3 / 1) and max(lrs) == lrs[0]  # warmup 1 step (10 // 10), then cosine


def test_compile_trains_on_cpu_with_torch2(tmp_path, word_ref):
    """--compile: torch.compile (inductor, CPU) on torch >= 2; a warning and an uncompiled run on torch 1.x."""
    import torch

    (tmp_path / "c.txt").write_text(CORPUS * 60)
    out = tmp_path / "run"
    res = run_trainer(*train_args(word_ref, tmp_path / "c.txt", out, steps_per_round=3, max_rounds=1, eval_iters=1,
                                  batch_size=4, layers=1, target_val_loss=1e-6, compile=True), timeout=900)
    compiled = int(torch.__version__.split(".")[0]) >= 2
    assert ("running uncompiled" in res.stdout) != compiled, res.stdout
    steps = [e for e in read_metrics(out) if e["event"] == "step"]
    assert len(steps) == 3 and all(math.isfinite(e["train_loss"]) for e in steps)
