#!/usr/bin/env python3
"""Record that a benchmark's result, made again on this checkout, reproduces the committed
one within the benchmark's declared tolerance (its ``TOLERANCE`` and ``reproduces``): a
step-overhead ratio inside the committed range, the main job's scores equal to their
printed digits, a mutation score no lower.

Run the benchmark again writing somewhere else (or over the committed file: the committed
result is read from git's HEAD), then:

    python -m benchmarks.step_overhead --out /tmp/step_overhead.json
    python -m benchmarks.record_reproduction --benchmark step_overhead --new /tmp/step_overhead.json

Appends the entry to ``benchmarks/results/reproductions.json`` whether or not it
reproduced (``benchmarks/core/reproductions.py`` describes the ledger); exits 1 when not.
The paired grids reproduce bit for bit instead: ``python -m benchmarks.reproduce_run``.
"""

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

from benchmarks.core.reproductions import compare, record
from benchmarks.core.results import REPO, RESULTS, load_result
from benchmarks.core.staleness import measured_at


def committed(result_file: str) -> dict:
    """The result as HEAD has it."""
    path = (RESULTS / result_file).relative_to(REPO)
    shown = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=REPO, capture_output=True,
                           text=True)
    if shown.returncode != 0:
        raise SystemExit(f"error: HEAD has no {path}: {shown.stderr.strip()}")
    return json.loads(shown.stdout)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", required=True, help="its module, e.g. step_overhead")
    parser.add_argument("--new", type=Path, required=True, help="the result made again")
    parser.add_argument("--result", default=None,
                        help="the committed result file it made again (default: the "
                        "benchmark's only one)")
    args = parser.parse_args(argv)
    module = importlib.import_module(f"benchmarks.{args.benchmark}")
    if not hasattr(module, "reproduces"):
        parser.error(f"{args.benchmark} declares no tolerance (TOLERANCE, reproduces)")
    files = list(module.RESULT_FILES)
    result = args.result or (files[0] if len(files) == 1 else None)
    if result not in files:
        parser.error(f"--result: one of {', '.join(files)}")
    old = committed(result)
    entry = compare(args.benchmark, result, old, load_result(args.new), module.TOLERANCE,
                    module.reproduces, measured_at(module, old))
    record(entry)
    print(json.dumps(entry, indent=1))
    if not entry["reproduced"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
