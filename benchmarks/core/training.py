"""An epoch of ESPnet training driven from a benchmark, as ESPnet's trainer runs it."""

from typing import List, Sequence

import torch

from espnet2.train.distributed_utils import DistributedOption
from espnet2.train.reporter import Reporter


def train_epoch(trainer, model: torch.nn.Module, optimizers: Sequence[torch.optim.Optimizer],
                batches: Sequence, options, scaler=None, epoch: int = 1) -> None:
    """Epoch ``epoch`` over ``batches`` through ``trainer.train_one_epoch``, as ESPnet runs
    it (with ``scaler``, a ``torch.amp.GradScaler``: under AMP); a GAN trainer takes the
    generator's and the discriminator's optimizers."""
    # ESPnet adds utt_id to each batch dict it is given: hand it copies
    copies: List = [(ids, dict(batch)) for ids, batch in batches]
    reporter = Reporter()
    reporter.set_epoch(epoch)
    with reporter.observe("train") as sub:
        trainer.train_one_epoch(model=model, iterator=copies, optimizers=list(optimizers),
                                schedulers=[None] * len(optimizers), scaler=scaler, reporter=sub,
                                summary_writer=None, options=options,
                                distributed_option=DistributedOption(distributed=False))
