"""SNIPER's part of an ESPnet task, mixed into ``TTSTask`` and ``GANTTSTask`` alike.

Three things differ from the stock task: the trainer (the task names it); a bad
``sniper_conf`` (or anything else the trainer cannot do) stops the run right after
argument parsing (and a model it cannot prune right after the model is built), before
ESPnet writes anything in the output directory; and a training refuses to start in an
output directory where another one is running.
"""

import argparse
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch.distributed

from espnet2.train.distributed_utils import get_rank
from espnet_sniper.config import SniperConfigError
from espnet_sniper.run_lock import (
    LOCK_FILE,
    OutputDirInUse,
    lock_output_dir,
    remove_stale_temporaries,
)
from espnet_sniper.config_layouts import ReferenceTrainerKeyError, requested_sniper_conf


class SniperTaskMixin:
    """Put before an ESPnet task whose ``trainer`` is a SniperTrainerMixin trainer."""

    @classmethod
    def main(
        cls,
        args: Optional[argparse.Namespace] = None,
        cmd: Optional[Sequence[str]] = None,
    ):
        if args is None:
            args = cls.get_parser().parse_args(cmd)
        try:
            cls.trainer.check_args(args)
        except (SniperConfigError, ReferenceTrainerKeyError) as e:
            sys.exit(f"error: {e}")
        super().main(args=args)

    @classmethod
    def main_worker(cls, args: argparse.Namespace):
        cls._train_in_output_dir(args)
        # ESPnet leaves its process group to the interpreter's exit, where gloo's threads
        # can abort a rank that trained to the end (SIGABRT after a finished run)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    @classmethod
    def _train_in_output_dir(cls, args: argparse.Namespace) -> None:
        if args.collect_stats or get_rank(args.dist_rank, args.dist_launcher) not in (None, 0):
            super().main_worker(args)
            return
        # the first process of a training holds the output directory's lock
        output_dir = Path(args.output_dir)
        created = not output_dir.exists()
        output_dir.mkdir(parents=True, exist_ok=True)
        try:
            lock = lock_output_dir(output_dir)
        except OutputDirInUse as e:
            sys.exit(f"error: {e}")
        remove_stale_temporaries(output_dir)
        try:
            super().main_worker(args)
        finally:
            lock.close()
            if created and [p.name for p in output_dir.iterdir()] == [LOCK_FILE]:
                # stopped before ESPnet wrote anything: leave no trace
                shutil.rmtree(output_dir)

    @classmethod
    def build_model(cls, args: argparse.Namespace):
        model = super().build_model(args)
        config = requested_sniper_conf(args)
        if config is not None and config.ever_sparse:
            if not cls.trainer.prunable(model, config):
                sys.exit(
                    f"error: sniper_conf.exclude_params: {list(config.exclude_params)} "
                    f"excludes every prunable parameter of the model, so nothing can be "
                    f"pruned; remove some patterns"
                )
        return model
