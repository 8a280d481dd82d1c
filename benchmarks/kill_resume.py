#!/usr/bin/env python3
"""SIGKILL the recipe's SNIPER training at many moments; resume; compare with an unbroken run.

A small corpus is prepared once with the recipe's stages 1-5 (a one-epoch teacher is
enough: only the training is under test). Then the training stage (``run.sh --stage 6``,
which resumes) runs once uninterrupted as the reference, and for each trial it is started,
its whole process group is SIGKILLed at a chosen moment, as a pre-empted job is, and the
same command is run again. A trial passes when the resumed run ends with the reference's
weights bit for bit (last epoch and the averaged model) and no temporary file remains.

Kill moments, cycled over the trials (the delays are random, seeded):
  scoring          during SNIP scoring, before the SNIPER state exists
  mid_epoch        inside a training epoch
  sparsity_change  right after an epoch whose successor has another sparsity
  saving_checkpoint  while the trainer replaces checkpoint.pth after epoch 2 or later (so
                   the resume must take the spare of the epoch before)
  saving_epoch_file  while it has <N>epoch.pth open for writing
  random           anywhere in the reference run's duration

    python -m benchmarks.kill_resume --quick     # 6 trials, one of each kind
    python -m benchmarks.kill_resume             # 20 trials
    python -m benchmarks.kill_resume --ranks 2   # under DDP: two gloo ranks on the CPU
    python -m benchmarks.kill_resume --ranks 2 --model jets --quick   # GAN TTS under DDP

With ``--ranks 2`` the training is ESPnet's DDP over two processes started as an external
launcher starts them (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), with the options the
recipe's stage 6 used (its ``config.yaml``); the reference is an uninterrupted two-rank
run, and a trial SIGKILLs one rank (chosen at random) at the kill moment, then the other,
as a cluster stops a job whose task died, and restarts both with ``--resume true``. The
moments that watch the trainer's open files watch rank 0's (the one that writes).

With ``--model jets`` the training is the mini JETS (``conf/mini/train_sniper_jets.yaml``,
shortened to a few iterations an epoch) through ``espnet_sniper.bin.gan_tts_train``.

Writes benchmarks/results/kill_resume.json (``kill_resume_ddp.json`` with --ranks 2,
``..._jets`` with --model jets): every trial (kind, when, what the resume reported, pass or
fail and why) and the counts.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch
import yaml

from espnet2.train.distributed_utils import free_port
from benchmarks.core.recipe import prepare as prepare_recipe
from benchmarks.core.recipe import run_sh, single_thread_env
from benchmarks.core.results import REPO, RESULTS, provenance, write_result
from benchmarks.core.staleness import LIBRARY, RECIPE_CODE
from espnet_sniper.checkpoint_recovery import CHECKPOINT, readable

KINDS = ["scoring", "mid_epoch", "sparsity_change", "saving_checkpoint",
         "saving_epoch_file", "random"]
MAX_EPOCH = 4
SCHEDULE = {0: 40, 1: 20, 2: 10, 3: 0}  # a sparsity change at every epoch boundary
STUDENTS = {"fastspeech2": "conf/mini/train_sniper.yaml",
            "jets": "conf/mini/train_sniper_jets.yaml"}
JETS_ITERS_PER_EPOCH = 3  # a HiFi-GAN step costs ~2 s here
CONFIGS = {"teacher_config": "teacher.yaml", "train_config": "student.yaml"}
INPUTS = (*LIBRARY, "conf/mini", *RECIPE_CODE, "benchmarks/core/recipe.py",
          "benchmarks/kill_resume.py")
RESULT_FILES = {"kill_resume.json": "Kill and resume",
                "kill_resume_ddp.json": "Kill and resume under DDP",
                "kill_resume_ddp_jets.json": "Kill and resume of GAN TTS under DDP"}


def prepare(work: Path, num_utts: int, num_held_out: Optional[int] = None,
            model: str = "fastspeech2") -> Path:
    """A copy of the recipe with stages 1-5 done on a small generated corpus (JETS aligns
    itself: no teacher)."""
    teacher = yaml.safe_load((REPO / "conf/mini/train_tacotron2_teacher.yaml").read_text())
    teacher.update(max_epoch=1, num_att_plot=0)
    student = yaml.safe_load((REPO / STUDENTS[model]).read_text())
    student.update(max_epoch=MAX_EPOCH)
    if model == "jets":
        student.update(num_iters_per_epoch=JETS_ITERS_PER_EPOCH)
    student["sniper_conf"].update(schedule=SCHEDULE, score_batches=3)
    return prepare_recipe(work, num_utts, num_held_out,
                          configs={"teacher.yaml": teacher, "student.yaml": student},
                          options=CONFIGS | {"tag": "prepare"}, single_thread=True)


def stage_command(first: int, last: int, tag: str) -> List[str]:
    return run_sh(stage=first, stop_stage=last, **CONFIGS, tag=tag)


def trainer_pid(tag: str) -> Optional[int]:
    """The training process's pid (run.sh's python child), from /proc."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.startswith(b"espnet_sniper.bin.") for a in cmd) \
                and f"exp/{tag}".encode() in cmd:
            return int(proc.name)
    return None


def writing(pid: int, name: str) -> bool:
    """Whether process ``pid`` has a file whose path ends with ``name`` open for writing."""
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            if os.readlink(fd).endswith(name):
                flags = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().split("flags:")[1]
                if int(flags.split()[0], 8) & (os.O_WRONLY | os.O_RDWR):
                    return True
    except (OSError, IndexError):
        pass
    return False


class Training:
    """One ``run.sh --stage 6`` in its own process group; with ``ranks`` > 1, that many
    DDP processes of the training command in ``config``, each in its own group."""

    def __init__(self, recipe: Path, tag: str, ranks: int = 1, config: Optional[Path] = None,
                 module: str = "espnet_sniper.bin.tts_train"):
        self.recipe, self.tag = recipe, tag
        self.log = recipe / "exp" / tag / "train.log"
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        self.seen = ""
        if ranks == 1:
            self.procs = [subprocess.Popen(
                stage_command(6, 6, tag), cwd=recipe, env=single_thread_env(),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
        else:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            port = free_port()
            cmd = [sys.executable, "-m", module, "--config", str(config),
                   "--output_dir", f"exp/{tag}", "--ngpu", "0", "--multiprocessing_distributed",
                   "false", "--dist_backend", "gloo", "--resume", "true"]
            self.procs = []
            for rank in range(ranks):
                env = dict(single_thread_env(), RANK=str(rank), WORLD_SIZE=str(ranks),
                           MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                           PYTHONPATH=str(REPO))
                # rank 0 logs as run.sh's training does; the others log only errors
                out = open(self.log, "ab") if rank == 0 else subprocess.DEVNULL
                self.procs.append(subprocess.Popen(cmd, cwd=recipe, env=env, stdout=out,
                                                   stderr=subprocess.STDOUT,
                                                   start_new_session=True))
        self.proc = self.procs[0]
        self.started = time.time()

    def wait(self) -> int:
        codes = [p.wait() for p in self.procs]
        return next((c for c in codes if c != 0), 0)

    def text(self) -> str:
        """What this run (not an earlier one) appended to train.log, read incrementally."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self.offset)
                new = f.read()
        except FileNotFoundError:
            return self.seen
        self.offset += len(new)
        self.seen += new.decode("utf-8", errors="replace")
        return self.seen

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 900) -> bool:
        end = time.time() + timeout
        while self.proc.poll() is None and time.time() < end:
            if predicate():
                return True
            time.sleep(0.001)
        return False

    def kill(self, first: int = 0) -> None:
        """SIGKILL rank ``first``'s process group, then the others'."""
        order = self.procs[first:] + self.procs[:first]
        for p in order:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def reloadable(config_yaml: Path, model: str) -> Dict:
    """ESPnet's written config without the keys its parser does not take back (those it
    derives, e.g. ``distributed``, and its version)."""
    from espnet_sniper.tasks.gan_tts import SniperGANTTSTask
    from espnet_sniper.tasks.tts import SniperTTSTask

    task = SniperGANTTSTask if model == "jets" else SniperTTSTask
    dests = {a.dest for a in task.get_parser()._actions}
    return {k: v for k, v in yaml.safe_load(config_yaml.read_text()).items() if k in dests}


def final_weights(exp: Path) -> Dict[str, Dict[str, torch.Tensor]]:
    """The last epoch's model and the average ESPnet made by the first best-model criterion
    (valid.loss for FastSpeech2, valid.generator_g_mel_loss for JETS)."""
    phase, metric, _ = yaml.safe_load((exp / "config.yaml").read_text())["best_model_criterion"][0]
    return {name: torch.load(exp / name, map_location="cpu", weights_only=True)
            for name in (f"{MAX_EPOCH}epoch.pth", f"{phase}.{metric}.ave.pth")}


def differences(a, b) -> List[str]:
    found = []
    for name in a:
        for key in a[name]:
            if key not in b[name] or not torch.equal(a[name][key], b[name][key]):
                found.append(f"{name}:{key}")
    return found


def kill_plan(kind: str, rng: random.Random, reference_seconds: float):
    """(description, predicate maker) for one trial of ``kind``."""
    epoch = rng.randint(1, MAX_EPOCH - 1)
    if kind == "scoring":
        delay = rng.uniform(0.0, 1.5)
        return f"{delay:.2f} s into SNIP scoring", lambda t: _after(t, "SNIP scoring", delay)
    if kind == "mid_epoch":
        delay = rng.uniform(0.5, 2.5)
        marker = "SNIPER: saved scores" if epoch == 1 else f"{epoch - 1}epoch results"
        return (f"{delay:.2f} s into epoch {epoch}", lambda t: _after(t, marker, delay))
    if kind == "sparsity_change":
        delay = rng.uniform(0.0, 0.3)
        return (f"{delay:.2f} s after epoch {epoch} (sparsity {SCHEDULE[epoch - 1]} -> "
                f"{SCHEDULE[epoch]} next)", lambda t: _after(t, f"{epoch}epoch results", delay))
    if kind in ("saving_checkpoint", "saving_epoch_file"):
        if kind == "saving_checkpoint":
            # after epoch 1 there is a spare (the checkpoint of the epoch before) to resume from
            epoch = rng.randint(2, MAX_EPOCH - 1)
            name = "checkpoint.pth"
        else:
            name = f"{epoch}epoch.pth"

        def saving(t: Training) -> Callable[[], bool]:
            pid: List[int] = []
            # ESPnet logs an epoch's results, then saves its checkpoint and epoch file
            epoch_ended = _after(t, f"{epoch}epoch results", 0.0)

            def predicate() -> bool:
                if not epoch_ended():
                    return False
                if not pid:
                    # under DDP the ranks are the started processes; rank 0 writes
                    found = t.procs[0].pid if len(t.procs) > 1 else trainer_pid(t.tag)
                    pid.extend(p for p in [found] if p is not None)
                return bool(pid) and writing(pid[0], f"/{name}")
            return predicate
        return f"while {name} of epoch {epoch} is open for writing", saving
    delay = rng.uniform(0.0, 0.9 * reference_seconds)
    return f"{delay:.1f} s after the start", lambda t: (lambda: time.time() - t.started > delay)


def _after(t: Training, marker: str, delay: float) -> Callable[[], bool]:
    seen = []

    def predicate() -> bool:
        if not seen and marker in t.text():
            seen.append(time.time())
        return bool(seen) and time.time() - seen[0] >= delay
    return predicate


RESUME_MESSAGES = {
    "resuming from": "resumed from the spare checkpoint of the epoch before",
    "starting from epoch 1": "started again from epoch 1",
    "writing it again": "wrote a damaged epoch file again",
    "The training was resumed using": "resumed from checkpoint.pth",
    "SNIP scoring": "scored again",
    "removing": "removed a temporary file",
}


RESUME_MESSAGES_SPARE = "resuming from"


def run_trial(recipe: Path, index: int, kind: str, rng: random.Random,
              reference, reference_seconds: float, ranks: int = 1,
              config: Optional[Path] = None, module: str = "espnet_sniper.bin.tts_train") -> Dict:
    tag = f"trial{index:02d}_{kind}"
    shutil.rmtree(recipe / "exp" / tag, ignore_errors=True)
    when, make_predicate = kill_plan(kind, rng, reference_seconds)
    first = Training(recipe, tag, ranks, config, module)
    hit = first.wait_until(make_predicate(first))
    victim = rng.randrange(ranks) if ranks > 1 else 0
    first.kill(victim)
    killed_after = time.time() - first.started
    result = {"trial": index, "kind": kind, "planned": when, "killed": hit,
              "killed_after_seconds": round(killed_after, 2)}
    if ranks > 1:
        result["killed_rank_first"] = victim
    if not hit:
        result.update(passed=False, why="the kill point was not reached before the run ended")
        return result
    exp = recipe / "exp" / tag
    result["temporary_files_after_kill"] = sorted(str(p.relative_to(exp))
                                                  for p in exp.rglob("*.tmp"))
    result["checkpoint_readable_after_kill"] = readable(exp / CHECKPOINT)
    second = Training(recipe, tag, ranks, config, module)
    rc = second.wait()
    text = second.text()
    result["resume_reported"] = [msg for msg in RESUME_MESSAGES if msg in text]
    if rc != 0:
        result.update(passed=False, why=f"the resumed run failed (rc {rc}); see {exp}/train.log")
        return result
    diff = differences(reference, final_weights(exp))
    leftovers = sorted(str(p.relative_to(exp)) for p in exp.rglob("*.tmp"))
    result.update(
        temporary_files_left=leftovers,
        bit_identical=not diff,
        passed=not diff and not leftovers,
        why="" if not diff and not leftovers else
        (f"{len(diff)} tensors differ, e.g. {diff[:3]}" if diff else f"left {leftovers}"),
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one trial of each kind")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--num_utts", type=int, default=40, help="size of the corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work_dir", type=Path, default=None,
                        help="default: <tmp>/espnet_sniper_kill_resume[_ddp]")
    parser.add_argument("--ranks", type=int, default=1,
                        help="DDP processes (gloo, CPU); 1: the recipe's stage 6 as it is")
    parser.add_argument("--model", choices=sorted(STUDENTS), default="fastspeech2",
                        help="the mini FastSpeech2 (tts_train) or the mini JETS (gan_tts_train)")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: benchmarks/results/kill_resume[_ddp][_jets].json")
    args = parser.parse_args()
    trials = len(KINDS) if args.quick else args.trials
    if trials < 1:
        parser.error("--trials must be at least 1")
    if args.ranks < 1:
        parser.error("--ranks must be at least 1")
    suffix = ("_ddp" if args.ranks > 1 else "") + ("_jets" if args.model == "jets" else "")
    args.out = args.out or RESULTS / f"kill_resume{suffix}.json"
    args.work_dir = args.work_dir or Path(tempfile.gettempdir()) / f"espnet_sniper_kill_resume{suffix}"
    module = "espnet_sniper.bin." + ("gan_tts_train" if args.model == "jets" else "tts_train")
    # DDP splits every batch over the ranks: a validation set of LJSpeech's share (one
    # utterance of 40) cannot be split
    recipe = prepare(args.work_dir, args.num_utts, 2 * args.ranks if args.ranks > 1 else None,
                     args.model)
    config = None
    if args.ranks > 1:
        # the options of the recipe's own training, from a one-process run of stage 6
        if not (recipe / "exp" / "options" / "config.yaml").exists():
            if Training(recipe, "options").wait() != 0:
                raise SystemExit("error: the recipe's training failed: see exp/options/train.log")
        config = recipe / "exp" / "options" / "ddp_config.yaml"
        config.write_text(yaml.safe_dump(reloadable(recipe / "exp" / "options" / "config.yaml",
                                                    args.model)))
    shutil.rmtree(recipe / "exp" / "reference", ignore_errors=True)
    start = time.time()
    reference_run = Training(recipe, "reference", args.ranks, config, module)
    if reference_run.wait() != 0:
        raise SystemExit(f"error: the reference run failed: see {reference_run.log}")
    reference_seconds = time.time() - start
    reference = final_weights(recipe / "exp" / "reference")

    rng = random.Random(args.seed)
    results = []
    for i in range(trials):
        kind = KINDS[i % len(KINDS)]
        results.append(run_trial(recipe, i, kind, rng, reference, reference_seconds,
                                 args.ranks, config, module))
        print(json.dumps(results[-1]), flush=True)
        write(args.out, results, reference_seconds, args)


def write(out: Path, results: List[Dict], reference_seconds: float, args) -> None:
    by_kind = {k: {"tried": sum(r["kind"] == k for r in results),
                   "passed": sum(r["kind"] == k and r["passed"] for r in results)}
               for k in KINDS}
    summary = {
        **provenance("kill_resume"),
        "setup": {"corpus_utterances": args.num_utts, "max_epoch": MAX_EPOCH,
                  "ranks": args.ranks, "model": args.model,
                  "schedule": SCHEDULE, "reference_run_seconds": round(reference_seconds, 1)},
        "tried": len(results),
        "passed": sum(r["passed"] for r in results),
        "by_kind": by_kind,
        "resumed_from_spare": sum(RESUME_MESSAGES_SPARE in r.get("resume_reported", [])
                                  for r in results),
        "failed": [r for r in results if not r["passed"]],
        "trials": results,
    }
    write_result(out, summary, indent=2)


def table(data: Dict) -> List[str]:
    setup = data["setup"]
    ranks = setup.get("ranks", 1)
    jets = setup.get("model") == "jets"
    model = "the mini JETS (GAN TTS, `gan_tts_train`)" if jets else "the mini FastSpeech2"
    what = (f"the recipe's training stage of {model}" if ranks == 1 else
            f"the recipe's training of {model} under DDP ({ranks} gloo ranks on the CPU, "
            f"started as an external launcher starts them)")
    options = (f" --ranks {ranks}" if ranks > 1 else "") + (" --model jets" if jets else "")
    killed = ("SIGKILLed, process group and all, then rerun" if ranks == 1 else
              "one rank (at random) SIGKILLed, then the others, as a cluster stops the job; "
              "all restarted with `--resume true`")
    lines = [
        f"`python -m benchmarks.kill_resume{options}`: {what} (SNIPER "
        f"{', '.join(f'{v} %' for v in setup['schedule'].values())} over {setup['max_epoch']} "
        f"epochs, {setup['corpus_utterances']}-utterance corpus) {killed}; a trial passes when "
        f"the rerun ends with the uninterrupted run's weights bit for bit and no temporary "
        f"file is left. **{data['passed']} of {data['tried']} passed.**"
        + (f" {data['resumed_from_spare']} of them resumed from the spare checkpoint "
           f"(`checkpoint.prev.pth`): checkpoint.pth was unreadable after the kill."
           if "resumed_from_spare" in data else ""),
        "",
        "| killed | tried | passed |",
        "|---|---:|---:|",
    ]
    for kind, n in data["by_kind"].items():
        lines.append(f"| {kind.replace('_', ' ')} | {n['tried']} | {n['passed']} |")
    for failure in data["failed"]:
        lines.append(f"\nFailed: trial {failure['trial']} ({failure['planned']}): {failure['why']}")
    return lines


if __name__ == "__main__":
    main()
