#!/usr/bin/env python3
"""Which durations should the mini recipe use? Aligners measured against espeak-ng's word
onsets, over several seeds.

The recipe's stages 1-2 run once on the mini corpus; then stages 3-4 (aligner training
and alignment, checked by ``local/check_durations.py`` against the corpus's
``word_onsets.txt``) for every method and seed: the forward-sum aligner of
``conf/mini/align_forward_sum.yaml`` and, with ``--teacher_seeds``, the Tacotron2 teacher of
``conf/mini/train_tacotron2_teacher.yaml`` (its seed set through the config). Each finished
run writes its own JSON and a rerun skips it.

    python benchmarks/alignment_quality.py --quick       # 1 seed, 60 utterances
    python benchmarks/alignment_quality.py --teacher_seeds 1   # 3 aligner seeds, 1 teacher

Writes ``<out_dir>/<method>_seed<k>.json``, the summary ``<out_dir>.json`` and
``<out_dir>_lag.png`` (the signed boundary error along the utterance, per run).
"""

import argparse
import json
import logging
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import yaml

from bench_common import REPO, RESULTS, copy_recipe, provenance
from espnet_sniper.fileio import atomic_write_text

METHODS = {"forward_sum": "conf/mini/align_forward_sum.yaml",
           "tacotron2": "conf/mini/train_tacotron2_teacher.yaml"}


def prepare(work: Path, num_utts: int) -> Path:
    recipe = work / "sniper_tts1"
    marker = recipe / "prepared.json"
    if marker.exists() and json.loads(marker.read_text()) == {"num_utts": num_utts}:
        return recipe
    copy_recipe(work)
    subprocess.run(["./run.sh", "--mini", "true", "--mini_num_utts", str(num_utts),
                    "--stage", "1", "--stop_stage", "2"], cwd=recipe, check=True,
                   capture_output=True)
    atomic_write_text(marker, json.dumps({"num_utts": num_utts}))
    return recipe


def align(recipe: Path, method: str, seed: int, steps: int = None) -> Dict:
    """Stages 3-4 with one method and seed; the alignment report and the seconds taken."""
    conf = yaml.safe_load((REPO / METHODS[method]).read_text())
    conf["seed"] = seed
    if steps is not None and method == "forward_sum":
        conf["steps"] = steps
    config = recipe / "runs" / f"{method}_seed{seed}.yaml"
    config.parent.mkdir(exist_ok=True)
    atomic_write_text(config, yaml.safe_dump(conf, sort_keys=False))
    option = "--aligner_config" if method == "forward_sum" else "--teacher_config"
    start = time.time()
    with open(config.with_suffix(".log"), "w") as log:
        done = subprocess.run(
            ["./run.sh", "--mini", "true", "--stage", "3", "--stop_stage", "4", "--aligner",
             method, option, str(config.relative_to(recipe)), "--allow_poor_durations", "true"],
            cwd=recipe, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{method} seed {seed} failed: see {config.with_suffix('.log')}")
    seconds = time.time() - start
    prefix = "aligner" if method == "forward_sum" else "teacher"
    report = json.loads((recipe / "exp" / f"{prefix}_{config.stem}" /
                         "alignment_quality.json").read_text())
    return {"seconds": seconds, "config": conf, "sets": report["sets"]}


def summarize(runs: Dict[str, List[Dict]]) -> Dict:
    out = {}
    for method, done in runs.items():
        onsets = [r["sets"]["train"]["word_onset_error"] for r in done]
        out[method] = {"seeds": [r["seed"] for r in done]}
        for key in ("boundary_mean_frames", "boundary_median_frames",
                    "boundary_share_within_2_frames", "boundary_mean_signed_frames",
                    "first_phoneme_mean_frames", "naive_mean_frames"):
            values = [o[key] for o in onsets]
            out[method][key] = {"mean": statistics.fmean(values), "min": min(values),
                                "max": max(values)}
        out[method]["seconds"] = statistics.fmean(r["seconds"] for r in done)
        out[method]["focus_rate_mean"] = statistics.fmean(
            r["sets"]["train"]["focus_rate_mean"] for r in done)
    return out


def plot(runs: Dict[str, List[Dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for method, done in runs.items():
        for r in done:
            lag = r["sets"]["train"]["word_onset_error"]["boundary_signed_by_word_position"]
            ax.plot(range(len(lag)), list(lag.values()), marker="o",
                    label=f"{method} seed {r['seed']}")
            ticks = list(lag)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(ticks)), ticks)
    ax.set_xlabel("word position in the utterance")
    ax.set_ylabel("mean signed boundary error (frames)")
    ax.set_title("Where the durations put word boundaries (train set)", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    tmp.replace(path)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 60 utterances, 20 steps")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--teacher_seeds", type=int, default=0,
                        help="seeds of the Tacotron2 teacher too (about 6 minutes each)")
    parser.add_argument("--work_dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "sniper_alignment_quality")
    parser.add_argument("--out_dir", type=Path, default=None,
                        help="default: benchmarks/results/alignment_quality(_quick)")
    args = parser.parse_args(argv)
    num_utts, seeds = (60, 1) if args.quick else (400, args.seeds)
    steps = 20 if args.quick else None
    out_dir = args.out_dir or RESULTS / ("alignment_quality_quick" if args.quick
                                         else "alignment_quality")
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = prepare(args.work_dir, num_utts)
    plan = {"forward_sum": seeds}
    if args.teacher_seeds:
        plan["tacotron2"] = 1 if args.quick else args.teacher_seeds
    runs: Dict[str, List[Dict]] = {m: [] for m in plan}
    for method, method_seeds in plan.items():
        for seed in range(method_seeds):
            path = out_dir / f"{method}_seed{seed}.json"
            setup = {"num_utts": num_utts, "steps": steps}
            if path.exists() and json.loads(path.read_text()).get("setup") == setup:
                runs[method].append(json.loads(path.read_text()))
                continue
            logging.info(f"{method} seed {seed}: stages 3-4")
            result = {**provenance("alignment_quality.py"), "method": method, "seed": seed,
                      "setup": setup, **align(recipe, method, seed, steps)}
            atomic_write_text(path, json.dumps(result, indent=1) + "\n")
            onset = result["sets"]["train"]["word_onset_error"]
            logging.info(f"{method} seed {seed}: boundaries {onset['boundary_mean_frames']:.2f} "
                         f"frames off (equal shares {onset['naive_mean_frames']:.2f}), "
                         f"{result['seconds']:.0f} s")
            runs[method].append(result)
    summary = {**provenance("alignment_quality.py"),
               "setup": {"num_utts": num_utts, "seeds": plan}, "methods": summarize(runs)}
    atomic_write_text(out_dir.with_suffix(".json"), json.dumps(summary, indent=1) + "\n")
    plot(runs, out_dir.with_name(out_dir.name + "_lag.png"))


if __name__ == "__main__":
    main()
