#!/usr/bin/env python3
"""Where SNIP's masks prune, for the mini FastSpeech2, the paper-size FastSpeech2 and the
paper-size JETS generator, and where the other allocations would.

Each model is scored through the recipe's training stage on the grid's corpus
(``benchmarks.core.recipe.prepare``), with the model's own config shrunk only to stop after
scoring (one epoch, of the scored batches) and to score on the mini corpus's batch size:
the mini FastSpeech2 over its whole first epoch (the masks the grids train with), the
paper-size models over ``--paper_batches`` batches (SNIP of a 38 M / 83 M-parameter model
is minutes per batch-dozen on this CPU). Then ``espnet_sniper.bin.mask_report`` lays the
global, uniform and ERK allocations of those scores side by side.

    python -m benchmarks.masks_report

Writes ``benchmarks/results/masks_report.json`` (per model: per-tensor densities, module
shares of entries and score, tensors at the cap) and ``masks_report_<model>.png``.
"""

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from benchmarks.core.recipe import prepare, run_logged, run_sh
from benchmarks.core.results import REPO, RESULTS, provenance, write_result
from benchmarks.core.staleness import LIBRARY, MODEL_CONFIGS, RECIPE_CODE
from espnet_sniper.bin.mask_report import mask_report, plot_report
from espnet_sniper.fileio import atomic_write_text
from espnet_sniper.state import SniperState

# name: (config, what it is, scored over the whole first epoch)
MODELS = {
    "mini": ("conf/mini/train_sniper.yaml", "mini FastSpeech2", True),
    "paper": ("conf/train_sniper.yaml", "paper-size FastSpeech2", False),
    "jets": ("conf/train_sniper_jets.yaml", "paper-size JETS generator", False),
}
ALLOCATIONS = ["global", "uniform", "erk"]
MINI_BATCH_BINS = 300000  # conf/mini's batch size, for every model
INPUTS = (*LIBRARY, *MODEL_CONFIGS, *RECIPE_CODE, "benchmarks/core/recipe.py",
          "benchmarks/masks_report.py")
RESULT_FILES = {"masks_report.json": "Where the masks prune"}


def scoring_config(model: str, paper_batches: int) -> dict:
    path, _, whole_epoch = MODELS[model]
    conf = yaml.safe_load((REPO / path).read_text())
    conf.update(max_epoch=1, batch_bins=MINI_BATCH_BINS, seed=0, num_workers=0,
                use_matplotlib=False)
    # SNIP scores the first epoch's batches: the epoch is what is scored (and then trained)
    if whole_epoch:
        conf.pop("num_iters_per_epoch", None)
    else:
        conf["num_iters_per_epoch"] = paper_batches
    conf["sniper_conf"]["score_batches"] = None
    return conf


def score(recipe: Path, setup: Dict, model: str) -> Path:
    """The SNIPER state of one scoring run of ``model`` (reused when it exists)."""
    tag = f"masks_report_{model}"
    state = recipe / "exp" / tag / "sniper" / "state.pth"
    if state.exists():
        return state
    work = recipe / "masks_report"
    work.mkdir(exist_ok=True)
    config = work / f"{model}.yaml"
    atomic_write_text(config, yaml.safe_dump(scoring_config(model, setup["paper_batches"]),
                                             sort_keys=False))
    log_path = work / f"{model}.log"
    # JETS has statistics of its own (stage 5 with its config); FastSpeech2's are prepared
    first = "5" if model == "jets" else "6"
    logging.info(f"{model}: scoring (log: {log_path})")
    run_logged(run_sh(mini_num_utts=setup["num_utts"], num_held_out=setup["num_held_out"],
                      nj=1, stage=first, stop_stage=6, train_config=config.relative_to(recipe),
                      tag=tag), recipe, log_path)
    if not state.exists():
        raise RuntimeError(f"{model} scoring wrote no {state}: see {log_path}")
    return state


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--paper_batches", type=int, default=10,
                        help="scoring batches of the paper-size models")
    parser.add_argument("--num_utts", type=int, default=464)
    parser.add_argument("--num_held_out", type=int, default=40)
    parser.add_argument("--work_dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "espnet_sniper_quality")
    args = parser.parse_args(argv)
    if args.paper_batches < 1:
        parser.error("--paper_batches must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
    setup = {"num_utts": args.num_utts, "num_held_out": args.num_held_out,
             "paper_batches": args.paper_batches, "batch_bins": MINI_BATCH_BINS}
    recipe = prepare(args.work_dir, args.num_utts, args.num_held_out)
    out = RESULTS / "masks_report.json"
    reports = json.loads(out.read_text())["models"] if out.exists() else {}
    for model in args.models:
        state = SniperState.load(score(recipe, setup, model))
        report = mask_report(state, ALLOCATIONS)
        _, what, whole_epoch = MODELS[model]
        report.update(config=MODELS[model][0], description=what,
                      scored_over="the whole first epoch" if whole_epoch
                      else f"{args.paper_batches} batches")
        plot_report(report, RESULTS / f"masks_report_{model}.png",
                    f"{what}: SNIP scores over {report['scored_over']}; pruned share by module "
                    f"at {report['sparsities'][0]:g} % nominal")
        reports[model] = report
        logging.info(f"{model}: real sparsity {report['real_sparsity']}")
    write_result(out, {**provenance("masks_report"), "setup": setup, "models": reports})


def _pruned_share(report: Dict, groups: List, top: str) -> float:
    """The pruned share of these modules together under the global allocation."""
    pruned = sum(g["pruned_percent"][f"global@{top}"] * g["numel_share"] for _, g in groups)
    return pruned / sum(g["numel_share"] for _, g in groups)


def table(data: Dict) -> List[str]:
    lines = ["SNIP scores of each model at its initial weights on the grid's corpus, and the "
             "share of each module pruned at the schedule's highest sparsity under the paper's "
             "global ranking (with its 75 % cap), a uniform share per tensor, and ERK "
             "densities.", ""]
    for model, r in data["models"].items():
        top = f"{r['sparsities'][0]:g}"
        real = r["real_sparsity"]
        lines += [f"*{MODELS[model][1] if model in MODELS else model}* (`{r['config']}`, "
                  f"{r['prunable_entries'] / 1e6:.2f} M prunable entries, scored over "
                  f"{r['scored_over']}): at a nominal {float(top):g} %, real sparsity global "
                  f"{real['global'][top]:.1f} % ({len(r['tensors_at_cap']['global'])} of "
                  f"{len(r['tensors'])} tensors at the cap), uniform {real['uniform'][top]:.2f} "
                  f"%, ERK {real['erk'][top]:.2f} %.", "",
                  "| module | share of entries % | share of summed score % | pruned, global % "
                  "| pruned, uniform % | pruned, ERK % |", "|---|---:|---:|---:|---:|---:|"]
        groups = sorted(r["groups"].items(), key=lambda kv: -kv[1]["numel_share"])
        for name, g in groups:
            score = f"{100 * g['score_share']:.1f}" if g["score_share"] is not None else "-"
            pruned = " | ".join(f"{g['pruned_percent'][f'{a}@{top}']:.1f}"
                                for a in ("global", "uniform", "erk"))
            lines.append(f"| {name} | {100 * g['numel_share']:.1f} | {score} | {pruned} |")
        starved = [(n, g) for n, g in groups if g["score_share"] is not None
                   and g["score_share"] < g["numel_share"] / 4]
        if starved:
            entries = sum(g["numel_share"] for _, g in starved)
            score = sum(g["score_share"] for _, g in starved)
            lines += ["", f"Modules whose share of the summed score is under a quarter of their "
                      f"share of the entries ({', '.join(n for n, _ in starved)}): "
                      f"{100 * entries:.1f} % of the entries, {100 * score:.1f} % of the score; "
                      f"the global ranking prunes them "
                      f"{_pruned_share(r, starved, top):.1f} % at a nominal {float(top):g} %."]
        lines += ["", f"![pruned share by module, {model}]"
                      f"(benchmarks/results/masks_report_{model}.png)", ""]
    return lines[:-1]


if __name__ == "__main__":
    main()
