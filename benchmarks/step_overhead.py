#!/usr/bin/env python3
"""Cost of a SNIPER training step against a dense one, on the same FastSpeech2 and batch.

One step = forward, backward, gradient clipping (norm 1) and Adam, as ESPnet's trainer
does. Contenders, alternated within each repetition so that machine noise hits both:
dense, and SNIPER at 40 % (masks from random scores, max_param_sparsity 75, per-tensor
learning-rate scaling on: the configuration with the most work per step).

    python benchmarks/step_overhead.py --quick            # the tiny model only, a minute
    python benchmarks/step_overhead.py                    # tiny and the paper's 38 M model

Writes benchmarks/results/step_overhead.json (with machine, versions, commit and date).
"""

import argparse
import json
import platform
import statistics
import subprocess
import time
from datetime import date
from pathlib import Path

import torch
import yaml

import espnet
from espnet2.tts.fastspeech2 import FastSpeech2
from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.controller import SniperController
from espnet_sniper.fileio import atomic_write_text
from espnet_sniper.masks import ScoreRanking, prunable_parameters

REPO = Path(__file__).resolve().parents[1]
SIZES = {"mini": REPO / "conf/mini/train_fastspeech2.yaml", "paper": REPO / "conf/train_fastspeech2.yaml"}
IDIM, ODIM = 50, 80


def build(size: str, seed: int = 0) -> FastSpeech2:
    torch.manual_seed(seed)
    conf = yaml.safe_load(SIZES[size].read_text())["tts_conf"]
    return FastSpeech2(idim=IDIM, odim=ODIM, **conf)


def batch(n_utts: int, n_tokens: int, frames_per_token: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    frames = n_tokens * frames_per_token
    return {
        "text": torch.randint(2, IDIM - 1, (n_utts, n_tokens), generator=g),
        "text_lengths": torch.full((n_utts,), n_tokens),
        "feats": torch.randn(n_utts, frames, ODIM, generator=g),
        "feats_lengths": torch.full((n_utts,), frames),
        # FastSpeech2 pads the text with <sos/eos>: one more duration, here 0
        "durations": torch.cat([torch.full((n_utts, n_tokens), frames_per_token),
                                torch.zeros(n_utts, 1, dtype=torch.long)], dim=1),
        "durations_lengths": torch.full((n_utts,), n_tokens + 1),
        "pitch": torch.randn(n_utts, n_tokens + 1, 1, generator=g),
        "pitch_lengths": torch.full((n_utts,), n_tokens + 1),
        "energy": torch.randn(n_utts, n_tokens + 1, 1, generator=g),
        "energy_lengths": torch.full((n_utts,), n_tokens + 1),
    }


def make_step(model, opt):
    def step(b):
        loss = model(**b)[0]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
    return step


def contenders(size: str):
    dense = build(size)
    dense_opt = torch.optim.Adam(dense.parameters(), lr=1e-4)
    sparse = build(size)
    sparse_opt = torch.optim.Adam(sparse.parameters(), lr=1e-4)
    config = parse_sniper_conf({"schedule": {0: 40}, "max_param_sparsity": 75})
    params = prunable_parameters(sparse, config.exclude_params)
    g = torch.Generator().manual_seed(1)
    scores = {n: torch.rand(p.shape, generator=g) for n, p in params.items()}
    controller = SniperController(config, params, ScoreRanking(scores),
                                  {n: p.detach().clone() for n, p in params.items()}, [sparse_opt])
    controller.set_sparsity(40, weights_conform_to=None)
    n_params = sum(p.numel() for p in dense.parameters())
    return {"dense": make_step(dense, dense_opt), "sniper40": make_step(sparse, sparse_opt)}, n_params


def measure(size: str, reps: int, warmup: int, shape) -> dict:
    steps, n_params = contenders(size)
    b = batch(*shape)
    for _ in range(warmup):
        for fn in steps.values():
            fn(b)
    times = {name: [] for name in steps}
    for _ in range(reps):
        for name, fn in steps.items():
            start = time.perf_counter()
            fn(b)
            times[name].append(time.perf_counter() - start)
    ratios = [s / d for s, d in zip(times["sniper40"], times["dense"])]
    return {
        "params": n_params,
        "batch": {"utterances": shape[0], "tokens": shape[1], "frames": shape[1] * shape[2]},
        "repetitions": reps,
        "step_seconds_median": {k: statistics.median(v) for k, v in times.items()},
        "ratio_sniper_over_dense": {
            "median": statistics.median(ratios),
            "min": min(ratios), "max": max(ratios),
            "stdev": statistics.stdev(ratios) if len(ratios) > 1 else 0.0,
        },
    }


def commit() -> str:
    """HEAD, marked +dirty when tracked files differ from it."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the mini model only")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/step_overhead.json")
    args = parser.parse_args(argv)

    plan = {"mini": dict(reps=30, warmup=3, shape=(16, 60, 5))}
    if not args.quick:
        plan["paper"] = dict(reps=8, warmup=1, shape=(16, 60, 5))
    results = {}
    for size, p in plan.items():
        results[size] = measure(size, **p)
        r = results[size]["ratio_sniper_over_dense"]
        print(f"{size}: {results[size]['params'] / 1e6:.2f} M params, SNIPER/dense step time "
              f"median {r['median']:.3f} (min {r['min']:.3f}, max {r['max']:.3f})")
    out = {
        "benchmark": "step_overhead",
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": torch.get_num_threads(),
                    "device": "cuda" if torch.cuda.is_available() else "cpu"},
        "versions": {"torch": torch.__version__, "espnet": espnet.__version__,
                     "python": platform.python_version()},
        "commit": commit(),
        "date": date.today().isoformat(),
        "results": results,
    }
    atomic_write_text(args.out, json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
