"""`<out>/metrics.jsonl`: one JSON object per line, flushed per line, written by rank 0 only."""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

EVENTS = ("step", "eval", "grow", "checkpoint", "done", "error")

# Fields every line has (values may be null where not meaningful) and the extra ones per event.
COMMON_FIELDS = ("event", "time", "step", "round", "layers", "tokens")
EVENT_FIELDS = {
    "step": ("train_loss", "lr", "tokens_per_s", "grad_norm", "qk_grad_norms"),
    "eval": ("train_loss", "val_loss", "target", "round_end"),
    "grow": ("from_layers", "to_layers", "val_loss", "target", "mode"),
    "checkpoint": ("reason", "path"),
    "done": ("val_loss", "target", "reached", "summary"),
    "error": ("message",),
}


def _clean(v: Any) -> Any:
    """Non-finite floats become null so every line is strict JSON (JSON.parse-able)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


class Metrics:
    def __init__(self, path: Path, enabled: bool):
        self.path = Path(path)
        self.enabled = enabled
        self._f = None
        self.context = {"step": 0, "round": None, "layers": None, "tokens": 0}

    def open(self) -> None:
        if self.enabled and self._f is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "a", encoding="utf-8")

    def write(self, event: str, **fields: Any) -> None:
        assert event in EVENTS, event
        if not self.enabled:
            return
        self.open()
        rec = {"event": event, "time": round(time.time(), 3)}
        rec.update(self.context)
        rec.update(fields)
        self._f.write(json.dumps(_clean(rec), allow_nan=False) + "\n")
        self._f.flush()

    def offset(self) -> int:
        """Byte size of the file so far (saved with resume state)."""
        if self._f is not None:
            self._f.flush()
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate_for_resume(self, offset: int) -> None:
        """Drop what was logged after the resume point (it is about to be redone), keeping
        `checkpoint` events from that tail so the record of the interruption survives."""
        if not self.enabled or not self.path.exists():
            return
        self.close()
        data = self.path.read_bytes()
        if len(data) <= offset:
            return
        keep = [data[:offset]]
        for line in data[offset:].splitlines(keepends=True):
            try:
                if json.loads(line).get("event") == "checkpoint":
                    keep.append(line if line.endswith(b"\n") else line + b"\n")
            except ValueError:
                pass
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(b"".join(keep))
        os.replace(tmp, self.path)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
