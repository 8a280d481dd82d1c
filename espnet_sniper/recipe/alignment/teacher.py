#!/usr/bin/env python3
"""Teacher-forced decoding of a data set with a Tacotron2 teacher -> token durations.

What ESPnet's ``Text2Speech`` with ``use_teacher_forcing=True`` computes (as
``espnet2.bin.tts_inference --use_teacher_forcing true``), but for ``--batch_size``
utterances at a time and without the attention plots and Griffin-Lim waveforms that make
the latter slow: the teacher's decoder steps through the frames one by one, and a batch
reads its weights once a step for all its utterances. Its model, front end and
normalization are those ``Text2Speech`` loads, its forward pass the one ESPnet's
Tacotron2 trains with; at ``--batch_size 1`` the attention is ``Text2Speech``'s to the bit.
Durations come from the attention by one of two methods (``--method``):

- ``mas``: monotonic alignment search over the attention spread to frames (every token
  gets at least one frame; see alignment/monotonic.py);
- ``argmax``: ESPnet's duration calculator (the token with the most attention per decoder
  step), times the reduction factor r, the frames the decoder dropped at the end (fewer
  than r) going to <sos/eos>.

Either way every utterance's durations sum to its number of feature frames. The
teacher's prenet keeps its dropout at inference: each batch starts from the same seed, so
the durations are the same on every run for the same batches (consecutive utterances of
the key file, which run.sh deals out to jobs in whole batches).

Writes ``<output_dir>/durations`` and ``<output_dir>/focus_rates`` (``id values`` lines).
"""

import argparse
import sys
from pathlib import Path
from typing import List

import numpy as np
import soundfile
import torch
import yaml

from espnet_sniper.recipe.kaldi_dir import read_table, write_lines
from espnet_sniper.recipe.alignment.monotonic import frame_attention, monotonic_durations


def teacher_forced_attention(tts, texts: List[str], speeches: List[np.ndarray]) -> list:
    """The teacher's attention (decoder steps x tokens with <sos/eos>) over each utterance
    of a batch, teacher-forced with its features."""
    model, taco = tts.model, tts.model.tts
    tokens = [torch.as_tensor(tts.preprocess_fn("<dummy>", dict(text=t))["text"])
              for t in texts]
    # the encoder packs its sequences longest first
    order = sorted(range(len(tokens)), key=lambda i: -len(tokens[i]))
    if order != list(range(len(tokens))):
        attentions = teacher_forced_attention(tts, [texts[i] for i in order],
                                              [speeches[i] for i in order])
        return [attentions[order.index(i)] for i in range(len(tokens))]
    text_lengths = torch.tensor([len(t) for t in tokens])
    # every sequence ends with <sos/eos>, the padding follows it
    xs = torch.full((len(tokens), int(text_lengths.max()) + 1), taco.padding_idx)
    for i, t in enumerate(tokens):
        xs[i, : len(t)] = t
        xs[i, len(t)] = taco.eos
    speech_lengths = torch.tensor([len(s) for s in speeches])
    speech = torch.zeros(len(speeches), int(speech_lengths.max()))
    for i, s in enumerate(speeches):
        speech[i, : len(s)] = torch.from_numpy(s)
    device = next(model.parameters()).device
    xs, speech, speech_lengths = xs.to(device), speech.to(device), speech_lengths.to(device)
    feats, feats_lengths = model.feats_extract(speech, speech_lengths)
    if model.normalize is not None:
        feats, feats_lengths = model.normalize(feats, feats_lengths)
    ilens = (text_lengths + 1).to(device)
    _, _, _, att_ws = taco._forward(xs=xs, ilens=ilens, ys=feats, olens=feats_lengths,
                                    spembs=None, sids=None, lids=None)
    steps = feats_lengths // taco.reduction_factor
    return [att_ws[i, : int(steps[i]), : int(ilens[i])] for i in range(len(tokens))]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train_config", type=Path, required=True)
    parser.add_argument("--model_file", type=Path, required=True)
    parser.add_argument("--data_dir", type=Path, required=True)
    parser.add_argument("--key_file", type=Path, help="only these utterances")
    parser.add_argument("--output_dir", type=Path, required=True)
    parser.add_argument("--ngpu", type=int, default=0)
    parser.add_argument("--method", choices=("mas", "argmax"), default="mas")
    parser.add_argument("--batch_size", type=int, default=1,
                        help="utterances decoded together, consecutive ones of the key file")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        sys.exit(f"error: --batch_size must be positive, got {args.batch_size}")
    for f in (args.train_config, args.model_file):
        if not f.is_file():
            sys.exit(f"error: {f} does not exist: run stage 3 (teacher) first")
    model_type = (yaml.safe_load(args.train_config.read_text()) or {}).get("tts")
    if model_type != "tacotron2":
        sys.exit(f"error: {args.train_config}: tts is {model_type!r}; the teacher must be a "
                 f"tacotron2 (its attention gives the durations)")

    from espnet2.bin.tts_inference import Text2Speech
    from espnet2.torch_utils.set_all_random_seed import set_all_random_seed

    tts = Text2Speech(train_config=args.train_config, model_file=args.model_file,
                      device="cuda" if args.ngpu > 0 else "cpu", use_teacher_forcing=True)
    r = getattr(tts.tts, "reduction_factor", 1)
    hop = tts.model.feats_extract.get_parameters()["n_shift"]

    wavs, texts = read_table(args.data_dir / "wav.scp"), read_table(args.data_dir / "text")
    keys = list(read_table(args.key_file)) if args.key_file else sorted(wavs)
    durations, focus_rates = [], []
    for start in range(0, len(keys), args.batch_size):
        batch = keys[start : start + args.batch_size]
        speeches = [soundfile.read(wavs[uid], dtype="float32")[0] for uid in batch]
        set_all_random_seed(tts.seed)  # the prenet's dropout, as Text2Speech fixes it
        with torch.no_grad():
            attentions = teacher_forced_attention(tts, [texts[uid] for uid in batch], speeches)
        for uid, speech, att_w in zip(batch, speeches, attentions):
            frames = len(speech) // hop + 1
            argmax_durs, focus_rate = tts.duration_calculator(att_w)
            try:
                attention = frame_attention(att_w.float().cpu().numpy(), r, frames)
                if args.method == "mas":
                    durs = monotonic_durations(attention)
                else:
                    durs = argmax_durs.long().cpu().numpy() * r
                    durs[-1] += frames - durs.sum()
            except ValueError as e:
                sys.exit(f"error: {uid}: {e}; is the teacher's feature config that of the data?")
            durations.append(f"{uid} {' '.join(map(str, durs.tolist()))}")
            focus_rates.append(f"{uid} {float(focus_rate):.5f}")
        if len(durations) // 100 > (len(durations) - len(batch)) // 100:
            print(f"{args.data_dir}: {len(durations)}/{len(keys)} aligned", file=sys.stderr)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    write_lines(args.output_dir / "durations", durations)
    write_lines(args.output_dir / "focus_rates", focus_rates)


if __name__ == "__main__":
    main()
