#!/usr/bin/env python3
"""A corpus the recipe never saw, in LJSpeech's layout, to test the CPU configs on.

Other prose (long sentences of several clauses about places, work and weather, from word
lists that share nothing with the mini corpus's), another espeak-ng voice (British English
by default, the mini corpus is American) and LJSpeech's sentence lengths (about 6 s on
average, up to about 10 s; the mini corpus averages 3.7 s). No word onsets: a user's corpus
has none. Seeded and deterministic, like the mini corpus; built into a ``.partial``
directory and renamed when complete.

    python -m benchmarks.make_unseen_corpus --out_dir /tmp/unseen/LJSpeech-unseen
"""

import argparse
import random
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List

import soundfile

PLACES = ["the harbour town", "a narrow mountain pass", "the old cathedral", "the northern coast",
          "a crowded railway station", "the quiet library", "the river delta",
          "a small fishing village", "the university observatory", "the market square",
          "a windy island", "the copper mine", "the botanical garden", "an abandoned mill"]
PEOPLE = ["the surveyors", "a group of engineers", "the local farmers", "two young painters",
          "the ship's captain", "an elderly clockmaker", "the weather observers",
          "a team of geologists", "the village baker", "several merchants", "the night porter",
          "a travelling musician", "the harbour master", "the students"]
ACTIONS = ["repaired the broken instruments", "recorded the height of every tide",
           "painted the walls in pale colours", "counted the boats returning home",
           "measured the rainfall twice a day", "collected samples of the grey rock",
           "argued about the price of wool", "wrote long letters to their families",
           "planted rows of apple trees", "studied the movement of the stars",
           "carried supplies across the valley", "built a stone wall along the road",
           "listened to the distant bells", "waited patiently for the morning ferry"]
TIMES = ["during the long winter", "every autumn", "for nearly a decade",
         "before the storm arrived", "after the spring floods", "throughout the summer",
         "in the early hours", "while the town was asleep", "for several weeks",
         "at the end of each season"]
LINKS = ["and later", "although", "because", "while", "so that", "even though", "until"]
REMARKS = ["nobody could remember a colder year", "the roads were nearly impossible",
           "the work was slow and often dangerous", "the results surprised everyone",
           "the lamps burned late into the night", "the prices rose again",
           "the harvest was better than expected", "most of the records were lost",
           "the visitors had already gone home", "the old methods still worked"]


def sentence(rng: random.Random) -> str:
    """One or two clauses: 12-24 words, about 4-9 s (LJSpeech's clips: 1-10 s, 6.6 s on
    average)."""
    first = (f"{rng.choice(TIMES).capitalize()}, {rng.choice(PEOPLE)} near "
             f"{rng.choice(PLACES)} {rng.choice(ACTIONS)}")
    if rng.random() < 0.5:
        first += f", {rng.choice(LINKS)} {rng.choice(REMARKS)}"
    elif rng.random() < 0.3:
        first += f", and {rng.choice(PEOPLE)} {rng.choice(ACTIONS)}"
    return first + "."


def sentences(n: int, seed: int) -> List[str]:
    rng, out, seen = random.Random(seed), [], set()
    while len(out) < n:
        text = sentence(rng)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out_dir", type=Path, required=True)
    parser.add_argument("--num_utts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--voice", default="en-gb")
    parser.add_argument("--speed", type=int, default=175, help="espeak-ng words per minute")
    args = parser.parse_args(argv)
    if args.num_utts < 3:
        sys.exit(f"error: --num_utts must be at least 3 (train, dev, eval), got {args.num_utts}")
    if args.out_dir.exists():
        sys.exit(f"error: {args.out_dir} exists; remove it or choose another --out_dir")
    if shutil.which("espeak-ng") is None:
        sys.exit("error: espeak-ng is not installed (tools/setup.sh installs it)")
    partial = args.out_dir.with_name(args.out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "wavs").mkdir(parents=True)
    texts = sentences(args.num_utts, args.seed)
    uids = [f"LJU{i // 100 + 1:02d}-{i + 1:04d}" for i in range(len(texts))]

    def speak(item):
        uid, text = item
        subprocess.run(["espeak-ng", "-v", args.voice, "-s", str(args.speed), "-w",
                        str(partial / "wavs" / f"{uid}.wav"), text], check=True,
                       capture_output=True)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(speak, zip(uids, texts)))
    seconds = [soundfile.info(str(partial / "wavs" / f"{u}.wav")).duration for u in uids]
    (partial / "metadata.csv").write_text(
        "".join(f"{u}|{t}|{t}\n" for u, t in zip(uids, texts)), encoding="utf-8")
    partial.rename(args.out_dir)
    print(f"unseen corpus: {len(uids)} utterances, {sum(seconds) / 60:.1f} min, mean "
          f"{sum(seconds) / len(seconds):.1f} s, longest {max(seconds):.1f} s, in "
          f"{args.out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
