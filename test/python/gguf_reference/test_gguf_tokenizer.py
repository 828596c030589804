"""The tokenizer built from a GGUF file's metadata gives the ids transformers' GGUF tokenizer conversion gives:
the real SmolLM2 file (byte-level BPE, pre-tokenizer "smollm") and a small SentencePiece (llama) vocabulary written
with gguf-py, on varied text (accents, CJK, emoji, digits, whitespace runs, special tokens)."""
import json
import subprocess

import numpy as np
from gguf import GGUFWriter
from transformers import AutoTokenizer

from ggufref import ROOT

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Café, naïve, Ångström, façade — déjà vu; Straße.",
    "東京タワーは高い。北京欢迎你！한국어 텍스트",
    "Emoji: 🚀🔥👍🏽 and 🇫🇷 flags",
    "Digits 1234567890, 3.14159, 2024-12-06, $1,000,000",
    "Whitespace   runs\t\ttabs\n\n\nnewlines    and trailing   ",
    "  leading spaces and <|im_start|>user\nhi<|im_end|> specials",
    "def f(x):\n    return x ** 2  # code\n",
]


def ours(gguf_file, texts, tmp_path):
    """Our ids for each text (one node process for all)."""
    (tmp_path / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    r = subprocess.run(["node", "--import", "tsx", "test/python/helpers/encode_cli.ts", str(gguf_file), str(tmp_path / "texts.json")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_smollm2_gguf_tokenizer_matches_transformers(real_gguf, tmp_path):
    ref = AutoTokenizer.from_pretrained(str(real_gguf.parent), gguf_file=real_gguf.name)
    # All together, and each alone: starts and ends of text are where pre-tokenizers differ.
    texts = ["\n".join(TEXTS)] + TEXTS
    got = ours(real_gguf, texts, tmp_path)
    assert got["name"] == "GGUF gpt2 BPE (pre-tokenizer smollm)"
    for text, ids in zip(texts, got["ids"]):
        assert ids == ref(text, add_special_tokens=False)["input_ids"], text
    assert len(got["ids"][0]) > 100


def test_sentencepiece_gguf_tokenizer_matches_transformers(tmp_path):
    """A llama-type (SentencePiece BPE, byte fallback) vocabulary without merges: both sides rebuild them from scores."""
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    words = ["▁", "e", "t", "a", "o", "n", "h", "s", "r", "T", "c", "f", "é", "▁t", "he", "▁the", "▁T", "▁The", "an", "▁a", "on", "er", "▁c", "af", "▁caf", "▁café", "or", "▁f", "▁fo", "▁for", "es", "st", "▁test", "te", "▁te"]
    tokens = pieces + words
    scores = [0.0] * len(pieces) + [-float(i) for i in range(len(words))]
    types = [2, 3, 3] + [6] * 256 + [1] * len(words)
    rng = np.random.default_rng(0)
    d, vocab, inter, heads = 8, len(tokens), 16, 2
    w = GGUFWriter(str(tmp_path / "sp.gguf"), "llama")
    for k, v in {"block_count": 1, "context_length": 64, "embedding_length": d, "feed_forward_length": inter, "attention.head_count": heads, "attention.head_count_kv": heads}.items():
        w.add_uint32(f"llama.{k}", v)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    shapes = {"token_embd.weight": (vocab, d), "output_norm.weight": (d,), "blk.0.attn_norm.weight": (d,), "blk.0.ffn_norm.weight": (d,),
              "blk.0.attn_q.weight": (d, d), "blk.0.attn_k.weight": (d, d), "blk.0.attn_v.weight": (d, d), "blk.0.attn_output.weight": (d, d),
              "blk.0.ffn_gate.weight": (inter, d), "blk.0.ffn_up.weight": (inter, d), "blk.0.ffn_down.weight": (d, inter)}
    for name, shape in shapes.items():
        w.add_tensor(name, rng.standard_normal(shape).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    ref = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="sp.gguf")
    texts = ["The café test for the tea", "Thé 東 🚀 x", "  two  spaces", "the</s>end"]
    got = ours(tmp_path / "sp.gguf", texts, tmp_path)
    assert got["name"] == "GGUF llama SentencePiece BPE"
    for text, ids in zip(texts, got["ids"]):
        assert ids == ref(text, add_special_tokens=False)["input_ids"], text
    # The vocabulary's merges and byte fallback are exercised: whole words and <0x..> byte pieces.
    assert tokens.index("▁café") in got["ids"][0] and tokens.index("<0xE6>") in got["ids"][1]
