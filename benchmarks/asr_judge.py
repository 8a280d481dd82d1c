#!/usr/bin/env python3
"""The ASR judge of stage 8: what it costs, whether it separates floor from baseline, and
what it says of the grid's models.

On a recipe prepared by ``python -m benchmarks.training_quality`` (the mini corpus, 464
utterances, 40 dev and 40 eval), the judge is trained as stage 8 trains it
(``espnet_sniper.recipe.evaluation.asr_judge``, ``conf/asr_judge.yaml``, data/train only;
reused when already trained on that corpus), then
transcribes the eval recordings, the floor and the no-skill baseline (the wavs stage 8
wrote) and every grid model's synthesis found under ``<recipe>/exp/<contender>_seed<k>``.
Error rates are per utterance, normalized as the scorer normalizes; the contenders'
differences from dense are paired by seed, with 95 % t-intervals over seeds.

    python -m benchmarks.asr_judge --recipe /tmp/espnet_sniper_quality/sniper_tts1

Writes ``benchmarks/results/asr_judge.json``.
"""

import argparse
import json
import logging
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

import soundfile

from benchmarks.core import cells
from benchmarks.core.results import REPO, RESULTS, provenance, write_result
from espnet_sniper.recipe.evaluation.asr_judge import judge_epochs
from espnet_sniper.recipe.evaluation.statistics import interval
from espnet_sniper.recipe.evaluation.intelligibility import error_rates, transcriber
from espnet_sniper.recipe.evaluation.samples_page import references_folder
from espnet_sniper.recipe.kaldi_dir import read_table

RUN = re.compile(r"^(?P<contender>.+)_seed(?P<seed>\d+)$")
INPUTS = ("espnet_sniper/recipe/evaluation", "espnet_sniper/recipe/kaldi_dir.py",
          "conf/asr_judge.yaml", "benchmarks/asr_judge.py")
RESULT_FILES = {"asr_judge.json": "Intelligibility: the recipe's ASR judge"}
REFERENCE_NAMES = {"recording": "recordings", "floor": "floor (recordings through Griffin-Lim)",
                   "baseline": "no-skill baseline"}


def rates(transcribe, texts: Dict[str, str], wav_of) -> Dict[str, Dict[str, float]]:
    rows = {}
    for uid in sorted(texts):
        wav, fs = soundfile.read(str(wav_of(uid)))
        rows[uid] = error_rates(texts[uid], transcribe(wav, fs))
    return rows


def summary(rows: Dict[str, Dict[str, float]]) -> Dict:
    return {m: interval([r[m] for r in rows.values()]) for m in ("cer", "wer")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", type=Path,
                        default=Path("/tmp/espnet_sniper_quality/sniper_tts1"),
                        help="a recipe prepared by training_quality.py (stages 1-5) whose exp/ "
                        "holds grid runs")
    parser.add_argument("--out", type=Path, default=RESULTS / "asr_judge.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
    data = args.recipe / "data"
    if not (data / "train" / "wav.scp").is_file():
        parser.error(f"--recipe {args.recipe} has no data/train: run training_quality.py first")
    runs = sorted(d for d in (args.recipe / "exp").iterdir()
                  if RUN.match(d.name) and (d / "results.json").is_file())
    if not runs:
        parser.error(f"--recipe {args.recipe}: no exp/<contender>_seed<k> scored by stage 8")

    done = subprocess.run(
        [sys.executable, "-m", "espnet_sniper.recipe.evaluation.asr_judge",
         "--train_dir", "data/train", "--valid_dir", "data/dev", "--config", str(REPO / "conf" / "asr_judge.yaml"),
         "--cache_dir", "exp/asr_judge"], cwd=args.recipe, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the judge's training failed:\n{done.stderr[-3000:]}")
    judge_dir = args.recipe / done.stdout.strip().splitlines()[-1]
    judge = json.loads((judge_dir / "judge.json").read_text())
    transcribe = transcriber(f"judge:{judge_dir}")
    texts = read_table(data / "eval" / "text")
    recordings = read_table(data / "eval" / "wav.scp")
    # the floor and baseline stage 8 wrote, found as the samples page finds them (runs after
    # the first reuse its references)
    references = references_folder(runs[0].name, runs[0],
                                   json.loads((runs[0] / "results.json").read_text()))
    heard = {"recording": rates(transcribe, texts, lambda u: recordings[u]),
             "floor": rates(transcribe, texts, lambda u: references / "floor" / f"{u}.wav"),
             "baseline": rates(transcribe, texts,
                               lambda u: references / "baseline" / f"{u}.wav")}
    systems = {s: summary(r) for s, r in heard.items()}
    logging.info("judge: CER recordings %.3f, floor %.3f, baseline %.3f",
                 *(systems[s]["cer"]["mean"] for s in ("recording", "floor", "baseline")))
    floor, base = systems["floor"]["cer"]["mean"], systems["baseline"]["cer"]["mean"]
    models: Dict[str, Dict[int, Dict]] = defaultdict(dict)
    for run in runs:
        found = RUN.match(run.name)
        rows = rates(transcribe, texts, lambda u: run / "decode_eval" / "wav" / f"{u}.wav")
        means = {m: statistics.fmean(r[m] for r in rows.values()) for m in ("cer", "wer")}
        models[found["contender"]][int(found["seed"])] = {
            **means, "normalized_cer": (means["cer"] - floor) / (base - floor)}
        logging.info("%s: CER %.3f, WER %.3f", run.name, means["cer"], means["wer"])
    contenders = {}
    for name, seeds in sorted(models.items()):
        entry = {m: interval([s[m] for s in seeds.values()]) for m in ("cer", "wer")}
        dense = models.get("dense", {})
        paired = sorted(set(seeds) & set(dense))
        if name != "dense" and len(paired) >= 2:
            entry["minus_dense"] = {m: interval([seeds[k][m] - dense[k][m] for k in paired])
                                    for m in ("cer", "wer")}
        entry["seeds"] = {str(k): v for k, v in sorted(seeds.items())}
        contenders[name] = entry
    result = {**provenance("asr_judge"),
              "setup": {"recipe": str(args.recipe), "eval_utterances": len(texts),
                        "judge_dir": str(judge_dir.relative_to(args.recipe)),
                        "normalization": "intelligibility.normalize_text"},
              "judge": {**judge, "epochs": judge_epochs(judge_dir / "train.log")},
              "references": systems,
              "contenders": contenders}
    write_result(args.out, result)
    logging.info("wrote %s", args.out)


def table(data: Dict) -> List[str]:
    judge, setup = data["judge"], data["setup"]
    best = min(judge["epochs"], key=lambda e: e["valid_cer"]) if judge["epochs"] else None
    lines = [
        f"The judge stage 8 trains (`{Path(judge['config']).name}`, ESPnet CTC over "
        f"characters) on the {judge['train_utterances']} training recordings of the grid's "
        f"corpus in {judge['train_seconds'] / 60:.1f} minutes"
        + (f", best epoch {best['epoch']} of {len(judge['epochs'])} (dev CER "
           f"{best['valid_cer']:.3f})" if best else "")
        + f"; error rates on the {setup['eval_utterances']} eval utterances (per utterance, "
        f"averaged; 95 % t-intervals over utterances for the references, over seeds for the "
        f"grid's models; texts normalized alike, see "
        f"`espnet_sniper/recipe/evaluation/intelligibility.py`). It is useful only if it "
        f"hears the recordings and the floor and not the no-skill baseline.", "",
        "| system | CER | WER |", "|---|---:|---:|"]
    for name, r in data["references"].items():
        lines.append(f"| {REFERENCE_NAMES.get(name, name)} | {cells.mean_ci(r['cer'])} | "
                     f"{cells.mean_ci(r['wer'])} |")
    for name, r in data["contenders"].items():
        lines.append(f"| {name} ({r['cer']['n']} seeds, last epoch) | "
                     f"{cells.mean_ci(r['cer'])} | {cells.mean_ci(r['wer'])} |")
    diffs = [(n, r["minus_dense"]) for n, r in data["contenders"].items() if "minus_dense" in r]
    if diffs:
        lines += ["", "Paired by seed, minus dense: " + "; ".join(
            f"{n} CER {cells.ci(d['cer'])}, WER {cells.ci(d['wer'])}" for n, d in diffs) + "."]
    return lines


if __name__ == "__main__":
    main()
