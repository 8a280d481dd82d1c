#!/usr/bin/env python3
"""Cost of a SNIPER training step against a dense one and against torch.nn.utils.prune.

The same FastSpeech2 (ESPnet's, inside ESPnetTTSModel) and the same batches go through
ESPnet's ``Trainer.train_one_epoch`` (forward, backward, clipping, Adam, reporting), with
the config's ``accum_grad`` (the paper's: 8 micro-batches per optimizer step):

  dense     stock espnet2 Trainer, no masks
  sniper40  SniperTrainer at 40 % (the shipped mini/paper sniper_conf: cap 75 %, regrowth
            at initial values, per-tensor learning-rate scaling as configured)
  prune40   stock Trainer on the same model with the same masks applied by
            prune.custom_from_mask (a forward pre-hook multiplies every
            masked weight on every forward: the reference implementation's approach)

and JETS at ESPnet's LJSpeech size (conf/train_sniper_jets.yaml, inside ESPnetGANTTSModel)
through ESPnet's ``GANTrainer.train_one_epoch`` (a step: a generator and a discriminator
turn, AdamW each): ``dense`` against ``sniper40``, SniperGANTrainer with the generator at
40 % (no prune peer: the reference cannot train GAN models).

Step time: the contenders alternate within every repetition so that machine noise hits
all of them, and the order rotates from one repetition to the next; ratios are per
repetition, median and spread reported. Peak memory: each contender in a fresh process
(spawned), the peak resident set while training minus the resident set before the model
was built, i.e. what training adds (weights, gradients, Adam's moments, activations,
masks and initial values): on this CPU machine there is no allocator counter to read, and
the process's high-water mark is what a user would hit.

    python -m benchmarks.step_overhead --quick   # the mini model only, a few minutes
    python -m benchmarks.step_overhead           # mini, the paper's 38 M model and JETS
    python -m benchmarks.step_overhead --sizes jets   # one of them (results merged)
    python -m benchmarks.step_overhead --device cuda [--amp] --out ...   # on a GPU

Writes benchmarks/results/step_overhead.json. On a GPU (``--device cuda``, ESPnet's
``ngpu 1``) peak memory is CUDA's allocator peak (``torch.cuda.max_memory_allocated``)
above what was allocated before the model was built; ``--amp`` trains under ESPnet's AMP
(autocast and a GradScaler, as ``use_amp: true``).
"""

import argparse
import dataclasses
import json
import multiprocessing
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn.utils.prune as prune
import yaml

from benchmarks.core import cells
from benchmarks.core.reproductions import outside_range
from benchmarks.core.results import REPO, RESULTS, provenance, write_result
from benchmarks.core.staleness import LIBRARY, STATISTICS, changes_since
from benchmarks.core.training import train_epoch
from espnet2.gan_tts.espnet_model import ESPnetGANTTSModel
from espnet2.gan_tts.jets import JETS
from espnet2.train.gan_trainer import GANTrainer
from espnet2.train.trainer import Trainer
from espnet2.tts.espnet_model import ESPnetTTSModel
from espnet2.tts.fastspeech2 import FastSpeech2
from espnet2.tts.feats_extract.dio import Dio
from espnet2.tts.feats_extract.energy import Energy
from espnet2.tts.feats_extract.log_mel_fbank import LogMelFbank
from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.gan_trainer import SniperGANTrainer
from espnet_sniper.lifecycle import Sniper
from espnet_sniper.recipe.evaluation.statistics import ratio_range
from espnet_sniper.masks import ranking_for
from espnet_sniper.weight_norm import direction_slices
from espnet_sniper.tasks.gan_tts import SniperGANTTSTask
from espnet_sniper.tasks.tts import SniperTTSTask
from espnet_sniper.trainer import SniperTrainer

SIZES = {"mini": REPO / "conf/mini/train_sniper.yaml", "paper": REPO / "conf/train_sniper.yaml",
         "jets": REPO / "conf/train_sniper_jets.yaml"}
CONTENDERS = ["dense", "sniper40", "prune40"]
GAN_CONTENDERS = ["dense", "sniper40"]
IDIM, ODIM = 50, 80
FS, HOP = 22050, 256
Batch = Tuple[List[str], Dict[str, torch.Tensor]]


DEVICE, AMP = "cpu", False  # set by main(); spawned children get them as arguments


def build_model(size: str) -> ESPnetTTSModel:
    torch.manual_seed(0)
    conf = yaml.safe_load(SIZES[size].read_text())["tts_conf"]
    # The batches carry pitch and energy, as the recipe's precomputed ones: the extractors
    # are there only because ESPnetTTSModel passes prosody on when it has them.
    return ESPnetTTSModel(feats_extract=None, pitch_extract=Dio(reduction_factor=1),
                          energy_extract=Energy(reduction_factor=1),
                          normalize=None, pitch_normalize=None, energy_normalize=None,
                          tts=FastSpeech2(idim=IDIM, odim=ODIM, **conf)).to(DEVICE)


def make_batches(count: int, n_utts: int, n_tokens: int, frames_per_token: int) -> List[Batch]:
    g = torch.Generator().manual_seed(0)
    frames = n_tokens * frames_per_token
    out = []
    for i in range(count):
        # FastSpeech2 pads the text with <sos/eos>: one more duration, here 0
        durations = torch.cat([torch.full((n_utts, n_tokens), frames_per_token),
                               torch.zeros(n_utts, 1, dtype=torch.long)], dim=1)
        out.append(([f"b{i}u{j}" for j in range(n_utts)], {
            "text": torch.randint(2, IDIM - 1, (n_utts, n_tokens), generator=g),
            "text_lengths": torch.full((n_utts,), n_tokens),
            "speech": torch.randn(n_utts, frames, ODIM, generator=g),
            "speech_lengths": torch.full((n_utts,), frames),
            "durations": durations,
            "durations_lengths": torch.full((n_utts,), n_tokens + 1),
            "pitch": torch.randn(n_utts, n_tokens + 1, 1, generator=g),
            "pitch_lengths": torch.full((n_utts,), n_tokens + 1),
            "energy": torch.randn(n_utts, n_tokens + 1, 1, generator=g),
            "energy_lengths": torch.full((n_utts,), n_tokens + 1),
        }))
    return out


def build_jets() -> ESPnetGANTTSModel:
    torch.manual_seed(0)
    conf = yaml.safe_load(SIZES["jets"].read_text())["tts_conf"]
    # as the recipe's JETS: log-mel features computed from the waveform in the forward,
    # frame-level pitch and energy in the batches
    return ESPnetGANTTSModel(
        feats_extract=LogMelFbank(fs=FS, n_fft=1024, hop_length=HOP, n_mels=ODIM),
        normalize=None, pitch_extract=Dio(reduction_factor=1, use_token_averaged_f0=False),
        pitch_normalize=None,
        energy_extract=Energy(reduction_factor=1, use_token_averaged_energy=False),
        energy_normalize=None, tts=JETS(idim=IDIM, odim=ODIM, **conf)).to(DEVICE)


def make_jets_batches(count: int, n_utts: int, n_tokens: int, frames: int) -> List[Batch]:
    g = torch.Generator().manual_seed(0)
    samples = (frames - 1) * HOP  # ESPnet's centred STFT: frames = samples // hop + 1
    return [([f"b{i}u{j}" for j in range(n_utts)], {
        "text": torch.randint(2, IDIM - 1, (n_utts, n_tokens), generator=g),
        "text_lengths": torch.full((n_utts,), n_tokens),
        "speech": 0.1 * torch.randn(n_utts, samples, generator=g),
        "speech_lengths": torch.full((n_utts,), samples),
        "pitch": torch.randn(n_utts, frames, 1, generator=g),
        "pitch_lengths": torch.full((n_utts,), frames),
        "energy": torch.randn(n_utts, frames, 1, generator=g),
        "energy_lengths": torch.full((n_utts,), frames),
    }) for i in range(count)]


def jets_contender(name: str) -> Callable[[List[Batch]], None]:
    """One GANTrainer epoch over the given batches (both turns per batch)."""
    model = build_jets()
    options = SniperGANTrainer.build_options(SniperGANTTSTask.get_parser().parse_args([]))
    options = dataclasses.replace(options, ngpu=int(DEVICE == "cuda"), accum_grad=1,
                                  grad_clip=-1, grad_noise=False, use_amp=False,
                                  log_interval=10**9, use_wandb=False, generator_first=True)
    adamw = dict(lr=2e-4, betas=(0.8, 0.99), eps=1e-9, weight_decay=0.0)  # the config's
    opts = [torch.optim.AdamW(model.tts.generator.parameters(), **adamw),
            torch.optim.AdamW(model.tts.discriminator.parameters(), **adamw)]
    trainer = GANTrainer
    if name == "sniper40":
        sniper = sniper_at_40("jets", model, opts)
        options, trainer = SniperGANTrainer.attach(options, sniper), SniperGANTrainer
    return lambda batches: train_epoch(trainer, model, opts, batches, options)


def contenders_of(size: str) -> List[str]:
    if size == "jets":
        return GAN_CONTENDERS
    if size == "paper" and DEVICE == "cpu":
        # a step is ~50 s on two cores: 8 repetitions of SNIPER against dense, without the
        # prune peer (measured against it at the mini size and on a GPU)
        return ["dense", "sniper40"]
    return CONTENDERS


def batches_of(size: str, count: int, shape) -> List[Batch]:
    return make_jets_batches(count, *shape) if size == "jets" else make_batches(count, *shape)


def config_accum_grad(size: str) -> int:
    return int(yaml.safe_load(SIZES[size].read_text()).get("accum_grad", 1))


def sniper_scores(size: str, model: torch.nn.Module):
    """The shipped sniper_conf at a constant 40 %, what the model's SNIPER trainer prunes
    (JETS: the generator), and fixed random scores of it."""
    conf = yaml.safe_load(SIZES[size].read_text())["sniper_conf"]
    config = parse_sniper_conf({**conf, "schedule": {0: 40}})
    params = (SniperGANTrainer if size == "jets" else SniperTrainer).prunable(model, config)
    g = torch.Generator().manual_seed(1)
    scores = {n: torch.rand(p.shape, generator=g) for n, p in params.items()}
    return config, params, scores


def sniper_masks(size: str, model: torch.nn.Module):
    """The 40 % masks of the shipped sniper_conf, from fixed random scores, over what the
    model's SNIPER trainer prunes (JETS: the generator)."""
    config, params, scores = sniper_scores(size, model)
    return config, params, ranking_for(scores, config, direction_slices(model))


def sniper_at_40(size: str, model: torch.nn.Module, optimizers) -> Sniper:
    """A SNIPER run at 40 %, hooked into the optimizers that own what it prunes."""
    config, params, scores = sniper_scores(size, model)
    sniper = Sniper.from_scores(config, params, scores,
                                {n: p.detach().clone() for n, p in params.items()},
                                direction_slices(model))
    sniper.attach(optimizers)
    sniper.begin_epoch(1)
    return sniper


def contender_options(accum_grad: int):
    """ESPnet's trainer options of every contender, on DEVICE, under AMP when asked."""
    options = SniperTrainer.build_options(SniperTTSTask.get_parser().parse_args([]))
    return dataclasses.replace(options, ngpu=int(DEVICE == "cuda"), accum_grad=accum_grad,
                               grad_clip=1.0, grad_noise=False, use_amp=AMP,
                               log_interval=10**9, use_wandb=False)


def contender(size: str, name: str, accum_grad: int) -> Callable[[List[Batch]], None]:
    """A function that trains one epoch over the given batches, through ESPnet's trainer."""
    if size == "jets":
        return jets_contender(name)
    model = build_model(size)
    options = contender_options(accum_grad)
    scaler = torch.amp.GradScaler("cuda") if AMP else None
    trainer = Trainer
    if name == "dense":
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    elif name == "sniper40":
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        sniper = sniper_at_40(size, model, [opt])
        options, trainer = SniperTrainer.attach(options, sniper), SniperTrainer
    else:
        config, _, ranking = sniper_masks(size, model)
        masks = ranking.masks(40, config.max_param_sparsity)
        modules = dict(model.named_modules())
        for pname, mask in masks.items():
            owner, _, attr = pname.rpartition(".")
            prune.custom_from_mask(modules[owner], attr, mask.to(DEVICE))
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    return lambda batches: train_epoch(trainer, model, [opt], batches, options, scaler)


def step_times(size: str, reps: int, steps: int, shape) -> Dict:
    accum_grad = config_accum_grad(size)
    names = contenders_of(size)
    batches = batches_of(size, steps * accum_grad, shape)
    epochs = {name: contender(size, name, accum_grad) for name in names}
    for fn in epochs.values():  # warm-up: allocator, Adam's state
        fn(batches)
    times = {name: [] for name in names}
    for rep in range(reps):
        # each contender takes each place in the order in turn: no one always runs right
        # after the same other (caches, allocator, clock)
        turn = rep % len(names)
        for name in names[turn:] + names[:turn]:
            fn = epochs[name]
            _sync()
            start = time.perf_counter()
            fn(batches)
            _sync()
            times[name].append((time.perf_counter() - start) / steps)
    result = {
        "accum_grad": accum_grad,
        "seconds_per_step_median": {k: statistics.median(v) for k, v in times.items()},
        "ratio_over_dense": {k: ratio_range(times[k], times["dense"]) for k in names[1:]},
    }
    if "prune40" in names:
        result["sniper_over_prune"] = ratio_range(times["sniper40"], times["prune40"])
    return result


def _sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_memory_child(size: str, name: str, shape, device: str, amp: bool) -> int:
    """In a fresh process: bytes the training of ``name`` adds at its peak, over two steps
    (the second has Adam's moments and the activations at once). Gradients accumulate in
    place, so one micro-batch per step peaks as high as accum_grad of them."""
    global DEVICE, AMP
    DEVICE, AMP = device, amp
    torch.set_num_threads(1)
    batches = batches_of(size, 2, shape)
    if device == "cuda":
        torch.cuda.init()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        contender(size, name, accum_grad=1)(batches)
        return torch.cuda.max_memory_allocated() - before
    Path("/proc/self/clear_refs").write_text("5")  # restart the high-water mark here
    before = _rss_kib("VmRSS")
    contender(size, name, accum_grad=1)(batches)
    return (_rss_kib("VmHWM") - before) * 1024


def peak_memory(size: str, reps: int, shape) -> Dict:
    ctx = multiprocessing.get_context("spawn")
    names = contenders_of(size)
    peaks = {name: [] for name in names}
    for _ in range(reps):
        for name in names:
            with ctx.Pool(1) as pool:
                peaks[name].append(pool.apply(_peak_memory_child,
                                              (size, name, shape, DEVICE, AMP)))
    median = {k: statistics.median(v) for k, v in peaks.items()}
    return {"training_bytes_median": median,
            "ratio_over_dense": {k: median[k] / median["dense"] for k in names[1:]}}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the mini model only")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES),
                        help="the models to measure; results already in --out for the "
                        "others are kept")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--amp", action="store_true", help="ESPnet's AMP (needs --device cuda)")
    parser.add_argument("--out", type=Path, default=RESULTS / "step_overhead.json")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible to torch on this machine")
    if args.amp and args.device != "cuda":
        parser.error("--amp needs --device cuda (ESPnet's AMP is CUDA autocast)")
    global DEVICE, AMP
    DEVICE, AMP = args.device, args.amp

    shapes = {"mini": (16, 60, 5), "paper": (16, 60, 5),  # utts, tokens, frames per token
              "jets": (2, 50, 200)}  # utts, tokens, frames (2.3 s each)
    # a GPU affords the repetitions the paper-size models cannot get on two CPU cores
    gpu = dict(reps=15, steps=3, memory_reps=1)
    plan = {"mini": dict(reps=15, steps=3, memory_reps=2),
            "paper": gpu if args.device == "cuda" else dict(reps=8, steps=1, memory_reps=1),
            "jets": gpu if args.device == "cuda" else dict(reps=8, steps=2, memory_reps=1)}
    sizes = ["mini"] if args.quick else args.sizes
    here = provenance("step_overhead")
    results = {}
    if args.out.is_file():  # the models not measured now keep their earlier results
        earlier = json.loads(args.out.read_text())
        for size, r in earlier.get("results", {}).items():
            if size not in sizes and size in SIZES:
                r.setdefault("measured", {k: earlier[k] for k in ("date", "commit")})
                results[size] = r
    for size in sizes:
        p, shape = plan[size], shapes[size]
        model = build_jets() if size == "jets" else build_model(size)
        n_params = sum(q.numel() for q in model.parameters())
        del model
        frames = shape[2] if size == "jets" else shape[1] * shape[2]
        results[size] = {
            "measured": {k: here[k] for k in ("date", "commit")},
            "params": n_params,
            "batch": {"utterances": shape[0], "tokens": shape[1], "frames": frames},
            "repetitions": p["reps"], "steps_per_repetition": p["steps"],
            **step_times(size, p["reps"], p["steps"], shape),
            "peak_memory": peak_memory(size, p["memory_reps"], shape),
        }
        r = results[size]
        print(f"{size}: {n_params / 1e6:.2f} M params; step time over dense: " + ", ".join(
            f"{k} {v['median']:.3f}" for k, v in r["ratio_over_dense"].items())
            + "; peak memory over dense: " + ", ".join(
            f"{k} {v:.3f}" for k, v in r["peak_memory"]["ratio_over_dense"].items()), flush=True)
    out = {**here, "device": args.device, "amp": args.amp, "results": results}
    write_result(args.out, out, indent=2)


# ----------------------------------------------------------------------------- table
# what every row measures; each row's own config is checked apart (ROW_INPUTS)
INPUTS = (*LIBRARY, *STATISTICS, "benchmarks/core/training.py", "benchmarks/step_overhead.py")
ROW_INPUTS = {"mini": ("conf/mini/train_sniper.yaml",), "paper": ("conf/train_sniper.yaml",),
              "jets": ("conf/train_sniper_jets.yaml",)}
RESULT_FILES = {"step_overhead.json": "Cost per step",
                "gpu/step_overhead_cuda.json": "Cost per step on a GPU",
                "gpu/step_overhead_cuda_amp.json": "Cost per step on a GPU, under AMP"}
ROW_NAMES = {"mini": "FastSpeech2 mini", "paper": "FastSpeech2 paper", "jets": "JETS (LJSpeech)"}
# each row's goals: SNIPER / dense time, SNIPER / dense memory
GOALS = {"mini": (1.05, None), "paper": (1.02, 1.10), "jets": (1.03, 1.10)}
TOLERANCE = "with every row's SNIPER / dense median time inside the committed [min, max]"


def measured_at(data: Dict) -> List[str]:
    """Rows are measured separately (--sizes): each row's commit."""
    return [r.get("measured", data)["commit"] for r in data["results"].values()]


def reproduces(committed: Dict, new: Dict) -> List[str]:
    """The rows (of both) whose SNIPER / dense median falls outside the committed range."""
    return [d for size, r in committed["results"].items() if size in new["results"]
            for d in outside_range(f"{size}.ratio_over_dense.sniper40.median",
                                   new["results"][size]["ratio_over_dense"]["sniper40"]["median"],
                                   r["ratio_over_dense"]["sniper40"])]


def table(data: Dict) -> List[str]:
    memory = ("CUDA's allocator peak above what was allocated before the model was built"
              if data.get("device") == "cuda" else
              "what training adds to a fresh process's resident set (weights, gradients, "
              "Adam, activations, and the masks and initial values)")
    lines = [
        f"On {data.get('device', 'cpu')}{' under AMP' if data.get('amp') else ''}, each row's "
        f"own date and commit in the table: the same model and batches through ESPnet's "
        f"`train_one_epoch`, contenders alternated (the order rotating). FastSpeech2: SNIPER "
        f"at 40 % (the shipped sniper_conf) and the same masks applied by "
        f"`torch.nn.utils.prune` against dense. JETS (ESPnet's LJSpeech size): a step is a "
        f"generator and a discriminator turn of `GANTrainer`, SNIPER with the generator at "
        f"40 % against dense (no prune peer: the reference cannot train GAN models). Peak "
        f"memory: {memory}.",
        "",
        "| model | measured | parameters | micro-batch | reps x steps | dense s/step | "
        "SNIPER / dense time | prune / dense time | SNIPER / prune time | "
        "SNIPER / dense memory | prune / dense memory |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, r in data["results"].items():
        time_goal, memory_goal = GOALS[size]
        t, m, b = r["ratio_over_dense"], r["peak_memory"]["ratio_over_dense"], r["batch"]
        measured = r.get("measured", data)
        row_stale = (" (**stale**: its config changed since, rerun with `--sizes "
                     f"{size}`)" if changes_since(measured["commit"], ROW_INPUTS[size]) else "")
        sniper_time = cells.goal(t["sniper40"]["median"], time_goal,
                                 (t["sniper40"]["min"], t["sniper40"]["max"]))
        sniper_memory = (cells.goal(m["sniper40"], memory_goal) if memory_goal
                         else f"{m['sniper40']:.3f}")
        prune = (f"{t['prune40']['median']:.3f} | {cells.faster(r['sniper_over_prune'])}"
                 if "prune40" in t else "- | -")
        lines.append(
            f"| {ROW_NAMES[size]} | {measured['date']}, {measured['commit']}{row_stale} "
            f"| {r['params'] / 1e6:.2f} M | {b['utterances']} x {b['frames']} frames, "
            f"accum_grad {r['accum_grad']} "
            f"| {r['repetitions']} x {r['steps_per_repetition']} "
            f"| {r['seconds_per_step_median']['dense']:.3f} "
            f"| {sniper_time} [{t['sniper40']['min']:.3f}, {t['sniper40']['max']:.3f}] "
            f"| {prune} | {sniper_memory} | {m.get('prune40', float('nan')):.3f} |"
            .replace("| nan |", "| - |"))
    return lines + [
        "",
        "Time ratios: median over repetitions [min, max]. At the mini size the resident-set "
        "differences are of the order of the allocator's noise (a contender can measure "
        "below dense); at the paper's size they are the masks, initial values and, for the "
        "prune peer, the second copy of every pruned weight it keeps (`weight_orig`), but a "
        "single process's high-water mark moves by about 5 % from run to run (an earlier run "
        "measured SNIPER 1.098x and the prune peer 1.180x dense)."]


def headline(data: Dict) -> str:
    """SNIPER's step time over dense, per model."""
    return "SNIPER's training step over dense (median [min, max] of alternated repetitions): " + \
        "; ".join(f"{ROW_NAMES[size]} {r['ratio_over_dense']['sniper40']['median']:.3f} "
                  f"[{r['ratio_over_dense']['sniper40']['min']:.3f}, "
                  f"{r['ratio_over_dense']['sniper40']['max']:.3f}]"
                  for size, r in data["results"].items())


if __name__ == "__main__":
    main()
