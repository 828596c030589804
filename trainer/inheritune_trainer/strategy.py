"""--strategy fsdp: the model sharded with torch.distributed's FSDP2 (`fully_shard`), one unit per decoder block
(the classes a Hugging Face model lists in `_no_split_modules`) plus the root (embeddings, final norm, head).

* Mixed precision: bf16 parameters and compute with fp32 gradient reduction on CUDA (when the GPU supports bf16 and
  --dtype is not float32); fp32 everywhere on CPU.
* Round checkpoints: the full state dict is gathered to rank 0 (CPU) and saved through a plain model of the same
  class, so a round folder is an ordinary Hugging Face checkpoint (what `cli.js grow`, transformers and the
  extension read).
* Resume: model and optimizer saved sharded with torch.distributed.checkpoint (every rank writes its own shards into
  <out>/resume/dcp/), loaded back the same way (the same world size is the safe case; DCP reshards otherwise).

FSDP2 needs torch >= 2.6 (`torch.distributed.fsdp.fully_shard`); older torch gets a message saying so.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .errors import TrainerError

if TYPE_CHECKING:  # torch is imported where used: `--help` and the missing-torch message work without it
    from torch import nn


def add_args(parser) -> None:
    g = parser.add_argument_group("parallelism (several processes: inheritune train --devices K / torchrun)")
    g.add_argument("--strategy", choices=["ddp", "fsdp"], default="ddp",
                   help="ddp: a full replica per process; fsdp: parameters, gradients and optimizer state sharded "
                        "per decoder block (FSDP2, torch >= 2.6)")
    g.add_argument("--activation-checkpointing", action="store_true",
                   help="recompute block activations in backward (less memory, ~1/3 more compute)")


def fsdp_available() -> Optional[str]:
    """None when FSDP2 can be used, else why not."""
    import torch

    try:
        from torch.distributed.fsdp import fully_shard  # noqa: F401
    except Exception:  # noqa: BLE001 - ImportError, or torch 1.13's fsdp failing to import on Python 3.11
        return (f"--strategy fsdp needs torch 2.x with torch.distributed.fsdp.fully_shard (2.6 or newer); this is "
                f"torch {torch.__version__}. Install a current torch (pip install -U torch) or use --strategy ddp")
    return None


def check(strategy: str, world: int) -> None:
    if strategy == "fsdp":
        why = fsdp_available()
        if why:
            raise TrainerError(why)


def block_classes(model: nn.Module) -> set:
    names = set(getattr(model, "_no_split_modules", None) or [])
    return {type(m) for m in model.modules() if type(m).__name__ in names}


def shard(model: nn.Module, bf16: bool) -> nn.Module:
    """fully_shard every decoder block, then the root; in place (the module's class becomes FSDP<name>)."""
    import torch
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    kw = {}
    if bf16:
        kw["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    classes = block_classes(model)
    if not classes:
        raise TrainerError(f"--strategy fsdp: {type(model).__name__} lists no decoder block classes "
                           f"(_no_split_modules); use --strategy ddp")
    for m in list(model.modules()):
        if type(m) in classes:
            fully_shard(m, **kw)
    fully_shard(model, **kw)
    return model


def set_grad_sync(model: nn.Module, sync: bool) -> None:
    """Gradient accumulation: skip the reduce-scatter on all but the last micro-batch."""
    model.set_requires_gradient_sync(sync)


def scalar(t) -> float:
    """A norm that may be a DTensor (clip_grad_norm_ on sharded parameters) as a float."""
    if hasattr(t, "full_tensor"):
        t = t.full_tensor()
    return float(t)


def full_state_dict(model: nn.Module) -> dict:
    """Collective: every rank must call it. Rank 0 gets the full fp32 state dict on CPU, the others {}."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def plain_model(config, state_dict: dict) -> nn.Module:
    """A model of the config's class holding `state_dict` (no FSDP wrappers), for save_pretrained."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    keys = set(model.state_dict().keys())
    missing = keys - set(state_dict)
    tied = {k for k in missing if k.endswith("lm_head.weight")}
    if missing - tied:
        raise TrainerError(f"internal: the gathered state dict lacks {sorted(missing - tied)[:5]}")
    model.load_state_dict({k: v for k, v in state_dict.items() if k in keys}, strict=False, assign=True)
    if tied or getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    # Non-persistent buffers (rotary inv_freq, gpt2's causal mask) stay on meta: save_pretrained does not write them.
    return model


def _dcp_state(model, opt):
    from torch.distributed.checkpoint.state_dict import get_state_dict

    msd, osd = get_state_dict(model, opt)
    return {"model": msd, "optim": osd}


def save_sharded(model: nn.Module, opt, path: Path) -> None:
    """Collective: model and optimizer shards of every rank into `path` (torch.distributed.checkpoint)."""
    import torch.distributed.checkpoint as dcp

    dcp.save(_dcp_state(model, opt), checkpoint_id=str(path))


def load_sharded(model: nn.Module, opt, path: Path) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_state_dict

    state = _dcp_state(model, opt)
    dcp.load(state, checkpoint_id=str(path))
    set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optim"])
