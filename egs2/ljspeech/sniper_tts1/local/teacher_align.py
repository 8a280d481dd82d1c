#!/usr/bin/env python3
"""Teacher-forced decoding of a data set with a Tacotron2 teacher -> token durations.

Uses ESPnet's ``Text2Speech`` with ``use_teacher_forcing=True``, as
``espnet2.bin.tts_inference --use_teacher_forcing true`` does, but without the
per-utterance attention plots and Griffin-Lim waveforms that make the latter slow.
Durations come from the attention by one of two methods (``--method``):

- ``mas``: monotonic alignment search over the attention spread to frames (every token
  gets at least one frame; see monotonic_alignment.py);
- ``argmax``: ESPnet's duration calculator (the token with the most attention per decoder
  step), times the reduction factor r, the frames the decoder dropped at the end (fewer
  than r) going to <sos/eos>.

Either way every utterance's durations sum to its number of feature frames.

Writes ``<output_dir>/durations`` and ``<output_dir>/focus_rates`` (``id values`` lines).
"""

import argparse
import sys
from pathlib import Path

import soundfile
import torch

from kaldi_dir import read_table, write_lines
from monotonic_alignment import frame_attention, monotonic_durations


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train_config", type=Path, required=True)
    parser.add_argument("--model_file", type=Path, required=True)
    parser.add_argument("--data_dir", type=Path, required=True)
    parser.add_argument("--key_file", type=Path, help="only these utterances")
    parser.add_argument("--output_dir", type=Path, required=True)
    parser.add_argument("--ngpu", type=int, default=0)
    parser.add_argument("--method", choices=("mas", "argmax"), default="mas")
    args = parser.parse_args(argv)
    for f in (args.train_config, args.model_file):
        if not f.is_file():
            sys.exit(f"error: {f} does not exist: run stage 3 (teacher) first")

    from espnet2.bin.tts_inference import Text2Speech

    # Tacotron2 keeps its prenet dropout at inference: a fixed seed per utterance makes the
    # durations the same on every run and whatever the split into jobs
    tts = Text2Speech(train_config=args.train_config, model_file=args.model_file,
                      device="cuda" if args.ngpu > 0 else "cpu", use_teacher_forcing=True,
                      always_fix_seed=True)
    tts.vocoder = None  # only durations are wanted: no waveforms
    r = getattr(tts.tts, "reduction_factor", 1)
    hop = tts.model.feats_extract.get_parameters()["n_shift"]

    wavs, texts = read_table(args.data_dir / "wav.scp"), read_table(args.data_dir / "text")
    keys = list(read_table(args.key_file)) if args.key_file else sorted(wavs)
    durations, focus_rates = [], []
    for i, uid in enumerate(keys, 1):
        speech, _ = soundfile.read(wavs[uid], dtype="float32")
        with torch.no_grad():
            out = tts(texts[uid], speech=torch.from_numpy(speech))
        att_w = out["att_w"].float().cpu().numpy()
        frames = len(speech) // hop + 1
        try:
            attention = frame_attention(att_w, r, frames)
            if args.method == "mas":
                durs = monotonic_durations(attention)
            else:
                durs = out["duration"].long().cpu().numpy() * r
                durs[-1] += frames - durs.sum()
        except ValueError as e:
            sys.exit(f"error: {uid}: {e}; is the teacher's feature config that of the data?")
        durations.append(f"{uid} {' '.join(map(str, durs.tolist()))}")
        focus_rates.append(f"{uid} {float(out['focus_rate']):.5f}")
        if i % 100 == 0:
            print(f"{args.data_dir}: {i}/{len(keys)} aligned", file=sys.stderr)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    write_lines(args.output_dir / "durations", durations)
    write_lines(args.output_dir / "focus_rates", focus_rates)


if __name__ == "__main__":
    main()
