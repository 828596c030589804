"""Analysis input as the model sees it: the ids the report records for sequence 0 equal transformers'
`tokenizer(text)["input_ids"][:T]` (and `add_special_tokens=False` with --no-special-tokens), on tokenizers that add
BOS (through tokenizer.json's post-processor, or through LlamaTokenizerFast's add_bos_token) and on one that adds
nothing."""
import json
import os
import subprocess
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
CORPUS = (ROOT / "src" / "analysis" / "defaultText.ts").read_text()
TEXT = "The river town woke slowly. Lazy layers attend to the first token; émigré café — “quotes” and 12345.\n" * 4
T = 32


def _train():
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([CORPUS], trainer)
    return tok


CASES = {
    # tokenizer.json's own post-processor adds BOS (e.g. SmolLM2's <|im_start|>, Llama 3's <|begin_of_text|>)
    "template-bos": ("PreTrainedTokenizerFast", {}, True),
    # LlamaTokenizerFast builds the template from add_bos_token (transformers' update_post_processor)
    "llama-add-bos": ("LlamaTokenizerFast", {"add_bos_token": True, "add_eos_token": False}, False),
    # no special tokens at all (GPT-2 style)
    "plain": ("PreTrainedTokenizerFast", {}, False),
}


@pytest.fixture(scope="module")
def built(cli):
    subprocess.run(["node", "esbuild.mjs"], cwd=ROOT, check=True)
    return cli


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("special", [True, False])
def test_recorded_ids_equal_transformers(built, tmp_path, case, special):
    cls, extra, template = CASES[case]
    ck = tmp_path / "ck"
    built("synth", "--family", "llama", "--layers", "1", "--vocab", "600", "--out", ck)
    tok = _train()
    if template:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    tok.save(str(ck / "tokenizer.json"))
    (ck / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": cls, "bos_token": "<s>", "eos_token": "</s>", **extra}))
    text = tmp_path / "t.txt"
    text.write_text(TEXT)
    out = tmp_path / "r.json"
    args = ["analyze", ck, "--text", text, "--seq-len", T, "--batch", 2, "--ep", "cpu", "--json", out, "--quiet"]
    if not special:
        args.append("--no-special-tokens")
    built(*args)
    rep = json.loads(out.read_text())
    assert rep["schemaVersion"] == 3
    hf = AutoTokenizer.from_pretrained(str(ck))
    want = hf(TEXT, add_special_tokens=special)["input_ids"]
    inp = rep["input"]
    assert inp["source"] == "text" and inp["file"] == str(text)
    assert inp["firstSequence"]["ids"] == want[:T]
    adds_bos = special and case != "plain"
    assert inp["specialTokens"] == adds_bos
    assert (inp["firstSequence"]["ids"][0] == hf.convert_tokens_to_ids("<s>")) == adds_bos
    assert inp["tokenCount"] == len(want)
    # pieces: each token decoded on its own, as transformers decodes it
    pieces = inp["firstSequence"]["pieces"]
    assert len(pieces) == T
    for i, p in zip(want[:T], pieces):
        ref = hf.decode([i])
        assert p == ref or ("\ufffd" in ref and p.startswith("\\x")), (i, p, ref)


REAL = os.environ.get("INHERITUNE_REAL_MODEL")


@pytest.mark.skipif(not REAL, reason="set INHERITUNE_REAL_MODEL to a checkpoint folder with a tokenizer")
@pytest.mark.parametrize("special", [True, False])
def test_real_checkpoint_tokenizer(built, tmp_path, special):
    """The same on a real checkpoint's tokenizer (e.g. SmolLM2-135M-Instruct, whose BOS is <|im_start|>)."""
    text = tmp_path / "t.txt"
    text.write_text(TEXT)
    out = tmp_path / "r.json"
    args = ["analyze", REAL, "--text", text, "--seq-len", T, "--batch", 1, "--layers", "0-0", "--ep", "cpu", "--json", out, "--quiet"]
    if not special:
        args.append("--no-special-tokens")
    built(*args)
    inp = json.loads(out.read_text())["input"]
    hf = AutoTokenizer.from_pretrained(REAL)
    want = hf(TEXT, add_special_tokens=special)["input_ids"]
    assert inp["firstSequence"]["ids"] == want[:T]
    assert inp["specialTokens"] == (special and len(hf(TEXT)["input_ids"]) > len(hf(TEXT, add_special_tokens=False)["input_ids"]))
