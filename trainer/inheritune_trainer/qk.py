"""Per-layer norm of the gradient of the query and key projection weights.

Architecture-aware: the paper's "lazy layers" show up as attention blocks whose Q/K weights get
tiny gradients. For each decoder block we collect the Q and K weight-gradient pieces and report
sqrt(|dW_q|^2 + |dW_k|^2):

* gpt2 (`attn.c_attn`, Conv1D, weight `[in, 3H]`): columns `[0:H]` are Q, `[H:2H]` are K.
* gpt_bigcode (`attn.c_attn`, Linear, weight `[H + 2*kv, H]`): rows `[0:H]` Q, `[H:H+kv]` K.
* gpt_neox / bloom (`query_key_value`, weight `[3H, H]`): rows are interleaved per head,
  `view(n_head, 3, head_dim, H)` -> `[:, 0]` Q, `[:, 1]` K.
* phi3-style fused `qkv_proj` (weight `[(nh + 2*nkv) * hd, H]`): rows `[0:nh*hd]` Q, next `nkv*hd` K.
* llama / mistral / qwen2 / gemma / opt / gptj / phi ...: separate `q_proj` and `k_proj`.

Unknown layouts give `None` for that layer.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import torch
from torch import nn

Slicer = Callable[[torch.Tensor], torch.Tensor]
Piece = Tuple[nn.Parameter, Slicer]


def find_blocks(model: nn.Module) -> Tuple[str, nn.ModuleList]:
    """The ModuleList of decoder blocks (the outermost ModuleList with num_hidden_layers entries)."""
    n = getattr(model.config, "num_hidden_layers", None)
    best = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.ModuleList) and len(mod) > 0:
            if n is not None and len(mod) == n:
                return name, mod
            if best is None:
                best = (name, mod)
    if best is None:
        raise ValueError(f"cannot find the decoder blocks of {type(model).__name__}")
    return best


def _cfg(config, *names, default=None):
    for n in names:
        v = getattr(config, n, None)
        if v is not None:
            return v
    return default


def _block_pieces(block: nn.Module, config) -> Optional[List[Piece]]:
    params = dict(block.named_parameters())
    model_type = getattr(config, "model_type", "")
    hidden = _cfg(config, "hidden_size", "n_embd", "d_model")
    n_head = _cfg(config, "num_attention_heads", "n_head")
    head_dim = _cfg(config, "head_dim", default=(hidden // n_head if hidden and n_head else None))
    n_kv = _cfg(config, "num_key_value_heads", default=n_head)

    def find(suffix: str) -> Optional[Tuple[str, nn.Parameter]]:
        hits = [(k, p) for k, p in params.items() if k == suffix or k.endswith("." + suffix)]
        return hits[0] if len(hits) == 1 else None

    c_attn = find("c_attn.weight")
    if c_attn is not None:
        _, w = c_attn
        if model_type == "gpt2" or (w.dim() == 2 and w.shape[1] == 3 * w.shape[0]):
            H = w.shape[1] // 3  # Conv1D: [in, 3H]
            return [(w, lambda g, H=H: g[:, :H]), (w, lambda g, H=H: g[:, H:2 * H])]
        if model_type == "gpt_bigcode" and hidden:
            kv = (w.shape[0] - hidden) // 2  # Linear: [H + 2kv, H]
            return [(w, lambda g: g[:hidden]), (w, lambda g, kv=kv: g[hidden:hidden + kv])]
        return None

    qkv = find("query_key_value.weight")
    if qkv is not None and n_head and model_type in ("gpt_neox", "bloom", "gpt_neox_japanese", ""):
        _, w = qkv
        if w.shape[0] % (3 * n_head):
            return None
        hd = w.shape[0] // (3 * n_head)

        def q(g, nh=n_head, hd=hd):
            return g.view(nh, 3, hd, -1)[:, 0]

        def k(g, nh=n_head, hd=hd):
            return g.view(nh, 3, hd, -1)[:, 1]

        return [(w, q), (w, k)]

    fused = find("qkv_proj.weight")
    if fused is not None and n_head and head_dim:
        _, w = fused
        qd, kd = n_head * head_dim, n_kv * head_dim
        if w.shape[0] != qd + 2 * kd:
            return None
        return [(w, lambda g: g[:qd]), (w, lambda g: g[qd:qd + kd])]

    qp, kp = find("q_proj.weight"), find("k_proj.weight")
    if qp is not None and kp is not None:
        return [(qp[1], lambda g: g), (kp[1], lambda g: g)]
    return None


def qk_pieces(model: nn.Module) -> List[Optional[List[Piece]]]:
    _, blocks = find_blocks(model)
    return [_block_pieces(b, model.config) for b in blocks]


@torch.no_grad()
def qk_grad_norms(pieces: List[Optional[List[Piece]]]) -> List[Optional[float]]:
    """One float per layer (None when the layout is unknown or the gradient is missing)."""
    sq = []
    idx = []
    for i, layer in enumerate(pieces):
        if not layer or any(p.grad is None for p, _ in layer):
            continue
        # fsdp: a sharded gradient (DTensor) is gathered first (collective; every rank runs this in the same order)
        s = sum(sl(p.grad.full_tensor() if hasattr(p.grad, "full_tensor") else p.grad).float().pow(2).sum()
                for p, sl in layer)
        sq.append(s)
        idx.append(i)
    out: List[Optional[float]] = [None] * len(pieces)
    if sq:
        vals = torch.stack(sq).sqrt().cpu().tolist()  # one device sync
        for i, v in zip(idx, vals):
            out[i] = float(v)
    return out
