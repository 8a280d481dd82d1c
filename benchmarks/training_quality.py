#!/usr/bin/env python3
"""Does SNIPER train better? The paper's comparison at the mini corpus's scale.

The recipe's stages 1-5 run once (one corpus, one teacher, one set of durations); then
stage 6-8 (training, synthesis, scoring) runs for every contender and seed with the same
epochs: dense, constant 40 % and 20 % sparsity, SNIPER 40 -> 0 and 20 -> 0 (the conf/mini/
configs, which differ only in sniper_conf). Each finished run writes its own JSON under
``--out_dir`` and a rerun skips it, so the grid can be spread over several sessions; a
killed run resumes where its training stopped.

Recorded per run: validation loss (total, mel L1, duration, pitch, energy) and sparsity at
every epoch, each epoch's training and validation seconds, the SNIP scoring seconds, and
the eval set's scores (stage 8: log-mel distance, MCD, F0, each with floor and baseline). Runs go ``--jobs`` at a time, one
thread each, seed-major, so every contender meets the same machine load.

    python benchmarks/training_quality.py --quick   # 1 seed, 3 epochs, 60 utterances: minutes
    python benchmarks/training_quality.py           # 3 seeds, 16 epochs, 400 utterances

Writes ``<out_dir>/<contender>_seed<k>.json``, then the summary ``<out_dir>.json`` and the
plots ``<out_dir>_loss.png`` (total loss against epoch and wall time) and
``<out_dir>_parts.png`` (its parts against epoch), from whatever runs have finished.
"""

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

import torch
import yaml

from bench_common import REPO, RESULTS, copy_recipe, provenance, single_thread_env
from espnet_sniper.fileio import atomic_write_text

CONTENDERS = {
    "dense": "train_fastspeech2.yaml",
    "constant40": "train_sparsity40.yaml",
    "constant20": "train_sparsity20.yaml",
    "sniper40to0": "train_sniper.yaml",
    "sniper20to0": "train_sniper20to0.yaml",
}
LOSSES = ["loss", "l1_loss", "duration_loss", "pitch_loss", "energy_loss"]


def prepare(work: Path, num_utts: int, teacher_epochs: Optional[int]) -> Path:
    """The recipe copy with stages 1-5 done, redone only when the corpus size changes."""
    recipe = work / "sniper_tts1"
    marker = recipe / "prepared.json"
    wanted = {"num_utts": num_utts, "teacher_epochs": teacher_epochs}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return recipe
    copy_recipe(work)
    teacher = yaml.safe_load((REPO / "conf/mini/train_tacotron2_teacher.yaml").read_text())
    if teacher_epochs is not None:
        teacher["max_epoch"] = teacher_epochs
    (recipe / "teacher.yaml").write_text(yaml.safe_dump(teacher, sort_keys=False))
    logging.info(f"stages 1-5 on {num_utts} utterances in {recipe} (log: {recipe}/prepare.log)")
    with open(recipe / "prepare.log", "w") as log:
        subprocess.run(["./run.sh", "--mini", "true", "--mini_num_utts", str(num_utts),
                        "--stage", "1", "--stop_stage", "5", "--teacher_config", "teacher.yaml",
                        "--tag", "prepare"], cwd=recipe, env=single_thread_env(), check=True,
                       stdout=log, stderr=subprocess.STDOUT)
    atomic_write_text(marker, json.dumps(wanted))
    return recipe


def run_config(recipe: Path, contender: str, seed: int, max_epoch: Optional[int]) -> Path:
    conf = yaml.safe_load((REPO / "conf/mini" / CONTENDERS[contender]).read_text())
    conf["seed"] = seed
    if max_epoch is not None:
        conf["max_epoch"] = max_epoch
    path = recipe / "grid" / f"{contender}_seed{seed}.yaml"
    path.parent.mkdir(exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(conf, sort_keys=False))
    return path


def train_and_score(recipe: Path, num_utts: int, contender: str, seed: int,
                    max_epoch: Optional[int]) -> Dict:
    tag = f"{contender}_seed{seed}"
    config = run_config(recipe, contender, seed, max_epoch)
    log_path = recipe / "grid" / f"{tag}.log"
    logging.info(f"{tag}: training, synthesis and scoring (log: {log_path})")
    with open(log_path, "a") as log:
        done = subprocess.run(
            ["./run.sh", "--mini", "true", "--mini_num_utts", str(num_utts), "--nj", "1",
             "--stage", "6", "--stop_stage", "8", "--train_config",
             str(config.relative_to(recipe)), "--tag", tag],
            cwd=recipe, env=single_thread_env(), stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{tag} failed (rc {done.returncode}): see {log_path}")
    return collect(recipe / "exp" / tag)


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
            "train_seconds": train["time"].total_seconds(),
            "valid_seconds": valid["time"].total_seconds(),
        })
    scoring = [float(line.split(" batches in ")[1].split()[0])
               for line in (exp / "train.log").read_text().splitlines()
               if "SNIP scoring done:" in line and " seconds" in line]
    scores = json.loads((exp / "results.json").read_text())["summary"]
    return {"epochs": epochs, "scoring_seconds": scoring[-1] if scoring else 0.0,
            "eval": scores}


def summarize(runs: Dict[str, List[Dict]]) -> Dict:
    """Mean and spread over seeds, per contender and epoch, and the answers asked for."""
    out = {}
    for contender, done in runs.items():
        if not done:
            continue
        n_epochs = min(len(r["epochs"]) for r in done)
        per_epoch = []
        for i in range(n_epochs):
            row = {"epoch": i + 1}
            for k in LOSSES:
                values = [r["epochs"][i]["valid"][k] for r in done]
                row[k] = _spread(values)
            row["wall_seconds"] = statistics.fmean(_wall(r)[i] for r in done)
            per_epoch.append(row)
        out[contender] = {
            "seeds": sorted(r["seed"] for r in done),
            "epochs": per_epoch,
            "final_loss": per_epoch[-1]["loss"],
            "mcd_db": _spread([r["eval"]["mcd_db"]["model"]["mean"] for r in done]),
            "log_f0_rmse_cents": _spread([r["eval"]["f0_rmse_cents"]["model"]["mean"]
                                          for r in done]),
            "mel_normalized": _spread([r["eval"]["mel_db"]["normalized"]["mean"] for r in done]),
            "wall_seconds": _spread([_wall(r)[-1] for r in done]),
        }
    return out


def _wall(run: Dict) -> List[float]:
    """Cumulative seconds at the end of each epoch, SNIP scoring included."""
    total, walls = run["scoring_seconds"], []
    for e in run["epochs"]:
        total += e["train_seconds"] + e["valid_seconds"]
        walls.append(total)
    return walls


def _spread(values: List[float]) -> Dict:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values),
            "stdev": statistics.stdev(values) if len(values) > 1 else 0.0, "n": len(values)}


def plot(summary: Dict, out_prefix: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for contender, s in summary.items():
        x_epoch = [e["epoch"] for e in s["epochs"]]
        x_wall = [e["wall_seconds"] / 60 for e in s["epochs"]]
        mean = [e["loss"]["mean"] for e in s["epochs"]]
        low = [e["loss"]["min"] for e in s["epochs"]]
        high = [e["loss"]["max"] for e in s["epochs"]]
        for ax, x in zip(axes, (x_epoch, x_wall)):
            line, = ax.plot(x, mean, label=contender, linewidth=1.3)
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.15)
    axes[0].set_xlabel("epoch")
    axes[1].set_xlabel("wall time (min, SNIP scoring included)")
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    for ax in axes:
        ax.set_ylabel("validation loss")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("validation loss: mean over seeds, band = min to max", fontsize=10)
    fig.tight_layout()
    _save(fig, out_prefix.with_name(out_prefix.name + "_loss.png"))

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    for ax, key in zip(axes, LOSSES[1:]):
        for contender, s in summary.items():
            ax.plot([e["epoch"] for e in s["epochs"]], [e[key]["mean"] for e in s["epochs"]],
                    label=contender, linewidth=1.2)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, out_prefix.with_name(out_prefix.name + "_parts.png"))
    plt.close("all")


def _save(fig, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    tmp.replace(path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 3 epochs, 60 utterances, a 2-epoch teacher")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    parser.add_argument("--num_utts", type=int, default=400, help="mini corpus size")
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS),
                        choices=list(CONTENDERS))
    parser.add_argument("--work_dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "espnet_sniper_quality")
    parser.add_argument("--out_dir", type=Path, default=None,
                        help="default: benchmarks/results/training_quality[_quick]")
    args = parser.parse_args(argv)
    for name in ("seeds", "jobs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.num_utts < 40:
        parser.error("--num_utts must be at least 40 (dev and eval take a share each)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")

    seeds, max_epoch, teacher_epochs = args.seeds, None, None
    if args.quick:
        seeds, max_epoch, teacher_epochs, args.num_utts = 1, 3, 2, 60
    out_dir = args.out_dir or RESULTS / ("training_quality_quick" if args.quick
                                         else "training_quality")
    out_dir.mkdir(parents=True, exist_ok=True)
    setup = {"num_utts": args.num_utts, "max_epoch": max_epoch or yaml.safe_load(
        (REPO / "conf/mini/train_sniper.yaml").read_text())["max_epoch"],
        "teacher_epochs": teacher_epochs, "jobs": args.jobs, "threads_per_job": 1}

    recipe = prepare(args.work_dir, args.num_utts, teacher_epochs)
    plan = [(c, s) for s in range(seeds) for c in args.contenders]
    todo = [(c, s) for c, s in plan if not _finished(out_dir / f"{c}_seed{s}.json", setup)]
    logging.info(f"{len(plan) - len(todo)} of {len(plan)} runs already finished")

    def one(item):
        contender, seed = item
        result = {**provenance("training_quality"), "contender": contender, "seed": seed,
                  "config": f"conf/mini/{CONTENDERS[contender]}", "setup": setup,
                  **train_and_score(recipe, args.num_utts, contender, seed, max_epoch)}
        atomic_write_text(out_dir / f"{contender}_seed{seed}.json",
                          json.dumps(result, indent=1) + "\n")
        logging.info(f"{contender} seed {seed}: final valid loss "
                     f"{result['epochs'][-1]['valid']['loss']:.3f}, "
                     f"normalized mel score {result['eval']['mel_db']['normalized']['mean']:.3f}")

    failures = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for item, future in [(i, pool.submit(one, i)) for i in todo]:
            try:
                future.result()
            except (RuntimeError, OSError, KeyError) as e:
                failures.append(str(e))
                logging.error(str(e))

    runs = {c: [] for c in args.contenders}
    for path in sorted(out_dir.glob("*_seed*.json")):
        run = json.loads(path.read_text())
        if run["contender"] in runs and run["setup"] == setup:
            runs[run["contender"]].append(run)
    summary = summarize(runs)
    header = provenance("training_quality")
    atomic_write_text(out_dir.with_suffix(".json"), json.dumps(
        {**header, "setup": setup, "contenders": summary}, indent=1) + "\n")
    if summary:
        plot(summary, out_dir)
    if failures:
        sys.exit(f"error: {len(failures)} run(s) failed: " + "; ".join(failures))


def _finished(path: Path, setup: Dict) -> bool:
    try:
        return json.loads(path.read_text())["setup"] == setup
    except (OSError, ValueError, KeyError):
        return False


if __name__ == "__main__":
    main()
