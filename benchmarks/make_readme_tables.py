#!/usr/bin/env python3
"""Regenerate the README's results section from the JSON files in benchmarks/results/.

The section lies between the markers ``<!-- results:begin -->`` and
``<!-- results:end -->`` and is never edited by hand.
"""

import json
import sys
from pathlib import Path

from espnet_sniper.fileio import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def step_overhead_table(data: dict) -> list:
    machine = data["machine"]
    lines = [
        f"Step cost (`benchmarks/step_overhead.py`, {data['date']}, commit {data['commit']}, "
        f"{machine['device']}, {machine['cpus']} threads, torch {data['versions']['torch']}, "
        f"espnet {data['versions']['espnet']}): forward, backward, clipping and Adam on the same "
        f"FastSpeech2 and batch, SNIPER at 40 % with per-tensor learning-rate scaling against "
        f"dense, alternated.",
        "",
        "| model | parameters | batch | reps | dense s/step | SNIPER s/step | ratio median | min | max |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size, r in data["results"].items():
        ratio = r["ratio_sniper_over_dense"]
        b = r["batch"]
        lines.append(
            f"| {size} | {r['params'] / 1e6:.2f} M | {b['utterances']} x {b['frames']} frames "
            f"| {r['repetitions']} | {r['step_seconds_median']['dense']:.3f} "
            f"| {r['step_seconds_median']['sniper40']:.3f} | {ratio['median']:.3f} "
            f"| {ratio['min']:.3f} | {ratio['max']:.3f} |"
        )
    return lines + [""]


def kill_resume_table(data: dict) -> list:
    setup = data["setup"]
    lines = [
        f"Kill and resume (`benchmarks/kill_resume.py`, {data['date']}, commit {data['commit']}, "
        f"{data['machine']['cpus']} CPUs): the recipe's training stage (SNIPER "
        f"{', '.join(f'{v} %' for v in setup['schedule'].values())} over {setup['max_epoch']} "
        f"epochs, {setup['corpus_utterances']}-utterance corpus) SIGKILLed, process group and "
        f"all, then rerun; a trial passes when the rerun ends with the uninterrupted run's "
        f"weights bit for bit and no temporary file is left. **{data['passed']} of "
        f"{data['tried']} passed.**",
        "",
        "| killed | tried | passed |",
        "|---|---:|---:|",
    ]
    for kind, n in data["by_kind"].items():
        lines.append(f"| {kind.replace('_', ' ')} | {n['tried']} | {n['passed']} |")
    for failure in data["failed"]:
        lines.append(f"\nFailed: trial {failure['trial']} ({failure['planned']}): {failure['why']}")
    return lines + [""]


TABLES = {"step_overhead.json": step_overhead_table, "kill_resume.json": kill_resume_table}


def main() -> None:
    readme = REPO / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"error: {readme} has no {BEGIN} ... {END} section")
    lines = [BEGIN, ""]
    for name, table in TABLES.items():
        path = REPO / "benchmarks" / "results" / name
        if path.is_file():
            lines += table(json.loads(path.read_text()))
    lines.append(END)
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    atomic_write_text(readme, head + "\n".join(lines) + tail)


if __name__ == "__main__":
    main()
