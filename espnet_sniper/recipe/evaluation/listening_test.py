#!/usr/bin/env python3
"""Builds a listening-test kit: one folder that runs the paper's MOS and preference tests.

The folder holds ``index.html`` (page, style, script and the test's data all inline: a
browser opens it from the file system, no server, nothing to install) and ``audio/``, the
stimuli copied under blind names (``audio/<hash>.wav``: a file name never tells the system).
Zip it and send it; every listener sends back one results JSON, which
``listening_report.py`` turns into MOS with intervals and preference shares.

Two tests, as in the paper:

* **MOS**: one stimulus at a time, rated 1-5 on the ITU-T P.800 ACR scale (Bad, Poor, Fair,
  Good, Excellent). Stimuli: every ``--system`` and the recordings (system ``recording``)
  for each chosen utterance.
* **Preference**: per utterance, the ``--preference`` systems (2 or 3) side by side under
  the labels A/B/C; the listener picks one or "no preference".

Each listener types a rater ID; the page seeds its shuffles with the test id and that ID, so
every rater gets an order of their own and the same ID always the same order (both
recorded in the results). A stimulus must be played to its end before it can be rated.
Answers are kept in the browser's localStorage after each click: a reload, or the tab
closed and the page opened again with the same rater ID, resumes where it was.

``--test_id`` defaults to a short hash of the systems' names, the utterance ids and the
audio's bytes: two kits with the same id played the same stimuli, and the report refuses
results of another id.

Run from the recipe directory (relative paths of wav.scp are read from there), e.g.::

    python -m espnet_sniper.recipe.evaluation.listening_test \\
        --system dense=exp/tts_train_fastspeech2 --system sniper=exp/tts_train_sniper \\
        --system constant40=exp/tts_train_sparsity40 \\
        --ref_wav_scp data/eval/wav.scp --text data/eval/text --utterances 20 \\
        --out_dir exp/listening_test
"""

import argparse
import hashlib
import json
import logging
import os
import random
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import soundfile

from espnet_sniper.recipe.kaldi_dir import read_table

KIT_FORMAT, KIT_VERSION = "sniper-listening-kit", 1
RECORDING = "recording"  # the system name of the recordings in the MOS test
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")  # also what the report accepts
TEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SOURCES = Path(__file__).resolve().parent / "listening_kit"  # page.html, kit.css, kit.js
WAV_SUBDIR = Path("decode_eval") / "wav"  # stage 7's output in an experiment directory
BROWSER_SAFE = {"PCM_16"}  # copied as they are; anything else is rewritten as 16-bit PCM


class KitError(Exception):
    """A problem with the command line or its inputs, worded for the person running it."""


@dataclass
class Stimulus:
    id: str  # blind: the audio file's stem, from a hash that names no system
    utt: str
    system: str
    source: Path


def parse_systems(specs: Sequence[str]) -> Dict[str, Path]:
    """``NAME=EXP_DIR`` arguments, in the order given; names unique and simple."""
    systems: Dict[str, Path] = {}
    for spec in specs:
        name, sep, exp_dir = spec.partition("=")
        if not sep or not exp_dir:
            raise KitError(f"--system {spec!r}: expected NAME=EXP_DIR, "
                           f"e.g. --system sniper=exp/tts_train_sniper")
        if not NAME.match(name):
            raise KitError(f"--system {spec!r}: the name {name!r} must start with a letter and "
                           f"hold only letters, digits, '_' and '-' (at most 32)")
        if name == RECORDING:
            raise KitError(f"--system {spec!r}: {RECORDING!r} is the recordings' name "
                           f"(from --ref_wav_scp); choose another")
        if name in systems:
            raise KitError(f"--system {spec!r}: the name {name!r} is given twice")
        systems[name] = Path(exp_dir)
    if not systems:
        raise KitError("no --system given: at least one NAME=EXP_DIR is needed")
    return systems


def parse_preference(arg: Optional[str], systems: Sequence[str]) -> List[str]:
    """The 2-3 systems of the preference test; by default all of them when there are 2-3."""
    if arg is None:
        if len(systems) in (2, 3):
            return list(systems)
        raise KitError(f"{len(systems)} systems given: choose the 2 or 3 of the preference test "
                       f"with --preference A,B[,C] (among {', '.join(systems)})")
    names = [n.strip() for n in arg.split(",")]
    unknown = [n for n in names if n not in systems]
    if unknown:
        raise KitError(f"--preference {arg!r}: {', '.join(map(repr, unknown))} not among the "
                       f"systems ({', '.join(systems)}); the recordings cannot be chosen")
    if len(set(names)) != len(names):
        raise KitError(f"--preference {arg!r}: a system is named twice")
    if not 2 <= len(names) <= 3:
        raise KitError(f"--preference {arg!r}: name 2 or 3 systems, not {len(names)}")
    return names


def choose_utterances(uids: Sequence[str], count: Optional[int], seed: int) -> List[str]:
    """``count`` utterances drawn with ``seed`` from the sorted ids (all when None), sorted:
    the same arguments always choose the same ones, whatever the order of the tables."""
    ordered = sorted(uids)
    if count is None:
        return ordered
    if not 1 <= count <= len(ordered):
        raise KitError(f"--utterances {count}: choose between 1 and {len(ordered)} "
                       f"(the utterances of --ref_wav_scp)")
    return sorted(random.Random(seed).sample(ordered, count))


def recording_path(value: str, scp: Path, uid: str) -> Path:
    """A wav.scp entry as a file; relative paths are from the current (recipe) directory."""
    value = value.strip()
    if value.endswith("|"):
        raise KitError(f"{scp}: {uid}: {value!r} is a command, not a file; write the "
                       f"recordings to wav files and list those")
    return Path(value)


def gather(systems: Dict[str, Path], refs: Dict[str, str], ref_scp: Path,
           utts: Sequence[str]) -> Dict[Tuple[str, str], Path]:
    """Every (system, utt) audio file, recordings included; all problems listed at once."""
    problems: List[str] = []
    for name, exp_dir in systems.items():
        if not exp_dir.is_dir():
            problems.append(f"--system {name}={exp_dir}: no such directory")
        elif not (exp_dir / WAV_SUBDIR).is_dir():
            problems.append(f"--system {name}={exp_dir}: no {WAV_SUBDIR}/ in it: run stage 7 "
                            f"(synthesis) for that experiment first")
    if problems:
        raise KitError("\n".join(problems))
    files: Dict[Tuple[str, str], Path] = {}
    missing: Dict[str, List[str]] = {}
    for uid in utts:
        files[(RECORDING, uid)] = recording_path(refs[uid], ref_scp, uid)
        for name, exp_dir in systems.items():
            files[(name, uid)] = exp_dir / WAV_SUBDIR / f"{uid}.wav"
    for (name, uid), path in files.items():
        if not path.is_file():
            missing.setdefault(name, []).append(str(path))
    for name, paths in missing.items():
        what = (f"{ref_scp} lists files that do not exist" if name == RECORDING
                else f"run stage 7 (synthesis) for {systems[name]}")
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        problems.append(f"{name}: {len(paths)} wav(s) missing: {shown}; {what}")
    if problems:
        raise KitError("\n".join(problems))
    for (name, uid), path in files.items():
        try:
            soundfile.info(str(path))
        except RuntimeError as e:
            problems.append(f"{name}: {path} is not a readable audio file ({e})")
    if problems:
        raise KitError("\n".join(problems))
    return files


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def derive_test_id(files: Dict[Tuple[str, str], Path], preference: Sequence[str]) -> str:
    """A short hash of what listeners will hear: names, utterances, audio bytes."""
    h = hashlib.sha256()
    for (name, uid) in sorted(files):
        h.update(f"{name}\0{uid}\0{file_digest(files[(name, uid)])}\n".encode())
    h.update(("preference\0" + "\0".join(preference)).encode())
    return "lt-" + h.hexdigest()[:10]


def blind_id(test_id: str, seed: int, name: str, uid: str) -> str:
    # a hash of the test id, the seed, system and utterance: stable for a kit, and
    # nothing in the name lets a listener tell two systems' files apart
    return hashlib.sha256(f"{test_id}\0{seed}\0{name}\0{uid}".encode()).hexdigest()[:16]


def kit_data(test_id: str, texts: Dict[str, str], utts: Sequence[str],
             systems: Sequence[str], preference: Sequence[str],
             stimuli: Dict[Tuple[str, str], Stimulus]) -> dict:
    """What the page reads: the stimuli (with the blind mapping) and the two tests."""
    order = [RECORDING, *systems]
    return {
        "format": KIT_FORMAT, "version": KIT_VERSION, "test_id": test_id,
        "systems": order,
        "texts": {uid: texts[uid] for uid in utts},
        "mos": [{"id": stimuli[(n, u)].id, "utt": u, "system": n,
                 "file": f"audio/{stimuli[(n, u)].id}.wav"} for u in utts for n in order],
        "preference": {
            "systems": list(preference),
            "trials": [{"utt": u, "files": {n: f"audio/{stimuli[(n, u)].id}.wav"
                                            for n in preference}} for u in utts],
        },
    }


def render_page(data: dict) -> str:
    """page.html with kit.css, kit.js and the data inlined (file:// pages cannot fetch)."""
    page = (SOURCES / "page.html").read_text(encoding="utf-8")
    css = (SOURCES / "kit.css").read_text(encoding="utf-8")
    js = (SOURCES / "kit.js").read_text(encoding="utf-8")
    # "</" inside a <script> would end it early; JSON allows "<\/" for "</"
    payload = json.dumps(data, ensure_ascii=False, indent=1).replace("</", "<\\/")
    for name, text in (("kit.css", css), ("kit.js", js)):
        if "</style" in text.lower() or "</script" in text.lower():
            raise KitError(f"{SOURCES / name}: must not contain a closing style/script tag")
    for marker in ("/*KIT_CSS*/", "/*KIT_JS*/", "/*KIT_DATA*/"):
        if page.count(marker) != 1:
            raise KitError(f"{SOURCES / 'page.html'}: needs exactly one {marker}")
    return (page.replace("/*KIT_CSS*/", css).replace("/*KIT_JS*/", js)
            .replace("/*KIT_DATA*/", payload).replace("{{TEST_ID}}", data["test_id"]))


def copy_audio(source: Path, target: Path) -> None:
    """The bytes as they are when 16-bit PCM (every browser plays it), else re-encoded."""
    info = soundfile.info(str(source))
    if info.format == "WAV" and info.subtype in BROWSER_SAFE:
        shutil.copyfile(source, target)
        return
    wav, rate = soundfile.read(str(source), dtype="float32", always_2d=False)
    logging.info(f"{source}: {info.format}/{info.subtype} re-encoded as 16-bit PCM WAV")
    soundfile.write(str(target), wav.clip(-1.0, 1.0), rate, "PCM_16", format="WAV")


def write_kit(out_dir: Path, page: str, stimuli: Dict[Tuple[str, str], Stimulus]) -> None:
    """Everything into a temporary folder beside ``out_dir``, renamed at the end."""
    tmp = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "audio").mkdir(parents=True)
    try:
        for stim in stimuli.values():
            copy_audio(stim.source, tmp / "audio" / f"{stim.id}.wav")
        (tmp / "index.html").write_text(page, encoding="utf-8")
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build(args: argparse.Namespace) -> Path:
    """Validate everything, then write the kit; returns the index.html written."""
    systems = parse_systems(args.system)
    preference = parse_preference(args.preference, list(systems))
    if args.test_id is not None and not TEST_ID.match(args.test_id):
        raise KitError(f"--test_id {args.test_id!r}: letters, digits, '_', '-' and '.' only "
                       f"(at most 64, starting with a letter or digit)")
    if args.out_dir.exists() and (not args.out_dir.is_dir() or any(args.out_dir.iterdir())):
        raise KitError(f"--out_dir {args.out_dir} exists and is not empty: remove it or "
                       f"choose another (a kit is never half overwritten)")
    for flag, path in (("--ref_wav_scp", args.ref_wav_scp), ("--text", args.text)):
        if not path.is_file():
            raise KitError(f"{flag} {path}: no such file")
    try:
        refs, texts = read_table(args.ref_wav_scp), read_table(args.text)
    except ValueError as e:
        raise KitError(str(e)) from e
    if not refs:
        raise KitError(f"{args.ref_wav_scp}: no utterances in it")
    utts = choose_utterances(list(refs), args.utterances, args.seed)
    no_text = [u for u in utts if not texts.get(u, "").strip()]
    if no_text:
        raise KitError(f"{args.text}: no transcript for {len(no_text)} utterance(s) of "
                       f"{args.ref_wav_scp}: {' '.join(no_text[:10])}")
    files = gather(systems, refs, args.ref_wav_scp, utts)
    test_id = args.test_id or derive_test_id(files, preference)
    stimuli = {key: Stimulus(blind_id(test_id, args.seed, *key), key[1], key[0], path)
               for key, path in files.items()}
    if len({s.id for s in stimuli.values()}) != len(stimuli):
        raise KitError("two stimuli got the same blind name; choose another --seed")
    data = kit_data(test_id, texts, utts, list(systems), preference, stimuli)
    page = render_page(data)
    args.out_dir.parent.mkdir(parents=True, exist_ok=True)
    if args.out_dir.is_dir():
        args.out_dir.rmdir()  # empty (checked above): os.replace needs the name free
    write_kit(args.out_dir, page, stimuli)
    logging.info(f"kit {test_id}: {len(utts)} utterances, MOS of {len(data['mos'])} stimuli "
                 f"({', '.join(data['systems'])}), preference of {', '.join(preference)} -> "
                 f"{args.out_dir / 'index.html'}")
    return args.out_dir / "index.html"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", action="append", default=[], metavar="NAME=EXP_DIR",
                   help="a system and its experiment directory (holding decode_eval/wav/, "
                   "stage 7); repeat for each system")
    p.add_argument("--ref_wav_scp", type=Path, required=True,
                   help="the recordings, Kaldi 'uid path' (data/eval/wav.scp)")
    p.add_argument("--text", type=Path, required=True,
                   help="the transcripts, Kaldi 'uid text' (data/eval/text)")
    p.add_argument("--utterances", type=int, default=None,
                   help="how many utterances, drawn with --seed (default: all)")
    p.add_argument("--preference", default=None, metavar="A,B[,C]",
                   help="the 2-3 systems of the preference test (default: all systems, "
                   "when there are 2 or 3)")
    p.add_argument("--test_id", default=None,
                   help="the kit's id (default: a hash of systems, utterances and audio)")
    p.add_argument("--seed", type=int, default=0,
                   help="draws the utterances and salts the blind file names")
    p.add_argument("--out_dir", type=Path, required=True,
                   help="the kit folder to write (must not exist, or be empty)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(message)s")
    args = parser().parse_args(argv)
    try:
        build(args)
    except KitError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
