"""Algorithm 1 of Inheritune (Sanyal et al., arXiv 2404.08634), with baselines, DDP and resume.

    target <- --target-val-loss, or the reference's own val loss (same eval windows)
    M <- surgery(first n layers of the reference)          # `cli.js inherit` / `init-random`
    loop over rounds r = 1..max_rounds:
        train M for T steps (AdamW, warmup + cosine, clip 1.0, grad accumulation)
        v <- val loss of M
        if v <= target: stop (reached)
        M <- reinherit n + G layers | extend M by reference blocks n..n+G-1   # `cli.js inherit` / `grow`
"""
from __future__ import annotations

import contextlib
import gc
import inspect
import json
import math
import os
import random
import shutil
import signal
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import baselines as B
from . import data as D
from . import distill as KD
from . import strategy as S
from .errors import Interrupted, TrainerError
from .metrics import Metrics
from .qk import qk_grad_norms, qk_pieces
from .surgery import Surgery

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                   "merges.txt", "tokenizer.model", "added_tokens.json", "vocab.txt")
RESUME_VERSION = 1


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _torch_major() -> int:
    try:
        return int(torch.__version__.split(".")[0])
    except ValueError:
        return 0


def _torch_load(path: Path):
    kw = {"map_location": "cpu"}
    if "weights_only" in inspect.signature(torch.load).parameters:
        kw["weights_only"] = False  # our own files (optimizer + RNG state)
    return torch.load(path, **kw)


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def setup_distributed(device_arg: str, group_if_launched: bool = False) -> DistInfo:
    """group_if_launched: start a process group under torchrun even with one process (fsdp shards over 1 rank)."""
    if device_arg == "cuda" and not torch.cuda.is_available():
        raise TrainerError("--device cuda, but torch.cuda.is_available() is False (CPU-only torch or no GPU)")
    use_cuda = device_arg == "cuda" or (device_arg == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if not use_cuda and "OMP_NUM_THREADS" not in os.environ:
        # Some torch builds (Debian's) default to one thread: on CPU, share this machine's cores among the local ranks.
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    if world > 1 or (group_if_launched and "RANK" in os.environ):
        rank = int(os.environ["RANK"])
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if use_cuda:
            torch.cuda.set_device(local)
            device = torch.device("cuda", local)
        else:
            device = torch.device("cpu")
        # torchrun provides MASTER_ADDR/PORT, RANK, WORLD_SIZE (multi-node through its rendezvous)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        return DistInfo(rank, world, local, device, True)
    return DistInfo(device=torch.device("cuda") if use_cuda else torch.device("cpu"))


class StopFlag:
    """SIGINT/SIGTERM set a flag; the loop saves and exits at the next step boundary.
    A second signal aborts immediately."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self._old: Dict[int, Any] = {}

    def install(self) -> None:
        for s in (signal.SIGINT, signal.SIGTERM):
            self._old[s] = signal.signal(s, self._handle)

    def uninstall(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signum = signum
        print(f"\nsignal {signum}: saving state at the next step boundary (send again to abort without saving)",
              file=sys.stderr, flush=True)


def effective_warmup(requested: Optional[int], steps_per_round: int, log=print) -> int:
    """Warmup restarts every round, so it must be short against a round: by default min(100, T // 10); an explicit
    value longer than a tenth of the round is kept when it fits in the round, and cut to T // 10 (with a warning)
    when it is longer than the round, where the learning rate would never leave the ramp."""
    cap = steps_per_round // 10
    if requested is None:
        return min(100, cap)
    if requested > steps_per_round:
        log(f"warning: --warmup-steps {requested} is longer than a round ({steps_per_round} steps, and warmup "
            f"restarts every round); using {cap} (a tenth of the round)")
        return cap
    return requested


class Schedule:
    """Linear warmup from 0 to lr, then cosine decay to min_lr at the last step of the round."""

    def __init__(self, lr: float, min_lr: float, warmup: int, total: int):
        self.lr, self.min_lr, self.warmup, self.total = lr, min_lr, warmup, total
        self.last_step = 0

    def lr_at(self, it: int) -> float:  # it = 1..total
        if self.warmup > 0 and it <= self.warmup:
            return self.lr * it / self.warmup
        span = self.total - self.warmup
        progress = 1.0 if span <= 0 else min(1.0, max(0.0, (it - self.warmup) / span))
        return self.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (self.lr - self.min_lr)

    def state_dict(self) -> dict:
        return {"lr": self.lr, "min_lr": self.min_lr, "warmup": self.warmup, "total": self.total,
                "last_step": self.last_step}

    def load_state_dict(self, sd: dict) -> None:
        self.last_step = int(sd.get("last_step", 0))


@dataclass
class RunState:
    round: int = 1
    layers: int = 0
    local_step: int = 0          # optimizer steps done in this round
    step: int = 0                # global optimizer steps across rounds
    tokens: int = 0
    phase: str = "train"         # train | round-done | finished
    target: Optional[float] = None
    target_source: str = "reference"
    reference_val_loss: Optional[float] = None
    elapsed: float = 0.0         # wall time of previous sessions
    history: List[dict] = field(default_factory=list)
    stop_reason: Optional[str] = None


# --------------------------------------------------------------------------------------------
# trainer
# --------------------------------------------------------------------------------------------

class Trainer:
    def __init__(self, args, d: DistInfo, metrics: Metrics, stop: StopFlag):
        self.args = args
        self.d = d
        self.metrics = metrics
        self.stop = stop
        self.out = Path(args.out)
        self.ref = str(args.ref)
        self.t_start = time.time()
        self.st = RunState()
        self.raw = self.model = self.fwd = None
        self.opt = None
        self.sched: Optional[Schedule] = None
        self._saved_at = None
        self.surgery = Surgery(args.cli, args.node, log=self.log, stop_signal=lambda: self.stop.signum)

        from transformers import AutoConfig

        ref_dir = Path(self.ref)
        if not (ref_dir / "config.json").is_file():
            raise TrainerError(f"reference checkpoint {ref_dir} has no config.json (expected a Hugging Face folder)")
        self.ref_config = AutoConfig.from_pretrained(self.ref)
        self.k = int(self.ref_config.num_hidden_layers)
        self.n0 = B.first_layers(args.init, self.k, args.layers)
        if not 1 <= self.n0 <= self.k:
            raise TrainerError(f"--layers {self.n0} must be in [1, {self.k}] (the reference has {self.k} layers)")
        B.check(args, self.k, self.n0)
        self.max_layers = B.max_layers(args.init, self.k)
        self.kd = args.init in KD.KD_INITS
        if self.kd and KD.check_args(args):
            raise TrainerError(KD.check_args(args))
        self.teacher = None
        max_pos = next((getattr(self.ref_config, a) for a in ("n_positions", "max_position_embeddings", "n_ctx")
                        if getattr(self.ref_config, a, None)), None)
        self.seq_len = args.seq_len or min(1024, max_pos or 1024)
        if max_pos and self.seq_len > max_pos:
            raise TrainerError(f"--seq-len {self.seq_len} exceeds the model's context ({max_pos})")
        self.vocab = int(self.ref_config.vocab_size)
        self.min_lr = args.lr / 10 if args.min_lr is None else args.min_lr
        if self.min_lr > args.lr:
            raise TrainerError(f"--min-lr ({self.min_lr}) must not exceed --lr ({args.lr})")

        self.warmup = effective_warmup(args.warmup_steps, args.steps_per_round, self.log)

        # --data: a train.bin/val.bin folder, or text tokenized into <out>/data (rank 0; the others wait).
        from .textdata import is_bin_folder, prepare_text_data

        paths = [str(p) for p in (args.data if isinstance(args.data, (list, tuple)) else [args.data])]
        is_text = not is_bin_folder(paths)
        if d.is_main:
            self.data_dir = prepare_text_data(paths, ref_dir, self.out / "data", args.val_fraction, log=self.log)
        d.barrier()
        if not d.is_main:
            self.data_dir = self.out / "data" if is_text else Path(paths[0])
        self.train_data = D.open_split(self.data_dir, "train")
        self.val_data = D.open_split(self.data_dir, "val")
        meta = self.data_dir / "meta.json"
        meta_d = json.loads(meta.read_text()) if meta.exists() else {}
        D.check_enough(len(self.train_data), len(self.val_data), self.seq_len,
                       where=", ".join(paths) if is_text else str(self.data_dir),
                       val_fraction=args.val_fraction if is_text else None, text_bytes=meta_d.get("text_bytes"))
        mv = meta_d.get("vocab_size")
        if mv and int(mv) > self.vocab:
            raise TrainerError(f"{meta}: vocab_size {mv} is larger than the model's vocab_size {self.vocab}")
        n_eval = args.eval_iters * args.batch_size * d.world  # eval_iters global micro-batches
        self.eval_offs = {
            "train": D.eval_offsets(args.eval_seed, "train", n_eval, len(self.train_data), self.seq_len),
            "val": D.eval_offsets(args.eval_seed, "val", n_eval, len(self.val_data), self.seq_len),
        }
        hint = D.eval_windows_hint(len(self.val_data), self.seq_len, n_eval, args.batch_size * d.world)
        if hint:
            self.log(hint)
        self.global_batch = args.batch_size * args.grad_accum * d.world
        self.tokens_per_step = self.global_batch * self.seq_len

        dev = d.device
        self.use_bf16 = (args.dtype == "bfloat16") or (
            args.dtype == "auto" and dev.type == "cuda" and torch.cuda.is_bf16_supported())
        if self.use_bf16 and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise TrainerError("--dtype bfloat16: this GPU does not support bf16")
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        S.check(args.strategy, d.world)
        # One process has nothing to shard over: fsdp runs it unsharded (same numbers as ddp).
        self.fsdp = args.strategy == "fsdp" and d.enabled
        if self.fsdp and args.compile:
            raise TrainerError("--compile with --strategy fsdp is not supported here; drop one of them")

    # ---------------------------------------------------------------- utilities
    def log(self, msg: str) -> None:
        if self.d.is_main:
            print(msg, flush=True)

    def autocast(self):
        if self.use_bf16:
            return torch.autocast(device_type=self.d.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _ctx(self) -> None:
        self.metrics.context = {"step": self.st.step, "round": self.st.round, "layers": self.st.layers,
                                "tokens": self.st.tokens}

    def batch(self, data: np.ndarray, offsets: np.ndarray):
        w = D.windows(data, offsets, self.seq_len)
        hi = int(w.max())
        if hi >= self.vocab:
            raise TrainerError(f"token id {hi} in {self.data_dir} is >= the model's vocab_size {self.vocab}")
        t = torch.from_numpy(w)
        if self.d.device.type == "cuda":
            t = t.pin_memory().to(self.d.device, non_blocking=True)
        return t[:, :-1].contiguous(), t[:, 1:].contiguous()

    def loss(self, model, x, y) -> torch.Tensor:
        with self.autocast():
            out = model(input_ids=x, use_cache=False)
        logits = out.logits if hasattr(out, "logits") else out[0]
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))

    def kd_loss(self, x, y):
        """--init kd / kd-distilbert: (objective, LM cross-entropy, {part: value}) on one micro-batch; the
        teacher (the reference, frozen) runs in no_grad, bf16 autocast on CUDA."""
        a = self.args
        if self.teacher is None:
            self.teacher = KD.freeze(self.load_model(Path(self.ref)).to(self.d.device))
            if self.fsdp:  # sharded like the student; bf16 on CUDA
                S.shard(self.teacher, bf16=self.d.device.type == "cuda" and torch.cuda.is_bf16_supported())
        hidden = a.init == "kd-distilbert"
        with torch.no_grad(), KD.teacher_autocast(self.d.device):
            t_out = self.teacher(input_ids=x, use_cache=False, output_hidden_states=hidden)
        with self.autocast():
            s_out = self.model(input_ids=x, use_cache=False, output_hidden_states=hidden)
        obj, ce, soft, cos = KD.kd_objective(
            a.init, s_out.logits, t_out.logits, y, temperature=a.kd_temperature, alpha=a.kd_alpha,
            cos_weight=a.kd_cosine_weight, h_s=s_out.hidden_states[-1] if hidden else None,
            h_t=t_out.hidden_states[-1] if hidden else None)
        parts = {"kd_soft_loss": soft.detach(), "kd_objective": obj.detach()}
        if cos is not None:
            parts["kd_cosine_loss"] = cos.detach()
        return obj, ce, parts

    def kd_metrics(self, sums: dict, A: int) -> dict:
        out = {}
        for k, v in sums.items():
            v = v / A
            if self.d.enabled:
                v = v.clone()
                dist.all_reduce(v)
                v = v / self.d.world
            out[k] = float(v)
        return out

    @torch.no_grad()
    def evaluate(self, model, split: str) -> float:
        """Mean token loss over the fixed eval windows of `split` (sharded across ranks)."""
        data = self.train_data if split == "train" else self.val_data
        offs = self.eval_offs[split][self.d.rank::self.d.world]
        tot = torch.zeros(2, dtype=torch.float64, device=self.d.device)
        was_training = model.training
        model.eval()
        B = self.args.batch_size
        for i in range(0, len(offs), B):
            x, y = self.batch(data, offs[i:i + B])
            with self.autocast():
                out = model(input_ids=x, use_cache=False)
            logits = out.logits if hasattr(out, "logits") else out[0]
            l = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="none")
            tot[0] += l.view(x.size(0), -1).mean(1).double().sum()
            tot[1] += x.size(0)
        if was_training:
            model.train()
        if self.d.enabled:
            dist.all_reduce(tot)
        return float(tot[0] / tot[1])

    def stop_signal(self) -> Optional[int]:
        """The pending signal, agreed across ranks (all ranks must call this at the same point)."""
        sig = self.stop.signum or 0
        if self.d.enabled:
            t = torch.tensor([sig], dtype=torch.int64, device=self.d.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            sig = int(t.item())
        return sig or None

    # ---------------------------------------------------------------- models
    def load_model(self, path: Path, weights: bool = True):
        """The checkpoint at `path` (fp32); weights=False: its architecture, initialised (fsdp resume loads shards)."""
        from transformers import AutoConfig, AutoModelForCausalLM

        cfg = AutoConfig.from_pretrained(str(path))
        if self.args.dropout is not None:
            for a in ("resid_pdrop", "embd_pdrop", "attn_pdrop", "attention_dropout", "hidden_dropout",
                      "dropout", "attention_probs_dropout_prob", "hidden_dropout_prob"):
                if hasattr(cfg, a) and isinstance(getattr(cfg, a), (int, float)):
                    setattr(cfg, a, float(self.args.dropout))
        try:
            if not weights:
                return AutoModelForCausalLM.from_config(cfg).float()
            model = AutoModelForCausalLM.from_pretrained(str(path), config=cfg, torch_dtype=torch.float32)
        except Exception as e:
            raise TrainerError(f"cannot load {path} with AutoModelForCausalLM: {e}") from e
        return model

    def install_model(self, raw) -> None:
        """Move to device, wrap (compile, DDP), build optimizer + schedule for the current round."""
        self.raw = raw.to(self.d.device)
        self.raw.train()
        if self.args.activation_checkpointing:
            # recompute each block's activations in backward (transformers' own hook, non-reentrant: DDP/FSDP safe)
            self.raw.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        got = int(self.raw.config.num_hidden_layers)
        if got != self.st.layers:
            raise TrainerError(f"model has {got} layers, expected {self.st.layers}")
        model = self.raw
        if self.args.compile:
            if _torch_major() >= 2 and hasattr(torch, "compile"):
                model = torch.compile(model)
            elif self.st.step == 0 or self.st.local_step == 0:
                self.log(f"warning: --compile needs torch >= 2 (this is {torch.__version__}); running uncompiled")
        self.fwd = model
        if self.fsdp:
            S.shard(model, bf16=self.use_bf16 and self.d.device.type == "cuda")  # in place: raw is the sharded model
        elif self.d.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            # Non-float buffers (gpt2's bool causal mask) are constants from the config, and gloo cannot
            # broadcast bool tensors: leave them out of DDP's initial sync. Buffers in these models are
            # constants, so they are not re-broadcast every forward either.
            ignore = [n for n, b in model.named_buffers() if not b.is_floating_point()]
            if ignore:
                DDP._set_params_and_buffers_to_ignore_for_model(model, ignore)
            # torch >= 2.12 renamed broadcast_buffers (now deprecated, with a warning on every launch) to
            # forward_sync_buffers; both still sync buffers once at init, as the ignore list above expects.
            params = inspect.signature(DDP.__init__).parameters
            no_sync = {"forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers": False}
            model = DDP(model, device_ids=[self.d.local_rank] if self.d.device.type == "cuda" else None, **no_sync)
        self.model = model
        self.pieces = qk_pieces(self.raw)
        decay = [p for p in self.raw.parameters() if p.requires_grad and p.dim() >= 2]
        no_decay = [p for p in self.raw.parameters() if p.requires_grad and p.dim() < 2]
        extra = {}
        if self.d.device.type == "cuda" and "fused" in inspect.signature(torch.optim.AdamW).parameters:
            extra["fused"] = True
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.args.lr, betas=(self.args.beta1, self.args.beta2), eps=1e-8, **extra)
        self.sched = Schedule(self.args.lr, self.min_lr, self.warmup, self.args.steps_per_round)

    def drop_model(self) -> None:
        self.raw = self.model = self.fwd = self.opt = None
        gc.collect()
        if self.d.device.type == "cuda":
            torch.cuda.empty_cache()

    def round_dir(self, r: int, layers: int) -> Path:
        return self.out / f"round-{r}-{layers}L"

    def build_model(self, grow_from: Optional[Path] = None, add: int = 0) -> None:
        """Rank 0 runs the project CLI; every rank loads the result."""
        a, st = self.args, self.st
        init_dir = self.out / "init" / f"round-{st.round}-{st.layers}L"
        try:
            if self.d.is_main:
                self._surgery(init_dir, grow_from, add)
        except Interrupted as e:  # Ctrl-C reached the CLI as well
            raise self.interrupted(e.signum) from None
        self.d.barrier()
        raw = self.load_model(init_dir)
        self.d.barrier()
        if self.d.is_main and not a.keep_init:
            shutil.rmtree(init_dir, ignore_errors=True)
        self.install_model(raw)

    def _surgery(self, init_dir: Path, grow_from: Optional[Path], add: int) -> None:
        a, st = self.args, self.st
        if a.init in B.NEW_INITS:
            B.build(self.surgery, a.init, self.ref, st.layers, init_dir, a.seed, a.preset)
        elif a.init == "scratch-full":
            self.surgery.init_random(self.ref, st.layers, init_dir, a.seed)
        elif grow_from is not None and a.grow_mode == "extend":
            source = self.ref
            if a.init == "random":  # random baseline grows with blocks from a random full-depth model
                src = self.out / "init" / f"random-source-{self.k}L"
                if not (src / "config.json").is_file():
                    self.surgery.init_random(self.ref, self.k, src, a.seed)
                source = str(src)
            self.surgery.grow(grow_from, source, add, init_dir)
        elif a.init == "random":
            self.surgery.init_random(self.ref, st.layers, init_dir, a.seed)
        else:
            self.surgery.inherit(self.ref, st.layers, init_dir, a.seed, a.preset)

    def save_hf(self, path: Path, full_sd: Optional[dict] = None) -> None:
        """Rank 0: a plain Hugging Face checkpoint; under fsdp from the gathered `full_sd` (S.full_state_dict)."""
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model = S.plain_model(self.raw.config, full_sd) if self.fsdp else self.raw
        model.save_pretrained(str(tmp), safe_serialization=True)
        for f in TOKENIZER_FILES:
            src = Path(self.ref) / f
            if src.is_file() and not (tmp / f).exists():
                shutil.copy2(src, tmp / f)
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)

    # ---------------------------------------------------------------- resume
    def save_resume(self, reason: str, **event: Any) -> bool:
        """Save the resume state (atomically) unless this exact point is saved already."""
        key = (self.st.round, self.st.local_step, self.st.phase)
        if self._saved_at == key:
            return False
        tmp = self.out / "resume.tmp"
        sharded = self.fsdp and self.st.phase == "train"
        if sharded:  # every rank writes its shards of model and optimizer into resume.tmp/dcp
            if self.d.is_main:
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
            self.d.barrier()
            S.save_sharded(self.raw, self.opt, tmp / "dcp")
            self.d.barrier()
        if self.d.is_main:
            if not sharded:
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
            if sharded:
                self.raw.config.save_pretrained(str(tmp / "model"))  # the architecture; weights are in dcp/
            elif self.st.phase == "train":
                self.raw.save_pretrained(str(tmp / "model"), safe_serialization=True)
                torch.save(self.opt.state_dict(), tmp / "optimizer.pt")
            if self.st.phase == "train":
                rng = {"torch": torch.get_rng_state(), "python": random.getstate(),
                       "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
                torch.save(rng, tmp / "rng.pt")
            st = asdict(self.st)
            st["elapsed"] = self.st.elapsed + (time.time() - self.t_start)
            state = {"version": RESUME_VERSION, "state": st,
                     "scheduler": self.sched.state_dict() if self.sched else None,
                     "metrics_offset": self.metrics.offset(), "data_step": self.st.step,
                     "world_size": self.d.world, "args": vars(self.args), "saved_at": time.time(),
                     "reason": reason}
            (tmp / "state.json").write_text(json.dumps(state, indent=2, default=str))
            final = self.out / "resume"
            old = self.out / "resume.old"
            shutil.rmtree(old, ignore_errors=True)
            if final.exists():
                os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
            self._ctx()
            self.metrics.write("checkpoint", reason=reason, path=str(final), **event)
        self._saved_at = key
        self.d.barrier()
        return True

    def find_resume(self) -> Optional[Path]:
        for name in ("resume", "resume.old"):
            p = self.out / name
            if (p / "state.json").is_file():
                return p
        return None

    def load_resume(self, path: Path) -> None:
        state = json.loads((path / "state.json").read_text())
        if state.get("version") != RESUME_VERSION:
            raise TrainerError(f"{path}/state.json: unsupported resume version {state.get('version')}")
        prev = state.get("args", {})
        prev.setdefault("strategy", "ddp")  # saved before --strategy existed
        for k in ("init", "grow_mode", "ref", "strategy"):
            if str(prev.get(k)) != str(getattr(self.args, k)):
                raise TrainerError(f"cannot resume: the run in {self.out} used --{k.replace('_', '-')} "
                                   f"{prev.get(k)}, not {getattr(self.args, k)}")
        for k in ("steps_per_round", "batch_size", "grad_accum", "seq_len", "seed", "lr", "grow_by", "layers"):
            if k in prev and prev[k] != getattr(self.args, k):
                self.log(f"warning: --{k.replace('_', '-')} was {prev[k]} in the saved run, now {getattr(self.args, k)}")
        if state.get("world_size", self.d.world) * prev.get("batch_size", 0) * prev.get("grad_accum", 0) != \
                self.global_batch:
            self.log("warning: the global batch size differs from the saved run")
        self.st = RunState(**state["state"])
        if self.st.phase == "finished":
            return
        self.metrics.truncate_for_resume(int(state.get("metrics_offset", 0)))
        self._ctx()
        if self.st.phase == "train":
            sharded = (path / "dcp").is_dir()
            if sharded and not self.fsdp:
                raise TrainerError(f"{path} holds a sharded (fsdp, {state.get('world_size')} processes) state; "
                                   f"resume it with --strategy fsdp and several processes")
            raw = self.load_model(path / "model", weights=not sharded)
            self.install_model(raw)
            if sharded:
                S.load_sharded(self.raw, self.opt, path / "dcp")
            else:
                self.opt.load_state_dict(_torch_load(path / "optimizer.pt"))
            if state.get("scheduler"):
                self.sched.load_state_dict(state["scheduler"])
            rng_file = path / "rng.pt"
            if self.d.is_main and rng_file.exists():
                rng = _torch_load(rng_file)
                torch.set_rng_state(rng["torch"])
                random.setstate(rng["python"])
                if rng.get("cuda") is not None and torch.cuda.is_available():
                    with contextlib.suppress(Exception):
                        torch.cuda.set_rng_state_all(rng["cuda"])
            elif not self.d.is_main:
                torch.manual_seed(self.args.seed + 1000003 * self.d.rank + self.st.step)
        self._saved_at = (self.st.round, self.st.local_step, self.st.phase)
        self.log(f"resumed from {path}: round {self.st.round} ({self.st.layers} layers), step {self.st.step}, "
                 f"phase {self.st.phase}")

    def interrupted(self, sig: int) -> Interrupted:
        """Save what can be saved, log a checkpoint event, return the exception to raise."""
        wrote = False
        if self.raw is not None and self.st.phase == "train":
            wrote = self.save_resume("signal", signal=sig)
        saved = self.find_resume() is not None
        if self.d.is_main and saved and not wrote:  # the state saved at this point already is the one to resume
            self._ctx()
            self.metrics.write("checkpoint", reason="signal", path=str(self.out / "resume"), signal=sig)
        name = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}.get(sig, str(sig))
        self.log(f"{name}: " + (f"state saved in {self.out / 'resume'}; continue with --resume"
                                if saved else "nothing saved yet") + f"; exiting with code {128 + sig}")
        return Interrupted(sig, saved)

    # ---------------------------------------------------------------- training
    def train_round(self) -> None:
        a, st = self.args, self.st
        T = a.steps_per_round
        A = a.grad_accum
        acc_dt, acc_tokens = 0.0, 0
        if st.local_step == 0:
            # Where this round's model starts (the inherited or grown model, before any step): the chart's step 0.
            self.eval_and_log(round_end=False, round_start=True)
            sig = self.stop_signal()
            if sig is not None:
                raise self.interrupted(sig)
        while st.local_step < T:
            t0 = time.time()
            it = st.local_step + 1
            step = st.step + 1
            lr = self.sched.lr_at(it)
            for g in self.opt.param_groups:
                g["lr"] = lr
            offs = D.train_offsets(a.seed, step, self.global_batch, len(self.train_data), self.seq_len)
            loss_sum = torch.zeros((), device=self.d.device)
            for m in range(A):
                x, y = self.batch(self.train_data, D.micro_slice(offs, m, self.d.rank, self.d.world, a.batch_size))
                sync = self.model.no_sync() if (self.d.enabled and not self.fsdp and m < A - 1) \
                    else contextlib.nullcontext()
                if self.fsdp:
                    S.set_grad_sync(self.model, m == A - 1)
                with sync:
                    if self.kd:
                        obj, loss, parts = self.kd_loss(x, y)
                        kd_sums = parts if m == 0 else {k: kd_sums[k] + v for k, v in parts.items()}
                    else:
                        obj = loss = self.loss(self.model, x, y)
                    (obj / A).backward()
                loss_sum += loss.detach()
            log_now = (step % a.log_interval == 0) or it == T
            qk = qk_grad_norms(self.pieces) if log_now else None  # before clipping
            clip = a.grad_clip if a.grad_clip > 0 else float("inf")
            gn = S.scalar(torch.nn.utils.clip_grad_norm_(self.raw.parameters(), clip))
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            st.local_step, st.step = it, step
            st.tokens += self.tokens_per_step
            self.sched.last_step = it
            self._ctx()
            if log_now:
                lt = loss_sum / A
                if self.d.enabled:
                    dist.all_reduce(lt)
                    lt = lt / self.d.world
                train_loss = float(lt)
                dt = time.time() - t0
                acc_dt += dt
                acc_tokens += self.tokens_per_step
                if not math.isfinite(train_loss):
                    raise TrainerError(f"training loss is {train_loss} at step {step}; try a lower --lr")
                extra = self.kd_metrics(kd_sums, A) if self.kd else {}
                self.metrics.write("step", train_loss=train_loss, lr=lr, tokens_per_s=acc_tokens / max(acc_dt, 1e-9),
                                   grad_norm=float(gn), qk_grad_norms=qk, **extra)
                self.log(f"iter {step}: loss {train_loss:.4f}, time {dt * 1000:.2f}ms, lr {lr:.3e}, "
                         f"round {st.round} ({st.layers}L)")
                acc_dt, acc_tokens = 0.0, 0
            else:
                acc_dt += time.time() - t0
                acc_tokens += self.tokens_per_step
            sig = self.stop_signal()
            if sig is None and a.eval_interval > 0 and it % a.eval_interval == 0 and it < T:
                self.eval_and_log(round_end=False)
                self.save_resume("eval")
                sig = self.stop_signal()
            if sig is not None:
                raise self.interrupted(sig)

    def eval_and_log(self, round_end: bool, round_start: bool = False) -> tuple:
        t0 = time.time()
        val = self.evaluate(self.fwd, "val")
        tr = self.evaluate(self.fwd, "train")
        self._ctx()
        self.metrics.write("eval", train_loss=tr, val_loss=val, target=self.st.target, round_end=round_end,
                           round_start=round_start)
        tgt = f", target {self.st.target:.4f}" if self.st.target is not None else ""
        where = "start of round" if round_start else "round"
        self.log(f"step {self.st.step}: train loss {tr:.4f}, val loss {val:.4f}{tgt} "
                 f"({where} {self.st.round}, {self.st.layers}L, eval {time.time() - t0:.1f}s)")
        return val, tr

    def finish_round(self) -> None:
        st = self.st
        val, tr = self.eval_and_log(round_end=True)
        path = self.round_dir(st.round, st.layers)
        full_sd = S.full_state_dict(self.raw) if self.fsdp else None  # collective: every rank
        if self.d.is_main:
            self.save_hf(path, full_sd)
            self.metrics.write("checkpoint", reason="round", path=str(path))
        self.d.barrier()
        reached = st.target is not None and val <= st.target
        st.history.append({"round": st.round, "layers": st.layers, "steps": st.local_step, "end_step": st.step,
                           "tokens": st.tokens, "val_loss": val, "train_loss": tr, "reached": reached,
                           "checkpoint": str(path)})
        st.phase = "round-done"
        self.save_resume("eval")

    def measure_target(self) -> None:
        st = self.st
        if self.args.target_val_loss is not None:
            st.target, st.target_source = float(self.args.target_val_loss), "given"
            return
        self.log(f"measuring the reference's val loss ({self.k} layers, {len(self.eval_offs['val'])} windows)")
        ref = self.load_model(Path(self.ref)).to(self.d.device)
        v = self.evaluate(ref, "val")
        del ref
        gc.collect()
        st.target, st.target_source, st.reference_val_loss = v, "reference", v
        self.log(f"target val loss {v:.4f} (reference, {self.k} layers)")

    def run(self) -> dict:
        a, st = self.args, self.st
        resume = self.find_resume() if a.resume else None
        if a.resume and resume is None:
            self.log(f"--resume: no saved state in {self.out}; starting a new run")
        if resume is not None:
            self.load_resume(resume)
            st = self.st
            if st.phase == "finished":
                self.log("this run has already finished; nothing to do")
                return json.loads((self.out / "summary.json").read_text()) if (self.out / "summary.json").exists() else {}
        else:
            self.metrics.open()
            st.layers = self.n0
            self._ctx()
            self.measure_target()
            sig = self.stop_signal()
            if sig is not None:
                raise self.interrupted(sig)
            torch.manual_seed(a.seed + 1000003 * self.d.rank)
            random.seed(a.seed + self.d.rank)
            self.log(f"round 1: {a.init} {self.n0} of {self.k} layers; global batch {self.global_batch} x "
                     f"{self.seq_len} tokens, {a.steps_per_round} steps per round")
            self.build_model()
        while True:
            if st.phase == "train":
                self.train_round()
                self.finish_round()
            # phase == round-done: decide
            last = st.history[-1]
            val = last["val_loss"]
            if last["reached"]:
                st.stop_reason = "reached"
            elif st.round >= a.max_rounds:
                st.stop_reason = "max-rounds"
            elif st.layers >= self.max_layers:
                st.stop_reason = "reference-depth"
            if st.stop_reason:
                break
            sig = self.stop_signal()
            if sig is not None:
                raise self.interrupted(sig)
            new_layers = min(st.layers + a.grow_by, self.max_layers)
            add = new_layers - st.layers
            prev_dir = Path(last["checkpoint"])
            self._ctx()
            self.metrics.write("grow", from_layers=st.layers, to_layers=new_layers, val_loss=val, target=st.target,
                               mode=a.grow_mode)
            self.log(f"grow: val loss {val:.4f} > target {st.target:.4f}: {st.layers} -> {new_layers} layers "
                     f"({a.grow_mode})")
            self.drop_model()
            st.round += 1
            st.layers = new_layers
            st.local_step = 0
            st.phase = "train"
            self._ctx()
            self.build_model(grow_from=prev_dir, add=add)
            sig = self.stop_signal()
            if sig is not None:
                raise self.interrupted(sig)
        return self.finish()

    def finish(self) -> dict:
        a, st = self.args, self.st
        last = st.history[-1]
        wall = st.elapsed + (time.time() - self.t_start)
        summary = {
            "reached": bool(last["reached"]),
            "stop_reason": st.stop_reason,
            "target": st.target,
            "target_source": st.target_source,
            "reference": str(Path(self.ref).resolve()),
            "reference_layers": self.k,
            "reference_val_loss": st.reference_val_loss,
            "init": a.init,
            "grow_mode": a.grow_mode,
            "grow_by": a.grow_by,
            "rounds": st.history,
            "num_rounds": len(st.history),
            "layers": st.layers,
            "steps": st.step,
            "tokens": st.tokens,
            "final_val_loss": last["val_loss"],
            "final_checkpoint": last["checkpoint"],
            "wall_time_s": wall,
            "world_size": self.d.world,
            "global_batch": self.global_batch,
            "seq_len": self.seq_len,
            "device": str(self.d.device),
            "dtype": "bfloat16-autocast" if self.use_bf16 else "float32",
            "args": {k: v for k, v in vars(a).items()},
        }
        if self.d.is_main:
            path = self.out / "summary.json"
            tmp = path.with_name("summary.json.tmp")
            tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
            os.replace(tmp, path)
            self._ctx()
            self.metrics.write("done", val_loss=last["val_loss"], target=st.target, reached=summary["reached"],
                               summary=str(path), stop_reason=st.stop_reason, wall_time_s=wall)
            # mark the resume state finished
            rs = self.out / "resume" / "state.json"
            if rs.exists():
                state = json.loads(rs.read_text())
                state["state"]["phase"] = "finished"
                state["state"]["stop_reason"] = st.stop_reason
                tmp = rs.with_name("state.json.tmp")
                tmp.write_text(json.dumps(state, indent=2, default=str))
                os.replace(tmp, rs)
            if not a.keep_init:
                shutil.rmtree(self.out / "init", ignore_errors=True)
            self.log(f"done: {len(st.history)} round(s), {st.layers} layers, {st.step} steps, final val loss "
                     f"{last['val_loss']:.4f} vs target {st.target:.4f}: "
                     f"{'reached' if summary['reached'] else 'not reached'} ({st.stop_reason}); {path}")
        self.d.barrier()
        return summary


def run(args) -> int:
    out = Path(args.out)
    has_state = any((out / n / "state.json").is_file() for n in ("resume", "resume.old"))
    if has_state and not args.resume:
        raise TrainerError(f"{out} already holds a run; pass --resume to continue it, or use a new --out")
    d = setup_distributed(args.device, group_if_launched=args.strategy == "fsdp")
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if not has_state:  # a fresh run: drop the log of an earlier attempt that never reached a checkpoint
            for stale in ("metrics.jsonl", "summary.json"):
                with contextlib.suppress(FileNotFoundError):
                    (out / stale).unlink()
    metrics = Metrics(out / "metrics.jsonl", enabled=d.is_main)
    stop = StopFlag()
    stop.install()
    code = 0
    try:
        trainer = Trainer(args, d, metrics, stop)
        trainer.run()
    except Interrupted as e:
        code = e.exit_code
    except TrainerError as e:
        if d.is_main:
            metrics.write("error", message=str(e))
        raise
    except BaseException as e:  # noqa: BLE001 - record, then re-raise with the traceback
        if d.is_main:
            with contextlib.suppress(Exception):
                metrics.write("error", message=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        raise
    finally:
        metrics.close()
        stop.uninstall()
        if d.enabled and dist.is_initialized():
            with contextlib.suppress(Exception):
                dist.destroy_process_group()
    return code
