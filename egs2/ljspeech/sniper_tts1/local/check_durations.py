#!/usr/bin/env python3
"""Check the teacher's durations and report the alignment quality.

For every utterance: one duration per token plus one for <sos/eos>, and a sum equal to
the number of feature frames (``n_samples // n_shift + 1``, ESPnet's centred STFT);
otherwise the run stops, naming the utterances. Reports ESPnet's focus rate (the mean over
decoder steps of the largest attention weight; near 1 for a sharp, diagonal alignment) and
the share of tokens that got no frame at all (FastSpeech2 never hears those).
Good durations are written to ``<data_dir>/durations``, where FastSpeech2 reads them.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

import soundfile

from kaldi_dir import read_table, write_lines, write_text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dirs", nargs="+", type=Path, required=True)
    parser.add_argument("--align_dirs", nargs="+", type=Path, required=True)
    parser.add_argument("--n_shift", type=int, required=True)
    parser.add_argument("--min_focus_rate", type=float, default=0.5)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args(argv)
    if len(args.data_dirs) != len(args.align_dirs):
        sys.exit("error: give one --align_dirs entry per --data_dirs entry")

    report = {"sets": {}}
    errors = []
    for data_dir, align_dir in zip(args.data_dirs, args.align_dirs):
        dur_file = align_dir / "durations"
        if not dur_file.is_file():
            sys.exit(f"error: {dur_file} is missing: the teacher-forced decoding of {data_dir} "
                     f"failed (see {align_dir}/logdir)")
        durations = {u: list(map(int, v.split())) for u, v in read_table(dur_file).items()}
        focus = {u: float(v) for u, v in read_table(align_dir / "focus_rates").items()}
        wavs = read_table(data_dir / "wav.scp")
        missing = sorted(set(wavs) - set(durations))
        if missing:
            errors.append(f"{data_dir}: no durations for {len(missing)} utterance(s): "
                          f"{' '.join(missing[:10])}")
        for uid, durs in durations.items():
            frames = soundfile.info(wavs[uid]).frames // args.n_shift + 1
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
        if low:
            print(f"{data_dir}: {len(low)} utterance(s) with a focus rate below "
                  f"{args.min_focus_rate} (attention not sharp enough; their durations are less "
                  f"reliable): {' '.join(low[:10])}{' ...' if len(low) > 10 else ''} "
                  f"(all in {args.report})", file=sys.stderr)
        if not errors:
            write_lines(data_dir / "durations", (f"{u} {' '.join(map(str, d))}"
                                                 for u, d in sorted(durations.items())))
    if errors:
        sys.exit("error: bad teacher durations:\n" + "\n".join(errors))
    write_text(args.report, json.dumps(report, indent=2))
    for name, s in report["sets"].items():
        print(f"alignment {name}: {s['utterances']} utterances, focus rate mean "
              f"{s['focus_rate_mean']:.3f}, {len(s['low_focus_utterances'])} below "
              f"{args.min_focus_rate}, {100 * s['share_zero_frame_tokens']:.1f} % of tokens "
              "with 0 frames", file=sys.stderr)


if __name__ == "__main__":
    main()
