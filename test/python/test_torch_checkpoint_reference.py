"""PyTorch zip checkpoints (torch.save), read without unpickling, against PyTorch and transformers.

- nanoGPT ckpt.pt: a nanoGPT-style model (helpers/nanogpt_model.py) with random large weights is saved the way
  nanoGPT's train.py saves it (model / optimizer / model_args / iter_num / best_val_loss / config), with and without
  torch.compile's `_orig_mod.` prefix, with bias True and False. `inheritune inspect` reads it; our forward pass
  (helpers/dump_attention.ts) gives the PyTorch model's attention to 1e-4, and `inheritune analyze --save-patterns`
  gives it to float16 precision; `inheritune inherit` writes an HF folder that transformers loads without missing or
  unexpected keys and whose logits equal the PyTorch model cut to the same depth.
- pytorch_model.bin from save_pretrained(safe_serialization=False), single and sharded, and in the legacy format of
  torch.save before PyTorch 1.6: the same checks against transformers, and grow / stack / init-random outputs load.
- Malicious pickles (a __reduce__ that runs a shell command) in a torch.save zip and as a bare pickle: refused with
  the global named; the marker file the payload would create never appears (the payload is shown to be live by
  unpickling it with Python's pickle in a separate folder).

Run: .venv/bin/python -m pytest test/python/test_torch_checkpoint_reference.py
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM, GPT2LMHeadModel

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from nanogpt_model import GPT, GPTConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "test" / "python" / "helpers" / "dump_attention.ts"
PATTERN_TOL = 1e-4
F16_TOL = 2e-3  # --save-patterns writes float16: values in [0, 1] round by at most 2^-11
BATCH, T, VOCAB = 2, 24, 128

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")


def randomize_(model: torch.nn.Module, seed: int) -> None:
    """Redraw every parameter (matrices N(0, 0.2²), norm weights 1 + N(0, 0.1²), biases N(0, 0.1²)) so attention is
    far from uniform and every tensor matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.copy_(1.0 + 0.1 * noise if p.ndim == 1 and name.endswith("weight") else 0.1 * noise if p.ndim == 1 else 0.2 * noise)


def token_ids(seed: int, vocab: int = VOCAB) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab, size=(BATCH, T))


def run_dump(ckpt: Path, ids: np.ndarray, work: Path) -> tuple[dict, np.ndarray]:
    tok, out = work / "tokens.json", work / "out.bin"
    tok.write_text(json.dumps(ids.tolist()))
    proc = subprocess.run(["node", "--import", "tsx", str(HELPER), str(ckpt), str(tok), str(out), "--ep", "cpu"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"dump_attention failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads((work / "out.bin.json").read_text()), np.fromfile(out, dtype="<f4")


def check_patterns(ckpt: Path, ids: np.ndarray, ref_attn: list[np.ndarray], heads: int, work: Path, cli) -> None:
    manifest, data = run_dump(ckpt, ids, work)
    assert len(manifest["layers"]) == len(ref_attn)
    for L, entry in enumerate(manifest["layers"]):
        off, n = entry["pattern"]
        ours = data[off : off + n].reshape(BATCH, heads, T, T)
        diff = float(np.abs(ours - ref_attn[L]).max())
        assert diff <= PATTERN_TOL, f"layer {L}: attention max |Δ| = {diff:.3g}"
    assert float(ref_attn[0].max(axis=-1).min()) < 0.99, "reference attention is degenerate"

    # the product's entry point: analyze with the token ids (uint16, exactly B×T in order) and --save-patterns
    tokens = work / "tokens.bin"
    ids.astype("<u2").tofile(tokens)
    pats = work / "patterns"
    cli("analyze", ckpt, "--tokens", tokens, "--batch", BATCH, "--seq-len", T, "--ep", "cpu", "--save-patterns", pats, "--json", work / "report.json", "--quiet")
    report = json.loads((work / "report.json").read_text())
    assert len(report["layers"]) == len(ref_attn)
    with safe_open(str(pats / "model.safetensors"), "pt") as f:
        for L, ref in enumerate(ref_attn):
            ours = f.get_tensor(f"blocks.{L}.attn.pattern").float().numpy()
            diff = float(np.abs(ours - ref.mean(axis=0)).max())
            assert diff <= F16_TOL, f"analyze layer {L}: batch-mean attention max |Δ| = {diff:.3g}"


def load_hf(out: Path):
    model, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True, attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    return model.eval()


# ----------------------------------------------------------------------------------------------------- nanoGPT


def save_nanogpt(path: Path, model: GPT, compiled: bool) -> None:
    """As nanoGPT's train.py: the raw state dict (with `_orig_mod.` when the model was torch.compile'd)."""
    sd = model.state_dict()
    if compiled:
        sd = type(sd)((f"_orig_mod.{k}", v) for k, v in sd.items())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
    model(torch.zeros(1, 4, dtype=torch.long)).sum().backward()
    opt.step()
    model.zero_grad()
    torch.save(
        {
            "model": sd,
            "optimizer": opt.state_dict(),
            "model_args": dataclasses.asdict(model.config),
            "iter_num": 250,
            "best_val_loss": torch.tensor(2.5),
            "config": {"learning_rate": 1e-3, "betas": (0.9, 0.95), "device": "cpu", "compile": compiled},
        },
        path,
    )


def nanogpt_ref(bias: bool, seed: int) -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(bias=bias, dropout=0.1 if bias else 0.0))
    randomize_(model, seed)
    return model.eval()


@needs_node
@pytest.mark.parametrize("bias,compiled", [(True, False), (False, False), (False, True), (True, True)])
def test_nanogpt_ckpt(bias: bool, compiled: bool, tmp_path: Path, cli) -> None:
    seed = 7 + 2 * bias + compiled
    model = nanogpt_ref(bias, seed)
    ckpt = tmp_path / "out" / "ckpt.pt"
    ckpt.parent.mkdir()
    save_nanogpt(ckpt, model, compiled)
    model.eval()

    summary = json.loads(cli("inspect", ckpt, "--json").stdout)
    assert (summary["family"], summary["numLayers"], summary["numHeads"], summary["hiddenSize"], summary["vocabSize"], summary["contextLength"]) == ("gpt2", 3, 4, 64, VOCAB, 64)
    assert summary["tiedEmbeddings"] is True

    ids = token_ids(seed)
    att: list[torch.Tensor] = []
    with torch.no_grad():
        model(torch.tensor(ids), want_att=att)
    check_patterns(ckpt, ids, [a.numpy() for a in att], 4, tmp_path, cli)

    plan = cli("inherit", ckpt, "--layers", 2, "--out", tmp_path / "never", "--dry-run").stdout
    assert any(l.startswith("transformer.h.1.attn.c_attn.weight F32[64,192] <- copy ref:transformer.h.1.attn.c_attn.weight") and l.endswith(" transpose") for l in plan.splitlines()), plan
    assert (" zeros" in plan) == (not bias) and not (tmp_path / "never").exists()

    for n in (3, 2):
        out = tmp_path / f"child{n}"
        cli("inherit", ckpt, "--layers", n, "--out", out)
        config = json.loads((out / "config.json").read_text())
        assert config["n_layer"] == n and config["activation_function"] == "gelu" and config["n_positions"] == 64
        assert config["resid_pdrop"] == (0.1 if bias else 0.0)
        child = load_hf(out)
        assert child.config.tie_word_embeddings
        cut = copy.deepcopy(model)
        cut.transformer.h = torch.nn.ModuleList(list(cut.transformer.h)[:n])
        x = torch.tensor(ids)
        with torch.no_grad():
            want = cut(x)
            got = child(input_ids=x).logits
        diff = float((got - want).abs().max())
        assert diff <= 1e-4, f"inherit --layers {n}: logits max |Δ| = {diff:.3g}"
        if not bias:  # the bias-free model is written with all-zero biases (HF GPT-2 always has them)
            with safe_open(str(out / "model.safetensors"), "pt") as f:
                assert float(f.get_tensor("transformer.h.0.attn.c_attn.bias").abs().max()) == 0.0
                assert float(f.get_tensor("transformer.ln_f.bias").abs().max()) == 0.0


def test_nanogpt_optimizer_is_not_read(tmp_path: Path, cli) -> None:
    """Only the `model` entry's storages are read: with every other storage (optimizer state, best_val_loss) removed
    from the zip (rewritten by Python's zipfile with zip64 local headers), inherit still works, same weights."""
    model = nanogpt_ref(True, 3)
    ckpt = tmp_path / "ckpt.pt"
    save_nanogpt(ckpt, model, False)
    # storage keys are numbered in pickling order: the model's storages come first
    n_model = len({t.data_ptr() for t in model.state_dict().values()})  # one storage per parameter here
    slim = tmp_path / "slim" / "ckpt.pt"
    slim.parent.mkdir()
    dropped = 0
    with zipfile.ZipFile(ckpt) as src, zipfile.ZipFile(slim, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            key = info.filename.split("/data/")[1] if "/data/" in info.filename else None
            if key is not None and int(key) >= n_model:
                dropped += 1
                continue
            with dst.open(info.filename, "w", force_zip64=True) as out:  # zip64 local headers, as torch writes > 4 GB
                out.write(src.read(info.filename))
    assert dropped > 2 * n_model  # AdamW's exp_avg and exp_avg_sq (and step) were in the file
    cli("inherit", slim, "--layers", 3, "--out", tmp_path / "a")
    with safe_open(str(tmp_path / "a" / "model.safetensors"), "pt") as f:
        for name, p in model.state_dict().items():
            if name.endswith("attn.bias") and p.ndim == 4:
                continue  # the causal-mask buffer is not a parameter
            got = f.get_tensor(name) if name != "lm_head.weight" else f.get_tensor("transformer.wte.weight").t().t()
            want = p.t() if p.ndim == 2 and ".h." in name else p  # nn.Linear [out, in] → Conv1D [in, out]
            assert torch.equal(got, want), name


# ------------------------------------------------------------------------------------------- pytorch_model.bin

BIN_FAMILIES = {
    "gpt2": dict(model_type="gpt2", n_layer=3, n_embd=64, n_head=4, n_positions=64, vocab_size=VOCAB),
    "llama": dict(model_type="llama", num_hidden_layers=3, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128, max_position_embeddings=64, vocab_size=VOCAB),
}


def make_bin(family: str, path: Path, seed: int, shard: str | None):
    torch.manual_seed(seed)
    cfg = dict(BIN_FAMILIES[family])
    config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    randomize_(model, seed)
    model.eval()
    if shard == "legacy":  # the format of torch.save before PyTorch 1.6, which many older pytorch_model.bin have
        model.config.save_pretrained(path)
        torch.save(model.state_dict(), path / "pytorch_model.bin", _use_new_zipfile_serialization=False)
        assert not zipfile.is_zipfile(path / "pytorch_model.bin")
        return model
    kw = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(path, safe_serialization=False, **kw)
    if list(path.glob("*.safetensors")):  # transformers 5 writes safetensors only: write the layout 4.x wrote
        for f in path.glob("model*.safetensors*"):
            f.unlink()
        write_bin_like_save_pretrained(model, path, 60_000 if shard else None)
    assert not list(path.glob("*.safetensors"))
    return model


def write_bin_like_save_pretrained(model, path: Path, shard_bytes: int | None) -> None:
    """pytorch_model.bin, or pytorch_model-0000i-of-0000n.bin + pytorch_model.bin.index.json, as transformers 4.x."""
    sd = model.state_dict()
    shards: list[dict] = [{}]
    size = 0
    for k, v in sd.items():
        n = v.numel() * v.element_size()
        if shard_bytes and shards[-1] and size + n > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][k] = v
        size += n
    if len(shards) == 1:
        torch.save(shards[0], path / "pytorch_model.bin")
        return
    weight_map = {}
    for i, sh in enumerate(shards):
        name = f"pytorch_model-{i + 1:05d}-of-{len(shards):05d}.bin"
        torch.save(sh, path / name)
        weight_map.update({k: name for k in sh})
    total = sum(v.numel() * v.element_size() for v in sd.values())
    (path / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))


@needs_node
@pytest.mark.parametrize("family,shard", [("gpt2", None), ("gpt2", "60KB"), ("llama", None), ("llama", "60KB"), ("gpt2", "legacy"), ("llama", "legacy")])
def test_pytorch_model_bin(family: str, shard: str | None, tmp_path: Path, cli) -> None:
    seed = 11 + len(family) + (shard is not None)
    ck = tmp_path / "ck"
    model = make_bin(family, ck, seed, shard)
    assert (ck / "pytorch_model.bin.index.json").exists() == (shard not in (None, "legacy"))
    summary = json.loads(cli("inspect", ck, "--json").stdout)
    assert summary["family"] == family and summary["numLayers"] == 3
    if shard and shard != "legacy":
        assert len(summary["files"]) > 1 and all(f.endswith(".bin") for f in summary["files"])

    ids = token_ids(seed)
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), output_attentions=True, use_cache=False)
    check_patterns(ck, ids, [a.numpy() for a in out.attentions], 4, tmp_path, cli)

    child_dir = tmp_path / "child"
    cli("inherit", ck, "--layers", 2, "--out", child_dir)
    child = load_hf(child_dir)
    cut = copy.deepcopy(model)
    base = getattr(cut, cut.base_model_prefix)
    attr = "h" if hasattr(base, "h") else "layers"
    setattr(base, attr, torch.nn.ModuleList(list(getattr(base, attr))[:2]))
    x = torch.tensor(ids)
    with torch.no_grad():
        diff = float((child(input_ids=x).logits - cut(input_ids=x).logits).abs().max())
    assert diff <= 1e-4, f"logits max |Δ| = {diff:.3g}"

    # the other surgeries take the .bin as they take safetensors
    cli("stack", child_dir, "--out", tmp_path / "stacked")
    assert load_hf(tmp_path / "stacked").config.to_dict()[("n_layer" if family == "gpt2" else "num_hidden_layers")] == 4
    cli("grow", child_dir, "--ref", ck, "--add", 1, "--out", tmp_path / "grown")
    load_hf(tmp_path / "grown")
    cli("init-random", ck, "--layers", 2, "--out", tmp_path / "random")
    load_hf(tmp_path / "random")


# ------------------------------------------------------------------------------------------------- malicious


class Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickles_are_refused_and_never_run(tmp_path: Path, cli) -> None:
    marker = tmp_path / "MARKER"
    in_zip = tmp_path / "evil" / "pytorch_model.bin"
    in_zip.parent.mkdir()
    (in_zip.parent / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 1, "n_embd": 8, "n_head": 2, "n_positions": 8, "vocab_size": 16}))
    torch.save({"transformer.wte.weight": torch.zeros(16, 8), "evil": Payload(marker)}, in_zip)
    bare = tmp_path / "bare.pt"
    bare.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    nano = tmp_path / "ckpt.pt"
    torch.save({"model": {"x": Payload(marker)}, "model_args": {"n_layer": 1}}, nano)

    for target in (in_zip.parent, in_zip, bare, nano):
        for cmd in (["inspect", target], ["analyze", target, "--ep", "cpu"], ["inherit", target, "--out", tmp_path / "child"]):
            r = cli(*cmd, check=False)
            assert r.returncode != 0
            assert "refused global posix.system" in r.stderr, r.stderr
            assert "nothing in the file is executed" in r.stderr
    assert not marker.exists()
    assert not (tmp_path / "child").exists()

    # the payload is live: Python's pickle runs it (in a folder of its own)
    live = tmp_path / "live"
    live.mkdir()
    pickle.loads(pickle.dumps(Payload(live / "MARKER")))
    assert (live / "MARKER").exists()
    assert not marker.exists()
