"""Writing a run's files: atomically, and by one process of a distributed run.

A reader sees the old file or the complete new one, never a part: each write goes to a
temporary name beside the target (so a killed process leaves at most that, never a
half-written target) and is renamed over it.
"""

import os
from pathlib import Path
from typing import Any, Callable, IO

import torch


def _atomic_write(path: Path, mode: str, write: Callable[[IO], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    _atomic_write(path, "w", lambda f: f.write(text))


def atomic_torch_save(obj: Any, path: Path) -> None:
    _atomic_write(path, "wb", lambda f: torch.save(obj, f))


def is_writer() -> bool:
    """Whether this process writes the run's files (rank 0, or the only process)."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
