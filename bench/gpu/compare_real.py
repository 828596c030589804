#!/usr/bin/env python3
"""One row of bench/gpu/run.sh's real-model table: an `inheritune analyze --json` report against the PyTorch route's
JSON (bench/torch_route_real.py): k* and m* per head identical? With OURS = "-", the PyTorch route's own row.
Usage: compare_real.py OURS.json|- TORCH.json T B MODE LABEL WALL_S
"""
import json
import sys


def main():
    ours_path, torch_path, T, B, mode, label, wall = sys.argv[1:8]
    pt = json.load(open(torch_path))
    if ours_path == "-":
        p = pt["phases"]
        phases = ", ".join(f"{k} {v:.2f}" for k, v in p.items() if k != "total")
        print(f"| {T} | {B} | {mode} | {label} on {pt.get('deviceName', pt.get('device'))} | {p['total']:.2f} | {phases} | (reference) |")
        return
    ours = json.load(open(ours_path))
    diffs = [f"L{l['index']}H{i}: k* {h['kStar']} vs {p['kStar']}, m* {h['mStar']} vs {p['mStar']}"
             for l, pl in zip(ours["layers"], pt["layers"]) for i, (h, p) in enumerate(zip(l["heads"], pl))
             if abs(h["kStar"] - p["kStar"]) > 1e-9 or abs(h["mStar"] - p["mStar"]) > 1e-9]
    heads = sum(len(l["heads"]) for l in ours["layers"])
    same = not diffs and heads == sum(len(pl) for pl in pt["layers"])
    t = ours["timings"]
    phases = ", ".join(f"{k.removesuffix('Ms')} {v / 1000:.2f}" for k, v in t.items() if k != "totalMs")
    adapter = (ours["executionProvider"].get("adapter") or {}).get("description", "")
    verdict = f"identical ({heads} heads)" if same else f"DIFFER on {len(diffs)}: {'; '.join(diffs[:4])}"
    print(f"| {T} | {B} | {mode} | {label}{f' on {adapter}' if adapter else ''} | {float(wall):.2f} | {phases} | {verdict} |")


if __name__ == "__main__":
    main()
