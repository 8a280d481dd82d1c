#!/usr/bin/env python3
"""Upload a packed model to the Hugging Face hub (needs network and a token)."""

import argparse
import sys
import zipfile
from pathlib import Path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zip", type=Path, required=True)
    parser.add_argument("--repo", required=True, help="user/name on the hub")
    args = parser.parse_args(argv)

    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(args.repo, exist_ok=True)
        with zipfile.ZipFile(args.zip) as z, tempfile_dir() as tmp:
            z.extractall(tmp)
            api.upload_folder(folder_path=tmp, repo_id=args.repo)
    except Exception as e:
        sys.exit(f"error: upload of {args.zip} to {args.repo} failed ({type(e).__name__}: "
                 f"{e}). Check the network and `huggingface-cli login`, then rerun stage 9.")
    print(f"uploaded {args.zip} to https://huggingface.co/{args.repo}", file=sys.stderr)


def tempfile_dir():
    import tempfile

    return tempfile.TemporaryDirectory()


if __name__ == "__main__":
    main()
