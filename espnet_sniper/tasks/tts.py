"""SniperTTSTask: ESPnet's TTS task, trained by SniperTrainer.

Three things differ from ``espnet2.tasks.tts.TTSTask``: the trainer; a bad ``sniper_conf``
(or a trainer key of the reference's fork that cannot be honoured) stops the run right
after argument parsing (and a model it cannot prune right after the model is built),
before ESPnet writes anything in the output directory; and a training refuses to start
in an output directory where another one is running.
"""

import argparse
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

from espnet2.tasks.tts import TTSTask
from espnet2.train.distributed_utils import get_rank
from espnet_sniper.config import SniperConfigError, parse_sniper_conf
from espnet_sniper.masks import prunable_parameters
from espnet_sniper.run_lock import (
    LOCK_FILE,
    OutputDirInUse,
    lock_output_dir,
    remove_stale_temporaries,
)
from espnet_sniper.trainer import (
    ReferenceTrainerKeyError,
    SniperTrainer,
    check_reference_trainer_keys,
)


class SniperTTSTask(TTSTask):
    trainer = SniperTrainer

    @classmethod
    def main(
        cls,
        args: Optional[argparse.Namespace] = None,
        cmd: Optional[Sequence[str]] = None,
    ):
        if args is None:
            args = cls.get_parser().parse_args(cmd)
        try:
            parse_sniper_conf(args.sniper_conf)
            check_reference_trainer_keys(args)
        except (SniperConfigError, ReferenceTrainerKeyError) as e:
            sys.exit(f"error: {e}")
        super().main(args=args)

    @classmethod
    def main_worker(cls, args: argparse.Namespace):
        if args.collect_stats or get_rank(args.dist_rank, args.dist_launcher) not in (None, 0):
            return super().main_worker(args)
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
        config = parse_sniper_conf(getattr(args, "sniper_conf", None))
        if config is not None and config.ever_sparse:
            if not prunable_parameters(model, config.exclude_params):
                sys.exit(
                    f"error: sniper_conf.exclude_params: {list(config.exclude_params)} "
                    f"excludes every parameter of the model, so nothing can be pruned; "
                    f"remove some patterns"
                )
        return model
