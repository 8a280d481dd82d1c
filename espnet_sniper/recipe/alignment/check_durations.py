#!/usr/bin/env python3
"""Check the durations (teacher's or aligner's) and report the alignment quality.

For every utterance: one duration per token plus one for <sos/eos>, and a sum equal to
the number of feature frames (``n_samples // n_shift + 1``, ESPnet's centred STFT);
otherwise the run stops, naming the utterances. Reports ESPnet's focus rate (the mean over
decoder steps of the largest attention weight; near 1 for a sharp, diagonal alignment) and
the share of tokens that got no frame at all (FastSpeech2 never hears those).
With ``--word_onsets`` (the mini corpus's espeak-ng word starts) it also measures how
far the durations put each word from its true onset (``word_onsets.py``), and stops when
they place words on the training set no better than equal shares per token would
(``--allow_poor_durations true`` goes on, with a warning).
Good durations are written to ``<data_dir>/durations``, where FastSpeech2 reads them.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

import soundfile

from espnet_sniper.recipe.kaldi_dir import read_table, write_lines, write_text
from espnet_sniper.recipe.alignment.word_onsets import measure, read_word_onsets


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dirs", nargs="+", type=Path, required=True)
    parser.add_argument("--align_dirs", nargs="+", type=Path, required=True)
    parser.add_argument("--n_shift", type=int, required=True)
    parser.add_argument("--min_focus_rate", type=float, default=0.5)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--word_onsets", type=Path,
                        help="true word onsets (samples) to measure the durations against")
    parser.add_argument("--token_type", default="phn", help="with --word_onsets: as in training")
    parser.add_argument("--g2p", default="espeak_ng_english_us_vits")
    parser.add_argument("--cleaner", default="tacotron")
    parser.add_argument("--allow_poor_durations", choices=("true", "false"), default="false",
                        help="go on when the durations place words no better than equal shares")
    args = parser.parse_args(argv)
    if len(args.data_dirs) != len(args.align_dirs):
        sys.exit("error: give one --align_dirs entry per --data_dirs entry")
    tokenize, true_onsets = None, {}
    if args.word_onsets is not None:
        try:
            true_onsets = read_word_onsets(args.word_onsets)
        except (OSError, ValueError) as e:
            sys.exit(f"error: --word_onsets: {e}")
        tokenize = _tokenizer(args.token_type, args.g2p, args.cleaner)

    report = {"sets": {}}
    errors = []
    accepted = {}
    for data_dir, align_dir in zip(args.data_dirs, args.align_dirs):
        dur_file = align_dir / "durations"
        if not dur_file.is_file():
            sys.exit(f"error: {dur_file} is missing: the alignment of {data_dir} "
                     f"failed (see the logs under {align_dir.parent})")
        durations = {u: list(map(int, v.split())) for u, v in read_table(dur_file).items()}
        focus = {u: float(v) for u, v in read_table(align_dir / "focus_rates").items()}
        wavs = read_table(data_dir / "wav.scp")
        missing = sorted(set(wavs) - set(durations))
        if missing:
            errors.append(f"{data_dir}: no durations for {len(missing)} utterance(s): "
                          f"{' '.join(missing[:10])}")
        sample_rate = None
        for uid, durs in durations.items():
            info = soundfile.info(wavs[uid])
            frames = info.frames // args.n_shift + 1
            sample_rate = info.samplerate
            if sum(durs) != frames:
                errors.append(f"{data_dir}: {uid}: durations sum to {sum(durs)}, "
                              f"the features have {frames} frames")
            if min(durs) < 0:
                errors.append(f"{data_dir}: {uid}: negative duration")
        low = sorted(u for u, f in focus.items() if f < args.min_focus_rate)
        rates = list(focus.values())
        tokens = [d for durs in durations.values() for d in durs]
        report["sets"][data_dir.name] = {
            "utterances": len(durations),
            "focus_rate_mean": statistics.fmean(rates),
            "focus_rate_median": statistics.median(rates),
            f"share_focus_rate_at_least_{args.min_focus_rate}": 1 - len(low) / len(rates),
            "share_zero_frame_tokens": sum(d == 0 for d in tokens) / len(tokens),
            "low_focus_utterances": low,
        }
        if tokenize and sample_rate:
            report["sets"][data_dir.name]["word_onset_error"] = measure(
                durations, read_table(data_dir / "text"), true_onsets, tokenize, args.n_shift,
                1000 * args.n_shift / sample_rate)
        if low:
            print(f"{data_dir}: {len(low)} utterance(s) with a focus rate below "
                  f"{args.min_focus_rate} (attention not sharp enough; their durations are less "
                  f"reliable): {' '.join(low[:10])}{' ...' if len(low) > 10 else ''} "
                  f"(all in {args.report})", file=sys.stderr)
        accepted[data_dir] = durations
    if errors:
        sys.exit("error: bad durations:\n" + "\n".join(errors))
    write_text(args.report, json.dumps(report, indent=2))
    for name, s in report["sets"].items():
        print(f"alignment {name}: {s['utterances']} utterances, focus rate mean "
              f"{s['focus_rate_mean']:.3f}, {len(s['low_focus_utterances'])} below "
              f"{args.min_focus_rate}, {100 * s['share_zero_frame_tokens']:.1f} % of tokens "
              "with 0 frames", file=sys.stderr)
        onset = s.get("word_onset_error")
        if onset and onset["utterances_compared"]:
            print(f"alignment {name}: word boundaries off by {onset['boundary_mean_frames']:.2f} "
                  f"frames on average (median {onset['boundary_median_frames']:.2f}; "
                  f"{100 * onset['boundary_share_within_2_frames']:.0f} % within 2 frames; "
                  f"{onset['boundary_mean_signed_frames']:+.2f} with the sign; first phonemes "
                  f"{onset['first_phoneme_mean_frames']:.2f}; equal shares per token: "
                  f"{onset['naive_mean_frames']:.2f}) over {onset['words_compared']} words of "
                  f"{onset['utterances_compared']} utterances", file=sys.stderr)
        elif onset:
            print(f"alignment {name}: word onsets not measured: no utterance's words match "
                  f"espeak-ng's ({onset['utterances_skipped']} tried)", file=sys.stderr)
    train = report["sets"].get("train", next(iter(report["sets"].values())))
    onset = train.get("word_onset_error") or {}
    if onset.get("utterances_compared") and \
            onset["boundary_mean_frames"] >= onset["naive_mean_frames"]:
        message = (f"the durations place words no better than equal shares per token "
                   f"({onset['boundary_mean_frames']:.2f} frames off against "
                   f"{onset['naive_mean_frames']:.2f}): FastSpeech2 would learn a blur. "
                   "Train the aligner longer or use another (--aligner), or pass "
                   "--allow_poor_durations true to go on anyway")
        if args.allow_poor_durations == "false":
            sys.exit(f"error: {message}")
        print(f"WARNING: {message}", file=sys.stderr)
    # only durations that passed every check reach the data directories
    for data_dir, durations in accepted.items():
        write_lines(data_dir / "durations", (f"{u} {' '.join(map(str, d))}"
                                             for u, d in sorted(durations.items())))


def _tokenizer(token_type: str, g2p: str, cleaner: str):
    # imported here: only --word_onsets needs ESPnet's text front end
    from espnet2.text.build_tokenizer import build_tokenizer
    from espnet2.text.cleaner import TextCleaner

    tokenizer = build_tokenizer(token_type, g2p_type=g2p)
    clean = TextCleaner(cleaner)
    return lambda text: tokenizer.text2tokens(clean(text))


if __name__ == "__main__":
    main()
