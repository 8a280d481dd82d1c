#!/usr/bin/env python3
"""SNIPER epochs on a CUDA GPU, checked entry by entry: exact zeros, zero Adam moments,
regrowth at the initial values.

The paper-size FastSpeech2 of step_overhead.py on its synthetic batches, through ESPnet's
``train_one_epoch`` with ``ngpu 1`` (optionally under AMP), three epochs with the schedule
{0: 50, 1: 25, 2: 0}: after epoch 1 and 2 every entry pruned at that epoch's sparsity is
exactly 0.0 and its Adam moments are exactly 0; entries regrown at epoch 3's start held
their initial values (the step then moves them). Needs a GPU; refuses clearly without one.

    python benchmarks/cuda_sniper_epochs.py [--amp] --out benchmarks/results/gpu/...json
"""

import argparse
import json
import sys
from pathlib import Path

import torch

import step_overhead as so
from bench_common import RESULTS, provenance, train_epoch
from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.controller import SniperController
from espnet_sniper.fileio import atomic_write_text
from espnet_sniper.masks import ScoreRanking, prunable_parameters
from espnet_sniper.trainer import SniperTrainer

SCHEDULE = {0: 50, 1: 25, 2: 0}


def check_epochs(size: str, steps: int) -> dict:
    model = so.build_model(size)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    config = parse_sniper_conf({"schedule": SCHEDULE, "max_param_sparsity": 75})
    params = prunable_parameters(model, config.exclude_params)
    g = torch.Generator().manual_seed(1)
    scores = {n: torch.rand(p.shape, generator=g) for n, p in params.items()}
    init = {n: p.detach().clone() for n, p in params.items()}
    ranking = ScoreRanking(scores)
    controller = SniperController(config, params, ranking, init, [opt])
    options = so.contender_options(accum_grad=1)
    options = SniperTrainer.attach(options, controller)
    scaler = torch.amp.GradScaler("cuda") if so.AMP else None
    batches = so.make_batches(steps, 16, 60, 5)
    report, previous, masks = [], None, None
    for epoch in (1, 2, 3):
        # the move SniperTrainer makes at this epoch's start, made here to look at it
        sparsity = config.schedule.sparsity_for_epoch(epoch)
        controller.set_sparsity(sparsity, weights_conform_to=previous)
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
        previous = sparsity
    controller.detach()
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["epochs"]), file=sys.stderr)
    if not result["ok"]:
        sys.exit("error: a pruned entry was not exactly zero on CUDA (see the JSON)")


if __name__ == "__main__":
    main()
