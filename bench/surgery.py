#!/usr/bin/env python3
"""Benchmark: inherit 12 of 24 layers of a GPT-2-medium-shaped fp32 checkpoint (d = 1024, ~1.4 GB).

In the same run it times, on the same bytes:
  * ours      `inheritune inherit REF --layers 12` (streams byte ranges, fsyncs, renames)
  * floor     `cat` of the same output bytes into a new file, then `sync` of that file (the I/O floor)
  * hf        transformers: from_pretrained, cut the layer list, save_pretrained (what a user would otherwise do)
and the peak RSS of each (GNU time). Prints a Markdown table; `--write` also replaces the section in RESULTS.md.

Usage: .venv/bin/python bench/surgery.py [--repeat 3] [--write]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "dist" / "cli.js"
DATA = ROOT / "bench" / ".data"

HF_SCRIPT = r"""
import sys, torch
from transformers import AutoModelForCausalLM
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = AutoModelForCausalLM.from_pretrained(src, torch_dtype=torch.float32)
m.transformer.h = torch.nn.ModuleList(list(m.transformer.h)[:n])
m.config.n_layer = n
m.save_pretrained(out, safe_serialization=True)
"""


def timed(cmd, **kw):
    """(wall seconds, peak RSS MiB) of a command, via GNU time; a failing command stops the benchmark."""
    t = tempfile.NamedTemporaryFile(delete=False)
    t.close()
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name, *cmd], **kw)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({r.returncode}): {getattr(r, 'stderr', '') or ''}")
    rss_kib = int(Path(t.name).read_text().strip().splitlines()[-1])
    os.unlink(t.name)
    return wall, rss_kib / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if not CLI.exists():
        subprocess.run(["node", "esbuild.mjs"], cwd=ROOT, check=True)
    DATA.mkdir(parents=True, exist_ok=True)
    ref = DATA / "gpt2-medium-shaped"
    if not (ref / "model.safetensors").exists():
        print("generating the reference (24 layers, d = 1024, vocab 50257, fp32) ...", flush=True)
        subprocess.run(["node", str(CLI), "synth", "--family", "gpt2", "--layers", "24", "--hidden", "1024", "--heads", "16",
                        "--vocab", "50257", "--context", "1024", "--seed", "1", "--out", str(ref), "--force"], check=True)
    ref_bytes = (ref / "model.safetensors").stat().st_size
    work = Path(tempfile.mkdtemp(dir=DATA))
    # Warm the page cache for every contender alike.
    subprocess.run(["cat", str(ref / "model.safetensors")], stdout=subprocess.DEVNULL, check=True)
    rows = {"ours": [], "floor": [], "hf": []}
    try:
        for i in range(args.repeat):
            out = work / f"ours-{i}"
            rows["ours"].append(timed(["node", str(CLI), "inherit", str(ref), "--layers", "12", "--out", str(out)], stdout=subprocess.DEVNULL))
            out_file = out / "model.safetensors"
            floor_dst = work / f"floor-{i}.safetensors"
            rows["floor"].append(timed(["sh", "-c", f'cat "{out_file}" > "{floor_dst}" && sync "{floor_dst}"']))
            hf_out = work / f"hf-{i}"
            rows["hf"].append(timed([sys.executable, "-c", HF_SCRIPT, str(ref), str(hf_out), "12"], stderr=subprocess.DEVNULL))
            out_bytes = out_file.stat().st_size
            shutil.rmtree(out)
            shutil.rmtree(hf_out)
            floor_dst.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    best = {k: min(v, key=lambda r: r[0]) for k, v in rows.items()}
    peak = {k: max(r[1] for r in v) for k, v in rows.items()}
    lines = [
        "## Surgery: inherit 12 of 24 layers (GPT-2-medium shape, fp32)",
        "",
        f"Reference {ref_bytes / 2**30:.2f} GiB; output {out_bytes / 2**30:.2f} GiB; best of {args.repeat}; page cache warm for all; "
        f"{os.cpu_count()} cores. Command: `.venv/bin/python bench/surgery.py --write`.",
        "",
        "| route | wall (s) | peak RSS (MiB) | vs ours |",
        "|---|---:|---:|---:|",
    ]
    for k, label in [("ours", "inheritune inherit"), ("floor", "cat + sync of the output bytes (I/O floor)"), ("hf", "transformers from_pretrained → cut → save_pretrained")]:
        lines.append(f"| {label} | {best[k][0]:.2f} | {peak[k]:.0f} | {best[k][0] / best['ours'][0]:.2f}× |")
    lines += [
        "",
        f"* ours / floor = **{best['ours'][0] / best['floor'][0]:.2f}×** (target ≤ 1.5×)",
        f"* transformers / ours = **{best['hf'][0] / best['ours'][0]:.1f}×** (target ≥ 5×)",
        f"* our peak RSS = **{peak['ours']:.0f} MiB** (target < 300 MiB, independent of model size)",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        update_results("surgery", text)


def update_results(section, text):
    path = ROOT / "bench" / "RESULTS.md"
    body = path.read_text() if path.exists() else "# Benchmark results\n\nLatest output of each script in `bench/`.\n"
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    block = f"{begin}\n{text}\n{end}"
    if begin in body:
        body = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, body, flags=re.S)
    else:
        body = body.rstrip() + "\n\n" + block + "\n"
    path.write_text(body)


if __name__ == "__main__":
    main()
