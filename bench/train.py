#!/usr/bin/env python3
"""Benchmark: training throughput of the Inheritune trainer against a minimal plain PyTorch loop.

Both contenders train the same model from the same checkpoint (a seeded GPT-2: 6 layers, d = 256,
4 heads, vocab 4096, context 256) on the same data windows (the trainer's sampling: step s draws
`default_rng([seed, 0, s])`), batch 8 x 256 tokens, AdamW (decay on >= 2-D params, betas 0.9/0.95),
global-norm clipping 1.0, the same warmup + cosine learning rate, fp32 on the CPU, the same number
of steps. Each contender runs in a fresh process that first calls torch.set_num_threads(os.cpu_count()):

  * trainer  `python -m inheritune_trainer train --init inherit --layers 6` (inheriting all 6 layers
             is a byte-identical copy of the reference; checked), metrics.jsonl written every step as
             the UI needs (--log-interval 1), no mid-round eval.
  * plain    ~20 lines: from_pretrained, the loop, loss.item() per step.

The runs alternate in ABBA order (plain, trainer, trainer, plain, ...) so that load from other
processes on a shared machine, and any drift of the machine, hit both alike. Compared: steady-state tokens/s from wall-clock step timestamps
(the trainer's `time` field of its `step` events; perf_counter in the plain loop), steps after the
warm-up only: tokens / median step interval, best run of each contender (the ratio uses it; other
load on a shared machine only slows runs down), and pooled over all runs (median and total wall),
plus the trainer's own self-reported `tokens_per_s` (which leaves out its metrics write and stdout
line), CPU time per step, and each process's whole wall time (start-up, surgery, model load, final
eval and checkpoint save included: informational, not compared). The per-step training losses of
the two must agree (same work). --profile adds a cProfile breakdown of one more trainer run.

Usage: .venv/bin/python bench/train.py [--steps 20] [--warmup 4] [--repeat 2] [--profile] [--write]
"""
import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
CLI = ROOT / "dist" / "cli.js"
DATA = BENCH / ".data" / "train"
TRAINER = ROOT / "trainer"

LAYERS, HIDDEN, HEADS, VOCAB, CONTEXT = 6, 256, 4, 4096, 256
BATCH, SEQ = 8, 256
LR, MIN_LR, WARMUP_LR, WD, BETAS, CLIP, SEED = 6e-4, 6e-5, 10, 0.1, (0.9, 0.95), 1.0, 1337


# ------------------------------------------------------------------------------------------ workers
# Both run in their own process: `bench/train.py --worker {trainer,plain} SPEC.json RESULT.json`.

def _threads():
    import torch

    torch.set_num_threads(os.cpu_count())
    return torch


def blas_info():
    """Which BLAS this process has loaded (Debian's torch links the system libblas.so.3) and its threads."""
    import torch

    a = torch.randn(64, 64)
    _ = a @ a  # make sure the BLAS is loaded
    libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower() and l.split()[-1].startswith("/")})
    info = {"libs": libs, "torch_threads": torch.get_num_threads()}
    ob = next((p for p in libs if "openblas" in os.path.basename(p)), None)
    if ob:
        lib = ctypes.CDLL(ob)
        lib.openblas_get_config.restype = ctypes.c_char_p
        info["openblas_config"] = lib.openblas_get_config().decode().strip()
        info["openblas_threads"] = lib.openblas_get_num_threads()
        info["openblas_parallel"] = {0: "sequential", 1: "pthreads", 2: "openmp"}.get(lib.openblas_get_parallel(), "?")
    return info


def lr_at(it, total):
    """The trainer's Schedule.lr_at: linear warmup, then cosine to MIN_LR at the last step."""
    import math

    if WARMUP_LR > 0 and it <= WARMUP_LR:
        return LR * it / WARMUP_LR
    span = total - WARMUP_LR
    p = 1.0 if span <= 0 else min(1.0, max(0.0, (it - WARMUP_LR) / span))
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * p)) * (LR - MIN_LR)


class PlainLoop:
    """The plain contender: from_pretrained, AdamW, and one step = the ~12 lines of `step`."""

    def __init__(self, ref, data_dir, steps):
        import numpy as np
        import torch
        from transformers import AutoModelForCausalLM

        self.model = AutoModelForCausalLM.from_pretrained(ref, torch_dtype=torch.float32)
        self.model.train()
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                                     lr=LR, betas=BETAS, eps=1e-8)
        self.data = np.memmap(Path(data_dir) / "train.bin", dtype=np.uint16, mode="r")
        self.steps = steps

    def step(self, step):
        import numpy as np
        import torch
        import torch.nn.functional as F

        for g in self.opt.param_groups:
            g["lr"] = lr_at(step, self.steps)
        offs = np.random.default_rng([SEED, 0, step]).integers(0, len(self.data) - SEQ, size=BATCH)
        w = torch.from_numpy(np.stack([self.data[o:o + SEQ + 1].astype(np.int64) for o in offs]))
        x, y = w[:, :-1], w[:, 1:]
        logits = self.model(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss.item()


def worker_plain(spec, result):
    _threads()
    loop = PlainLoop(spec["ref"], spec["data"], spec["steps"])
    stamps, cpu, losses = [time.perf_counter()], [], []
    for step in range(1, spec["steps"] + 1):
        losses.append(loop.step(step))
        stamps.append(time.perf_counter())
        cpu.append(time.process_time())
    Path(result).write_text(json.dumps({"stamps": stamps[1:], "cpu": cpu, "losses": losses, "blas": blas_info()}))


def trainer_argv(spec):
    return ["train", "--ref", spec["ref"], "--data", spec["data"], "--out", spec["out"],
            "--init", "inherit", "--layers", str(LAYERS), "--max-rounds", "1", "--target-val-loss", "0",
            "--steps-per-round", str(spec["steps"]), "--batch-size", str(BATCH), "--seq-len", str(SEQ),
            "--lr", str(LR), "--min-lr", str(MIN_LR), "--warmup-steps", str(WARMUP_LR),
            "--weight-decay", str(WD), "--beta1", str(BETAS[0]), "--beta2", str(BETAS[1]), "--grad-clip", str(CLIP),
            "--seed", str(SEED), "--eval-interval", "0", "--eval-iters", "1", "--log-interval", "1",
            "--device", "cpu", "--dtype", "float32", "--keep-init"]


def worker_interleaved(spec, result):
    """Both contenders in one process, steps interleaved (T P P T T P ...): the trainer's own
    Trainer.train_round, one step per call, against PlainLoop.step. Same heap, threads and load."""
    _threads()
    sys.path.insert(0, str(TRAINER))
    from inheritune_trainer.cli import build_parser
    from inheritune_trainer.metrics import Metrics
    from inheritune_trainer.train import StopFlag, Trainer, setup_distributed

    args = build_parser().parse_args(trainer_argv(spec))
    metrics = Metrics(Path(spec["out"]) / "metrics.jsonl", enabled=True)
    tr = Trainer(args, setup_distributed("cpu"), metrics, StopFlag())
    metrics.open()
    tr.st.layers = LAYERS
    tr._ctx()
    tr.install_model(tr.load_model(Path(spec["ref"])))  # what the surgery would write is byte-identical (checked)
    plain = PlainLoop(spec["ref"], spec["data"], spec["steps"])
    t = {"trainer": [], "plain": []}
    c = {"trainer": [], "plain": []}
    losses = {"trainer": [], "plain": []}
    for step in range(1, spec["steps"] + 1):
        for who in (("trainer", "plain") if step % 2 else ("plain", "trainer")):
            t0, c0 = time.perf_counter(), time.process_time()
            if who == "trainer":
                args.steps_per_round = step  # train_round runs until local_step == steps_per_round: one step
                tr.train_round()
            else:
                losses["plain"].append(plain.step(step))
            t[who].append(time.perf_counter() - t0)
            c[who].append(time.process_time() - c0)
    metrics.close()
    ev = [json.loads(l) for l in (Path(spec["out"]) / "metrics.jsonl").read_text().splitlines()]
    losses["trainer"] = [e["train_loss"] for e in ev if e["event"] == "step"]
    Path(result).write_text(json.dumps({"time": t, "cpu": c, "losses": losses}))


def worker_trainer(spec, result):
    _threads()
    sys.path.insert(0, str(TRAINER))
    from inheritune_trainer.cli import main
    from inheritune_trainer.metrics import Metrics

    # Instrumentation only (the trainer is not changed): the process CPU time at every `step` event.
    cpu, write = [], Metrics.write

    def timed_write(self, event, **fields):
        if event == "step":
            cpu.append(time.process_time())
        return write(self, event, **fields)

    Metrics.write = timed_write
    out = Path(spec["out"])
    argv = trainer_argv(spec)
    prof = None
    if spec.get("profile"):
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    rc = main(argv)
    if prof is not None:
        prof.disable()
        prof.dump_stats(str(Path(result).with_suffix(".prof")))
    if rc:
        sys.exit(rc)
    events = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["event"] == "step"]
    Path(result).write_text(json.dumps({
        "stamps": [e["time"] for e in steps], "cpu": cpu, "losses": [e["train_loss"] for e in steps],
        "self_tps": [e["tokens_per_s"] for e in steps], "blas": blas_info()}))


# ------------------------------------------------------------------------------------------ driver

def update_results(section, text):
    sys.path.insert(0, str(BENCH))
    from surgery import update_results as upd

    upd(section, text)


def prepare():
    if not CLI.exists():
        subprocess.run(["node", "esbuild.mjs"], cwd=ROOT, check=True)
    ref = DATA / f"gpt2-{LAYERS}L-d{HIDDEN}"
    if not (ref / "model.safetensors").exists():
        subprocess.run(["node", str(CLI), "synth", "--family", "gpt2", "--layers", str(LAYERS), "--hidden", str(HIDDEN),
                        "--heads", str(HEADS), "--vocab", str(VOCAB), "--context", str(CONTEXT), "--seed", "1",
                        "--out", str(ref), "--force"], check=True, stdout=subprocess.DEVNULL)
    data = DATA / f"synth-v{VOCAB}"
    if not (data / "val.bin").exists():
        subprocess.run([sys.executable, "-m", "inheritune_trainer", "synth", "--out", str(data), "--vocab-size",
                        str(VOCAB), "--tokens", "2000000", "--seed", "0"], check=True, env=_env(),
                       stdout=subprocess.DEVNULL)
    return ref, data


def _env():
    e = dict(os.environ, PYTHONPATH=str(TRAINER), PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    return e


def run_worker(kind, spec, work):
    spec_f, res_f = work / f"{kind}-spec.json", work / f"{kind}-result.json"
    spec_f.write_text(json.dumps(spec))
    res_f.unlink(missing_ok=True)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, "--worker", kind, str(spec_f), str(res_f)], cwd=ROOT, env=_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"{kind} worker failed ({p.returncode}):\n{p.stdout[-4000:]}")
    r = json.loads(res_f.read_text())
    r["proc_wall"] = wall
    return r


def intervals(st, warmup):
    """st[i] = end of step i + 1 -> durations of steps warmup + 1 .. N."""
    return [b - a for a, b in zip(st[warmup - 1:], st[warmup:])]


def steady(r, warmup, tokens_per_step):
    iv, cp = intervals(r["stamps"], warmup), intervals(r["cpu"], warmup)
    return {"median_tps": tokens_per_step / statistics.median(iv), "wall_tps": tokens_per_step * len(iv) / sum(iv),
            "median_ms": 1000 * statistics.median(iv), "cpu_ms": 1000 * statistics.median(cp), "n": len(iv)}


PROFILE_ROWS = [  # (label, file suffix, function name): where a trainer step spends its time
    ("Trainer.train_round (whole loop)", "inheritune_trainer/train.py", "train_round"),
    ("  Trainer.loss: forward + cross-entropy", "inheritune_trainer/train.py", "loss"),
    ("  backward", "torch/_tensor.py", "backward"),
    ("  clip_grad_norm_", "torch/nn/utils/clip_grad.py", "clip_grad_norm_"),
    ("  AdamW.step", "torch/optim/adamw.py", "step"),
    ("  zero_grad", "torch/optim/optimizer.py", "zero_grad"),
    ("  Trainer.batch: windows + vocab check", "inheritune_trainer/train.py", "batch"),
    ("  data.train_offsets", "inheritune_trainer/data.py", "train_offsets"),
    ("  qk_grad_norms (trainer only)", "inheritune_trainer/qk.py", "qk_grad_norms"),
    ("  Metrics.write (trainer only)", "inheritune_trainer/metrics.py", "write"),
    ("  Trainer.log: stdout line (trainer only)", "inheritune_trainer/train.py", "log"),
    ("  Trainer.stop_signal (trainer only)", "inheritune_trainer/train.py", "stop_signal"),
]


def profile_report(prof_file, steps):
    import pstats

    st = pstats.Stats(str(prof_file)).stats  # (file, line, func) -> (cc, nc, tottime, cumtime, callers)
    rows = []
    total = None
    for label, suffix, fn in PROFILE_ROWS:
        hits = [(k, v) for k, v in st.items() if k[0].endswith(suffix) and k[2] == fn]
        if not hits:
            continue
        (f, line, _), v = max(hits, key=lambda kv: kv[1][3])
        if total is None:
            total = v[3]
        rows.append(f"| {label} | `{'/'.join(Path(f).parts[-2:])}:{line}` | {v[1]} | {v[3]:.2f} | "
                    f"{1000 * v[3] / steps:.1f} | {100 * v[3] / total:.1f}% |")
    return "\n".join(["| function | where | calls | cumulative (s) | per step (ms) | share of the loop |",
                      "|---|---|---:|---:|---:|---:|", *rows])


def same_weights(a, b):
    from safetensors.numpy import load_file

    x, y = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return sorted(x) == sorted(y) and all((x[k] == y[k]).all() for k in x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20, help="optimizer steps per run (warm-up included)")
    ap.add_argument("--warmup", type=int, default=4, help="first steps excluded from the measurement")
    ap.add_argument("--repeat", type=int, default=2, help="runs per contender, in ABBA order")
    ap.add_argument("--write", action="store_true", help="replace the train section of bench/RESULTS.md")
    ap.add_argument("--interleaved-steps", type=int, default=16,
                    help="steps of the one-process interleaved comparison (0: skip it)")
    ap.add_argument("--profile", action="store_true", help="also run the trainer once under cProfile and print where a step goes")
    ap.add_argument("--worker", nargs=3, metavar=("KIND", "SPEC", "RESULT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, spec, res = args.worker
        fn = {"plain": worker_plain, "trainer": worker_trainer, "interleaved": worker_interleaved}[kind]
        return fn(json.loads(Path(spec).read_text()), res)
    if not 1 <= args.warmup < args.steps:
        sys.exit("--warmup must be in [1, --steps)")

    ref, data = prepare()
    tps = BATCH * SEQ
    work = Path(tempfile.mkdtemp(dir=DATA))
    load0 = os.getloadavg()
    runs = {"plain": [], "trainer": []}
    try:
        for i in range(args.repeat):
            for kind in (("plain", "trainer") if i % 2 == 0 else ("trainer", "plain")):  # ABBA: no order bias
                spec = {"ref": str(ref), "data": str(data), "steps": args.steps, "out": str(work / f"trainer-{i}")}
                r = run_worker(kind, spec, work)
                if kind == "trainer":
                    init = work / f"trainer-{i}" / "init" / f"round-1-{LAYERS}L"
                    r["same_model"] = same_weights(ref, init) if init.exists() else None
                    shutil.rmtree(work / f"trainer-{i}", ignore_errors=True)
                r.update(steady(r, args.warmup, tps))
                runs[kind].append(r)
                print(f"run {i + 1}/{args.repeat} {kind:7s}: {r['median_tps']:8.0f} tok/s (median step "
                      f"{r['median_ms']:.0f} ms, CPU {r['cpu_ms']:.0f} ms), {r['wall_tps']:8.0f} tok/s (wall), process "
                      f"{r['proc_wall']:.1f} s, load {os.getloadavg()[0]:.1f}",
                      file=sys.stderr, flush=True)
        inter = None
        if args.interleaved_steps:
            spec = {"ref": str(ref), "data": str(data), "steps": args.interleaved_steps, "out": str(work / "inter")}
            inter = run_worker("interleaved", spec, work)
            print(f"interleaved: done, load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        prof_text = None
        if args.profile:
            spec = {"ref": str(ref), "data": str(data), "steps": args.steps, "out": str(work / "trainer-prof"), "profile": True}
            run_worker("trainer", spec, work)
            prof_text = profile_report(work / "trainer-result.prof", args.steps)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load1 = os.getloadavg()

    def agg(kind):
        rs = runs[kind]
        best = max(rs, key=lambda r: r["median_tps"])  # other load only ever slows a run down
        allint = [x for r in rs for x in intervals(r["stamps"], args.warmup)]
        return {"best_tps": best["median_tps"], "best_cpu_ms": best["cpu_ms"],
                "median_tps": tps / statistics.median(allint), "wall_tps": tps * len(allint) / sum(allint),
                "proc_wall": statistics.median(r["proc_wall"] for r in rs)}

    P, T = agg("plain"), agg("trainer")
    self_tps = [v for r in runs["trainer"] for v in r["self_tps"][args.warmup:]]
    self_eff = len(self_tps) * tps / sum(tps / v for v in self_tps)  # tokens / summed self-timed step time
    dloss = max(abs(a - b) for rp, rt in zip(runs["plain"], runs["trainer"]) for a, b in zip(rp["losses"], rt["losses"]))
    same = all(r.get("same_model") for r in runs["trainer"])
    ratio = T["best_tps"] / P["best_tps"]
    pairs = [rt["median_tps"] / rp["median_tps"] for rp, rt in zip(runs["plain"], runs["trainer"])]
    b = runs["trainer"][0]["blas"]
    blas = (f"{os.path.basename(b['libs'][0]) if b['libs'] else 'no BLAS library found'}"
            + (f" ({b.get('openblas_parallel')}, {b.get('openblas_threads')} threads; `{b.get('openblas_config')}`)"
               if "openblas_threads" in b else ""))
    import torch

    n_meas = args.steps - args.warmup
    verdict = "within" if ratio >= 0.95 else "NOT within"
    lines = [
        f"## Training step: trainer vs a plain PyTorch loop (CPU, fp32)",
        "",
        f"GPT-2 {LAYERS} layers, d = {HIDDEN}, {HEADS} heads, vocab {VOCAB} (the same seeded checkpoint for both), "
        f"batch {BATCH} × {SEQ} tokens = {tps} tokens/step, AdamW + clip {CLIP} + warmup/cosine, same windows; "
        f"{args.steps} steps per run, the first {args.warmup} excluded; {args.repeat} runs each, in ABBA order; "
        f"torch {torch.__version__}, {b['torch_threads']} threads (`torch.set_num_threads(os.cpu_count())` in both), "
        f"BLAS: {blas}; {os.cpu_count()} cores, load average {load0[0]:.1f} → {load1[0]:.1f} (shared machine). "
        f"Command: `.venv/bin/python bench/train.py --profile --write`.",
        "",
        "| contender | tokens/s, best run | tokens/s, all runs | tokens/s, all runs (total wall) | CPU ms/step, best run | process wall (s) | vs plain |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| plain PyTorch loop | {P['best_tps']:.0f} | {P['median_tps']:.0f} | {P['wall_tps']:.0f} | {P['best_cpu_ms']:.0f} | "
        f"{P['proc_wall']:.1f} | 1.00× |",
        f"| inheritune trainer | {T['best_tps']:.0f} | {T['median_tps']:.0f} | {T['wall_tps']:.0f} | {T['best_cpu_ms']:.0f} | "
        f"{T['proc_wall']:.1f} | **{ratio:.3f}×** |",
        "",
        f"* trainer / plain = **{ratio:.3f}×**, {verdict} 5% (target ≥ 0.95×). Compared: tokens / median wall-clock step "
        f"interval of the {n_meas} measured steps, best of the {args.repeat} runs per contender (load from other processes "
        f"only slows a run down). The interval is between the trainer's `step` event timestamps in metrics.jsonl, and "
        f"between perf_counter reads after each plain step, so the trainer's own per-step work (vocab check, Q/K gradient "
        f"norms, metrics line, stdout line) is included. Paired runs (run i of each, back to back, ABBA order): "
        f"{', '.join(f'{x:.3f}×' for x in pairs)}. \"All runs\" columns pool every measured step of every run (median; total).",
        f"* the trainer's self-reported `tokens_per_s` (mean over the same steps of all runs): {self_eff:.0f} tokens/s; it "
        f"times each step without its metrics write and stdout line.",
        f"* CPU ms/step: `time.process_time()` of the whole process (all threads) per step; the trainer's read at each "
        f"`step` event by wrapping `Metrics.write` in the benchmark's process (the trainer itself is unchanged).",
        f"* process wall: start-up to exit (trainer: surgery via node, final eval and checkpoint save too), median; not compared.",
        f"* same work: the trainer's initial model is byte-identical to the reference: **{same}**; "
        f"max |Δ train loss| over all steps = {dloss:.2e}.",
        "",
    ]
    if inter:
        w = min(args.warmup, args.interleaved_steps - 1)
        tt, tp = inter["time"]["trainer"][w:], inter["time"]["plain"][w:]
        ct, cp = inter["cpu"]["trainer"][w:], inter["cpu"]["plain"][w:]
        r_med = statistics.median(a / b for a, b in zip(tt, tp))
        dl = max(abs(a - b) for a, b in zip(inter["losses"]["trainer"], inter["losses"]["plain"]))
        lines += [
            f"Interleaved in one process (same heap, threads and load; the trainer's `Trainer.train_round`, one step per "
            f"call, against the plain step; order T P P T T P …; {len(tt)} steps each after {w} warm-up):",
            "",
            "| | plain step | trainer step | trainer / plain |",
            "|---|---:|---:|---:|",
            f"| median of the per-step ratios | | | **{r_med:.3f}×** time (= {1 / r_med:.3f}× tokens/s) |",
            f"| wall, total (s) | {sum(tp):.2f} | {sum(tt):.2f} | {sum(tt) / sum(tp):.3f}× |",
            f"| tokens/s (total) | {len(tp) * tps / sum(tp):.0f} | {len(tt) * tps / sum(tt):.0f} | "
            f"{sum(tp) / sum(tt):.3f}× |",
            f"| CPU time, total (s) | {sum(cp):.2f} | {sum(ct):.2f} | {sum(ct) / sum(cp):.3f}× |",
            "",
            f"Same losses step by step: max |Δ| = {dl:.2e}.",
            "",
        ]
    if prof_text:
        lines += [f"Trainer under cProfile ({args.steps} steps, warm-up included; cProfile inflates Python-heavy parts):",
                  "", prof_text, ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        update_results("train", text)


if __name__ == "__main__":
    main()
