#!/usr/bin/env python3
"""SNIPER on VITS through the CLI: the checks the test suite makes on JETS, on a tiny VITS.

VITS is not in the suite because of its cost: a VITS process spends about 40 s of CPU
before its first step, compiling (numba) the fallback of ESPnet's monotonic alignment
search when its Cython extension is not built, as in a pip install. This script trains
the tests' tiny VITS (espnet_sniper/testing.py) three epochs three times, each in a process
of its own:

  stock    espnet2.bin.gan_tts_train, dense
  plain    espnet_sniper.bin.gan_tts_train without sniper_conf
  sniper   espnet_sniper.bin.gan_tts_train, schedule {0: 50, 1: 25, 2: 0}

and checks: plain ends with stock's weights bit for bit; sniper's saved models are zero
wherever the masks of its epoch prune (rebuilt from its saved scores and the model ESPnet
builds from its config.yaml), only the generator is pruned, no weight-normalized slice is
all zero, and stock ESPnet's Text2Speech synthesizes a waveform from its final model.

    python -m benchmarks.vits_check     # ~3 minutes here; writes results/vits_check.json
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.core.recipe import single_thread_env
from benchmarks.core.results import REPO, RESULTS, provenance, write_result
from benchmarks.core.staleness import LIBRARY
from espnet_sniper import testing as tiny  # the tests' tiny data and VITS
from espnet_sniper.masks import ScoreRanking
from espnet_sniper.state import SniperState
from espnet_sniper.weight_norm import direction_slices

SCHEDULE = {0: 50, 1: 25, 2: 0}
INPUTS = (*LIBRARY, "benchmarks/vits_check.py")
RESULT_FILES = {"vits_check.json": "VITS"}
RUNS = {"stock": ("espnet2.bin.gan_tts_train", None),
        "plain": ("espnet_sniper.bin.gan_tts_train", None),
        "sniper": ("espnet_sniper.bin.gan_tts_train", {"schedule": SCHEDULE})}


def train(work: Path, data, name: str) -> dict:
    module, sniper_conf = RUNS[name]
    extra = {"sniper_conf": sniper_conf} if sniper_conf else {}
    config = tiny.write_config(work / f"{name}.yaml", model="vits", **extra)
    out = work / name
    cmd = tiny.train_command(module, data, config, out, durations=False)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(work / f"{name}.log", "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(single_thread_env(), PYTHONPATH=str(REPO))).returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0:
        sys.exit(f"error: the {name} run failed; see {work / name}.log")
    return {"output_dir": out, "wall_s": time.perf_counter() - start,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def check_sniper(out: Path) -> dict:
    from espnet2.bin.tts_inference import Text2Speech
    from espnet2.tasks.gan_tts import GANTTSTask

    model, _ = GANTTSTask.build_model_from_file(out / "config.yaml", None, "cpu")
    state = SniperState.load(out / "sniper" / "state.pth")
    ranking = ScoreRanking(state.scores, kept_slices=direction_slices(model))
    names = list(state.scores)
    epochs = []
    for epoch in (1, 2, 3):
        nominal = SCHEDULE[max(k for k in SCHEDULE if k < epoch)]
        weights = load(out / f"{epoch}epoch.pth")
        masks = ranking.masks(nominal) if nominal else None
        outside = sum(int(torch.count_nonzero(weights[n][~m])) for n, m in masks.items()) \
            if masks else 0
        zeros = sum(int((weights[n] == 0).sum()) for n in names)
        total = sum(weights[n].numel() for n in names)
        empty_slices = sum(int((weights[n].flatten(1).abs().sum(1) == 0).sum())
                           for n in names if n.endswith(".weight_v"))
        epochs.append({"epoch": epoch, "nominal_sparsity": nominal,
                       "zero_share_percent": 100.0 * zeros / total,
                       "nonzero_where_pruned": outside, "all_zero_weight_norm_slices": empty_slices,
                       "finite": all(bool(torch.isfinite(t).all()) for t in weights.values())})
    tts = Text2Speech(train_config=out / "config.yaml", model_file=out / "3epoch.pth")
    wav = tts("the quick brown fox")["wav"]
    return {
        "prunable_tensors": len(names),
        "prunable_entries": sum(state.scores[n].numel() for n in names),
        "only_generator": all(n.startswith("tts.generator.") for n in names),
        "no_weight_norm_magnitude": not any(n.endswith(".weight_g") for n in names),
        "epochs": epochs,
        "synthesized_seconds": wav.numel() / tts.fs,
        "synthesized_finite": bool(torch.isfinite(wav).all()),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "vits_check.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = tiny.make_tiny_data(work / "data")
        runs = {name: train(work, data, name) for name in RUNS}
        stock, plain = (load(runs[n]["output_dir"] / "3epoch.pth") for n in ("stock", "plain"))
        sniper = check_sniper(runs["sniper"]["output_dir"])
        n_params = sum(t.numel() for k, t in stock.items() if k.startswith("tts."))
    passed = (all(torch.equal(stock[k], plain[k]) for k in stock) and sniper["only_generator"]
              and sniper["no_weight_norm_magnitude"] and sniper["synthesized_finite"]
              and all(e["nonzero_where_pruned"] == 0 and e["all_zero_weight_norm_slices"] == 0
                      and e["finite"] for e in sniper["epochs"]))
    result = {**provenance("vits_check"), "model": "tiny VITS (espnet_sniper/testing.py)",
              "parameters": n_params, "schedule": SCHEDULE,
              "plain_equals_stock": all(torch.equal(stock[k], plain[k]) for k in stock),
              "sniper": sniper, "passed": passed,
              "cost": {n: {"wall_s": r["wall_s"], "cpu_s": r["cpu_s"]} for n, r in runs.items()}}
    write_result(args.out, result, indent=2)
    print(f"VITS check {'passed' if passed else 'FAILED'}: zero share by epoch "
          + ", ".join(f"{e['zero_share_percent']:.2f} %" for e in sniper["epochs"])
          + "; CPU per run " + ", ".join(f"{n} {r['cpu_s']:.0f} s" for n, r in runs.items()))


def table(data: dict) -> list:
    s = data["sniper"]
    by_epoch = ", ".join(f"epoch {e['epoch']}: {e['zero_share_percent']:.2f} % zero at "
                         f"{e['nominal_sparsity']:g} %" for e in s["epochs"])
    cost = ", ".join(f"{name} {c['cpu_s']:.0f} s" for name, c in data["cost"].items())
    return [
        f"The tests' tiny VITS ({data['parameters'] / 1e3:.1f} k parameters) through the GAN "
        f"CLI, 3 epochs, schedule {data['schedule']}: "
        f"**{'passed' if data['passed'] else 'FAILED'}**. Without sniper_conf the weights "
        f"equal stock `espnet2.bin.gan_tts_train`'s bit for bit: {data['plain_equals_stock']}; "
        f"the generator's {s['prunable_tensors']} prunable tensors ({s['prunable_entries']} "
        f"entries; no discriminator, no `weight_g`) are zero wherever the epoch's masks prune "
        f"({by_epoch}; entries VITS initializes at zero count too), no weight-norm slice is "
        f"all zero, and stock `Text2Speech` makes {s['synthesized_seconds']:.2f} s of finite "
        f"audio. CPU seconds per process: {cost}.",
    ]


if __name__ == "__main__":
    main()
