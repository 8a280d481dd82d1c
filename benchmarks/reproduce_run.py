#!/usr/bin/env python3
"""Re-run one committed grid run on the code of this checkout and compare it, number for
number, with what was committed.

A grid's runs take hours; the code they measure keeps changing (refactors, new options).
When a run measured before a change reproduces identically after it, the change did not
touch what the grid measures, and the results page stops calling the grid's results stale
for it. Training is deterministic on one machine (one thread, seeded initial weights and
batch order, seeded Griffin-Lim), so "identically" means equal floats, not close ones.
Across machines it need not be: the same recordings' no-skill baseline, by the same code,
differs in the 13th digit between two of this project's machines, and training amplifies
differences of that size; so reproduce runs made on the machine this runs on (2026-12-02:
dense and SNIP runs of an earlier session's machine did not reproduce here, their
first-epoch losses off by a tenth or more).

    python -m benchmarks.reproduce_run --benchmark training_quality.py --run sniper40to0_seed3

Appends (or replaces) the run's entry in ``benchmarks/results/reproductions.json``
(``benchmarks/core/reproductions.py`` describes it).
"""

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from benchmarks import masks_early_grid, training_quality
from benchmarks.core.recipe import prepare
from benchmarks.core.reproductions import IDENTICALLY, differences, numbers, record
from benchmarks.core.results import RESULTS, commit, load_result, write_result

# benchmark script -> (its runs' folder, how one run is made again)
GRIDS: Dict[str, Tuple[Path, Callable[[Path, Dict, str, int], Dict]]] = {
    "training_quality.py": (RESULTS / "full_grid", training_quality.train_and_score),
    "masks_early_grid.py": (RESULTS / "masks_early_grid", masks_early_grid.train),
}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", choices=list(GRIDS), required=True)
    parser.add_argument("--run", required=True, help="e.g. sniper40to0_seed0")
    parser.add_argument("--original", type=Path, default=None,
                        help="the run's result to compare with, when not the committed one "
                        "(e.g. the same run made here at an older commit, from a worktree)")
    parser.add_argument("--work_dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "espnet_sniper_reproduce")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
    folder, make_again = GRIDS[args.benchmark]
    path = args.original or folder / f"{args.run}.json"
    if not path.is_file():
        parser.error(f"--run {args.run}: no {path}")
    old = load_result(path)
    setup = old["setup"]
    recipe = prepare(args.work_dir, setup["num_utts"], setup["num_held_out"])
    new = make_again(recipe, setup, old["contender"], old["seed"])
    write_result(args.work_dir / f"{args.benchmark}_{args.run}.json", new)
    kept = {k: old[k] for k in new}
    diff = differences(kept, new)
    entry = {"benchmark": args.benchmark, "run": args.run,
             "original_commit": old["commit"], "reproduced_at": commit(),
             "identical": not diff, "reproduced": not diff, "rule": IDENTICALLY,
             "numbers_compared": len(numbers(kept)), "differences": diff[:20]}
    record(entry)
    logging.info("%s %s (%s) at %s: %s (%d numbers)", args.benchmark, args.run,
                 old["commit"], entry["reproduced_at"],
                 "identical" if not diff else f"{len(diff)} differ, e.g. {diff[:3]}",
                 entry["numbers_compared"])


if __name__ == "__main__":
    main()
