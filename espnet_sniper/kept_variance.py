"""``kept_variance``: rescale the entries a mask keeps, once, when a fresh run is first masked.

A mask changes two things at once: which entries train, and how much of a tensor's initial
sum of squares (its share of a layer's initial output variance) is left. A random mask of
density d keeps d of it in expectation; SNIP and magnitude masks, which favour large
initial weights, keep nearly all of it (design.md section 9). To compare positions at equal
counts *and* equal variance, each masked tensor's kept entries are multiplied by one factor
so that their sum of squares becomes a chosen share of the whole tensor's initial one:

* ``random``: d times the whole tensor's (what a random mask of the same density keeps);
* ``dense``: all of it (a mask's variance restored to that of the dense network).

When: only at initialization, the first ``set_sparsity`` of a run whose weights were never
masked. A resumed run's weights come from its checkpoint, already rescaled, so nothing is
rescaled again; the factors are computed from the initial weights (the weights at that
moment, which ``Sniper.prepare`` checks equal the state's initial values) and the mask of
that first sparsity, in float64 on the CPU, so every rank computes the same factors.

Regrown entries restart from their own initial values, unscaled, as the paper regrows: the
rescale sets the starting point of the sparse network, and what regrows does so epochs
later into weights the optimizer has since moved, where the initial scale of the kept
entries no longer holds. Unscaled regrowth also keeps the ``random`` setting an imitation of
a random mask to the end (once every entry is back, a random mask's tensor would hold its
whole initial sum of squares; here the kept entries hold d of it, the regrown their own
share, about 1 - d), and leaves the saved state (the raw initial values) unchanged.

A tensor whose kept entries are all zero (a bias, zero at init) keeps factor 1. For the
direction of a weight-normalized layer the factor changes nothing the layer computes (the
direction is divided by its norm).
"""

from typing import Dict, Mapping

import torch

# kept_variance value -> the share of the whole tensor's sum of squares the kept entries get,
# as a function of the mask's density
TARGET_SHARES = {
    "random": lambda density: density,
    "dense": lambda density: 1.0,
}


def kept_variance_factors(
    values: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor], kept_variance: str
) -> Dict[str, float]:
    """One factor per tensor of ``masks`` (True = kept) for its kept entries of ``values``."""
    share = TARGET_SHARES[kept_variance]
    factors = {}
    for name, mask in masks.items():
        squares = values[name].detach().cpu().double().square()
        # The same reduction over the same shape for both sums: where the mask keeps every
        # entry the two are equal to the bit and the factor is exactly 1.
        total = float(squares.sum())
        kept = float((squares * mask).sum())
        density = float(mask.sum()) / mask.numel()
        factors[name] = (share(density) * total / kept) ** 0.5 if kept > 0 else 1.0
    return factors
