"""The step hooks' plan: the invariant that lets them skip masking the weights after a
step, the fallback for other optimizers, and bit-equality with the per-tensor update."""

import pytest
import torch

from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.controller import ZERO_PRESERVING
from espnet_sniper.lifecycle import Sniper

# a bias, a Linear weight and a Conv1d weight, named as ESPnet's FastSpeech2 names them
SHAPES = {
    "tts.encoder.encoders.0.feed_forward.w_1.bias": (12,),
    "tts.encoder.encoders.0.feed_forward.w_1.weight": (12, 8),
    "tts.decoder.encoders.1.feed_forward.w_1.weight": (10, 8, 3),
}

# each optimizer with the options that add update terms: momentum, weight decay, ...
OPTIMIZERS = {
    torch.optim.SGD: dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    torch.optim.Adam: dict(lr=0.1, weight_decay=0.01, amsgrad=True),
    torch.optim.AdamW: dict(lr=0.1, weight_decay=0.1),
    torch.optim.Adamax: dict(lr=0.1, weight_decay=0.01),
    torch.optim.NAdam: dict(lr=0.1, weight_decay=0.01, decoupled_weight_decay=True),
    torch.optim.RAdam: dict(lr=0.1, weight_decay=0.01),
    torch.optim.RMSprop: dict(lr=0.1, momentum=0.5, centered=True, weight_decay=0.01),
    torch.optim.Adagrad: dict(lr=0.1, weight_decay=0.01, initial_accumulator_value=0.1),
    torch.optim.Adadelta: dict(lr=1.0, weight_decay=0.01),
}


class DriftingSGD(torch.optim.SGD):
    """Not one of torch's own optimizers (a subclass): its step moves every entry."""

    @torch.no_grad()
    def step(self, closure=None):
        super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(0.5)


def _run(optimizer_class, options, conf, steps=4):
    torch.manual_seed(0)
    params = {n: torch.nn.Parameter(torch.randn(s)) for n, s in SHAPES.items()}
    g = torch.Generator().manual_seed(3)
    scores = {n: torch.rand(s, generator=g) for n, s in SHAPES.items()}
    init = {n: p.detach().clone() for n, p in params.items()}
    sniper = Sniper.from_scores(parse_sniper_conf(conf), params, scores, init)
    opt = optimizer_class(params.values(), **options)
    sniper.attach([opt])
    sniper.begin_epoch(1)
    for step in range(steps):
        opt.zero_grad()
        # a loss whose gradient reaches every entry, through backward (the hooks run)
        sum(((p - 0.3 * step) ** 2).sum() for p in params.values()).backward()
        opt.step()
    return sniper, params


@pytest.mark.parametrize("optimizer_class", list(OPTIMIZERS), ids=lambda c: c.__name__)
def test_torch_optimizers_keep_pruned_entries_at_zero_without_a_weight_mask(optimizer_class):
    assert optimizer_class in ZERO_PRESERVING
    sniper, params = _run(optimizer_class, OPTIMIZERS[optimizer_class],
                          {"schedule": {0: 40}})
    plan = sniper.controller._plans[sniper.controller.optimizers[0]]
    assert not plan.mask_after_step
    masks = sniper.schedule_masks.masks(40.0)
    for name, p in params.items():
        kept = masks[name]
        assert (~kept).any() and kept.any(), name
        assert torch.equal(p.detach()[~kept], torch.zeros(int((~kept).sum()))), name
        assert p.detach()[kept].ne(0).all(), name  # the kept entries did train


@pytest.mark.parametrize("scale_lr_by_param", [True, False])
def test_another_optimizer_has_its_weights_masked_after_each_step(scale_lr_by_param):
    # without learning-rate factors too: the step hooks exist for the masks alone
    sniper, params = _run(DriftingSGD, dict(lr=0.1), {"schedule": {0: 40},
                                                      "scale_lr_by_param": scale_lr_by_param})
    assert sniper.controller._plans[sniper.controller.optimizers[0]].mask_after_step
    masks = sniper.schedule_masks.masks(40.0)
    for name, p in params.items():
        assert not p.detach()[~masks[name]].any(), name


def _per_tensor_reference(optimizer_class, options, conf, steps=4):
    """The same run with each tensor updated on its own, as the hooks did before their
    plan: copy, step, lerp towards the copy by the tensor's factor, mask."""
    torch.manual_seed(0)
    params = {n: torch.nn.Parameter(torch.randn(s)) for n, s in SHAPES.items()}
    g = torch.Generator().manual_seed(3)
    scores = {n: torch.rand(s, generator=g) for n, s in SHAPES.items()}
    init = {n: p.detach().clone() for n, p in params.items()}
    sniper = Sniper.from_scores(parse_sniper_conf(conf), params, scores, init)
    opt = optimizer_class(params.values(), **options)
    sniper.attach([opt])
    sniper.begin_epoch(1)
    controller = sniper.controller
    factors, masks = dict(controller.lr_factors), controller.masks
    sniper.detach()
    for step in range(steps):
        opt.zero_grad()
        sum(((p - 0.3 * step) ** 2).sum() for p in params.values()).backward()
        with torch.no_grad():
            for name, p in params.items():
                p.grad.mul_(masks[name])
            before = {n: p.detach().clone() for n, p in params.items()}
        opt.step()
        with torch.no_grad():
            for name, p in params.items():
                if p in factors:
                    p.lerp_(before[name], 1.0 - factors[p])
                p.mul_(masks[name])
    return params


@pytest.mark.parametrize("allocation", ["global", "uniform"])
def test_the_planned_update_equals_the_per_tensor_one_bit_for_bit(allocation):
    # several distinct learning-rate factors (one per tensor density), capped at 2.2
    conf = {"schedule": {0: 45}, "allocation": allocation, "max_lr_scaling": 2.2}
    _, planned = _run(torch.optim.Adam, dict(lr=0.05), conf)
    reference = _per_tensor_reference(torch.optim.Adam, dict(lr=0.05), conf)
    for name in SHAPES:
        assert torch.equal(planned[name].detach(), reference[name].detach()), name


def test_the_weights_before_a_step_exist_only_during_the_step():
    """The copies the learning-rate scaling needs are made by the step's pre-hook and
    dropped by its post-hook: they never sit in memory through a forward and backward."""
    sniper, params = _run(torch.optim.Adam, dict(lr=0.1), {"schedule": {0: 40}}, steps=1)
    controller = sniper.controller
    opt = controller.optimizers[0]
    assert controller._plans[opt].lerps and not controller._before_step
    seen = []
    # runs after the controller's pre-hook (hooks run in the order they were registered)
    opt.register_step_pre_hook(lambda o, *_: seen.append(len(controller._before_step.get(o, []))))
    opt.zero_grad()
    sum((p ** 2).sum() for p in params.values()).backward()
    opt.step()
    assert seen == [len(controller._plans[opt].lerps)] and not controller._before_step
