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

    python benchmarks/training_quality.py --quick   # 1 seed, 2 epochs, 3 contenders: minutes
    python benchmarks/training_quality.py --seeds 8 --contenders dense sniper40to0 \
        uniform_random40to0 random40to0      # the full grid of the masks work

Writes ``<out_dir>/<contender>_seed<k>.json`` (default out_dir: results/full_grid), then
the summary ``<out_dir>.json`` and the plot ``<out_dir>_paired.png`` (paired differences
to dense with their interval bands), from whatever runs have finished. Time to quality
counts a seed that never reaches dense's final loss as censored, not dropped.
"""

import argparse
import copy
import json
import logging
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import yaml
from scipy import stats as scipy_stats

from bench_common import REPO, RESULTS, copy_recipe, provenance
from paired_runs import load_runs, run_all, run_stages, scoring_seconds, still_to_run
from espnet_sniper.fileio import atomic_write_text

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
    ("erk_random40to0", "sniper40to0"),
]
LOSSES = ["loss", "l1_loss", "duration_loss", "pitch_loss", "energy_loss"]
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


def prepare(work: Path, num_utts: int, num_held_out: Optional[int]) -> Path:
    """The recipe copy with stages 1-5 done, redone only when the corpus changes
    (``num_held_out`` None: the recipe's default, LJSpeech's share)."""
    recipe = work / "sniper_tts1"
    marker = recipe / "prepared.json"
    wanted = {"num_utts": num_utts, "num_held_out": num_held_out}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return recipe
    copy_recipe(work)
    logging.info(f"stages 1-5 on {num_utts} utterances in {recipe} (log: {recipe}/prepare.log)")
    with open(recipe / "prepare.log", "w") as log:
        held = ["--num_held_out", str(num_held_out)] if num_held_out else []
        subprocess.run(["./run.sh", "--mini", "true", "--mini_num_utts", str(num_utts), *held,
                        "--stage", "1", "--stop_stage", "5"], cwd=recipe, check=True,
                       stdout=log, stderr=subprocess.STDOUT)
    atomic_write_text(marker, json.dumps(wanted))
    return recipe


def train_and_score(recipe: Path, setup: Dict, contender: str, seed: int) -> Dict:
    tag = f"{contender}_seed{seed}"
    config = recipe / "grid" / f"{tag}.yaml"
    config.parent.mkdir(exist_ok=True)
    atomic_write_text(config, yaml.safe_dump(
        contender_config(contender, seed, setup["max_epoch"]), sort_keys=False))
    log_path = recipe / "grid" / f"{tag}.log"
    # the floor and baseline of the eval set are scored once, by the first run
    earlier = sorted((recipe / "exp").glob("*_seed*/results.json"))
    reuse = ["--score_references", str(earlier[0].resolve())] if earlier else []
    logging.info(f"{tag}: training, synthesis and scoring (log: {log_path})")
    # the mel score of the model whose validation loss is reported: the last epoch's; its
    # intelligibility is benchmarks/asr_judge.py's (one judge for every run)
    exp = run_stages(recipe, setup, 6, 8, config, tag, log_path, "--mos", "none",
                     "--asr", "none", "--inference_model", f"{setup['max_epoch']}epoch.pth",
                     *reuse)
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
def interval(values: List[float]) -> Dict:
    """Mean, 95 % t-interval over seeds, and the smallest difference this many seeds detect
    (two-sided 5 %, power 80 %) at the observed spread."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return {"mean": mean, "ci95": [float("nan"), float("nan")], "n": n,
                "detectable": float("nan")}
    sd = statistics.stdev(values)
    t = scipy_stats.t.ppf(0.975, n - 1)
    detectable = (t + scipy_stats.t.ppf(0.8, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "ci95": [mean - t * sd / math.sqrt(n), mean + t * sd / math.sqrt(n)],
            "n": n, "detectable": detectable}


def verdict(diff: Dict, lower_is_better: bool = True) -> str:
    """yes: the contender is better with 95 % confidence; no: worse; else cannot tell."""
    lo, hi = diff["ci95"]
    if math.isnan(lo):
        return "cannot tell"
    better, worse = (hi < 0, lo > 0) if lower_is_better else (lo > 0, hi < 0)
    return "yes" if better else "no" if worse else "cannot tell"


def wall_seconds(run: Dict) -> List[float]:
    """Cumulative seconds at the end of each epoch, SNIP scoring included."""
    total, walls = run["scoring_seconds"], []
    for e in run["epochs"]:
        total += e["train_seconds"] + e["valid_seconds"]
        walls.append(total)
    return walls


def time_to_reach(run: Dict, target: float) -> Optional[Tuple[float, float]]:
    """(wall seconds, steps) at which the validation loss first reaches ``target``,
    interpolated linearly within the epoch; None when it never does."""
    walls, prev_loss, prev_wall, prev_steps = wall_seconds(run), None, run["scoring_seconds"], 0
    for e, wall in zip(run["epochs"], walls):
        loss = e["valid"]["loss"]
        if loss <= target:
            share = 1.0 if prev_loss is None else (prev_loss - target) / (prev_loss - loss)
            return (prev_wall + share * (wall - prev_wall),
                    prev_steps + share * (e["steps"] - prev_steps))
        prev_loss, prev_wall, prev_steps = loss, wall, e["steps"]
    return None


def per_epoch_differences(runs: Dict[str, Dict[int, Dict]], a: str, b: str,
                          seeds: List[int]) -> List[Dict]:
    """a - b per epoch over ``seeds``: each validation loss term, and the total in % of b's,
    with their intervals over seeds."""
    n_epochs = min(len(runs[c][s]["epochs"]) for c in (a, b) for s in seeds)
    rows = []
    for i in range(n_epochs):
        valid_a = [runs[a][s]["epochs"][i]["valid"] for s in seeds]
        valid_b = [runs[b][s]["epochs"][i]["valid"] for s in seeds]
        row = {"epoch": i + 1}
        for k in LOSSES:
            row[k] = interval([x[k] - y[k] for x, y in zip(valid_a, valid_b)])
        row["loss_percent"] = interval([100 * (x["loss"] / y["loss"] - 1)
                                        for x, y in zip(valid_a, valid_b)])
        rows.append(row)
    return rows


def loss_by_epoch(done: List[Dict]) -> List[Dict]:
    """The validation loss of these runs per epoch, with its interval over them."""
    n_epochs = min(len(r["epochs"]) for r in done)
    return [interval([r["epochs"][i]["valid"]["loss"] for r in done]) for i in range(n_epochs)]


def paired(runs: Dict[str, Dict[int, Dict]], a: str, b: str) -> Optional[Dict]:
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


def censored_median(values: List[Optional[float]]) -> Optional[float]:
    """Median of per-seed ratios where None is "not reached within the run" (censored at the
    run's end, after every observed value): the Kaplan-Meier median for this censoring.
    None when half of the seeds or more never reach it."""
    ordered = sorted(v for v in values if v is not None)
    k = len(values)
    # the median is the (ceil(k/2))-th smallest value counting the censored as infinite
    rank = (k + 1) // 2
    return ordered[rank - 1] if rank <= len(ordered) else None


def log_ratio_interval(ratios: List[float]) -> Dict:
    """Geometric mean of ratios and its 95 % interval, from a t-interval on their logs."""
    logs = interval([math.log(r) for r in ratios])
    return {"geometric_mean": math.exp(logs["mean"]), "n": logs["n"],
            "ci95": [math.exp(x) if not math.isnan(x) else float("nan") for x in logs["ci95"]]}


def time_to_quality(runs: Dict[str, Dict[int, Dict]], contender: str) -> Optional[Dict]:
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
        reached = time_to_reach(run, dense["epochs"][-1]["valid"]["loss"])
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
            "wall_ratio_median": censored_median(wall),
            "final_loss_ratio": log_ratio_interval(final_ratio),
            "final_mel_at_least_dense": f"{mel_reached} of {len(seeds)} seeds"}


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


def pairing_check(runs: Dict[str, Dict[int, Dict]]) -> Dict:
    """Whether the runs of SAME_FIRST_EPOCH have bit-identical epoch-1 validation losses,
    per seed: the grid's pairing (weights, batches, random streams) made visible."""
    out = {}
    for group in SAME_FIRST_EPOCH:
        seeds = sorted(set.intersection(*(set(runs.get(c, {})) for c in group)))
        out[" = ".join(group)] = {
            str(s): len({json.dumps(runs[c][s]["epochs"][0]["valid"]) for c in group}) == 1
            for s in seeds}
    return out


def summarize(runs: Dict[str, Dict[int, Dict]]) -> Dict:
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
    return {"contenders": contenders, "pairing_check": pairing_check(runs),
            "comparisons": comparisons,
            "time_to_quality": {c: v for c, v in ttq.items() if v is not None},
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
    atomic_write_text(out_dir.with_suffix(".json"), json.dumps(
        {**provenance("training_quality"), "setup": setup,
         "runs_planned": len(plan), "runs_finished": sum(len(v) for v in runs.values()),
         # the code that trained (the summary may be written later, from another commit)
         "run_commits": sorted({r["commit"] for c in runs.values() for r in c.values()}),
         "eval_utterances": next((r["eval_utterances"] for c in runs.values()
                                  for r in c.values()), None),
         **summary}, indent=1) + "\n")
    if summary["comparisons"]:
        plot(summary, out_dir.with_name(out_dir.name + "_paired.png"))
    if failures:
        sys.exit(f"error: {len(failures)} run(s) failed: " + "; ".join(failures))


if __name__ == "__main__":
    main()
