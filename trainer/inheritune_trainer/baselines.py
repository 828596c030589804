"""The paper's comparison models as `--init` values, each built by the project CLI (never by hand here):

    hybrid-stack   `inherit --layers n/2` then `stack`: reference blocks 0..n/2-1, then the same again (layer j <- j mod n/2)
    half-width     `half-width`: the reference's depth k at half hidden size, heads, kv heads and MLP width, every
                   tensor the reference's leading slice (see the trainer README)
    kd             `init-random --layers n` (as --init random), trained with logit distillation (distill.py)
    kd-distilbert  `inherit --layers n --stride 2`: reference blocks 0, 2, 4, ..., 2(n-1), trained with DistilBERT's loss

They use the same data order, eval windows, schedule and rounds as Inheritune; growth re-builds the same kind of
model at n + G layers (`reinherit`).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from .errors import TrainerError
from .surgery import Surgery

NEW_INITS = ("hybrid-stack", "half-width", "kd", "kd-distilbert")


def first_layers(init: str, k: int, layers: Optional[int]) -> int:
    if init in ("scratch-full", "half-width"):
        return k
    return layers if layers is not None else max(1, k // 2)


def max_layers(init: str, k: int) -> int:
    """The deepest model this init can build from a k-layer reference (growth stops there)."""
    if init == "kd-distilbert":
        return (k - 1) // 2 + 1  # blocks 0, 2, ..., k-1 or k-2
    return k


def check(args, k: int, n0: int) -> None:
    init = args.init
    if init in NEW_INITS and args.grow_mode == "extend":
        raise TrainerError(f"--init {init} grows by re-building (--grow-mode reinherit); extend is for inherit, random")
    if init == "hybrid-stack":
        if n0 % 2 or n0 < 2:
            raise TrainerError(f"--init hybrid-stack stacks n/2 reference blocks to n: --layers must be even and >= 2 "
                               f"(got {n0})")
        if args.max_rounds > 1 and args.grow_by % 2:
            raise TrainerError(f"--init hybrid-stack grows to even depths only: use an even --grow-by (got "
                               f"{args.grow_by}) or --max-rounds 1")
    if init == "kd-distilbert" and n0 > max_layers(init, k):
        raise TrainerError(f"--init kd-distilbert takes reference blocks 0, 2, 4, ...: --layers {n0} needs block "
                           f"{2 * (n0 - 1)}, but the reference has {k} layers; use --layers {max_layers(init, k)} "
                           f"at most")


def build(surgery: Surgery, init: str, ref: str, layers: int, out: Path, seed: int, preset: str) -> None:
    """Write the round's starting model for one of NEW_INITS into `out`."""
    if init == "hybrid-stack":
        half = out.with_name(out.name + "-half")
        surgery.inherit(ref, layers // 2, half, seed, preset)
        try:
            surgery.stack(half, out)
        finally:
            shutil.rmtree(half, ignore_errors=True)
    elif init == "half-width":
        surgery.half_width(ref, out)
    elif init == "kd":
        surgery.init_random(ref, layers, out, seed)
    elif init == "kd-distilbert":
        surgery.inherit(ref, layers, out, seed, preset, stride=2)
    else:
        raise TrainerError(f"internal: {init} is not a baseline built here")
