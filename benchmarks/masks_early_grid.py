#!/usr/bin/env python3
"""Which weights to keep: an early-phase paired grid of mask variants at 40 % sparsity.

The question is the first two epochs (the paper's claim (a), and why SNIP's masks trained
worse than random ones in the full grid), so every run is two epochs: stage 6 of the
recipe only, on the full grid's corpus (``benchmarks.core.recipe.prepare``: 464 utterances, 40
validation), one thread per run, ``--jobs`` at a time, seed-major.

Contenders (conf/mini/ configs; the sparse ones at a constant 40 %, SNIP scored over the
whole first epoch as the paper does, ``score_batches: null``):

* ``dense``; the paper's ``global_snip`` (one ranking, cap 75 %); ``global_random``;
  ``global_snip_shuffled`` (SNIP's per-tensor counts at random positions); ``uniform_snip``,
  ``uniform_random``, ``uniform_magnitude`` (every tensor 40 %); ``erk_snip``, ``erk_random``
  (ERK densities); random and shuffled masks are seeded by the run's seed;
* masks at equal counts and equal initial variance (``kept_variance``, applied when the
  weights are first masked): ``uniform_snip_randvar`` and ``uniform_magnitude_randvar``
  (SNIP's and the largest weights' positions, their kept entries rescaled to the sum of
  squares a random mask keeps, 0.6 of each tensor's), ``uniform_random_densevar`` (a random
  mask's kept entries rescaled to the whole tensor's sum of squares);
* two dense controls for what a random 40 % mask changes besides the mask itself:
  ``dense_lr167`` (the learning rate times 1/0.6, the factor SNIPER gives a tensor at
  density 0.6) and ``dense_initvar`` (every prunable matrix's initial weights times
  sqrt(0.6): a density-0.6 random mask's shrinking of each layer's initial output
  variance; the initial weights come from a sparse run of the same seed's SNIPER state).

Paired as in training_quality.py (same initial weights and batch order per seed).
Differences per seed against dense and against global_snip, 95 % t-intervals over seeds.

    python -m benchmarks.masks_early_grid --seeds 10        # resumable; a rerun skips done runs
    python -m benchmarks.masks_early_grid --report_only

Writes ``benchmarks/results/masks_early_grid/<contender>_seed<k>.json`` (each run, at its
end), ``masks_early_grid.json`` (the summary) and ``masks_early_grid.png``.
"""

import argparse
import copy
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
from espnet_sniper.fileio import atomic_torch_save, atomic_write_text
from espnet_sniper.recipe.evaluation.statistics import interval, verdict
from espnet_sniper.state import SniperState

INPUTS = (*FASTSPEECH2_LIBRARY, "conf/mini", *RECIPE_CODE, "benchmarks/core/grid.py",
          "benchmarks/core/recipe.py", "benchmarks/masks_early_grid.py")
RESULT_FILES = {"masks_early_grid.json": "Which weights to keep, epochs 1-2"}
SPARSITY = 40
# name: (config under conf/mini/, sniper_conf keys set, what it is)
CONTENDERS: Dict[str, Tuple[str, Optional[dict], str]] = {
    "dense": ("train_fastspeech2.yaml", None, "dense training"),
    "global_random": ("train_sniper.yaml", {"scoring": "random"},
                      "random order, one ranking with the cap"),
    "global_snip": ("train_sniper.yaml", {}, "the paper's: SNIP, one ranking with the cap"),
    "global_snip_shuffled": ("train_sniper.yaml", {"shuffle_within_tensor": True},
                             "SNIP's per-tensor counts at random positions"),
    "uniform_snip": ("train_sniper.yaml", {"allocation": "uniform"},
                     "SNIP within each tensor, every tensor 40 %"),
    "uniform_random": ("train_sniper.yaml", {"allocation": "uniform", "scoring": "random"},
                       "random within each tensor, every tensor 40 %"),
    "uniform_magnitude": ("train_sniper.yaml", {"allocation": "uniform",
                                                "scoring": "magnitude"},
                          "largest initial weights within each tensor, every tensor 40 %"),
    "erk_snip": ("train_sniper.yaml", {"allocation": "erk"}, "SNIP within ERK densities"),
    "erk_random": ("train_sniper.yaml", {"allocation": "erk", "scoring": "random"},
                   "random within ERK densities"),
    "uniform_snip_randvar": ("train_sniper.yaml", {"allocation": "uniform",
                                                   "kept_variance": "random"},
                             "SNIP within each tensor, every tensor 40 %, kept variance a "
                             "random mask's"),
    "uniform_magnitude_randvar": ("train_sniper.yaml", {"allocation": "uniform",
                                                        "scoring": "magnitude",
                                                        "kept_variance": "random"},
                                  "largest initial weights within each tensor, every tensor "
                                  "40 %, kept variance a random mask's"),
    "uniform_random_densevar": ("train_sniper.yaml", {"allocation": "uniform",
                                                      "scoring": "random",
                                                      "kept_variance": "dense"},
                                "random within each tensor, every tensor 40 %, kept variance "
                                "restored to dense"),
    "dense_lr167": ("train_fastspeech2.yaml", None,
                    "dense, learning rate x 1/0.6 (a density-0.6 tensor's LR factor)"),
    "dense_initvar": ("train_fastspeech2.yaml", None,
                      "dense, prunable matrices' initial weights x sqrt(0.6)"),
}
REFERENCES = ("dense", "global_snip")
# (a, b) pairs that separate the causes: positions at SNIP's per-tensor counts, SNIP's
# allocation against random's, positions at fixed allocations, the random masks against
# the dense controls that imitate them, and positions at equal counts and equal variance
# (a random mask keeps about its density's share already: uniform_random is the
# equal-variance reference)
CAUSE_PAIRS = [("global_snip_shuffled", "global_snip"), ("global_random", "global_snip_shuffled"),
               ("uniform_snip", "uniform_random"), ("erk_snip", "erk_random"),
               ("uniform_magnitude", "uniform_random"), ("uniform_random", "global_random"),
               ("uniform_random", "dense_lr167"), ("uniform_random", "dense_initvar"),
               ("uniform_snip_randvar", "uniform_random"),
               ("uniform_magnitude_randvar", "uniform_random"),
               ("uniform_random_densevar", "uniform_random")]
SEEDED_KEYS = ("random",)  # scorings whose order is drawn per seed


def contender_config(contender: str, seed: int, max_epoch: int,
                     init_param: Optional[Path] = None) -> dict:
    name, sniper_keys, _ = CONTENDERS[contender]
    conf = yaml.safe_load((REPO / "conf/mini" / name).read_text())
    conf.update(seed=seed, max_epoch=max_epoch)
    conf.pop("num_iters_per_epoch", None)  # passes over the grid's corpus, as measured
    if sniper_keys is not None:
        sniper = copy.deepcopy(conf["sniper_conf"])
        sniper.update(schedule={0: SPARSITY}, score_batches=None, **sniper_keys)
        if sniper.get("scoring") in SEEDED_KEYS or sniper.get("shuffle_within_tensor"):
            sniper["tie_break_seed"] = seed  # another random draw for every seed
        conf["sniper_conf"] = sniper
    if contender == "dense_lr167":
        conf["optim_conf"] = {**conf["optim_conf"],
                              "lr": conf["optim_conf"]["lr"] / (1 - SPARSITY / 100)}
    if contender == "dense_initvar":
        conf["init_param"] = [str(init_param)]
    return conf


def scaled_initial_weights(recipe: Path, seed: int) -> Path:
    """A file of this seed's initial prunable matrices times sqrt(1 - p), for init_param.

    The seed's initial weights are those every paired run starts from; any sparse run of
    the seed saved them in its SNIPER state (in the run order, ``global_random`` is the
    second run of each seed and scores nothing, so it is done long before)."""
    target = recipe / "grid_early" / f"initvar_seed{seed}.pth"
    if target.exists():
        return target
    states = sorted((recipe / "exp").glob(f"*_seed{seed}/sniper/state.pth"))
    if not states:
        raise RuntimeError(f"dense_initvar seed {seed}: no SNIPER state of seed {seed} under "
                           f"{recipe / 'exp'} to take the initial weights from; run a sparse "
                           f"contender of that seed first")
    init = SniperState.load(states[0]).init_values
    factor = math.sqrt(1 - SPARSITY / 100)
    atomic_torch_save({name: (w * factor if w.dim() >= 2 else w)
                       for name, w in init.items()}, target)
    return target


def train(recipe: Path, setup: Dict, contender: str, seed: int) -> Dict:
    tag = f"early_{contender}_seed{seed}"
    work = recipe / "grid_early"
    work.mkdir(exist_ok=True)
    init_param = scaled_initial_weights(recipe, seed) if contender == "dense_initvar" else None
    config = work / f"{tag}.yaml"
    atomic_write_text(config, yaml.safe_dump(
        contender_config(contender, seed, setup["max_epoch"], init_param), sort_keys=False))
    log_path = work / f"{tag}.log"
    logging.info(f"{tag}: training (log: {log_path})")
    return collect(run_stages(recipe, setup, 6, 6, config, tag, log_path))


def collect(exp: Path) -> Dict:
    """Per-epoch validation losses, and the real sparsity and SNIP scoring time."""
    stats = torch.load(exp / "checkpoint.pth", map_location="cpu",
                       weights_only=False)["reporter"]["stats"]
    epochs = [{"epoch": epoch,
               "valid": {k: float(stats[epoch]["valid"][k]) for k in LOSSES},
               "sparsity_real": float(stats[epoch]["train"].get("sniper_sparsity_real", 0.0)),
               "lr_factor": float(stats[epoch]["train"].get("sniper_lr_factor", 1.0)),
               "train_seconds": stats[epoch]["train"]["time"].total_seconds()}
              for epoch in sorted(stats)]
    return {"epochs": epochs, "scoring_seconds": scoring_seconds(exp)}


# ----------------------------------------------------------------------------- analysis
def paired(runs: Runs, a: str, b: str) -> Optional[Dict]:
    """a - b per seed and epoch (validation loss and its terms, and in % of b's loss)."""
    seeds = sorted(set(runs.get(a, {})) & set(runs.get(b, {})))
    if len(seeds) < 2:
        return None
    per_epoch = per_epoch_differences(runs, a, b, seeds)
    for row in per_epoch:
        row["verdict"] = verdict(row["loss"])
    return {"seeds": seeds, "per_epoch": per_epoch}


def summarize(runs: Runs) -> Dict:
    contenders = {}
    for c, by_seed in runs.items():
        if not by_seed:
            continue
        done = list(by_seed.values())
        contenders[c] = {
            "description": CONTENDERS[c][2], "seeds": sorted(by_seed),
            "valid_loss_by_epoch": loss_by_epoch(done),
            "sparsity_real": interval([r["epochs"][0]["sparsity_real"] for r in done]),
            "mean_lr_factor": interval([r["epochs"][0]["lr_factor"] for r in done]),
            "scoring_seconds": interval([r["scoring_seconds"] for r in done]),
        }
    pairs = [(a, b) for b in REFERENCES for a in runs if a not in (b, "dense")] + CAUSE_PAIRS
    comparisons = {f"{a}-{b}": d for a, b in pairs if (d := paired(runs, a, b)) is not None}
    return {"contenders": contenders, "comparisons": comparisons}


def plot(summary: Dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * len(CONTENDERS) + 2), sharey=True)
    names = [c for c in CONTENDERS if c != "dense"]
    for ax, ref in zip(axes, REFERENCES):
        for i, epoch in enumerate((1, 2)):
            xs, ys, errs = [], [], [[], []]
            for y, name in enumerate(names):
                d = summary["comparisons"].get(f"{name}-{ref}")
                if d is None or len(d["per_epoch"]) < epoch:
                    continue
                row = d["per_epoch"][epoch - 1]["loss_percent"]
                xs.append(row["mean"])
                ys.append(y + (i - 0.5) * 0.3)
                errs[0].append(row["mean"] - row["ci95"][0])
                errs[1].append(row["ci95"][1] - row["mean"])
            ax.errorbar(xs, ys, xerr=errs, fmt="o", markersize=4, capsize=3,
                        label=f"epoch {epoch}")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_xlabel(f"validation loss, % of {ref}'s (< 0: lower than {ref})")
        ax.set_title(f"paired difference to {ref}, 95 % t-interval", fontsize=9)
        ax.legend(fontsize=8)
    axes[0].invert_yaxis()  # the axes share y: once for both
    n = max((len(c["seeds"]) for c in summary["contenders"].values()), default=0)
    fig.suptitle(f"mask variants at {SPARSITY} %, first two epochs, up to {n} paired seeds",
                 fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    tmp.replace(path)
    plt.close(fig)


# ----------------------------------------------------------------------------- table
# (a, b) -> what the difference a - b isolates
PAIRS_ASKED = {
    "global_snip_shuffled-global_snip": "SNIP's positions, at SNIP's own per-tensor counts "
    "(shuffled minus SNIP)",
    "global_random-global_snip_shuffled": "SNIP's per-tensor counts against the near-uniform "
    "counts of one random ranking, at random positions",
    "uniform_random-global_random": "exactly uniform counts against one random ranking's",
    "uniform_snip-uniform_random": "SNIP's positions at uniform counts (SNIP minus random)",
    "erk_snip-erk_random": "SNIP's positions at ERK counts (SNIP minus random)",
    "uniform_magnitude-uniform_random": "the largest initial weights at uniform counts "
    "(magnitude minus random)",
    "dense_lr167-dense": "dense with the learning rate times 1/0.6",
    "dense_initvar-dense": "dense with its prunable matrices' initial weights times sqrt(0.6)",
    "uniform_random-dense_lr167": "a uniform random mask against that learning-rate control",
    "uniform_random-dense_initvar": "a uniform random mask against that initial-variance "
    "control",
    "uniform_snip_randvar-uniform_random": "SNIP's positions at equal counts and equal kept "
    "variance (SNIP rescaled to a random mask's variance minus random)",
    "uniform_magnitude_randvar-uniform_random": "the largest initial weights at equal counts "
    "and equal kept variance (magnitude rescaled to a random mask's variance minus random)",
    "uniform_random_densevar-dense": "a uniform random mask with its kept variance restored "
    "to dense, against dense",
    "uniform_random_densevar-uniform_random": "a random mask's kept variance alone (restored "
    "to dense minus the random mask's own)",
}
DENSE_CONTROLS = ("dense_lr167", "dense_initvar")


def _better_both_epochs(d: Dict) -> bool:
    return len(d["per_epoch"]) >= 2 and all(row["loss"]["ci95"][1] < 0
                                            for row in d["per_epoch"][:2])


def table(data: Dict) -> List[str]:
    c, cmp, setup = data["contenders"], data["comparisons"], data["setup"]
    n = min(len(r["seeds"]) for r in c.values())
    scored = ("the whole first epoch (as the paper)" if setup["score_batches"] == "whole epoch"
              else setup["score_batches"])
    lines = [
        f"The runs trained on commit {', '.join(data.get('run_commits', [data['commit']]))}: "
        f"paired grid, {n} seeds (same initial weights and batch order per seed), every "
        f"sparse contender at a constant {setup['sparsity']} % for {setup['max_epoch']} epochs "
        f"of the mini FastSpeech2 on the {setup['num_utts']}-utterance corpus, SNIP scored over "
        f"{scored}; validation loss on {setup['num_held_out']} utterances. "
        f"Differences in % of the second's loss, 95 % t-intervals over seeds; negative: the "
        f"first is better.", "",
        "| contender | real sparsity % | valid loss epoch 1 | epoch 2 | minus dense, epoch 1 | "
        "epoch 2 | minus global_snip, epoch 1 | epoch 2 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in c.items():
        row_cells = []
        for ref in REFERENCES:
            d = cmp.get(f"{name}-{ref}")
            row_cells += ([cells.percent(row["loss_percent"]) for row in d["per_epoch"][:2]]
                          if d else ["", ""])
        loss = r["valid_loss_by_epoch"]
        lines.append(f"| {name}: {r['description']} | {r['sparsity_real']['mean']:.1f} | "
                     f"{cells.mean_ci(loss[0])} | {cells.mean_ci(loss[1])} | "
                     + " | ".join(row_cells) + " |")
    lines += ["", "The pairs that isolate one change (epoch 1; epoch 2):", ""]
    for key, question in PAIRS_ASKED.items():
        d = cmp.get(key)
        if d:
            rows = d["per_epoch"][:2]
            differences = "; ".join(cells.percent(r["loss_percent"]) for r in rows)
            lines.append(f"- {question}: {differences} ({', '.join(r['verdict'] for r in rows)})")
    gain = cmp.get("uniform_random-dense")
    if gain:
        first = gain["per_epoch"][0]
        terms = "; ".join(
            f"{term.replace('_loss', '').replace('l1', 'mel L1')} {cells.ci(first[term])}"
            for term in ("l1_loss", "duration_loss", "pitch_loss", "energy_loss"))
        lines += ["", f"Uniform random minus dense by loss term, epoch 1 (absolute): {terms}."]
    winners = [k.split("-")[0] for k, d in cmp.items()
               if k.endswith("-dense") and _better_both_epochs(d)
               and k.split("-")[0] not in DENSE_CONTROLS]
    return lines + ["", "Lower validation loss than dense in both epochs 1 and 2, interval "
                    "excluding zero: " + (", ".join(f"**{w}**" for w in winners) if winners
                                          else "**none**") + ".", "",
                    "![mask variants, paired differences](benchmarks/results/masks_early_grid.png)"]


# ----------------------------------------------------------------------------- driver
def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first_seed", type=int, default=0)
    parser.add_argument("--max_epoch", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    parser.add_argument("--num_utts", type=int, default=464, help="mini corpus size")
    parser.add_argument("--num_held_out", type=int, default=40)
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS),
                        choices=list(CONTENDERS))
    parser.add_argument("--work_dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "espnet_sniper_quality")
    parser.add_argument("--out_dir", type=Path, default=RESULTS / "masks_early_grid")
    parser.add_argument("--report_only", action="store_true")
    args = parser.parse_args(argv)
    for name in ("seeds", "jobs", "max_epoch", "num_held_out"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    setup = {"num_utts": args.num_utts, "num_held_out": args.num_held_out,
             "max_epoch": args.max_epoch, "sparsity": SPARSITY, "score_batches": "whole epoch",
             "threads_per_job": 1}

    plan = [(c, s) for s in range(args.first_seed, args.first_seed + args.seeds)
            for c in args.contenders]
    todo = [] if args.report_only else still_to_run(plan, args.out_dir, setup)
    recipe = prepare(args.work_dir, args.num_utts, args.num_held_out) if todo else None

    def one(contender: str, seed: int) -> Dict:
        result = {**provenance("masks_early_grid"), "contender": contender, "seed": seed,
                  "config": f"conf/mini/{CONTENDERS[contender][0]}",
                  "sniper_conf_changes": CONTENDERS[contender][1], "setup": setup,
                  **train(recipe, setup, contender, seed)}
        logging.info(f"{contender} seed {seed}: valid loss by epoch "
                     f"{[round(e['valid']['loss'], 3) for e in result['epochs']]}")
        return result

    failures = run_all(todo, one, args.out_dir, args.jobs)
    runs = load_runs(args.out_dir, CONTENDERS, setup)
    summary = summarize(runs)
    write_result(args.out_dir.with_suffix(".json"), {
        **provenance("masks_early_grid"), "setup": setup,
        "runs_finished": sum(len(v) for v in runs.values()),
        # the code that trained (the summary may be written later, from another commit)
        "run_commits": sorted({r["commit"] for c in runs.values() for r in c.values()}),
        **summary})
    if summary["comparisons"]:
        plot(summary, args.out_dir.with_suffix(".png"))
    if failures:
        sys.exit(f"error: {len(failures)} run(s) failed: " + "; ".join(failures))


if __name__ == "__main__":
    main()
