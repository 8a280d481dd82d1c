"""SNIP connection sensitivity at initialization.

``score = |w * sum_b dL_b/dw|``: the signed gradients of the training loss are summed over
the scoring batches, multiplied by the initial weights, and the absolute value is taken
last. Under distributed training the gradient sums of all ranks are added before the
product, so every rank gets the same scores.

A model trained with one loss has one scoring turn per batch. A GAN has a turn per
optimizer, as in its training: the generator's loss scores the generator's parameters,
the discriminator's loss the discriminator's, and each turn's gradients are taken before
the next turn's backward adds to them (the generator's loss reaches the discriminator).
A turn that scores nothing still runs when the model needs it: ESPnet's GAN TTS models
cache the generator's outputs in one turn and consume the cache in the other.
"""

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

import humanfriendly
import torch

from espnet2.torch_utils.device_funcs import to_device

Batch = Tuple[list, Dict[str, torch.Tensor]]


@dataclass(frozen=True)
class ScoringTurn:
    """One forward and backward per batch, whose gradients score the parameters ``names``."""

    names: Tuple[str, ...]
    forward_kwargs: Mapping[str, Any] = field(default_factory=dict)


def _loss(model: torch.nn.Module, utt_ids: list, batch: Dict[str, torch.Tensor],
          forward_kwargs: Mapping[str, Any]) -> torch.Tensor:
    retval = model(**batch, utt_id=utt_ids, **forward_kwargs)
    return retval["loss"] if isinstance(retval, dict) else retval[0]


def snip_scores(
    model: torch.nn.Module,
    params: Dict[str, torch.nn.Parameter],
    batches: Iterable[Batch],
    num_batches: Optional[int] = None,
    device: str = "cpu",
    distributed: bool = False,
    turns: Optional[Sequence[ScoringTurn]] = None,
) -> Dict[str, torch.Tensor]:
    """Score every entry of ``params`` over ``num_batches`` batches (all when None).

    ``turns`` (default: one turn of the model's loss scoring all of ``params``) must
    together score each of ``params`` exactly once.

    The model is left as it was: weights, buffers (the forward passes in training mode
    would move BatchNorm's running statistics: a run that resumes after the scores were
    saved, and so does not score again, would then differ from one that did) and no
    gradients.
    """
    try:
        planned = len(batches)  # type: ignore[arg-type]
    except TypeError:
        planned = None
    if num_batches is not None:
        planned = num_batches if planned is None else min(planned, num_batches)

    turns = list(turns) if turns is not None else [ScoringTurn(tuple(params))]
    scored = [name for turn in turns for name in turn.names]
    if sorted(scored) != sorted(params):
        raise ValueError("the scoring turns must score each prunable parameter once")
    model.zero_grad(set_to_none=True)
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    was_training = model.training
    model.train()
    start = time.perf_counter()
    log_every = max(1, (planned or 100) // 10)
    done = 0
    grad_sums = {name: torch.zeros_like(p) for name, p in params.items()}
    for utt_ids, batch in batches:
        if num_batches is not None and done >= num_batches:
            break
        batch = to_device(batch, device)
        for turn in turns:
            _loss(model, utt_ids, batch, turn.forward_kwargs).backward()
            _add_gradients(grad_sums, params, turn.names)
            model.zero_grad(set_to_none=True)
        done += 1
        if done % log_every == 0 or done == planned:
            elapsed = time.perf_counter() - start
            left = (
                humanfriendly.format_timespan(elapsed / done * (planned - done))
                if planned
                else "unknown"
            )
            logging.info(f"SNIP scoring: {done}/{planned or '?'} batches, time left {left}")
    if done == 0:
        raise RuntimeError("SNIP scoring got no batches from the training iterator")

    if distributed:
        for g in grad_sums.values():
            torch.distributed.all_reduce(g, op=torch.distributed.ReduceOp.SUM)
    scores = {name: (params[name].detach() * g).abs() for name, g in grad_sums.items()}
    with torch.no_grad():
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
    model.train(was_training)
    logging.info(
        f"SNIP scoring done: {done} batches in "
        f"{humanfriendly.format_timespan(time.perf_counter() - start)}"
    )
    return scores


@torch.no_grad()
def _add_gradients(sums: Dict[str, torch.Tensor], params: Dict[str, torch.nn.Parameter],
                   names: Sequence[str]) -> None:
    for name in names:
        grad = params[name].grad
        if grad is not None:
            sums[name].add_(grad)
