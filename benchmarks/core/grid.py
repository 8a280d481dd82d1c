"""The paired grids' driver: which runs are still to do, running them a few at a time
(each writes its own JSON when it ends, so a rerun resumes), reading them back, and the
per-epoch differences of their validation losses."""

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Tuple

from benchmarks.core.recipe import run_logged, run_sh
from benchmarks.core.results import write_result
from espnet_sniper.recipe.evaluation.statistics import interval

Run = Tuple[str, int]  # (contender, seed)
Runs = Dict[str, Dict[int, Dict]]  # contender -> seed -> run
LOSSES = ["loss", "l1_loss", "duration_loss", "pitch_loss", "energy_loss"]


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
        write_result(run_path(out_dir, contender, seed), one(contender, seed))

    failures = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(write, item) for item in todo]:
            try:
                future.result()
            except (RuntimeError, OSError, KeyError) as e:
                failures.append(str(e))
                logging.error(str(e))
    return failures


def load_runs(out_dir: Path, contenders: Iterable[str], setup: Dict) -> Runs:
    """contender -> seed -> run, for the runs under ``out_dir`` made with ``setup``."""
    runs: Runs = {c: {} for c in contenders}
    for path in sorted(out_dir.glob("*_seed*.json")):
        run = json.loads(path.read_text())
        if run["contender"] in runs and run["setup"] == setup:
            runs[run["contender"]][run["seed"]] = run
    return runs


def run_stages(recipe: Path, setup: Dict, first: int, last: int, config: Path, tag: str,
               log_path: Path, **options: object) -> Path:
    """Stages ``first``-``last`` of the mini recipe for one run (one thread), logged to
    ``log_path``; ``options``: more run.sh flags. Returns the run's experiment directory."""
    run_logged(run_sh(mini_num_utts=setup["num_utts"], num_held_out=setup["num_held_out"],
                      nj=1, stage=first, stop_stage=last,
                      train_config=config.relative_to(recipe), tag=tag, **options),
               recipe, log_path, append=True)
    return recipe / "exp" / tag


def per_epoch_differences(runs: Runs, a: str, b: str, seeds: List[int]) -> List[Dict]:
    """a - b per epoch over ``seeds``: each validation loss term, and the total in % of b's,
    with their intervals over seeds."""
    n_epochs = min(len(runs[c][s]["epochs"]) for c in (a, b) for s in seeds)
    rows = []
    for i in range(n_epochs):
        valid_a = [runs[a][s]["epochs"][i]["valid"] for s in seeds]
        valid_b = [runs[b][s]["epochs"][i]["valid"] for s in seeds]
        row: Dict = {"epoch": i + 1}
        for k in LOSSES:
            row[k] = interval([x[k] - y[k] for x, y in zip(valid_a, valid_b)])
        row["loss_percent"] = interval([100 * (x["loss"] / y["loss"] - 1)
                                        for x, y in zip(valid_a, valid_b)])
        rows.append(row)
    return rows


def loss_by_epoch(done: List[Dict]) -> List[Dict]:
    """The validation loss of these runs per epoch, with its interval over them."""
    n_epochs = min(len(r["epochs"]) for r in done)
    return [interval([r["epochs"][i]["valid"]["loss"] for r in done]) for i in range(n_epochs)]
