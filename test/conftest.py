import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import torch.distributed as dist

from espnet_sniper.testing import make_tiny_data

REPO = Path(__file__).resolve().parents[1]
# test/ mirrors what it tests; whole training runs and recipe stages are the slow part
SLOW_FOLDERS = ("cli", "recipe")


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if item.path.parent.name in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Dict[str, Path]:
    return make_tiny_data(tmp_path_factory.mktemp("tiny_data"))


@pytest.fixture
def one_rank_group(tmp_path):
    """A real (gloo) process group of one rank, in this process."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0,
                            world_size=1)
    yield
    dist.destroy_process_group()


class Run:
    """One real training (a CLI call), its output directory and its log: in a process of
    its own (``start``), or one of several in one process (``run_all(..., sequential)``)."""

    def __init__(self, cmd: List[str], output_dir: Path):
        self.cmd, self.output_dir = cmd, output_dir
        self.log = output_dir.with_suffix(".log")
        self.proc = None

    def start(self) -> "Run":
        self.proc = subprocess.Popen(
            self.cmd, stdout=open(self.log, "w"), stderr=subprocess.STDOUT, env=_env()
        )
        return self

    def wait(self, timeout=600) -> int:
        return self.proc.wait(timeout=timeout)

    @property
    def returncode(self) -> Optional[int]:
        rc = Path(f"{self.log}.rc")
        if self.proc is None and rc.exists():
            return int(rc.read_text())
        return self.proc.returncode if self.proc is not None else None

    def text(self) -> str:
        return self.log.read_text()


def _env() -> Dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))


def checkout_env(**extra: str) -> Dict[str, str]:
    """The environment of a subprocess that runs this checkout's installed modules
    (``python -m espnet_sniper...``): the shared venv's editable install may point at
    another clone, so this one goes first, as the recipe's path.sh puts it."""
    return dict(os.environ, PYTHONPATH=str(REPO), **extra)


def _sequence(runs: List[Run], spec: Path) -> subprocess.Popen:
    """One process that trains ``runs`` one after another (see cli_sequence.py)."""
    for r in runs:
        assert r.cmd[1] == "-m", r.cmd
    spec.write_text(json.dumps([{"module": r.cmd[2], "argv": r.cmd[3:], "log": str(r.log)}
                                for r in runs]))
    return subprocess.Popen([sys.executable, str(REPO / "test" / "cli_sequence.py"), str(spec)],
                            stdout=open(spec.with_suffix(".out"), "w"),
                            stderr=subprocess.STDOUT, env=_env())


def run_all(runs: List[Run], parallel: int = 2, sequential: bool = False) -> None:
    """Run ``runs`` two at a time (the machine has two cores); ``sequential``: in two
    processes, each training its half of them one after another (no import twice)."""
    if sequential:
        halves = [runs[i::parallel] for i in range(parallel)]
        root = runs[0].output_dir.parent
        procs = [_sequence(h, root / f"sequence{i}.json") for i, h in enumerate(halves) if h]
        for p in procs:
            p.wait(timeout=1800)
        return
    pending, active = list(runs), []
    while pending or active:
        while pending and len(active) < parallel:
            active.append(pending.pop(0).start())
        time.sleep(0.2)
        active = [r for r in active if r.proc.poll() is None]