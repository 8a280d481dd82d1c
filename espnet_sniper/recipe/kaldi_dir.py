"""Reading and writing Kaldi-style data directories (wav.scp, text, utt2spk, spk2utt).

Every file is written to a temporary name and renamed, so a killed stage never leaves a
half-written data directory file behind.
"""

import os
from pathlib import Path
from typing import Dict, Iterable, List


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary name beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_lines(path: Path, lines: Iterable[str]) -> None:
    write_text(path, "".join(line + "\n" for line in lines))


def read_table(path: Path) -> Dict[str, str]:
    """``key rest-of-line`` files; a missing file or a duplicate key is an error."""
    table: Dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            key, _, value = line.rstrip("\n").partition(" ")
            if not key:
                raise ValueError(f"{path}:{lineno}: empty line")
            if key in table:
                raise ValueError(f"{path}:{lineno}: duplicate id {key}")
            table[key] = value
    return table


def write_data_dir(d: Path, wavs: Dict[str, str], texts: Dict[str, str], speaker: str) -> None:
    ids = sorted(wavs)
    write_lines(d / "wav.scp", (f"{u} {wavs[u]}" for u in ids))
    write_lines(d / "text", (f"{u} {texts[u]}" for u in ids))
    write_lines(d / "utt2spk", (f"{u} {speaker}" for u in ids))
    write_lines(d / "spk2utt", [f"{speaker} {' '.join(ids)}"])


def subset(src: Path, dst: Path, ids: List[str]) -> None:
    wavs, texts = read_table(src / "wav.scp"), read_table(src / "text")
    speaker = read_table(src / "utt2spk")[ids[0]]
    write_data_dir(dst, {u: wavs[u] for u in ids}, {u: texts[u] for u in ids}, speaker)
