#!/usr/bin/env python3
"""GPU benchmark: tokens/s and MFU of the Inheritune trainer's training step.

A 12-layer GPT-2 of GPT-2-medium width (d = 1024, 16 heads, context T = 1024, vocab 50257) is built
from a config (random init; no checkpoint, no Node.js, no network) and trained by the trainer's own
code path: `inheritune_trainer.train.Trainer.install_model` (device, torch.compile, fused AdamW on
CUDA, warmup + cosine) and `Trainer.train_round` (windows from a token file, bf16 autocast, loss,
backward, Q/K gradient norms, clipping, optimizer step, one metrics.jsonl line per step). Only the
surgery CLI is skipped: the model is handed to `install_model` directly.

Measured: wall time (torch.cuda.synchronize at both ends) of the steps after the warm-up (the first
steps include torch.compile), cross-checked with the trainer's metrics.jsonl timestamps.

    MFU = (6 N + 12 L d T) * tokens/s / peak
    N   = parameters, without the position embedding (the tied wte counts once, as the LM head's matmul)
    12 L d T = attention scores and values per token, forward + backward, counted non-causal (PaLM / nanoGPT)
    peak = 989 TFLOPS, H200 SXM dense bf16 (--peak-tflops)

On the H200 machine (PyTorch 2.x + CUDA, transformers; nothing else needed):
    python bench/gpu_train.py                     # prints a Markdown block for bench/RESULTS.md
    python bench/gpu_train.py --no-compile        # eager, for comparison
CPU smoke test (here): .venv/bin/python bench/gpu_train.py --device cpu --steps 2 --layers 2

ddp vs fsdp (--strategy): run under the trainer's launcher, one process per GPU, e.g. on one GPU
    python -m inheritune_trainer.launch --standalone --nproc_per_node 1 bench/gpu_train.py --strategy ddp --no-compile
    python -m inheritune_trainer.launch --standalone --nproc_per_node 1 bench/gpu_train.py --strategy fsdp
or both in one go, one table (tokens/s, step time, peak memory per GPU = the max over ranks):
    python bench/gpu_train.py --compare --nproc 1          # --nproc = GPUs; PYTHONPATH is set for you
fsdp shards parameters, gradients and AdamW state per block (bf16 compute, fp32 reduce); it runs eager (the trainer
refuses --compile with fsdp), so compare it with ddp --no-compile as well. CPU smoke test of the comparison:
    .venv-torch2/bin/python bench/gpu_train.py --compare --nproc 2 --device cpu --steps 2 --layers 2 --hidden 64 \
        --heads 4 --seq-len 64 --vocab 256
"""
import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "trainer"))

H200_BF16_DENSE_TFLOPS = 989.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--batch-size", type=int, default=None, help="micro-batch (default 16 on cuda, 1 on cpu)")
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--steps", type=int, default=50, help="measured optimizer steps")
    ap.add_argument("--warmup", type=int, default=None, help="steps before the measurement (default 10 on cuda, 1 on cpu)")
    ap.add_argument("--dtype", choices=["auto", "bfloat16", "float32"], default="auto",
                    help="auto: bf16 autocast on cuda, fp32 on cpu")
    ap.add_argument("--no-compile", action="store_true", help="do not torch.compile (eager)")
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa", help="transformers attention implementation")
    ap.add_argument("--log-interval", type=int, default=1, help="the trainer's --log-interval (1: a metrics line per step)")
    ap.add_argument("--peak-tflops", type=float, default=None,
                    help=f"peak dense flops for MFU (default {H200_BF16_DENSE_TFLOPS:g} on cuda: H200 bf16)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: cores / local processes)")
    ap.add_argument("--strategy", choices=["ddp", "fsdp"], default="ddp", help="the trainer's --strategy")
    ap.add_argument("--activation-checkpointing", action="store_true", help="the trainer's --activation-checkpointing")
    ap.add_argument("--compare", action="store_true",
                    help="run ddp (compiled unless --no-compile), ddp eager and fsdp under the launcher with --nproc "
                         "processes each; print one table")
    ap.add_argument("--nproc", type=int, default=1, help="--compare: processes (GPUs) per run")
    ap.add_argument("--json", default=None, help="also write the result row as JSON here (rank 0)")
    a = ap.parse_args()
    if a.compare:
        return compare(a)
    cuda = a.device == "cuda"
    batch = a.batch_size or (16 if cuda else 1)
    warmup = a.warmup if a.warmup is not None else (10 if cuda else 1)
    dtype = a.dtype if a.dtype != "auto" else ("bfloat16" if cuda else "float32")
    peak = a.peak_tflops if a.peak_tflops is not None else (H200_BF16_DENSE_TFLOPS if cuda else None)

    import numpy as np
    import torch
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    from inheritune_trainer.cli import build_parser
    from inheritune_trainer.metrics import Metrics
    from inheritune_trainer.train import StopFlag, Trainer, _torch_major, setup_distributed

    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    torch.set_num_threads(a.threads or max(1, (os.cpu_count() or 1) // local))
    if cuda and not torch.cuda.is_available():
        sys.exit("--device cuda but torch.cuda.is_available() is False")
    work = Path(tempfile.mkdtemp(prefix="gpu-train-"))
    try:
        # ---- a config-only "reference" (Trainer reads its shape) and a random token file
        cfg_kw = dict(n_layer=a.layers, n_embd=a.hidden, n_head=a.heads, n_positions=a.seq_len, vocab_size=a.vocab,
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        cfg = GPT2Config(**cfg_kw)
        ref = work / "ref"
        cfg.save_pretrained(str(ref))
        data = work / "data"
        data.mkdir()
        n_tok = max(4 * (a.seq_len + 1) * batch * a.grad_accum, 2_000_000)
        rng = np.random.default_rng(0)
        rng.integers(0, a.vocab, size=n_tok, dtype=np.int64).astype(np.uint16).tofile(data / "train.bin")
        rng.integers(0, a.vocab, size=4 * (a.seq_len + 1), dtype=np.int64).astype(np.uint16).tofile(data / "val.bin")
        (data / "meta.json").write_text(json.dumps({"dtype": "uint16", "vocab_size": a.vocab, "source": "random"}))

        total = warmup + a.steps
        argv = ["train", "--ref", str(ref), "--data", str(data), "--out", str(work / "out"), "--init", "scratch-full",
                "--steps-per-round", str(total), "--batch-size", str(batch), "--grad-accum", str(a.grad_accum),
                "--seq-len", str(a.seq_len), "--device", a.device, "--dtype", dtype, "--eval-interval", "0",
                "--eval-iters", "1", "--log-interval", str(a.log_interval), "--warmup-steps", str(min(100, total))]
        if not a.no_compile and a.strategy == "ddp":
            argv.append("--compile")
        argv += ["--strategy", a.strategy] + (["--activation-checkpointing"] if a.activation_checkpointing else [])
        args = build_parser().parse_args(argv)
        d = setup_distributed(args.device, group_if_launched=a.strategy == "fsdp")
        metrics = Metrics(work / "out" / "metrics.jsonl", enabled=d.is_main)
        tr = Trainer(args, d, metrics, StopFlag())
        metrics.open()
        tr.st.layers = a.layers
        tr._ctx()
        torch.manual_seed(args.seed)

        # ---- the model, from the config (what `init-random` would write), then the trainer's install_model
        attn = a.attn
        try:
            model = GPT2LMHeadModel(GPT2Config(**cfg_kw, attn_implementation=attn))
        except (ValueError, ImportError) as e:  # e.g. sdpa needs torch >= 2.1
            print(f"note: attn_implementation={attn} unavailable ({str(e).splitlines()[0][:120]}); using eager",
                  file=sys.stderr)
            model = GPT2LMHeadModel(GPT2Config(**cfg_kw, attn_implementation="eager"))
        attn = getattr(model.config, "_attn_implementation", "eager")
        n_params = sum(p.numel() for p in model.parameters())  # unique (wte/lm_head tied)
        n_flops = n_params - model.transformer.wpe.weight.numel()
        tr.install_model(model)
        compiled = (not a.no_compile) and a.strategy == "ddp" and _torch_major() >= 2 and hasattr(torch, "compile")

        def sync():
            if cuda:
                torch.cuda.synchronize()

        # ---- warm-up (compile), then the measured steps, both through Trainer.train_round
        t0 = time.perf_counter()
        args.steps_per_round = warmup
        tr.train_round()
        sync()
        t_warm = time.perf_counter() - t0
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        args.steps_per_round = total
        t1 = time.perf_counter()
        tr.train_round()
        sync()
        wall = time.perf_counter() - t1
        metrics.close()

        tokens = a.steps * tr.tokens_per_step
        tps = tokens / wall
        ev = [json.loads(l) for l in (work / "out" / "metrics.jsonl").read_text().splitlines()] if d.is_main else []
        st = [e for e in ev if e["event"] == "step"]
        by_step = {e["step"]: e for e in st}
        tps_log = None
        if warmup in by_step and total in by_step and by_step[total]["time"] > by_step[warmup]["time"]:
            tps_log = tokens / (by_step[total]["time"] - by_step[warmup]["time"])
        self_tps = [e["tokens_per_s"] for e in st if e["step"] > warmup]
        flops_tok = 6 * n_flops + 12 * a.layers * a.hidden * a.seq_len
        achieved = flops_tok * tps / 1e12
        mfu = achieved / peak if peak else None
        mem = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
        if d.enabled:  # the busiest rank's memory and the slowest rank's wall time
            import torch.distributed as dist

            t = torch.tensor([mem or 0.0, wall], dtype=torch.float64, device=d.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            mem, wall = (float(t[0]) if cuda else None), float(t[1])
            tps = tokens / wall
            achieved = flops_tok * tps / 1e12
            mfu = achieved / peak if peak else None
        losses = [e["train_loss"] for e in st]
        if not d.is_main:
            return
        if a.json:
            Path(a.json).write_text(json.dumps({
                "strategy": a.strategy, "world_size": d.world, "compiled": compiled, "tokens_per_s": tps,
                "step_ms": 1000 * wall / a.steps, "peak_memory_gib": mem, "mfu": mfu, "tokens_per_step":
                tr.tokens_per_step, "activation_checkpointing": a.activation_checkpointing,
                "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None}))

        if cuda:
            p = torch.cuda.get_device_properties(0)
            dev = f"{p.name} ({p.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
        else:
            dev = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        lines = [
            f"## Training step on {'GPU' if cuda else 'CPU'}: {a.layers}-layer GPT-2, d = {a.hidden}, "
            f"{a.heads} heads, T = {a.seq_len}, {'bf16 autocast' if dtype == 'bfloat16' else 'fp32'}, "
            f"{'torch.compile' if compiled else 'eager'}, {a.strategy} x {d.world}",
            "",
            f"{dev}; torch {torch.__version__}, transformers {transformers.__version__}, attention `{attn}`; "
            f"N = {n_params / 1e6:.1f} M parameters ({n_flops / 1e6:.1f} M without the position embedding, used for "
            f"flops); batch {batch} × {a.grad_accum} × {a.seq_len} = {tr.tokens_per_step} tokens/step; the trainer's "
            f"`Trainer.install_model` + `Trainer.train_round` (fused AdamW on CUDA, clip 1.0, Q/K gradient norms and a "
            f"metrics line every {a.log_interval} step(s)); {warmup} warm-up steps ({t_warm:.1f} s, compile included) "
            f"excluded, {a.steps} measured. Command: `python bench/gpu_train.py"
            f"{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}`.",
            "",
            "| tokens/s | step (ms) | model TFLOPS | MFU | tokens/s from metrics.jsonl | trainer's own tokens_per_s (mean) | peak memory (GiB) |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {tps:,.0f} | {1000 * wall / a.steps:.1f} | {achieved:.1f} | "
            f"{f'**{100 * mfu:.1f}%**' if mfu is not None else 'n/a'} | "
            f"{f'{tps_log:,.0f}' if tps_log else 'n/a'} | "
            f"{f'{sum(self_tps) / len(self_tps):,.0f}' if self_tps else 'n/a'} | {f'{mem:.1f}' if mem is not None else 'n/a'} |",
            "",
            f"* MFU = (6 N + 12 L d T) × tokens/s / peak = {flops_tok / 1e9:.3f} GFLOP/token × tokens/s / "
            f"{f'{peak:g} TFLOPS' if peak else '(no peak given)'}"
            f"{' (H200 SXM dense bf16)' if peak == H200_BF16_DENSE_TFLOPS else ''}; attention flops counted non-causal.",
            f"* train loss: first {losses[0]:.3f}, last {losses[-1]:.3f} (random tokens: ln V = {np.log(a.vocab):.3f})."
            if losses else "",
            "",
        ]
        print("\n".join(lines))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        try:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
        except Exception:  # noqa: BLE001
            pass


def compare(a) -> None:
    """ddp (compiled), ddp eager and fsdp, each under `python -m inheritune_trainer.launch --nproc_per_node N`."""
    import subprocess

    passthrough = []
    skip = {"--compare", "--nproc", "--strategy", "--json", "--no-compile"}
    argv = sys.argv[1:]
    i = 0
    while i < len(argv):
        k = argv[i].split("=")[0]
        takes = k in ("--nproc", "--strategy", "--json") and "=" not in argv[i]
        if k not in skip:
            passthrough.append(argv[i])
        i += 2 if takes else 1
    runs = [("ddp", True), ("ddp", False), ("fsdp", False)] if not a.no_compile else [("ddp", False), ("fsdp", False)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "trainer") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for strategy, compiled in runs:
            out = Path(tmp) / f"{strategy}-{compiled}.json"
            cmd = [sys.executable, "-m", "inheritune_trainer.launch", "--standalone", "--nproc_per_node", str(a.nproc),
                   str(Path(__file__).resolve()), *passthrough, "--strategy", strategy, "--json", str(out)]
            if not compiled:
                cmd.append("--no-compile")
            print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True, env=env)
            rows.append(json.loads(out.read_text()))
    print(f"## ddp vs fsdp: {a.layers}-layer GPT-2, d = {a.hidden}, T = {a.seq_len}, {a.nproc} process(es), "
          f"{rows[0]['tokens_per_step']} tokens/step\n")
    print("| strategy | compile | tokens/s | step (ms) | MFU | peak memory per GPU (GiB) | loss first → last |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        mem = f"{r['peak_memory_gib']:.2f}" if r["peak_memory_gib"] is not None else "n/a"
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        print(f"| {r['strategy']} x {r['world_size']} | {'yes' if r['compiled'] else 'no'} | {r['tokens_per_s']:,.0f} | "
              f"{r['step_ms']:.1f} | {mfu} | {mem} | {r['first_loss']:.3f} → {r['last_loss']:.3f} |")


if __name__ == "__main__":
    main()
