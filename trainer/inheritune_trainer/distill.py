"""Knowledge-distillation baselines of the paper's tables, trained in the same harness as Inheritune.

    --init kd             student: a random n-layer model (as --init random); loss (Hinton et al. 2015)
                              alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)
    --init kd-distilbert  student: reference blocks 0, 2, 4, ... (n of them; Sanh et al. 2019); loss
                              alpha * T^2 * KL(...) + (1 - alpha) * CE(s, y) + w_cos * (1 - cos(h_s, h_t))
                          with h the last hidden states (after the final norm) of student and teacher, per token.

KL and CE are means over tokens (KL summed over the vocabulary). The teacher is the reference, frozen, in eval mode,
run under no_grad (bf16 autocast on CUDA where supported). DistilBERT's own weights are 5 : 2 : 1 (soft : LM :
cosine) at T = 2, i.e. --kd-alpha 0.714 --kd-cosine-weight 0.143 here.
"""
from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING, Optional, Tuple

if TYPE_CHECKING:  # torch is imported where used: `--help` and the missing-torch message work without it
    import torch

KD_INITS = ("kd", "kd-distilbert")


def add_args(parser: argparse.ArgumentParser) -> None:
    k = parser.add_argument_group("distillation (--init kd, kd-distilbert)")
    k.add_argument("--kd-temperature", type=float, default=2.0, help="T: softmax temperature of the soft targets")
    k.add_argument("--kd-alpha", type=float, default=0.5,
                   help="weight of the soft-target loss (T^2 KL); the LM loss gets 1 - alpha")
    k.add_argument("--kd-cosine-weight", type=float, default=1.0,
                   help="kd-distilbert: weight of the hidden-state cosine loss")


def check_args(args) -> Optional[str]:
    """An error message for bad distillation options, or None."""
    if args.kd_temperature <= 0:
        return f"--kd-temperature must be > 0 (got {args.kd_temperature})"
    if not 0.0 <= args.kd_alpha <= 1.0:
        return f"--kd-alpha must be in [0, 1] (got {args.kd_alpha})"
    if args.kd_cosine_weight < 0:
        return f"--kd-cosine-weight must be >= 0 (got {args.kd_cosine_weight})"
    return None


def soft_target_loss(s_logits: torch.Tensor, t_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(t/T) || softmax(s/T)), summed over the vocabulary, mean over tokens."""
    import torch.nn.functional as F

    V = s_logits.size(-1)
    s = F.log_softmax(s_logits.float().reshape(-1, V) / temperature, dim=-1)
    t = F.log_softmax(t_logits.float().reshape(-1, V) / temperature, dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean") * (temperature ** 2)


def cosine_loss(h_s: torch.Tensor, h_t: torch.Tensor) -> torch.Tensor:
    """Mean over tokens of 1 - cos(h_s, h_t) (DistilBERT's CosineEmbeddingLoss with target 1)."""
    import torch.nn.functional as F

    d = h_s.size(-1)
    return 1.0 - F.cosine_similarity(h_s.float().reshape(-1, d), h_t.float().reshape(-1, d), dim=-1).mean()


def kd_objective(init: str, s_logits, t_logits, y, *, temperature: float, alpha: float, cos_weight: float = 0.0,
                 h_s=None, h_t=None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """(objective, LM cross-entropy, soft-target loss, cosine loss or None)."""
    import torch.nn.functional as F

    ce = F.cross_entropy(s_logits.float().reshape(-1, s_logits.size(-1)), y.reshape(-1))
    soft = soft_target_loss(s_logits, t_logits, temperature)
    obj = alpha * soft + (1.0 - alpha) * ce
    cos = None
    if init == "kd-distilbert":
        cos = cosine_loss(h_s, h_t)
        obj = obj + cos_weight * cos
    return obj, ce, soft, cos


def teacher_autocast(device: torch.device):
    """bf16 autocast for the teacher's forward on CUDA (where supported); fp32 elsewhere."""
    import torch

    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def freeze(model: "torch.nn.Module") -> "torch.nn.Module":
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
