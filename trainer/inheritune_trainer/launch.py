"""`python -m inheritune_trainer.launch [torchrun options] -m inheritune_trainer train ...`

torch.distributed.run (torchrun) with three repairs, so that `inheritune train --devices K` starts on every supported
stack. It is what the project CLI and the VS Code task launch; plain `torchrun` works too where it is not broken.

1. torch 1.13 on Python >= 3.11 (Debian's torch): `Std.from_str("0")` returns None because iterating an IntFlag no
   longer yields the zero member, and the launcher then dies on `None.get` before any worker starts. The default
   `--redirects 0 --tee 0` is what fails, so passing other values only hides it; we replace `from_str` with one that
   builds the flag by value (`Std(int(v))`, what torch 2.x does), only where the original is broken.
2. Option abbreviation is off for the launcher's own parser: argparse otherwise reads a worker flag such as `--node`
   as an abbreviation of `--node-rank`/`--node_rank` and stops ("ambiguous option") even though it comes after the
   module name. The trainer's flags are also named so that none is a prefix of a launcher flag (tested).
3. `--standalone` on torch 1.x rendezvouses on the fixed port 29400, so two runs on one machine collide; we give it a
   free port (torch 2.x already asks the OS for one).
"""
from __future__ import annotations

import re
import socket
import sys
from typing import List, Optional


def _torch_major() -> int:
    import torch

    try:
        return int(torch.__version__.split(".")[0])
    except ValueError:
        return 0


def repair_std_from_str() -> bool:
    """Install a by-value `Std.from_str` where the installed one cannot parse "0". Returns True when it did."""
    from torch.distributed.elastic.multiprocessing import api

    Std = api.Std
    try:
        if Std.from_str("0") == Std.NONE and Std.from_str("0:3,1:0") == {0: Std.ALL, 1: Std.NONE}:
            return False
    except Exception:  # noqa: BLE001 - any failure means the original is unusable
        pass

    def from_str(cls, vm: str):
        if re.fullmatch(r"[0-3]", vm):
            return cls(int(vm))
        if re.fullmatch(r"(\d:[0-3],)*(\d:[0-3])", vm):
            return {int(i): cls(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
        raise ValueError(f"{vm} does not match <[0-3]> or <(\\d:[0-3],)*\\d:[0-3]>")

    Std.from_str = classmethod(from_str)
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse(argv: List[str]):
    from torch.distributed.run import get_args_parser

    parser = get_args_parser()
    parser.allow_abbrev = False
    parser.prog = "python -m inheritune_trainer.launch"
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    from torch.distributed.elastic.multiprocessing.errors import record
    from torch.distributed.run import run

    repair_std_from_str()
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.standalone and _torch_major() < 2:
        # run() overwrites rdzv_endpoint with localhost:29400 when standalone; do what it does, on a free port.
        args.standalone = False
        args.rdzv_backend = "c10d"
        args.rdzv_endpoint = f"localhost:{_free_port()}"
        import uuid

        args.rdzv_id = str(uuid.uuid4())
    record(run)(args)


if __name__ == "__main__":
    main()
