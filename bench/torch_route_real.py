#!/usr/bin/env python3
"""The PyTorch route of issue 13 on a Hugging Face llama folder: transformers eager forward with
output_attentions=True, float64 Gram AᵀA of the batch-mean matrix (mode mean) or of each sequence (per-seq) and
torch.linalg.eigvalsh batched over heads, m* by sorting column sums. On --device cuda the same on the GPU (timed
with synchronisation). Writes k*/m* per head and the phases as JSON.
Usage: torch_route_real.py CKPT TOKENS.npy B T TAU mean|per-seq OUT.json [--device cpu|cuda]
"""
import json, os, sys, time
t0 = time.perf_counter()
import numpy as np, torch
from transformers import AutoModel
torch.set_num_threads(os.cpu_count())
args = sys.argv[1:]
device = "cpu"
if "--device" in args:
    i = args.index("--device")
    device = args[i + 1]
    del args[i:i + 2]
ckpt, tokens_path, B, T, tau, mode, out = args[0], args[1], int(args[2]), int(args[3]), float(args[4]), args[5], args[6]
sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
ids = torch.from_numpy(np.load(tokens_path).astype(np.int64)).reshape(B, T).to(device)
model = AutoModel.from_pretrained(ckpt, attn_implementation="eager", torch_dtype=torch.float32).eval().to(device)
sync()
t_load = time.perf_counter()
with torch.no_grad():
    atts = model(ids, output_attentions=True).attentions  # L × [B, H, T, T]
sync()
t_fwd = time.perf_counter()

def first_reaching(w):  # w ≥ 0 sorted descending on the last axis: smallest k with Σ_{i≤k} w_i ≥ τ Σ w
    c = torch.cumsum(w, -1) / w.sum(-1, keepdim=True)
    return (c < tau).sum(-1) + 1

layers, t_k, t_m = [], 0.0, 0.0
with torch.no_grad():
    for att in atts:
        a = att.double()
        if mode == "mean":
            a = a.mean(0, keepdim=True)  # the batch-mean matrix, [1, H, T, T]
        tt = time.perf_counter()
        ev = torch.linalg.eigvalsh(a.transpose(-1, -2) @ a).flip(-1).clamp_min(0)  # σ² of each [b, h]
        k = first_reaching(ev).double().mean(0).cpu()
        sync()
        t_k += time.perf_counter() - tt
        tt = time.perf_counter()
        col = a.sum(-2)  # column mass
        m = first_reaching(torch.sort(col, -1, descending=True).values).double().mean(0).cpu()
        sync()
        t_m += time.perf_counter() - tt
        layers.append([{"kStar": float(k[h]), "mStar": float(m[h])} for h in range(a.shape[1])])
t_end = time.perf_counter()
json.dump({"layers": layers, "route": "float64 Gram + eigvalsh, batched over heads",
           "phases": {"load": t_load - t0, "forward": t_fwd - t_load, "kstar": t_k, "mstar": t_m, "metrics": t_end - t_fwd,
                      "total": t_end - t0},
           "threads": torch.get_num_threads(), "torch": torch.__version__, "device": device,
           "deviceName": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"}, open(out, "w"))
