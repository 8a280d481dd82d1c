"""How many entries each tensor loses at a nominal sparsity (``sniper_conf.allocation``).

* ``global``: the paper's. One ranking over all prunable entries decides; a tensor never
  loses more than the cap (``max_param_sparsity``) and the surplus is not handed on, so
  the real sparsity can end below the nominal one.
* ``uniform``: every tensor loses ``floor(p/100 * n)`` of its ``n`` entries.
* ``erk``: Erdos-Renyi-Kernel densities (Evci et al. 2020, RigL): a tensor's density is
  proportional to the sum of its dimensions over their product, so small and thin tensors
  stay denser; capped at dense and at the per-tensor cap, scaled so that the model keeps
  ``1 - p/100`` of its prunable entries.

Both per-tensor allocations only grow a tensor's pruned count as ``p`` grows, so the masks
built from them are nested; each count is floored, so the real sparsity is the nominal
one less under one entry per tensor.

Each is an ``Allocation`` registered under its name in ``ALLOCATIONS``; a new one is one
more class there.
"""

import math
from abc import ABC, abstractmethod
from typing import Dict, Mapping, Sequence

import torch

from espnet_sniper.registry import Registry


class Allocation(ABC):
    """How many entries each tensor loses at a nominal sparsity."""

    @abstractmethod
    def pruned_counts(self, ranks: Mapping[str, torch.Tensor], sparsity: float,
                      max_param_sparsity: float) -> Dict[str, int]:
        """Entries pruned per tensor at ``sparsity`` %, given every prunable entry's place
        in the global order (``ranks``, 0 = lowest score; their shapes are the tensors')."""


ALLOCATIONS: Registry[Allocation] = Registry("allocation")


@ALLOCATIONS.register("global")
class GlobalAllocation(Allocation):
    def pruned_counts(self, ranks, sparsity, max_param_sparsity):
        total = sum(r.numel() for r in ranks.values())
        n_pruned = math.floor(sparsity * total / 100)
        return {
            name: min(int((r < n_pruned).sum()), math.floor(max_param_sparsity * r.numel() / 100))
            for name, r in ranks.items()
        }


@ALLOCATIONS.register("uniform")
class UniformAllocation(Allocation):
    def pruned_counts(self, ranks, sparsity, max_param_sparsity):
        return uniform_pruned({name: r.shape for name, r in ranks.items()}, sparsity)


@ALLOCATIONS.register("erk")
class ErkAllocation(Allocation):
    def pruned_counts(self, ranks, sparsity, max_param_sparsity):
        return erk_pruned({name: r.shape for name, r in ranks.items()}, sparsity,
                          max_param_sparsity)


# bisection steps for ERK's scale: 2**-200 of the starting interval is far below an entry
_ERK_STEPS = 200


def uniform_pruned(shapes: Mapping[str, Sequence[int]], sparsity: float) -> Dict[str, int]:
    """Entries pruned per tensor when every tensor loses ``sparsity`` % of its own."""
    return {name: math.floor(sparsity * math.prod(shape) / 100) for name, shape in shapes.items()}


def erk_raw_density(shape: Sequence[int]) -> float:
    """ERK's unscaled density: the sum of the dimensions over their product (1 for a
    vector or a scalar, which ERK therefore keeps as dense as anything)."""
    numel = math.prod(shape)
    return sum(shape) / numel if len(shape) > 1 else 1.0


def erk_densities(shapes: Mapping[str, Sequence[int]], sparsity: float,
                  max_param_sparsity: float = 100.0) -> Dict[str, float]:
    """Per-tensor densities ``clamp(eps * raw, 1 - cap, 1)`` with ``eps`` chosen so that
    the kept share of all entries is ``1 - sparsity/100``.

    The kept total is continuous and non-decreasing in ``eps``; a bisection from the same
    interval is monotone in its target, so a lower sparsity never lowers a density.
    """
    if not 0 <= sparsity <= max_param_sparsity:
        raise ValueError(f"sparsity {sparsity} is outside [0, max_param_sparsity "
                         f"{max_param_sparsity}]")
    floor = 1.0 - max_param_sparsity / 100.0
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    raw = {name: erk_raw_density(shape) for name, shape in shapes.items()}
    target = (1.0 - sparsity / 100.0) * sum(sizes.values())

    def density(name: str, eps: float) -> float:
        return min(1.0, max(floor, eps * raw[name]))

    def kept(eps: float) -> float:
        return sum(density(name, eps) * sizes[name] for name in sizes)

    low, high = 0.0, max(1.0 / r for r in raw.values())  # at high every tensor is dense
    for _ in range(_ERK_STEPS):
        mid = (low + high) / 2
        if kept(mid) < target:
            low = mid
        else:
            high = mid
    return {name: density(name, high) for name in sizes}


def erk_pruned(shapes: Mapping[str, Sequence[int]], sparsity: float,
               max_param_sparsity: float = 100.0) -> Dict[str, int]:
    """Entries pruned per tensor under ERK densities."""
    densities = erk_densities(shapes, sparsity, max_param_sparsity)
    pruned = {}
    for name, shape in shapes.items():
        numel = math.prod(shape)
        # floor of the pruned share, never past the cap (rounding of 1 - density)
        pruned[name] = min(math.floor((1.0 - densities[name]) * numel + 1e-9),
                           math.floor(max_param_sparsity * numel / 100))
    return pruned
