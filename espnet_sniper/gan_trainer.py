"""SniperGANTrainer: ESPnet's GANTrainer (VITS, JETS, ...) with SNIPER.

What is prunable: the generator's parameters (what synthesis keeps), minus
``exclude_params``; the discriminator's too with ``prune_discriminator: true``. The
HiFi-GAN parts hold weight-normalized convolutions, ``weight = weight_g * weight_v /
|weight_v|``: SNIPER prunes ``weight_v``, where a zero is a zero of the effective weight,
and never prunes ``weight_g`` (``masks.prunable_parameters`` leaves out every weight-norm
magnitude; see weight_norm.py).

SNIP scores: at initialization, each batch of the scoring passes through the two turns
of a training iteration, in the trainer's order (``generator_first``): the generator's
training loss (mel, adversarial and feature matching through the initial discriminator,
variance and alignment losses for JETS) scores the generator's parameters, the
discriminator's loss the discriminator's.

Masks and learning-rate factors follow the optimizer that steps: ``optimizers[0]`` owns
the generator, ``optimizers[1]`` the discriminator (``GANTTSTask.build_optimizers``);
SNIPER hooks only the optimizers that own prunable parameters, so by default it never
masks, rescales or resets the discriminator's weights or its optimizer's state. A
generator turn's backward also reaches the discriminator: those gradients are ESPnet's
business (it zeroes them after the turn); the pruned generator entries' gradients are
zeroed as they are accumulated, before ESPnet's clipping norm sees them. ESPnet's GAN
trainer has no gradient accumulation and no gradient noise.
"""

import argparse
from typing import Dict, List

import torch

from espnet2.train.distributed_utils import get_world_size
from espnet2.train.gan_trainer import GANTrainer, GANTrainerOptions
from espnet_sniper.config import SniperConfig, SniperConfigError
from espnet_sniper.config_layouts import requested_sniper_conf
from espnet_sniper.masks import prunable_parameters
from espnet_sniper.snip import ScoringTurn
from espnet_sniper.trainer_mixin import SniperTrainerMixin, sniper_options

SniperGANTrainerOptions = sniper_options(GANTrainerOptions)

GENERATOR, DISCRIMINATOR = "tts.generator.", "tts.discriminator."


class SniperGANTrainer(SniperTrainerMixin, GANTrainer):
    options_class = SniperGANTrainerOptions

    @classmethod
    def check_args(cls, args: argparse.Namespace) -> None:
        super().check_args(args)
        # Each turn leaves the other network's parameters without gradients, which DDP
        # refuses at the second iteration unless it looks for unused parameters
        distributed = (args.ngpu > 1 and args.multiprocessing_distributed) or \
            get_world_size(args.dist_world_size, args.dist_launcher) > 1
        if distributed and not args.unused_parameters:
            raise SniperConfigError(
                "unused_parameters: false under DDP: ESPnet's GAN trainer updates the "
                "generator and the discriminator in turns, and DDP fails on the parameters "
                "a turn leaves without gradients; set unused_parameters: true (the recipe's "
                "JETS configs do)"
            )
        # GANTrainer refuses both only when its first epoch starts, after SNIP scoring
        if requested_sniper_conf(args) is not None:
            if args.accum_grad > 1:
                raise SniperConfigError(
                    f"accum_grad: {args.accum_grad}: ESPnet's GAN trainer has no gradient "
                    f"accumulation; set accum_grad: 1"
                )
            if args.grad_noise:
                raise SniperConfigError(
                    "grad_noise: true: ESPnet's GAN trainer has no gradient noise; remove it"
                )

    @classmethod
    def prunable(cls, model: torch.nn.Module, config: SniperConfig) -> Dict[str, torch.nn.Parameter]:
        parts = (GENERATOR, DISCRIMINATOR) if config.prune_discriminator else (GENERATOR,)
        return {
            name: p
            for name, p in prunable_parameters(model, config.exclude_params).items()
            if name.startswith(parts)
        }

    @classmethod
    def scoring_turns(
        cls, params: Dict[str, torch.nn.Parameter], options: GANTrainerOptions
    ) -> List[ScoringTurn]:
        generator = ScoringTurn(
            tuple(n for n in params if n.startswith(GENERATOR)), {"forward_generator": True}
        )
        discriminator = ScoringTurn(
            tuple(n for n in params if n.startswith(DISCRIMINATOR)), {"forward_generator": False}
        )
        return [generator, discriminator] if options.generator_first else [discriminator, generator]
