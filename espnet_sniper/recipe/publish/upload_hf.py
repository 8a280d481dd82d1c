#!/usr/bin/env python3
"""Upload the hub folder (``espnet_sniper.recipe.publish.hub_folder``) to a Hugging Face repository.

Needs network and a token (``huggingface-cli login`` or ``HF_TOKEN``). Without a token it
stops before connecting; a failed upload says what to do. Either way the folder and the
package are only read.
"""

import argparse
import sys
from pathlib import Path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", type=Path, required=True, help="stage 10's hub folder")
    parser.add_argument("--repo", required=True, help="user/name on the hub")
    args = parser.parse_args(argv)
    if not (args.folder / "README.md").is_file() or not (args.folder / "meta.yaml").is_file():
        sys.exit(f"error: {args.folder} is not a hub folder (no README.md and meta.yaml): "
                 "run stage 10 first")
    if args.repo.count("/") != 1 or not all(args.repo.split("/")):
        sys.exit(f"error: --hf_repo must be user/name, got {args.repo!r}")

    from huggingface_hub import HfApi, get_token

    if get_token() is None:
        sys.exit("error: no Hugging Face token: run `huggingface-cli login` (or set HF_TOKEN), "
                 f"then rerun stage 10 with --hf_repo {args.repo}")
    api = HfApi()
    try:
        api.create_repo(args.repo, exist_ok=True)
        api.upload_folder(folder_path=str(args.folder), repo_id=args.repo,
                          commit_message="espnet-sniper model")
    except Exception as e:  # no network, a bad token, no right to the repository
        sys.exit(f"error: upload of {args.folder} to {args.repo} failed ({type(e).__name__}: "
                 f"{e}). Check the network and the token (`huggingface-cli whoami`), then "
                 f"rerun stage 10.")
    print(f"uploaded {args.folder} to https://huggingface.co/{args.repo}", file=sys.stderr)


if __name__ == "__main__":
    main()
