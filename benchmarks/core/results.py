"""A result: a JSON file under ``benchmarks/results/`` whose header says where and on
what it was measured (machine, date, commit, versions), written atomically."""

import json
import os
import platform
import subprocess
from datetime import date
from pathlib import Path
from typing import Dict

import torch

import espnet
from espnet_sniper.fileio import atomic_write_text

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"


def commit() -> str:
    """HEAD, marked +dirty when tracked files other than results differ from it (a
    benchmark that rewrites its own results must not call its code dirty)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                    ":(exclude)benchmarks/results")
        return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(name: str) -> Dict:
    """The header of every result (and of every part measured on its own)."""
    return {
        "benchmark": name,
        "date": date.today().isoformat(),
        "commit": commit(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(),
                    "device": torch.cuda.get_device_name() if torch.cuda.is_available()
                    else "cpu"},
        "versions": {"torch": torch.__version__, "espnet": espnet.__version__,
                     "python": platform.python_version()},
    }


def write_result(path: Path, result: Dict, indent: int = 1) -> None:
    """``result`` as JSON at ``path``, atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=indent) + "\n")


def load_result(path: Path) -> Dict:
    return json.loads(path.read_text())
