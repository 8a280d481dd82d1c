#!/usr/bin/env python3
"""The README's main job, measured: ``run.sh --mini true`` from a fresh copy of the recipe,
once per seed of the whole recipe (aligner and training, ``--seed``).

Or, with ``--db_root``, the CPU configs on another corpus in LJSpeech's layout (one the
recipe never saw, e.g. made by ``python -m benchmarks.make_unseen_corpus``). Recorded per run:
each stage's seconds and the total, the validation mel L1 and training seconds of every
epoch, the alignment report of stage 4 and the scores of stage 8 (each with its floor and
baseline). One run at a time: the timings are the
machine's, not shared with another job. A finished run's JSON is kept and a rerun skips it.

    python -m benchmarks.main_job --seeds 0 1 2
    python -m benchmarks.main_job --seeds 0 --db_root /tmp/unseen/LJSpeech-unseen --name unseen

Writes ``<out_dir>/<name>/seed<k>.json``, the summary ``<name>.json`` and the first seed's
``<name>_mels.png`` (stage 8's recordings beside synthesis); ``--out_dir`` defaults to
``benchmarks/results``. Made again elsewhere (``--out_dir /tmp/again``), a summary whose
scores equal the committed ones to their printed digits reproduces it
(``python -m benchmarks.record_reproduction --benchmark main_job --result main_job.json
--new /tmp/again/main_job.json``).
"""

import argparse
import hashlib
import json
import logging
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

from benchmarks.core import cells
from benchmarks.core.recipe import copy_recipe, run_sh
from benchmarks.core.reproductions import printed_differences, record
from benchmarks.core.results import RESULTS, load_result, provenance, write_result
from benchmarks.core.staleness import FASTSPEECH2_LIBRARY, RECIPE_CODE

# the whole mini recipe: the library (FastSpeech2's side), the mini configs, the recipe;
# for the unseen corpus, its generator too
INPUTS = (*FASTSPEECH2_LIBRARY, "conf/mini", "conf/decode.yaml", "conf/asr_judge.yaml",
          *RECIPE_CODE,
          "benchmarks/core/recipe.py", "benchmarks/main_job.py",
          "benchmarks/make_unseen_corpus.py")
RESULT_FILES = {"main_job.json": "Main job",
                "unseen.json": "CPU configs on a corpus the recipe never saw"}
# the numbers the table prints, and to how many decimals
PRINTED = {**{f"{m}.{k}": 3 for m in ("normalized_mel", "length_ratio")
              for k in ("mean", "min", "max")},
           **{f"boundary_mean_frames.{k}": 2 for k in ("mean", "min", "max")},
           **{f"{m}.{s}.mean": d for m, d in (("mel_db", 2), ("mcd_db", 2), ("f0_rmse_cents", 0),
                                               ("vde", 3), ("gpe", 3), ("mos", 2), ("cer", 3),
                                               ("wer", 3))
              for s in ("model", "floor", "baseline")}}
TOLERANCE = "with every score equal to its printed digits"

STAGE_LINE = re.compile(r"^(\S+) \(run\.sh\) stage (\d+): ")
TAG = "tts_train_sniper_mini"


def stage_starts(log: str) -> List[Tuple[int, float]]:
    """(stage, epoch seconds) of each of run.sh's stage lines, in order."""
    return [(int(m.group(2)), datetime.fromisoformat(m.group(1)).timestamp())
            for m in map(STAGE_LINE.match, log.splitlines()) if m]


def stage_seconds(log: str, end: float) -> Dict[str, float]:
    """Seconds of each stage, from the timestamps of run.sh's stage lines."""
    starts = stage_starts(log)
    bounds = [t for _, t in starts[1:]] + [end]
    seconds: Dict[str, float] = {}
    for (stage, t), b in zip(starts, bounds):  # a stage may announce several steps
        seconds[str(stage)] = round(seconds.get(str(stage), 0.0) + b - t, 1)
    return seconds


def stage_start(log: str, stage: int) -> Optional[float]:
    """When run.sh announced ``stage`` first (epoch seconds)."""
    return next((t for s, t in stage_starts(log) if s == stage), None)


def judge_share(recipe: Path, log: str) -> Optional[Dict]:
    """The ASR judge's own cost: its training (in the background from stage 3 on) and how
    long stage 8 waited for it to finish."""
    made = [json.loads(p.read_text()) for p in (recipe / "exp" / "asr_judge").glob("*/judge.json")]
    if not made:
        return None
    judge, stage_8 = made[0], stage_start(log, 8)
    return {"train_seconds": judge["train_seconds"], "epochs": len(judge.get("epochs", [])),
            "best_valid_cer": min((e["valid_cer"] for e in judge.get("epochs", [])), default=None),
            "stage_8_wait_seconds": round(max(0.0, judge["finished_at"] - stage_8), 1)
            if stage_8 is not None and "finished_at" in judge else None}


def run_once(work: Path, seed: int, db_root: Optional[Path]) -> Dict:
    recipe = copy_recipe(work / f"seed{seed}")
    cmd = run_sh(seed=seed, db_root=db_root)
    start = time.time()
    done = subprocess.run(cmd, cwd=recipe, capture_output=True, text=True)
    end = time.time()
    (recipe / "main_job.log").write_text(done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"seed {seed} failed: see {recipe}/main_job.log\n{done.stderr[-2000:]}")
    exp = recipe / "exp" / TAG
    aligner = next((recipe / "exp").glob("aligner_*/alignment_quality.json"))
    results = json.loads((exp / "results.json").read_text())
    stats = torch.load(exp / "checkpoint.pth", map_location="cpu",
                       weights_only=False)["reporter"]["stats"]
    epochs = [{"epoch": e, "valid_l1_loss": float(stats[e]["valid"]["l1_loss"]),
               "train_seconds": stats[e]["train"]["time"].total_seconds()}
              for e in sorted(stats)]
    return {"epochs": epochs, "seed": seed, "db_root": str(db_root) if db_root else None,
            "total_seconds": round(end - start, 1),
            "stage_seconds": stage_seconds(done.stderr, end),
            "alignment": json.loads(aligner.read_text())["sets"],
            "judge": judge_share(recipe, done.stderr),
            "scores": results["summary"], "feature_mel_db": results.get("feature_mel_db"),
            "utterances": results["utterances"], "mels_png": str(exp / "mels.png")}


def summarize(runs: List[Dict]) -> Dict:
    def spread(values):
        values = [v for v in values if v is not None]
        return {"mean": statistics.fmean(values), "min": min(values), "max": max(values)}

    out = {"seeds": [r["seed"] for r in runs],
           "total_minutes": spread([r["total_seconds"] / 60 for r in runs]),
           "normalized_mel": spread([r["scores"]["mel_db"]["normalized"]["mean"] for r in runs]),
           "length_ratio": spread([r["scores"]["length_ratio"]["model"]["mean"] for r in runs])}
    for metric in ("mel_db", "mcd_db", "f0_rmse_cents", "vde", "gpe", "mos", "cer", "wer"):
        if metric in runs[0]["scores"]:
            out[metric] = {s: spread([r["scores"][metric][s]["mean"] for r in runs])
                           for s in ("model", "floor", "baseline")}
    onsets = [r["alignment"]["train"].get("word_onset_error") for r in runs]
    if all(o and o.get("utterances_compared") for o in onsets):
        out["boundary_mean_frames"] = spread([o["boundary_mean_frames"] for o in onsets])
    n_epochs = min(len(r["epochs"]) for r in runs)
    out["valid_l1_by_epoch"] = [statistics.fmean(r["epochs"][i]["valid_l1_loss"] for r in runs)
                                for i in range(n_epochs)]
    out["train_seconds_per_epoch"] = statistics.fmean(
        e["train_seconds"] for r in runs for e in r["epochs"])
    out["stage_seconds"] = {k: statistics.fmean(r["stage_seconds"].get(k, 0) for r in runs)
                            for k in runs[0]["stage_seconds"]}
    if all(r.get("judge") for r in runs):
        out["judge"] = {k: spread([r["judge"][k] for r in runs])
                        for k in ("train_seconds", "epochs", "best_valid_cer",
                                  "stage_8_wait_seconds")}
    return out


def reproduces(committed: Dict, new: Dict) -> List[str]:
    """The printed scores that differ (timings may)."""
    return printed_differences(committed, new, PRINTED)


def _three(x: Dict, digits: int) -> str:
    """model / floor / baseline of one metric, means over seeds."""
    return " / ".join(f"{x[s]['mean']:.{digits}f}" for s in ("model", "floor", "baseline"))


def table(data: Dict) -> List[str]:
    corpus = (f"the corpus `{data['db_root']}` (another espeak-ng voice and prose, "
              f"`python -m benchmarks.make_unseen_corpus`)" if data["db_root"]
              else "the generated mini corpus")
    boundaries = (cells.spread(data["boundary_mean_frames"], 2)
                  if "boundary_mean_frames" in data else "not known")
    lines = [
        f"`run.sh --mini true --seed k{' --db_root ...' if data['db_root'] else ''}` from a "
        f"fresh copy of the recipe on {corpus}, one run at a time, seeds "
        f"{', '.join(map(str, data['seeds']))} of the whole recipe (aligner and training). "
        f"Mean over seeds (min-max). Scores of stage 8 on the eval set: normalized = (model - "
        f"floor) / (baseline - floor), 0 = the recordings' own features through the same "
        f"Griffin-Lim, 1 = their mean spectrum at their mean F0. {data.get('note', '')}",
        "",
        "| wall minutes | normalized mel score | length ratio | word boundaries off (frames) |",
        "|---:|---:|---:|---:|",
        f"| {cells.spread(data['total_minutes'], 1)} | {cells.spread(data['normalized_mel'])} "
        f"| {cells.spread(data['length_ratio'])} | {boundaries} |",
        "",
        "| metric (model / floor / baseline) | mean over seeds |",
        "|---|---:|",
        f"| log-mel distance, dB | {_three(data['mel_db'], 2)} |",
        f"| MCD, dB | {_three(data['mcd_db'], 2)} |",
        f"| log-F0 RMSE, cents | {_three(data['f0_rmse_cents'], 0)} |",
        f"| voicing decision error | {_three(data['vde'], 3)} |",
        f"| gross pitch error | {_three(data['gpe'], 3)} |",
    ]
    if "mos" in data:
        lines.append(f"| DistillMOS | {_three(data['mos'], 2)} |")
    for metric, label in (("cer", "ASR character error rate (the recipe's judge)"),
                          ("wer", "ASR word error rate (the recipe's judge)")):
        if metric in data:
            lines.append(f"| {label} | {_three(data[metric], 3)} |")
    stages = data["stage_seconds"]
    if "judge" in data:
        judge = data["judge"]
        lines += ["", f"The ASR judge trained in the background from stage 6 on, on a core of its "
                  f"own (stages 6-7 ran one thread fewer meanwhile), for "
                  f"{cells.spread(judge['train_seconds'], 0)} s "
                  f"({cells.spread(judge['epochs'], 0)} epochs, best validation CER "
                  f"{cells.spread(judge['best_valid_cer'], 3)}); stage 8 waited "
                  f"{cells.spread(judge['stage_8_wait_seconds'], 0)} s for it."]
    return lines + [
        "", "| stage | " + " | ".join(stages) + " |", "|---|" + "---:|" * len(stages),
        "| seconds | " + " | ".join(f"{v:.0f}" for v in stages.values()) + " |", "",
        f"![recordings beside synthesis, seed {data['seeds'][0]}]"
        f"(benchmarks/results/{data['name']}_mels.png)"]


def headline(data: Dict) -> str:
    """The main job in one sentence: its time and its scores beside floor and baseline."""
    mel, mcd = data["mel_db"], data["mcd_db"]
    return (f"`run.sh --mini true` on the CPU: {cells.spread(data['total_minutes'], 1)} "
            f"minutes over seeds {', '.join(map(str, data['seeds']))}; normalized mel score "
            f"{cells.spread(data['normalized_mel'])} (0 = floor, 1 = no skill); log-mel "
            f"distance {_three(mel, 2)} dB and MCD {_three(mcd, 2)} dB (model / floor / "
            f"baseline)")


def same_training(old: Path, new: Path) -> Dict[str, bool]:
    """Two copies of the recipe after the same seed's stages 1-7 (made at two commits),
    compared bit for bit: the durations of every set, the alignment report, the feature
    statistics, the SNIPER state's scores and initial values, every saved model and the
    synthesized wavs. Stage 8's judge is not compared (it is trained apart)."""
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def tensors_equal(a: Dict, b: Dict) -> bool:
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    exp = Path("exp") / TAG
    same: Dict[str, bool] = {}
    files = [Path("data") / d / "durations" for d in ("train", "dev", "eval")]
    for pattern in ("exp/aligner_*/alignment_quality.json", "exp/*_stats_*/train/feats_stats.npz",
                    f"{exp}/decode_eval/wav/*.wav"):
        files += [p.relative_to(old) for p in sorted(old.glob(pattern))]
    for rel in files:
        same[str(rel)] = (new / rel).is_file() and digest(old / rel) == digest(new / rel)
    for model in sorted((old / exp).glob("*.pth")):
        if model.name.startswith("checkpoint"):
            continue  # the trainer's state also holds times and the machine's RNG states
        same[str(model.relative_to(old))] = tensors_equal(
            torch.load(model, map_location="cpu"), torch.load(new / model.relative_to(old),
                                                              map_location="cpu"))
    states = [torch.load(r / exp / "sniper" / "state.pth", map_location="cpu", weights_only=False)
              for r in (old, new)]
    for group in ("scores", "init_values"):
        same[f"sniper/state.pth {group}"] = tensors_equal(states[0][group], states[1][group])
    return same


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--db_root", type=Path, help="another corpus (default: the mini corpus)")
    parser.add_argument("--name", default="main_job", help="results name")
    parser.add_argument("--note", default="", help="what a reader must know about these runs")
    parser.add_argument("--work_dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "sniper_main_job")
    parser.add_argument("--out_dir", type=Path, default=RESULTS)
    parser.add_argument("--compare_recipes", type=Path, nargs=2, metavar=("OLD", "NEW"),
                        help="instead of running: two recipe copies of one seed, made at "
                        "--commits OLD_COMMIT NEW_COMMIT, compared bit for bit (same_training) "
                        "and recorded in the reproduction ledger")
    parser.add_argument("--commits", nargs=2, metavar=("OLD_COMMIT", "NEW_COMMIT"))
    args = parser.parse_args(argv)
    if args.compare_recipes:
        if not args.commits:
            parser.error("--compare_recipes needs --commits OLD_COMMIT NEW_COMMIT")
        same = same_training(*args.compare_recipes)
        entry = {"benchmark": "main_job.py", "run": args.compare_recipes[0].parent.name,
                 "original_commit": args.commits[0], "reproduced_at": args.commits[1],
                 "identical": all(same.values()), "reproduced": all(same.values()),
                 "rule": "identically: the trained model and what it synthesizes",
                 "numbers_compared": len(same),
                 "differences": [name for name, ok in same.items() if not ok],
                 "note": "both made on this machine, one thread; compared: " + ", ".join(same)}
        record(entry)
        print(json.dumps(entry, indent=1))
        return
    if args.db_root is not None and not (args.db_root / "metadata.csv").is_file():
        parser.error(f"--db_root {args.db_root} has no metadata.csv")
    out_dir = args.out_dir / args.name
    out_dir.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        path = out_dir / f"seed{seed}.json"
        if path.exists():
            continue
        logging.info(f"{args.name} seed {seed}: run.sh --mini true in {args.work_dir}")
        result = {**provenance("main_job.py"), **run_once(args.work_dir / args.name, seed,
                                                          args.db_root)}
        write_result(path, result)
        mel = result["scores"]["mel_db"]["normalized"]["mean"]
        logging.info(f"seed {seed}: {result['total_seconds'] / 60:.1f} min, normalized mel "
                     f"{mel:.3f}, length ratio "
                     f"{result['scores']['length_ratio']['model']['mean']:.3f}")
        if seed == args.seeds[0]:
            shutil.copyfile(result["mels_png"], args.out_dir / f"{args.name}_mels.png")
    runs = [load_result(out_dir / f"seed{s}.json") for s in args.seeds]
    summary = {**provenance("main_job.py"), "name": args.name,
               "db_root": str(args.db_root) if args.db_root else None, "note": args.note,
               **summarize(runs)}
    write_result(out_dir.with_suffix(".json"), summary)


if __name__ == "__main__":
    main()
