#!/usr/bin/env python3
"""Prove that a packed model is a plain ESPnet model-zoo package.

Refuses a zip with a member that would land outside the directory it is unpacked into
(an absolute path, a ``..`` component, a symbolic link), then unpacks it with
espnet_model_zoo into a temporary directory and synthesizes a sentence with stock ESPnet's
Text2Speech, with espnet_sniper made unimportable.
"""

import argparse
import sys
import tempfile
import zipfile
from pathlib import Path

from espnet_sniper.recipe.archive_members import unsafe_members

sys.modules["espnet_sniper"] = None  # a user of the package has only stock ESPnet


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zip", type=Path, required=True)
    parser.add_argument("--vocoder_config", type=Path,
                        help="Griffin-Lim parameters, for a model without a feature front end")
    parser.add_argument("--text", default="The quick brown fox jumps over the lazy dog.")
    args = parser.parse_args(argv)
    if not args.zip.is_file():
        sys.exit(f"error: {args.zip} does not exist")
    if not zipfile.is_zipfile(args.zip):
        sys.exit(f"error: {args.zip} is not a zip file")
    bad = unsafe_members(args.zip)
    if bad:
        sys.exit(f"error: {args.zip} is refused: member(s) {bad[:5]} would be written outside "
                 "the directory it is unpacked into (absolute path, '..' or a link)")

    from espnet2.bin.tts_inference import Text2Speech
    from espnet_model_zoo.downloader import ModelDownloader

    with tempfile.TemporaryDirectory() as cache:
        files = ModelDownloader(cachedir=cache).download_and_unpack(str(args.zip.resolve()))
        vocoder = {"vocoder_config": str(args.vocoder_config)} if args.vocoder_config else {}
        tts = Text2Speech(**files, **vocoder)
        wav = tts(args.text)["wav"]
        if wav is None or wav.numel() == 0 or not bool(wav.isfinite().all()):
            sys.exit(f"error: {args.zip} unpacked but synthesized no valid audio")
        print(f"package ok: {args.zip} -> {wav.numel() / tts.fs:.2f} s of speech for "
              f"{args.text!r}", file=sys.stderr)


if __name__ == "__main__":
    main()
