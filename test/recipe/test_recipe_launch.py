"""The training commands run.sh builds for several GPUs and several nodes.

There are no GPUs here, so the training itself is not started: a ``python`` first on the
recipe's PATH records the training command line and passes everything else (ESPnet's
launcher included) to the real interpreter; Slurm's submission is a dry run
(SNIPER_SLURM_DRY_RUN=true prints the sbatch command). What runs on GPUs is untested here.
"""

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from test_recipe_end_to_end import recipe_copy

SHIM = """#!/usr/bin/env bash
if [ "$1" = -m ] && [[ $2 = espnet_sniper.bin.tts_train || $2 = espnet_sniper.bin.gan_tts_train ]]; then
    printf '%s\\n' "$@" > "${{SHIM_RECORD}}"
    exit 0
fi
exec {python} "$@"
"""


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    work = recipe_copy(tmp_path_factory.mktemp("launch"))
    shim = work / "shim"
    shim.mkdir()
    (shim / "python").write_text(SHIM.format(python=REPO / ".venv" / "bin" / "python"))
    (shim / "python").chmod(0o755)
    (work / "path.sh").write_text(f"export PATH={shim}:{REPO}/.venv/bin:$PATH\n"
                                  f"export PYTHONPATH={REPO}\n")
    for model in ("fastspeech2", "jets"):
        stats = work / "exp" / f"{model}_stats_raw" / "train"
        stats.mkdir(parents=True)
        (stats / "feats_stats.npz").touch()  # stage 6 only checks that stage 5 ran
    return work


def stage6(recipe: Path, tmp_path: Path, *options: str):
    record = tmp_path / "train_cmd.txt"
    env = dict(os.environ, SHIM_RECORD=str(record), SNIPER_SLURM_DRY_RUN="true")
    done = subprocess.run(["./run.sh", "--stage", "6", "--stop_stage", "6", *options],
                          cwd=recipe, env=env, capture_output=True, text=True, timeout=300)
    return done, record


def test_several_gpus_on_one_node_use_espnets_multiprocessing(recipe, tmp_path):
    done, record = stage6(recipe, tmp_path, "--ngpu", "4", "--tag", "gpus")
    assert done.returncode == 0, done.stderr[-3000:]
    args = record.read_text().split("\n")
    assert args[:2] == ["-m", "espnet_sniper.bin.tts_train"]
    assert args[args.index("--ngpu") + 1] == "4"
    assert args[args.index("--multiprocessing_distributed") + 1] == "true"
    assert args[args.index("--resume") + 1] == "true"
    assert args[args.index("--config") + 1] == "conf/train_sniper.yaml"


def test_several_nodes_go_through_espnets_launcher_to_one_slurm_job(recipe, tmp_path):
    done, record = stage6(recipe, tmp_path, "--ngpu", "4", "--num_nodes", "2", "--tag", "nodes")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not record.exists()  # nothing trains here: the job is only printed
    log = (recipe / "exp" / "nodes" / "launch.log").read_text()
    sbatch = next(line for line in log.splitlines() if line.startswith("sbatch "))
    words = shlex.split(sbatch)
    assert words[words.index("--nodes") + 1] == "2"
    assert words[words.index("--gres") + 1] == "gpu:4"
    assert words[words.index("--output") + 1] == "exp/nodes/train.log"  # the job's own log
    inner = shlex.split(words[words.index("--wrap") + 1])
    assert inner[:3] == ["srun", "--export=ALL", "python"]
    assert inner[inner.index("-m") + 1] == "espnet_sniper.bin.tts_train"
    assert inner[inner.index("--dist_launcher") + 1] == "slurm"
    assert inner[inner.index("--multiprocessing_distributed") + 1] == "true"
    assert inner[inner.index("--ngpu") + 1] == "4"
    assert inner[inner.index("--dist_init_method") + 1].startswith("file://")


def test_a_jets_config_trains_through_the_gan_task_without_durations(recipe, tmp_path):
    done, record = stage6(recipe, tmp_path, "--train_config", "conf/train_sniper_jets.yaml",
                          "--tag", "jets")
    assert done.returncode == 0, done.stderr[-3000:]
    args = record.read_text().split("\n")
    assert args[:2] == ["-m", "espnet_sniper.bin.gan_tts_train"]
    data = [args[i + 1] for i, a in enumerate(args) if a.endswith("_data_path_and_name_and_type")]
    assert not any("durations" in d for d in data)  # JETS aligns itself
    assert not any("pitch" in d for d in data)  # and computes pitch from the waveforms
    stats = args[args.index("--pitch_normalize_conf") + 1]
    assert stats == "stats_file=exp/jets_stats_raw/train/pitch_stats.npz"
    # the teacher and alignment stages have nothing to do for it
    done = subprocess.run(["./run.sh", "--stage", "3", "--stop_stage", "4", "--train_config",
                           "conf/train_sniper_jets.yaml"], cwd=recipe, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stage 3: aligner: skipped" in done.stderr
    assert "stage 4: alignment: skipped" in done.stderr


@pytest.mark.parametrize("options, message", [
    (["--train_config", "conf/train_sniper_jets.yaml", "--feats_type", "fbank"],
     "JETS trains on waveforms"),
    (["--train_config", "conf/train_sniper_jets.yaml", "--vocoder_tag", "some/vocoder"],
     "JETS makes its own waveforms"),
    (["--tts_task", "gan_tts"], "the recipe trains JETS"),
    (["--tts_task", "vits"], "--tts_task must be tts or gan_tts"),
    # tts.sh's names: an old spelling names the new one
    (["--decode_config", "conf/decode.yaml"], "--decode_config is now --inference_config"),
    (["--inference_nj", "0"], "--inference_nj must be a positive number"),
    (["--gpu_inference", "yes"], "--gpu_inference must be true or false"),
])
def test_options_that_cannot_work_stop_before_any_stage(recipe, options, message):
    done = subprocess.run(["./run.sh", *options], cwd=recipe, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and message in done.stderr, done.stderr[-2000:]
    assert "stage 1" not in done.stderr


def test_tts_sh_pass_through_and_directories(recipe, tmp_path):
    stats = recipe / "experiments" / "fastspeech2_stats_raw" / "train"
    stats.mkdir(parents=True)
    (stats / "feats_stats.npz").touch()
    done, record = stage6(recipe, tmp_path, "--expdir", "experiments", "--tag", "passed",
                          "--train_args", "--max_epoch 3  --batch_bins 1000")
    assert done.returncode == 0, done.stderr[-3000:]
    args = record.read_text().rstrip("\n").split("\n")
    # last, so that they override the config and the recipe's own options
    assert args[-4:] == ["--max_epoch", "3", "--batch_bins", "1000"]
    assert args[args.index("--output_dir") + 1] == "experiments/passed"
    assert args[args.index("--normalize_conf") + 1] == (
        "stats_file=experiments/fastspeech2_stats_raw/train/feats_stats.npz")
