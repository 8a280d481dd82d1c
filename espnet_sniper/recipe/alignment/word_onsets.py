"""How far durations put each word from where espeak-ng started it.

espeak-ng's word event marks the word boundary: after a pause it is where the sound comes
back, and the ``<space>`` token before a word (about 4 frames in a good alignment) lies
after it. So a word's onset under the durations is the number of frames given to the
tokens before that ``<space>`` (the boundary measure, the one to trust); the frames before
the word's first phoneme (which counts every frame of the ``<space>`` as error) are
reported beside it. The truth is espeak-ng's word event (``word_onsets.txt`` of the mini
corpus) in frames. The first word is left out (durations always start it at frame 0), and
so are utterances whose word counts differ (espeak-ng reads "sixty-five" as one word, the
phonemizer as two). For scale, the same is measured for a naive alignment that gives every
token the same share of the frames.
"""

import statistics
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

SPACE = "<space>"


def read_word_onsets(path: Path) -> Dict[str, List[int]]:
    """``<uid> <onset> ...`` lines, onsets in samples -> {uid: [onset, ...]}."""
    onsets = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        uid, *values = line.split()
        try:
            onsets[uid] = [int(v) for v in values]
        except ValueError:
            raise ValueError(f"{path}:{number}: word onsets must be whole numbers of samples, "
                             f"got {line!r}") from None
    return onsets


def first_tokens(tokens: Sequence[str]) -> List[int]:
    """Index of each word's first token; words are separated by ``<space>`` tokens."""
    starts, in_word = [], False
    for i, token in enumerate(tokens):
        if token == SPACE:
            in_word = False
        elif not in_word:
            starts.append(i)
            in_word = True
    return starts


def onset_errors(tokens: Sequence[str], durations: Sequence[int], onsets: Sequence[int],
                 n_shift: int) -> Optional[Dict[str, List[float]]]:
    """Onset errors in frames (positive: later than the truth) of words 2..: at the
    boundary and at the first phoneme under the durations, and at the boundary under the
    naive alignment; None when the words cannot be matched. ``durations`` has one entry
    per token and one for <sos/eos>."""
    starts = first_tokens(tokens)
    if len(starts) != len(onsets) or len(starts) < 2 or len(durations) != len(tokens) + 1:
        return None
    frames_before = [0]
    for d in durations:
        frames_before.append(frames_before[-1] + d)
    share = frames_before[-1] / len(durations)
    errors: Dict[str, List[float]] = {"boundary": [], "first_phoneme": [], "naive": []}
    for start, onset in zip(starts[1:], onsets[1:]):
        truth = onset / n_shift
        boundary = start - 1 if tokens[start - 1] == SPACE else start
        errors["boundary"].append(frames_before[boundary] - truth)
        errors["first_phoneme"].append(frames_before[start] - truth)
        errors["naive"].append(boundary * share - truth)
    return errors


def measure(durations: Dict[str, List[int]], texts: Dict[str, str],
            onsets: Dict[str, List[int]], tokenize: Callable[[str], List[str]], n_shift: int,
            frame_ms: float, max_position: int = 12) -> Dict[str, object]:
    """Onset errors over the utterances that have durations, a text and true onsets; the
    signed boundary error is also given by word position (2..max_position), to show a lag
    that grows along the utterance."""
    found_all: Dict[str, List[float]] = {"boundary": [], "first_phoneme": [], "naive": []}
    by_position: Dict[int, List[float]] = {}
    compared = skipped = 0
    for uid in sorted(set(durations) & set(texts) & set(onsets)):
        found = onset_errors(tokenize(texts[uid]), durations[uid], onsets[uid], n_shift)
        if found is None:
            skipped += 1
            continue
        compared += 1
        for kind, values in found.items():
            found_all[kind] += values
        for position, error in enumerate(found["boundary"], 2):
            by_position.setdefault(min(position, max_position), []).append(error)
    if not found_all["boundary"]:
        return {"utterances_compared": 0, "utterances_skipped": skipped}
    report: Dict[str, object] = {"utterances_compared": compared, "utterances_skipped": skipped,
                                 "words_compared": len(found_all["boundary"]),
                                 "frame_ms": frame_ms}
    for kind, signed in found_all.items():
        errors = [abs(e) for e in signed]
        report[f"{kind}_mean_frames"] = statistics.fmean(errors)
        report[f"{kind}_median_frames"] = statistics.median(errors)
        report[f"{kind}_share_within_2_frames"] = sum(e <= 2 for e in errors) / len(errors)
        report[f"{kind}_mean_signed_frames"] = statistics.fmean(signed)
    report["boundary_p90_frames"] = sorted(abs(e) for e in found_all["boundary"])[
        int(0.9 * (len(found_all["boundary"]) - 1))]
    report["boundary_signed_by_word_position"] = {
        (f"{p}+" if p == max_position else str(p)): statistics.fmean(v)
        for p, v in sorted(by_position.items())}
    return report
