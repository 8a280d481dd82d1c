#!/usr/bin/env python3
"""Check every utterance of Kaldi-style data directories before any training.

Each wav must exist, be readable, be mono 16-bit PCM at the expected sample rate and not
be empty; each transcript must be UTF-8 and hold between 1 and ``--max_text_chars``
characters. Problems are listed by utterance id. The run stops, or, with
``--skip_bad_utts true``, the listed utterances are dropped (and written to
``<dir>/bad_utts``) and the rest goes on.
"""

import argparse
import sys
from pathlib import Path
from typing import Dict, List

import soundfile

from espnet_sniper.recipe.kaldi_dir import read_table, subset, write_lines


def wav_problem(path: str, fs: int) -> str:
    if not Path(path).is_file():
        return f"wav {path} does not exist"
    try:
        info = soundfile.info(path)
    except Exception as e:
        return f"wav {path} cannot be read ({e})"
    if info.samplerate != fs:
        return f"wav {path} is {info.samplerate} Hz, expected {fs} Hz (resample it or set --fs)"
    if info.channels != 1:
        return f"wav {path} has {info.channels} channels, expected mono"
    if info.subtype != "PCM_16":
        return f"wav {path} is {info.subtype}, expected 16-bit PCM"
    if info.frames == 0:
        return f"wav {path} is empty"
    return ""


def check_dir(d: Path, fs: int, max_chars: int) -> Dict[str, List[str]]:
    problems: Dict[str, List[str]] = {}
    raw = (d / "text").read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        sys.exit(f"error: {d / 'text'}:{line}: not UTF-8; fix or remove that utterance")
    try:
        wavs, texts = read_table(d / "wav.scp"), read_table(d / "text")
    except (OSError, ValueError) as e:
        sys.exit(f"error: {e}")
    for uid in sorted(set(wavs) | set(texts)):
        found = []
        if uid not in wavs:
            found.append(f"no entry in {d / 'wav.scp'}")
        elif (p := wav_problem(wavs[uid], fs)):
            found.append(p)
        text = texts.get(uid)
        if text is None:
            found.append(f"no entry in {d / 'text'}")
        elif not text.strip():
            found.append("empty transcript")
        elif len(text) > max_chars:
            found.append(f"transcript of {len(text)} characters (more than --max_text_chars "
                         f"{max_chars})")
        if found:
            problems[uid] = found
    return problems


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dirs", nargs="+", type=Path)
    parser.add_argument("--fs", type=int, default=22050)
    parser.add_argument("--max_text_chars", type=int, default=1000)
    parser.add_argument("--skip_bad_utts", choices=["true", "false"], default="false")
    args = parser.parse_args(argv)

    all_problems = {d: check_dir(d, args.fs, args.max_text_chars) for d in args.data_dirs}
    n_bad = sum(len(p) for p in all_problems.values())
    for d, problems in all_problems.items():
        for uid, found in problems.items():
            for problem in found:
                print(f"{d}: {uid}: {problem}", file=sys.stderr)
    if n_bad and args.skip_bad_utts == "false":
        sys.exit(f"error: {n_bad} bad utterance(s), listed above. Fix them, or rerun with "
                 f"--skip_bad_utts true to drop them.")
    for d, problems in all_problems.items():
        if problems:
            keep = sorted(set(read_table(d / "wav.scp")) - set(problems))
            if not keep:
                sys.exit(f"error: {d}: every utterance is bad")
            subset(d, d, keep)
            write_lines(d / "bad_utts", sorted(problems))
            print(f"{d}: dropped {len(problems)} bad utterance(s), kept {len(keep)}",
                  file=sys.stderr)
    print(f"validated {', '.join(map(str, args.data_dirs))}: "
          f"{'no problems' if not n_bad else f'{n_bad} dropped'}", file=sys.stderr)


if __name__ == "__main__":
    main()
