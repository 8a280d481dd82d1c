#!/usr/bin/env python3
"""LJSpeech layout -> Kaldi-style data directories with LJSpeech's usual split.

``<db_root>/metadata.csv`` (``id|transcription|normalized transcription``) and
``<db_root>/wavs/<id>.wav`` become ``<data>/{train,dev,eval}/{wav.scp,text,utt2spk,spk2utt}``.
As in ESPnet's LJSpeech recipe the normalized transcription is used and the last
utterances are held out: 250 for dev and 250 for eval out of LJSpeech's 13,100, the same
shares of a larger corpus, or ``--num_held_out`` each. A smaller corpus keeps
MIN_HELD_OUT each as long as that is at most a tenth of it each (then a tenth, at least
one): LJSpeech's share of 150 utterances is 3, and a mean over 3 eval utterances says
little (README.md, "A small corpus of your own").
"""

import argparse
import sys
from pathlib import Path

from espnet_sniper.recipe.kaldi_dir import write_data_dir

LJSPEECH_UTTS, LJSPEECH_HELD_OUT = 13100, 250
# per-utterance normalized mel scores of one model spread with an SD of about 0.03 on the
# mini corpus: 10 utterances put the eval mean within +-0.02 (95 %), 3 within +-0.08
MIN_HELD_OUT = 10


def held_out_size(n: int) -> int:
    """Utterances of dev and of eval each, for a corpus of ``n``."""
    return max(1, round(n * LJSPEECH_HELD_OUT / LJSPEECH_UTTS), min(MIN_HELD_OUT, n // 10))


def read_metadata(db_root: Path):
    metadata = db_root / "metadata.csv"
    if not metadata.is_file():
        sys.exit(f"error: {metadata} not found: --db_root must hold LJSpeech's layout "
                 f"(metadata.csv and wavs/)")
    entries = []
    seen = {}
    raw = metadata.read_bytes()
    for lineno, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            sys.exit(f"error: {metadata}:{lineno}: not UTF-8; fix or remove that line")
        fields = text.rstrip("\r").split("|")
        if len(fields) != 3:
            sys.exit(f"error: {metadata}:{lineno}: expected 'id|text|normalized text', "
                     f"got {len(fields)} fields")
        uid, _, normalized = fields
        if uid in seen:
            sys.exit(f"error: {metadata}:{lineno}: duplicate id {uid} (first on line "
                     f"{seen[uid]}); remove one of them")
        if not uid or any(c.isspace() for c in uid):
            sys.exit(f"error: {metadata}:{lineno}: id {uid!r} is empty or has white space")
        seen[uid] = lineno
        entries.append((uid, " ".join(normalized.split())))
    if len(entries) < 3:
        sys.exit(f"error: {metadata} has {len(entries)} utterances; train, dev and eval "
                 f"need at least 3")
    return entries


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db_root", type=Path, required=True)
    parser.add_argument("--data_dir", type=Path, default=Path("data"))
    parser.add_argument("--num_held_out", type=int, default=None,
                        help="utterances of dev and of eval (default: LJSpeech's share, at "
                        f"least {MIN_HELD_OUT} or a tenth of the corpus)")
    args = parser.parse_args(argv)
    if args.num_held_out is not None and args.num_held_out < 1:
        parser.error(f"--num_held_out must be at least 1, got {args.num_held_out}")

    entries = read_metadata(args.db_root)
    wav_dir = args.db_root.resolve() / "wavs"
    n_held = args.num_held_out or held_out_size(len(entries))
    if len(entries) - 2 * n_held < 1:
        sys.exit(f"error: --num_held_out {n_held}: {args.db_root / 'metadata.csv'} has "
                 f"{len(entries)} utterances, too few for two held-out sets of {n_held} and "
                 f"a training set; lower it")
    splits = {
        "train": entries[: len(entries) - 2 * n_held],
        "dev": entries[len(entries) - 2 * n_held: len(entries) - n_held],
        "eval": entries[len(entries) - n_held:],
    }
    for name, part in splits.items():
        write_data_dir(args.data_dir / name, {u: str(wav_dir / f"{u}.wav") for u, _ in part},
                       dict(part), speaker="LJ")
    print(f"data: train {len(splits['train'])}, dev {n_held}, eval {n_held} utterances",
          file=sys.stderr)


if __name__ == "__main__":
    main()
