#!/usr/bin/env python3
"""Two-rank runs in a row: does every one end cleanly?

A two-rank run once finished training, logged that its ranks' weights agree, and then had
a rank abort at interpreter exit (``terminate called without an active exception``,
SIGABRT: the gloo process group was never destroyed), so torchrun reported a failure for
a finished run. This runs the test suite's two-rank runs (``espnet_sniper.testing.TwoRanks``:
the tiny data, schedule {0: 50, 1: 25, 2: 0}, gloo on the CPU) ``--runs`` times in a row
for FastSpeech2 (through torchrun) and for JETS (through the GAN trainer, two processes
started as an external launcher starts them), and counts the runs that end cleanly: every
process exits 0, the ranks' final weights agree, and no log shows an abort.

    python -m benchmarks.ddp_exit --runs 20     # ~25 minutes here

Writes benchmarks/results/ddp_exit.json.
"""

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Dict, List

from benchmarks.core.results import RESULTS, provenance, write_result
from benchmarks.core.staleness import LIBRARY
from espnet_sniper import testing as tiny

INPUTS = (*LIBRARY, "benchmarks/ddp_exit.py")
RESULT_FILES = {"ddp_exit.json": "Two-rank runs in a row"}
MODELS = {"fastspeech2": {"torchrun": True}, "jets": {"torchrun": False}}
ABORT_SIGNS = ("terminate called", "Aborted", "SIGABRT", "core dumped", "ChildFailedError")
AGREE = "weights after training agree on all 2 ranks"


def one_run(data: Dict[str, Path], root: Path, model: str, index: int) -> Dict:
    start = time.time()
    run = tiny.TwoRanks(data, root, f"{model}{index}", model=model, **MODELS[model]).start()
    codes = run.wait(timeout=900)
    text = run.text()
    aborts = [sign for sign in ABORT_SIGNS if sign in text]
    clean = all(code == 0 for code in codes) and AGREE in text and not aborts
    return {"run": index, "exit_codes": codes, "weights_agree": AGREE in text,
            "abort_signs": aborts, "clean": clean, "seconds": round(time.time() - start, 1),
            **({} if clean else {"log_tail": text[-2000:]})}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each model")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--out", type=Path, default=RESULTS / "ddp_exit.json")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    results: Dict[str, List[Dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = tiny.make_tiny_data(Path(tmp) / "data")
        for model in args.models:
            results[model] = []
            for index in range(args.runs):
                root = Path(tmp) / model
                root.mkdir(exist_ok=True)
                row = one_run(data, root, model, index)
                results[model].append(row)
                logging.info(f"{model} run {index + 1}/{args.runs}: "
                             f"{'clean' if row['clean'] else 'NOT CLEAN'} {row['exit_codes']} "
                             f"in {row['seconds']} s")
    summary = {model: {"runs": len(rows), "clean": sum(r["clean"] for r in rows),
                       "in_a_row": all(r["clean"] for r in rows)}
               for model, rows in results.items()}
    write_result(args.out, {**provenance("ddp_exit"), "summary": summary, "runs": results},
                 indent=2)
    print(summary)


def table(data: Dict) -> List[str]:
    names = {"fastspeech2": "FastSpeech2 (torchrun)", "jets": "JETS (GAN trainer, two processes)"}
    lines = ["| model | runs | clean | exit codes seen |", "|---|---:|---:|---|"]
    for model, s in data["summary"].items():
        codes = sorted({tuple(r["exit_codes"]) for r in data["runs"][model]})
        lines.append(f"| {names[model]} | {s['runs']} | {s['clean']} | "
                     f"{', '.join(str(list(c)) for c in codes)} |")
    return lines + ["", "A run is clean when every process exits 0, rank 0 logs that the ranks' "
                    "final weights agree, and no log shows an abort."]


if __name__ == "__main__":
    main()
