#!/usr/bin/env python3
"""Generate the mini corpus: English sentences of our own, spoken by espeak-ng, laid out
exactly as LJSpeech-1.1 (``wavs/<id>.wav``, 22050 Hz 16-bit mono, and ``metadata.csv``
with ``id|transcription|normalized transcription``), plus ``word_onsets.txt``: where
espeak-ng started each word, in samples (``<id> <onset> ...``), the truth that stage 4
measures the teacher's durations against.

The sentences come from hand-written phrase lists (chosen so that every English phoneme
occurs, /ʒ/ and /ð/ included) combined by a seeded generator, so the corpus is the same on
every machine with the same espeak-ng. It is built once: a finished corpus (marked by
``.complete`` with its parameters) is left alone, and a killed build leaves no corpus
behind, only a ``.partial`` directory that the next run removes.
"""

import argparse
import functools
import json
import multiprocessing
import os
import random
import shutil
import sys
from pathlib import Path
from typing import List, Tuple

import soundfile

from espnet_sniper.recipe.corpus import espeak_synth

SUBJECTS = [
    "the old sailor", "my younger brother", "a quiet teacher", "the judge", "our neighbour's child",
    "the royal chef", "that clever fox", "the tired worker", "a young soldier", "the village doctor",
    "this strange machine", "the shy giraffe", "her uncle George", "the busy mayor", "a thoughtful girl",
    "the choir", "each of the voters", "the zoo keeper", "my cousin Ruth", "the pilot",
]
VERBS = [
    "carried", "measured", "watched", "pushed", "joined", "thought about", "enjoyed", "fixed",
    "painted", "chose", "boiled", "treasured", "wrapped", "sang about", "found", "borrowed",
    "explained", "ignored", "described", "wanted",
]
OBJECTS = [
    "a heavy leather bag", "the vision of the future", "three thin threads", "a bowl of orange soup",
    "the beige garage door", "your usual choice", "the pleasure of the journey", "five yellow boxes",
    "an azure ribbon", "the noisy toy", "a jar of cherry jam", "the loud cowboy song",
    "the wet wool socks", "a huge map of Europe", "the broken watch", "both of the books",
]
ENDINGS = [
    "before the evening rain", "with great care", "near the thick hedge", "at the zoo on Thursday",
    "while everyone was sleeping", "through the narrow valley", "without any doubt",
    "in the early morning", "after lunch", "under the bridge", "beside the fountain",
    "until the lights went out", "for the whole afternoon", "on the way home",
]
QUESTIONS = [
    "Why did {s} want {o}?", "Who showed {s} {o}?", "Have you ever seen {o} {e}?",
    "Is it true that {s} {v} {o}?",
]
STATEMENTS = [
    "{S} {v} {o} {e}.", "{S} {v} {o}.", "{E}, {s} {v} {o}.", "{S} {v} {o}, and then {s2} {v2} it.",
    "Nobody expected that {s} {v} {o} {e}.",
]
# A few transcriptions whose written form differs from the spoken one, as in LJSpeech.
NUMBERED = [
    ("In 1865 the bridge was finished.", "In eighteen sixty-five the bridge was finished."),
    ("The train left at 7 o'clock.", "The train left at seven o'clock."),
    ("Dr. Smith counted 12 birds.", "Doctor Smith counted twelve birds."),
    ("It cost 3 dollars and 20 cents.", "It cost three dollars and twenty cents."),
]


def sentences(n: int, seed: int) -> List[Tuple[str, str]]:
    """``n`` distinct (transcription, normalized transcription) pairs."""
    rng = random.Random(seed)
    out: List[Tuple[str, str]] = list(NUMBERED[: min(n, len(NUMBERED))])
    seen = {t for t, _ in out}
    while len(out) < n:
        template = rng.choice(QUESTIONS if rng.random() < 0.2 else STATEMENTS)
        s, s2 = rng.sample(SUBJECTS, 2)
        v, v2 = rng.sample(VERBS, 2)
        e = rng.choice(ENDINGS)
        text = template.format(s=s, S=s[0].upper() + s[1:], s2=s2, v=v, v2=v2,
                               o=rng.choice(OBJECTS), e=e, E=e[0].upper() + e[1:])
        if text not in seen:
            seen.add(text)
            out.append((text, text))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out_dir", type=Path, required=True, help="corpus root to create")
    parser.add_argument("--num_utts", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--voice", default="en-us")
    parser.add_argument("--speed", type=int, default=170, help="espeak-ng words per minute")
    args = parser.parse_args(argv)
    if args.num_utts < 3:
        sys.exit(f"error: --num_utts must be at least 3 (train, dev, eval), got {args.num_utts}")
    params = {"num_utts": args.num_utts, "seed": args.seed, "voice": args.voice,
              "speed": args.speed, "word_onsets": "word_onsets.txt"}
    done = args.out_dir / ".complete"
    if done.exists() and json.loads(done.read_text()) == params:
        print(f"mini corpus already in {args.out_dir}", file=sys.stderr)
        return
    if args.out_dir.exists():
        sys.exit(f"error: {args.out_dir} exists but is not this mini corpus ({params}); "
                 f"remove it or choose another --out_dir")

    partial = args.out_dir.with_name(args.out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "wavs").mkdir(parents=True)
    pairs = sentences(args.num_utts, args.seed)
    lines, onset_lines = [], []
    # a fresh process per utterance (espeak_synth says why); fork: nothing to re-import
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1, maxtasksperchild=1) as pool:
        speak = functools.partial(espeak_synth.speak, voice=args.voice,
                                  words_per_minute=args.speed)
        spoken = pool.imap(speak, [normalized for _, normalized in pairs])
        try:
            for i, ((text, normalized), spoken_one) in enumerate(zip(pairs, spoken), 1):
                samples, rate, onsets = spoken_one
                uid = f"LJM{(i - 1) // 100 + 1:02d}-{i:04d}"
                soundfile.write(str(partial / "wavs" / f"{uid}.wav"), samples, rate,
                                subtype="PCM_16")
                lines.append(f"{uid}|{text}|{normalized}")
                onset_lines.append(" ".join([uid, *map(str, onsets)]))
        except (RuntimeError, ValueError) as e:
            sys.exit(f"error: {e}")
    (partial / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (partial / "word_onsets.txt").write_text("\n".join(onset_lines) + "\n", encoding="utf-8")
    (partial / ".complete").write_text(json.dumps(params))
    partial.rename(args.out_dir)
    print(f"mini corpus: {len(lines)} utterances in {args.out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
