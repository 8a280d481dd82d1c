#!/usr/bin/env python3
"""Re-run one committed grid run on the code of this checkout and compare it, number for
number, with what was committed.

A grid's runs take hours; the code they measure keeps changing (refactors, new options).
When a run measured before a change reproduces identically after it, the change did not
touch what the grid measures, and ``make_readme_tables.py`` stops calling the grid's
results stale for it. Training is deterministic on one machine (one thread, seeded initial
weights and batch order, seeded Griffin-Lim), so "identically" means equal floats, not
close ones. Across machines it need not be: the same recordings' no-skill baseline, by
the same code, differs in the 13th digit between two of this project's machines, and
training amplifies differences of that size; so reproduce runs made on the machine this
runs on (2026-12-02: dense and SNIP runs of an earlier session's machine did not reproduce
here, their first-epoch losses off by a tenth or more).

Appends (or replaces) the run's entry in ``benchmarks/results/reproductions.json``.
"""

import argparse
import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Dict, List

import masks_early_grid
import training_quality
from bench_common import RESULTS, commit

from espnet_sniper.fileio import atomic_write_text

# benchmark script -> (its runs' folder, how one run is made again)
GRIDS = {
    "training_quality.py": (RESULTS / "full_grid", training_quality.train_and_score),
    "masks_early_grid.py": (RESULTS / "masks_early_grid", masks_early_grid.train),
}
LEDGER = RESULTS / "reproductions.json"


def numbers(run: Dict, prefix: str = "") -> Dict[str, float]:
    """Every number of a run's result that its code determines (not its timings)."""
    flat: Dict[str, float] = {}
    for key, value in run.items():
        key = str(key)
        name = f"{prefix}{key}"
        if "seconds" in key or key in ("time", "date"):
            continue
        if isinstance(value, dict):
            flat.update(numbers(value, f"{name}."))
        elif isinstance(value, list):
            flat.update(numbers(dict(enumerate(value)), f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def differences(old: Dict, new: Dict) -> List[str]:
    """The numbers that differ (NaN equals NaN), or exist on one side only."""
    a, b = numbers(old), numbers(new)
    out = [f"{k}: {a.get(k)} != {b.get(k)}" for k in sorted(set(a) | set(b))
           if k not in a or k not in b
           or not (a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])))]
    return out


def main(argv=None) -> None:
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
    old = json.loads(path.read_text())
    setup = old["setup"]
    recipe = training_quality.prepare(args.work_dir, setup["num_utts"], setup["num_held_out"])
    new = make_again(recipe, setup, old["contender"], old["seed"])
    atomic_write_text(args.work_dir / f"{args.benchmark}_{args.run}.json", json.dumps(new))
    kept = {k: old[k] for k in new}
    diff = differences(kept, new)
    entry = {"benchmark": args.benchmark, "run": args.run,
             "original_commit": old["commit"], "reproduced_at": commit(),
             "identical": not diff, "numbers_compared": len(numbers(kept)),
             "differences": diff[:20]}
    ledger = json.loads(LEDGER.read_text()) if LEDGER.is_file() else []
    ledger = [e for e in ledger if (e["benchmark"], e["run"], e["reproduced_at"])
              != (args.benchmark, args.run, entry["reproduced_at"])] + [entry]
    atomic_write_text(LEDGER, json.dumps(ledger, indent=1) + "\n")
    logging.info("%s %s (%s) at %s: %s (%d numbers)", args.benchmark, args.run,
                 old["commit"], entry["reproduced_at"],
                 "identical" if not diff else f"{len(diff)} differ, e.g. {diff[:3]}",
                 entry["numbers_compared"])


if __name__ == "__main__":
    main()
