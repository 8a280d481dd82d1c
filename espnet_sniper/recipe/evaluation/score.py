#!/usr/bin/env python3
"""Scores of synthesized speech that can fail: each beside its floor and a no-skill baseline.

Three systems are scored against the recordings with the same scorer:

* ``model``: the synthesized waveforms (stage 7);
* ``floor``: the recording's own log-mel features through the same vocoder (what the
  best possible model would score here);
* ``baseline``: no skill at all: the recording's mean spectral envelope at its mean F0,
  held for its length (WORLD synthesis), through the same features and vocoder.

Metrics, per utterance, all on silence-trimmed speech (leading and trailing frames more
than ``TOP_DB`` below the peak cut; espeak-ng's exact digital silence would dominate any
frame average):

* ``mel_db``, the primary score: mean absolute difference of 80-band log-mel spectra in dB
  (ESPnet's LogMelFbank, floored ``FLOOR_DB`` below the recording's peak), frames aligned
  by DTW (librosa, Euclidean);
* ``mcd_db``: mel-cepstral distortion as ESPnet's ``evaluate_mcd`` computes it (WORLD
  envelope: CheapTrick, DIO + StoneMask F0, 5 ms frames; SPTK mel-cepstra
  ``pysptk.sp2mc``, order 34, all-pass constant 0.45 at 22.05 kHz; DTW on c1..c34;
  ``10/ln10 * sqrt(2 * sum (c - c')^2)`` averaged over the path, c0 excluded) with two
  changes: the envelope is taken within the features' band (0 - fmax) and floored
  ``FLOOR_DB`` below the recording's peak (see ``Analyser.mel_cepstra``; without them the
  recordings' own features through Griffin-Lim score 24 dB, the no-skill baseline 28);
* ``f0_rmse_cents`` on the frames voiced in both (same DTW path), ``vde`` (voicing
  decision error: share of path frames whose voicing differs) and ``gpe`` (gross pitch
  error: share of both-voiced frames more than 20 % off);
* ``length_ratio``: trimmed synthesized length / trimmed recording length;
* ``mos``: a no-reference MOS prediction (DistillMOS, weights in its wheel), ``--mos none``
  to skip it;
* ``cer`` and ``wer``, with ``--asr``: what an ASR system hears in the whole waveform,
  against the utterance's text (``--text``), both normalized alike (see
  ``intelligibility.py``); the recordings themselves are transcribed too, and their error
  rates kept beside the rows, so that the judge's own ear is on record.

Each metric's ``normalized`` score is (model - floor) / (baseline - floor) of the means over
utterances: 0 is the floor, 1 no skill; its 95 % interval is a paired bootstrap over
utterances. The same log-mel distance on the model's features before the vocoder is kept
as a diagnostic (``--gen_feats_scp``).

Writes ``<out_dir>/results.json`` (per-utterance rows of every system) and
``<out_dir>/RESULTS.md``; the floor and baseline waveforms go to
``<out_dir>/score_references/`` for listening. ``--reuse_references`` takes the floor and
baseline rows of an earlier results.json instead of computing them again, when it was made
from the same recordings with the same settings (its ``references_key``): comparing many
models on one eval set then costs a third.
"""

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
from datetime import date
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import soundfile
import yaml

from espnet_sniper.recipe.evaluation.statistics import t_interval
from espnet_sniper.recipe.evaluation.intelligibility import error_rates, transcriber
from espnet_sniper.recipe.griffin_lim import vocode
from espnet_sniper.recipe.kaldi_dir import read_table, write_text

TOP_DB = 40.0  # trimming: frames this far below the utterance's peak are silence
FLOOR_DB = 80.0  # log-mel values are floored this far below the recording's peak
FRAME_PERIOD_MS = 5.0
GROSS_PITCH_ERROR = 0.2
MCEP = {16000: (23, 0.42), 22050: (34, 0.45), 24000: (34, 0.46), 44100: (39, 0.53),
        48000: (39, 0.55)}  # (order, all-pass constant) per sample rate, as evaluate_mcd
METRICS = ("mel_db", "mcd_db", "f0_rmse_cents", "vde", "gpe", "length_ratio", "mos", "cer",
           "wer")
DB_PER_NEPER = 20.0 / math.log(10.0)
VOCODER_KEYS = ("fs", "n_fft", "n_shift", "n_mels", "fmin", "fmax")


class Analyser:
    """The feature analysis of the recipe (log-mel, as the model sees it) and WORLD's."""

    def __init__(self, conf: dict, f0min: float, f0max: float):
        from espnet2.tts.feats_extract.log_mel_fbank import LogMelFbank

        self.conf, self.fs = conf, conf["fs"]
        self.fbank = LogMelFbank(fs=conf["fs"], n_fft=conf["n_fft"], hop_length=conf["n_shift"],
                                 win_length=conf.get("win_length"), n_mels=conf["n_mels"],
                                 fmin=conf["fmin"], fmax=conf["fmax"])
        self.f0min, self.f0max = f0min, f0max
        if self.fs not in MCEP:
            sys.exit(f"error: no mel-cepstral parameters for {self.fs} Hz "
                     f"(known: {', '.join(map(str, MCEP))})")

    def log_mel(self, wav: np.ndarray) -> np.ndarray:
        """(frames, n_mels) natural-log mel amplitudes, ESPnet's training features."""
        import torch

        with torch.no_grad():
            feats, _ = self.fbank(torch.from_numpy(wav.astype(np.float32))[None],
                                  torch.tensor([len(wav)]))
        return feats[0].numpy().astype(np.float64)

    def world(self, wav: np.ndarray, aperiodicity: bool = False):
        """WORLD's F0 (DIO + StoneMask) and envelope (CheapTrick), and with
        ``aperiodicity`` its band aperiodicity (D4C), on 5 ms frames."""
        import pyworld

        x = np.ascontiguousarray(wav, dtype=np.float64)
        f0, t = pyworld.dio(x, self.fs, f0_floor=self.f0min, f0_ceil=self.f0max,
                            frame_period=FRAME_PERIOD_MS)
        f0 = pyworld.stonemask(x, f0, t, self.fs)
        sp = pyworld.cheaptrick(x, f0, t, self.fs)
        return (f0, sp, pyworld.d4c(x, f0, t, self.fs)) if aperiodicity else (f0, sp)

    def mel_cepstra(self, sp: np.ndarray, peak: float) -> np.ndarray:
        """Mel-cepstra of the envelope within the features' band (0 - fmax), floored
        FLOOR_DB below ``peak``: above fmax a vocoder of fmax-limited features makes
        nothing (120 dB below the recording there), and that gap, not the speech, would
        dominate the distance; so would espeak-ng's digital silences without the floor."""
        import pysptk

        floor = peak * 10.0 ** (-FLOOR_DB / 10.0)
        freqs = np.linspace(0.0, self.fs / 2.0, sp.shape[1])
        sp = np.maximum(np.where(freqs > self.conf["fmax"], 0.0, sp), floor)
        order, alpha = MCEP[self.fs]
        return pysptk.sp2mc(sp, order=order, alpha=alpha)


def trim(wav: np.ndarray, conf: dict) -> np.ndarray:
    """The speech between the first and last frame within TOP_DB of the peak."""
    import librosa

    trimmed, _ = librosa.effects.trim(wav, top_db=TOP_DB, frame_length=conf["n_fft"],
                                      hop_length=conf["n_shift"])
    return trimmed


def dtw_pairs(ref: np.ndarray, gen: np.ndarray):
    """Index arrays of the frames that DTW pairs, (frames, dims) inputs."""
    import librosa

    _, path = librosa.sequence.dtw(X=ref.T, Y=gen.T, metric="euclidean")
    path = path[::-1]
    return path[:, 0], path[:, 1]


def mel_distance_db(ref_mel: np.ndarray, gen_mel: np.ndarray) -> float:
    """Mean |log-mel difference| in dB over DTW-paired frames, both floored below the
    recording's peak; inputs are ESPnet's natural-log amplitudes."""
    ref_db, gen_db = ref_mel * DB_PER_NEPER, gen_mel * DB_PER_NEPER
    floor = ref_db.max() - FLOOR_DB
    ref_db, gen_db = np.maximum(ref_db, floor), np.maximum(gen_db, floor)
    i, j = dtw_pairs(ref_db, gen_db)
    return float(np.mean(np.abs(ref_db[i] - gen_db[j])))


def speech_frames(mel: np.ndarray) -> np.ndarray:
    """Feature frames between the first and last within TOP_DB of the peak."""
    loud = np.flatnonzero(mel.max(axis=1) * DB_PER_NEPER >= mel.max() * DB_PER_NEPER - TOP_DB)
    return mel[loud[0]: loud[-1] + 1]


def score_pair(analyser: Analyser, ref: np.ndarray, gen: np.ndarray) -> Dict[str, float]:
    """Every reference-based metric of one synthesized utterance (trimmed waveforms)."""
    row = {"mel_db": mel_distance_db(analyser.log_mel(ref), analyser.log_mel(gen)),
           "length_ratio": len(gen) / len(ref)}
    ref_f0, ref_sp = analyser.world(ref)
    gen_f0, gen_sp = analyser.world(gen)
    peak = float(ref_sp.max())
    ref_mc = analyser.mel_cepstra(ref_sp, peak)[:, 1:]
    gen_mc = analyser.mel_cepstra(gen_sp, peak)[:, 1:]
    i, j = dtw_pairs(ref_mc, gen_mc)
    diff = ref_mc[i] - gen_mc[j]
    row["mcd_db"] = float(np.mean(10.0 / math.log(10.0) * np.sqrt(2.0 * (diff ** 2).sum(1))))
    ref_voiced, gen_voiced = ref_f0[i] > 0, gen_f0[j] > 0
    row["vde"] = float(np.mean(ref_voiced != gen_voiced))
    both = ref_voiced & gen_voiced
    if both.any():
        ratio = gen_f0[j][both] / ref_f0[i][both]
        row["f0_rmse_cents"] = float(np.sqrt(np.mean((1200.0 * np.log2(ratio)) ** 2)))
        row["gpe"] = float(np.mean(np.abs(ratio - 1.0) > GROSS_PITCH_ERROR))
    else:  # nothing voiced in both: pitch cannot be compared
        row["f0_rmse_cents"] = row["gpe"] = float("nan")
    return row


def floor_wav(analyser: Analyser, ref: np.ndarray, seed: int) -> np.ndarray:
    """The recording's own features through the vocoder."""
    return vocode(analyser.log_mel(ref), analyser.conf, seed)


def baseline_wav(analyser: Analyser, ref_trimmed: np.ndarray, seed: int) -> np.ndarray:
    """No skill: the recording's mean envelope and aperiodicity at its mean F0, held for its
    length (WORLD), then through the same features and vocoder as the model."""
    import pyworld

    f0, sp, ap = analyser.world(ref_trimmed, aperiodicity=True)
    voiced = f0[f0 > 0]
    mean_f0 = float(np.exp(np.log(voiced).mean())) if len(voiced) else 0.0
    frames = len(f0)
    held_sp = np.tile(np.exp(np.log(np.maximum(sp, 1e-16)).mean(0)), (frames, 1))
    held_ap = np.tile(ap.mean(0), (frames, 1))
    held = pyworld.synthesize(np.full(frames, mean_f0), held_sp, held_ap, analyser.fs,
                              FRAME_PERIOD_MS)
    return vocode(analyser.log_mel(held), analyser.conf, seed)


def mos_predictor(name: str) -> Optional[Callable[[np.ndarray, int], float]]:
    """A no-reference MOS predictor (waveform, rate) -> score, or None for ``none``."""
    if name == "none":
        return None
    import torch
    import torchaudio

    # tools/setup.sh keeps DistillMOS and transformers out of site-packages, in
    # <venv>/mos, where every ESPnet process would import transformers (see
    # tools/mos-requirements.lock): run.sh puts that folder on this process's PYTHONPATH
    try:
        import distillmos
    except ImportError:
        sys.exit("error: --mos distillmos needs the distillmos package (tools/setup.sh "
                 f"installs it in {Path(sys.prefix) / 'mos'}: put that folder on PYTHONPATH, "
                 "as run.sh does); --mos none skips the MOS prediction")
    model = distillmos.ConvTransformerSQAModel()
    model.eval()

    def predict(wav: np.ndarray, fs: int) -> float:
        x = torchaudio.functional.resample(torch.from_numpy(wav.astype(np.float32)), fs, 16000)
        with torch.no_grad():
            return float(model(x[None]).reshape(-1)[0])

    return predict


def normalized(model: np.ndarray, floor: np.ndarray, base: np.ndarray, seed: int = 0):
    """(model - floor) / (baseline - floor) of the means, and its paired-bootstrap 95 %
    interval over utterances (rows with a NaN in any system left out)."""
    keep = ~(np.isnan(model) | np.isnan(floor) | np.isnan(base))
    model, floor, base = model[keep], floor[keep], base[keep]
    if not len(model):
        return float("nan"), [float("nan"), float("nan")]

    def ratio(idx):
        span = base[idx].mean() - floor[idx].mean()
        return (model[idx].mean() - floor[idx].mean()) / span if span else float("nan")

    value = ratio(np.arange(len(model)))
    rng = np.random.default_rng(seed)
    draws = [ratio(rng.integers(0, len(model), len(model))) for _ in range(2000)]
    draws = [d for d in draws if not math.isnan(d)]
    interval = [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))] \
        if draws else [float("nan"), float("nan")]
    return float(value), interval


def summarize(rows: Dict[str, Dict[str, dict]], keys: List[str]) -> Dict[str, dict]:
    summary = {}
    for metric in METRICS:
        if metric not in rows["model"][keys[0]]:
            continue
        column = {s: np.array([rows[s][k][metric] for k in keys], dtype=float) for s in rows}
        entry = {s: {"mean": float(np.nanmean(v)) if not np.isnan(v).all() else float("nan"),
                     "ci95": t_interval(v.tolist())} for s, v in column.items()}
        if metric != "length_ratio":  # floor and baseline both have the recording's length
            value, interval = normalized(column["model"], column["floor"], column["baseline"])
            entry["normalized"] = {"mean": value, "ci95": interval}
        summary[metric] = entry
    return summary


def _fmt(entry: dict, digits: int) -> str:
    mean, (lo, hi) = entry["mean"], entry["ci95"]
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if not math.isnan(lo) \
        else f"{mean:.{digits}f}"


LABELS = {"mel_db": ("log-mel distance (dB), primary", 2), "mcd_db": ("MCD (dB)", 2),
          "f0_rmse_cents": ("log-F0 RMSE (cents)", 1), "vde": ("voicing decision error", 3),
          "gpe": ("gross pitch error", 3), "length_ratio": ("length ratio", 3),
          "mos": ("DistillMOS", 2), "cer": ("ASR character error rate", 3),
          "wer": ("ASR word error rate", 3)}


def results_table(result: dict) -> List[str]:
    """The Markdown table of a results.json: every metric, model beside floor and baseline."""
    lines = ["| metric | model | floor | baseline | normalized |", "|---|---:|---:|---:|---:|"]
    for metric, entry in result["summary"].items():
        label, digits = LABELS[metric]
        norm = _fmt(entry["normalized"], 3) if "normalized" in entry else "-"
        lines.append(f"| {label} | {_fmt(entry['model'], digits)} | "
                     f"{_fmt(entry['floor'], digits)} | {_fmt(entry['baseline'], digits)} | "
                     f"{norm} |")
    asr = result.get("asr")
    if asr:
        rec = asr["recording"]["summary"]
        lines += ["", f"Intelligibility judged by {asr['asr']}; on the recordings themselves it "
                  f"makes CER {_fmt(rec['cer'], 3)}, WER {_fmt(rec['wer'], 3)}."]
    diag = result.get("feature_mel_db")
    if diag:
        lines += ["", f"Diagnostic, the model's features before the vocoder: log-mel distance "
                  f"{_fmt(diag['model'], 2)} dB (baseline {_fmt(diag['baseline'], 2)} dB, "
                  f"floor 0)."]
    return lines


def results_markdown(result: dict) -> str:
    lines = [f"# Results: {result['exp']}", "",
             f"Eval set: {result['utterances']} utterances of {result['ref_wav_scp']}, scored on "
             f"{result['date']} by espnet_sniper.recipe.evaluation.score. Floor: the recordings' "
             "own features through "
             "the same vocoder; baseline: their mean spectrum at their mean F0, held for their "
             "length. Normalized: (model - floor) / (baseline - floor), 0 = floor, 1 = no skill. "
             "Means with 95 % intervals (normalized: paired bootstrap over utterances).", "",
             *results_table(result)]
    return "\n".join(lines) + "\n"


def read_vocoder_config(path: Path) -> dict:
    if not path.is_file():
        sys.exit(f"error: {path} does not exist: run stage 7 (synthesis) first")
    conf = yaml.safe_load(path.read_text()) or {}
    missing = [k for k in VOCODER_KEYS if conf.get(k) is None]
    if missing:
        sys.exit(f"error: {path} lacks {', '.join(missing)}")
    return conf


def read_wav(path, fs: int) -> np.ndarray:
    wav, sr = soundfile.read(str(path), dtype="float64")
    if sr != fs:
        sys.exit(f"error: {path} is {sr} Hz, expected {fs} Hz (--vocoder_config)")
    return wav.mean(axis=1) if wav.ndim > 1 else wav


def write_wav(path: Path, wav: np.ndarray, fs: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    soundfile.write(tmp, wav, fs, "PCM_16", format="WAV")
    os.replace(tmp, path)


def references_key(refs: Dict[str, str], conf: dict, args: argparse.Namespace) -> str:
    """What the floor and baseline rows depend on: the recordings and the settings."""
    h = hashlib.sha256()
    for uid in sorted(refs):
        h.update(uid.encode())
        h.update(Path(refs[uid]).read_bytes())
    settings = {"vocoder": conf, "f0min": args.f0min, "f0max": args.f0max, "mos": args.mos,
                "seed": args.seed, "top_db": TOP_DB, "floor_db": FLOOR_DB, "asr": args.asr}
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()


def reusable_rows(path: Path, key: str) -> dict:
    """The floor and baseline rows (and the recordings' transcripts, with an ASR) of an
    earlier results.json made with ``key``."""
    try:
        earlier = json.loads(path.read_text())
        made_with, rows = earlier.get("references_key"), earlier["per_utterance"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"error: --reuse_references {path}: not a results.json of "
                 f"espnet_sniper.recipe.evaluation.score ({e})")
    if made_with != key:
        sys.exit(f"error: --reuse_references {path} was scored from other recordings or "
                 f"settings (its references_key differs); score without it")
    return {"rows": {"floor": rows["floor"], "baseline": rows["baseline"]},
            "asr": earlier.get("asr")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref_wav_scp", type=Path, required=True)
    parser.add_argument("--gen_wav_dir", type=Path, required=True)
    parser.add_argument("--gen_feats_scp", type=Path,
                        help="the model's denormalized features (stage 7), for the diagnostic")
    parser.add_argument("--vocoder_config", type=Path, required=True,
                        help="stage 7's griffin_lim.yaml: features and vocoder of the floor")
    parser.add_argument("--f0min", type=float, default=80)
    parser.add_argument("--f0max", type=float, default=400)
    parser.add_argument("--mos", choices=("distillmos", "none"), default="distillmos")
    parser.add_argument("--asr", default=None,
                        help="the ASR of the intelligibility scores: judge:DIR (the recipe's "
                        "own, asr_judge.py), espnet:CONFIG,MODEL, zoo:TAG or whisper:TAG; "
                        "needs --text")
    parser.add_argument("--text", type=Path, default=None,
                        help="the eval set's transcripts (Kaldi text), for --asr")
    parser.add_argument("--seed", type=int, default=0, help="Griffin-Lim phases")
    parser.add_argument("--reuse_references", type=Path, default=None,
                        help="an earlier results.json of the same eval set: its floor and "
                        "baseline rows are taken instead of computed")
    parser.add_argument("--out_dir", type=Path, required=True)
    args = parser.parse_args(argv)

    conf = read_vocoder_config(args.vocoder_config)
    refs = read_table(args.ref_wav_scp)
    texts = {}
    if args.asr:
        if args.text is None or not args.text.is_file():
            sys.exit(f"error: --asr needs --text, the eval set's transcripts "
                     f"({args.text or 'not given'})")
        texts = read_table(args.text)
        untexted = sorted(set(refs) - set(texts))
        if untexted:
            sys.exit(f"error: {args.text} has no text for {' '.join(untexted[:10])}")
    missing = [u for u in refs if not (args.gen_wav_dir / f"{u}.wav").is_file()]
    if missing:
        sys.exit(f"error: no synthesized wav in {args.gen_wav_dir} for {len(missing)} "
                 f"utterance(s): {' '.join(missing[:10])}; run stage 7 first")
    gen_feats = {}
    if args.gen_feats_scp is not None:
        from espnet2.fileio.npy_scp import NpyScpReader

        gen_feats = NpyScpReader(str(args.gen_feats_scp))
    key = references_key(refs, conf, args)
    earlier = reusable_rows(args.reuse_references, key) if args.reuse_references else {}
    reused = earlier.get("rows", {})
    analyser = Analyser(conf, args.f0min, args.f0max)
    predict_mos = mos_predictor(args.mos)
    transcribe = transcriber(args.asr) if args.asr else None
    heard: Dict[str, Dict[str, str]] = {"model": {}}
    recording_asr = (earlier.get("asr") or {}).get("recording") if reused else None
    if transcribe is not None and recording_asr is None:
        recording_asr = {"transcripts": {}, "per_utterance": {}}
    if transcribe is not None and reused:
        heard.update({s: earlier["asr"]["transcripts"][s] for s in reused})
    fs, keys = conf["fs"], sorted(refs)
    rows: Dict[str, Dict[str, dict]] = {"model": {}, "floor": {}, "baseline": {}, **reused}
    feature_rows = {"model": [], "baseline": []}
    for n, uid in enumerate(keys, 1):
        ref = read_wav(refs[uid], fs)
        ref_trimmed = trim(ref, conf)
        systems = {"model": read_wav(args.gen_wav_dir / f"{uid}.wav", fs)}
        if not reused:
            systems["floor"] = floor_wav(analyser, ref, args.seed)
            systems["baseline"] = baseline_wav(analyser, ref_trimmed, args.seed)
        for name, wav in systems.items():
            if name != "model":
                write_wav(args.out_dir / "score_references" / name / f"{uid}.wav", wav, fs)
            row = score_pair(analyser, ref_trimmed, trim(wav, conf))
            if predict_mos is not None:
                row["mos"] = predict_mos(wav, fs)
            if transcribe is not None:
                heard.setdefault(name, {})[uid] = transcribe(wav, fs)
                row.update(error_rates(texts[uid], heard[name][uid]))
            rows[name][uid] = row
        if transcribe is not None and uid not in recording_asr["transcripts"]:
            recording_asr["transcripts"][uid] = transcribe(ref, fs)
            recording_asr["per_utterance"][uid] = error_rates(
                texts[uid], recording_asr["transcripts"][uid])
        if uid in gen_feats:
            ref_speech = speech_frames(analyser.log_mel(ref))
            held = np.tile(ref_speech.mean(0), (len(ref_speech), 1))
            feature_rows["model"].append(mel_distance_db(ref_speech,
                                                         speech_frames(gen_feats[uid])))
            feature_rows["baseline"].append(mel_distance_db(ref_speech, held))
        print(f"scored {n}/{len(keys)}: {uid} mel {rows['model'][uid]['mel_db']:.2f} dB "
              f"(floor {rows['floor'][uid]['mel_db']:.2f}, baseline "
              f"{rows['baseline'][uid]['mel_db']:.2f})", file=sys.stderr)
    result = {"exp": args.out_dir.name, "ref_wav_scp": str(args.ref_wav_scp),
              "utterances": len(keys), "date": date.today().isoformat(),
              "references_key": key,
              "references_reused_from": str(args.reuse_references) if reused else None,
              "definitions": {"trim_top_db": TOP_DB, "mel_floor_db": FLOOR_DB,
                              "mcep_order_alpha": MCEP[fs], "gross_pitch_error": GROSS_PITCH_ERROR,
                              "frame_period_ms": FRAME_PERIOD_MS, "mos": args.mos,
                              "griffin_lim_iters": conf.get("griffin_lim_iters", 8)},
              "summary": summarize(rows, keys), "per_utterance": rows}
    if transcribe is not None:
        recording_asr["summary"] = {
            m: {"mean": statistics.fmean(r[m] for r in recording_asr["per_utterance"].values()),
                "ci95": t_interval([r[m] for r in recording_asr["per_utterance"].values()])}
            for m in ("cer", "wer")}
        result["asr"] = {"asr": args.asr, "text": str(args.text), "transcripts": heard,
                         "recording": recording_asr}
    if feature_rows["model"]:
        result["feature_mel_db"] = {s: {"mean": statistics.fmean(v), "ci95": t_interval(v)}
                                    for s, v in feature_rows.items()}
    write_text(args.out_dir / "results.json", json.dumps(result, indent=2))
    write_text(args.out_dir / "RESULTS.md", results_markdown(result))
    mel = result["summary"]["mel_db"]
    print(f"log-mel distance {mel['model']['mean']:.2f} dB (floor {mel['floor']['mean']:.2f}, "
          f"baseline {mel['baseline']['mean']:.2f}): normalized {mel['normalized']['mean']:.3f}; "
          f"length ratio {result['summary']['length_ratio']['model']['mean']:.3f} over "
          f"{len(keys)} utterances", file=sys.stderr)
    if "cer" in result["summary"]:
        cer = result["summary"]["cer"]
        print(f"ASR character error rate {cer['model']['mean']:.3f} (floor "
              f"{cer['floor']['mean']:.3f}, baseline {cer['baseline']['mean']:.3f}, recordings "
              f"{result['asr']['recording']['summary']['cer']['mean']:.3f})", file=sys.stderr)


if __name__ == "__main__":
    main()
