"""From scores to nested pruning masks.

All prunable entries of the model are put in one strict total order: by score, and among
equal scores by a seeded random permutation. How many entries each tensor loses at
sparsity p is the allocation's (allocation.py): under the paper's ``global`` allocation,
the ``floor(p/100 * N)`` lowest entries of that order, except that a tensor that would lose
more than ``max_param_sparsity`` % of its entries loses only its own ``floor(cap/100 * n)``;
under ``uniform`` and ``erk``, a count per tensor. Which entries a tensor loses are its
lowest in that order, or, with ``shuffle_within_tensor``, in a seeded random order of its
own (a control: the allocation's counts at random positions).

Every mask therefore keeps "the top m entries of each tensor's order" for an m that only
grows as p falls, which makes the masks nested, deterministic and exact in their counts;
the seeded order also covers tensors whose scores are all equal (the reference's "random
subset" case). The best-ranked entry of each slice that weight normalization divides by
its norm is always kept (see weight_norm.py), which keeps that nesting: it only adds the
same entries to every mask.
"""

import math
from typing import Dict, Mapping, Optional, Sequence

import torch

from espnet_sniper import weight_norm
from espnet_sniper.allocation import ALLOCATIONS
from espnet_sniper.config import SniperConfig

Masks = Dict[str, torch.Tensor]


def is_prunable(name: str, exclude_params: Sequence[str]) -> bool:
    return not any(pattern in name for pattern in exclude_params)


def prunable_parameters(
    model: torch.nn.Module, exclude_params: Sequence[str]
) -> Dict[str, torch.nn.Parameter]:
    """Trainable parameters whose qualified name contains none of ``exclude_params``,
    except the magnitudes of weight-normalized layers (see weight_norm.py)."""
    never = weight_norm.magnitudes(model)
    return {
        name: p
        for name, p in model.named_parameters()
        if p.requires_grad and is_prunable(name, exclude_params) and name not in never
    }


class ScoreRanking:
    """The total order of all prunable entries, from which masks at any sparsity follow."""

    def __init__(self, scores: Mapping[str, torch.Tensor], tie_break_seed: int = 0,
                 kept_slices: Optional[Mapping[str, Optional[int]]] = None,
                 allocation: str = "global", shuffle_within_tensor: bool = False):
        """``kept_slices``: tensors (name -> dim, None for the whole tensor) of which every
        slice along dim keeps its best-ranked entry at any sparsity. ``allocation`` and
        ``shuffle_within_tensor``: as the ``sniper_conf`` keys (see the module's text)."""
        if not scores:
            raise ValueError("no prunable parameters to rank")
        self.allocation = allocation
        self._allocation = ALLOCATIONS.build(allocation)
        self.names = list(scores)
        self.shapes = {name: scores[name].shape for name in self.names}
        flat = torch.cat([scores[n].detach().reshape(-1).float().cpu() for n in self.names])
        if not torch.isfinite(flat).all():
            raise ValueError("scores contain NaN or infinity; the loss at init is broken")
        self.total = flat.numel()
        if self.total >= 2**32:
            raise ValueError(f"{self.total} prunable entries: the ranking's sort keys hold an "
                             f"entry's place in 32 bits")
        # int32 where it fits: the ranks live as long as the run (4 bytes per entry)
        index = torch.int32 if self.total < 2**31 else torch.int64
        generator = torch.Generator().manual_seed(tie_break_seed)
        # The seeded permutation breaks ties: among equal scores, the entry placed earlier
        # in it ranks lower. The generator is drawn from here and below in a fixed order,
        # which is what makes every mask reproducible from the seed.
        perm = torch.randperm(self.total, generator=generator)
        order = torch.argsort(_sort_keys(flat, perm))
        del flat, perm
        rank = torch.empty(self.total, dtype=index)
        rank[order] = torch.arange(self.total, dtype=index)
        del order
        self._ranks: Dict[str, torch.Tensor] = {}
        offset = 0
        for name in self.names:
            n = math.prod(self.shapes[name])
            self._ranks[name] = rank[offset : offset + n].view(self.shapes[name])
            offset += n
        # the order in which each tensor's own entries go: its slice of the global order,
        # or a random one of its own
        self._positions = self._ranks
        if shuffle_within_tensor:
            self._positions = {
                name: torch.randperm(ranks.numel(), generator=generator)
                .to(index).view(ranks.shape)
                for name, ranks in self._ranks.items()
            }
        self._always_kept = {
            name: _best_of_each_slice(self._positions[name], dim)
            for name, dim in (kept_slices or {}).items()
            if name in self._ranks
        }

    def pruned_counts(self, sparsity: float, max_param_sparsity: float = 100.0) -> Dict[str, int]:
        """How many entries each tensor loses at ``sparsity`` % (before kept slices)."""
        if not 0 <= sparsity < 100:
            raise ValueError(f"sparsity must be in [0, 100), got {sparsity}")
        return self._allocation.pruned_counts(self._ranks, sparsity, max_param_sparsity)

    def masks(self, sparsity: float, max_param_sparsity: float = 100.0) -> Masks:
        """Boolean keep-masks (True = kept) at ``sparsity`` %, with the per-tensor cap."""
        masks: Masks = {}
        for name, count in self.pruned_counts(sparsity, max_param_sparsity).items():
            positions = self._positions[name]
            if count == 0:
                keep = torch.ones(positions.shape, dtype=torch.bool)
            else:
                cutoff = torch.kthvalue(positions.reshape(-1), count).values
                keep = positions > cutoff
            if name in self._always_kept:
                keep = keep | self._always_kept[name]
            masks[name] = keep
        return masks


def ranking_for(scores: Mapping[str, torch.Tensor], config: SniperConfig,
                kept_slices: Mapping[str, Optional[int]]) -> ScoreRanking:
    """The ranking a run with ``config`` trains with: its tie-break seed, allocation and
    shuffling, and ``kept_slices`` (the model's weight-normalized slices,
    ``weight_norm.direction_slices``) kept."""
    return ScoreRanking(scores, config.tie_break_seed, kept_slices=kept_slices,
                        allocation=config.allocation,
                        shuffle_within_tensor=config.shuffle_within_tensor)


def _sort_keys(scores: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """One int64 per entry whose order is (score, place in ``perm``), all keys distinct.

    The high 32 bits are an order-preserving integer image of the float32 score, the low
    32 bits the entry's place in ``perm``: one sort of these gives the order of a stable
    sort by score of the entries laid out as ``perm``, without moving the scores.
    """
    # -0.0 and 0.0 are equal scores, but their bits differ; -0.0 + 0.0 is 0.0
    bits = (scores + 0.0).view(torch.int32)
    # Non-negative floats already order as their bits; a negative float's bits order the
    # wrong way round, so all but the sign bit are flipped. The result orders as the floats
    # do, over the whole of int32 (the usual "flip to uint32, subtract 2**31" in one step).
    flip = bits >> 31  # -1 where negative, else 0
    flip &= 0x7FFFFFFF
    key = (bits ^ flip).to(torch.int64)
    key <<= 32
    place = torch.empty_like(perm)
    place[perm] = torch.arange(perm.numel())
    key |= place
    return key


def _best_of_each_slice(ranks: torch.Tensor, dim: Optional[int]) -> torch.Tensor:
    """True at the best-ranked entry of each slice of ``ranks`` along ``dim``."""
    front = ranks.reshape(1, -1) if dim is None else ranks.movedim(dim, 0)
    flat = front.reshape(front.shape[0], -1)
    best = torch.zeros(flat.shape, dtype=torch.bool)
    best[torch.arange(flat.shape[0]), flat.argmax(dim=1)] = True
    best = best.reshape(front.shape)
    return best.reshape(ranks.shape) if dim is None else best.movedim(0, dim)


class ScheduleMasks:
    """The masks at a schedule's sparsities, in one byte per entry.

    Masks are nested, so an entry is fully described by how many of the schedule's
    sparsities prune it: kept at sparsity s exactly when that count is below the number
    of scheduled sparsities >= s. A run keeps this instead of the ranking (4 bytes per
    entry) for as long as it trains.
    """

    def __init__(self, ranking: ScoreRanking, sparsities: Sequence[float],
                 max_param_sparsity: float = 100.0):
        self.sparsities = tuple(sorted({float(s) for s in sparsities if s > 0}))
        dtype = torch.uint8 if len(self.sparsities) < 256 else torch.int16
        self._pruned_count = {
            name: torch.zeros(shape, dtype=dtype) for name, shape in ranking.shapes.items()
        }
        for sparsity in self.sparsities:
            for name, keep in ranking.masks(sparsity, max_param_sparsity).items():
                self._pruned_count[name].add_(keep.logical_not().to(dtype))

    def masks(self, sparsity: float) -> Masks:
        """Boolean keep-masks (True = kept) at one of the schedule's sparsities."""
        if float(sparsity) not in self.sparsities:
            raise ValueError(
                f"sparsity {sparsity} is not one of the schedule's {list(self.sparsities)}"
            )
        pruning = sum(1 for s in self.sparsities if s >= sparsity)
        return {name: count < pruning for name, count in self._pruned_count.items()}

    def ever_pruned(self) -> Masks:
        """Entries pruned at some point of the schedule (at its highest sparsity)."""
        return {name: count > 0 for name, count in self._pruned_count.items()}


def count_kept(masks: Masks) -> int:
    return sum(int(m.sum()) for m in masks.values())


def real_sparsity(masks: Masks) -> float:
    """Share of pruned entries among all masked entries, in %."""
    total = sum(m.numel() for m in masks.values())
    return 100.0 * (total - count_kept(masks)) / total if total else 0.0


def tensor_density(mask: torch.Tensor) -> float:
    return float(mask.sum()) / mask.numel()
