"""nanoGPT-style token files (`train.bin` / `val.bin`, uint16 by default) and window sampling.

Sampling is a pure function of (seed, global step): the global batch of an optimizer step is
`batch_size * grad_accum * world_size` window offsets drawn from `default_rng([seed, 0, step])`;
micro-step m of rank r takes the slice with index `m * world_size + r`. So the global batch does
not depend on how it is split across ranks and micro-steps, and resuming at step s needs no
generator state. Evaluation uses a fixed set of `eval_iters * batch_size * world_size` windows per
split (drawn from `eval_seed`), split across ranks by stride, so every model in a run (the
reference included) is scored on exactly the same windows, however the work is split.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

import numpy as np

from .errors import TrainerError

SPLITS = ("train", "val")
_TRAIN_KEY = 0
_EVAL_KEY = 1


def _dtype_of(data_dir: Path) -> np.dtype:
    meta = data_dir / "meta.json"
    if meta.exists():
        try:
            return np.dtype(json.loads(meta.read_text()).get("dtype", "uint16"))
        except (ValueError, TypeError) as e:
            raise TrainerError(f"{meta}: cannot read dtype ({e})") from e
    return np.dtype(np.uint16)


def open_split(data_dir: str | os.PathLike, split: str, min_tokens: int = 0) -> np.memmap:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TrainerError(
            f"data directory {data_dir} does not exist; pass a folder with train.bin and val.bin, "
            f"or text files / a folder of .txt, .md, .jsonl or .parquet files (tokenized with the reference's tokenizer)"
        )
    path = data_dir / f"{split}.bin"
    if not path.is_file():
        raise TrainerError(
            f"data directory {data_dir} is missing {split}.bin (nanoGPT-style token file); pass a folder with "
            f"train.bin and val.bin, or text files / a folder of .txt, .md, .jsonl or .parquet files instead"
        )
    dtype = _dtype_of(data_dir)
    size = path.stat().st_size
    if size % dtype.itemsize:
        raise TrainerError(f"{path}: size {size} is not a multiple of {dtype.itemsize} bytes ({dtype})")
    n = size // dtype.itemsize
    if n < min_tokens:
        raise TrainerError(f"{path} has {n} tokens; need at least {min_tokens} (seq_len + 1)")
    if n == 0:
        return np.zeros(0, dtype=dtype)  # np.memmap cannot map an empty file; check_enough() explains
    return np.memmap(path, dtype=dtype, mode="r")


def _pow2_floor(n: int) -> int:
    return 1 << (max(1, n).bit_length() - 1)


def check_enough(n_train: int, n_val: int, seq_len: int, where: str, val_fraction: Optional[float] = None,
                 text_bytes: Optional[int] = None) -> None:
    """Both splits must hold one window of seq_len + 1 tokens. When they do not, the error names the fixes, computed
    from the numbers: the largest sequence length that fits, the validation share that would fit (text data), and
    how much more text is needed."""
    need = seq_len + 1
    if n_train >= need and n_val >= need:
        return
    short = [f"{name} has {n:,} tokens" for name, n in (("the train split", n_train), ("the val split", n_val))
             if n < need]
    fixes = []
    fit = min(n_train, n_val) - 1
    if fit >= 2:
        fixes.append(f"a smaller sequence length: --seq-len {_pow2_floor(fit)} (at most {fit} fits)")
    total = n_train + n_val
    if val_fraction is not None and total > 0:
        if n_val < need <= total - need:
            f = math.ceil(1000 * need / total) / 1000
            if total - int(round(total * f)) >= need:
                fixes.append(f"a larger validation share: --val-fraction {f:g} (now {val_fraction:g})")
        frac = min(val_fraction, 1 - val_fraction)
        more = max(0, math.ceil(need / frac) - total)
        if more:
            per_tok = (text_bytes / total) if text_bytes else None
            size = f" (about {math.ceil(more * per_tok / 1024):,} KB more at {per_tok:.1f} bytes per token)" if per_tok else ""
            fixes.append(f"more text: at least {more:,} more tokens{size}")
    else:
        fixes.append(f"more tokens: {need:,} or more in each of train.bin and val.bin")
    raise TrainerError(f"too little data in {where}: {' and '.join(short)}, but one window needs seq_len + 1 = "
                       f"{need:,}. Fix: " + "; or ".join(fixes))


def eval_windows_hint(n_tokens: int, seq_len: int, n_windows: int, batch: int) -> Optional[str]:
    """A note when the eval set asks for many more windows than the split has distinct ones."""
    distinct = max(1, n_tokens - seq_len)
    if n_windows <= 4 * distinct:
        return None
    iters = max(1, math.ceil(distinct / max(1, batch)))
    return (f"note: evaluation draws {n_windows:,} windows from a val split with only {distinct:,} distinct ones; "
            f"--eval-iters {iters} would score about as well, faster")


def max_token(data: np.ndarray, chunk: int = 1 << 24) -> int:
    m = 0
    for i in range(0, len(data), chunk):
        m = max(m, int(np.max(data[i : i + chunk])))
    return m


def train_offsets(seed: int, step: int, n_windows: int, n_tokens: int, seq_len: int) -> np.ndarray:
    """Start offsets of the global batch of optimizer step `step` (windows of seq_len + 1 tokens)."""
    rng = np.random.default_rng([seed, _TRAIN_KEY, step])
    return rng.integers(0, n_tokens - seq_len, size=n_windows)


def micro_slice(offsets: np.ndarray, micro: int, rank: int, world: int, batch_size: int) -> np.ndarray:
    i = micro * world + rank
    return offsets[i * batch_size : (i + 1) * batch_size]


def eval_offsets(eval_seed: int, split: str, n_windows: int, n_tokens: int, seq_len: int) -> np.ndarray:
    rng = np.random.default_rng([eval_seed, _EVAL_KEY, SPLITS.index(split)])
    return rng.integers(0, n_tokens - seq_len, size=n_windows)


def windows(data: np.ndarray, offsets: Iterable[int], seq_len: int) -> np.ndarray:
    """(len(offsets), seq_len + 1) int64 array of token windows."""
    return np.stack([np.asarray(data[o : o + seq_len + 1], dtype=np.int64) for o in offsets])


# --------------------------------------------------------------------------------------------
# synth: a seeded order-2 Markov chain with learnable structure
# --------------------------------------------------------------------------------------------

def synth(
    out: str | os.PathLike,
    vocab_size: int = 256,
    tokens: int = 1_000_000,
    val_fraction: float = 0.1,
    seed: int = 0,
    branching: int = 4,
    doc_len: int = 512,
) -> dict:
    """Write train.bin/val.bin from a seeded order-2 Markov chain.

    The candidate set of next tokens depends on the previous token (a `vocab x branching` table,
    learnable quickly: a bigram model gets ~ln(branching)); the weights over those candidates
    depend on the previous two tokens (Dirichlet(0.5), so an order-2 model does better still).
    Documents of `doc_len` tokens are generated as independent chains; the last
    `val_fraction` of documents is the validation split.
    """
    if vocab_size < 2 or vocab_size > 65536:
        raise TrainerError("--vocab-size must be in [2, 65536] (tokens are stored as uint16)")
    if not 0 < val_fraction < 1:
        raise TrainerError("--val-fraction must be in (0, 1)")
    branching = max(1, min(branching, vocab_size))
    rng = np.random.default_rng(seed)
    V = vocab_size
    n_ctx = min(V * V, 1 << 20)  # (a, b) contexts, hashed for large vocabularies
    # Zipf-like unigram over candidates so frequent tokens exist.
    zipf = 1.0 / np.arange(1, V + 1) ** 0.8
    zipf /= zipf.sum()
    perm = rng.permutation(V)
    cand = perm[rng.choice(V, size=(V, branching), p=zipf)].astype(np.int64)
    probs = rng.dirichlet(np.full(branching, 0.5), size=n_ctx)
    cum = np.cumsum(probs, axis=1)
    n_docs = max(2, -(-tokens // doc_len))
    seq = np.empty((n_docs, doc_len), dtype=np.int64)
    seq[:, 0] = rng.integers(0, V, size=n_docs)
    if doc_len > 1:
        seq[:, 1] = cand[seq[:, 0], rng.integers(0, branching, size=n_docs)]
    for t in range(2, doc_len):
        a, b = seq[:, t - 2], seq[:, t - 1]
        ctx = (a * V + b) % n_ctx
        u = rng.random(n_docs)
        j = np.minimum((u[:, None] > cum[ctx]).sum(axis=1), branching - 1)
        seq[:, t] = cand[b, j]
    n_val_docs = max(1, int(round(n_docs * val_fraction)))
    train = seq[:-n_val_docs].reshape(-1)
    val = seq[-n_val_docs:].reshape(-1)
    meta = {
        "dtype": "uint16",
        "vocab_size": V,
        "source": "synth",
        "kind": "order-2 markov",
        "seed": seed,
        "branching": branching,
        "doc_len": doc_len,
    }
    return _write(out, train, val, meta)


def _write(out: str | os.PathLike, train: np.ndarray, val: np.ndarray, meta: dict) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(meta["dtype"])
    for name, arr in (("train", train), ("val", val)):
        tmp = out / f".{name}.bin.tmp"
        np.asarray(arr, dtype=dtype).tofile(tmp)
        os.replace(tmp, out / f"{name}.bin")
    meta = dict(meta, train_tokens=int(len(train)), val_tokens=int(len(val)))
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


# --------------------------------------------------------------------------------------------
# prepare: tokenize text files with a checkpoint's tokenizer
# --------------------------------------------------------------------------------------------

def _load_tokenizer(ckpt: Path):
    """Return (encode(text) -> list[int], eos_id or None, vocab_size, description)."""
    if not ckpt.exists():
        raise TrainerError(f"tokenizer checkpoint {ckpt} does not exist")
    try:
        import transformers  # noqa: F401
    except ImportError:
        transformers = None
    if transformers is not None:
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(str(ckpt))
        except Exception as e:  # fall back to a bare tokenizer.json below
            tok_err = e
            tok = None
        if tok is not None:
            tok.model_max_length = int(1e30)  # we chunk ourselves; silence the length warning

            def encode(text: str) -> List[int]:
                return tok(text, add_special_tokens=False)["input_ids"]

            return encode, tok.eos_token_id, len(tok), f"transformers {type(tok).__name__}"
    else:
        tok_err = None
    tj = ckpt / "tokenizer.json" if ckpt.is_dir() else ckpt
    if tj.is_file():
        try:
            from tokenizers import Tokenizer
        except ImportError:
            from .errors import require

            require("transformers", "tokenizers")
        t = Tokenizer.from_file(str(tj))
        eos = None
        for cand in ("<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>"):
            i = t.token_to_id(cand)
            if i is not None:
                eos = i
                break
        return (lambda text: t.encode(text, add_special_tokens=False).ids), eos, t.get_vocab_size(), "tokenizers"
    if transformers is None:
        from .errors import require

        require("transformers")
    raise TrainerError(f"cannot load a tokenizer from {ckpt}: {tok_err}")


def _chunks(text: str, size: int = 1 << 20) -> Iterable[str]:
    """Split long text at newlines into ~size-character pieces (tokenizer-friendly)."""
    i = 0
    while i < len(text):
        j = min(len(text), i + size)
        if j < len(text):
            k = text.rfind("\n", i, j)
            if k > i:
                j = k + 1
        yield text[i:j]
        i = j


def prepare(
    tokenizer: str | os.PathLike,
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    val_fraction: float = 0.1,
    append_eos: bool = True,
) -> dict:
    """Tokenize text files into train.bin/val.bin. Each file is split: its first (1 - f) of
    tokens go to train, the rest to val; an EOS token separates files when the tokenizer has one."""
    if not 0 < val_fraction < 1:
        raise TrainerError("--val-fraction must be in (0, 1)")
    encode, eos, vocab, desc = _load_tokenizer(Path(tokenizer))
    train_parts, val_parts = [], []
    for f in inputs:
        p = Path(f)
        if not p.is_file():
            raise TrainerError(f"input file {p} does not exist")
        text = p.read_text(encoding="utf-8", errors="replace")
        ids: List[int] = []
        for piece in _chunks(text):
            ids.extend(encode(piece))
        if append_eos and eos is not None:
            ids.append(int(eos))
        arr = np.asarray(ids, dtype=np.int64)
        cut = int(round(len(arr) * (1 - val_fraction)))
        train_parts.append(arr[:cut])
        val_parts.append(arr[cut:])
    train = np.concatenate(train_parts) if train_parts else np.zeros(0, np.int64)
    val = np.concatenate(val_parts) if val_parts else np.zeros(0, np.int64)
    if len(train) == 0 or len(val) == 0:
        raise TrainerError("not enough text: the train or val split came out empty")
    hi = int(max(train.max(), val.max(), vocab - 1))
    dtype = "uint16" if hi < 65536 else "uint32"
    meta = {
        "dtype": dtype,
        "vocab_size": int(vocab),
        "source": "prepare",
        "tokenizer": str(Path(tokenizer).resolve()),
        "tokenizer_kind": desc,
        "inputs": [str(Path(f).resolve()) for f in inputs],
        "eos_id": None if eos is None else int(eos),
    }
    return _write(out, train, val, meta)
