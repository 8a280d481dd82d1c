"""How far the teacher's durations put each word from where espeak-ng started it.

A word's onset under the durations is the number of frames given to the tokens before
its first token; the truth is espeak-ng's word event (``word_onsets.txt`` of the mini
corpus) in frames. The first word is left out (durations always start it at frame 0), and so
are utterances whose word counts differ (espeak-ng reads "sixty-five" as one word, the
phonemizer as two). For scale, the same is measured for a naive alignment that gives
every token the same share of the frames.
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
    """Onset errors in frames (positive: later than the truth) of words 2.., for the
    teacher and the naive alignment; None when the words cannot be matched.
    ``durations`` has one entry per token and one for <sos/eos>."""
    starts = first_tokens(tokens)
    if len(starts) != len(onsets) or len(starts) < 2 or len(durations) != len(tokens) + 1:
        return None
    frames_before = [0]
    for d in durations:
        frames_before.append(frames_before[-1] + d)
    share = frames_before[-1] / len(durations)
    teacher, naive = [], []
    for start, onset in zip(starts[1:], onsets[1:]):
        truth = onset / n_shift
        teacher.append(frames_before[start] - truth)
        naive.append(start * share - truth)
    return {"teacher": teacher, "naive": naive}


def measure(durations: Dict[str, List[int]], texts: Dict[str, str],
            onsets: Dict[str, List[int]], tokenize: Callable[[str], List[str]], n_shift: int,
            frame_ms: float) -> Dict[str, float]:
    """Onset errors over the utterances that have durations, a text and true onsets."""
    teacher: List[float] = []
    naive: List[float] = []
    signed: List[float] = []
    compared = skipped = 0
    for uid in sorted(set(durations) & set(texts) & set(onsets)):
        found = onset_errors(tokenize(texts[uid]), durations[uid], onsets[uid], n_shift)
        if found is None:
            skipped += 1
            continue
        compared += 1
        teacher += map(abs, found["teacher"])
        naive += map(abs, found["naive"])
        signed += found["teacher"]
    if not teacher:
        return {"utterances_compared": 0, "utterances_skipped": skipped}
    return {
        "utterances_compared": compared,
        "utterances_skipped": skipped,
        "words_compared": len(teacher),
        "frame_ms": frame_ms,
        "teacher_mean_frames": statistics.fmean(teacher),
        "teacher_median_frames": statistics.median(teacher),
        "teacher_p90_frames": sorted(teacher)[int(0.9 * (len(teacher) - 1))],
        "teacher_share_within_2_frames": sum(e <= 2 for e in teacher) / len(teacher),
        "teacher_mean_signed_frames": statistics.fmean(signed),
        "naive_mean_frames": statistics.fmean(naive),
        "naive_share_within_2_frames": sum(e <= 2 for e in naive) / len(naive),
    }
