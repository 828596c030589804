"""Analysis input: a checkpoint's tokenizer.json gives the same ids in our JS route (@huggingface/tokenizers) as in
Hugging Face's Rust `tokenizers` library, the independent reference."""
import json
import subprocess
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers

ROOT = Path(__file__).resolve().parents[2]
CORPUS = (ROOT / "src" / "analysis" / "defaultText.ts").read_text()
SAMPLES = [
    "The river town woke slowly.",
    "Lazy layers attend to the first token; k* = 1 and m* = 1!",
    "  leading spaces, tabs\tand newlines\n\nand numbers 12345 and émigré café ünïcödé — “quotes”.",
]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    subprocess.run(["node", "esbuild.mjs"], cwd=ROOT, check=True)
    subprocess.run(["node", str(ROOT / "dist" / "cli.js"), "synth", "--family", "llama", "--layers", "1", "--vocab", "600",
                    "--out", str(d / "ck")], check=True, capture_output=True)
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([CORPUS], trainer)
    tok.save(str(d / "ck" / "tokenizer.json"))
    (d / "ck" / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}))
    return d / "ck", tok


@pytest.mark.parametrize("text", SAMPLES)
def test_js_tokenizer_matches_rust_tokenizers(ckpt, text, tmp_path):
    path, tok = ckpt
    f = tmp_path / "t.txt"
    f.write_text(text)
    r = subprocess.run(["node", "--import", "tsx", "test/python/helpers/encode_cli.ts", str(path), str(f)], cwd=ROOT,
                       capture_output=True, text=True, check=True)
    got = json.loads(r.stdout)
    assert got["name"] == "tokenizer.json"
    assert got["ids"] == tok.encode(text).ids
    assert len(got["ids"]) > 0 and max(got["ids"]) < 600
