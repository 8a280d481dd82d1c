#!/usr/bin/env python3
"""Fetch a pretrained Tacotron2 teacher from the ESPnet model zoo.

``--tag`` is anything ESPnet's model-zoo downloader accepts: a model-zoo or Hugging Face
name (needs network) or a local zip packed by ``espnet2.bin.pack``. Writes
``<out_dir>/pretrained.env`` with the unpacked model file and training config, which
run.sh's later stages read. Offline it stops with what to do instead.
"""

import argparse
import shlex
import sys
from pathlib import Path

import yaml

from espnet_sniper.recipe.archive_members import unsafe_members
from espnet_sniper.recipe.kaldi_dir import write_text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tag", required=True,
                        help="model-zoo tag (e.g. kan-bayashi/...) or a local .zip")
    parser.add_argument("--out_dir", type=Path, required=True)
    args = parser.parse_args(argv)

    from espnet_model_zoo.downloader import ModelDownloader

    if args.tag.endswith(".zip"):
        if not Path(args.tag).is_file():
            sys.exit(f"error: --teacher_model_tag {args.tag}: no such file")
        args.tag = str(Path(args.tag).resolve())

    args.out_dir.mkdir(parents=True, exist_ok=True)
    downloader = ModelDownloader(cachedir=str(args.out_dir / "zoo"))
    try:
        # the archive first (a local zip as it is), checked, then unpacked from the cache;
        # a Hugging Face name gives a snapshot folder, not an archive
        archive = Path(downloader.download(args.tag))
        bad = unsafe_members(archive) if archive.is_file() else []
        if bad:
            sys.exit(f"error: --teacher_model_tag {args.tag} is refused: member(s) {bad[:5]} "
                     f"of {archive} would be written outside the folder it is unpacked into "
                     f"(absolute path, '..' or a link); nothing was unpacked")
        files = downloader.download_and_unpack(args.tag)
    except Exception as e:  # no network, unknown tag, broken archive
        sys.exit(f"error: could not fetch teacher {args.tag!r} from the ESPnet model zoo "
                 f"({type(e).__name__}: {e}). Without network, leave --teacher_model_tag "
                 f"empty to train the teacher in stage 3.")
    config = yaml.safe_load(Path(files["train_config"]).read_text())
    if config.get("tts") != "tacotron2":
        sys.exit(f"error: {args.tag} is a {config.get('tts')} model; the teacher must be "
                 f"a Tacotron2 (its attention gives the durations)")
    env = args.out_dir / "pretrained.env"
    write_text(env, f"pretrained_model_file={shlex.quote(files['model_file'])}\n"
                   f"pretrained_train_config={shlex.quote(files['train_config'])}\n")
    print(f"teacher {args.tag}: {files['model_file']}", file=sys.stderr)


if __name__ == "__main__":
    main()
