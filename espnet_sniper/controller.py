"""The live side of SNIPER: masks, regrowth and learning-rate factors at the optimizer step.

One ``SniperController`` applies the masks of a run (given as ``ScheduleMasks`` by its
owner, lifecycle.py's ``Sniper``) and is called at three points, through PyTorch's own
hooks (nothing of ESPnet's is patched):

* after each gradient is accumulated (``register_post_accumulate_grad_hook``) on the
  micro-batch that ends an accumulation window: pruned entries' gradients are zeroed, so
  they take no part in ESPnet's gradient clipping norm;
  when gradient noise is on, the noise is added here, masked, instead of by ESPnet;
  Between that hook and the step, ESPnet only scales gradients (AMP's unscaling,
  clipping), so pruned entries never enter the optimizer's state: Adam's moments stay
  exactly zero;
* before ``optimizer.step()`` (step pre-hook): the weights are copied for the learning-rate
  scaling; under DDP the gradients are masked again, since DDP may write its averaged
  bucket into ``.grad`` after the accumulation hook;
* after ``optimizer.step()`` (step post-hook): while sparse, each tensor's update is
  scaled by its learning-rate factor (one ``lerp_`` towards the weights before the step).
  For optimizers whose update is proportional to the learning rate (SGD, Adam, AdamW, ...
  with any scheduler) this equals scaling that tensor's learning rate, without touching
  the scheduler or splitting parameter groups. Pruned entries stay 0.0: they enter the
  step with a zero weight, gradient and optimizer state, which torch's own optimizers
  (``ZERO_PRESERVING``) map to a zero update; the weights of any other optimizer are
  masked again after its step.

The step hooks work on lists of tensors with torch's ``_foreach_`` operations, planned
once per sparsity (``_StepPlan``), not tensor by tensor in Python.

A step that AMP's scaler or ESPnet's non-finite check skips never calls the optimizer, so
neither step hook runs and nothing changes. When the schedule reaches 0 % the hooks are
removed: dense epochs cost nothing.

Memory beyond dense training: a boolean mask per tensor on the training device and, from
the step's start to its end only, a copy of the weights whose learning rate is scaled (made
then, not kept: during the forward and backward passes, where the peak of training is, it
does not exist), and on the CPU how many of the schedule's sparsities prune each entry (1 byte per entry) and the
initial values of only the entries that can ever regrow (those pruned at its highest
sparsity).
"""

import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from espnet_sniper.config import SniperConfig
from espnet_sniper.kept_variance import kept_variance_factors
from espnet_sniper.rank_agreement import check_ranks_agree
from espnet_sniper.masks import Masks, ScheduleMasks, real_sparsity, tensor_density

# Optimizers whose step leaves an entry at exactly 0.0 when its weight, gradient and state
# are 0.0 (every update term is a product or quotient of those; weight decay multiplies
# the weight); tested in test_step_plan.py.
ZERO_PRESERVING = (
    torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.Adamax,
    torch.optim.NAdam, torch.optim.RAdam, torch.optim.RMSprop, torch.optim.Adagrad,
    torch.optim.Adadelta,
)


@dataclass
class _StepPlan:
    """What the step hooks do for one optimizer at the current sparsity."""

    masked: List[torch.nn.Parameter] = field(default_factory=list)
    masks: List[torch.Tensor] = field(default_factory=list)
    # (1 - learning-rate factor, the weights of that factor)
    lerps: List[Tuple[float, List[torch.nn.Parameter]]] = field(default_factory=list)
    mask_after_step: bool = False


class SniperController:
    def __init__(
        self,
        config: SniperConfig,
        params: Dict[str, torch.nn.Parameter],
        schedule_masks: ScheduleMasks,
        init_values: Dict[str, torch.Tensor],
        optimizers: Sequence[torch.optim.Optimizer],
        distributed: bool = False,
    ):
        self.config = config
        self.distributed = distributed
        self.params = params
        self.schedule_masks = schedule_masks
        self._regrowable_init = (
            self._regrowable_values(init_values) if config.restore_init_values else {}
        )
        self.optimizers = list(optimizers)
        self.sparsity: Optional[float] = None  # what the weights conform to
        self.masks: Optional[Masks] = None  # bool, True = kept; None while dense
        self.lr_factors: Dict[torch.nn.Parameter, float] = {}
        self._noise_std: Optional[float] = None  # set per iteration (begin_iteration)
        # False on the iterations that do not end an accumulation window: their gradients
        # are masked with the last one's, since only the sum reaches clipping and the step
        self._window_ends = True
        self._device_masks: Dict[torch.nn.Parameter, torch.Tensor] = {}
        # per optimizer, from its step's pre-hook to its post-hook: the weights of each
        # of its plan's lerps as they were before the step
        self._before_step: Dict[torch.optim.Optimizer, List[List[torch.Tensor]]] = {}
        self._plans: Dict[torch.optim.Optimizer, _StepPlan] = {}
        self._handles: List[torch.utils.hooks.RemovableHandle] = []
        self._noise_enabled = False
        # under DDP, the first step of each epoch counts what reaches it unmasked
        self._audit_next_step = False
        self._all_params = [
            p for opt in self.optimizers for g in opt.param_groups for p in g["params"]
        ]

    def _regrowable_values(self, init_values: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        # Masks are nested: whatever regrows was pruned at the highest sparsity.
        pruned = self.schedule_masks.ever_pruned()
        return {
            name: init_values[name].detach().cpu()[pruned[name]].clone() for name in self.params
        }

    def initial_values(self) -> Dict[str, torch.Tensor]:
        """Initial values where entries can regrow, 0.0 elsewhere (on the CPU)."""
        values = {}
        for name, pruned in self.schedule_masks.ever_pruned().items():
            compact = self._regrowable_init[name]
            values[name] = torch.zeros(pruned.shape, dtype=compact.dtype)
            values[name][pruned] = compact
        return values

    # ------------------------------------------------------------------ schedule
    def set_sparsity(self, sparsity: float, weights_conform_to: Optional[float]) -> None:
        """Move to ``sparsity`` %; the weights currently conform to ``weights_conform_to``.

        ``weights_conform_to`` is None for weights that were never masked (the start of a
        run). Masks are nested, so a lower sparsity only regrows entries: they restart
        from their initial values (or zero) with zeroed optimizer state. A higher one
        zeroes the newly pruned weights and their optimizer state. With ``kept_variance``,
        the first masking of never-masked weights also rescales each tensor's kept entries
        (kept_variance.py); regrown entries restart unscaled.
        """
        old_masks = (
            self.schedule_masks.masks(weights_conform_to) if weights_conform_to else None
        )
        new_masks = self.schedule_masks.masks(sparsity) if sparsity else None
        # Only the first masking of a fresh run: a resumed run's weights conform to a
        # sparsity (not None) and were rescaled before its checkpoint was written.
        factors = (
            self._kept_variance_factors(new_masks)
            if self.config.kept_variance is not None
            and weights_conform_to is None
            and new_masks is not None
            else {}
        )
        init = (
            self.initial_values()
            if old_masks is not None and self.config.restore_init_values
            else None
        )
        with torch.no_grad():
            for name, p in self.params.items():
                old = old_masks[name].to(p.device) if old_masks is not None else None
                new = new_masks[name].to(p.device) if new_masks is not None else None
                if old is not None:
                    regrown = old.logical_not() if new is None else new & ~old
                    if regrown.any():
                        fill = (
                            init[name].to(p.device, p.dtype)
                            if init is not None
                            else torch.zeros_like(p)
                        )
                        p.copy_(torch.where(regrown, fill, p))
                        self._reset_optimizer_state(p, regrown)
                if new is not None:
                    pruned = new.logical_not()
                    p.masked_fill_(pruned, 0.0)
                    self._reset_optimizer_state(p, pruned)
                if factors.get(name, 1.0) != 1.0:
                    p.mul_(factors[name])
        if self.distributed and new_masks is not None:
            check_ranks_agree(f"masks at {sparsity} %", new_masks)
        self.masks = new_masks
        self.sparsity = sparsity
        self._device_masks = (
            {p: new_masks[n].to(p.device) for n, p in self.params.items()}
            if new_masks is not None
            else {}
        )
        self._set_lr_factors()
        self._plans = {opt: self._plan_steps(opt) for opt in self.optimizers}
        self._install_hooks()
        logging.info(
            f"SNIPER: sparsity {sparsity} % (real {self.real_sparsity():.3f} % of the "
            f"prunable entries), regrown weights from "
            f"{'their initial values' if self.config.restore_init_values else 'zero'}"
        )

    def _kept_variance_factors(self, masks: Masks) -> Dict[str, float]:
        """The factors of each tensor's kept entries at the first masking, computed from
        the weights as they are (never masked: the initial values), logged."""
        factors = kept_variance_factors(
            {name: p.detach() for name, p in self.params.items()}, masks,
            self.config.kept_variance,
        )
        if self.distributed:
            check_ranks_agree("kept-variance factors",
                              {n: torch.tensor(f, dtype=torch.float64) for n, f in factors.items()})
        masked = [factors[n] for n, m in masks.items() if not bool(m.all())]
        if masked:
            logging.info(
                f"SNIPER: kept_variance {self.config.kept_variance}: kept entries of "
                f"{len(masked)} masked tensors rescaled by factors in "
                f"[{min(masked):.4f}, {max(masked):.4f}] "
                f"({sum(f == 1.0 for f in masked)} left at 1)"
            )
        return factors

    def _reset_optimizer_state(self, p: torch.nn.Parameter, where: torch.Tensor) -> None:
        for opt in self.optimizers:
            for value in opt.state.get(p, {}).values():
                if torch.is_tensor(value) and value.shape == p.shape:
                    value.masked_fill_(where, 0)

    def _set_lr_factors(self) -> None:
        cfg = self.config
        base = 1.0
        if cfg.scale_lr and self.sparsity:
            base = min(cfg.max_lr_scaling, 1.0 / (1.0 - self.sparsity / 100.0))
        factors = {p: base for p in self._all_params}
        if cfg.scale_lr_by_param and self.masks is not None:
            for name, p in self.params.items():
                density = tensor_density(self.masks[name])
                if density > 0:
                    factors[p] = min(cfg.max_lr_scaling, 1.0 / density)
        self.lr_factors = {p: f for p, f in factors.items() if f != 1.0}

    def _plan_steps(self, optimizer: torch.optim.Optimizer) -> _StepPlan:
        # the class itself, not a subclass: a subclass's step may add terms of its own
        plan = _StepPlan(mask_after_step=type(optimizer) not in ZERO_PRESERVING)
        by_factor: Dict[float, List[torch.nn.Parameter]] = {}
        for group in optimizer.param_groups:
            for p in group["params"]:
                mask = self._device_masks.get(p)
                if mask is not None:
                    plan.masked.append(p)
                    plan.masks.append(mask)
                factor = self.lr_factors.get(p)
                if factor is not None:
                    by_factor.setdefault(factor, []).append(p)
        # p <- before + f * (p - before), one lerp per distinct factor
        plan.lerps = [(1.0 - f, params) for f, params in by_factor.items()]
        return plan

    # ------------------------------------------------------------------ reporting
    def real_sparsity(self) -> float:
        return real_sparsity(self.masks) if self.masks is not None else 0.0

    def mean_lr_factor(self) -> float:
        total = sum(p.numel() for p in self._all_params)
        scaled = sum(p.numel() * (f - 1.0) for p, f in self.lr_factors.items())
        return 1.0 + scaled / total

    def stats(self) -> Dict[str, float]:
        return {
            "sniper_sparsity": float(self.sparsity or 0.0),
            "sniper_sparsity_real": self.real_sparsity(),
            "sniper_lr_factor": self.mean_lr_factor(),
        }

    # ------------------------------------------------------------------ iterations
    def begin_epoch_steps(self) -> None:
        """An epoch's iterations start: under DDP, audit its first step's gradients."""
        self._audit_next_step = True

    def begin_iteration(self, ends_window: bool, noise_std: Optional[float]) -> None:
        """The next backward ends an accumulation window (its step follows) or not, and
        adds gradient noise of ``noise_std`` (None: none)."""
        self._window_ends = ends_window
        self._noise_std = noise_std

    def end_epoch_steps(self) -> None:
        """An epoch's iterations are over."""
        self._noise_std = None
        if not self._window_ends:
            # an unfinished window's gradients stay for the next epoch's first step
            self.mask_gradients()
        self._window_ends = True

    @property
    def window_ends(self) -> bool:
        return self._window_ends

    # ------------------------------------------------------------------ hooks
    @property
    def noise_enabled(self) -> bool:
        return self._noise_enabled

    def set_gradient_noise(self, enabled: bool) -> None:
        """Take over ESPnet's gradient noise so that pruned entries get none."""
        self._noise_enabled = enabled
        self._install_hooks()

    def _install_hooks(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        grad_hooked = self._all_params if self._noise_enabled else list(self._device_masks)
        for p in grad_hooked:
            self._handles.append(p.register_post_accumulate_grad_hook(self._on_grad))
        if self._device_masks or self.lr_factors:
            for opt in self.optimizers:
                self._handles.append(opt.register_step_pre_hook(self._before_optimizer_step))
                self._handles.append(opt.register_step_post_hook(self._after_optimizer_step))

    def detach(self) -> None:
        """Remove every hook (the weights and optimizer state are left as they are)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    @torch.no_grad()
    def mask_gradients(self) -> None:
        for p, mask in self._device_masks.items():
            if p.grad is not None:
                p.grad.mul_(mask)

    @torch.no_grad()
    def _on_grad(self, p: torch.nn.Parameter) -> None:
        if self._noise_std is not None:
            p.grad.add_(torch.randn(p.grad.shape).to(p.grad.device), alpha=self._noise_std)
        mask = self._device_masks.get(p)
        if mask is not None and self._window_ends:
            p.grad.mul_(mask)

    @torch.no_grad()
    def _before_optimizer_step(self, optimizer: torch.optim.Optimizer, args, kwargs) -> None:
        if self._audit_next_step and self.distributed:
            self._audit_pruned_gradients(optimizer)
        plan = self._plans[optimizer]
        if self.distributed:
            # Already masked when accumulated; masked again because DDP may write its
            # averaged (unmasked) bucket into .grad after the accumulation hook.
            pairs = [(p.grad, m) for p, m in zip(plan.masked, plan.masks) if p.grad is not None]
            if pairs:
                torch._foreach_mul_([g for g, _ in pairs], [m for _, m in pairs])
        if plan.lerps:
            self._before_step[optimizer] = [[p.detach().clone() for p in params]
                                            for _, params in plan.lerps]

    def _audit_pruned_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        """Log how many pruned entries carry a gradient into this step (and so into
        ESPnet's clipping, which only scales): DDP's all-reduce must not undo the masking
        of the accumulation hook."""
        self._audit_next_step = False
        unmasked = sum(
            int(torch.count_nonzero(p.grad[~self._device_masks[p]]))
            for group in optimizer.param_groups for p in group["params"]
            if p in self._device_masks and p.grad is not None
        )
        per_rank = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(per_rank, unmasked)
        message = (f"SNIPER: pruned entries carrying a gradient into the first step of this "
                   f"epoch, per rank: {per_rank}")
        if any(per_rank):
            logging.warning(message + "; masked now, but ESPnet's clipping norm saw them")
        else:
            logging.info(message)

    @torch.no_grad()
    def _after_optimizer_step(self, optimizer: torch.optim.Optimizer, args, kwargs) -> None:
        plan = self._plans[optimizer]
        befores = self._before_step.pop(optimizer, [])
        for (weight, params), before in zip(plan.lerps, befores):
            # pruned entries are 0.0 before and after the step: the lerp keeps them 0.0
            torch._foreach_lerp_(params, before, weight)
        if plan.mask_after_step and plan.masked:
            torch._foreach_mul_(plan.masked, plan.masks)
