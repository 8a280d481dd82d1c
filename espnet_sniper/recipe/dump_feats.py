#!/usr/bin/env python3
"""Dump the statistics stage's features into one Kaldi archive per set (``--feats_type fbank``).

ESPnet's collect_stats (stage 5) already computed every utterance's log-mel features with
the training's own front end and wrote them as one .npy file each; a large corpus is
better read from a single ark than from tens of thousands of small files. Writes
``<out_dir>/feats.ark``, ``feats.scp`` (read by ESPnet as ``kaldi_ark``) and
``feats_shape`` (``frames,dims``: what batch_bins counts). The scp is written last, under a
temporary name renamed at the end: a dump without its scp is unfinished and is redone.
"""

import argparse
import os
import sys
from pathlib import Path

import kaldiio
import numpy as np

from espnet_sniper.recipe.kaldi_dir import read_table, write_lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feats_scp", type=Path, required=True,
                        help="collect_stats' collect_feats/feats.scp (npy files)")
    parser.add_argument("--out_dir", type=Path, required=True)
    args = parser.parse_args(argv)
    if not args.feats_scp.is_file():
        sys.exit(f"error: {args.feats_scp} is missing: run stage 5 (statistics) first")

    feats = read_table(args.feats_scp)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    ark, scp = args.out_dir / "feats.ark", args.out_dir / "feats.scp"
    scp_tmp = scp.with_name(f".feats.scp.{os.getpid()}.tmp")
    shapes = []
    with kaldiio.WriteHelper(f"ark,scp:{ark},{scp_tmp}") as writer:
        for uid in sorted(feats):
            mat = np.load(feats[uid])
            writer(uid, mat.astype(np.float32))
            shapes.append(f"{uid} {mat.shape[0]},{mat.shape[1]}")
    write_lines(args.out_dir / "feats_shape", shapes)
    os.replace(scp_tmp, scp)
    print(f"{args.out_dir}: {len(shapes)} utterances in {ark}", file=sys.stderr)


if __name__ == "__main__":
    main()
