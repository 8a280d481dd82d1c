#!/usr/bin/env python3
"""Griffin-Lim with seeded phases: waveforms from the synthesized log-mel features.

ESPnet's Griffin-Lim (espnet2.utils.griffin_lim) lets librosa draw the initial phases
from fresh OS entropy, so two syntheses of the same model differ, and so do their MCD
and F0 errors: a rerun of stage 8 could not reproduce its own numbers. Here every
utterance's phases come from its own generator seeded with --seed: the same model gives
the same wavs on every run and in any job split. The mel-to-linear step is ESPnet's
``logmel2linear``; the parameters are those stage 7 writes for ESPnet's vocoder.
"""

import argparse
import os
import sys
from pathlib import Path

import librosa
import numpy as np
import soundfile
import yaml

from espnet2.fileio.npy_scp import NpyScpReader
from espnet2.utils.griffin_lim import logmel2linear

REQUIRED = ("fs", "n_fft", "n_shift", "n_mels", "fmin", "fmax")


def vocode(feats: np.ndarray, conf: dict, seed: int) -> np.ndarray:
    linear = logmel2linear(feats, conf["fs"], conf["n_fft"], conf["n_mels"], conf["fmin"],
                           conf["fmax"])
    return librosa.griffinlim(
        linear.T, n_iter=conf.get("griffin_lim_iters", 8), hop_length=conf["n_shift"],
        win_length=conf.get("win_length"), window="hann", center=len(linear) > 1,
        random_state=np.random.RandomState(seed))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feats_scp", type=Path, required=True,
                        help="denormalized features from espnet2.bin.tts_inference")
    parser.add_argument("--config", type=Path, required=True, help="stage 7's griffin_lim.yaml")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out_dir", type=Path, required=True)
    args = parser.parse_args(argv)
    for path in (args.feats_scp, args.config):
        if not path.is_file():
            sys.exit(f"error: {path} does not exist; run stage 7 (synthesis) first")
    conf = yaml.safe_load(args.config.read_text()) or {}
    missing = [k for k in REQUIRED if conf.get(k) is None]
    if missing:
        sys.exit(f"error: {args.config} lacks {', '.join(missing)}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for key, feats in NpyScpReader(str(args.feats_scp)).items():
        wav = vocode(feats, conf, args.seed)
        path = args.out_dir / f"{key}.wav"
        tmp = path.with_name(f".{key}.wav.tmp")
        soundfile.write(tmp, wav, conf["fs"], "PCM_16", format="WAV")
        os.replace(tmp, path)


if __name__ == "__main__":
    main()
