"""The recipe from a benchmark: a private copy wired to this checkout, its ``./run.sh``
command lines, and a prepared corpus (stages 1-5) cached by what it depends on."""

import hashlib
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import yaml

from benchmarks.core.results import REPO, write_result

RECIPE = REPO / "egs2" / "ljspeech" / "sniper_tts1"
# what stages 1-5 of the mini recipe run: the corpus generator, data preparation, the
# aligner, and the configs they read (statistics read the training config's features)
PREPARATION_CODE = ("egs2/ljspeech/sniper_tts1/run.sh", "egs2/ljspeech/sniper_tts1/local",
                    "espnet_sniper/recipe", "conf/mini/align_forward_sum.yaml",
                    "conf/mini/train_tacotron2_teacher.yaml", "conf/mini/train_sniper.yaml")
NOT_RECIPE = ("data", "dump", "exp", "downloads", "__pycache__")


def copy_recipe(work: Path) -> Path:
    """``work/sniper_tts1``: the recipe without its data, wired to this checkout.

    Benchmarks never write into the repository's own recipe directory.
    """
    recipe = work / "sniper_tts1"
    shutil.rmtree(recipe, ignore_errors=True)
    shutil.copytree(RECIPE, recipe, symlinks=True, ignore=shutil.ignore_patterns(*NOT_RECIPE))
    (recipe / "conf").unlink()
    (recipe / "conf").symlink_to(REPO / "conf")
    (recipe / "path.sh").write_text(
        f"export PATH={REPO}/.venv/bin:$PATH\nexport PYTHONPATH={REPO}\n")
    return recipe


def single_thread_env() -> Dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1")


def run_sh(mini: bool = True, **options: object) -> List[str]:
    """``./run.sh`` with ``options`` as its flags (``stop_stage=5``: ``--stop_stage 5``;
    None leaves a flag out)."""
    command = ["./run.sh", *(["--mini", "true"] if mini else [])]
    for name, value in options.items():
        if value is not None:
            command += [f"--{name}", str(value)]
    return command


def run_logged(command: List[str], recipe: Path, log_path: Path, single_thread: bool = True,
               append: bool = False) -> None:
    """``command`` in ``recipe``, its output to ``log_path``; RuntimeError when it fails."""
    env = single_thread_env() if single_thread else None
    with open(log_path, "a" if append else "w") as log:
        done = subprocess.run(command, cwd=recipe, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed (rc {done.returncode}): see {log_path}")


def code_digest(paths: tuple = PREPARATION_CODE) -> str:
    """sha256 of the files under ``paths`` (their names and contents)."""
    digest = hashlib.sha256()
    for top in paths:
        root = REPO / top
        files = [root] if root.is_file() else sorted(
            p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for path in files:
            digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()



def prepare(work: Path, num_utts: int, num_held_out: Optional[int] = None,
            configs: Mapping[str, Dict] = {}, options: Mapping[str, object] = {},
            single_thread: bool = False) -> Path:
    """The recipe copy ``work/sniper_tts1`` with stages 1-5 done on a generated corpus of
    ``num_utts`` (``num_held_out`` None: the recipe's default, LJSpeech's share).

    ``configs`` (file name in the copy -> its content) are written there first and
    ``options`` are passed to run.sh (e.g. ``train_config``); ``single_thread``: one
    thread. Reused while its key holds: these arguments and the code that prepares it.
    """
    recipe = work / "sniper_tts1"
    marker = recipe / "prepared.json"
    key = {"num_utts": num_utts, "num_held_out": num_held_out, "configs": dict(configs),
           "options": dict(options), "single_thread": single_thread, "code": code_digest()}
    if marker.is_file() and json.loads(marker.read_text()) == key:
        return recipe
    copy_recipe(work)
    for name, content in configs.items():
        (recipe / name).write_text(yaml.safe_dump(content, sort_keys=False))
    logging.info(f"stages 1-5 on {num_utts} utterances in {recipe} (log: {recipe}/prepare.log)")
    run_logged(run_sh(mini_num_utts=num_utts, num_held_out=num_held_out, stage=1, stop_stage=5,
                      **options), recipe, recipe / "prepare.log", single_thread)
    write_result(marker, key)
    return recipe


def scoring_seconds(exp: Path) -> float:
    """How long the run's SNIP scoring took, from its train.log (0 when it scored nothing)."""
    times = [float(line.split(" batches in ")[1].split()[0])
             for line in (exp / "train.log").read_text().splitlines()
             if "SNIP scoring done:" in line and " seconds" in line]
    return times[-1] if times else 0.0
