#!/usr/bin/env python3
"""Generate the mini corpus: English sentences of our own, spoken by espeak-ng, laid out
exactly as LJSpeech-1.1 (``wavs/<id>.wav``, 22050 Hz 16-bit mono, and ``metadata.csv``
with ``id|transcription|normalized transcription``).

The sentences come from hand-written phrase lists (chosen so that every English phoneme
occurs, /ʒ/ and /ð/ included) combined by a seeded generator, so the corpus is the same on
every machine with the same espeak-ng. It is built once: a finished corpus (marked by
``.complete`` with its parameters) is left alone, and a killed build leaves no corpus
behind, only a ``.partial`` directory that the next run removes.
"""

import argparse
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

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


def speak(text: str, wav: Path, voice: str, speed: int) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
                   check=True, stdout=subprocess.DEVNULL)


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
    if shutil.which("espeak-ng") is None:
        sys.exit("error: espeak-ng is not installed; run tools/setup.sh (it installs it)")

    params = {"num_utts": args.num_utts, "seed": args.seed, "voice": args.voice,
              "speed": args.speed}
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
    lines = []
    for i, (text, normalized) in enumerate(sentences(args.num_utts, args.seed), 1):
        uid = f"LJM{(i - 1) // 100 + 1:02d}-{i:04d}"
        speak(normalized, partial / "wavs" / f"{uid}.wav", args.voice, args.speed)
        lines.append(f"{uid}|{text}|{normalized}")
    (partial / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (partial / ".complete").write_text(json.dumps(params))
    partial.rename(args.out_dir)
    print(f"mini corpus: {len(lines)} utterances in {args.out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
