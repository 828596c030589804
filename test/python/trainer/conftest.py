"""Fixtures for the trainer tests: the project CLI (built if missing), a synthetic corpus and tiny
reference models (GPT-2 pre-trained with the trainer, and Llama)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from trainer_testlib import CLI, REPO, VOCAB, run_trainer, summary, train_args


# ------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def cli_js() -> Path:
    """The project CLI; built with esbuild when missing (never skipped)."""
    if not CLI.is_file():
        subprocess.run(["node", "esbuild.mjs"], cwd=REPO, check=True)
    assert CLI.is_file(), f"{CLI} was not built"
    return CLI


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    run_trainer("synth", "--out", out, "--vocab-size", VOCAB, "--tokens", 200_000, "--seed", 3)
    return out


def _save_gpt2(path: Path, n_layer: int = 4, seed: int = 0) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(n_layer=n_layer, n_embd=64, n_head=4, vocab_size=VOCAB, n_positions=64, resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(cfg).save_pretrained(str(path), safe_serialization=True)
    return path


@pytest.fixture(scope="session")
def ref_random(tmp_path_factory) -> Path:
    return _save_gpt2(tmp_path_factory.mktemp("gpt2") / "ref0")


@pytest.fixture(scope="session")
def ref(tmp_path_factory, ref_random, data_dir, cli_js) -> Path:
    """A 4-layer GPT-2 pre-trained with the trainer itself (`--init scratch-full`), so its val loss means
    something. Also exercises the scratch-full baseline."""
    out = tmp_path_factory.mktemp("pretrain") / "run"
    run_trainer(*train_args(ref_random, data_dir, out, init="scratch-full", steps_per_round=250, lr=3e-3,
                            warmup_steps=20, batch_size=16, log_interval=25, eval_interval=125,
                            target_val_loss=0.0, cli=cli_js))
    s = summary(out)
    assert s["init"] == "scratch-full" and s["layers"] == 4 and s["num_rounds"] == 1
    assert s["stop_reason"] == "reference-depth" and s["steps"] == 250
    assert s["final_val_loss"] < 2.0, s  # far below ln(256) = 5.55: the corpus is learnable
    return Path(s["final_checkpoint"])


@pytest.fixture(scope="session")
def llama_ref(tmp_path_factory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(1)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      tie_word_embeddings=False)
    path = tmp_path_factory.mktemp("llama") / "ref"
    LlamaForCausalLM(cfg).save_pretrained(str(path), safe_serialization=True)
    # a tokenizer next to it (byte-level tokens 0..255), to check that round checkpoints carry it along
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {f"<{i}>": i for i in range(VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<0>"))
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<0>").save_pretrained(str(path))
    return path
