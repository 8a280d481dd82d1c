"""SniperTTSTask: ESPnet's TTS task, trained by SniperTrainer.

Only two things differ from ``espnet2.tasks.tts.TTSTask``: the trainer, and that a bad
``sniper_conf`` stops the run right after argument parsing (and a model it cannot prune
right after the model is built), before ESPnet creates or writes anything in the output
directory.
"""

import argparse
import sys
from typing import Optional, Sequence

from espnet2.tasks.tts import TTSTask
from espnet_sniper.config import SniperConfigError, parse_sniper_conf
from espnet_sniper.masks import prunable_parameters
from espnet_sniper.trainer import SniperTrainer


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
        except SniperConfigError as e:
            sys.exit(f"error: {e}")
        super().main(args=args)

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
