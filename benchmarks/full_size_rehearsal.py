#!/usr/bin/env python3
"""LJSpeech's size, rehearsed on this machine: what ``./run.sh`` without ``--mini`` costs.

LJSpeech cannot be downloaded here, so a corpus with its utterance count and its clip
lengths is generated (LJSpeech's published figures: 13,100 clips, 1.11-10.10 s, 6.57 s and
17.23 words on average, 23.9 hours): the mini corpus's prose, sentences joined until a
clip's drawn length is reached, spoken by espeak-ng (en-us) at the rate that speaks that
prose at LJSpeech's 2.62 words a second, with the sample each word starts at. Seeded and
deterministic; built into ``.partial`` and renamed when complete.

Then stages 1-5 of the recipe as a user runs them, one ``--stage k --stop_stage k`` at a
time, with the paper-size configs and the forward-sum aligner (its full config): per stage
the wall and CPU seconds, the peak resident memory of its largest process, and the files
and bytes under data/, exp/ and dump/ afterwards; the aligner's word-boundary error comes
from stage 4 (the corpus knows where espeak-ng started each word). Then, shrunk through
the pass-through options as a user would test, the Tacotron2 teacher (stage 3 with
``--aligner tacotron2``: its statistics over the whole corpus and a few iterations) and the
paper-size SNIPER FastSpeech2 (stage 6: a few iterations, one optimizer update per
``accum_grad`` of them); their seconds per iteration, from ESPnet's own reporter, give an
epoch (the configs' ``num_iters_per_epoch``) and a whole training (``max_epoch``) on this CPU.

Each finished step writes its part of the result and a rerun skips it (the corpus and the
recipe copy stay in ``--work_dir``), so a killed run resumes where it stopped.

    python -m benchmarks.full_size_rehearsal --num_utts 1310   # a tenth: the scaling check
    python -m benchmarks.full_size_rehearsal                  # 13,100 utterances: hours

Writes ``benchmarks/results/full_size_rehearsal.json`` (one entry per corpus size, kept
across runs of other sizes).
"""

import argparse
import json
import logging
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import soundfile
import torch
import yaml

from benchmarks.core.recipe import copy_recipe, run_sh
from benchmarks.core.results import REPO, RESULTS, provenance, write_result
from benchmarks.core.staleness import FASTSPEECH2_LIBRARY, RECIPE_CODE
from espnet_sniper.fileio import atomic_write_text
from espnet_sniper.recipe.corpus import espeak_synth
from espnet_sniper.recipe.corpus.mini_corpus import sentences

INPUTS = (*FASTSPEECH2_LIBRARY, *RECIPE_CODE, "conf/train_sniper.yaml",
          "conf/train_tacotron2_teacher.yaml", "conf/align_forward_sum.yaml",
          "benchmarks/core/recipe.py", "benchmarks/full_size_rehearsal.py")
RESULT_FILES = {"full_size_rehearsal.json": "LJSpeech's size, rehearsed"}
# https://keithito.com/LJ-Speech-Dataset/ ("Total Clips", "Mean/Min/Max Clip Duration",
# "Mean Words per Clip", "Total Duration 23:55:17")
LJSPEECH = {"utterances": 13100, "mean_seconds": 6.57, "min_seconds": 1.11,
            "max_seconds": 10.10, "words_per_clip": 17.23, "hours": 23.92}
# clip lengths: a Beta over LJSpeech's range with LJSpeech's mean (LJSpeech publishes no
# shape; its clips lean long: most are 5-10 s)
BETA = (3.0, 3.0 * (LJSPEECH["max_seconds"] - LJSPEECH["mean_seconds"])
        / (LJSPEECH["mean_seconds"] - LJSPEECH["min_seconds"]))
WORDS_PER_SECOND = LJSPEECH["words_per_clip"] / LJSPEECH["mean_seconds"]
# espeak-ng en-us speaks the mini corpus's prose at 2.45 words/s at 135 wpm and 2.72 at
# 150 (measured 2026-12-02): LJSpeech's 2.62 lies at about 145
ESPEAK_WPM = 145
VOICE = "en-us"
PAPER_FASTSPEECH2_DAYS = 4  # the paper: about 4 days on one Titan V for this config
# the teacher's 5,000,000-bin batch does not fit this machine's 24 GB on the CPU (its
# attention over about 110 LJSpeech-length utterances was killed): timed at an eighth of
# it and scaled by 8, an upper bound (a step's fixed costs do not grow with the batch)
TEACHER_BATCH_SHARE = 8
STAGES = {1: "data", 2: "validation and tokens", 3: "forward-sum aligner",
          4: "durations, checked", 5: "statistics"}


# ------------------------------------------------------------------------------ corpus
def clip_texts(n: int, seed: int) -> List[str]:
    """``n`` transcripts whose word counts follow LJSpeech's clip lengths."""
    rng = random.Random(seed)
    pool = [normalized for _, normalized in sentences(3 * n, seed)]
    texts, cursor = [], 0
    for _ in range(n):
        seconds = LJSPEECH["min_seconds"] + rng.betavariate(*BETA) * (
            LJSPEECH["max_seconds"] - LJSPEECH["min_seconds"])
        want = max(1, round(seconds * WORDS_PER_SECOND))
        words: List[str] = []
        while len(words) < want:
            words += pool[cursor % len(pool)].split()
            cursor += 1
        clip = " ".join(words[:want])
        texts.append(clip if clip[-1] in ".?!" else clip.rstrip(",;:") + ".")
    return texts


def _speak(text: str) -> Tuple:
    return espeak_synth.speak(text, VOICE, ESPEAK_WPM)


def make_corpus(out_dir: Path, n: int, seed: int) -> Dict:
    """The corpus in LJSpeech's layout (metadata.csv, wavs/, word_onsets.txt)."""
    marker = out_dir / ".complete"
    wanted = {"num_utts": n, "seed": seed, "voice": VOICE, "wpm": ESPEAK_WPM}
    if marker.is_file() and json.loads(marker.read_text())["params"] == wanted:
        return json.loads(marker.read_text())["summary"]
    if out_dir.exists():
        sys.exit(f"error: {out_dir} exists but is not this corpus ({wanted}); remove it")
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "wavs").mkdir(parents=True)
    texts = clip_texts(n, seed)
    start = time.perf_counter()
    lines, onset_lines, seconds = [], [], []
    # a fresh process per utterance, as the mini corpus (espeak_synth says why)
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1,
                                                 maxtasksperchild=1) as pool:
        for i, (text, (samples, rate, onsets)) in enumerate(
                zip(texts, pool.imap(_speak, texts, chunksize=1)), 1):
            uid = f"LJR{(i - 1) // 1000 + 1:02d}-{i:05d}"
            soundfile.write(str(partial / "wavs" / f"{uid}.wav"), samples, rate,
                            subtype="PCM_16")
            lines.append(f"{uid}|{text}|{text}")
            onset_lines.append(" ".join([uid, *map(str, onsets)]))
            seconds.append(len(samples) / rate)
    (partial / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (partial / "word_onsets.txt").write_text("\n".join(onset_lines) + "\n", encoding="utf-8")
    words = [len(t.split()) for t in texts]
    summary = {"utterances": n, "hours": sum(seconds) / 3600,
               "mean_seconds": sum(seconds) / n, "min_seconds": min(seconds),
               "max_seconds": max(seconds), "words_per_clip": sum(words) / n,
               "generation_seconds": time.perf_counter() - start,
               "bytes": sum(f.stat().st_size for f in (partial / "wavs").iterdir())}
    (partial / ".complete").write_text(json.dumps({"params": wanted, "summary": summary}))
    partial.rename(out_dir)
    return summary


# ------------------------------------------------------------------------------ stages
# runs one command and reports its children's peak memory and CPU time (a fresh process
# per stage, so the maximum is that stage's)
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[2:]).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(json.dumps({"rc": code, "seconds": time.perf_counter() - start,
    "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_bytes": usage.ru_maxrss * 1024}))
"""


def measured(cmd: List[str], cwd: Path, log: Path) -> Dict:
    out = log.with_suffix(".usage.json")
    with open(log, "w") as f:
        subprocess.run([sys.executable, "-c", _MEASURE, str(out), *cmd], cwd=cwd, stdout=f,
                       stderr=subprocess.STDOUT, check=True)
    usage = json.loads(out.read_text())
    if usage.pop("rc") != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: see {log}")
    return usage


def footprint(recipe: Path) -> Dict:
    """Files and bytes under the folders the recipe writes."""
    out = {}
    for name in ("data", "exp", "dump"):
        files = [p for p in (recipe / name).rglob("*") if p.is_file() and not p.is_symlink()]
        out[name] = {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}
    return out


def training_rate(exp: Path) -> Dict:
    """Seconds per iteration and per validation pass, from ESPnet's reporter."""
    stats = torch.load(exp / "checkpoint.pth", map_location="cpu",
                       weights_only=False)["reporter"]["stats"][1]
    iterations = int(stats["train"]["total_count"])
    return {"iterations": iterations,
            "seconds_per_iteration": stats["train"]["time"].total_seconds() / iterations,
            "validation_seconds": stats["valid"]["time"].total_seconds()}


def aligner_rate(stage_log: Path, steps: int, config_steps: int) -> Dict:
    """The forward-sum aligner's training time (its own log line), per step and for the
    config's number of steps."""
    marker = "aligner trained in "
    lines = [line for line in stage_log.read_text().splitlines() if marker in line]
    if not lines:
        raise RuntimeError(f"{stage_log}: no '{marker}' line: did the aligner train?")
    seconds = float(lines[-1].split(marker)[1].split()[0])
    return {"steps": steps, "training_seconds": seconds, "seconds_per_step": seconds / steps,
            "config_steps": config_steps,
            "config_training_hours": seconds / steps * config_steps / 3600}


def full_training(rate: Dict, config: Path) -> Dict:
    """An epoch and the whole training of ``config`` at the measured rate."""
    conf = yaml.safe_load(config.read_text())
    epoch = conf["num_iters_per_epoch"] * rate["seconds_per_iteration"] + rate["validation_seconds"]
    return {"config": str(config.relative_to(REPO)), "num_iters_per_epoch":
            conf["num_iters_per_epoch"], "accum_grad": conf.get("accum_grad", 1),
            "max_epoch": conf["max_epoch"], "epoch_hours": epoch / 3600,
            "training_days": conf["max_epoch"] * epoch / 86400}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num_utts", type=int, default=LJSPEECH["utterances"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nj", type=int, default=os.cpu_count() or 1,
                        help="run.sh's --nj (statistics jobs)")
    parser.add_argument("--aligner_steps", type=int, default=None,
                        help="the forward-sum aligner's steps (default: its config's; fewer "
                        "only to try this script out: the error then says little)")
    parser.add_argument("--train_iterations", type=int, default=8,
                        help="iterations of the teacher and FastSpeech2 to time")
    parser.add_argument("--work_dir", type=Path, default=Path("/tmp/espnet_sniper_rehearsal"))
    parser.add_argument("--out", type=Path, default=RESULTS / "full_size_rehearsal.json")
    args = parser.parse_args(argv)
    if args.num_utts < 30:
        parser.error(f"--num_utts {args.num_utts}: at least 30 (train, dev and eval sets)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
    work = args.work_dir / str(args.num_utts)
    work.mkdir(parents=True, exist_ok=True)
    partial_path = work / "result.json"
    result = json.loads(partial_path.read_text()) if partial_path.is_file() else {}

    def save(key, value):
        result[key] = value
        atomic_write_text(partial_path, json.dumps(result, indent=1))

    corpus = work / "LJSpeech-rehearsal"
    logging.info(f"corpus: {args.num_utts} utterances -> {corpus}")
    save("corpus", make_corpus(corpus, args.num_utts, args.seed))
    recipe = work / "sniper_tts1"
    if not (recipe / "run.sh").exists():
        copy_recipe(work)
    recipe_command = run_sh(mini=False, db_root=corpus, nj=args.nj)
    forward_sum = recipe_command + ["--aligner", "forward_sum"]
    if args.aligner_steps:
        forward_sum += ["--aligner_args", f"--steps {args.aligner_steps}"]
    stages = result.setdefault("stages", {})
    for stage, name in STAGES.items():
        if str(stage) in stages:
            continue
        logging.info(f"stage {stage} ({name}) of {args.num_utts} utterances")
        usage = measured(forward_sum + ["--stage", str(stage), "--stop_stage", str(stage)],
                         recipe, work / f"stage{stage}.log")
        stages[str(stage)] = {"name": name, **usage, "after": footprint(recipe)}
        save("stages", stages)
    config_steps = yaml.safe_load((REPO / "conf/align_forward_sum.yaml").read_text())["steps"]
    if "aligner" not in result:
        report = json.loads((recipe / "exp/aligner_align_forward_sum/alignment_quality.json")
                            .read_text())
        save("aligner", {s: v.get("word_onset_error", {}) for s, v in report["sets"].items()})
    if "aligner_training" not in result:
        save("aligner_training", aligner_rate(work / "stage3.log",
                                              args.aligner_steps or config_steps, config_steps))

    shrink = f"--max_epoch 1 --num_iters_per_epoch {args.train_iterations}"
    if "teacher" not in result:
        logging.info("the Tacotron2 teacher: statistics and %d iterations", args.train_iterations)
        teacher_config = REPO / "conf/train_tacotron2_teacher.yaml"
        bins = yaml.safe_load(teacher_config.read_text())["batch_bins"] // TEACHER_BATCH_SHARE
        usage = measured(recipe_command + ["--aligner", "tacotron2", "--stage", "3",
                                           "--stop_stage", "3", "--aligner_args",
                                           f"{shrink} --num_att_plot 0 --batch_bins {bins}"],
                         recipe, work / "teacher.log")
        rate = training_rate(recipe / "exp/teacher_train_tacotron2_teacher")
        timed = dict(rate, batch_bins=bins)
        rate["seconds_per_iteration"] *= TEACHER_BATCH_SHARE
        save("teacher", {**usage, **rate, "timed_at": timed,
                         "batch_share_scaled": TEACHER_BATCH_SHARE,
                         **full_training(rate, teacher_config)})
    if "fastspeech2" not in result:
        logging.info("the paper-size SNIPER FastSpeech2: %d iterations", args.train_iterations)
        usage = measured(forward_sum + ["--stage", "6", "--stop_stage", "6",
                                        "--train_args", shrink],
                         recipe, work / "fastspeech2.log")
        rate = training_rate(recipe / "exp/tts_train_sniper")
        save("fastspeech2", {**usage, **rate,
                             **full_training(rate, REPO / "conf/train_sniper.yaml"),
                             "paper_days_on_one_titan_v": PAPER_FASTSPEECH2_DAYS})

    everything = json.loads(args.out.read_text()) if args.out.is_file() else {}
    everything.update(provenance("full_size_rehearsal.py"))
    everything.setdefault("sizes", {})[str(args.num_utts)] = {
        **result, "nj": args.nj, "train_iterations": args.train_iterations,
        "aligner_steps": args.aligner_steps or config_steps,
        "ljspeech": LJSPEECH, "measured": provenance("full_size_rehearsal.py")}
    write_result(args.out, everything)
    logging.info(f"wrote {args.out}")


def measured_at(data: Dict) -> List[str]:
    """Each corpus size is measured on its own: its commit."""
    return [r["measured"]["commit"] for r in data["sizes"].values()]


def _scaled_seconds(run: Dict, stage: str) -> float:
    """A stage's CPU seconds, or for the aligner's stage its wall seconds less its training
    (a fixed number of steps, not a function of the corpus)."""
    if stage == "3" and run.get("aligner_training"):
        return run["stages"][stage]["seconds"] - run["aligner_training"]["training_seconds"]
    return run["stages"][stage]["cpu_seconds"]


def table(data: Dict) -> List[str]:
    sizes = sorted(data["sizes"].items(), key=lambda kv: int(kv[0]))
    lj = sizes[0][1]["ljspeech"]
    corpora = "; ".join(
        f"{int(n):,} utterances, {r['corpus']['hours']:.1f} h, {r['corpus']['mean_seconds']:.2f} s "
        f"on average ({r['corpus']['min_seconds']:.2f}-{r['corpus']['max_seconds']:.2f}), "
        f"{r['measured']['date']}, commit {r['measured']['commit']}" for n, r in sizes)
    head = " | ".join(f"{int(n):,}: wall min | CPU min | peak GB | files | GB" for n, _ in sizes)
    lines = [
        f"`run.sh` without `--mini`, stage by stage, on generated corpora with LJSpeech's "
        f"clip lengths (LJSpeech: {lj['utterances']:,} clips, {lj['hours']:.1f} h, "
        f"{lj['mean_seconds']} s on average, {lj['min_seconds']}-{lj['max_seconds']} s); "
        f"here: {corpora}. The paper-size configs with the forward-sum aligner; "
        f"`--nj {sizes[0][1]['nj']}`. Peak: the largest process's resident memory; files "
        f"and GB: under data/, exp/ and dump/ after the stage.",
        "",
        f"| stage | {head} |" + (" growth / linear |" if len(sizes) > 1 else ""),
        "|---|" + "---:|" * (5 * len(sizes)) + ("---:|" if len(sizes) > 1 else ""),
    ]
    for stage in sizes[-1][1]["stages"]:
        row = []
        for _, r in sizes:
            st = r["stages"].get(stage)
            if st is None:
                row.append("- | - | - | - | -")
                continue
            files = sum(d["files"] for d in st["after"].values())
            size = sum(d["bytes"] for d in st["after"].values()) / 1e9
            row.append(f"{st['seconds'] / 60:.1f} | {st['cpu_seconds'] / 60:.1f} | "
                       f"{st['peak_rss_bytes'] / 1e9:.2f} | {files:,} | {size:.2f}")
        growth = ""
        if len(sizes) > 1 and all(stage in r["stages"] for _, r in (sizes[0], sizes[-1])):
            (n0, r0), (n1, r1) = sizes[0], sizes[-1]
            ratio = (_scaled_seconds(r1, stage) / _scaled_seconds(r0, stage)
                     / (int(n1) / int(n0)))
            growth = f" {ratio:.2f} |"
        name = sizes[-1][1]["stages"][stage]["name"]
        lines.append(f"| {stage} {name} | " + " | ".join(row) + " |" + growth)
    if len(sizes) > 1:
        lines += ["", "Growth / linear: the largest corpus's CPU time over the smallest's, "
                  "divided by the ratio of their sizes (1: linear in the corpus); for stage 3, "
                  "its wall time less the aligner's training, whose number of steps does not "
                  "depend on the corpus."]
    lines += ["", "| corpus | aligner steps (config's) | training s / step | the config's "
              "steps would take | word boundaries off, train (frames) | dev | equal shares "
              "per token |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for n, r in sizes:
        onset, fit = r.get("aligner", {}), r.get("aligner_training")
        train, dev = onset.get("train", {}), onset.get("dev", {})
        if not train.get("utterances_compared") or not fit:
            continue
        lines.append(f"| {int(n):,} | {fit['steps']} ({fit['config_steps']}) | "
                     f"{fit['seconds_per_step']:.2f} | {fit['config_training_hours']:.1f} h | "
                     f"{train['boundary_mean_frames']:.2f} | "
                     f"{dev.get('boundary_mean_frames', float('nan')):.2f} | "
                     f"{train['naive_mean_frames']:.2f} |")
    lines += ["", "| model (corpus) | iterations timed | s / iteration | validation s | "
              "epoch on this CPU | whole training on this CPU |", "|---|---:|---:|---:|---:|---:|"]
    for n, r in sizes:
        for key, label in (("teacher", "Tacotron2 teacher"), ("fastspeech2", "SNIPER FastSpeech2")):
            t = r.get(key)
            if not t:
                continue
            lines.append(
                f"| {label} ({int(n):,}) | {t['iterations']} | {t['seconds_per_iteration']:.1f} | "
                f"{t['validation_seconds']:.0f} | {t['epoch_hours']:.2f} h "
                f"({t['num_iters_per_epoch']} iterations, accum_grad {t['accum_grad']}) | "
                f"{t['training_days']:.0f} days ({t['max_epoch']} epochs) |")
    teacher = sizes[-1][1].get("teacher")
    if teacher and teacher.get("batch_share_scaled"):
        lines += ["", f"The teacher was timed at 1/{teacher['batch_share_scaled']} of its "
                  f"config's batch_bins ({teacher['timed_at']['batch_bins']:,}: the whole "
                  f"batch does not fit this machine's memory on the CPU, "
                  f"{teacher['timed_at']['seconds_per_iteration']:.1f} s / iteration) and "
                  f"scaled by {teacher['batch_share_scaled']}: an upper bound."]
    paper = sizes[-1][1].get("fastspeech2", {}).get("paper_days_on_one_titan_v")
    if paper:
        lines += ["", f"The paper trained the FastSpeech2 config in about {paper} days on "
                  f"one Titan V."]
    return lines


if __name__ == "__main__":
    main()
