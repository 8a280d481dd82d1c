#!/usr/bin/env python3
"""Write the model card (README.md) of a packed SNIPER model: what it is, how it was
trained (the SNIPER schedule with the real sparsity of each phase), its measured results
and how to use it with stock ESPnet."""

import argparse
import json
import re
import sys
from datetime import date
from pathlib import Path
from typing import Dict

import torch
import yaml

import espnet
import espnet_sniper
from espnet_sniper.config_layouts import requested_sniper_conf
from espnet_sniper.recipe.evaluation.score import results_table  # stage 8's tables
from espnet_sniper.recipe.kaldi_dir import write_text

GAN_MODELS = ("jets", "vits")  # text-to-waveform models of ESPnet's GAN task


def logged_real_sparsity(train_log: Path) -> Dict[int, float]:
    """Epoch -> the real sparsity % the trainer reported for it (the cap and the kept
    slices make it lower than the nominal one); a resumed run's last report of an epoch."""
    found = re.findall(r"(\d+)epoch results: \[train\] [^\n]*?sniper_sparsity_real=([-+.e\d]+)",
                       train_log.read_text(errors="replace") if train_log.is_file() else "")
    return {int(epoch): float(value) for epoch, value in found}


def sniper_section(exp_dir: Path, conf: dict) -> list:
    config = requested_sniper_conf(argparse.Namespace(**conf))
    if config is None or not config.ever_sparse:
        return ["Trained dense (no SNIPER schedule): a baseline.", ""]
    if conf["tts"] in GAN_MODELS:
        pruned = ("the generator and the discriminator" if config.prune_discriminator
                  else "the generator (the discriminator is trained dense)")
    else:
        pruned = "the whole model"
    lines = [
        "Trained with SNIPER (SNIP-initialised pruning with an evolving rate, "
        "Lam et al., arXiv 2211.07283): sparse at first, dense at the end.",
        "",
        f"- pruned: {pruned}, except {', '.join(config.exclude_params)}; per-tensor cap "
        f"{config.max_param_sparsity:g} %; regrowth from "
        f"{'initial values' if config.restore_init_values else 'zero'}; per-tensor LR "
        f"scaling {'on' if config.scale_lr_by_param else 'off'} (max x{config.max_lr_scaling:g})",
        f"- masks: {config.scoring} scores, {config.allocation} allocation"
        f"{', positions shuffled within each tensor' if config.shuffle_within_tensor else ''}",
        "",
        "| from epoch | nominal sparsity % | real sparsity % |",
        "|---:|---:|---:|",
    ]
    real = logged_real_sparsity(exp_dir / "train.log")
    for completed, sparsity in sorted(config.schedule.points.items()):
        epoch = completed + 1
        measured = ("0.00" if not sparsity else f"{real[epoch]:.2f}" if epoch in real
                    else "not reached")
        lines.append(f"| {epoch} | {sparsity:g} | {measured} |")
    return lines + [""]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exp_dir", type=Path, required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--train_config", type=Path, required=True)
    parser.add_argument("--inference_model", required=True)
    parser.add_argument("--fs", type=int, required=True, help="sample rate of the corpus")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    conf = yaml.safe_load(args.train_config.read_text())
    results_file = args.exp_dir / "results.json"
    if not results_file.is_file():
        sys.exit(f"error: {results_file} is missing: run stage 8 (scoring) first")
    results = json.loads(results_file.read_text())
    model = torch.load(args.exp_dir / args.inference_model, map_location="cpu", weights_only=True)
    n_params = sum(t.numel() for k, t in model.items() if k.startswith("tts.") and t.is_floating_point())
    if conf["tts"] in GAN_MODELS:
        synthesis = f"waveforms from {conf['tts']}'s own generator"
        floor_vocoder = "Griffin-Lim, the recipe's common floor (a model can score below it)"
        use_comment = "tts = Text2Speech(**files)  # text to waveform, no vocoder"
    else:
        synthesis = "Griffin-Lim unless a vocoder was given"
        floor_vocoder = "the same vocoder"
        use_comment = "tts = Text2Speech(**files)  # an fbank model: add vocoder_config='griffin_lim.yaml'"
    lines = [
        f"# {args.tag}: {conf['tts']} trained with espnet-sniper",
        "",
        f"An ESPnet text-to-speech model ({conf['tts']}, {n_params / 1e6:.2f} M parameters, "
        f"{conf.get('g2p')} phonemes, {args.fs} Hz), trained by "
        f"the espnet-sniper recipe egs2/ljspeech/sniper_tts1 on "
        f"{date.today().isoformat()}. It is a plain ESPnet model: stock ESPnet loads it.",
        "",
        "## Training",
        "",
        *sniper_section(args.exp_dir, conf),
        f"ESPnet {espnet.__version__}, espnet_sniper {espnet_sniper.__version__}, "
        f"{conf.get('max_epoch')} epochs, model file {args.inference_model}.",
        "",
        "## Results",
        "",
        f"Eval set of {results['utterances']} utterances, {synthesis}. Each score beside its "
        f"floor (the recordings' own features through {floor_vocoder}) and a no-skill "
        "baseline (their mean spectrum at their mean F0); normalized = (model - floor) / "
        "(baseline - floor): 0 is the floor, 1 no skill. 95 % intervals over utterances.",
        "",
        *results_table(results),
        "",
        "## Use",
        "",
        "```python",
        "from espnet_model_zoo.downloader import ModelDownloader",
        "from espnet2.bin.tts_inference import Text2Speech",
        f"files = ModelDownloader().download_and_unpack('{args.tag}.zip')",
        use_comment,
        "wav = tts('Hello world.')['wav']",
        "```",
        "",
        "## Citation",
        "",
        "Lam, Perera, Lim, Wang, Chng: SNIPER Training: Single-Shot Sparse Training for "
        "Text-to-Speech, arXiv 2211.07283. Watanabe et al., ESPnet, Interspeech 2018; "
        "Hayashi et al., ESPnet-TTS, ICASSP 2020.",
        "",
    ]
    write_text(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
