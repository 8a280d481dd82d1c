#!/usr/bin/env python3
"""Does SNIPER do what the paper says? A paired grid on the mini corpus, with controls.

The recipe's stages 1-5 run once (one corpus, forward-sum durations, statistics); then
stages 6-8 (training, synthesis, scoring) run for every contender and seed. Contenders:
dense, constant 40 % and 20 %, SNIPER 40 -> 0 and 20 -> 0 (the conf/mini/ configs, which
differ only in sniper_conf), and three controls of SNIPER 40 -> 0 that change one
sniper_conf key: ``scoring: random`` (random masks, seeded per seed), ``scale_lr_by_param:
false`` (no learning-rate scaling) and ``restore_init_values: false`` (regrowth from zero);
and the mask variants of masks_early_grid.py as SNIPER 40 -> 0 (``uniform_random40to0``,
...). SNIP scores the whole first epoch, as the paper; the mel score is the last epoch's
model's, the model whose validation loss is reported.

Paired: for one seed every contender starts from the same initial weights (ESPnet seeds
the model's construction with ``seed``) and sees the same batches in the same order (its
iterators are seeded by seed and epoch); ESPnet reseeds every random stream at each
epoch's start, after SNIP scoring, so scoring shifts nothing either
(test_training_cli.py trains a scored run that prunes nothing to the bit of stock ESPnet).
Differences are therefore taken per seed, and their 95 % t-intervals over seeds answer
the paper's claims. The schedules' epoch keys are scaled from the configs' 16 epochs to
``--max_epoch`` (floored), keeping the share of training spent sparse.

Each finished run writes its own JSON under ``--out_dir`` atomically and a rerun skips it;
a killed run resumes where its training stopped. Runs go ``--jobs`` at a time, one thread
each, seed-major, so that the contenders of a seed meet the same machine load.

    python -m benchmarks.training_quality --quick   # 1 seed, 2 epochs, 3 contenders: minutes
    python -m benchmarks.training_quality --seeds 8 --contenders dense sniper40to0 \
        uniform_random40to0 random40to0      # the full grid of the masks work

Writes ``<out_dir>/<contender>_seed<k>.json`` (default out_dir: results/full_grid), then
the summary ``<out_dir>.json`` and the plot ``<out_dir>_paired.png`` (paired differences
to dense with their interval bands), from whatever runs have finished. Time to quality
counts a seed that never reaches dense's final loss as censored, not dropped.

Its tables: the full grid (``full_grid.json``) and, in its own longer form, the grid of
2026-12-01 (``training_quality.json``, made before the setup named its ``inference_model``).
"""

import argparse
import copy
import json
import logging
import math
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import yaml

from benchmarks.core import cells
from benchmarks.core.grid import (LOSSES, Runs, load_runs, loss_by_epoch, per_epoch_differences,
                                  run_all, run_stages, still_to_run)
from benchmarks.core.recipe import prepare, scoring_seconds
from benchmarks.core.results import REPO, RESULTS, provenance, write_result
from benchmarks.core.staleness import FASTSPEECH2_LIBRARY, RECIPE_CODE
from espnet_sniper.fileio import atomic_write_text
from espnet_sniper.recipe.evaluation.statistics import (censored_median, interval,
                                                        log_ratio_interval, median_interval,
                                                        time_to_reach, verdict)

# what its numbers depend on: the library (FastSpeech2's side), the mini configs, the
# recipe's stages (data, durations, training, synthesis, scoring), the grid's driver
INPUTS = (*FASTSPEECH2_LIBRARY, "conf/mini", *RECIPE_CODE, "benchmarks/core/grid.py",
          "benchmarks/core/recipe.py", "benchmarks/training_quality.py")
RESULT_FILES = {"full_grid.json": "The full grid",
                "training_quality.json": "Training quality: the grid of 2026-12-01"}

# name: (config under conf/mini/, sniper_conf keys changed, what it is)
CONTENDERS: Dict[str, Tuple[str, dict, str]] = {
    "dense": ("train_fastspeech2.yaml", {}, "dense training"),
    "constant40": ("train_sparsity40.yaml", {}, "40 % sparse throughout"),
    "constant20": ("train_sparsity20.yaml", {}, "20 % sparse throughout"),
    "sniper40to0": ("train_sniper.yaml", {}, "SNIPER 40 -> 0 %"),
    "sniper20to0": ("train_sniper20to0.yaml", {}, "SNIPER 20 -> 0 %"),
    "random40to0": ("train_sniper.yaml", {"scoring": "random"},
                    "SNIPER 40 -> 0 % with random masks"),
    "nolrscale40to0": ("train_sniper.yaml", {"scale_lr_by_param": False},
                       "SNIPER 40 -> 0 % without learning-rate scaling"),
    "zeroregrow40to0": ("train_sniper.yaml", {"restore_init_values": False},
                        "SNIPER 40 -> 0 % regrowing from zero"),
    # mask variants (benchmarks/masks_early_grid.py says which to bring here)
    "uniform_random40to0": ("train_sniper.yaml", {"allocation": "uniform", "scoring": "random"},
                            "SNIPER 40 -> 0 % with random masks, every tensor alike"),
    "uniform_snip40to0": ("train_sniper.yaml", {"allocation": "uniform"},
                          "SNIPER 40 -> 0 % with SNIP masks, every tensor alike"),
    "erk_snip40to0": ("train_sniper.yaml", {"allocation": "erk"},
                      "SNIPER 40 -> 0 % with SNIP masks in ERK densities"),
    "erk_random40to0": ("train_sniper.yaml", {"allocation": "erk", "scoring": "random"},
                        "SNIPER 40 -> 0 % with random masks in ERK densities"),
}
# (contender, reference): the differences that answer the questions
COMPARISONS = [
    ("sniper40to0", "dense"), ("sniper20to0", "dense"), ("constant40", "dense"),
    ("constant20", "dense"), ("sniper40to0", "constant40"), ("sniper20to0", "constant20"),
    ("sniper40to0", "random40to0"), ("sniper40to0", "nolrscale40to0"),
    ("sniper40to0", "zeroregrow40to0"), ("uniform_random40to0", "sniper40to0"),
    ("uniform_snip40to0", "sniper40to0"), ("erk_snip40to0", "sniper40to0"),
    ("erk_random40to0", "sniper40to0"), ("random40to0", "uniform_random40to0"),
]
# pairs compared on the steps to dense's final loss
TIME_TO_QUALITY_PAIRS = [("random40to0", "uniform_random40to0")]
CONFIG_EPOCHS = 16  # what the conf/mini/ schedules are written for
EARLY_EPOCHS = 2  # claim (a): "the first epochs"
NEGLIGIBLE_TIME = 1.05  # claim (d): at most 5 % more wall time than dense


def scaled_schedule(schedule: Dict[int, float], max_epoch: int) -> Dict[int, float]:
    """The schedule's epoch keys scaled from CONFIG_EPOCHS to ``max_epoch``, floored."""
    scaled = {}
    for key in sorted(schedule):
        new = math.floor(key * max_epoch / CONFIG_EPOCHS)
        if new in scaled:
            raise ValueError(f"schedule {schedule} cannot be compressed to {max_epoch} epochs: "
                             f"two steps land on epoch {new}")
        scaled[new] = schedule[key]
    return scaled


def contender_config(contender: str, seed: int, max_epoch: int) -> dict:
    name, changes, _ = CONTENDERS[contender]
    conf = yaml.safe_load((REPO / "conf/mini" / name).read_text())
    conf["seed"] = seed
    conf["max_epoch"] = max_epoch
    # an epoch is a pass over the grid's corpus, as its runs were measured (the configs'
    # budget of updates is for users' corpora of other sizes)
    conf.pop("num_iters_per_epoch", None)
    if "sniper_conf" in conf:
        sniper = copy.deepcopy(conf["sniper_conf"])
        sniper["schedule"] = scaled_schedule(sniper["schedule"], max_epoch)
        # the paper scores the whole first epoch (conf/mini scores 5 batches to stay short)
        sniper["score_batches"] = None
        sniper.update(changes)
        if sniper.get("scoring") == "random" or sniper.get("shuffle_within_tensor"):
            sniper["tie_break_seed"] = seed  # a different random mask for every seed
        conf["sniper_conf"] = sniper
    return conf


def train_and_score(recipe: Path, setup: Dict, contender: str, seed: int) -> Dict:
    tag = f"{contender}_seed{seed}"
    config = recipe / "grid" / f"{tag}.yaml"
    config.parent.mkdir(exist_ok=True)
    atomic_write_text(config, yaml.safe_dump(
        contender_config(contender, seed, setup["max_epoch"]), sort_keys=False))
    log_path = recipe / "grid" / f"{tag}.log"
    # the floor and baseline of the eval set are scored once, by the first run
    earlier = sorted((recipe / "exp").glob("*_seed*/results.json"))
    reuse = {"score_references": earlier[0].resolve()} if earlier else {}
    logging.info(f"{tag}: training, synthesis and scoring (log: {log_path})")
    # the mel score of the model whose validation loss is reported: the last epoch's; its
    # intelligibility is benchmarks/asr_judge.py's (one judge for every run)
    exp = run_stages(recipe, setup, 6, 8, config, tag, log_path, mos="none", asr="none",
                     inference_model=f"{setup['max_epoch']}epoch.pth", **reuse)
    return collect(exp)


def collect(exp: Path) -> Dict:
    """Per-epoch numbers from ESPnet's reporter, scoring time from train.log, eval scores."""
    stats = torch.load(exp / "checkpoint.pth", map_location="cpu",
                       weights_only=False)["reporter"]["stats"]
    epochs = []
    for epoch in sorted(stats):
        train, valid = stats[epoch]["train"], stats[epoch]["valid"]
        epochs.append({
            "epoch": epoch,
            "sparsity": float(train.get("sniper_sparsity", 0.0)),
            "valid": {k: float(valid[k]) for k in LOSSES},
            "steps": int(train["total_count"]),
            "train_seconds": train["time"].total_seconds(),
            "valid_seconds": valid["time"].total_seconds(),
        })
    scores = json.loads((exp / "results.json").read_text())
    return {"epochs": epochs, "scoring_seconds": scoring_seconds(exp),
            "eval": scores["summary"], "eval_utterances": scores["utterances"],
            "mel_db_per_utterance": {u: r["mel_db"]
                                     for u, r in scores["per_utterance"]["model"].items()}}


# ----------------------------------------------------------------------------- analysis
def wall_seconds(run: Dict) -> List[float]:
    """Cumulative seconds at the end of each epoch, SNIP scoring included."""
    total, walls = run["scoring_seconds"], []
    for e in run["epochs"]:
        total += e["train_seconds"] + e["valid_seconds"]
        walls.append(total)
    return walls


def run_time_to_reach(run: Dict, target: float) -> Optional[Tuple[float, float]]:
    """(wall seconds, steps) at which the run's validation loss first reaches ``target``."""
    return time_to_reach([e["valid"]["loss"] for e in run["epochs"]], wall_seconds(run),
                         [e["steps"] for e in run["epochs"]], run["scoring_seconds"], target)


def paired(runs: Runs, a: str, b: str) -> Optional[Dict]:
    """a - b per seed, on every measure, for the seeds both have."""
    seeds = sorted(set(runs.get(a, {})) & set(runs.get(b, {})))
    if not seeds:
        return None
    per_epoch = per_epoch_differences(runs, a, b, seeds)
    n_epochs = len(per_epoch)
    final_mel = [runs[a][s]["eval"]["mel_db"]["normalized"]["mean"]
                 - runs[b][s]["eval"]["mel_db"]["normalized"]["mean"] for s in seeds]
    final_mel_db = [runs[a][s]["eval"]["mel_db"]["model"]["mean"]
                    - runs[b][s]["eval"]["mel_db"]["model"]["mean"] for s in seeds]
    time_ratio = [wall_seconds(runs[a][s])[-1] / wall_seconds(runs[b][s])[-1] for s in seeds]
    loss_ratio = [runs[a][s]["epochs"][-1]["valid"]["loss"] / runs[b][s]["epochs"][-1]["valid"]["loss"]
                  for s in seeds]
    return {"seeds": seeds, "per_epoch": per_epoch,
            "final_loss": per_epoch[-1]["loss"],
            "early_loss": [per_epoch[i]["loss"] for i in range(min(EARLY_EPOCHS, n_epochs))],
            "final_mel_normalized": interval(final_mel),
            "final_mel_db": interval(final_mel_db),
            "final_loss_ratio": log_ratio_interval(loss_ratio),
            "wall_time_ratio": log_ratio_interval(time_ratio)}


def time_to_quality(runs: Runs, contender: str) -> Optional[Dict]:
    """Steps (and wall time) for ``contender`` to reach dense's final validation loss, as a
    ratio to dense's whole run. A seed that never gets there is censored, not dropped: the
    median counts it as not reached; the loss ratio at the end (the fixed budget) covers
    every seed."""
    seeds = sorted(set(runs.get(contender, {})) & set(runs.get("dense", {})))
    if not seeds:
        return None
    wall, steps = [], []
    mel_reached = 0
    for s in seeds:
        dense, run = runs["dense"][s], runs[contender][s]
        reached = run_time_to_reach(run, dense["epochs"][-1]["valid"]["loss"])
        wall.append(None if reached is None else reached[0] / wall_seconds(dense)[-1])
        steps.append(None if reached is None else reached[1] / dense["epochs"][-1]["steps"])
        mel_reached += (run["eval"]["mel_db"]["normalized"]["mean"]
                        <= dense["eval"]["mel_db"]["normalized"]["mean"])
    final_ratio = [runs[contender][s]["epochs"][-1]["valid"]["loss"]
                   / runs["dense"][s]["epochs"][-1]["valid"]["loss"] for s in seeds]
    return {"seeds": seeds, "reached": sum(x is not None for x in steps),
            "unreached_seeds": [s for s, x in zip(seeds, steps) if x is None],
            "steps_ratio_per_seed": steps, "wall_ratio_per_seed": wall,
            "steps_ratio_median": censored_median(steps),
            "steps_ratio_interval": median_interval(steps),
            "wall_ratio_median": censored_median(wall),
            "wall_ratio_interval": median_interval(wall),
            "final_loss_ratio": log_ratio_interval(final_ratio),
            "final_mel_at_least_dense": f"{mel_reached} of {len(seeds)} seeds"}


def paired_time_to_quality(ttq: Dict[str, Dict], a: str, b: str) -> Optional[Dict]:
    """``a`` against ``b`` on the steps to dense's final loss, seed by seed: the difference
    of their ratios to dense's steps (never = infinitely many; both never: a tie), its
    median and order-statistic interval, and how many seeds each gets there first."""
    if a not in ttq or b not in ttq:
        return None
    seeds = sorted(set(ttq[a]["seeds"]) & set(ttq[b]["seeds"]))
    steps = {c: dict(zip(ttq[c]["seeds"], ttq[c]["steps_ratio_per_seed"])) for c in (a, b)}
    diffs = []
    for s in seeds:
        x, y = steps[a][s], steps[b][s]
        diffs.append(0.0 if x is None and y is None else math.inf if x is None
                     else -math.inf if y is None else x - y)
    interval_ = median_interval(diffs)
    return {"seeds": seeds, "steps_ratio_difference_per_seed": diffs,
            "median": censored_median(diffs), "interval": interval_,
            "first": {a: sum(d < 0 for d in diffs), b: sum(d > 0 for d in diffs),
                      "tie": sum(d == 0 for d in diffs)}}


def answers(comparisons: Dict[str, Dict]) -> Dict[str, Dict]:
    """The paper's claims (a)-(d), each as a verdict with the interval behind it."""
    out = {}
    for sniper, constant in (("sniper40to0", "constant40"), ("sniper20to0", "constant20")):
        vs_dense = comparisons.get(f"{sniper}-dense")
        vs_constant = comparisons.get(f"{sniper}-{constant}")
        if vs_dense is None:
            continue
        early = vs_dense["early_loss"]
        verdicts = [verdict(d) for d in early]
        out[sniper] = {
            "a_lower_early_loss_than_dense": {
                "verdict": verdicts[0] if len(set(verdicts)) == 1 else ", ".join(
                    f"{v} in epoch {i}" for i, v in enumerate(verdicts, 1)),
                "difference_by_epoch": early},
            "c_final_better_than_dense": {
                "verdict_loss": verdict(vs_dense["final_loss"]),
                "verdict_mel": verdict(vs_dense["final_mel_normalized"]),
                "loss_difference": vs_dense["final_loss"],
                "mel_normalized_difference": vs_dense["final_mel_normalized"]},
            "d_negligible_extra_time": {
                "verdict": ("yes" if vs_dense["wall_time_ratio"]["ci95"][1] <= NEGLIGIBLE_TIME
                            else "no" if vs_dense["wall_time_ratio"]["ci95"][0] > NEGLIGIBLE_TIME
                            else "cannot tell"),
                "threshold": NEGLIGIBLE_TIME, "wall_time_ratio": vs_dense["wall_time_ratio"]},
        }
        if vs_constant is not None:
            out[sniper]["b_final_better_than_constant"] = {
                "verdict_loss": verdict(vs_constant["final_loss"]),
                "verdict_mel": verdict(vs_constant["final_mel_normalized"]),
                "loss_difference": vs_constant["final_loss"],
                "mel_normalized_difference": vs_constant["final_mel_normalized"]}
    return out


# Contenders that train the same computation through epoch 1 (same masks, same learning-rate
# factors; they differ only from the first sparsity change on)
SAME_FIRST_EPOCH = [("sniper40to0", "constant40", "zeroregrow40to0"),
                    ("sniper20to0", "constant20")]


def pairing_check(runs: Runs) -> Dict:
    """Whether the runs of SAME_FIRST_EPOCH have bit-identical epoch-1 validation losses,
    per seed: the grid's pairing (weights, batches, random streams) made visible."""
    out = {}
    for group in SAME_FIRST_EPOCH:
        seeds = sorted(set.intersection(*(set(runs.get(c, {})) for c in group)))
        out[" = ".join(group)] = {
            str(s): len({json.dumps(runs[c][s]["epochs"][0]["valid"]) for c in group}) == 1
            for s in seeds}
    return out


def summarize(runs: Runs) -> Dict:
    contenders = {}
    for c, by_seed in runs.items():
        if not by_seed:
            continue
        done = list(by_seed.values())
        n_epochs = min(len(r["epochs"]) for r in done)
        contenders[c] = {
            "description": CONTENDERS[c][2],
            "seeds": sorted(by_seed),
            "schedule": done[0].get("schedule"),
            "valid_loss_by_epoch": loss_by_epoch(done),
            "sparsity_by_epoch": [done[0]["epochs"][i]["sparsity"] for i in range(n_epochs)],
            "final_mel_normalized": interval([r["eval"]["mel_db"]["normalized"]["mean"]
                                              for r in done]),
            "final_mel_db": interval([r["eval"]["mel_db"]["model"]["mean"] for r in done]),
            "final_mcd_db": interval([r["eval"]["mcd_db"]["model"]["mean"] for r in done]),
            "wall_seconds": interval([wall_seconds(r)[-1] for r in done]),
            "scoring_seconds": interval([r["scoring_seconds"] for r in done]),
        }
    comparisons = {}
    # every contender against dense, then the questions' own pairs
    pairs = [(c, "dense") for c in runs if c != "dense"] + COMPARISONS
    for a, b in dict.fromkeys(pairs):
        diff = paired(runs, a, b)
        if diff is not None:
            comparisons[f"{a}-{b}"] = diff
    ttq = {c: time_to_quality(runs, c) for c in runs if c != "dense" and runs[c]}
    ttq = {c: v for c, v in ttq.items() if v is not None}
    paired_ttq = {f"{a}-{b}": paired_time_to_quality(ttq, a, b)
                  for a, b in TIME_TO_QUALITY_PAIRS}
    return {"contenders": contenders, "pairing_check": pairing_check(runs),
            "comparisons": comparisons, "time_to_quality": ttq,
            "time_to_quality_paired": {key: d for key, d in paired_ttq.items() if d},
            "answers": answers(comparisons)}


def plot(summary: Dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [("vs dense", [k for k in summary["comparisons"] if k.endswith("-dense")]),
              ("SNIPER vs constant and controls",
               [k for k in summary["comparisons"] if not k.endswith("-dense")])]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), gridspec_kw={"width_ratios": [2, 2, 1.4]})
    for ax, (title, keys) in zip(axes, groups):
        for key in keys:
            rows = summary["comparisons"][key]["per_epoch"]
            x = [r["epoch"] for r in rows]
            mean = [r["loss_percent"]["mean"] for r in rows]
            line, = ax.plot(x, mean, marker="o", markersize=3, linewidth=1.2,
                            label=key.replace("-", " - "))
            ax.fill_between(x, [r["loss_percent"]["ci95"][0] for r in rows],
                            [r["loss_percent"]["ci95"][1] for r in rows],
                            color=line.get_color(), alpha=0.12)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel("% of the second's validation loss")
        ax.set_title(f"validation loss difference, {title}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    keys = list(summary["comparisons"])
    means = [summary["comparisons"][k]["final_mel_normalized"]["mean"] for k in keys]
    los = [summary["comparisons"][k]["final_mel_normalized"]["ci95"][0] for k in keys]
    his = [summary["comparisons"][k]["final_mel_normalized"]["ci95"][1] for k in keys]
    y = list(range(len(keys)))
    axes[2].errorbar(means, y, xerr=[[m - lo for m, lo in zip(means, los)],
                                     [hi - m for m, hi in zip(means, his)]],
                     fmt="o", markersize=4, capsize=3)
    axes[2].set_yticks(y, [k.replace("-", " - ") for k in keys], fontsize=7)
    axes[2].axvline(0, color="black", linewidth=0.8)
    axes[2].invert_yaxis()
    axes[2].set_title("final normalized mel score difference\n(< 0: first is better)",
                      fontsize=9)
    axes[2].grid(alpha=0.3)
    fig.suptitle("paired differences over seeds, 95 % t-interval bands", fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    tmp.replace(path)
    plt.close(fig)


# ----------------------------------------------------------------------------- tables
def scored_over(setup: Dict) -> str:
    batches = setup["score_batches"]
    return "the whole first epoch (as the paper)" if batches == "whole epoch" else batches


def table(data: Dict) -> List[str]:
    """The full grid's table, or the 2026-12-01 grid's longer one (its setup predates
    ``inference_model``)."""
    return full_grid_table(data) if "inference_model" in data["setup"] else grid_table(data)


def full_grid_table(data: Dict) -> List[str]:
    """The paper's claims again, on the current code, with the mask variant the early grid
    favours; time to quality with seeds that never get there censored."""
    c, setup, cmp = data["contenders"], data["setup"], data["comparisons"]
    n = min(len(r["seeds"]) for r in c.values())
    lines = [
        f"The runs trained on commit {', '.join(data.get('run_commits', [data['commit']]))}; "
        f"{data['runs_finished']} of {data['runs_planned']} planned runs"
        f"{'' if data['runs_finished'] >= data['runs_planned'] else ', still running'}: "
        f"{n} paired seeds, "
        f"{setup['max_epoch']} epochs of the mini FastSpeech2 on the {setup['num_utts']}-"
        f"utterance corpus, the conf/mini/ 40 -> 0 schedule scaled to them, SNIP scored over "
        f"{scored_over(setup)}; validation loss and mel score (stage 8, normalized: 0 = "
        f"floor, 1 = no skill) of the same model, the last epoch's. Ratios are geometric means "
        f"with 95 % intervals from t-intervals of their logs.", "",
        "| contender | valid loss epoch 1 | epoch 2 | final | final mel score |",
        "|---|---:|---:|---:|---:|"]
    for name, r in c.items():
        loss = r["valid_loss_by_epoch"]
        lines.append(f"| {name}: {r['description']} | {cells.mean_ci(loss[0])} | "
                     f"{cells.mean_ci(loss[1])} | {cells.mean_ci(loss[-1])} | "
                     f"{cells.mean_ci(r['final_mel_normalized'])} |")
    lines += ["", "| minus dense | valid loss epoch 1 | epoch 2 | final loss ratio | "
              "final mel score | reach dense's final loss | steps to it (median, censored) |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for key, d in cmp.items():
        if not key.endswith("-dense"):
            continue
        name = key[: -len("-dense")]
        t = data["time_to_quality"].get(name)
        e = d["per_epoch"]
        reach = f"{t['reached']} of {len(t['seeds'])}" if t else "-"
        median = (f"{t['steps_ratio_median']:.2f} x dense" if t and t["steps_ratio_median"]
                  else "not reached by half" if t else "-")
        if t and "steps_ratio_interval" in t:
            median += " " + cells.order_interval(t["steps_ratio_interval"])
        lines.append(f"| {name} | {cells.ci(e[0]['loss'])} | {cells.ci(e[1]['loss'])} | "
                     f"{cells.ratio(d['final_loss_ratio'])} | "
                     f"{cells.ci(d['final_mel_normalized'])} | {reach} | {median} |")
    for key, d in data.get("time_to_quality_paired", {}).items():
        a, b = key.split("-")
        lines += ["", f"{a} against {b}, paired by seed, on the steps to dense's final loss (as "
                  f"a share of dense's steps; a seed that never gets there counts as never): "
                  f"{a} first on {d['first'][a]} seeds, {b} on {d['first'][b]}, "
                  f"{d['first']['tie']} ties (neither); median difference "
                  f"{cells.signed_or_never(d['median'])} "
                  f"{cells.order_interval(d['interval'], signed=True)}."]
    lines += ["", "The paper's claims here (yes / no: the 95 % interval excludes no difference; "
              "cannot tell: it does not):", ""]
    for key, d in cmp.items():
        if key.endswith("-dense"):
            early = [cells.difference_verdict(row["loss"]) for row in d["per_epoch"][:2]]
            lines.append(f"- {key[: -len('-dense')]}: (a) lower loss than dense in epochs 1 "
                         f"and 2: {', '.join(early)}; (c) final model better than dense: loss "
                         f"{cells.difference_verdict(d['final_loss'])}, mel score "
                         f"{cells.difference_verdict(d['final_mel_normalized'])}")
    return lines + ["", "![paired differences](benchmarks/results/full_grid_paired.png)"]


def grid_table(data: Dict) -> List[str]:
    c, setup, cmp = data["contenders"], data["setup"], data["comparisons"]
    n_seeds = min(len(r["seeds"]) for r in c.values())
    lines = [
        f"The paired grid at the mini scale, not LJSpeech: mini FastSpeech2 (adim 96, 2 + 2 "
        f"layers), the generated corpus ({setup['num_utts']} utterances: "
        f"{setup['num_held_out']} validation, {setup['num_held_out']} eval, the rest "
        f"training; forward-sum durations), {setup['max_epoch']} epochs, the conf/mini/ "
        f"schedules scaled to them; {n_seeds} seeds per contender; {setup['jobs']} runs at a "
        f"time, one thread each. For a seed every contender starts from the same weights and "
        f"sees the same batches; differences are per seed, with 95 % t-intervals over seeds; "
        f"'detectable' is the smallest difference these seeds detect (two-sided 5 %, power "
        f"80 %). Validation loss: FastSpeech2's total (mel L1 before and after the postnet, "
        f"duration, pitch, energy); mel score: stage 8's normalized log-mel distance on the "
        f"eval set (0 = floor, 1 = no skill; lower is better).",
        "",
        "| contender | schedule | valid loss epoch 1 | final valid loss | final mel score | "
        "wall min |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, r in c.items():
        schedule = r["schedule"] or "dense"
        if isinstance(schedule, dict):
            schedule = ", ".join(f"{k}: {v:g}" for k, v in schedule.items())
        lines.append(
            f"| {name}: {r['description']} | {schedule} | "
            f"{cells.mean_ci(r['valid_loss_by_epoch'][0])} | "
            f"{cells.mean_ci(r['valid_loss_by_epoch'][-1])} "
            f"| {cells.mean_ci(r['final_mel_normalized'])} | "
            f"{r['wall_seconds']['mean'] / 60:.1f} |")
    checks = [f"{group}: {sum(ok.values())} of {len(ok)} seeds" for group, ok
              in data["pairing_check"].items() if ok]
    if checks:
        lines += ["", "Pairing, checked: contenders that run the same computation until their "
                  "first sparsity change have bit-identical epoch-1 validation losses ("
                  + "; ".join(checks) + ")."]
    lines += ["", "Paired differences (first - second; negative: the first is better):", "",
              "| difference | valid loss epoch 1 | epoch 2 | final valid loss (detectable) | "
              "final mel score (detectable) | wall-time ratio |",
              "|---|---:|---:|---:|---:|---:|"]
    for key, d in cmp.items():
        e = d["per_epoch"]
        lines.append(
            f"| {key.replace('-', ' - ')} | {cells.ci(e[0]['loss'])} | {cells.ci(e[1]['loss'])} | "
            f"{cells.ci(d['final_loss'])}{cells.detectable(d['final_loss'])} | "
            f"{cells.ci(d['final_mel_normalized'])}"
            f"{cells.detectable(d['final_mel_normalized'])} "
            f"| {cells.mean_ci(d['wall_time_ratio'])} |")
    lines += ["", "The paper's claims at this scale (yes / no: the 95 % interval excludes "
              "no difference; cannot tell: it does not):", ""]
    for sniper, a in data["answers"].items():
        early = ", ".join(cells.ci(x)
                          for x in a["a_lower_early_loss_than_dense"]["difference_by_epoch"])
        lines.append(f"- **{sniper}**: (a) lower validation loss than dense in epochs 1-2: "
                     f"**{a['a_lower_early_loss_than_dense']['verdict']}** ({early})")
        if "b_final_better_than_constant" in a:
            b = a["b_final_better_than_constant"]
            lines.append(f"  (b) final model better than constant sparsity: loss "
                         f"**{b['verdict_loss']}** ({cells.ci(b['loss_difference'])}), mel "
                         f"score **{b['verdict_mel']}** "
                         f"({cells.ci(b['mel_normalized_difference'])})")
        cc = a["c_final_better_than_dense"]
        lines.append(f"  (c) final model better than dense: loss **{cc['verdict_loss']}** "
                     f"({cells.ci(cc['loss_difference'])}), mel score **{cc['verdict_mel']}** "
                     f"({cells.ci(cc['mel_normalized_difference'])})")
        dd = a["d_negligible_extra_time"]
        lines.append(f"  (d) negligible extra training time (<= {dd['threshold']:.2f} x dense), "
                     f"from the grid's wall times: **{dd['verdict']}** (ratio "
                     f"{cells.mean_ci(dd['wall_time_ratio'])}); see the caveat below")
    lines += ["", *controls_and_losses(cmp)]
    lines += ["", "Time to quality: wall time (SNIP scoring included) and steps to reach "
              "dense's final validation loss, as a ratio to dense's whole run (over the seeds "
              "that reach it within the grid's epochs):", "",
              "| contender | wall-time ratio | steps ratio | seeds not reaching it | final mel "
              "score at least dense's |", "|---|---:|---:|---:|---:|"]
    for name, t in data["time_to_quality"].items():
        wall = cells.mean_ci(t["wall_ratio"]) if t["wall_ratio"] else "-"
        steps = cells.mean_ci(t["steps_ratio"]) if t["steps_ratio"] else "-"
        lines.append(f"| {name} | {wall} | {steps} | {len(t['unreached_seeds'])} of "
                     f"{len(t['seeds'])} | {t['final_mel_at_least_dense']} |")
    return lines + ["", "Wall times in this grid are not a cost measurement: its runs shared "
                    "the machine with development work and test suites for part of the time, "
                    "which contenders met unevenly; `python -m benchmarks.step_overhead` "
                    "measures the cost of a step. The steps ratio of time to quality is "
                    "load-free.", "",
                    "![paired differences](benchmarks/results/training_quality_paired.png)"]


CONTROLS = {"random40to0": "SNIP's masks against random masks",
            "nolrscale40to0": "per-tensor learning-rate scaling against none",
            "zeroregrow40to0": "regrowth at initial values against regrowth from zero"}


def controls_and_losses(cmp: Dict) -> List[str]:
    """What the controls measured, and every point where a SNIPER contender measured worse."""
    def points(d: Dict) -> List[Tuple[str, Dict]]:
        return [("validation loss, epoch 1", d["per_epoch"][0]["loss"]),
                ("validation loss, epoch 2", d["per_epoch"][1]["loss"]),
                ("final validation loss", d["final_loss"]),
                ("final mel score", d["final_mel_normalized"])]

    lines = ["The controls (SNIPER 40 -> 0 minus the control; better: the 95 % interval is "
             "below 0):", ""]
    for control, question in CONTROLS.items():
        d = cmp.get(f"sniper40to0-{control}")
        if d is None:
            continue
        found = "; ".join(f"{what} {cells.difference_verdict(x)} ({cells.ci(x)})"
                          for what, x in points(d))
        lines.append(f"- {question}: {found}")
    losses = [f"{key.replace('-', ' - ')}: {what} ({cells.ci(x)})"
              for key, d in cmp.items() if key.startswith("sniper")
              for what, x in points(d) if cells.difference_verdict(x) == "worse"]
    return lines + ["", "A SNIPER contender measured worse than the other (interval above 0): "
                    + ("; ".join(losses) if losses else "nowhere at this scale") + "."]


# ----------------------------------------------------------------------------- driver
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 2 epochs, dense / constant40 / sniper40to0, 120 utterances")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max_epoch", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    parser.add_argument("--num_utts", type=int, default=464, help="mini corpus size")
    parser.add_argument("--num_held_out", type=int, default=40,
                        help="utterances of dev (validation) and of eval (scoring) each")
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS),
                        choices=list(CONTENDERS))
    parser.add_argument("--work_dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "espnet_sniper_quality")
    parser.add_argument("--out_dir", type=Path, default=None,
                        help="default: benchmarks/results/full_grid[_quick] (the grid of "
                        "2026-12-01, on the code before the trainer rewrite and with 5 scoring "
                        "batches, is in training_quality/)")
    parser.add_argument("--report_only", action="store_true",
                        help="only the summary and plot of the runs finished so far (while "
                        "the grid runs elsewhere)")
    args = parser.parse_args(argv)
    for name in ("seeds", "jobs", "max_epoch", "num_held_out"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.quick:
        args.seeds, args.max_epoch, args.num_utts, args.num_held_out = 1, 2, 120, 8
        args.contenders = ["dense", "constant40", "sniper40to0"]
    if args.num_utts - 2 * args.num_held_out < 2 * args.num_held_out:
        parser.error(f"--num_utts {args.num_utts} leaves fewer training utterances than "
                     f"held-out ones with --num_held_out {args.num_held_out}")
    try:
        schedules = {c: contender_config(c, 0, args.max_epoch).get("sniper_conf", {})
                     .get("schedule") for c in args.contenders}
    except ValueError as e:
        parser.error(f"--max_epoch {args.max_epoch}: {e}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")

    out_dir = args.out_dir or RESULTS / ("full_grid_quick" if args.quick else "full_grid")
    out_dir.mkdir(parents=True, exist_ok=True)
    setup = {"num_utts": args.num_utts, "num_held_out": args.num_held_out,
             "score_batches": "whole epoch", "inference_model": "last epoch",
             "max_epoch": args.max_epoch, "jobs": args.jobs, "threads_per_job": 1}

    plan = [(c, s) for s in range(args.seeds) for c in args.contenders]
    todo = [] if args.report_only else still_to_run(plan, out_dir, setup)
    recipe = prepare(args.work_dir, args.num_utts, args.num_held_out) if todo else None

    def one(contender: str, seed: int) -> Dict:
        result = {**provenance("training_quality"), "contender": contender, "seed": seed,
                  "config": f"conf/mini/{CONTENDERS[contender][0]}",
                  "sniper_conf_changes": CONTENDERS[contender][1],
                  "schedule": schedules[contender], "setup": setup,
                  **train_and_score(recipe, setup, contender, seed)}
        logging.info(f"{contender} seed {seed}: final valid loss "
                     f"{result['epochs'][-1]['valid']['loss']:.3f}, "
                     f"normalized mel score {result['eval']['mel_db']['normalized']['mean']:.3f}")
        return result

    failures = run_all(todo, one, out_dir, args.jobs)
    runs = load_runs(out_dir, args.contenders, setup)
    summary = summarize(runs)
    write_result(out_dir.with_suffix(".json"), {
        **provenance("training_quality"), "setup": setup,
        "runs_planned": len(plan), "runs_finished": sum(len(v) for v in runs.values()),
        # the code that trained (the summary may be written later, from another commit)
        "run_commits": sorted({r["commit"] for c in runs.values() for r in c.values()}),
        "eval_utterances": next((r["eval_utterances"] for c in runs.values()
                                 for r in c.values()), None),
        **summary})
    if summary["comparisons"]:
        plot(summary, out_dir.with_name(out_dir.name + "_paired.png"))
    if failures:
        sys.exit(f"error: {len(failures)} run(s) failed: " + "; ".join(failures))


if __name__ == "__main__":
    main()
