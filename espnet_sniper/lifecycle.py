"""``Sniper``: one SNIPER run, from its scores to its last epoch.

The trainer drives a run through these calls, whatever ESPnet trainer it is:

* ``Sniper.prepare``: the run's state (scores and initial values) is loaded from
  ``<output_dir>/sniper/state.pth``, or scored and saved there; the scores are ranked and
  the masks of every sparsity of the schedule built (``ScheduleMasks``);
* ``attach``: hooks into the optimizers that step prunable parameters (controller.py),
  and ``take_over_gradient_noise`` when ESPnet would add gradient noise;
* ``begin_epoch``: moves along the schedule at an epoch's start;
* ``epoch_iterations``: ESPnet's training iterator, wrapped so that each iteration reports
  SNIPER's numbers and tells the hooks whether its backward ends an accumulation window;
* ``detach``: removes the hooks.
"""

import dataclasses
import logging
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence

import torch

from espnet2.train.reporter import SubReporter
from espnet_sniper import gradient_noise, weight_norm
from espnet_sniper.config import SniperConfig
from espnet_sniper.controller import SniperController
from espnet_sniper.fileio import is_writer
from espnet_sniper.masks import ScheduleMasks, ranking_for
from espnet_sniper.scoring import SCORERS, ScoringInputs
from espnet_sniper.snip import Batch, ScoringTurn
from espnet_sniper.state import STATE_FILE, SniperState, SniperStateError

STATE_DIR = "sniper"


def state_path(output_dir: Path) -> Path:
    """Where a run in ``output_dir`` keeps its SNIPER state."""
    return Path(output_dir) / STATE_DIR / STATE_FILE


class Sniper:
    """The masks of one run and what moves them: built by ``prepare`` (or ``from_scores``),
    then ``attach``, ``begin_epoch`` each epoch, ``epoch_iterations``, ``detach``."""

    def __init__(
        self,
        config: SniperConfig,
        params: Dict[str, torch.nn.Parameter],
        schedule_masks: ScheduleMasks,
        init_values: Dict[str, torch.Tensor],
        distributed: bool = False,
    ):
        self.config = config
        self.params = params
        self.schedule_masks = schedule_masks
        self.distributed = distributed
        # handed to the controller at attach, which keeps only those that can regrow
        self._init_values: Optional[Dict[str, torch.Tensor]] = init_values
        self._controller: Optional[SniperController] = None

    @classmethod
    def from_scores(
        cls,
        config: SniperConfig,
        params: Dict[str, torch.nn.Parameter],
        scores: Mapping[str, torch.Tensor],
        init_values: Dict[str, torch.Tensor],
        kept_slices: Optional[Mapping[str, Optional[int]]] = None,
        distributed: bool = False,
    ) -> "Sniper":
        """A run whose entries are ranked by ``scores``; ``kept_slices`` as in
        ``ScoreRanking`` (a model's: ``weight_norm.direction_slices``)."""
        ranking = ranking_for(scores, config, kept_slices or {})
        schedule_masks = ScheduleMasks(
            ranking, config.schedule.sparsities(), config.max_param_sparsity
        )
        return cls(config, params, schedule_masks, init_values, distributed)

    @classmethod
    def prepare(
        cls,
        config: SniperConfig,
        model: torch.nn.Module,
        params: Dict[str, torch.nn.Parameter],
        output_dir: Path,
        batches: Callable[[], Iterable[Batch]],
        turns: Sequence[ScoringTurn],
        device: str = "cpu",
        resuming: bool = False,
        distributed: bool = False,
    ) -> "Sniper":
        """The run in ``output_dir``: its saved state, or a new one scored by
        ``config.scoring`` (over ``batches()`` with ``turns``, when it looks at data).
        ``resuming``: ESPnet resumes from a checkpoint, so the state must exist and the
        weights are no longer the initial ones."""
        path = state_path(output_dir)
        meta = {
            "params": {name: list(p.shape) for name, p in params.items()},
            "sniper_config": _describe(config),
        }
        if path.exists():
            state = SniperState.load(path, device)
            state.check_matches(path, meta)
            if not resuming:
                _check_initial_weights(path, state, params)
            logging.info(f"SNIPER: using the scores and initial values in {path}")
        elif resuming:
            raise SniperStateError(
                f"{Path(output_dir) / 'checkpoint.pth'} exists but {path} does not: this "
                f"run's masks cannot be known. Restore {path}, or start the run again in a "
                f"new output directory."
            )
        else:
            scores = SCORERS.build(config.scoring).score(ScoringInputs(
                model=model, params=params, batches=batches, turns=turns,
                num_batches=config.score_batches, device=device, distributed=distributed,
                tie_break_seed=config.tie_break_seed,
            ))
            init_values = {n: p.detach().clone() for n, p in params.items()}
            state = SniperState(scores=scores, init_values=init_values, meta=meta)
            if is_writer():
                state.save(path)
                logging.info(f"SNIPER: saved scores and initial values to {path}")
            if distributed:
                torch.distributed.barrier()
        return cls.from_scores(config, params, state.scores, state.init_values,
                               weight_norm.direction_slices(model), distributed)

    # ------------------------------------------------------------------ hooks
    def attach(self, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        """Hook into the optimizers that step prunable parameters (any other, a GAN's
        discriminator's by default, is left alone)."""
        if self._init_values is None:
            raise RuntimeError("this SNIPER run is attached already")
        self._controller = SniperController(
            self.config, self.params, self.schedule_masks, self._init_values,
            owning_optimizers(optimizers, self.params), distributed=self.distributed,
        )
        self._init_values = None

    def take_over_gradient_noise(self, enabled: bool) -> None:
        """Add ESPnet's gradient noise (``grad_noise``) here, masked, so that pruned
        entries get none; ESPnet's own must then be off."""
        self.controller.set_gradient_noise(enabled)

    @property
    def controller(self) -> SniperController:
        """What applies the masks at the optimizer step (after ``attach``)."""
        if self._controller is None:
            raise RuntimeError("attach the SNIPER run to its optimizers first")
        return self._controller

    def detach(self) -> None:
        """Remove every hook; the weights and optimizer state are left as they are."""
        if self._controller is not None:
            self._controller.detach()

    # ------------------------------------------------------------------ epochs
    def begin_epoch(self, epoch: int) -> None:
        """Move to the sparsity of ESPnet epoch ``epoch`` (1-based)."""
        controller = self.controller
        schedule = self.config.schedule
        target = schedule.sparsity_for_epoch(epoch)
        if controller.sparsity is None:
            # First epoch of this process: a fresh run's weights were never masked; a
            # resumed run's weights conform to the epoch the checkpoint ended.
            conform = schedule.sparsity_for_epoch(epoch - 1) if epoch > 1 else None
            controller.set_sparsity(target, weights_conform_to=conform)
        elif target != controller.sparsity:
            controller.set_sparsity(target, weights_conform_to=controller.sparsity)

    def epoch_iterations(self, iterator: Iterable, reporter: SubReporter, accum_grad: int,
                         scaler: Optional[torch.amp.GradScaler]) -> "EpochIterations":
        """ESPnet's training iterator of this epoch, as SNIPER's hooks need it driven."""
        return EpochIterations(iterator, self.controller, reporter, accum_grad, scaler)


class EpochIterations:
    """ESPnet's training iterator, reporting SNIPER's numbers on every iteration and
    telling the controller which iterations end an accumulation window (ESPnet steps on
    every ``accum_grad``-th) and what gradient noise their backward adds."""

    def __init__(self, iterator: Iterable, controller: SniperController,
                 reporter: SubReporter, accum_grad: int,
                 scaler: Optional[torch.amp.GradScaler]):
        self.iterator = iterator
        self.controller = controller
        self.reporter = reporter
        self.accum_grad = accum_grad
        self.scaler = scaler

    def __len__(self) -> int:
        return len(self.iterator)

    def __iter__(self) -> Iterator:
        stats = self.controller.stats()
        self.controller.begin_epoch_steps()
        for iiter, item in enumerate(self.iterator, 1):
            self.reporter.register(stats)
            ends_window = iiter % self.accum_grad == 0
            noise = None
            if self.controller.noise_enabled and ends_window:
                noise = gradient_noise.noise_std(self.reporter.get_total_count(), self.scaler)
            self.controller.begin_iteration(ends_window, noise)
            yield item
        self.controller.end_epoch_steps()


def owning_optimizers(
    optimizers: Sequence[torch.optim.Optimizer], params: Dict[str, torch.nn.Parameter]
) -> List[torch.optim.Optimizer]:
    """The optimizers that step some of ``params``."""
    prunable = set(params.values())
    return [
        opt for opt in optimizers
        if any(p in prunable for g in opt.param_groups for p in g["params"])
    ]


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
