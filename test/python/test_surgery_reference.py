"""Surgery checked against an independent reference: Hugging Face transformers.

For each family a tiny model is made by transformers from a seed and saved; the CLI inherits its first n layers; the
output must load with AutoModelForCausalLM.from_pretrained with no missing or unexpected keys, and (preset paper) its
logits must equal those of the reference truncated inside transformers (layer list cut, config updated) to 1e-5.
"""
import copy
import json

import pytest
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM

FAMILIES = {
    "gpt2": dict(model_type="gpt2", n_layer=6, n_embd=64, n_head=4, n_positions=128, vocab_size=300),
    "llama": dict(model_type="llama", num_hidden_layers=6, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=128, max_position_embeddings=128, vocab_size=300),
    "qwen2": dict(model_type="qwen2", num_hidden_layers=6, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=128, max_position_embeddings=128, vocab_size=300, max_window_layers=5, use_sliding_window=False),
    "gpt_neox": dict(model_type="gpt_neox", num_hidden_layers=6, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                     max_position_embeddings=128, vocab_size=300, rotary_pct=0.25),
    "mistral": dict(model_type="mistral", num_hidden_layers=6, hidden_size=64, num_attention_heads=4, num_key_value_heads=1,
                    intermediate_size=128, max_position_embeddings=128, vocab_size=300),
}


def make_model(family, path, seed=0, **overrides):
    torch.manual_seed(seed)
    cfg = dict(FAMILIES[family])
    model_type = cfg.pop("model_type")
    cfg.update(overrides)
    config = AutoConfig.for_model(model_type, initializer_range=0.2, **cfg)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    with torch.no_grad():  # non-trivial norms and biases so copying mistakes show
        for name, p in model.named_parameters():
            if "norm" in name or "ln" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(path, safe_serialization=True)
    return model


def truncated(model, n):
    """The reference cut to its first n blocks inside transformers."""
    m = copy.deepcopy(model)
    base = getattr(m, m.base_model_prefix)
    layers_attr = "h" if hasattr(base, "h") else "layers"
    setattr(base, layers_attr, torch.nn.ModuleList(list(getattr(base, layers_attr))[:n]))
    key = "n_layer" if m.config.model_type == "gpt2" else "num_hidden_layers"
    setattr(m.config, key, n)
    return m.eval()


def ids(vocab, batch=2, T=17, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, T), generator=g)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("n", [1, 3])
def test_inherit_loads_and_matches_truncated_reference(tmp_path, cli, family, n):
    ref = make_model(family, tmp_path / "ref")
    out = tmp_path / "out"
    cli("inherit", tmp_path / "ref", "--layers", n, "--out", out, "--preset", "paper")
    small, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True, attn_implementation="eager")
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == [], info
    x = ids(ref.config.vocab_size)
    with torch.no_grad():
        want = truncated(ref, n)(x).logits
        got = small.eval()(x).logits
    assert torch.allclose(got, want, atol=1e-5, rtol=0), float((got - want).abs().max())
    cfg = json.loads((out / "config.json").read_text())
    if family == "qwen2":
        assert cfg["max_window_layers"] == min(5, n)
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        meta = f.metadata()
    prov = json.loads(meta["inheritune"])
    assert prov["op"] == "inherit" and len(prov["layerMap"]) == n


def test_gpt2_hub_style_names_without_prefix(tmp_path, cli):
    """Hub GPT-2 checkpoints store names without `transformer.`; the output keeps that style and still loads."""
    from safetensors.torch import load_file, save_file

    ref = make_model("gpt2", tmp_path / "ref")
    sd = load_file(str(tmp_path / "ref" / "model.safetensors"))
    hub = {k.removeprefix("transformer."): v for k, v in sd.items()}
    (tmp_path / "hub").mkdir()
    save_file(hub, str(tmp_path / "hub" / "model.safetensors"), metadata={"format": "pt"})
    (tmp_path / "hub" / "config.json").write_text((tmp_path / "ref" / "config.json").read_text())
    cli("inherit", tmp_path / "hub", "--layers", 2, "--out", tmp_path / "out")
    with safe_open(str(tmp_path / "out" / "model.safetensors"), "pt") as f:
        assert "h.1.attn.c_attn.weight" in f.keys() and "wte.weight" in f.keys()
    small = AutoModelForCausalLM.from_pretrained(tmp_path / "out", attn_implementation="eager").eval()
    x = ids(300)
    with torch.no_grad():
        assert torch.allclose(small(x).logits, truncated(ref, 2)(x).logits, atol=1e-5, rtol=0)


def test_sharded_output_loads(tmp_path, cli):
    ref = make_model("llama", tmp_path / "ref")
    cli("inherit", tmp_path / "ref", "--layers", 3, "--out", tmp_path / "out", "--shard-size", "60KB")
    assert (tmp_path / "out" / "model.safetensors.index.json").exists()
    small, info = AutoModelForCausalLM.from_pretrained(tmp_path / "out", output_loading_info=True, attn_implementation="eager")
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    x = ids(300)
    with torch.no_grad():
        assert torch.allclose(small.eval()(x).logits, truncated(ref, 3)(x).logits, atol=1e-5, rtol=0)


def test_bf16_reference_round_trips_bytes(tmp_path, cli):
    ref = make_model("llama", tmp_path / "ref").to(torch.bfloat16)
    ref.save_pretrained(tmp_path / "ref16", safe_serialization=True)
    cli("inherit", tmp_path / "ref16", "--layers", 2, "--out", tmp_path / "out")
    small = AutoModelForCausalLM.from_pretrained(tmp_path / "out", torch_dtype=torch.bfloat16)
    want = truncated(ref, 2).state_dict()
    for k, v in small.state_dict().items():
        assert v.dtype == torch.bfloat16 and torch.equal(v, want[k]), k


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_grow_stack_and_random_load_in_transformers(tmp_path, cli, family):
    make_model(family, tmp_path / "ref")
    cli("inherit", tmp_path / "ref", "--layers", 2, "--out", tmp_path / "small")
    cli("grow", tmp_path / "small", "--ref", tmp_path / "ref", "--add", 2, "--out", tmp_path / "grown")
    cli("stack", tmp_path / "small", "--out", tmp_path / "stacked")
    cli("init-random", tmp_path / "ref", "--layers", 3, "--out", tmp_path / "rand")
    for name, depth in [("grown", 4), ("stacked", 4), ("rand", 3)]:
        m, info = AutoModelForCausalLM.from_pretrained(tmp_path / name, output_loading_info=True)
        assert info["missing_keys"] == [] and info["unexpected_keys"] == [], (name, info)
        assert m.config.num_hidden_layers == depth
    # Grown = the reference's first 4 layers here, since the small model was not trained.
    ref = AutoModelForCausalLM.from_pretrained(tmp_path / "ref", attn_implementation="eager").eval()
    grown = AutoModelForCausalLM.from_pretrained(tmp_path / "grown", attn_implementation="eager").eval()
    x = ids(300)
    with torch.no_grad():
        assert torch.allclose(grown(x).logits, truncated(ref, 4)(x).logits, atol=1e-5, rtol=0)
