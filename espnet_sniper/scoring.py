"""Which entries a run keeps: the scorers of ``sniper_conf.scoring``.

A scorer gives every prunable entry a score (higher = kept longer); the ranking
(masks.py) turns scores into masks. Each is a ``Scorer`` registered under its name in
``SCORERS``; a new one is one more class here.

* ``snip``: SNIP connection sensitivity over the first epoch's batches (snip.py).
* ``magnitude``: the magnitude of each initial weight.
* ``random``: all scores equal, so the ranking's seeded tie-break order alone decides.
"""

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Optional, Sequence

import torch

from espnet_sniper.registry import Registry
from espnet_sniper.snip import Batch, ScoringTurn, snip_scores


@dataclass(frozen=True)
class ScoringInputs:
    """What a scorer may look at. ``batches`` builds the first epoch's iterator; it is
    called only by scorers that need data."""

    model: torch.nn.Module
    params: Dict[str, torch.nn.Parameter]
    batches: Callable[[], Iterable[Batch]]
    turns: Sequence[ScoringTurn]
    num_batches: Optional[int] = None
    device: str = "cpu"
    distributed: bool = False
    tie_break_seed: int = 0


class Scorer(ABC):
    @abstractmethod
    def score(self, inputs: ScoringInputs) -> Dict[str, torch.Tensor]:
        """A score per entry of each of ``inputs.params``, by name."""


SCORERS: Registry[Scorer] = Registry("scoring")


@SCORERS.register("snip")
class SnipScorer(Scorer):
    def score(self, inputs):
        logging.info(
            f"SNIP scoring over {inputs.num_batches or 'all'} batches of epoch 1 "
            f"({sum(p.numel() for p in inputs.params.values())} prunable entries)"
        )
        return snip_scores(
            inputs.model,
            inputs.params,
            inputs.batches(),
            num_batches=inputs.num_batches,
            device=inputs.device,
            distributed=inputs.distributed,
            turns=inputs.turns,
        )


@SCORERS.register("magnitude")
class MagnitudeScorer(Scorer):
    def score(self, inputs):
        logging.info("SNIPER: masks from the magnitudes of the initial weights")
        return {name: p.detach().abs().cpu() for name, p in inputs.params.items()}


@SCORERS.register("random")
class RandomScorer(Scorer):
    def score(self, inputs):
        logging.info(f"SNIPER: random masks (seeded order, tie_break_seed "
                     f"{inputs.tie_break_seed}) instead of SNIP scores")
        return {name: torch.zeros_like(p, device="cpu") for name, p in inputs.params.items()}
