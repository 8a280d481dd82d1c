#!/usr/bin/env python3
"""Objective scores of synthesized speech against the reference recordings.

* Mel-cepstral distortion (MCD, dB) over c1..c24 of SPTK-convention mel-cepstra
  (all-pass constant 0.455 at 22.05 kHz), computed from WORLD's CheapTrick envelope by
  frequency warping, frames aligned by DTW on the mel-cepstra.
* log-F0 RMSE (cents) over the frames voiced in both, on the same DTW path (WORLD DIO with
  StoneMask).

Writes ``<out_dir>/results.json`` (per utterance and mean) and ``<out_dir>/RESULTS.md``.
"""

import argparse
import json
import math
import statistics
import sys
from datetime import date
from pathlib import Path
from typing import Tuple

import numpy as np
import pyworld
import soundfile

from kaldi_dir import read_table, write_text

MCEP_ORDER = 24
FRAME_PERIOD_MS = 5.0


def all_pass_alpha(fs: int) -> float:
    """The all-pass constant that approximates the mel scale (SPTK's table)."""
    return {16000: 0.41, 22050: 0.455, 24000: 0.466, 44100: 0.544, 48000: 0.554}.get(fs, 0.455)


def mel_cepstrum(sp: np.ndarray, alpha: float, order: int = MCEP_ORDER) -> np.ndarray:
    """(frames, order + 1) mel-cepstra of power spectra ``sp`` (frames, fft_size/2 + 1)."""
    n_bins = sp.shape[1]
    omega = np.linspace(0, np.pi, n_bins)
    # sample the log amplitude on a uniform grid of the warped frequency
    beta = omega
    original = beta - 2 * np.arctan(alpha * np.sin(beta) / (1 + alpha * np.cos(beta)))
    log_amp = 0.5 * np.log(np.maximum(sp, 1e-16))
    warped = np.stack([np.interp(original, omega, row) for row in log_amp])
    ceps = np.fft.irfft(warped, axis=1)[:, : order + 1]
    ceps[:, 1:] *= 2.0  # one-sided (SPTK) convention
    return ceps


def dtw_path(a: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Frame pairs of the minimum-cost monotonic alignment (Euclidean distance)."""
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        row, prev = acc[i], acc[i - 1]
        for j in range(1, m + 1):
            row[j] = cost[i - 1, j - 1] + min(prev[j - 1], prev[j], row[j - 1])
    i, j, pairs = n, m, []
    while i > 0 and j > 0:
        pairs.append((i - 1, j - 1))
        step = np.argmin([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]])
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    pairs.reverse()
    idx = np.array(pairs)
    return idx[:, 0], idx[:, 1]


def analyse(wav: Path, fs: int, f0min: float, f0max: float):
    x, sr = soundfile.read(str(wav), dtype="float64")
    if sr != fs:
        sys.exit(f"error: {wav} is {sr} Hz, expected {fs} Hz")
    if x.ndim > 1:
        x = x.mean(axis=1)
    f0, t = pyworld.dio(x, fs, f0_floor=f0min, f0_ceil=f0max, frame_period=FRAME_PERIOD_MS)
    f0 = pyworld.stonemask(x, f0, t, fs)
    sp = pyworld.cheaptrick(x, f0, t, fs)
    return mel_cepstrum(sp, all_pass_alpha(fs)), f0


def score_pair(ref: Path, gen: Path, fs: int, f0min: float, f0max: float) -> dict:
    ref_mc, ref_f0 = analyse(ref, fs, f0min, f0max)
    gen_mc, gen_f0 = analyse(gen, fs, f0min, f0max)
    i, j = dtw_path(ref_mc[:, 1:], gen_mc[:, 1:])
    diff = ref_mc[i, 1:] - gen_mc[j, 1:]
    mcd = float(np.mean(10.0 / math.log(10) * np.sqrt(2.0 * (diff**2).sum(axis=1))))
    voiced = (ref_f0[i] > 0) & (gen_f0[j] > 0)
    if voiced.any():
        cents = 1200.0 * np.log2(gen_f0[j][voiced] / ref_f0[i][voiced])
        f0_rmse = float(np.sqrt(np.mean(cents**2)))
    else:
        f0_rmse = float("nan")
    return {"mcd_db": mcd, "log_f0_rmse_cents": f0_rmse, "voiced_frames": int(voiced.sum())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref_wav_scp", type=Path, required=True)
    parser.add_argument("--gen_wav_dir", type=Path, required=True)
    parser.add_argument("--fs", type=int, default=22050)
    parser.add_argument("--f0min", type=float, default=80)
    parser.add_argument("--f0max", type=float, default=400)
    parser.add_argument("--train_config", type=Path, help="recorded in RESULTS.md")
    parser.add_argument("--out_dir", type=Path, required=True)
    args = parser.parse_args(argv)

    refs = read_table(args.ref_wav_scp)
    missing = [u for u in refs if not (args.gen_wav_dir / f"{u}.wav").is_file()]
    if missing:
        sys.exit(f"error: no synthesized wav in {args.gen_wav_dir} for {len(missing)} "
                 f"utterance(s): {' '.join(missing[:10])}; run stage 7 first")
    per_utt = {u: score_pair(Path(refs[u]), args.gen_wav_dir / f"{u}.wav", args.fs,
                             args.f0min, args.f0max) for u in sorted(refs)}
    mcds = [s["mcd_db"] for s in per_utt.values()]
    f0s = [s["log_f0_rmse_cents"] for s in per_utt.values() if not math.isnan(s["log_f0_rmse_cents"])]
    summary = {
        "utterances": len(per_utt),
        "mcd_db_mean": statistics.fmean(mcds),
        "mcd_db_stdev": statistics.stdev(mcds) if len(mcds) > 1 else 0.0,
        "log_f0_rmse_cents_mean": statistics.fmean(f0s) if f0s else float("nan"),
    }
    result = {"summary": summary, "per_utterance": per_utt,
              "train_config": str(args.train_config) if args.train_config else None,
              "date": date.today().isoformat()}
    for name, text in (
        ("results.json", json.dumps(result, indent=2)),
        ("RESULTS.md", "\n".join([
            f"# Results: {args.out_dir.name}",
            "",
            f"Eval set: {summary['utterances']} utterances of {args.ref_wav_scp.parent}, "
            f"scored on {result['date']} by local/score.py.",
            "",
            "| MCD (dB) | log-F0 RMSE (cents) |",
            "|---:|---:|",
            f"| {summary['mcd_db_mean']:.2f} ± {summary['mcd_db_stdev']:.2f} | "
            f"{summary['log_f0_rmse_cents_mean']:.1f} |",
            "",
        ])),
    ):
        write_text(args.out_dir / name, text)
    print(f"MCD {summary['mcd_db_mean']:.2f} dB, log-F0 RMSE "
          f"{summary['log_f0_rmse_cents_mean']:.1f} cents over {len(per_utt)} utterances",
          file=sys.stderr)


if __name__ == "__main__":
    main()
