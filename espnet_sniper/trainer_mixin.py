"""SNIPER's part of an ESPnet trainer, mixed into ``Trainer`` and ``GANTrainer`` alike.

``SniperTrainerMixin`` extends an ESPnet trainer class only where ESPnet invites it to:
``add_arguments`` (``--sniper_conf``), ``build_options``, ``run`` (score, build the state
and the controller, then ESPnet's own loop), ``train_one_epoch`` (move along the schedule
at the epoch boundary, then ESPnet's own epoch) and ``resume`` (survive a kill while
ESPnet was saving; see checkpoint_recovery.py). Everything else, the loop, DDP, AMP,
clipping, checkpoints, the GAN turns, is ESPnet's, unchanged. Without ``sniper_conf``, or
with a schedule that is never sparse, it trains to the same bits as the stock trainer.

A concrete trainer says two things: which parameters are prunable (``prunable``) and
which losses score them at initialization (``scoring_turns``). Masks and learning-rate
factors then follow the optimizers that own prunable parameters, and only those.

Two trainer keys of the reference's patched ESPnet are accepted so that its configs train
as they are: ``val_teacher_forcing: true`` is what stock ESPnet does (false, validation
by free-running inference, cannot be done without replacing ESPnet's validation and is
refused), and ``save_epochs`` keeps those epochs' models from ESPnet's n-best cleanup as
hard links in ``<output_dir>/saved_epochs/``.
"""

import argparse
import dataclasses
import logging
import os
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Type

import torch

from espnet2.train.distributed_utils import DistributedOption
from espnet2.train.reporter import SubReporter
from espnet2.train.trainer import TrainerOptions
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import str2bool
from espnet_sniper import checkpoint_recovery, weight_norm
from espnet_sniper.config import SniperConfig, SniperConfigError, parse_sniper_conf
from espnet_sniper.controller import SniperController
from espnet_sniper.masks import ranking_for
from espnet_sniper.rank_agreement import check_ranks_agree
from espnet_sniper.snip import ScoringTurn, snip_scores
from espnet_sniper.state import STATE_FILE, SniperState, SniperStateError

# ESPnet's add_gradient_noise(duration=100, eta=1.0, scale_factor=0.55), as the trainer
# calls it; SNIPER adds the same noise itself so that pruned entries get none.
NOISE_DURATION, NOISE_ETA, NOISE_SCALE_FACTOR = 100, 1.0, 0.55


def sniper_options(base: Type[TrainerOptions]) -> Type[TrainerOptions]:
    """``base`` (ESPnet's options of a trainer) with SNIPER's fields appended."""
    return dataclasses.make_dataclass(
        f"Sniper{base.__name__}",
        [
            ("sniper_config", Optional[SniperConfig], dataclasses.field(default=None)),
            ("sniper_controller", Optional[SniperController], dataclasses.field(default=None)),
            ("save_epochs", Sequence[int], dataclasses.field(default=())),
        ],
        bases=(base,),
    )


class ReferenceTrainerKeyError(ValueError):
    """A trainer key of the reference's patched ESPnet with a value we cannot honour."""


def check_reference_trainer_keys(args: argparse.Namespace) -> None:
    """Refuse, by name, what the reference's trainer keys ask and stock ESPnet cannot do."""
    if getattr(args, "val_teacher_forcing", True) is not True:
        raise ReferenceTrainerKeyError(
            "val_teacher_forcing: false (validation by free-running inference) is a key of "
            "the reference's patched ESPnet; stock ESPnet's validation always uses teacher "
            "forcing. Set it to true or remove it."
        )
    bad = [e for e in getattr(args, "save_epochs", None) or [] if e < 1]
    if bad:
        raise ReferenceTrainerKeyError(
            f"save_epochs: {bad} are not epochs (ESPnet counts epochs from 1)"
        )


def requested_sniper_conf(args: argparse.Namespace) -> Optional[SniperConfig]:
    """The SNIPER config a run asks for, in either layout of the authors' configs.

    The reference repository's configs give ``sniper_conf`` alone; the authors' ESPnet fork
    puts ``use_sniper`` (and ``sniper_dir``) at the top level beside it: ``use_sniper: false``
    trains dense whatever ``sniper_conf`` says, ``true`` needs a ``sniper_conf``.
    """
    use_sniper = getattr(args, "use_sniper", None)
    conf = getattr(args, "sniper_conf", None)
    if use_sniper is False:
        return None
    if use_sniper is True and not conf:
        raise SniperConfigError(
            "use_sniper: true, but the config has no sniper_conf: add a sniper_conf with a "
            "schedule (e.g. {0: 40, 5: 20, 10: 10, 20: 0}), or set use_sniper: false")
    return parse_sniper_conf(conf)


def announce_sniper_layout(args: argparse.Namespace) -> None:
    """Log what the fork's top-level keys did, once, where the run starts."""
    if getattr(args, "sniper_dir", None) is not None:
        logging.warning(f"sniper_dir ({args.sniper_dir}) is ignored: the SNIPER state lives in "
                        f"<output_dir>/sniper")
    if getattr(args, "use_sniper", None) is False:
        logging.info("use_sniper: false: dense training" +
                     (", sniper_conf ignored" if getattr(args, "sniper_conf", None) else ""))


def sniper_dir(output_dir: Path) -> Path:
    return Path(output_dir) / "sniper"


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
            "(snip|magnitude|random), allocation (global|uniform|erk), "
            "shuffle_within_tensor, prune_discriminator (GAN TTS). Empty: dense, exactly as the stock trainer.",
        )
        group.add_argument(
            "--use_sniper",
            type=str2bool,
            default=None,
            help="The authors' ESPnet fork's switch: false trains dense whatever sniper_conf "
            "says; true needs sniper_conf. Unset: SNIPER exactly when sniper_conf is given.",
        )
        group.add_argument(
            "--sniper_dir",
            type=str,
            default=None,
            help="Accepted for the authors' fork configs and ignored with a warning: the "
            "SNIPER state lives in <output_dir>/sniper.",
        )
        group.add_argument(
            "--val_teacher_forcing",
            type=str2bool,
            default=True,
            help="Accepted for the reference implementation's configs: true is stock "
            "ESPnet's validation; false is refused.",
        )
        group.add_argument(
            "--save_epochs",
            type=int,
            nargs="*",
            default=[],
            help="Epochs whose models are kept (as <output_dir>/saved_epochs/<N>epoch.pth) "
            "whatever keep_nbest_models removes.",
        )

    @classmethod
    def build_options(cls, args: argparse.Namespace) -> TrainerOptions:
        base = super().build_options(args)
        announce_sniper_layout(args)
        return cls.options_class(
            **{f.name: getattr(base, f.name) for f in dataclasses.fields(base)},
            sniper_config=requested_sniper_conf(args),
            save_epochs=tuple(getattr(args, "save_epochs", None) or ()),
        )

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
        controller = None
        if config is not None and config.ever_sparse:
            controller = cls._build_controller(
                config, model, optimizers, train_iter_factory, trainer_options,
                distributed_option,
            )
            trainer_options = cls.attach(trainer_options, controller)
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
            if controller is not None and distributed_option.distributed:
                check_ranks_agree("weights after training", model.state_dict())
        finally:
            if controller is not None:
                controller.detach()
        _keep_saved_epochs(trainer_options, up_to=trainer_options.max_epoch)

    @classmethod
    def resume(cls, checkpoint, model, reporter, *args, **kwargs) -> None:
        source = checkpoint_recovery.resume_source(Path(checkpoint), _is_writer())
        if source is None:
            return
        super().resume(source, model, reporter, *args, **kwargs)
        if _is_writer():
            checkpoint_recovery.repair_epoch_file(
                Path(checkpoint).parent, reporter.get_epoch(), model.state_dict()
            )

    @staticmethod
    def attach(options: TrainerOptions, controller: SniperController) -> TrainerOptions:
        """Options under which ``train_one_epoch`` drives ``controller``."""
        # ESPnet would add gradient noise to pruned entries too; the controller adds it.
        controller.set_gradient_noise(options.grad_noise)
        return dataclasses.replace(options, grad_noise=False, sniper_controller=controller)

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
        if reporter.get_epoch() > 1 and options.output_dir is not None and _is_writer():
            checkpoint_recovery.keep_spare(Path(options.output_dir))
            # ESPnet removes the models of earlier epochs at this epoch's end
            _keep_saved_epochs(options, up_to=reporter.get_epoch() - 1)
        controller = getattr(options, "sniper_controller", None)
        if controller is not None:
            epoch = reporter.get_epoch()
            schedule = controller.config.schedule
            target = schedule.sparsity_for_epoch(epoch)
            if controller.sparsity is None:
                # First epoch of this process: a fresh run's weights were never masked; a
                # resumed run's weights conform to the epoch the checkpoint ended.
                conform = schedule.sparsity_for_epoch(epoch - 1) if epoch > 1 else None
                controller.set_sparsity(target, weights_conform_to=conform)
            elif target != controller.sparsity:
                controller.set_sparsity(target, weights_conform_to=controller.sparsity)
            iterator = _SniperIterator(iterator, controller, reporter, options.accum_grad, scaler)
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

    @classmethod
    def _build_controller(
        cls,
        config: SniperConfig,
        model: torch.nn.Module,
        optimizers: Sequence[torch.optim.Optimizer],
        train_iter_factory,
        options: TrainerOptions,
        distributed_option: DistributedOption,
    ) -> SniperController:
        output_dir = Path(options.output_dir)
        path = sniper_dir(output_dir) / STATE_FILE
        device = "cuda" if options.ngpu > 0 else "cpu"
        params = cls.prunable(model, config)
        meta = {
            "params": {name: list(p.shape) for name, p in params.items()},
            "sniper_config": _describe(config),
        }
        resuming = options.resume and (output_dir / "checkpoint.pth").exists()
        if path.exists():
            state = SniperState.load(path, device)
            state.check_matches(path, meta)
            if not resuming:
                _check_initial_weights(path, state, params)
            logging.info(f"SNIPER: using the scores and initial values in {path}")
        elif resuming:
            raise SniperStateError(
                f"{output_dir / 'checkpoint.pth'} exists but {path} does not: this run's "
                f"masks cannot be known. Restore {path}, or start the run again in a new "
                f"output directory."
            )
        else:
            scores = cls._score(config, model, params, train_iter_factory, options, device,
                                distributed_option)
            init_values = {n: p.detach().clone() for n, p in params.items()}
            state = SniperState(scores=scores, init_values=init_values, meta=meta)
            if not distributed_option.distributed or distributed_option.dist_rank == 0:
                state.save(path)
                logging.info(f"SNIPER: saved scores and initial values to {path}")
            if distributed_option.distributed:
                torch.distributed.barrier()
        ranking = ranking_for(state.scores, config, weight_norm.direction_slices(model))
        return SniperController(
            config, params, ranking, state.init_values, owning_optimizers(optimizers, params),
            distributed=distributed_option.distributed,
        )

    @classmethod
    def _score(cls, config: SniperConfig, model: torch.nn.Module,
               params: Dict[str, torch.nn.Parameter], train_iter_factory,
               options: TrainerOptions, device: str,
               distributed_option: DistributedOption) -> Dict[str, torch.Tensor]:
        if config.scoring == "random":
            # equal scores: the ranking's seeded tie-break order alone makes the masks
            logging.info(f"SNIPER: random masks (seeded order, tie_break_seed "
                         f"{config.tie_break_seed}) instead of SNIP scores")
            return {name: torch.zeros_like(p, device="cpu") for name, p in params.items()}
        if config.scoring == "magnitude":
            logging.info("SNIPER: masks from the magnitudes of the initial weights")
            return {name: p.detach().abs().cpu() for name, p in params.items()}
        logging.info(
            f"SNIP scoring over {config.score_batches or 'all'} batches of epoch 1 "
            f"({sum(p.numel() for p in params.values())} prunable entries)"
        )
        return snip_scores(
            model,
            params,
            train_iter_factory.build_iter(1),
            num_batches=config.score_batches,
            device=device,
            distributed=distributed_option.distributed,
            turns=cls.scoring_turns(params, options),
        )


def owning_optimizers(
    optimizers: Sequence[torch.optim.Optimizer], params: Dict[str, torch.nn.Parameter]
) -> List[torch.optim.Optimizer]:
    """The optimizers that step some of ``params``: masks and learning-rate factors follow
    them, and any other optimizer (a GAN's discriminator's, by default) is left alone."""
    prunable = set(params.values())
    return [
        opt for opt in optimizers
        if any(p in prunable for g in opt.param_groups for p in g["params"])
    ]


def _is_writer() -> bool:
    """Whether this process writes the run's files (rank 0, or the only process)."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _keep_saved_epochs(options: TrainerOptions, up_to: int) -> None:
    """Hard-link the models of ``save_epochs`` (<= up_to) into <output_dir>/saved_epochs."""
    epochs = [e for e in getattr(options, "save_epochs", ()) if e <= up_to]
    if not epochs or options.output_dir is None or not _is_writer():
        return
    output_dir = Path(options.output_dir)
    kept = output_dir / "saved_epochs"
    for epoch in epochs:
        source, target = output_dir / f"{epoch}epoch.pth", kept / f"{epoch}epoch.pth"
        if target.exists() or not source.exists():
            continue
        kept.mkdir(exist_ok=True)
        tmp = kept / f".{epoch}epoch.pth.tmp"
        tmp.unlink(missing_ok=True)
        os.link(source, tmp)
        tmp.replace(target)
        logging.info(f"save_epochs: kept {target}")


def _describe(config: SniperConfig) -> Dict:
    """The config as plain data, for the state's record of what it was made with."""
    described = dataclasses.asdict(config)
    described["schedule"] = config.schedule.points
    described["exclude_params"] = list(config.exclude_params)
    return described


def _check_initial_weights(
    path: Path, state: SniperState, params: Dict[str, torch.nn.Parameter]
) -> None:
    for name, p in params.items():
        if not torch.equal(state.init_values[name].to(p.device), p.detach()):
            raise SniperStateError(
                f"{path} holds initial values for {name} that differ from this run's "
                f"initial weights (another seed or model config?). Its scores do not belong "
                f"to this model: use a new output directory, or delete {path.parent} to score "
                f"again."
            )


class _SniperIterator:
    """ESPnet's training iterator, reporting SNIPER's numbers on every iteration and
    arming the gradient masking and noise for the iterations that end an accumulation
    window."""

    def __init__(self, iterator, controller, reporter, accum_grad, scaler):
        self.iterator = iterator
        self.controller = controller
        self.reporter = reporter
        self.accum_grad = accum_grad
        self.scaler = scaler

    def __len__(self) -> int:
        return len(self.iterator)

    def __iter__(self) -> Iterator:
        stats = self.controller.stats()
        self.controller.audit_next_step = True
        for iiter, item in enumerate(self.iterator, 1):
            self.reporter.register(stats)
            # ESPnet steps on every accum_grad-th iteration
            self.controller.window_ends = iiter % self.accum_grad == 0
            if self.controller.noise_enabled:
                self.controller.noise_std = (
                    self._noise_std() if self.controller.window_ends else None
                )
            yield item
        self.controller.noise_std = None
        if not self.controller.window_ends:
            # an unfinished window's gradients stay for the next epoch's first step
            self.controller.mask_gradients()
        self.controller.window_ends = True

    def _noise_std(self) -> float:
        interval = self.reporter.get_total_count() // NOISE_DURATION + 1
        sigma = NOISE_ETA / interval**NOISE_SCALE_FACTOR
        # The hook runs before AMP unscales the gradients.
        return sigma * (float(self.scaler.get_scale()) if self.scaler is not None else 1.0)
