#!/usr/bin/env python3
"""A miniature of Inheritune's Table 1 (Sanyal et al., arXiv 2404.08634), offline, on 2 CPU cores.

  corpus     the running Python's own standard library (top-level *.py files: code, docstrings and
             comments in English), byte-level (vocab 256); every 10th file (sorted by name) is the
             validation split, so no file is in both
  (a) ref    GPT-2, 8 layers, d = 128, 4 heads, context 128, trained from scratch by the trainer
             (`--init scratch-full`) for --ref-steps steps
  (b) inh    Inheritune: the first 4 of its layers, T steps per round, grown by 1 layer (re-inherit,
             as in the paper) until the val loss reaches the reference's on the same windows
  (c) rand   random init, the size Inheritune ended with, trained for as many steps in total
  (d) stack  stacking (Gong et al. 2019): a random 2-layer model, T/2 steps, blocks duplicated to
             4 layers (`cli.js stack`), T/2 more steps
  (e) hybrid-stack   reference blocks 0-1 stacked to 4 layers (`--init hybrid-stack`), as many steps as (b)
  (f) half-width     the reference's 8 layers at d/2, 2 heads (`--init half-width`), as many steps as (b)
  (g) kd             random init of (c)'s size, logit distillation from the reference, as many steps as (b)
  (h) kd-distilbert  reference blocks 0, 2, 4, 6, DistilBERT's loss, as many steps as (b)
(b)-(h) run once per seed (--seeds, default 3: data order, init and surgery seeds); the table gives mean ± std.
Then `cli.js analyze` (lazy layers) on the reference and on the first seed's final Inheritune model.

Writes docs/experiment/README.md (table, plot, analyze summary), loss.svg (val loss vs steps, SVG
written here: no plotting dependency), metrics.csv (every metrics.jsonl line of every run) and
results.json. Work files go to .tmp/experiment/ (git-ignored).

Usage: .venv/bin/python scripts/experiment.py [--ref-steps 500] [--steps 200] [--seeds 3] [--quick]
"""
import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINER = ROOT / "trainer"
CLI = ROOT / "dist" / "cli.js"
DOCS = ROOT / "docs" / "experiment"
WORK = ROOT / ".tmp" / "experiment"
sys.path.insert(0, str(TRAINER))

LAYERS, HIDDEN, HEADS, VOCAB, CONTEXT = 8, 128, 4, 256, 128
N_INHERIT = 4
# torch defaults to 1 thread with Debian's build; the trainer does not set it, so its processes start from here
RUN_TRAINER = ("import os, sys, torch; torch.set_num_threads(os.cpu_count()); "
               "from inheritune_trainer.cli import main; sys.exit(main(sys.argv[1:]))")


def sh(cmd, **kw):
    t0 = time.time()
    p = subprocess.run([str(c) for c in cmd], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if p.returncode:
        sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{p.stdout[-3000:]}")
    return p.stdout, time.time() - t0


def node(*args):
    return sh(["node", CLI, *args])[0]


def train(out, **opts):
    """Run the trainer (fresh process, all cores); returns (summary, events, seconds)."""
    env = dict(os.environ, PYTHONPATH=str(TRAINER), PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    # libgomp's default spin-waiting makes 2 threads on 2 busy cores many times slower than 1 (seen here with
    # other jobs running); passive waiting keeps the run time sane on a shared machine. Override by setting it.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    shutil.rmtree(out, ignore_errors=True)
    args = ["train", "--out", out, "--device", "cpu", "--keep-init"]
    for k, v in opts.items():
        args += ["--" + k.replace("_", "-"), v]
    log, dt = sh([sys.executable, "-c", RUN_TRAINER, *args], env=env)
    (Path(out) / "stdout.log").write_text(log)
    events = [json.loads(l) for l in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    return json.loads((Path(out) / "summary.json").read_text()), events, dt


# ------------------------------------------------------------------------------------------ corpus

def make_corpus(out: Path) -> dict:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py") if p.is_file())
    train, val = [], []
    for i, p in enumerate(files):
        (val if i % 10 == 0 else train).append(p.read_bytes() + b"\n")
    tr, va = b"".join(train), b"".join(val)
    out.mkdir(parents=True, exist_ok=True)
    import numpy as np

    for name, b in (("train", tr), ("val", va)):
        np.frombuffer(b, dtype=np.uint8).astype(np.uint16).tofile(out / f"{name}.bin")
    meta = {"dtype": "uint16", "vocab_size": VOCAB, "source": f"python {sys.version.split()[0]} stdlib {stdlib}/*.py, bytes",
            "files": len(files), "val_files": len(val), "train_tokens": len(tr), "val_tokens": len(va),
            "sha256_train": hashlib.sha256(tr).hexdigest(), "sha256_val": hashlib.sha256(va).hexdigest()}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


# ------------------------------------------------------------------------------------------ eval at step 0

def eval_val(ckpt: Path, data: Path, a) -> float:
    """The trainer's Trainer.evaluate on the same fixed val windows (mean of per-window mean token loss)."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM

    from inheritune_trainer import data as D

    val = D.open_split(data, "val")
    offs = D.eval_offsets(a.eval_seed, "val", a.eval_iters * a.batch_size, len(val), a.seq_len)
    m = AutoModelForCausalLM.from_pretrained(str(ckpt), torch_dtype=torch.float32).eval()
    tot, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(offs), a.batch_size):
            w = torch.from_numpy(D.windows(val, offs[i:i + a.batch_size], a.seq_len))
            logits = m(input_ids=w[:, :-1], use_cache=False).logits
            l = F.cross_entropy(logits.reshape(-1, logits.size(-1)), w[:, 1:].reshape(-1), reduction="none")
            tot += float(l.view(w.size(0), -1).mean(1).double().sum())
            n += w.size(0)
    return tot / n


def n_params(ckpt: Path) -> int:
    """Unique parameters of a checkpoint (tied lm_head counted once), from the safetensors header."""
    total = 0
    for f in Path(ckpt).glob("*.safetensors"):
        with open(f, "rb") as fh:
            hdr = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
        for k, v in hdr.items():
            if k != "__metadata__" and not k.endswith((".attn.bias", ".attn.masked_bias")):
                c = 1
                for s in v["shape"]:
                    c *= s
                total += c
    return total


# ------------------------------------------------------------------------------------------ plot (SVG)

def svg_plot(series, target, path: Path, title: str):
    """series: [(label, color, [(step, val_loss)], dashed)] -> a line chart as an SVG file."""
    W, H, L, R, T, B = 820, 440, 64, 230, 36, 48
    xs = [s for _, _, pts, _ in series for s, _ in pts]
    ys = [v for _, _, pts, _ in series for s, v in pts if s > 0]
    x1 = max(xs)
    y0, y1 = min(ys + [target]), max(ys)
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad
    px = lambda s: L + (W - L - R) * s / x1
    py = lambda v: T + (H - T - B) * (1 - (v - y0) / (y1 - y0))

    def nice(lo, hi, n=6):
        import math

        raw = (hi - lo) / n
        mag = 10 ** math.floor(math.log10(raw))
        step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
        v = math.ceil(lo / step) * step
        out = []
        while v <= hi + 1e-12:
            out.append(round(v, 10))
            v += step
        return out

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         f'font-family="Helvetica, Arial, sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<clipPath id="plot"><rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}"/></clipPath>',
         f'<text x="{L}" y="22" font-size="14" font-weight="bold">{title}</text>']
    for v in nice(y0, y1):
        o.append(f'<line x1="{L}" x2="{W - R}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#e5e5e5"/>')
        o.append(f'<text x="{L - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for s in nice(0, x1):
        o.append(f'<line x1="{px(s):.1f}" x2="{px(s):.1f}" y1="{T}" y2="{H - B}" stroke="#f0f0f0"/>')
        o.append(f'<text x="{px(s):.1f}" y="{H - B + 16}" text-anchor="middle">{s:g}</text>')
    o.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="#999"/>')
    o.append(f'<text x="{(L + W - R) / 2}" y="{H - 10}" text-anchor="middle">optimizer steps (of that model)</text>')
    o.append(f'<text transform="translate(16 {(T + H - B) / 2}) rotate(-90)" text-anchor="middle">val loss (nats/byte)</text>')
    o.append(f'<line x1="{L}" x2="{W - R}" y1="{py(target):.1f}" y2="{py(target):.1f}" stroke="#d62728" '
             f'stroke-dasharray="6 4" stroke-width="1.2"/>')
    ly = T + 8
    for label, color, pts, dashed in series:
        d = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in pts)
        dash = ' stroke-dasharray="3 3"' if dashed else ""
        o.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"{dash} clip-path="url(#plot)"/>')
        for s, v in pts:
            if y0 <= v <= y1:
                o.append(f'<circle cx="{px(s):.1f}" cy="{py(v):.1f}" r="2.5" fill="{color}"/>')
        o.append(f'<line x1="{W - R + 14}" x2="{W - R + 38}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>')
        o.append(f'<text x="{W - R + 44}" y="{ly + 4}">{label}</text>')
        ly += 20
    o.append(f'<line x1="{W - R + 14}" x2="{W - R + 38}" y1="{ly}" y2="{ly}" stroke="#d62728" stroke-dasharray="6 4"/>')
    o.append(f'<text x="{W - R + 44}" y="{ly + 4}">target (reference)</text>')
    o.append("</svg>")
    path.write_text("\n".join(o) + "\n")


# ------------------------------------------------------------------------------------------ main

BASELINES = ("random", "stack", "hybrid-stack", "half-width", "kd", "kd-distilbert")


def mean_std(xs):
    import statistics

    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def fmt_ms(xs, digits=4):
    m, sd = mean_std(xs)
    return "—" if m is None else f"{m:.{digits}f} ± {sd:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref-steps", type=int, default=500, help="reference training steps (from scratch)")
    ap.add_argument("--steps", type=int, default=200, help="T, steps per Inheritune round")
    ap.add_argument("--max-rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=CONTEXT)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--eval-interval", type=int, default=25)
    ap.add_argument("--eval-iters", type=int, default=8)
    ap.add_argument("--eval-seed", type=int, default=1337)
    ap.add_argument("--seeds", type=int, default=3, help="seeds per model (b)-(h): 1337, 1338, ...")
    ap.add_argument("--baselines", default=",".join(BASELINES),
                    help=f"comma list of the baselines to run (of {', '.join(BASELINES)})")
    ap.add_argument("--no-stack", action="store_true", help="skip the stacking baseline")
    ap.add_argument("--no-analyze", action="store_true", help="skip `cli.js analyze` (needs onnxruntime-node)")
    ap.add_argument("--quick", action="store_true", help="tiny settings to test the script (writes to .tmp only)")
    a = ap.parse_args()
    if a.quick:
        a.ref_steps, a.steps, a.eval_interval, a.eval_iters, a.batch_size = 40, 20, 10, 2, 8
    chosen = [b.strip() for b in a.baselines.split(",") if b.strip()]
    bad = [b for b in chosen if b not in BASELINES]
    if bad:
        sys.exit(f"--baselines: unknown {bad}; choose from {', '.join(BASELINES)}")
    if a.no_stack and "stack" in chosen:
        chosen.remove("stack")
    docs = WORK / "quick-docs" if a.quick else DOCS
    t_all = time.time()
    import torch

    torch.set_num_threads(os.cpu_count())
    if not CLI.exists():
        sh(["node", "esbuild.mjs"])
    WORK.mkdir(parents=True, exist_ok=True)
    docs.mkdir(parents=True, exist_ok=True)
    data = WORK / "data"
    corpus = make_corpus(data)
    print(f"corpus: {corpus['files']} files, {corpus['train_tokens']} train / {corpus['val_tokens']} val bytes", flush=True)

    common = dict(data=data, batch_size=a.batch_size, seq_len=a.seq_len, lr=a.lr, warmup_steps=a.warmup,
                  eval_iters=a.eval_iters, eval_seed=a.eval_seed, log_interval=5, dropout=0.0)
    shape = WORK / "shape-8L"
    node("synth", "--family", "gpt2", "--layers", LAYERS, "--hidden", HIDDEN, "--heads", HEADS, "--vocab", VOCAB,
         "--context", CONTEXT, "--seed", 0, "--out", shape, "--force")

    # (a) reference from scratch (one: it is the target every seed is measured against)
    print(f"(a) reference: {LAYERS} layers from scratch, {a.ref_steps} steps ...", flush=True)
    s, ev, dt = train(WORK / "ref", ref=shape, init="scratch-full", steps_per_round=a.ref_steps, max_rounds=1,
                      target_val_loss=0, eval_interval=2 * a.eval_interval, **common)
    ref = Path(s["final_checkpoint"])
    target = s["final_val_loss"]
    ref_run = dict(summary=s, events=ev, seconds=dt, init_dir=WORK / "ref" / "init" / f"round-1-{LAYERS}L")
    print(f"    val loss {target:.4f} ({dt:.0f} s)", flush=True)

    seeds = [1337 + i for i in range(a.seeds)]
    by_seed = {}
    for seed in seeds:
        runs = by_seed[seed] = {}
        w = WORK / f"seed-{seed}"
        c = dict(common, seed=seed)
        # (b) Inheritune
        print(f"[seed {seed}] (b) Inheritune: first {N_INHERIT} layers, {a.steps} steps per round, grow by 1 ...",
              flush=True)
        s, ev, dt = train(w / "inheritune", ref=ref, init="inherit", layers=N_INHERIT, steps_per_round=a.steps,
                          grow_by=1, max_rounds=a.max_rounds, eval_interval=a.eval_interval, **c)
        runs["inheritune"] = dict(summary=s, events=ev, seconds=dt,
                                  init_dir=w / "inheritune" / "init" / f"round-1-{N_INHERIT}L")
        assert abs(s["target"] - target) < 1e-9, (s["target"], target)  # same windows, same model: the same loss
        n_final, steps_total = s["layers"], s["steps"]
        print(f"    {s['num_rounds']} round(s), {n_final} layers, val loss {s['final_val_loss']:.4f}, "
              f"{'reached' if s['reached'] else 'not reached'} ({dt:.0f} s)", flush=True)
        # same-size, same-steps baselines: one round each, the budget Inheritune used in total
        same = dict(steps_per_round=steps_total, max_rounds=1, eval_interval=a.eval_interval, target_val_loss=target,
                    **c)
        plan = {"random": dict(init="random", layers=n_final), "hybrid-stack": dict(init="hybrid-stack", layers=N_INHERIT),
                "half-width": dict(init="half-width"), "kd": dict(init="kd", layers=n_final),
                "kd-distilbert": dict(init="kd-distilbert", layers=N_INHERIT)}
        for key in chosen:
            if key == "stack":
                # stacking: random 2 layers, T/2 steps, duplicate the blocks to 4 layers, T/2 steps
                half = a.steps // 2
                print(f"[seed {seed}] stacking: 2 random layers {half} steps -> 4 -> {a.steps - half} steps ...",
                      flush=True)
                s1, ev1, dt1 = train(w / "stack-2L", ref=ref, init="random", layers=N_INHERIT // 2,
                                     steps_per_round=half, max_rounds=1, eval_interval=a.eval_interval,
                                     target_val_loss=target, **c)
                stacked = w / "stack-4L-init"
                node("stack", s1["final_checkpoint"], "--out", stacked, "--force")
                s2, ev2, dt2 = train(w / "stack-4L", ref=stacked, init="inherit", layers=N_INHERIT,
                                     steps_per_round=a.steps - half, max_rounds=1, eval_interval=a.eval_interval,
                                     target_val_loss=target, **dict(c, seed=seed + 100000))  # fresh windows
                for e in ev2:  # phase 2 continues phase 1
                    e["step"] += half
                    e["tokens"] += s1["tokens"]
                    e["round"] = 2
                s2 = dict(s2, steps=s2["steps"] + half, tokens=s2["tokens"] + s1["tokens"])
                runs["stack"] = dict(summary=s2, events=ev1 + ev2, seconds=dt1 + dt2, phase1=s1, stacked=stacked,
                                     init_dir=w / "stack-2L" / "init" / f"round-1-{N_INHERIT // 2}L")
            else:
                print(f"[seed {seed}] {key}: {steps_total} steps ...", flush=True)
                s, ev, dt = train(w / key, ref=ref, **plan[key], **same)
                runs[key] = dict(summary=s, events=ev, seconds=dt,
                                 init_dir=w / key / "init" / f"round-1-{s['rounds'][0]['layers']}L")
            print(f"    val loss {runs[key]['summary']['final_val_loss']:.4f} ({runs[key]['seconds']:.0f} s)", flush=True)

    first = by_seed[seeds[0]]
    # step-0 val loss of every run's initial model (the trainer evaluates after training only), first seed
    init_loss = {"ref": eval_val(ref_run["init_dir"], data, a)}
    init_loss.update({k: eval_val(r["init_dir"], data, a) for k, r in first.items()})
    stacked_loss = eval_val(first["stack"]["stacked"], data, a) if "stack" in first else None

    # analyze: lazy layers of the reference and of the first seed's final Inheritune model
    analyze = {"reference": ["(not run: --no-analyze)"], "inheritune": ["(not run: --no-analyze)"]}
    for key, ck in (("reference", ref), ("inheritune", Path(first["inheritune"]["summary"]["final_checkpoint"]))):
        if a.no_analyze:
            break
        js = WORK / f"analyze-{key}.json"
        out = node("analyze", ck, "--tokens", data / "val.bin", "--seq-len", a.seq_len, "--batch", 8, "--ep", "cpu",
                   "--json", js)
        analyze[key] = [l.rstrip().replace(str(ROOT) + "/", "") for l in out.splitlines()
                        if l.strip() and "Warning" not in l and " at operator()" not in l]

    # ---------------------------------------------------------------- outputs
    keys = ["inheritune"] + [k for k in BASELINES if k in first]
    n_final0 = first["inheritune"]["summary"]["layers"]
    labels = {"ref": f"Reference ({LAYERS}L, from scratch)", "inheritune": "Inheritune",
              "random": f"Random init ({n_final0}L)", "stack": "Stacking (2L → 4L)",
              "hybrid-stack": f"Hybrid stacking (ref 0–{N_INHERIT // 2 - 1} → {N_INHERIT}L)",
              "half-width": f"Half width ({LAYERS}L, d={HIDDEN // 2})", "kd": f"Logit KD (random {n_final0}L)",
              "kd-distilbert": f"DistilBERT KD (ref 0,2,..,{2 * N_INHERIT - 2})"}
    colors = {"ref": "#222222", "inheritune": "#1f77b4", "random": "#ff7f0e", "stack": "#2ca02c",
              "hybrid-stack": "#9467bd", "half-width": "#8c564b", "kd": "#e377c2", "kd-distilbert": "#17becf"}
    with open(docs / "metrics.csv", "w", newline="") as f:
        cols = ["run", "seed", "event", "time", "step", "round", "layers", "tokens", "train_loss", "val_loss", "target",
                "lr", "tokens_per_s", "grad_norm", "qk_grad_norms"]
        wr = csv.writer(f)
        wr.writerow(cols)
        all_runs = [("ref", None, ref_run)] + [(k, sd, r) for sd in seeds for k, r in by_seed[sd].items()]
        for k, sd, r in all_runs:
            if k in init_loss and sd in (None, seeds[0]):
                wr.writerow([k, sd or "", "init", "", 0, 1,
                             r["summary"]["rounds"][0]["layers"] if k != "stack" else N_INHERIT // 2,
                             0, "", f"{init_loss[k]:.6f}", "", "", "", "", ""])
            for e in r["events"]:
                if e["event"] not in ("step", "eval", "grow", "done"):
                    continue
                row = []
                for c_ in cols[2:]:
                    v = e.get(c_, "")
                    if c_ == "qk_grad_norms" and isinstance(v, list):
                        v = ";".join(f"{x:.4g}" for x in v)
                    elif c_ == "time" and isinstance(v, (int, float)):
                        v = f"{v:.3f}"
                    elif isinstance(v, float):
                        v = f"{v:.6g}"
                    row.append("" if v is None else v)
                wr.writerow([k, sd or ""] + row)

    def curve(k):
        """Val loss at each eval step, mean over the seeds that evaluated at that step (all of them for fixed-size
        runs), with the first seed's step-0 loss."""
        if k == "ref":
            return [(0, init_loss["ref"])] + [(e["step"], e["val_loss"]) for e in ref_run["events"]
                                              if e["event"] == "eval"]
        at = {}
        for sd in seeds:
            for e in by_seed[sd][k]["events"]:
                if e["event"] == "eval":
                    at.setdefault(e["step"], []).append(e["val_loss"])
        return [(0, init_loss[k])] + [(st, mean_std(v)[0]) for st, v in sorted(at.items()) if len(v) == len(seeds)]

    series = [(labels[k], colors[k], curve(k), False) for k in ["ref"] + keys]
    svg_plot(series, target, docs / "loss.svg",
             f"Python stdlib bytes: val loss vs steps, mean of {len(seeds)} seed(s) (GPT-2 d={HIDDEN}, ref {LAYERS}L)")

    def first_at_target(events):
        return next((e["step"] for e in events if e["event"] == "eval" and e["val_loss"] <= target), None)

    def col(k, f):
        return [f(by_seed[sd][k]) for sd in seeds]

    table = [f"| model | layers | params | steps | tokens | val loss (mean ± std, {len(seeds)} seeds) | reached target "
             f"(seeds) | first eval at target (step, mean) | wall (s, mean) |",
             "|---|---:|---:|---|---:|---:|---|---:|---:|"]
    rs = ref_run["summary"]
    table.append(f"| {labels['ref']} | {LAYERS} | {n_params(ref) / 1e6:.2f} M | {rs['steps']} | {rs['tokens'] / 1e6:.2f} M "
                 f"| {target:.4f} (one run) | (target) | — | {ref_run['seconds']:.0f} |")
    stats = {}
    for k in keys:
        fin = col(k, lambda r: r["summary"]["final_val_loss"])
        reached = sum(v <= target for v in fin)
        firsts = [x for x in col(k, lambda r: first_at_target(r["events"])) if x is not None]
        layers = sorted(set(col(k, lambda r: r["summary"]["layers"])))
        steps_ = sorted(set(col(k, lambda r: r["summary"]["steps"])))
        params = n_params(Path(first[k]["summary"]["final_checkpoint"]))
        stats[k] = dict(final=fin, mean=mean_std(fin)[0], std=mean_std(fin)[1], reached=reached, params=params)
        name = f"**{labels[k]}**" if k == "inheritune" else labels[k]
        table.append(f"| {name} | {'/'.join(map(str, layers))} | {params / 1e6:.2f} M | {'/'.join(map(str, steps_))} | "
                     f"{mean_std(col(k, lambda r: r['summary']['tokens']))[0] / 1e6:.2f} M | {fmt_ms(fin)} | "
                     f"{reached}/{len(seeds)} | {f'{mean_std(firsts)[0]:.0f}' if firsts else '—'} | "
                     f"{mean_std(col(k, lambda r: r['seconds']))[0]:.0f} |")

    wall = time.time() - t_all
    res = {"corpus": corpus, "target": target, "seeds": seeds, "init_val_loss_first_seed": init_loss,
           "stacked_val_loss_before_phase2": stacked_loss,
           "reference": ref_run["summary"],
           "summaries": {str(sd): {k: r["summary"] for k, r in by_seed[sd].items()} for sd in seeds},
           "final_val_loss": {k: v["final"] for k, v in stats.items()}, "analyze": analyze, "wall_s": wall,
           "args": vars(a), "torch": torch.__version__, "threads": torch.get_num_threads()}
    (docs / "results.json").write_text(json.dumps(res, indent=2, default=str).replace(str(ROOT) + "/", "") + "\n")

    si = stats["inheritune"]
    findings = [f"At step 0 (seed {seeds[0]}) the inherited {N_INHERIT}-layer model is at {init_loss['inheritune']:.3f} "
                f"nats/byte, the reference at {target:.3f}: dropping the top {LAYERS - N_INHERIT} layers costs "
                f"{init_loss['inheritune'] - target:+.3f}" +
                (f"; a random start is at {init_loss['random']:.3f}" if "random" in init_loss else "") + "."]
    findings.append(f"Inheritune ends at {fmt_ms(si['final'])} and reaches the reference's val loss in "
                    f"{si['reached']} of {len(seeds)} seeds.")
    better = [k for k in keys[1:] if stats[k]["mean"] < si["mean"]]
    for k in keys[1:]:
        d = stats[k]["mean"] - si["mean"]
        sep = abs(d) > (stats[k]["std"] + si["std"])
        findings.append(f"{labels[k]}: {fmt_ms(stats[k]['final'])}, {abs(d):.4f} {'above' if d > 0 else 'below'} "
                        f"Inheritune's mean ({'more' if sep else 'less'} than the two std's together"
                        f"{'' if sep else ': not separated at this many seeds'}); reached the target in "
                        f"{stats[k]['reached']}/{len(seeds)} seeds.")
    if better:
        findings.append("**A baseline beats Inheritune here:** " + ", ".join(labels[k] for k in better) +
                        " ends with a lower mean val loss.")
    else:
        findings.append("No baseline ends with a lower mean val loss than Inheritune in this miniature.")
    if stacked_loss is not None:
        findings.append(f"Stacking's model right after `cli.js stack` (seed {seeds[0]}) is at {stacked_loss:.4f}.")
    readme = f"""# Experiment: Inheritune in miniature (Table 1 of arXiv 2404.08634)

Reproduce with `.venv/bin/python scripts/experiment.py` (offline, {os.cpu_count()} CPU cores, {wall / 60:.1f} min here;
torch {torch.__version__} fp32, {torch.get_num_threads()} threads). All training is done by the project's trainer
(`python -m inheritune_trainer train`), all surgery by `node dist/cli.js` (`synth`, `inherit`, `init-random`, `stack`,
`half-width`, `analyze`).

**Corpus.** The running Python's own standard library: the {corpus['files']} top-level `*.py` files of
`{sysconfig.get_paths()['stdlib']}` (Python {sys.version.split()[0]}), byte-level (vocab 256); every 10th file by name is the
validation split ({corpus['val_files']} files), so no file is in both: {corpus['train_tokens'] / 1e6:.2f} M train /
{corpus['val_tokens'] / 1e6:.2f} M val bytes (sha256 train `{corpus['sha256_train'][:16]}…`, val `{corpus['sha256_val'][:16]}…`).
Why not the trainer's `synth` corpus: it is an order-2 Markov chain, so a single attention layer can reach its entropy
floor and depth barely matters. Real text keeps rewarding depth and training, which is the regime the paper is about.

**Setup.** GPT-2 blocks, d = {HIDDEN}, {HEADS} heads, context {CONTEXT}, dropout 0; batch {a.batch_size} × {a.seq_len} bytes;
AdamW (lr {a.lr:g}, betas 0.9/0.95, weight decay 0.1), {a.warmup} warm-up steps then cosine to lr/10 (restarted each
round), clip 1.0. Val loss = mean over the same {a.eval_iters * a.batch_size} fixed val windows for every model (the
trainer's eval set), in nats per byte. Seeds {', '.join(map(str, seeds))} (data order, initialisation and surgery seed):
every model below is trained once per seed, with the same data order as Inheritune for that seed.

* (a) **Reference**: {LAYERS} layers from scratch (`--init scratch-full`), {a.ref_steps} steps, one run. Its val loss
  **{target:.4f}** is the target.
* (b) **Inheritune** (`--init inherit --layers {N_INHERIT} --grow-by 1 --max-rounds {a.max_rounds}`): the first {N_INHERIT}
  layers of the trained reference, {a.steps} steps per round, re-inherited one layer deeper while above the target.
* Every baseline gets the steps Inheritune used in total for that seed (one round):
  **random init** of Inheritune's final size; **stacking** (Gong et al. 2019: random 2 layers for {a.steps // 2} steps,
  `cli.js stack` to 4, {a.steps - a.steps // 2} more — the budget of one Inheritune round); **hybrid stacking**
  (`--init hybrid-stack`: reference blocks 0–{N_INHERIT // 2 - 1} stacked to {N_INHERIT}); **half width** (`--init half-width`:
  the reference's {LAYERS} layers at d = {HIDDEN // 2}, {HEADS // 2} heads, from its leading slices); **logit KD** (`--init kd`:
  random init of Inheritune's final size, T = 2, α = 0.5, teacher = the reference); **DistilBERT KD**
  (`--init kd-distilbert`: reference blocks 0, 2, 4, 6, soft + LM + hidden cosine).

## Results

{chr(10).join(table)}

Initial val loss (step 0, seed {seeds[0]}): {', '.join(f"{labels[k]} {v:.3f}" for k, v in init_loss.items())}.
"Reached target" = final val loss ≤ the reference's; "first eval at target" = the first evaluation
(every {a.eval_interval} steps, and at each round end) at or below it, mean over the seeds that reached it.

![val loss vs steps](loss.svg)

(Mean over seeds at each eval step; the step-0 points of the randomly initialised models, ≈ 5.3, are above the plotted range.)

Raw metrics: [metrics.csv](metrics.csv) (every `step`/`eval`/`grow`/`done` line of every run and seed, plus each
model's step-0 val loss as `init`); summaries: [results.json](results.json).

## Lazy layers (`node dist/cli.js analyze CKPT --tokens val.bin --seq-len {a.seq_len} --batch 8`)

Reference ({LAYERS}L, trained):

```
{chr(10).join(analyze['reference'])}
```

Inheritune, final model (seed {seeds[0]}, {n_final0}L, trained):

```
{chr(10).join(analyze['inheritune'])}
```

## Reading it

{chr(10).join('* ' + x for x in findings)}

A miniature: a {a.ref_steps}-step reference, byte-level tokens, {len(seeds)} seeds, one corpus. The reference is far from
converged, unlike the paper's (GPT-2 large, fully pre-trained), so "reaching the reference" is easier here than there;
what carries over is the comparison at equal size and equal steps.
"""
    (docs / "README.md").write_text(readme)
    print("\n".join(table))
    print(f"\nwrote {docs}/README.md, loss.svg, metrics.csv, results.json ({wall / 60:.1f} min)")


if __name__ == "__main__":
    main()
