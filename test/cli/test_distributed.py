"""Under DDP every rank must prune the same entries: scores are reduced before ranking.

Two real processes on the gloo backend, each scoring on its own batches.
"""

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from espnet2.train.distributed_utils import free_port
from espnet_sniper.masks import ScoreRanking, prunable_parameters
from espnet_sniper.snip import snip_scores


class Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(5, 8)
        self.b = torch.nn.Linear(8, 2)

    def forward(self, x, y, **kwargs):
        loss = ((self.b(torch.relu(self.a(x))) - y) ** 2).mean()
        return loss, {}, torch.tensor(1)


def rank_batches(rank):
    g = torch.Generator().manual_seed(100 + rank)
    return [([f"r{rank}b{i}"], {"x": torch.randn(3, 5, generator=g),
                                 "y": torch.randn(3, 2, generator=g)}) for i in range(2)]


# every allocation, and shuffled positions: all must agree across ranks
VARIANTS = [("global", False), ("uniform", False), ("erk", False), ("uniform", True)]


def all_masks(scores):
    """The 40 % masks of every variant, as one flat 0/1 list."""
    return torch.cat([
        m.reshape(-1)
        for allocation, shuffle in VARIANTS
        for m in ScoreRanking(scores, tie_break_seed=3, allocation=allocation,
                              shuffle_within_tensor=shuffle).masks(40).values()
    ]).to(torch.uint8)


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)  # ESPnet seeds every rank alike: same initial weights
    model = Toy()
    params = prunable_parameters(model, ["norm"])
    scores = snip_scores(model, params, rank_batches(rank), distributed=True)
    flat = all_masks(scores)
    gathered = [torch.empty_like(flat) for _ in range(2)]
    dist.all_gather(gathered, flat)
    out[rank] = [g.tolist() for g in gathered]
    dist.destroy_process_group()


def test_two_gloo_ranks_build_identical_masks_from_all_their_batches():
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(free_port(), out), nprocs=2, join=True)
    rank0_view, rank1_view = out[0], out[1]
    assert rank0_view[0] == rank0_view[1] == rank1_view[0]

    # ... and they are the masks of one process scoring both ranks' batches
    torch.manual_seed(0)
    model = Toy()
    params = prunable_parameters(model, ["norm"])
    scores = snip_scores(model, params, rank_batches(0) + rank_batches(1))
    single = all_masks(scores).tolist()
    assert rank0_view[0] == single

    # a rank scoring only its own batches would disagree: the reduction matters
    torch.manual_seed(0)
    model = Toy()
    params = prunable_parameters(model, ["norm"])
    assert all_masks(snip_scores(model, params, rank_batches(1))).tolist() != single
