"""``sniper_conf``: the SNIPER section of an ESPnet training config, parsed and validated.

The keys and defaults are those of the reference implementation's ``SniperTraining.train``
so that a config written for it trains the same way here:

============================  ==========  ================================================
key                           default     meaning
============================  ==========  ================================================
``schedule``                  (required)  ``{completed_epochs: sparsity %}``; key 0 required
``decay``                     --          instead of ``schedule``: ``{kind: linear|cosine,
                                          initial: 40, epochs: 20}``
``max_param_sparsity``        100         per-tensor cap on the pruned share, in %
``exclude_params``            norm, embed name substrings that are never pruned
``restore_init_values``       true        regrown weights restart from their initial values
                                          (false: from zero)
``scale_lr_by_param``         true        per-tensor LR factor min(max_lr_scaling, 1/density)
``scale_lr``                  false       global LR factor min(max_lr_scaling, 1/(1-p)) from
                                          the nominal sparsity p (tensors not scaled by
                                          ``scale_lr_by_param`` get it)
``max_lr_scaling``            100         upper bound of any LR factor
``score_batches``             null        SNIP scoring batches; null = the whole first epoch
``scoring``                   snip        which entries are kept: ``snip`` (SNIP scores),
                                          ``magnitude`` (|initial weight|) or ``random`` (a
                                          random order seeded by ``tie_break_seed``)
``allocation``                global      how many entries each tensor keeps: ``global``
                                          (one ranking over all tensors, with the cap: the
                                          paper's), ``uniform`` (each tensor p %) or ``erk``
                                          (Erdos-Renyi-Kernel densities); see allocation.py
``shuffle_within_tensor``     false       a control: the allocation's per-tensor counts, at
                                          random positions (seeded by ``tie_break_seed``)
``tie_break_seed``            0           seed of the order among equal scores
``kept_variance``             null        at the first masking of a fresh run, each masked
                                          tensor's kept entries times one factor so that
                                          their sum of squares is: ``random``, the density
                                          times the whole tensor's (a random mask's);
                                          ``dense``, the whole tensor's; null: no rescaling
                                          (the paper's). Regrown entries restart unscaled.
                                          Needs a sparse first epoch. See kept_variance.py
``prune_discriminator``       false       GAN TTS only: prune the discriminator too (the
                                          generator is always prunable)
============================  ==========  ================================================

``sniper_dir`` and ``forward_mask`` of the reference are accepted and ignored with a
warning: the state lives in the experiment directory and masking happens at the
optimizer step.
"""

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

from espnet_sniper.allocation import ALLOCATIONS
from espnet_sniper.kept_variance import TARGET_SHARES
from espnet_sniper.schedule import ScheduleError, SparsitySchedule
from espnet_sniper.scoring import SCORERS

IGNORED_REFERENCE_KEYS = {
    "sniper_dir": "the SNIPER state lives in <output_dir>/sniper",
    "forward_mask": "masking is applied at the optimizer step, never in forward",
}


class SniperConfigError(ValueError):
    """An invalid ``sniper_conf``; the message names the key and what to do."""


@dataclass(frozen=True)
class SniperConfig:
    schedule: SparsitySchedule
    max_param_sparsity: float = 100.0
    exclude_params: Tuple[str, ...] = ("norm", "embed")
    restore_init_values: bool = True
    scale_lr_by_param: bool = True
    scale_lr: bool = False
    max_lr_scaling: float = 100.0
    score_batches: Optional[int] = None
    tie_break_seed: int = 0
    scoring: str = "snip"
    allocation: str = "global"
    shuffle_within_tensor: bool = False
    prune_discriminator: bool = False
    kept_variance: Optional[str] = None

    @property
    def ever_sparse(self) -> bool:
        return self.schedule.max_sparsity > 0


def _fail(key: str, problem: str) -> SniperConfigError:
    return SniperConfigError(f"sniper_conf.{key}: {problem}")


def _bool(conf: Mapping[str, Any], key: str, default: bool) -> bool:
    value = conf.get(key, default)
    if not isinstance(value, bool):
        raise _fail(key, f"must be true or false, got {value!r}")
    return value


def _number(conf: Mapping[str, Any], key: str, default: float) -> float:
    value = conf.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise _fail(key, f"must be a number, got {value!r}")
    return float(value)


def _int_or_none(conf: Mapping[str, Any], key: str, minimum: int) -> Optional[int]:
    value = conf.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(key, f"must be an integer >= {minimum} or null, got {value!r}")
    return value


def _schedule(conf: Mapping[str, Any]) -> SparsitySchedule:
    if "schedule" in conf and "decay" in conf:
        raise _fail("decay", "give either 'schedule' or 'decay', not both")
    if "decay" in conf:
        decay = conf["decay"]
        if not isinstance(decay, Mapping) or set(decay) != {"kind", "initial", "epochs"}:
            raise _fail(
                "decay", f"must be {{kind: linear|cosine, initial: <%>, epochs: <n>}}, got {decay!r}"
            )
        try:
            return SparsitySchedule.decay(decay["kind"], decay["initial"], decay["epochs"])
        except ScheduleError as e:
            raise _fail("decay", str(e)) from None
    if "schedule" not in conf:
        raise _fail("schedule", "is required, e.g. {0: 40, 5: 20, 10: 10, 20: 0}")
    try:
        return SparsitySchedule(conf["schedule"])
    except ScheduleError as e:
        raise _fail("schedule", str(e)) from None


def parse_sniper_conf(conf: Optional[Mapping[str, Any]]) -> Optional[SniperConfig]:
    """Validate ``sniper_conf``; ``None`` or ``{}`` means stock ESPnet training."""
    if conf is None or (isinstance(conf, Mapping) and len(conf) == 0):
        return None
    if not isinstance(conf, Mapping):
        raise SniperConfigError(f"sniper_conf must be a mapping, got {conf!r}")

    known = {
        "schedule", "decay", "max_param_sparsity", "exclude_params", "restore_init_values",
        "scale_lr_by_param", "scale_lr", "max_lr_scaling", "score_batches", "tie_break_seed",
        "scoring", "allocation", "shuffle_within_tensor", "prune_discriminator",
        "kept_variance",
    }
    for key in conf:
        if key in IGNORED_REFERENCE_KEYS:
            logging.warning(f"sniper_conf.{key} is ignored: {IGNORED_REFERENCE_KEYS[key]}")
        elif key not in known:
            raise _fail(str(key), f"unknown key; known keys are {sorted(known)}")

    schedule = _schedule(conf)

    cap = _number(conf, "max_param_sparsity", 100.0)
    if not 0 < cap <= 100:
        raise _fail("max_param_sparsity", f"must be in (0, 100], got {cap}")
    if cap < schedule.max_sparsity:
        raise _fail(
            "max_param_sparsity",
            f"{cap} % per tensor makes the scheduled sparsity {schedule.max_sparsity} % "
            f"unreachable; raise the cap or lower the schedule",
        )

    exclude = conf.get("exclude_params", ["norm", "embed"])
    if isinstance(exclude, str) or not isinstance(exclude, (list, tuple)) or not all(
        isinstance(e, str) and e for e in exclude
    ):
        raise _fail("exclude_params", f"must be a list of non-empty strings, got {exclude!r}")

    max_lr_scaling = _number(conf, "max_lr_scaling", 100.0)
    if max_lr_scaling < 1:
        raise _fail("max_lr_scaling", f"must be >= 1, got {max_lr_scaling}")

    seed = conf.get("tie_break_seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise _fail("tie_break_seed", f"must be a non-negative integer, got {seed!r}")

    scoring = conf.get("scoring", "snip")
    if scoring not in SCORERS:
        raise _fail("scoring", f"must be one of {SCORERS.names()}, got {scoring!r}")
    allocation = conf.get("allocation", "global")
    if allocation not in ALLOCATIONS:
        raise _fail("allocation", f"must be one of {ALLOCATIONS.names()}, got {allocation!r}")
    shuffle = _bool(conf, "shuffle_within_tensor", False)
    if shuffle and scoring == "random":
        raise _fail("shuffle_within_tensor", "shuffles scored positions; with scoring: random "
                    "they are random already. Remove one of the two keys.")
    kept_variance = _kept_variance(conf, schedule)

    return SniperConfig(
        schedule=schedule,
        max_param_sparsity=cap,
        exclude_params=tuple(exclude),
        restore_init_values=_bool(conf, "restore_init_values", True),
        scale_lr_by_param=_bool(conf, "scale_lr_by_param", True),
        scale_lr=_bool(conf, "scale_lr", False),
        max_lr_scaling=max_lr_scaling,
        score_batches=_int_or_none(conf, "score_batches", 1),
        tie_break_seed=seed,
        scoring=scoring,
        allocation=allocation,
        shuffle_within_tensor=shuffle,
        prune_discriminator=_bool(conf, "prune_discriminator", False),
        kept_variance=kept_variance,
    )


def _kept_variance(conf: Mapping[str, Any], schedule: SparsitySchedule) -> Optional[str]:
    value = conf.get("kept_variance")
    if value is None:
        return None
    allowed = ", ".join(["null", *TARGET_SHARES])
    if not isinstance(value, str) or value not in TARGET_SHARES:
        raise _fail("kept_variance", f"must be one of {allowed}, got {value!r}")
    # The rescale is of the initial weights; a dense first epoch would train them first.
    if schedule.sparsity_for_epoch(1) == 0:
        raise _fail("kept_variance", "rescales the initial weights when they are first "
                    "masked, but the schedule's first epoch is dense (sparsity 0 at key 0); "
                    "start the schedule sparse or remove kept_variance")
    return value
