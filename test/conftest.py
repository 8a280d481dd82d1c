import os
import subprocess
import time
from pathlib import Path
from typing import Dict, List

import pytest

import tiny_tts_data

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Dict[str, Path]:
    return tiny_tts_data.make_tiny_data(tmp_path_factory.mktemp("tiny_data"))


class Run:
    """One real training process (a CLI call), its output directory and its log."""

    def __init__(self, cmd: List[str], output_dir: Path):
        self.cmd, self.output_dir = cmd, output_dir
        self.log = output_dir.with_suffix(".log")
        self.proc = None

    def start(self) -> "Run":
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            self.cmd, stdout=open(self.log, "w"), stderr=subprocess.STDOUT, env=env
        )
        return self

    def wait(self, timeout=600) -> int:
        return self.proc.wait(timeout=timeout)

    def text(self) -> str:
        return self.log.read_text()


def run_all(runs: List[Run], parallel: int = 2) -> None:
    """Run ``runs`` two at a time (the machine has two cores)."""
    pending, active = list(runs), []
    while pending or active:
        while pending and len(active) < parallel:
            active.append(pending.pop(0).start())
        time.sleep(0.2)
        active = [r for r in active if r.proc.poll() is None]
