#!/usr/bin/env python3
"""SNIPER epochs on a CUDA GPU, checked entry by entry: exact zeros, zero Adam moments,
regrowth at the initial values.

The paper-size FastSpeech2 of step_overhead.py on its synthetic batches, through ESPnet's
``train_one_epoch`` with ``ngpu 1`` (optionally under AMP), three epochs with the schedule
{0: 50, 1: 25, 2: 0}: after epoch 1 and 2 every entry pruned at that epoch's sparsity is
exactly 0.0 and its Adam moments are exactly 0; entries regrown at epoch 3's start held
their initial values (the step then moves them). Needs a GPU; refuses clearly without one.

    python -m benchmarks.cuda_sniper_epochs [--amp] --out benchmarks/results/gpu/...json
"""

import argparse
import json
import sys
from pathlib import Path

import torch

from benchmarks import step_overhead as so
from benchmarks.core.results import RESULTS, provenance, write_result
from benchmarks.core.staleness import LIBRARY, STATISTICS
from benchmarks.core.training import train_epoch
from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.lifecycle import Sniper
from espnet_sniper.masks import ScoreRanking, prunable_parameters
from espnet_sniper.trainer import SniperTrainer

SCHEDULE = {0: 50, 1: 25, 2: 0}
INPUTS = (*LIBRARY, *STATISTICS, "benchmarks/core/training.py", "benchmarks/step_overhead.py",
          "benchmarks/cuda_sniper_epochs.py")
RESULT_FILES = {
    "gpu/cuda_sniper_epochs.json": "SNIPER epochs on a GPU, exact zeros",
    "gpu/cuda_sniper_epochs_amp.json": "SNIPER epochs on a GPU under AMP, exact zeros"}


def check_epochs(size: str, steps: int) -> dict:
    model = so.build_model(size)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    config = parse_sniper_conf({"schedule": SCHEDULE, "max_param_sparsity": 75})
    params = prunable_parameters(model, config.exclude_params)
    g = torch.Generator().manual_seed(1)
    scores = {n: torch.rand(p.shape, generator=g) for n, p in params.items()}
    init = {n: p.detach().clone() for n, p in params.items()}
    ranking = ScoreRanking(scores)
    sniper = Sniper.from_scores(config, params, scores, init)
    sniper.attach([opt])
    options = so.contender_options(accum_grad=1)
    options = SniperTrainer.attach(options, sniper)
    scaler = torch.amp.GradScaler("cuda") if so.AMP else None
    batches = so.make_batches(steps, 16, 60, 5)
    report, masks = [], None
    for epoch in (1, 2, 3):
        # the move SniperTrainer makes at this epoch's start, made here to look at it
        sparsity = config.schedule.sparsity_for_epoch(epoch)
        sniper.begin_epoch(epoch)
        row = {"epoch": epoch, "sparsity": sparsity}
        if masks is not None and not sparsity:  # what epoch 2 pruned has just regrown
            row["regrown_at_initial_values"] = all(
                torch.equal(p.detach().cpu()[~masks[n]], init[n].cpu()[~masks[n]])
                for n, p in params.items())
        train_epoch(SniperTrainer, model, [opt], batches, options, scaler, epoch=epoch)
        if sparsity:
            masks = ranking.masks(sparsity, config.max_param_sparsity)
            row["pruned_entries"] = sum(int((~m).sum()) for m in masks.values())
            row["nonzero_pruned_weights"] = sum(
                int(torch.count_nonzero(p.detach()[~masks[n].to(p.device)]))
                for n, p in params.items())
            row["nonzero_pruned_moments"] = sum(
                int(torch.count_nonzero(opt.state[p][k][~masks[n].to(p.device)]))
                for n, p in params.items() for k in ("exp_avg", "exp_avg_sq") if p in opt.state)
        else:
            row["regrown_entries_moved"] = sum(
                int((p.detach().cpu()[~masks[n]] != init[n].cpu()[~masks[n]]).sum())
                for n, p in params.items())
        report.append(row)
    sniper.detach()
    ok = all(r.get("nonzero_pruned_weights", 0) == 0 and r.get("nonzero_pruned_moments", 0) == 0
             for r in report) and report[-1]["regrown_at_initial_values"]
    return {"epochs": report, "ok": ok}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cpu: the same checks without a GPU, to try the script itself")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--size", choices=list(so.SIZES), default="paper")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps per epoch")
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu" / "cuda_sniper_epochs.json")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("needs a CUDA GPU: torch.cuda.is_available() is False on this machine "
                     "(--device cpu runs the same checks on the CPU)")
    if args.amp and args.device != "cuda":
        parser.error("--amp needs --device cuda")
    so.DEVICE, so.AMP = args.device, args.amp
    result = {**provenance("cuda_sniper_epochs"), "device": args.device, "size": args.size,
              "amp": args.amp,
              "steps_per_epoch": args.steps, "schedule": SCHEDULE,
              **check_epochs(args.size, args.steps)}
    write_result(args.out, result, indent=2)
    print(json.dumps(result["epochs"]), file=sys.stderr)
    if not result["ok"]:
        sys.exit("error: a pruned entry was not exactly zero on CUDA (see the JSON)")


def table(data: dict) -> list:
    lines = [f"The {data['size']} FastSpeech2 of `benchmarks/step_overhead.py` on {data['device']}"
             f"{' under AMP' if data['amp'] else ''}, {data['steps_per_epoch']} optimizer "
             f"steps per epoch, schedule {data['schedule']}: "
             f"**{'passed' if data['ok'] else 'FAILED'}**.", "",
             "| epoch | sparsity % | pruned entries | nonzero pruned weights | nonzero pruned "
             "Adam moments | regrown entries at initial values | regrown entries moved |",
             "|---:|---:|---:|---:|---:|---|---:|"]
    for e in data["epochs"]:
        lines.append(f"| {e['epoch']} | {e['sparsity']:g} | {e.get('pruned_entries', '-')} | "
                     f"{e.get('nonzero_pruned_weights', '-')} | "
                     f"{e.get('nonzero_pruned_moments', '-')} | "
                     f"{e.get('regrown_at_initial_values', '-')} | "
                     f"{e.get('regrown_entries_moved', '-')} |")
    return lines


if __name__ == "__main__":
    main()
