"""Command line: `python -m inheritune_trainer {train,prepare,synth} ...`."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from .errors import Interrupted, TrainerError


def _positive(v: str) -> int:
    i = int(v)
    if i < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (got {v})")
    return i


def _nonneg(v: str) -> int:
    i = int(v)
    if i < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (got {v})")
    return i


def build_parser() -> argparse.ArgumentParser:
    prog = "inheritune-trainer" if os.path.basename(sys.argv[0]) == "inheritune-trainer" else "python -m inheritune_trainer"
    p = argparse.ArgumentParser(
        prog=prog,
        description="Inheritune trainer (Sanyal et al., arXiv 2404.08634): inherit, train, grow until the "
                    "validation loss reaches the reference's.")
    sub = p.add_subparsers(dest="command", metavar="{train,prepare,synth}")
    sub.required = True

    t = sub.add_parser("train", help="run Algorithm 1 (inherit -> train -> eval -> grow ...)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = t.add_argument_group("model and data")
    g.add_argument("--ref", required=True, help="reference Hugging Face checkpoint folder (safetensors)")
    g.add_argument("--data", required=True, nargs="+", metavar="PATH",
                   help="a folder with train.bin and val.bin, or text: files or folders of .txt, .md, .jsonl "
                        "(a \"text\" field per line) or .parquet (a text column), tokenized with the reference's "
                        "tokenizer into <out>/data and reused while the files and tokenizer are unchanged")
    g.add_argument("--val-fraction", type=float, default=0.1,
                   help="text data: the share of each file's tokens kept for validation")
    g.add_argument("--out", required=True, help="output folder (round checkpoints, metrics.jsonl, summary.json)")
    g.add_argument("--init", choices=["inherit", "random", "scratch-full", "hybrid-stack", "half-width", "kd",
                                      "kd-distilbert"], default="inherit",
                   help="inherit: first n reference layers (Inheritune); random: same size, from scratch; "
                        "scratch-full: full reference depth from scratch; hybrid-stack: reference blocks 0..n/2-1 "
                        "stacked to n; half-width: reference depth at half width (leading slices); kd: random n "
                        "layers distilled from the reference; kd-distilbert: reference blocks 0,2,4,.. distilled "
                        "(soft + LM + hidden cosine)")
    g.add_argument("--layers", type=_positive, default=None, help="n, layers of the first round (default floor(k/2))")
    g.add_argument("--grow-by", type=_positive, default=1, help="G, layers added per growth")
    g.add_argument("--grow-mode", choices=["reinherit", "extend"], default="reinherit",
                   help="reinherit: fresh (n+G)-layer model from the reference (paper); "
                        "extend: keep trained blocks, append reference blocks n..n+G-1")
    g.add_argument("--max-rounds", type=_positive, default=5, help="at most this many training rounds")
    g.add_argument("--target-val-loss", type=float, default=None,
                   help="stop growing once val loss <= this (default: the reference's own val loss)")
    g.add_argument("--dropout", type=float, default=None,
                   help="override the dropout probabilities in the model config (default: keep)")
    g.add_argument("--preset", default="paper", help="surgery preset passed to `cli.js inherit`")
    g.add_argument("--cli", default=None, help="path to the project CLI (default <repo>/dist/cli.js)")
    # Not `--node`: torchrun's parser would read it as an abbreviation of its --node-rank (see launch.py).
    g.add_argument("--node-bin", dest="node", default="node", help="Node.js executable used to run the CLI")
    g.add_argument("--keep-init", action="store_true",
                   help="keep the surgery outputs in <out>/init/ (deleted after loading by default)")

    o = t.add_argument_group("optimisation")
    o.add_argument("--steps-per-round", type=_nonneg, default=1000, help="T, optimizer steps per round")
    o.add_argument("--lr", type=float, default=6e-4, help="peak learning rate")
    o.add_argument("--min-lr", type=float, default=None, help="cosine floor (default lr/10)")
    o.add_argument("--warmup-steps", type=_nonneg, default=None,
                   help="linear warmup steps, restarted every round (default min(100, steps-per-round / 10); a value "
                        "longer than the round is cut to a tenth of it, with a warning)")
    o.add_argument("--batch-size", type=_positive, default=12, help="sequences per micro-batch per process")
    o.add_argument("--grad-accum", type=_positive, default=1, help="micro-batches per optimizer step")
    o.add_argument("--seq-len", type=_positive, default=None, help="tokens per sequence (default min(1024, context))")
    o.add_argument("--weight-decay", type=float, default=0.1, help="AdamW weight decay (>=2-D params only)")
    o.add_argument("--beta1", type=float, default=0.9)
    o.add_argument("--beta2", type=float, default=0.95)
    o.add_argument("--grad-clip", type=float, default=1.0, help="max global grad norm (0: no clipping)")
    o.add_argument("--seed", type=int, default=1337)
    o.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto",
                   help="auto: bf16 autocast on CUDA when supported, fp32 on CPU")
    o.add_argument("--compile", action="store_true", help="torch.compile the model (torch >= 2 only)")
    o.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")

    from .distill import add_args as add_distill_args
    from .strategy import add_args as add_strategy_args

    add_distill_args(t)
    add_strategy_args(t)

    e = t.add_argument_group("evaluation, logging, resume")
    e.add_argument("--eval-interval", type=_nonneg, default=250,
                   help="evaluate (and save resume state) every this many steps of a round; always at round end")
    e.add_argument("--eval-iters", type=_positive, default=50, help="eval batches per split (each of batch-size x world-size fixed windows)")
    e.add_argument("--eval-seed", type=int, default=1337, help="seed of the fixed evaluation windows")
    e.add_argument("--log-interval", type=_positive, default=1, help="write a step event every this many steps")
    e.add_argument("--resume", action="store_true", help="continue from <out>/resume/")

    pr = sub.add_parser("prepare", help="tokenize text files into train.bin/val.bin",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    pr.add_argument("--tokenizer", required=True, help="checkpoint folder with tokenizer files")
    pr.add_argument("--input", nargs="+", required=True, help="text files")
    pr.add_argument("--out", required=True, help="data folder to write")
    pr.add_argument("--val-fraction", type=float, default=0.1)
    pr.add_argument("--no-eos", action="store_true", help="do not append EOS after each file")

    sy = sub.add_parser("synth", help="write a synthetic corpus (seeded order-2 Markov chain)",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sy.add_argument("--out", required=True)
    sy.add_argument("--vocab-size", type=_positive, default=256)
    sy.add_argument("--tokens", type=_positive, default=1_000_000, help="total tokens (train + val)")
    sy.add_argument("--val-fraction", type=float, default=0.1)
    sy.add_argument("--seed", type=int, default=0)
    sy.add_argument("--branching", type=_positive, default=4, help="candidate next tokens per previous token")
    sy.add_argument("--doc-len", type=_positive, default=512)
    return p


def quiet_libraries() -> None:
    """The task terminal shows our lines only: no Hugging Face download/loading progress bars (tqdm, which would
    spill carriage-return frames into the output), no tokenizers fork warning. Warnings still print."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "synth":
        quiet_libraries()
    try:
        if args.command == "synth":
            from .errors import require

            require("numpy")
            from .data import synth

            meta = synth(args.out, vocab_size=args.vocab_size, tokens=args.tokens, val_fraction=args.val_fraction,
                         seed=args.seed, branching=args.branching, doc_len=args.doc_len)
            print(f"synth: wrote {args.out}: {meta['train_tokens']} train / {meta['val_tokens']} val tokens, "
                  f"vocab {meta['vocab_size']}")
            return 0
        if args.command == "prepare":
            from .errors import require

            require("numpy")
            from .data import prepare

            meta = prepare(args.tokenizer, args.input, args.out, val_fraction=args.val_fraction,
                           append_eos=not args.no_eos)
            print(f"prepare: wrote {args.out}: {meta['train_tokens']} train / {meta['val_tokens']} val tokens "
                  f"({meta['dtype']}, vocab {meta['vocab_size']})")
            return 0
        from .errors import require

        require("numpy", "torch", "transformers", "safetensors")
        from .train import run

        return run(args)
    except Interrupted as e:
        return e.exit_code
    except TrainerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
