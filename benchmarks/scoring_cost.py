#!/usr/bin/env python3
"""What SNIP scoring costs, and how much of an epoch it needs.

On the recipe's own data (the corpus, durations and features of
``benchmarks.core.recipe.prepare``, shared with the grids) and the mini FastSpeech2,
initialized as ESPnet's trainer does:

1. Time: SNIP scoring over N batches against N dense training steps (ESPnet's
   ``Trainer.train_one_epoch``) over the same batches, alternated, repeated. Scoring is a
   forward and backward per batch with the gradients summed in place, so it should cost
   no more than the steps (no model rebuilds).
2. Masks: scores from the first 1 %, 10 % and 100 % of epoch 1's batches, masks at 40 %
   with the shipped sniper_conf (cap, exclusions); the overlap of kept entries
   (intersection over union) between every pair, next to what two random masks of that
   density would share.

    python -m benchmarks.scoring_cost --quick   # the 60-utterance corpus, a few minutes
    python -m benchmarks.scoring_cost           # the 400-utterance mini corpus

Writes benchmarks/results/scoring_cost.json.
"""

import argparse
import dataclasses
import json
import logging
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import torch
import yaml

from benchmarks.core import cells
from benchmarks.core.recipe import prepare, run_logged, run_sh
from benchmarks.core.reproductions import outside_range, printed_differences
from benchmarks.core.results import REPO, RESULTS, provenance, write_result
from benchmarks.core.staleness import FASTSPEECH2_LIBRARY, RECIPE_CODE
from benchmarks.core.training import train_epoch
from espnet2.torch_utils.set_all_random_seed import set_all_random_seed
from espnet2.train.distributed_utils import DistributedOption
from espnet2.train.trainer import Trainer
from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.fileio import atomic_write_text
from espnet_sniper.recipe.evaluation.statistics import ratio_range
from espnet_sniper.masks import ScoreRanking, prunable_parameters
from espnet_sniper.snip import snip_scores
from espnet_sniper.tasks.tts import SniperTTSTask

SPARSITY = 40
FRACTIONS = (0.01, 0.1, 1.0)
INPUTS = (*FASTSPEECH2_LIBRARY, "conf/mini", *RECIPE_CODE, "benchmarks/core/recipe.py",
          "benchmarks/core/training.py", "benchmarks/scoring_cost.py")
RESULT_FILES = {"scoring_cost.json": "Cost of SNIP scoring"}
TOLERANCE = ("with the scoring / dense median time inside the committed [min, max] and the "
             "masks' overlaps equal to their printed digits")


def probe_config(recipe: Path) -> Path:
    """config.yaml of a one-epoch dense run: every argument ESPnet's trainer was given."""
    exp = recipe / "exp" / "scoring_probe"
    if not (exp / "1epoch.pth").exists():
        conf = yaml.safe_load((REPO / "conf/mini/train_fastspeech2.yaml").read_text())
        conf["max_epoch"] = 1
        atomic_write_text(recipe / "scoring_probe.yaml", yaml.safe_dump(conf, sort_keys=False))
        run_logged(run_sh(stage=6, stop_stage=6, train_config="scoring_probe.yaml",
                          tag="scoring_probe"), recipe, recipe / "scoring_probe.log")
    return exp / "config.yaml"


def fresh_model(args) -> torch.nn.Module:
    """The model at initialization, as espnet2's main_worker builds it (build_model
    applies the config's ``init``)."""
    set_all_random_seed(args.seed)
    return SniperTTSTask.build_model(args)


def timing(args, batches: List, reps: int) -> Dict:
    scoring_model = fresh_model(args)
    sniper = parse_sniper_conf(yaml.safe_load(
        (REPO / "conf/mini/train_sniper.yaml").read_text())["sniper_conf"])
    params = prunable_parameters(scoring_model, sniper.exclude_params)
    training_model = fresh_model(args)
    optimizer = torch.optim.Adam(training_model.parameters(), **args.optim_conf)
    options = dataclasses.replace(
        SniperTTSTask.trainer.build_options(args), ngpu=0, log_interval=10**9,
        use_wandb=False, use_tensorboard=False)
    snip_scores(scoring_model, params, batches[:1])  # warm-up, both
    train_epoch(Trainer, training_model, [optimizer], batches[:1], options)
    seconds = {"scoring": [], "dense_steps": []}
    for _ in range(reps):
        start = time.perf_counter()
        snip_scores(scoring_model, params, batches)
        seconds["scoring"].append(time.perf_counter() - start)
        start = time.perf_counter()
        train_epoch(Trainer, training_model, [optimizer], batches, options)
        seconds["dense_steps"].append(time.perf_counter() - start)
    return {"batches": len(batches), "repetitions": reps,
            "seconds_median": {k: statistics.median(v) for k, v in seconds.items()},
            "ratio_scoring_over_dense": ratio_range(seconds["scoring"], seconds["dense_steps"])}


def mask_overlap(args, batches: List) -> Dict:
    sniper = parse_sniper_conf(yaml.safe_load(
        (REPO / "conf/mini/train_sniper.yaml").read_text())["sniper_conf"])
    counts = {f: max(1, math.ceil(f * len(batches))) for f in FRACTIONS}
    masks, seconds = {}, {}
    for fraction, n in counts.items():
        model = fresh_model(args)
        params = prunable_parameters(model, sniper.exclude_params)
        start = time.perf_counter()
        scores = snip_scores(model, params, batches[:n])
        seconds[fraction] = time.perf_counter() - start
        kept = ScoreRanking(scores, sniper.tie_break_seed).masks(SPARSITY,
                                                                 sniper.max_param_sparsity)
        masks[fraction] = torch.cat([m.reshape(-1) for m in kept.values()])
    pairs = {}
    for i, a in enumerate(FRACTIONS):
        for b in FRACTIONS[i + 1:]:
            inter = int((masks[a] & masks[b]).sum())
            union = int((masks[a] | masks[b]).sum())
            pairs[f"{a:g}_vs_{b:g}"] = inter / union
    density = float(masks[1.0].float().mean())
    return {
        "sparsity": SPARSITY,
        "max_param_sparsity": sniper.max_param_sparsity,
        "epoch_batches": len(batches),
        "scoring_batches": {f"{f:g}": n for f, n in counts.items()},
        "scoring_seconds": {f"{f:g}": s for f, s in seconds.items()},
        "kept_iou": pairs,
        # two independent random masks keeping a share d each: d^2 / (2d - d^2)
        "random_masks_iou": density ** 2 / (2 * density - density ** 2),
    }


def recommendation(overlap: Dict, threshold: float = 0.9) -> Dict:
    """The smallest share of an epoch whose masks agree with the whole epoch's."""
    for fraction in FRACTIONS[:-1]:
        if overlap["kept_iou"][f"{fraction:g}_vs_1"] >= threshold:
            return {"fraction": fraction, "batches": overlap["scoring_batches"][f"{fraction:g}"],
                    "criterion": f"kept-entry IoU with a whole epoch's masks >= {threshold}"}
    return {"fraction": 1.0, "batches": overlap["epoch_batches"],
            "criterion": f"no smaller share reached IoU {threshold} with a whole epoch"}


def reproduces(committed: Dict, new: Dict) -> List[str]:
    ratio = "timing.ratio_scoring_over_dense"
    return (outside_range(f"{ratio}.median", new["timing"]["ratio_scoring_over_dense"]["median"],
                          committed["timing"]["ratio_scoring_over_dense"])
            + printed_differences(committed["masks"], new["masks"],
                                  {f"kept_iou.{k}": 3 for k in committed["masks"]["kept_iou"]}))


def table(data: Dict) -> List[str]:
    t, m = data["timing"], data["masks"]
    ratio = t["ratio_scoring_over_dense"]
    rec = data["recommended_score_batches"]
    iou = m["kept_iou"]
    return [
        f"Mini FastSpeech2, {data['corpus_utterances']}-utterance corpus, "
        f"{m['epoch_batches']} batches per epoch: scoring {t['batches']} batches took "
        f"{cells.goal(ratio['median'], 1.0, (ratio['min'], ratio['max']))} times as long as "
        f"{t['batches']} dense training steps on them (median of {t['repetitions']}, "
        f"[{ratio['min']:.3f}, {ratio['max']:.3f}]).",
        "",
        f"| masks at {m['sparsity']} % from | batches | scoring s | kept-entry IoU with "
        f"a whole epoch's |",
        "|---|---:|---:|---:|",
        *[f"| {float(f) * 100:g} % of epoch 1 | {n} | {m['scoring_seconds'][f]:.1f} | "
          f"{iou[f'{f}_vs_1'] if f != '1' else 1.0:.3f} |"
          for f, n in m["scoring_batches"].items()],
        "",
        f"1 % against 10 %: IoU {iou['0.01_vs_0.1']:.3f}; two random masks of this density "
        f"would share {m['random_masks_iou']:.3f}. Recommended `score_batches`: "
        f"{rec['batches']} ({rec['fraction'] * 100:g} % of an epoch here; {rec['criterion']}).",
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 60-utterance corpus")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work_dir", type=Path, default=None,
                        help="shared with the grids (default: their work dir)")
    parser.add_argument("--out", type=Path, default=RESULTS / "scoring_cost.json")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
    torch.set_num_threads(1)
    suffix = "_quick" if args.quick else ""
    work = args.work_dir or Path(tempfile.gettempdir()) / f"espnet_sniper_quality{suffix}"
    num_utts = 60 if args.quick else 400
    # the recipe's own held-out share of the mini corpus
    recipe = prepare(work, num_utts, num_held_out=None)
    config = probe_config(recipe)
    os.chdir(recipe)  # the config's data paths are relative to the recipe
    # config.yaml is every parsed argument, as ESPnet reads it back for inference
    train_args = argparse.Namespace(**yaml.safe_load(config.read_text()))
    train_args.ngpu = 0
    batches = list(SniperTTSTask.build_iter_factory(
        train_args, DistributedOption(distributed=False), mode="train").build_iter(1))
    logging.info(f"epoch 1: {len(batches)} batches")

    overlap = mask_overlap(train_args, batches)
    tenth = batches[:max(1, len(batches) // 10)]
    result = {
        **provenance("scoring_cost"),
        "corpus_utterances": num_utts,
        "timing": timing(train_args, tenth, args.reps),
        "masks": overlap,
        "recommended_score_batches": recommendation(overlap),
    }
    write_result(args.out.with_name(args.out.stem + suffix + ".json") if args.quick
                 else args.out, result, indent=2)
    print(json.dumps({k: result[k] for k in ("timing", "recommended_score_batches")},
                     indent=1))
    print(json.dumps(overlap["kept_iou"]))


if __name__ == "__main__":
    main()
