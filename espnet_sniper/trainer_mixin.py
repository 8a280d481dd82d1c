"""SNIPER's glue to an ESPnet trainer, mixed into ``Trainer`` and ``GANTrainer`` alike.

``SniperTrainerMixin`` extends an ESPnet trainer class only where ESPnet invites it to:
``add_arguments`` (``--sniper_conf`` and the keys of the authors' layouts),
``build_options``, ``run`` (prepare and attach the run's ``Sniper``, then ESPnet's own
loop), ``train_one_epoch`` (begin the epoch, then ESPnet's own epoch over SNIPER's
iterations) and ``resume`` (survive a kill while ESPnet was saving; see
checkpoint_recovery.py). Everything else, the loop, DDP, AMP, clipping, checkpoints, the
GAN turns, is ESPnet's, unchanged. Without ``sniper_conf``, or with a schedule that is
never sparse, it trains to the same bits as the stock trainer.

A concrete trainer says two things: which parameters are prunable (``prunable``) and
which losses score them at initialization (``scoring_turns``).
"""

import argparse
import dataclasses
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Type

import torch

from espnet2.train.distributed_utils import DistributedOption
from espnet2.train.reporter import SubReporter
from espnet2.train.trainer import TrainerOptions
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet_sniper import checkpoint_recovery
from espnet_sniper.allocation import ALLOCATIONS
from espnet_sniper.config import SniperConfig
from espnet_sniper.config_layouts import (
    add_layout_arguments,
    announce_sniper_layout,
    check_reference_trainer_keys,
    requested_sniper_conf,
)
from espnet_sniper.fileio import is_writer
from espnet_sniper.lifecycle import Sniper
from espnet_sniper.rank_agreement import check_ranks_agree
from espnet_sniper.saved_epochs import keep_saved_epochs
from espnet_sniper.scoring import SCORERS
from espnet_sniper.snip import ScoringTurn


def sniper_options(base: Type[TrainerOptions]) -> Type[TrainerOptions]:
    """``base`` (ESPnet's options of a trainer) with SNIPER's fields appended."""
    return dataclasses.make_dataclass(
        f"Sniper{base.__name__}",
        [
            ("sniper_config", Optional[SniperConfig], dataclasses.field(default=None)),
            ("sniper", Optional[Sniper], dataclasses.field(default=None)),
            ("save_epochs", Sequence[int], dataclasses.field(default=())),
        ],
        bases=(base,),
    )


class SniperTrainerMixin:
    """Put before an ESPnet trainer class: ``class X(SniperTrainerMixin, Trainer)``."""

    # the ESPnet options dataclass with SNIPER's fields (see sniper_options)
    options_class: Type[TrainerOptions]

    @classmethod
    def prunable(cls, model: torch.nn.Module, config: SniperConfig) -> Dict[str, torch.nn.Parameter]:
        """The parameters SNIPER prunes, by qualified name."""
        raise NotImplementedError

    @classmethod
    def scoring_turns(
        cls, params: Dict[str, torch.nn.Parameter], options: TrainerOptions
    ) -> List[ScoringTurn]:
        """The forward passes of a batch whose losses give the SNIP scores of ``params``."""
        raise NotImplementedError

    @classmethod
    def check_args(cls, args: argparse.Namespace) -> None:
        """Refuse, before any work, what this trainer cannot do (raises ValueError)."""
        requested_sniper_conf(args)
        check_reference_trainer_keys(args)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser):
        super().add_arguments(parser)
        group = parser.add_argument_group("SNIPER related")
        group.add_argument(
            "--sniper_conf",
            action=NestedDictAction,
            default=dict(),
            help="SNIPER training: schedule (completed epochs -> sparsity %%), "
            "max_param_sparsity, exclude_params, restore_init_values, scale_lr_by_param, "
            "scale_lr, max_lr_scaling, score_batches, tie_break_seed, scoring "
            f"({'|'.join(SCORERS.names())}), allocation ({'|'.join(ALLOCATIONS.names())}), "
            "shuffle_within_tensor, prune_discriminator (GAN TTS). Empty: dense, exactly as the stock trainer.",
        )
        add_layout_arguments(group)

    @classmethod
    def build_options(cls, args: argparse.Namespace) -> TrainerOptions:
        base = super().build_options(args)
        announce_sniper_layout(args)
        return cls.options_class(
            **{f.name: getattr(base, f.name) for f in dataclasses.fields(base)},
            sniper_config=requested_sniper_conf(args),
            save_epochs=tuple(getattr(args, "save_epochs", None) or ()),
        )

    @staticmethod
    def attach(options: TrainerOptions, sniper: Sniper) -> TrainerOptions:
        """Options under which ``train_one_epoch`` drives ``sniper`` (attached to the
        optimizers already)."""
        # ESPnet would add gradient noise to pruned entries too; SNIPER adds it instead.
        sniper.take_over_gradient_noise(options.grad_noise)
        return dataclasses.replace(options, grad_noise=False, sniper=sniper)

    @classmethod
    def run(
        cls,
        model,
        optimizers,
        schedulers,
        train_iter_factory,
        valid_iter_factory,
        plot_attention_iter_factory,
        trainer_options,
        distributed_option: DistributedOption,
    ) -> None:
        config = getattr(trainer_options, "sniper_config", None)
        sniper = None
        if config is not None and config.ever_sparse:
            params = cls.prunable(model, config)
            output_dir = Path(trainer_options.output_dir)
            sniper = Sniper.prepare(
                config, model, params, output_dir,
                batches=lambda: train_iter_factory.build_iter(1),
                turns=cls.scoring_turns(params, trainer_options),
                device="cuda" if trainer_options.ngpu > 0 else "cpu",
                resuming=trainer_options.resume and (output_dir / "checkpoint.pth").exists(),
                distributed=distributed_option.distributed,
            )
            sniper.attach(optimizers)
            trainer_options = cls.attach(trainer_options, sniper)
        try:
            super().run(
                model=model,
                optimizers=optimizers,
                schedulers=schedulers,
                train_iter_factory=train_iter_factory,
                valid_iter_factory=valid_iter_factory,
                plot_attention_iter_factory=plot_attention_iter_factory,
                trainer_options=trainer_options,
                distributed_option=distributed_option,
            )
            if sniper is not None and distributed_option.distributed:
                check_ranks_agree("weights after training", model.state_dict())
        finally:
            if sniper is not None:
                sniper.detach()
        _keep_saved_epochs(trainer_options, up_to=trainer_options.max_epoch)

    @classmethod
    def resume(cls, checkpoint, model, reporter, *args, **kwargs) -> None:
        source = checkpoint_recovery.resume_source(Path(checkpoint), is_writer())
        if source is None:
            return
        super().resume(source, model, reporter, *args, **kwargs)
        if is_writer():
            checkpoint_recovery.repair_epoch_file(
                Path(checkpoint).parent, reporter.get_epoch(), model.state_dict()
            )

    @classmethod
    def train_one_epoch(
        cls,
        model: torch.nn.Module,
        iterator,
        optimizers: Sequence[torch.optim.Optimizer],
        schedulers,
        scaler,
        reporter: SubReporter,
        summary_writer,
        options: TrainerOptions,
        distributed_option: DistributedOption,
    ) -> bool:
        # Without an output directory (training driven outside Trainer.run) there is no
        # checkpoint to keep a spare of.
        if reporter.get_epoch() > 1 and options.output_dir is not None and is_writer():
            checkpoint_recovery.keep_spare(Path(options.output_dir))
            # ESPnet removes the models of earlier epochs at this epoch's end
            _keep_saved_epochs(options, up_to=reporter.get_epoch() - 1)
        sniper = getattr(options, "sniper", None)
        if sniper is not None:
            sniper.begin_epoch(reporter.get_epoch())
            iterator = sniper.epoch_iterations(iterator, reporter, options.accum_grad, scaler)
        return super().train_one_epoch(
            model=model,
            iterator=iterator,
            optimizers=optimizers,
            schedulers=schedulers,
            scaler=scaler,
            reporter=reporter,
            summary_writer=summary_writer,
            options=options,
            distributed_option=distributed_option,
        )


def _keep_saved_epochs(options: TrainerOptions, up_to: int) -> None:
    epochs = getattr(options, "save_epochs", ())
    if epochs and options.output_dir is not None and is_writer():
        keep_saved_epochs(Path(options.output_dir), epochs, up_to)
