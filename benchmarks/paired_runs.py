"""The driver the paired grids share: which runs are still to do, running them a few at a
time (each writes its own JSON when it ends, so a rerun resumes), and reading them back."""

import json
import logging
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Tuple

from bench_common import single_thread_env
from espnet_sniper.fileio import atomic_write_text

Run = Tuple[str, int]  # (contender, seed)


def run_path(out_dir: Path, contender: str, seed: int) -> Path:
    return out_dir / f"{contender}_seed{seed}.json"


def finished(path: Path, setup: Dict) -> bool:
    """Whether ``path`` holds a run made with ``setup`` (another setup's run is redone)."""
    try:
        return json.loads(path.read_text())["setup"] == setup
    except (OSError, ValueError, KeyError):
        return False


def still_to_run(plan: List[Run], out_dir: Path, setup: Dict) -> List[Run]:
    todo = [(c, s) for c, s in plan if not finished(run_path(out_dir, c, s), setup)]
    logging.info(f"{len(plan) - len(todo)} of {len(plan)} runs already finished")
    return todo


def run_all(todo: List[Run], one: Callable[[str, int], Dict], out_dir: Path,
            jobs: int) -> List[str]:
    """``one(contender, seed)`` for every run, ``jobs`` at a time, in order; each result is
    written atomically as it ends. Returns the failures' messages."""
    def write(item: Run) -> None:
        contender, seed = item
        result = one(contender, seed)
        atomic_write_text(run_path(out_dir, contender, seed), json.dumps(result, indent=1) + "\n")

    failures = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(write, item) for item in todo]:
            try:
                future.result()
            except (RuntimeError, OSError, KeyError) as e:
                failures.append(str(e))
                logging.error(str(e))
    return failures


def load_runs(out_dir: Path, contenders: Iterable[str], setup: Dict) -> Dict[str, Dict[int, Dict]]:
    """contender -> seed -> run, for the runs under ``out_dir`` made with ``setup``."""
    runs: Dict[str, Dict[int, Dict]] = {c: {} for c in contenders}
    for path in sorted(out_dir.glob("*_seed*.json")):
        run = json.loads(path.read_text())
        if run["contender"] in runs and run["setup"] == setup:
            runs[run["contender"]][run["seed"]] = run
    return runs


def run_stages(recipe: Path, setup: Dict, first: int, last: int, config: Path, tag: str,
               log_path: Path, *extra: str) -> Path:
    """Stages ``first``-``last`` of the mini recipe for one run (one thread), logged to
    ``log_path``; returns the run's experiment directory."""
    with open(log_path, "a") as log:
        done = subprocess.run(
            ["./run.sh", "--mini", "true", "--mini_num_utts", str(setup["num_utts"]),
             "--num_held_out", str(setup["num_held_out"]), "--nj", "1",
             "--stage", str(first), "--stop_stage", str(last),
             "--train_config", str(config.relative_to(recipe)), "--tag", tag, *extra],
            cwd=recipe, env=single_thread_env(), stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{tag} failed (rc {done.returncode}): see {log_path}")
    return recipe / "exp" / tag


def scoring_seconds(exp: Path) -> float:
    """How long the run's SNIP scoring took, from its train.log (0 when it scored nothing)."""
    times = [float(line.split(" batches in ")[1].split()[0])
             for line in (exp / "train.log").read_text().splitlines()
             if "SNIP scoring done:" in line and " seconds" in line]
    return times[-1] if times else 0.0
