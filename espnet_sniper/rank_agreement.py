"""Under DDP, checks that every rank holds the same tensors (masks, weights).

Each rank prunes on its own; nothing in DDP would notice ranks that pruned different
entries (a rank resumed from another state file, a non-deterministic scoring): their
averaged gradients would silently train a model that no rank holds. SNIPER therefore
compares a digest of its masks across ranks at every sparsity change, and of the weights
at the end of training, and stops when they differ.
"""

import logging
from typing import Mapping

import torch

from espnet_sniper.tensor_digest import tensor_digest


class RanksDisagree(RuntimeError):
    """Ranks hold different tensors where DDP needs them equal."""


def check_ranks_agree(what: str, tensors: Mapping[str, torch.Tensor]) -> str:
    """All-gather the digest of ``tensors`` and raise unless every rank has the same."""
    mine = tensor_digest(tensors)
    dist = torch.distributed
    digests = [None] * dist.get_world_size()
    dist.all_gather_object(digests, mine)
    if len(set(digests)) != 1:
        differing = [r for r, d in enumerate(digests) if d != digests[0]]
        raise RanksDisagree(
            f"SNIPER: {what} differ between ranks (ranks {differing} differ from rank 0). "
            f"Every rank must train from the same state: check that all ranks read the same "
            f"<output_dir>/sniper/state.pth and checkpoint.pth (a shared file system)."
        )
    logging.info(f"SNIPER: {what} agree on all {len(digests)} ranks (sha256 {mine[:16]})")
    return mine
