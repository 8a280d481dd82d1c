#!/usr/bin/env python3
"""Token durations from a forward-sum aligner trained on the corpus itself.

The aligner is ESPnet's JETS alignment module (``espnet2.gan_tts.jets.alignments``) over
a token embedding, trained alone with JETS's forward-sum loss on the training set's
log-mel features; its attention, decoded by Viterbi search, gives every token (and the
<sos/eos> that FastSpeech2 appends) at least one frame, the durations summing to the
feature frames. Unlike a Tacotron2 teacher it cannot drift: its attention is a product
of a frame-token similarity and a diagonal prior, so every step of training starts from
a monotonic alignment and only sharpens it.

    python -m espnet_sniper.recipe.alignment.forward_sum --config C --token_list T \
        --train_dir data/train --data_dirs data/train data/dev data/eval \
        --out_dir exp/aligner_C

trains the aligner on ``--train_dir`` and writes ``<out_dir>/aligner.pth`` (weights,
feature statistics, its config) atomically, then ``<out_dir>/align_<set>/durations`` and
``focus_rates`` for every ``--data_dirs`` entry, as the teacher's alignment does (focus rate:
the mean over frames of the largest attention weight). An aligner already trained with
the same config and data is reused, so a rerun only aligns. Training and alignment share
one process: starting ESPnet's text front end and compiling the Viterbi search cost more
than aligning a few hundred utterances.
"""

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import soundfile
import torch
import yaml

from espnet_sniper.recipe.kaldi_dir import read_table, write_lines

CONFIG_KEYS = {"embed_dim": int, "batch_size": int, "lr": float, "steps": int, "seed": int}


def read_config(path: Path, overrides: Dict[str, float]) -> dict:
    """The aligner's YAML config, with ``overrides`` (options given on the command line, as
    run.sh's --aligner_args) replacing its keys; every key of CONFIG_KEYS, of its type, and
    no other."""
    try:
        conf = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        sys.exit(f"error: cannot read the aligner config {path}: {e}")
    unknown = sorted(set(conf) - set(CONFIG_KEYS))
    if unknown:
        sys.exit(f"error: {path}: unknown key(s) {', '.join(unknown)} "
                 f"(known: {', '.join(CONFIG_KEYS)})")
    conf.update(overrides)
    for key, kind in CONFIG_KEYS.items():
        value = conf.get(key)
        where = f"--{key}" if key in overrides else f"{path}: {key}"
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            sys.exit(f"error: {where} must be a number, got {value!r}")
        if value <= 0 and key != "seed":
            sys.exit(f"error: {where} must be positive, got {value}")
        conf[key] = kind(value)
    return conf


class Aligner(torch.nn.Module):
    """Token embedding + ESPnet's alignment module: (tokens, features) -> log attention."""

    def __init__(self, vocab_size: int, n_mels: int, embed_dim: int):
        super().__init__()
        from espnet2.gan_tts.jets.alignments import AlignmentModule

        self.embed = torch.nn.Embedding(vocab_size, embed_dim)
        self.align = AlignmentModule(embed_dim, n_mels)

    def forward(self, tokens, feats, token_lengths, feat_lengths) -> torch.Tensor:
        pad = torch.arange(tokens.size(1))[None] >= token_lengths[:, None]
        return self.align(self.embed(tokens), feats, token_lengths, feat_lengths, pad)


def load_set(data_dir: Path, feature_conf: dict, text_conf: dict
             ) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """{uid: (token ids with <sos/eos> appended, log-mel features)} of a data directory,
    tokenized and analysed exactly as FastSpeech2's training sees them."""
    from espnet2.train.preprocessor import CommonPreprocessor
    from espnet2.tts.feats_extract.log_mel_fbank import LogMelFbank

    tokens = [t.rstrip("\n") for t in open(text_conf["token_list"], encoding="utf-8")]
    preprocess = CommonPreprocessor(
        train=False, token_type=text_conf["token_type"], token_list=tokens,
        g2p_type=text_conf["g2p"], text_cleaner=text_conf["cleaner"],
        non_linguistic_symbols=None)
    fbank = LogMelFbank(**feature_conf)
    wavs, texts = read_table(data_dir / "wav.scp"), read_table(data_dir / "text")
    out = {}
    for uid in sorted(wavs):
        speech, sr = soundfile.read(wavs[uid], dtype="float32")
        if sr != feature_conf["fs"]:
            sys.exit(f"error: {wavs[uid]} is {sr} Hz, the features are for {feature_conf['fs']}")
        ids = preprocess(uid, {"text": texts[uid]})["text"]
        ids = np.append(ids, len(tokens) - 1)  # FastSpeech2's <sos/eos>, the last token
        with torch.no_grad():
            feats, _ = fbank(torch.from_numpy(speech)[None], torch.tensor([len(speech)]))
        out[uid] = (ids.astype(np.int64), feats[0].numpy())
    return out


def batch(items: List[Tuple[np.ndarray, np.ndarray]], mean, std):
    token_lengths = torch.tensor([len(t) for t, _ in items])
    feat_lengths = torch.tensor([len(f) for _, f in items])
    tokens = torch.zeros(len(items), int(token_lengths.max()), dtype=torch.long)
    feats = torch.zeros(len(items), int(feat_lengths.max()), items[0][1].shape[1])
    for i, (t, f) in enumerate(items):
        tokens[i, : len(t)] = torch.from_numpy(t)
        feats[i, : len(f)] = torch.from_numpy((f - mean) / std)
    return tokens, feats, token_lengths, feat_lengths


def train(args, conf: dict, feature_conf: dict, text_conf: dict, train_set: dict) -> None:
    """Train the aligner on ``train_set`` (``args.train_dir`` loaded by ``load_set``);
    ``<out_dir>/aligner.pth`` when done."""
    from espnet2.gan_tts.jets.loss import ForwardSumLoss

    data = list(train_set.values())
    if not data:
        sys.exit(f"error: {args.train_dir} has no utterances to train the aligner on")
    frames = np.concatenate([f for _, f in data])
    mean, std = frames.mean(0), frames.std(0) + 1e-5
    vocab_size = sum(1 for _ in open(args.token_list, encoding="utf-8"))

    torch.manual_seed(conf["seed"])
    model = Aligner(vocab_size, feature_conf["n_mels"], conf["embed_dim"])
    optimizer = torch.optim.Adam(model.parameters(), lr=conf["lr"])
    loss_fn = ForwardSumLoss()
    # batches of utterances of similar length (the attention costs batch x frames x
    # tokens), visited in a seeded random order, reshuffled each pass
    by_length = np.argsort([len(f) for _, f in data], kind="stable")
    batches = [by_length[i: i + conf["batch_size"]]
               for i in range(0, len(data), conf["batch_size"])]
    rng = np.random.default_rng(conf["seed"])
    start, visit = time.time(), []
    for step in range(1, conf["steps"] + 1):
        if not visit:
            visit = list(rng.permutation(len(batches)))
        picked = [data[i] for i in batches[visit.pop()]]
        tokens, feats, token_lengths, feat_lengths = batch(picked, mean, std)
        loss = loss_fn(model(tokens, feats, token_lengths, feat_lengths), token_lengths,
                       feat_lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 20 == 0 or step == conf["steps"]:
            logging.info(f"aligner step {step}/{conf['steps']}: forward-sum loss "
                         f"{loss.item():.3f} ({time.time() - start:.0f} s)")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / "aligner.pth"
    tmp = path.with_name(f".aligner.pth.{os.getpid()}.tmp")
    torch.save({"weights": model.state_dict(), "mean": torch.from_numpy(mean),
                "std": torch.from_numpy(std), "setup": setup(args, conf, feature_conf, text_conf),
                "vocab_size": vocab_size}, tmp)
    os.replace(tmp, path)
    logging.info(f"aligner trained in {time.time() - start:.0f} s: {path}")


def setup(args, conf: dict, feature_conf: dict, text_conf: dict) -> dict:
    """What the trained aligner depends on: a saved one is reused only when it matches."""
    wav_scp = args.train_dir / "wav.scp"
    return {"config": conf, "feature_conf": feature_conf, "text_conf": text_conf,
            "train_dir": str(args.train_dir.resolve()),
            "train_wav_scp_bytes": wav_scp.stat().st_size,
            "token_list_bytes": Path(text_conf["token_list"]).stat().st_size}


def align(args, feature_conf: dict, text_conf: dict, loaded: Dict[Path, dict]) -> None:
    """Durations of every ``args.data_dirs`` set with the saved aligner; sets already in
    ``loaded`` (by resolved path) are not tokenized and analysed again."""
    from espnet2.gan_tts.jets.alignments import viterbi_decode

    saved = torch.load(args.out_dir / "aligner.pth", map_location="cpu", weights_only=True)
    model = Aligner(saved["vocab_size"], feature_conf["n_mels"],
                    saved["setup"]["config"]["embed_dim"])
    model.load_state_dict(saved["weights"])
    model.eval()
    mean, std = saved["mean"].numpy(), saved["std"].numpy()
    for data_dir in args.data_dirs:
        data = loaded.get(data_dir.resolve()) or load_set(data_dir, feature_conf, text_conf)
        durations, focus_rates = [], []
        for uid, item in data.items():
            tokens, feats, token_lengths, feat_lengths = batch([item], mean, std)
            if feat_lengths[0] < token_lengths[0]:
                sys.exit(f"error: {data_dir}: {uid}: {int(feat_lengths[0])} frames for "
                         f"{int(token_lengths[0])} tokens: cannot give every token a frame")
            with torch.no_grad():
                log_attn = model(tokens, feats, token_lengths, feat_lengths)
                durs, _ = viterbi_decode(log_attn, token_lengths, feat_lengths)
            durations.append(f"{uid} {' '.join(str(int(d)) for d in durs[0].tolist())}")
            focus = log_attn[0].softmax(dim=1).max(dim=1).values.mean()
            focus_rates.append(f"{uid} {float(focus):.5f}")
        output_dir = args.out_dir / f"align_{data_dir.name}"
        output_dir.mkdir(parents=True, exist_ok=True)
        write_lines(output_dir / "durations", durations)
        write_lines(output_dir / "focus_rates", focus_rates)
        logging.info(f"{data_dir}: {len(durations)} utterances aligned -> {output_dir}")


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--token_list", type=Path, required=True)
    parser.add_argument("--train_dir", type=Path, required=True)
    parser.add_argument("--data_dirs", type=Path, nargs="+", required=True,
                        help="the sets to align")
    parser.add_argument("--out_dir", type=Path, required=True)
    parser.add_argument("--token_type", default="phn")
    parser.add_argument("--g2p", default="espeak_ng_english_us_vits")
    parser.add_argument("--cleaner", default="tacotron")
    for name, default in (("fs", 22050), ("n_fft", 1024), ("n_shift", 256), ("n_mels", 80),
                          ("fmin", 80), ("fmax", 7600)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--win_length", type=lambda v: None if v in ("null", "None") else int(v))
    for key, kind in CONFIG_KEYS.items():
        parser.add_argument(f"--{key}", type=kind, help=f"instead of the config's {key}")
    args = parser.parse_args(argv)
    for f in [args.config, args.token_list] + [
            d / name for d in [args.train_dir, *args.data_dirs] for name in ("wav.scp", "text")]:
        if not f.is_file():
            sys.exit(f"error: {f} does not exist")
    names = [d.name for d in args.data_dirs]
    if len(set(names)) != len(names):
        sys.exit(f"error: --data_dirs must have distinct names, got {' '.join(names)}")
    conf = read_config(args.config, {key: getattr(args, key) for key in CONFIG_KEYS
                                     if getattr(args, key) is not None})
    feature_conf = {"fs": args.fs, "n_fft": args.n_fft, "hop_length": args.n_shift,
                    "win_length": args.win_length, "n_mels": args.n_mels, "fmin": args.fmin,
                    "fmax": args.fmax}
    text_conf = {"token_list": str(args.token_list), "token_type": args.token_type,
                 "g2p": args.g2p, "cleaner": args.cleaner}
    model_file = args.out_dir / "aligner.pth"
    # an aligner saved by an older version of this script has no "setup": trained again
    saved = (torch.load(model_file, map_location="cpu", weights_only=True).get("setup")
             if model_file.is_file() else None)
    loaded: Dict[Path, dict] = {}
    if saved == setup(args, conf, feature_conf, text_conf):
        logging.info(f"{model_file} was trained with this config and data: aligning only")
    else:
        loaded[args.train_dir.resolve()] = load_set(args.train_dir, feature_conf, text_conf)
        train(args, conf, feature_conf, text_conf, loaded[args.train_dir.resolve()])
    align(args, feature_conf, text_conf, loaded)


if __name__ == "__main__":
    main()
