"""SniperTrainer: ESPnet's Trainer (one loss, one optimizer) with SNIPER.

Every trainable parameter not matched by ``exclude_params`` is prunable, and the model's
training loss scores them all. The SNIPER run itself is lifecycle.py's ``Sniper``, wired
to the trainer by trainer_mixin.py.
"""

import argparse
from typing import Dict, List

import torch

from espnet2.train.trainer import Trainer, TrainerOptions
from espnet_sniper.config import SniperConfig, SniperConfigError
from espnet_sniper.config_layouts import requested_sniper_conf
from espnet_sniper.masks import prunable_parameters
from espnet_sniper.snip import ScoringTurn
from espnet_sniper.trainer_mixin import SniperTrainerMixin, sniper_options

SniperTrainerOptions = sniper_options(TrainerOptions)


class SniperTrainer(SniperTrainerMixin, Trainer):
    options_class = SniperTrainerOptions

    @classmethod
    def check_args(cls, args: argparse.Namespace) -> None:
        super().check_args(args)
        config = requested_sniper_conf(args)
        if config is not None and config.prune_discriminator:
            raise SniperConfigError(
                "sniper_conf.prune_discriminator: this model has no discriminator; it is a "
                "key for GAN TTS (espnet_sniper.bin.gan_tts_train): remove it"
            )

    @classmethod
    def prunable(cls, model: torch.nn.Module, config: SniperConfig) -> Dict[str, torch.nn.Parameter]:
        return prunable_parameters(model, config.exclude_params)

    @classmethod
    def scoring_turns(
        cls, params: Dict[str, torch.nn.Parameter], options: TrainerOptions
    ) -> List[ScoringTurn]:
        return [ScoringTurn(tuple(params))]
