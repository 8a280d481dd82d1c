"""ESPnet's gradient noise, as its trainer computes it, for SNIPER to add itself.

With ``grad_noise: true`` ESPnet adds Gaussian noise to every gradient; SNIPER takes that
over so that pruned entries get none, and must add the same amount: ESPnet calls
``add_gradient_noise(model, total_count, duration=100, eta=1.0, scale_factor=0.55)``,
whose standard deviation decays in steps of ``duration`` iterations.
"""

from typing import Optional

import torch

DURATION, ETA, SCALE_FACTOR = 100, 1.0, 0.55


def noise_std(total_count: int, scaler: Optional[torch.amp.GradScaler] = None) -> float:
    """The noise's standard deviation at iteration ``total_count``, on the gradients as the
    accumulation hook sees them: still multiplied by AMP's loss scale."""
    interval = total_count // DURATION + 1
    sigma = ETA / interval**SCALE_FACTOR
    return sigma * (float(scaler.get_scale()) if scaler is not None else 1.0)
