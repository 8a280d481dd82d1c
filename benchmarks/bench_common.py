"""What every benchmark shares: where it ran (machine, versions, commit, date), a private
copy of the recipe to run stages in, and where results go."""

import os
import platform
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Dict, List, Sequence

import torch

import espnet
from espnet2.train.distributed_utils import DistributedOption
from espnet2.train.reporter import Reporter

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs2" / "ljspeech" / "sniper_tts1"
RESULTS = REPO / "benchmarks" / "results"


def commit() -> str:
    """HEAD, marked +dirty when tracked files other than results differ from it (a
    benchmark that rewrites its own results must not call its code dirty)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                    ":(exclude)benchmarks/results")
        return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(name: str) -> Dict:
    """The header of every result file."""
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


def copy_recipe(work: Path) -> Path:
    """``work/sniper_tts1``: the recipe without its data, wired to this checkout.

    Benchmarks never write into the repository's own recipe directory.
    """
    recipe = work / "sniper_tts1"
    shutil.rmtree(recipe, ignore_errors=True)
    shutil.copytree(RECIPE, recipe, symlinks=True,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads",
                                                  "__pycache__"))
    (recipe / "conf").unlink()
    (recipe / "conf").symlink_to(REPO / "conf")
    (recipe / "path.sh").write_text(
        f"export PATH={REPO}/.venv/bin:$PATH\nexport PYTHONPATH={REPO}\n")
    return recipe


def single_thread_env() -> Dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1")


def train_epoch(trainer, model: torch.nn.Module, optimizers: Sequence[torch.optim.Optimizer],
                batches: Sequence, options, scaler=None, epoch: int = 1) -> None:
    """Epoch ``epoch`` over ``batches`` through ``trainer.train_one_epoch``, as ESPnet runs
    it (with ``scaler``, a ``torch.amp.GradScaler``: under AMP); a GAN trainer takes the
    generator's and the discriminator's optimizers."""
    # ESPnet adds utt_id to each batch dict it is given: hand it copies
    batches: List = [(ids, dict(batch)) for ids, batch in batches]
    reporter = Reporter()
    reporter.set_epoch(epoch)
    with reporter.observe("train") as sub:
        trainer.train_one_epoch(model=model, iterator=batches, optimizers=list(optimizers),
                                schedulers=[None] * len(optimizers), scaler=scaler, reporter=sub,
                                summary_writer=None, options=options,
                                distributed_option=DistributedOption(distributed=False))
