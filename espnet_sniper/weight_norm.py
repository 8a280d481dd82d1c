"""Weight-normalized layers (``torch.nn.utils.weight_norm``) as SNIPER sees them.

Such a layer trains ``<name>_g`` (a magnitude per slice along ``dim``) and ``<name>_v``
(the direction) and computes ``<name> = g * v / |v|`` per slice before each forward.
SNIPER prunes entries of ``v`` (a zero there is a zero of the effective weight) and never
``g`` (one number per slice: pruning it would silence a whole output channel). A slice of
``v`` pruned entirely would make ``|v| = 0`` and the layer's output NaN, so its best-ranked
entry is always kept. ESPnet's HiFi-GAN generators and discriminators (JETS, VITS) are
built of such layers.
"""

from typing import Dict, Optional, Set

import torch
from torch.nn.utils.weight_norm import WeightNorm


def _hooks(model: torch.nn.Module):
    for prefix, module in model.named_modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm):
                yield (f"{prefix}." if prefix else ""), hook


def magnitudes(model: torch.nn.Module) -> Set[str]:
    """Qualified names of the ``g`` parameters."""
    return {f"{prefix}{hook.name}_g" for prefix, hook in _hooks(model)}


def direction_slices(model: torch.nn.Module) -> Dict[str, Optional[int]]:
    """Qualified name of each ``v`` parameter -> the dim of its normalized slices (None:
    the whole tensor is one slice, which WeightNorm stores as dim -1)."""
    return {
        f"{prefix}{hook.name}_v": None if hook.dim == -1 else hook.dim
        for prefix, hook in _hooks(model)
    }
