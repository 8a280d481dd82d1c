"""Masking at the optimizer step, driven by ESPnet's own Trainer.train_one_epoch.

A toy AbsESPnetModel keeps these tests in-process and fast; everything around the model
(the epoch loop body, accum_grad, clipping, gradient noise, the non-finite skip, AMP's
scaler) is ESPnet's real code.
"""

import dataclasses
import logging
import math

import pytest
import torch

from espnet2.train.abs_espnet_model import AbsESPnetModel
from espnet2.train.distributed_utils import DistributedOption
from espnet2.train.reporter import Reporter
from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.lifecycle import Sniper
from espnet_sniper.masks import ScoreRanking, prunable_parameters
from espnet_sniper.tasks.tts import SniperTTSTask
from espnet_sniper.trainer import SniperTrainer


class ToyModel(AbsESPnetModel):
    def __init__(self):
        super().__init__()
        self.lin1 = torch.nn.Linear(6, 16)
        self.norm = torch.nn.LayerNorm(16)
        self.lin2 = torch.nn.Linear(16, 3)

    def forward(self, x, y, **kwargs):
        loss = ((self.lin2(torch.tanh(self.norm(self.lin1(x)))) - y) ** 2).mean()
        return loss, {"loss": loss.detach()}, torch.tensor(x.shape[0])

    def collect_feats(self, **kwargs):
        return {}


class CpuGradScaler(torch.cuda.amp.GradScaler):
    """A real GradScaler that works on the CPU, of the type ESPnet's trainer expects."""

    def __init__(self, init_scale=2.0**10):
        torch.amp.GradScaler.__init__(self, "cpu", init_scale=init_scale)


def batches(n, seed=0, poison=None):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        x = torch.randn(4, 6, generator=g)
        if poison == i:
            x[0, 0] = math.inf
        out.append(([f"u{i}_{j}" for j in range(4)], {"x": x, "y": torch.randn(4, 3, generator=g)}))
    return out


def options(**changes):
    args = SniperTTSTask.get_parser().parse_args([])
    opts = SniperTrainer.build_options(args)
    base = dict(ngpu=0, accum_grad=1, grad_clip=1.0, grad_noise=False, use_amp=False,
                log_interval=1000, use_wandb=False)
    base.update(changes)
    return dataclasses.replace(opts, **base)


def setup(conf=None, seed=0, lr=0.01):
    torch.manual_seed(seed)
    model = ToyModel()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    config = parse_sniper_conf(conf or {"schedule": {0: 50}, "max_param_sparsity": 90})
    params = prunable_parameters(model, config.exclude_params)
    g = torch.Generator().manual_seed(1)
    scores = {n: torch.rand(p.shape, generator=g) for n, p in params.items()}
    init = {n: p.detach().clone() for n, p in params.items()}
    sniper = Sniper.from_scores(config, params, scores, init)
    sniper.attach([opt])
    return model, opt, sniper


def train_epoch(model, opt, opts, data, scaler=None, epoch=1, scheduler=None):
    reporter = Reporter()
    reporter.set_epoch(epoch)
    with reporter.observe("train") as sub:
        SniperTrainer.train_one_epoch(
            model=model, iterator=data, optimizers=[opt], schedulers=[scheduler], scaler=scaler,
            reporter=sub, summary_writer=None, options=opts,
            distributed_option=DistributedOption(distributed=False),
        )
    return reporter, sub


def pruned(controller):
    return {controller.params[n]: ~m for n, m in controller.masks.items()}


def assert_pruned_are_zero(controller, opt):
    for p, where in pruned(controller).items():
        assert torch.count_nonzero(p.detach()[where]) == 0
        for key in ("exp_avg", "exp_avg_sq"):
            if p in opt.state:
                assert torch.count_nonzero(opt.state[p][key][where]) == 0


@pytest.mark.parametrize("accum_grad", [1, 3])
def test_clipping_sees_only_kept_entries_and_pruned_stay_zero(accum_grad):
    # without learning-rate scaling, the reference below is plain Adam
    model, opt, sniper = setup(
        {"schedule": {0: 50}, "max_param_sparsity": 90, "scale_lr_by_param": False}
    )
    controller = sniper.controller
    opts = SniperTrainer.attach(options(accum_grad=accum_grad, grad_clip=0.05), sniper)
    data = batches(6)
    _, sub = train_epoch(model, opt, opts, data)
    assert_pruned_are_zero(controller, opt)

    # The same steps by hand: masked gradients, clipped by the norm of the kept entries.
    torch.manual_seed(0)
    ref = ToyModel()
    ref_opt = torch.optim.Adam(ref.parameters(), lr=0.01)
    masks = {p: controller.masks[n].float()
             for n, p in prunable_parameters(ref, ("norm", "embed")).items()}
    with torch.no_grad():
        for p, m in masks.items():
            p.mul_(m)
    norms = []
    for i, (_, b) in enumerate(data, 1):
        loss = ref(**b)[0] / accum_grad
        loss.backward()
        if i % accum_grad == 0:
            for p, m in masks.items():
                p.grad.mul_(m)
            norms.append(float(torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.05)))
            ref_opt.step()
            ref_opt.zero_grad()
    for p, q in zip(model.parameters(), ref.parameters()):
        assert torch.equal(p, q)
    reported = [v.value for v in sub.stats["grad_norm"] if not math.isnan(v.value)]
    assert reported == pytest.approx(norms, rel=1e-6)


def test_non_finite_gradient_skip_leaves_everything_untouched():
    model, opt, sniper = setup()
    controller = sniper.controller
    opts = SniperTrainer.attach(options(), sniper)
    train_epoch(model, opt, opts, batches(2))
    before = [p.detach().clone() for p in model.parameters()]
    state = {k: v.clone() for k, v in opt.state[model.lin1.weight].items()}
    train_epoch(model, opt, opts, batches(1, poison=0))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(torch.equal(v, opt.state[model.lin1.weight][k]) for k, v in state.items())
    assert_pruned_are_zero(controller, opt)


def test_amp_scaler_steps_and_skips():
    model, opt, sniper = setup()
    controller = sniper.controller
    opts = SniperTrainer.attach(options(use_amp=True), sniper)
    scaler = CpuGradScaler()
    train_epoch(model, opt, opts, batches(3), scaler=scaler)
    assert_pruned_are_zero(controller, opt)
    before = [p.detach().clone() for p in model.parameters()]
    scale = scaler.get_scale()
    train_epoch(model, opt, opts, batches(1, poison=0), scaler=scaler)
    assert scaler.get_scale() < scale  # the scaler saw the inf and skipped the step
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert_pruned_are_zero(controller, opt)


def test_gradient_noise_reaches_only_kept_entries_and_the_clip_norm():
    model, opt, sniper = setup()
    controller = sniper.controller
    opts = SniperTrainer.attach(options(grad_noise=True, grad_clip=1e9), sniper)
    assert opts.grad_noise is False  # ESPnet's own noise is off; the controller adds it
    controller.set_sparsity(50, weights_conform_to=None)  # installs the controller's hooks
    seen = {}
    for p in model.parameters():  # registered after the controller's: sees the final grad
        p.register_post_accumulate_grad_hook(lambda q: seen.__setitem__(q, q.grad.clone()))
    data = batches(1)
    _, sub = train_epoch(model, opt, opts, data)
    for p, where in pruned(controller).items():
        assert torch.count_nonzero(seen[p][where]) == 0
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in seen.values()]))
    assert sub.stats["grad_norm"][0].value == pytest.approx(float(norm), rel=1e-6)
    # and there was noise: the gradient differs from a noise-free one of the same masked
    # weights, on the kept entries and on the tensors that are never pruned (ESPnet's own
    # noise is off for all of them)
    clean_model, _, clean_sniper = setup()
    clean = clean_sniper.controller
    clean.set_sparsity(50, weights_conform_to=None)
    clean_model(**data[0][1])[0].backward()
    assert controller.noise_enabled and not clean.noise_enabled
    for name in ("lin2.bias", "lin1.weight", "norm.weight", "norm.bias"):
        p, q = dict(model.named_parameters())[name], dict(clean_model.named_parameters())[name]
        assert not torch.allclose(seen[p], q.grad), name
    assert_pruned_are_zero(controller, opt)


def make_scheduler(kind, opt):
    """ESPnet's per-step schedulers and a per-epoch one, as ESPnet builds them."""
    from espnet2.schedulers.noam_lr import NoamLR
    from espnet2.schedulers.warmup_lr import WarmupLR

    if kind == "noamlr":
        return NoamLR(opt, model_size=16, warmup_steps=3)
    if kind == "warmuplr":
        return WarmupLR(opt, warmup_steps=3)
    return torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)  # per epoch


@pytest.mark.parametrize("scheduler, scale_lr", [
    ("noamlr", False), ("warmuplr", False), ("steplr", False), ("warmuplr", True)])
def test_lr_scaling_equals_a_per_tensor_learning_rate(scheduler, scale_lr):
    conf = {"schedule": {0: 50}, "max_param_sparsity": 90, "max_lr_scaling": 3.0,
            "scale_lr": scale_lr}
    model, opt, sniper = setup(conf)
    controller = sniper.controller
    sched = make_scheduler(scheduler, opt)
    opts = SniperTrainer.attach(options(grad_clip=1e9), sniper)
    controller.set_sparsity(50, weights_conform_to=None)
    # tensors that are not pruned (norm) get the global factor 1/(1 - 50 %) with scale_lr
    factors = {p: 2.0 if scale_lr else 1.0 for p in model.parameters()}
    factors.update({controller.params[n]: min(3.0, m.numel() / float(m.sum()))
                    for n, m in controller.masks.items()})
    assert any(f > 1.5 for f in factors.values())
    # reference: one param group per tensor with lr * factor, masked gradients, and the
    # same kind of scheduler over those groups
    torch.manual_seed(0)
    ref = ToyModel()
    names = dict(ref.named_parameters())
    groups, masks = [], {}
    for n, p in names.items():
        q = dict(model.named_parameters())[n]
        groups.append({"params": [p], "lr": 0.01 * factors.get(q, 1.0)})
        if n in controller.masks:
            masks[p] = controller.masks[n].float()
            with torch.no_grad():
                p.mul_(masks[p])
    ref_opt = torch.optim.Adam(groups)
    ref_sched = make_scheduler(scheduler, ref_opt)
    per_step = scheduler != "steplr"
    for epoch in (1, 2):
        data = batches(3, seed=epoch)
        train_epoch(model, opt, opts, data, epoch=epoch, scheduler=sched if per_step else None)
        for _, b in data:
            ref(**b)[0].backward()
            for p, m in masks.items():
                p.grad.mul_(m)
            ref_opt.step()
            ref_opt.zero_grad()
            if per_step:
                ref_sched.step()
        if not per_step:
            sched.step()
            ref_sched.step()
    # the scheduler's own learning rate is untouched by SNIPER ...
    if per_step:
        assert opt.param_groups[0]["lr"] == pytest.approx(sched.get_last_lr()[0])
    # ... and every tensor moved as with its own, scaled, learning rate
    for (n, p), q in zip(model.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=n)
    assert controller.stats()["sniper_lr_factor"] > 1.0


def test_gradients_left_by_an_unfinished_window_are_masked_at_the_epoch_end():
    model, opt, sniper = setup({"schedule": {0: 50}, "max_param_sparsity": 90})
    controller = sniper.controller
    opts = SniperTrainer.attach(options(accum_grad=2), sniper)
    train_epoch(model, opt, opts, batches(3))  # one step, then a window of one batch
    for n, p in controller.params.items():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0
        assert torch.count_nonzero(p.grad[~controller.masks[n]]) == 0
    assert controller.window_ends


@pytest.mark.parametrize("restore", [True, False])
def test_regrowth_restarts_from_initial_values_or_zero_with_fresh_state(restore, caplog):
    conf = {"schedule": {0: 50, 1: 20}, "max_param_sparsity": 90,
            "restore_init_values": restore}
    model, opt, sniper = setup(conf)
    controller = sniper.controller
    init = {n: p.detach().clone() for n, p in controller.params.items()}
    opts = SniperTrainer.attach(options(), sniper)
    train_epoch(model, opt, opts, batches(3), epoch=1)
    masks50 = {n: m.clone() for n, m in controller.masks.items()}
    kept_before = {n: p.detach()[masks50[n]].clone() for n, p in controller.params.items()}
    with caplog.at_level(logging.INFO):
        controller.set_sparsity(20, weights_conform_to=50)  # what epoch 2 begins with
    assert (f"SNIPER: sparsity 20 % (real {controller.real_sparsity():.3f} % of the prunable "
            f"entries), regrown weights from {'their initial values' if restore else 'zero'}"
            ) in caplog.text
    n_regrown = 0
    for n, p in controller.params.items():
        regrown = controller.masks[n] & ~masks50[n]
        n_regrown += int(regrown.sum())
        start = init[n][regrown] if restore else torch.zeros(int(regrown.sum()))
        assert torch.equal(p.detach()[regrown], start)
        assert torch.equal(p.detach()[masks50[n]], kept_before[n])  # trained weights stay
        assert torch.count_nonzero(p.detach()[~controller.masks[n]]) == 0
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.count_nonzero(opt.state[p][key][regrown]) == 0
    assert n_regrown > 0
    train_epoch(model, opt, opts, batches(1), epoch=2)
    assert_pruned_are_zero(controller, opt)
    # to dense: the rest regrows from its initial values too
    masks20 = {n: m.clone() for n, m in controller.masks.items()}
    controller.set_sparsity(0, weights_conform_to=20)
    for n, p in controller.params.items():
        regrown = ~masks20[n]
        start = init[n][regrown] if restore else torch.zeros(int(regrown.sum()))
        assert torch.equal(p.detach()[regrown], start)


def test_dense_epochs_run_without_hooks():
    model, opt, sniper = setup({"schedule": {0: 50, 1: 0}, "max_param_sparsity": 90})
    controller = sniper.controller
    opts = SniperTrainer.attach(options(), sniper)
    train_epoch(model, opt, opts, batches(1), epoch=1)
    assert controller._handles
    train_epoch(model, opt, opts, batches(1), epoch=2)
    assert controller.sparsity == 0 and controller.masks is None
    assert controller._handles == [] and controller.lr_factors == {}


def test_stats_report_the_sparsity_and_the_mean_learning_rate_factor():
    model, opt, sniper = setup({"schedule": {0: 50, 1: 0}, "max_param_sparsity": 90,
                                    "max_lr_scaling": 3.0})
    controller = sniper.controller
    dense = {"sniper_sparsity": 0.0, "sniper_sparsity_real": 0.0, "sniper_lr_factor": 1.0}
    assert controller.stats() == dense and not controller.noise_enabled
    controller.set_sparsity(50, weights_conform_to=None)
    masks = controller.masks
    kept = sum(int(m.sum()) for m in masks.values())
    entries = sum(m.numel() for m in masks.values())
    # each pruned tensor's factor is min(3, 1 / density); the norm's is 1
    factors = {controller.params[n]: min(3.0, m.numel() / int(m.sum())) for n, m in masks.items()}
    numel = sum(p.numel() for p in model.parameters())
    mean = sum(p.numel() * factors.get(p, 1.0) for p in model.parameters()) / numel
    assert controller.stats() == pytest.approx({"sniper_sparsity": 50.0,
                                                "sniper_sparsity_real": 100 * (1 - kept / entries),
                                                "sniper_lr_factor": mean}, rel=1e-12)
    assert controller.stats()["sniper_lr_factor"] > 1.5
    controller.set_sparsity(0, weights_conform_to=50)
    assert controller.stats() == dense


def test_the_per_tensor_cap_reaches_the_masks():
    torch.manual_seed(0)
    model = ToyModel()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    config = parse_sniper_conf({"schedule": {0: 50}, "max_param_sparsity": 60})
    params = prunable_parameters(model, config.exclude_params)
    g = torch.Generator().manual_seed(1)
    # lin1.weight scores lowest: uncapped, it would lose 81 of its 96 entries
    scores = {n: torch.rand(p.shape, generator=g) + (0 if n == "lin1.weight" else 1)
              for n, p in params.items()}
    init = {n: p.detach().clone() for n, p in params.items()}
    sniper = Sniper.from_scores(config, params, scores, init)
    sniper.attach([opt])
    controller = sniper.controller
    controller.set_sparsity(50, weights_conform_to=None)
    assert int((~controller.masks["lin1.weight"]).sum()) == math.floor(0.6 * 96)
    expected = ScoreRanking(scores).masks(50, max_param_sparsity=60)
    assert all(torch.equal(controller.masks[n], expected[n]) for n in expected)


def test_the_hooks_alone_mask_gradients_and_weights_until_detached():
    # no trainer: every backward ends a window; no learning-rate factor, so the step hooks
    # are there for the masks alone
    model, opt, sniper = setup({"schedule": {0: 50}, "max_param_sparsity": 90,
                                    "scale_lr_by_param": False})
    controller = sniper.controller
    controller.set_sparsity(50, weights_conform_to=None)
    assert controller.lr_factors == {}
    (_, b), = batches(1)
    model(**b)[0].backward()
    for p, where in pruned(controller).items():
        assert torch.count_nonzero(p.grad[where]) == 0
    opt.step()
    for p, where in pruned(controller).items():
        assert torch.count_nonzero(p.detach()[where]) == 0  # zero weight, gradient, state
    controller.detach()
    controller.detach()  # a second time is harmless
    for p in model.parameters():
        p.grad.fill_(1.0)
    opt.step()
    moved = [torch.count_nonzero(p.detach()[where]) > 0 for p, where in pruned(controller).items()]
    assert all(moved)  # no hooks: the pruned entries took the step


def test_pruning_zeroes_the_optimizer_state_built_while_denser():
    model, opt, sniper = setup({"schedule": {0: 20, 1: 50}, "max_param_sparsity": 90})
    controller = sniper.controller
    for _, b in batches(2):  # dense steps: every entry gets Adam state
        model(**b)[0].backward()
        opt.step()
        opt.zero_grad()
    controller.set_sparsity(20, weights_conform_to=None)
    assert_pruned_are_zero(controller, opt)
    for _, b in batches(2, seed=1):
        model(**b)[0].backward()
        opt.step()
        opt.zero_grad()
    controller.set_sparsity(50, weights_conform_to=20)  # prunes entries trained at 20 %
    assert_pruned_are_zero(controller, opt)


def test_under_ddp_masks_are_compared_and_unmasked_gradients_are_counted(one_rank_group,
                                                                       caplog):
    torch.manual_seed(0)
    model = ToyModel()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    config = parse_sniper_conf({"schedule": {0: 50}, "max_param_sparsity": 90})
    params = prunable_parameters(model, config.exclude_params)
    g = torch.Generator().manual_seed(1)
    scores = {n: torch.rand(p.shape, generator=g) for n, p in params.items()}
    init = {n: p.detach().clone() for n, p in params.items()}
    sniper = Sniper.from_scores(config, params, scores, init, distributed=True)
    sniper.attach([opt])
    controller = sniper.controller
    with caplog.at_level(logging.INFO):
        controller.set_sparsity(50, weights_conform_to=None)
    assert "SNIPER: masks at 50 % agree on all 1 ranks (sha256 " in caplog.text
    n_pruned = sum(int((~m).sum()) for m in controller.masks.values())
    (_, b), = batches(1)
    # the last round, not armed, also shows that a step disarms the audit
    for audit, unmasked in ((True, 0), (True, n_pruned), (False, None)):
        caplog.clear()
        if audit:
            controller.begin_epoch_steps()
        model(**b)[0].backward()
        if unmasked:  # DDP wrote its averaged, unmasked bucket into .grad
            for p in model.parameters():
                p.grad.fill_(1.0)
        with caplog.at_level(logging.INFO):
            opt.step()
        opt.zero_grad()
        message = ("SNIPER: pruned entries carrying a gradient into the first step of this "
                   f"epoch, per rank: [{unmasked}]")
        assert (message in caplog.text) == audit
        assert ("masked now, but ESPnet's clipping norm saw them" in caplog.text) == bool(unmasked)
        assert_pruned_are_zero(controller, opt)  # masked again before the step: no state
