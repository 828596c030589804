"""Our ONNX forward pass (src/analysis/run/forward.ts) against transformers' eager attention.

For each case a tiny model is made by transformers from a seed, every parameter is redrawn with a large std (so the
attention is far from uniform and every norm weight and bias matters), and it is saved with
save_pretrained(safe_serialization=True). The node helper test/python/helpers/dump_attention.ts runs our forward pass
on it; every layer's attention probabilities must match model(ids, output_attentions=True) and every residual stream
must match output_hidden_states. Qwen3 is not in transformers 4.46, so it is checked against a numpy (float64)
re-implementation written here.

Run: /work/main/.venv/bin/python -m pytest test/python/test_attention_reference.py
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    MistralConfig,
    Qwen2Config,
)

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "test" / "python" / "helpers" / "dump_attention.ts"
PATTERN_TOL = 1e-4
RESID_RTOL = 1e-5  # residuals grow with depth: tolerance relative to the stream's largest magnitude
BATCH, T, VOCAB, CTX = 2, 24, 128, 64

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")

SMALL = dict(vocab_size=VOCAB)
LLAMA = dict(
    SMALL,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=CTX,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
)
NEOX = dict(
    SMALL,
    hidden_size=64,
    intermediate_size=256,
    num_hidden_layers=3,
    num_attention_heads=4,
    max_position_embeddings=CTX,
)
GPT2 = dict(SMALL, n_layer=3, n_embd=64, n_head=4, n_positions=CTX, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)


def rope(kind: str, **kw) -> dict:
    return {"rope_scaling": {"rope_type": kind, **kw}}


CASES: dict[str, tuple[type, dict, dict]] = {
    # name: (config class, config kwargs, options)
    "gpt2": (GPT2Config, GPT2, {}),
    "gpt2_inverse_layer_idx": (GPT2Config, dict(GPT2, scale_attn_by_inverse_layer_idx=True), {}),
    "llama_gqa": (LlamaConfig, LLAMA, {}),
    "llama_mqa_headdim_bias": (LlamaConfig, dict(LLAMA, num_key_value_heads=1, head_dim=24, attention_bias=True, mlp_bias=True), {}),
    "llama_bf16_weights": (LlamaConfig, LLAMA, {"dtype": torch.bfloat16}),
    "llama_rope_linear": (LlamaConfig, dict(LLAMA, **rope("linear", factor=2.0)), {}),
    "llama_rope_dynamic": (LlamaConfig, dict(LLAMA, **rope("dynamic", factor=2.0)), {}),
    "llama_rope_llama3": (
        LlamaConfig,
        dict(LLAMA, **rope("llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=16)),
        {},
    ),
    "llama_rope_yarn": (LlamaConfig, dict(LLAMA, **rope("yarn", factor=4.0)), {}),
    "llama_rope_longrope": (
        LlamaConfig,
        dict(LLAMA, **rope("longrope", factor=4.0, short_factor=[1.0 + 0.1 * i for i in range(8)], long_factor=[1.0 + 0.5 * i for i in range(8)])),
        {},
    ),
    "mistral_sliding_window": (MistralConfig, dict(LLAMA, sliding_window=8, head_dim=16), {}),
    "qwen2_bias": (Qwen2Config, dict(LLAMA, use_sliding_window=False), {}),
    "gpt_neox_parallel": (GPTNeoXConfig, dict(NEOX, rotary_pct=0.25), {}),
    "gpt_neox_sequential": (GPTNeoXConfig, dict(NEOX, rotary_pct=0.5, use_parallel_residual=False), {}),
    "gpt_neox_rope_linear": (GPTNeoXConfig, dict(NEOX, rotary_pct=0.25, **rope("linear", factor=2.0)), {}),
}


def randomize_(model: torch.nn.Module, seed: int) -> None:
    """Redraw every parameter: matrices and embeddings N(0, 0.2²), norm weights 1 + N(0, 0.1²), biases N(0, 0.1²)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if p.ndim == 1 and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif p.ndim == 1:
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.2 * noise)


def tokens_for(seed: int, vocab: int = VOCAB) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab, size=(BATCH, T))


def run_ours(ckpt: Path, ids: np.ndarray, work: Path, query_block_rows: int | None = None) -> tuple[dict, np.ndarray]:
    tok = work / "tokens.json"
    out = work / "out.bin"
    tok.write_text(json.dumps(ids.tolist()))
    blocks = ["--query-block-rows", str(query_block_rows)] if query_block_rows else []
    proc = subprocess.run(
        ["node", "--import", "tsx", str(HELPER), str(ckpt), str(tok), str(out), "--ep", "cpu", *blocks],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"dump_attention failed:\n{proc.stdout}\n{proc.stderr}"
    manifest = json.loads((work / "out.bin.json").read_text())
    data = np.fromfile(out, dtype="<f4")
    return manifest, data


def arr(data: np.ndarray, span: list[int], shape: tuple[int, ...]) -> np.ndarray:
    off, n = span
    assert n == math.prod(shape), f"expected {shape}, got {n} floats"
    return data[off : off + n].reshape(shape)


def check_layers(manifest: dict, data: np.ndarray, ref_attn: list[np.ndarray], ref_hidden: list[np.ndarray], heads: int, d: int) -> None:
    n = len(ref_attn)
    assert manifest["executionProvider"]["used"] == "cpu"
    assert [l["layer"] for l in manifest["layers"]] == list(range(n))
    for L, entry in enumerate(manifest["layers"]):
        ours = arr(data, entry["pattern"], (BATCH, heads, T, T))
        ref = ref_attn[L]
        assert ours.shape == ref.shape
        diff = float(np.abs(ours - ref).max())
        assert diff <= PATTERN_TOL, f"layer {L}: attention max |Δ| = {diff:.3g} > {PATTERN_TOL}"
        # the reference must be non-trivial, or agreeing with it proves little
        assert float(ref.max(axis=-1).min()) < 0.99 or L > 0, "reference attention is degenerate"
        # residual stream: resid_pre of layer 0 is the embedding; resid_post of L is hidden_states[L+1]
        # (the last hidden state has the final norm applied in transformers, so it is not compared)
        pairs = [("residPost", L + 1)] if L + 1 < n else []
        if L == 0:
            pairs.append(("residPre", 0))
        for key, h in pairs:
            mine = arr(data, entry[key], (BATCH, T, d))
            want = ref_hidden[h]
            scale = max(1.0, float(np.abs(want).max()))
            rdiff = float(np.abs(mine - want).max())
            assert rdiff <= max(PATTERN_TOL, RESID_RTOL * scale), f"layer {L} {key}: max |Δ| = {rdiff:.3g} (|x|max {scale:.3g})"


@needs_node
@pytest.mark.parametrize("case", list(CASES))
def test_matches_transformers(case: str, tmp_path: Path) -> None:
    check_case(case, tmp_path)


# The attention in blocks of query rows (what runs when T > 128): blocks of 7 rows over T = 24, the last one short.
@needs_node
@pytest.mark.parametrize("case", ["gpt2", "llama_gqa", "llama_mqa_headdim_bias", "mistral_sliding_window", "gpt_neox_parallel"])
def test_query_blocks_match_transformers(case: str, tmp_path: Path) -> None:
    manifest = check_case(case, tmp_path, query_block_rows=7)
    assert all(l["blocks"] == 4 for l in manifest["layers"])


def check_case(case: str, tmp_path: Path, query_block_rows: int | None = None) -> dict:
    cls, kwargs, opts = CASES[case]
    seed = sum(map(ord, case))
    torch.manual_seed(seed)
    config = cls(**kwargs)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    randomize_(model, seed)
    model.eval()
    ckpt = tmp_path / "ckpt"
    dtype = opts.get("dtype")
    if dtype is not None:
        # save in bf16; the reference is the saved checkpoint loaded back in float32 (same rounded weights, and
        # float32 rotary frequencies: casting the live model back would keep bf16-rounded inv_freq buffers)
        model.to(dtype).save_pretrained(ckpt, safe_serialization=True)
        model = AutoModelForCausalLM.from_pretrained(ckpt, torch_dtype=torch.float32, attn_implementation="eager").eval()
    else:
        model.save_pretrained(ckpt, safe_serialization=True)
    ids = tokens_for(seed)
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), output_attentions=True, output_hidden_states=True, use_cache=False)
    ref_attn = [a.float().numpy() for a in out.attentions]
    ref_hidden = [h.float().numpy() for h in out.hidden_states]
    if case == "mistral_sliding_window":
        # the window really masks: position 20 cannot see position 0
        assert float(ref_attn[0][:, :, 20, :13].max()) == 0.0
    manifest, data = run_ours(ckpt, ids, tmp_path, query_block_rows)
    heads = config.num_attention_heads if hasattr(config, "num_attention_heads") else config.n_head
    check_layers(manifest, data, ref_attn, ref_hidden, heads, model.config.hidden_size)
    return manifest


# ---------------------------------------------------------------------------------------------------------------------
# Qwen3 (not in transformers 4.46): a float64 numpy reference
# ---------------------------------------------------------------------------------------------------------------------

QWEN3 = dict(hidden=64, heads=4, kv=2, head_dim=24, inter=96, layers=3, theta=10000.0, eps=1e-6)


def qwen3_weights(seed: int) -> dict[str, np.ndarray]:
    c = QWEN3
    rng = np.random.default_rng(seed)
    d, H, KV, hd, I = c["hidden"], c["heads"], c["kv"], c["head_dim"], c["inter"]
    W: dict[str, np.ndarray] = {}

    def mat(name: str, *shape: int) -> None:
        W[name] = (0.2 * rng.standard_normal(shape)).astype(np.float32)

    def norm(name: str, n: int) -> None:
        W[name] = (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    mat("model.embed_tokens.weight", VOCAB, d)
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        norm(p + "input_layernorm.weight", d)
        mat(p + "self_attn.q_proj.weight", H * hd, d)
        mat(p + "self_attn.k_proj.weight", KV * hd, d)
        mat(p + "self_attn.v_proj.weight", KV * hd, d)
        mat(p + "self_attn.o_proj.weight", d, H * hd)
        norm(p + "self_attn.q_norm.weight", hd)
        norm(p + "self_attn.k_norm.weight", hd)
        norm(p + "post_attention_layernorm.weight", d)
        mat(p + "mlp.gate_proj.weight", I, d)
        mat(p + "mlp.up_proj.weight", I, d)
        mat(p + "mlp.down_proj.weight", d, I)
    norm("model.norm.weight", d)
    mat("lm_head.weight", VOCAB, d)
    return W


def rms(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rope_np(x: np.ndarray, theta: float) -> np.ndarray:
    """x [..., T, hd] with rotate_half RoPE (transformers' layout)."""
    hd = x.shape[-1]
    inv = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
    ang = np.arange(x.shape[-2])[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1)
    sin = np.concatenate([np.sin(ang)] * 2, -1)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return x * cos + np.concatenate([-x2, x1], -1) * sin


def qwen3_reference(W: dict[str, np.ndarray], ids: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    c = QWEN3
    H, KV, hd, eps = c["heads"], c["kv"], c["head_dim"], c["eps"]
    Wd = {k: v.astype(np.float64) for k, v in W.items()}
    x = Wd["model.embed_tokens.weight"][ids]  # [B, T, d]
    B, Tn, _ = x.shape
    causal = np.tril(np.ones((Tn, Tn), dtype=bool))
    attns, hiddens = [], [x]
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        h = rms(x, Wd[p + "input_layernorm.weight"], eps)
        q = (h @ Wd[p + "self_attn.q_proj.weight"].T).reshape(B, Tn, H, hd).transpose(0, 2, 1, 3)
        k = (h @ Wd[p + "self_attn.k_proj.weight"].T).reshape(B, Tn, KV, hd).transpose(0, 2, 1, 3)
        v = (h @ Wd[p + "self_attn.v_proj.weight"].T).reshape(B, Tn, KV, hd).transpose(0, 2, 1, 3)
        q = rope_np(rms(q, Wd[p + "self_attn.q_norm.weight"], eps), c["theta"])
        k = rope_np(rms(k, Wd[p + "self_attn.k_norm.weight"], eps), c["theta"])
        k = np.repeat(k, H // KV, axis=1)  # repeat_kv
        v = np.repeat(v, H // KV, axis=1)
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)
        s = np.where(causal, s, -np.inf)
        s = np.exp(s - s.max(-1, keepdims=True))
        a = s / s.sum(-1, keepdims=True)
        attns.append(a)
        o = (a @ v).transpose(0, 2, 1, 3).reshape(B, Tn, H * hd) @ Wd[p + "self_attn.o_proj.weight"].T
        x = x + o
        h = rms(x, Wd[p + "post_attention_layernorm.weight"], eps)
        gate = h @ Wd[p + "mlp.gate_proj.weight"].T
        mlp = (gate / (1 + np.exp(-gate)) * (h @ Wd[p + "mlp.up_proj.weight"].T)) @ Wd[p + "mlp.down_proj.weight"].T
        x = x + mlp
        hiddens.append(x)
    hiddens[-1] = rms(x, Wd["model.norm.weight"], eps)  # as transformers reports the last hidden state
    return attns, hiddens


@needs_node
def test_qwen3_matches_numpy_reference(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    c = QWEN3
    W = qwen3_weights(3)
    ckpt = tmp_path / "qwen3"
    ckpt.mkdir()
    save_file(W, str(ckpt / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        "hidden_size": c["hidden"],
        "num_attention_heads": c["heads"],
        "num_key_value_heads": c["kv"],
        "head_dim": c["head_dim"],
        "intermediate_size": c["inter"],
        "num_hidden_layers": c["layers"],
        "max_position_embeddings": CTX,
        "rms_norm_eps": c["eps"],
        "rope_theta": c["theta"],
        "rope_scaling": None,
        "hidden_act": "silu",
        "attention_bias": False,
        "tie_word_embeddings": False,
        "use_sliding_window": False,
        "sliding_window": None,
        "vocab_size": VOCAB,
    }
    (ckpt / "config.json").write_text(json.dumps(config))
    ids = tokens_for(7)
    ref_attn, ref_hidden = qwen3_reference(W, ids)
    manifest, data = run_ours(ckpt, ids, tmp_path)
    check_layers(manifest, data, ref_attn, ref_hidden, c["heads"], c["hidden"])
