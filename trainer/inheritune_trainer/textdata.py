"""`--data` as text: files or folders of .txt / .md / .jsonl ("text" field) / .parquet (a text column), tokenized
with the reference's tokenizer into `<out>/data/` (train.bin, val.bin, meta.json, manifest.json).

The manifest records what the tokens were made from: every input file (resolved path, size, mtime), a hash of the
tokenizer files and the split settings. A later run with the same inputs reuses the cache; any change (a file
edited, added or removed, another tokenizer, another --val-fraction) tokenizes again.

Split: each document source (a .txt/.md file, or all records of a .jsonl/.parquet file) gives its first
(1 - val_fraction) of tokens to train and the rest to val, with an EOS token after every document when the
tokenizer has one (as `prepare` does).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence

import numpy as np

from .errors import TrainerError

TEXT_SUFFIXES = (".txt", ".md", ".jsonl", ".parquet")
MANIFEST_VERSION = 1
# The files that define a Hugging Face tokenizer; their bytes make the tokenizer hash.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                   "tokenizer.model", "added_tokens.json", "vocab.txt")


def is_bin_folder(paths: Sequence[str]) -> bool:
    return len(paths) == 1 and Path(paths[0]).is_dir() and (Path(paths[0]) / "train.bin").is_file()


def text_files(paths: Sequence[str]) -> List[Path]:
    """The input files, in a stable order: given files as given, folders walked (sorted) for the text suffixes."""
    out: List[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not found:
                has_bin = (p / "val.bin").is_file() or (p / "train.bin").is_file()
                raise TrainerError(
                    f"data folder {p} has " + ("val.bin but no train.bin" if has_bin else
                                               f"neither train.bin/val.bin nor text files ({', '.join(TEXT_SUFFIXES)})")
                    + "; pass a folder with train.bin and val.bin, or text files / a folder of them")
            out.extend(found)
        elif p.is_file():
            if p.suffix.lower() not in TEXT_SUFFIXES:
                raise TrainerError(f"{p}: unsupported data file type {p.suffix or '(none)'}; "
                                   f"use {', '.join(TEXT_SUFFIXES)} or a folder with train.bin and val.bin")
            out.append(p)
        else:
            raise TrainerError(f"--data {p} does not exist")
    seen, unique = set(), []
    for f in out:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(r)
    return unique


# ------------------------------------------------------------------------------------------ readers

def read_documents(path: Path) -> Iterator[str]:
    """The documents of one file: the whole text of .txt/.md; one per record of .jsonl/.parquet."""
    suffix = path.suffix.lower()
    if suffix in (".txt", ".md"):
        yield path.read_text(encoding="utf-8", errors="replace")
    elif suffix == ".jsonl":
        yield from _read_jsonl(path)
    elif suffix == ".parquet":
        yield from _read_parquet(path)
    else:
        raise TrainerError(f"{path}: unsupported data file type {suffix}")


def _read_jsonl(path: Path) -> Iterator[str]:
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise TrainerError(f"{path}:{i}: not a JSON object ({e.msg}); each line of a .jsonl file must be "
                                   f'one object with a "text" field') from e
            text = rec.get("text") if isinstance(rec, dict) else None
            if not isinstance(text, str):
                keys = ", ".join(sorted(rec)) if isinstance(rec, dict) else type(rec).__name__
                raise TrainerError(f'{path}:{i}: no "text" string field (found: {keys}); each line of a .jsonl file '
                                   f'must be an object like {{"text": "..."}}')
            n += 1
            yield text
    if n == 0:
        raise TrainerError(f"{path}: no records (a .jsonl file needs one {{\"text\": ...}} object per line)")


def _read_parquet(path: Path) -> Iterator[str]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise TrainerError(f"{path}: reading .parquet files needs pyarrow, which this Python lacks; install it with:\n"
                           f"  {sys.executable} -m pip install pyarrow\n"
                           f"or convert the file to .jsonl (one {{\"text\": ...}} object per line)") from None
    pf = pq.ParquetFile(str(path))
    schema = pf.schema_arrow
    import pyarrow as pa

    strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    if "text" in schema.names:
        col = "text"
    elif len(strings) == 1:
        col = strings[0]
    else:
        raise TrainerError(f"{path}: no \"text\" column (string columns: {', '.join(strings) or 'none'}); "
                           f"name the text column \"text\"")
    for batch in pf.iter_batches(columns=[col], batch_size=1024):
        for v in batch.column(0).to_pylist():
            if v is not None:
                yield v


# ------------------------------------------------------------------------------------------ tokenizer

def tokenizer_hash(ref: Path) -> str:
    h = hashlib.sha256()
    found = False
    for name in TOKENIZER_FILES:
        f = ref / name
        if f.is_file():
            found = True
            h.update(name.encode() + b"\0")
            h.update(f.read_bytes())
    if not found:
        raise TrainerError(f"reference {ref} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...); text data "
                           f"is tokenized with the reference's tokenizer, so copy them next to its config.json, or "
                           f"pass a folder with train.bin and val.bin")
    return h.hexdigest()


def _file_entry(f: Path) -> dict:
    st = f.stat()
    return {"path": str(f), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def manifest_for(files: Sequence[Path], ref: Path, val_fraction: float) -> dict:
    return {"version": MANIFEST_VERSION, "files": [_file_entry(f) for f in files],
            "tokenizer": {"path": str(ref.resolve()), "sha256": tokenizer_hash(ref)},
            "split": {"val_fraction": val_fraction, "eos_between_documents": True}}


def _same_inputs(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("version", "files", "split")) and \
        a.get("tokenizer", {}).get("sha256") == b.get("tokenizer", {}).get("sha256")


def cached(cache: Path, want: dict) -> Optional[dict]:
    """The cache's manifest when it was made from exactly `want`'s inputs and its token files are whole."""
    mf = cache / "manifest.json"
    try:
        have = json.loads(mf.read_text())
    except (OSError, ValueError):
        return None
    if not _same_inputs(have, want):
        return None
    dtype = np.dtype(have.get("dtype", "uint16"))
    for split in ("train", "val"):
        f = cache / f"{split}.bin"
        if not f.is_file() or f.stat().st_size != int(have.get(f"{split}_tokens", -1)) * dtype.itemsize:
            return None
    return have


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def tokenize_to_cache(files: Sequence[Path], ref: Path, cache: Path, val_fraction: float,
                      log: Callable[[str], None] = print, manifest: Optional[dict] = None) -> dict:
    from .data import _chunks, _load_tokenizer

    if not 0 < val_fraction < 1:
        raise TrainerError(f"--val-fraction must be in (0, 1) (got {val_fraction})")
    manifest = manifest or manifest_for(files, ref, val_fraction)
    encode, eos, vocab, desc = _load_tokenizer(ref)
    total_bytes = sum(e["size"] for e in manifest["files"])
    log(f"data: tokenizing {len(files)} file(s), {_human(total_bytes)}, with the tokenizer of {ref} ({desc})")
    train_parts, val_parts = [], []
    done_bytes, t0, last = 0, time.time(), 0.0
    n_docs = 0
    for i, f in enumerate(files, 1):
        ids: List[int] = []
        for doc in read_documents(f):
            for piece in _chunks(doc):
                ids.extend(encode(piece))
            if eos is not None:
                ids.append(int(eos))
            n_docs += 1
            now = time.time()
            if now - last > 2:
                log(f"data: {f.name}: {len(ids):,} tokens so far")
                last = now
        arr = np.asarray(ids, dtype=np.int64)
        cut = int(round(len(arr) * (1 - val_fraction)))
        train_parts.append(arr[:cut])
        val_parts.append(arr[cut:])
        done_bytes += f.stat().st_size
        log(f"data: [{i}/{len(files)}] {f.name}: {len(arr):,} tokens "
            f"({100 * done_bytes / max(1, total_bytes):.0f}% of the text, {time.time() - t0:.1f}s)")
    train = np.concatenate(train_parts) if train_parts else np.zeros(0, np.int64)
    val = np.concatenate(val_parts) if val_parts else np.zeros(0, np.int64)
    hi = int(max(train.max(initial=0), val.max(initial=0), vocab - 1))
    dtype = "uint16" if hi < 65536 else "uint32"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "manifest.json").unlink(missing_ok=True)  # invalid while the token files change
    for name, arr in (("train", train), ("val", val)):
        tmp = cache / f".{name}.bin.tmp"
        arr.astype(dtype).tofile(tmp)
        os.replace(tmp, cache / f"{name}.bin")
    meta = {"dtype": dtype, "vocab_size": int(vocab), "source": "text", "tokenizer": str(ref.resolve()),
            "tokenizer_kind": desc, "eos_id": None if eos is None else int(eos), "documents": n_docs,
            "train_tokens": int(len(train)), "val_tokens": int(len(val)), "text_bytes": total_bytes}
    (cache / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    full = dict(manifest, dtype=dtype, train_tokens=int(len(train)), val_tokens=int(len(val)),
                text_bytes=total_bytes, created=time.time())
    tmp = cache / ".manifest.json.tmp"
    tmp.write_text(json.dumps(full, indent=2) + "\n")
    os.replace(tmp, cache / "manifest.json")
    log(f"data: wrote {cache}: {len(train):,} train / {len(val):,} val tokens ({dtype}, vocab {vocab})")
    return full


def prepare_text_data(paths: Sequence[str], ref: Path, cache: Path, val_fraction: float,
                      log: Callable[[str], None] = print) -> Path:
    """The token folder for `--data`: the folder itself when it holds train.bin/val.bin, else the (re)built cache."""
    if is_bin_folder(paths):
        return Path(paths[0])
    files = text_files(paths)
    want = manifest_for(files, ref, val_fraction)
    have = cached(cache, want)
    if have is not None:
        log(f"data: reusing {cache} ({have['train_tokens']:,} train / {have['val_tokens']:,} val tokens; "
            f"the {len(files)} input file(s) and the tokenizer are unchanged)")
        return cache
    tokenize_to_cache(files, ref, cache, val_fraction, log, manifest=want)
    return cache
