#!/usr/bin/env python3
"""The recipe's own ASR judge: a small ESPnet CTC recognizer of characters, trained on the
training set's recordings (never on eval), once per corpus, then reused.

No registry package ships an ASR that hears espeak-ng speech, and a downloaded one needs
the network; so, when no other ASR is given, stage 8 trains this one (conf/asr_judge.yaml,
through ``espnet2.bin.asr_train``: ESPnet's statistics, then its trainer, best epoch by the
validation CER) and scores intelligibility with it. It is cached under
``<cache_dir>/<key>/``, where the key hashes everything the judge depends on (the config,
the extra training options, the training and validation recordings and their texts, the
ESPnet version), so every model trained on the same corpus is judged by the same ears.
A killed training resumes (ESPnet's ``--resume``); the ``.complete`` marker is written last.

It trains until it is good enough, not for a fixed time: ``MIN_EPOCHS`` epochs, then one
more at a time (each a resumed ESPnet run) until its validation CER is at most
``GOOD_ENOUGH_CER`` or the config's ``max_epoch`` (or ``--max_epoch`` in ``--train_args``)
is reached. Training holds a lock on ``<cache_dir>/<key>.lock``: run.sh starts the judge in
the background once the data exist, and stage 8's call waits for that one to finish.

Prints the judge's folder on stdout (the other messages go to stderr).
"""

import argparse
import fcntl
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from espnet_sniper.recipe.evaluation.intelligibility import normalize_text
from espnet_sniper.recipe.kaldi_dir import read_table, write_text


# a judge must hear the recordings well (stage 8 reports the floor's CER beside the
# model's); on the mini corpus conf/asr_judge.yaml reaches 4 % on validation in 7 epochs
# (3 % takes several more); each round after the first costs an ESPnet start
GOOD_ENOUGH_CER = 0.04
MIN_EPOCHS = 6
EPOCH_RESULTS = re.compile(r"(\d+)epoch results: .*?time=([^,]*),.*cer_ctc=([0-9.]+)")


def log(message: str) -> None:
    print(f"asr_judge: {message}", file=sys.stderr, flush=True)


def read_set(data_dir: Path):
    """(wav.scp, normalized text) of a Kaldi data dir, checked to cover the same utterances."""
    for name in ("wav.scp", "text"):
        if not (data_dir / name).is_file():
            sys.exit(f"error: {data_dir / name} does not exist: run stages 1-2 first")
    wavs, texts = read_table(data_dir / "wav.scp"), read_table(data_dir / "text")
    if set(wavs) != set(texts):
        sys.exit(f"error: {data_dir}: wav.scp and text name different utterances")
    normalized = {uid: normalize_text(t) for uid, t in texts.items()}
    empty = [uid for uid, t in normalized.items() if not t]
    if empty:
        sys.exit(f"error: {data_dir}/text: no letters in {', '.join(empty[:5])}")
    return wavs, normalized


def judge_key(config: Path, train_args: List[str], sets) -> str:
    import espnet

    h = hashlib.sha256()
    h.update(config.read_bytes())
    h.update(json.dumps([train_args, espnet.__version__, GOOD_ENOUGH_CER, MIN_EPOCHS]).encode())
    for wavs, texts in sets:
        for uid in sorted(wavs):
            h.update(f"{uid}\t{texts[uid]}\n".encode())
            h.update(hashlib.sha256(Path(wavs[uid]).read_bytes()).digest())
    return h.hexdigest()[:16]


def judge_epochs(train_log: Path) -> List[Dict]:
    """Per epoch: the judge's validation CER and the epoch's wall time, from ESPnet's log."""
    epochs = {}
    for line in train_log.read_text().splitlines() if train_log.is_file() else []:
        found = EPOCH_RESULTS.search(line)
        if found:  # a resumed run may log an epoch again: the last word counts
            epochs[int(found[1])] = {"epoch": int(found[1]), "time": found[2],
                                     "valid_cer": float(found[3])}
    return [epochs[e] for e in sorted(epochs)]


def epoch_cap(config: Path, train_args: List[str]) -> int:
    """The most epochs the judge may train: ``--max_epoch`` of the extra options (the last
    one given, as ESPnet's parser takes it), else the config's."""
    cap: Optional[str] = None
    for i, arg in enumerate(train_args):
        if arg == "--max_epoch" and i + 1 < len(train_args):
            cap = train_args[i + 1]
        elif arg.startswith("--max_epoch="):
            cap = arg.split("=", 1)[1]
    if cap is None:
        cap = (yaml.safe_load(config.read_text()) or {}).get("max_epoch")
    if cap is None or not str(cap).isdigit() or int(cap) < 1:
        sys.exit(f"error: {config}: the judge's max_epoch (or --max_epoch in --train_args) must "
                 f"be a positive number, got {cap!r}")
    return int(cap)


@contextmanager
def training_lock(lock_file: Path):
    """Held while the judge trains: a second caller (stage 8, while run.sh's background
    judge trains) waits here, then finds the judge ready."""
    with open(lock_file, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            log(f"waiting for the judge being trained by process {handle.read().strip() or '?'}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def run(cmd: List[str], log_file: Path) -> None:
    log(f"{' '.join(cmd[:3])} ... (log: {log_file})")
    with open(log_file, "a") as out:
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            code = child.wait()
        finally:  # stopped (run.sh ending before stage 8 stops its background judge): so is ESPnet
            if child.poll() is None:
                child.terminate()
                child.wait()
    if code != 0:
        sys.exit(f"error: {' '.join(cmd[:3])} failed (exit {code}); see {log_file}")


def data_args(judge_dir: Path, prefix: str, name: str) -> List[str]:
    return [f"--{prefix}_data_path_and_name_and_type",
            f"{judge_dir}/data/{name}/wav.scp,speech,sound",
            f"--{prefix}_data_path_and_name_and_type", f"{judge_dir}/data/{name}/text,text,text"]


def train(judge_dir: Path, config: Path, train_args: List[str], cap: int, sets) -> None:
    for name, (wavs, texts) in zip(("train", "valid"), sets):
        write_text(judge_dir / "data" / name / "wav.scp",
                   "".join(f"{u} {wavs[u]}\n" for u in sorted(wavs)))
        write_text(judge_dir / "data" / name / "text",
                   "".join(f"{u} {texts[u]}\n" for u in sorted(texts)))
    # the characters of the training texts, spaces as ESPnet's <space>
    chars = sorted({c for t in sets[0][1].values() for c in t.replace(" ", "")})
    write_text(judge_dir / "tokens.txt", "\n".join(["<blank>", "<unk>", "<space>", *chars,
                                                    "<sos/eos>"]) + "\n")
    common = [sys.executable, "-m", "espnet2.bin.asr_train", "--config", str(config),
              "--use_preprocessor", "true", "--token_type", "char", "--cleaner", "none",
              "--token_list", f"{judge_dir}/tokens.txt", "--ngpu", "0"]
    stats = judge_dir / "stats"
    if not (stats / "train" / "feats_stats.npz").is_file():
        run(common + ["--collect_stats", "true", "--normalize", "none", "--output_dir", str(stats),
                      "--train_shape_file", f"{judge_dir}/data/train/wav.scp",
                      "--valid_shape_file", f"{judge_dir}/data/valid/wav.scp",
                      *data_args(judge_dir, "train", "train"),
                      *data_args(judge_dir, "valid", "valid")], judge_dir / "stats.log")
    training = common + ["--output_dir", f"{judge_dir}/train", "--resume", "true",
                         "--normalize_conf", f"stats_file={stats}/train/feats_stats.npz",
                         "--train_shape_file", f"{stats}/train/speech_shape",
                         "--train_shape_file", f"{stats}/train/text_shape",
                         "--valid_shape_file", f"{stats}/valid/speech_shape",
                         "--valid_shape_file", f"{stats}/valid/text_shape",
                         *data_args(judge_dir, "train", "train"),
                         *data_args(judge_dir, "valid", "valid"), *train_args]
    epochs = min(MIN_EPOCHS, cap)
    while True:
        run(training + ["--max_epoch", str(epochs)], judge_dir / "train.log")
        best = min((e["valid_cer"] for e in judge_epochs(judge_dir / "train.log")), default=None)
        if epochs >= cap or (best is not None and best <= GOOD_ENOUGH_CER):
            log(f"stopping after {epochs} epochs: best validation CER {best}")
            return
        epochs += 1


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train_dir", type=Path, required=True, help="Kaldi dir it learns from")
    parser.add_argument("--valid_dir", type=Path, required=True,
                        help="Kaldi dir that picks its best epoch (not the eval set)")
    parser.add_argument("--config", type=Path, required=True, help="conf/asr_judge.yaml")
    parser.add_argument("--cache_dir", type=Path, required=True, help="e.g. exp/asr_judge")
    parser.add_argument("--train_args", default="",
                        help="options for espnet2.bin.asr_train, e.g. '--max_epoch 2'")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("asr_judge: stopped (SIGTERM)"))
    if not args.config.is_file():
        sys.exit(f"error: --config {args.config} does not exist")
    train_args = shlex.split(args.train_args)
    cap = epoch_cap(args.config, train_args)
    sets = [read_set(args.train_dir), read_set(args.valid_dir)]
    if set(sets[0][0]) & set(sets[1][0]):
        sys.exit(f"error: {args.train_dir} and {args.valid_dir} share utterances")
    key = judge_key(args.config, train_args, sets)
    judge_dir = args.cache_dir / key
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    with training_lock(args.cache_dir / f"{key}.lock"):
        if (judge_dir / ".complete").is_file():
            log(f"reusing the judge trained on this corpus: {judge_dir}")
        else:
            make_judge(judge_dir, args, train_args, cap, sets)
    print(judge_dir)


def make_judge(judge_dir: Path, args: argparse.Namespace, train_args: List[str], cap: int,
               sets) -> None:
    judge_dir.mkdir(parents=True, exist_ok=True)
    log(f"training the ASR judge on {len(sets[0][0])} recordings of {args.train_dir} "
        f"-> {judge_dir}")
    start = time.time()
    train(judge_dir, args.config, train_args, cap, sets)
    best = judge_dir / "train" / "valid.cer_ctc.best.pth"
    if not best.is_file():
        sys.exit(f"error: the judge's training left no {best}; see {judge_dir}/train.log")
    # the judge's own folder holds what transcribing needs, under fixed names
    for src, dst in ((best, "judge.pth"), (judge_dir / "train" / "config.yaml", "config.yaml")):
        tmp = judge_dir / f".{dst}.tmp"
        tmp.write_bytes(src.resolve().read_bytes())
        os.replace(tmp, judge_dir / dst)
    write_text(judge_dir / "judge.json", json.dumps({
        "config": str(args.config), "train_args": train_args, "train_dir": str(args.train_dir),
        "valid_dir": str(args.valid_dir), "train_utterances": len(sets[0][0]),
        "train_seconds": round(time.time() - start, 1), "finished_at": time.time(),
        "epochs": judge_epochs(judge_dir / "train.log")}, indent=2))
    (judge_dir / ".complete").touch()
    log(f"judge ready in {time.time() - start:.0f} s: {judge_dir}")


if __name__ == "__main__":
    main()
