"""The real SmolLM2 GGUF through our product against transformers' own GGUF loader (5.x): the tensors we map equal
the ones transformers converts (names, rope row order, values bit for bit), `inherit --layers 15` from the .gguf
loads in transformers with equal logits, and `analyze` gives the same k*, m* and BI on the .gguf as on the folder
transformers converts it to."""
import json
import os

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from ggufref import assert_bits_equal, ts_dump

TEXT = "The quick brown fox jumps over the lazy dog. Café, naïve — 東京タワー 🚀 1234567890\n\n    indented   text\tand tabs. " * 3


@pytest.fixture(scope="module")
def converted(real_gguf, tmp_path_factory):
    """transformers' conversion of the .gguf, saved as a safetensors folder (float32, tied head)."""
    model = AutoModelForCausalLM.from_pretrained(str(real_gguf.parent), gguf_file=real_gguf.name, dtype=torch.float32)
    model.eval()
    out = tmp_path_factory.mktemp("converted")
    # transformers 5.x refuses save_pretrained on a GGUF-loaded model; a fresh model with the same weights saves.
    config = model.config
    for k in ("quantization_config",):
        if hasattr(config, k):
            delattr(config, k)
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(model.state_dict())
    fresh.save_pretrained(out)
    tok = AutoTokenizer.from_pretrained(str(real_gguf.parent), gguf_file=real_gguf.name)
    return {"model": model, "dir": out, "tokenizer": tok}


def test_mapped_tensors_equal_transformers_conversion(tmp_path, real_gguf, converted):
    ours, _ = ts_dump(real_gguf, tmp_path / "mapped.bin", mapped=True)
    sd = converted["model"].state_dict()
    expected = {k for k in sd if k != "lm_head.weight"}  # tied: the file has no output.weight
    assert set(ours) == expected
    for name, (_, values, shape) in ours.items():
        ref = sd[name].detach().float().numpy()
        assert list(ref.shape) == shape, name
        assert_bits_equal(values, ref, name)


def test_inherit_15_layers_loads_with_equal_logits(tmp_path, real_gguf, converted, cli):
    out = tmp_path / "inh15"
    cli("inherit", real_gguf, "--layers", 15, "--dtype", "f32", "--out", out)
    small, info = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert small.config.num_hidden_layers == 15
    assert "inheritune" in open(out / "model.safetensors", "rb").read(4096).decode("latin-1")
    # The reference: transformers' converted model cut to its first 15 blocks.
    ref = AutoModelForCausalLM.from_pretrained(converted["dir"], dtype=torch.float32)
    ref.model.layers = ref.model.layers[:15]
    ref.config.num_hidden_layers = 15
    ids = torch.tensor([converted["tokenizer"](TEXT)["input_ids"][:64]])
    with torch.no_grad():
        a = small(ids).logits
        b = ref.eval()(ids).logits
    assert torch.equal(a, b), (a - b).abs().max()
    # The tokenizer files written from the GGUF metadata load in transformers and tokenize as its GGUF conversion.
    tok = AutoTokenizer.from_pretrained(out)
    assert tok(TEXT)["input_ids"] == converted["tokenizer"](TEXT)["input_ids"]
    assert tok.eos_token == converted["tokenizer"].eos_token


def test_analyze_gguf_equals_converted_folder(tmp_path, real_gguf, converted, cli):
    ids = np.array(converted["tokenizer"](TEXT)["input_ids"][:64], dtype=np.int64)
    assert ids.size == 64
    np.save(tmp_path / "ids.npy", ids)
    reports = []
    for src, name in ((real_gguf, "gguf"), (converted["dir"], "folder")):
        cli("analyze", src, "--tokens", tmp_path / "ids.npy", "--seq-len", 64, "--batch", 1, "--ep", "cpu", "--json", tmp_path / f"{name}.json", "--quiet")
        reports.append(json.loads((tmp_path / f"{name}.json").read_text()))
    g, f = reports
    assert len(g["layers"]) == 30
    for lg, lf in zip(g["layers"], f["layers"]):
        assert lg["index"] == lf["index"]
        for hg, hf in zip(lg["heads"], lf["heads"]):
            assert hg["kStar"] == hf["kStar"] and hg["mStar"] == hf["mStar"], (lg["index"], hg, hf)
    # Same float32 weights, same forward pass: the block influence agrees exactly, not just closely.
    assert [l["blockInfluence"] for l in g["layers"]] == [l["blockInfluence"] for l in f["layers"]]
    assert g["suggestedN"] == f["suggestedN"]
