"""SNIP connection sensitivity at initialization.

``score = |w * sum_b dL_b/dw|``: the signed gradients of the training loss are summed over
the scoring batches (by letting ``backward`` accumulate them, so the model is never
rebuilt), multiplied by the initial weights, and the absolute value is taken last. Under
distributed training the gradient sums of all ranks are added before the product, so
every rank gets the same scores.
"""

import logging
import time
from typing import Dict, Iterable, Optional, Tuple

import humanfriendly
import torch

from espnet2.torch_utils.device_funcs import to_device

Batch = Tuple[list, Dict[str, torch.Tensor]]


def _loss(model: torch.nn.Module, utt_ids: list, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
    retval = model(**batch, utt_id=utt_ids)
    return retval["loss"] if isinstance(retval, dict) else retval[0]


def snip_scores(
    model: torch.nn.Module,
    params: Dict[str, torch.nn.Parameter],
    batches: Iterable[Batch],
    num_batches: Optional[int] = None,
    device: str = "cpu",
    distributed: bool = False,
) -> Dict[str, torch.Tensor]:
    """Score every entry of ``params`` over ``num_batches`` batches (all when None).

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

    model.zero_grad(set_to_none=True)
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    was_training = model.training
    model.train()
    start = time.perf_counter()
    log_every = max(1, (planned or 100) // 10)
    done = 0
    for utt_ids, batch in batches:
        if num_batches is not None and done >= num_batches:
            break
        _loss(model, utt_ids, to_device(batch, device)).backward()
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

    grad_sums = {
        name: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
        for name, p in params.items()
    }
    if distributed:
        for g in grad_sums.values():
            torch.distributed.all_reduce(g, op=torch.distributed.ReduceOp.SUM)
    scores = {name: (params[name].detach() * g).abs() for name, g in grad_sums.items()}
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
    model.train(was_training)
    logging.info(
        f"SNIP scoring done: {done} batches in "
        f"{humanfriendly.format_timespan(time.perf_counter() - start)}"
    )
    return scores
