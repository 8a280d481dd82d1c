#!/usr/bin/env python3
"""Log-mel spectrograms of recordings beside the synthesized speech, for the eye.

MCD says how far synthesis is from the recording; the picture says what is wrong (a
smeared mean spectrum, missing pauses, wrong lengths). Both sides are analysed with the
same ESPnet front end and parameters as the training features.
"""

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Union

import matplotlib
import numpy as np
import soundfile
import torch

from espnet_sniper.recipe.kaldi_dir import read_table

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def log_mel_reader(fs: int, n_fft: int, n_shift: int, n_mels: int, fmin: int,
                   fmax: int) -> Callable[[Union[str, Path]], np.ndarray]:
    """A function from a wav file to its (n_mels, frames) log-mel spectrogram, ESPnet's
    STFT and mel filter bank with the training features' parameters. Other pages
    (samples_page.py beside this) draw their pictures with it, so that they show
    what this one shows."""
    from espnet2.layers.log_mel import LogMel
    from espnet2.layers.stft import Stft

    stft = Stft(n_fft=n_fft, hop_length=n_shift)
    log_mel = LogMel(fs=fs, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)

    def mel(path: Union[str, Path]) -> np.ndarray:
        wav, _ = soundfile.read(str(path), dtype="float32")
        spec, _ = stft(torch.from_numpy(wav)[None])
        power = spec[..., 0] ** 2 + spec[..., 1] ** 2
        return log_mel(power)[0][0].numpy().T

    return mel


def show_mel(ax, m: np.ndarray, vmin: float, vmax: float):
    """Draw ``m`` on a colour scale fixed by the caller: every picture of one utterance
    on the recording's scale, so that a quieter or smeared synthesis looks it."""
    return ax.imshow(m, origin="lower", aspect="auto", vmin=vmin, vmax=vmax)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref_wav_scp", type=Path, required=True)
    parser.add_argument("--gen_wav_dir", type=Path, required=True)
    parser.add_argument("--fs", type=int, required=True)
    parser.add_argument("--n_fft", type=int, required=True)
    parser.add_argument("--n_shift", type=int, required=True)
    parser.add_argument("--n_mels", type=int, required=True)
    parser.add_argument("--fmin", type=int, required=True)
    parser.add_argument("--fmax", type=int, required=True)
    parser.add_argument("--num_utts", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    refs = read_table(args.ref_wav_scp)
    keys = [k for k in sorted(refs) if (args.gen_wav_dir / f"{k}.wav").is_file()][: args.num_utts]
    if not keys:
        sys.exit(f"error: no synthesized wav in {args.gen_wav_dir} matches {args.ref_wav_scp}: "
                 "run stage 7 first")

    mel = log_mel_reader(args.fs, args.n_fft, args.n_shift, args.n_mels, args.fmin, args.fmax)
    fig, axes = plt.subplots(len(keys), 2, figsize=(11, 2.4 * len(keys)), squeeze=False)
    for key, (left, right) in zip(keys, axes):
        ref, gen = mel(refs[key]), mel(args.gen_wav_dir / f"{key}.wav")
        for ax, m, title in ((left, ref, f"{key}: recording"), (right, gen, "synthesized")):
            show_mel(ax, m, ref.min(), ref.max())
            ax.set_title(f"{title} ({m.shape[1]} frames)", fontsize=9)
            ax.set_xlabel("frame", fontsize=8)
        left.set_ylabel("mel bin", fontsize=8)
    fig.tight_layout()
    tmp = args.out.with_name(f".{args.out.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=60)
    os.replace(tmp, args.out)
    print(f"mel spectrograms of {len(keys)} utterances: {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
