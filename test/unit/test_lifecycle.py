"""``Sniper`` over a whole schedule, on a small real model and optimizer, through
ESPnet's own ``train_one_epoch``: against the controller moved by hand as the trainer
used to, and against the masks of the ranking itself."""

import logging

import pytest
import torch

from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.controller import SniperController
from espnet_sniper.lifecycle import Sniper, state_path
from espnet_sniper.masks import ScheduleMasks, ScoreRanking, prunable_parameters
from espnet_sniper.snip import ScoringTurn
from espnet_sniper.state import SniperState, SniperStateError
from espnet_sniper.trainer import SniperTrainer
from test_optimizer_step import ToyModel, batches, options, train_epoch

CONF = {"schedule": {0: 60, 1: 30, 3: 10, 4: 0}, "max_param_sparsity": 90,
        "max_lr_scaling": 4.0}


def fresh(seed=0):
    torch.manual_seed(seed)
    model = ToyModel()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    config = parse_sniper_conf(CONF)
    params = prunable_parameters(model, config.exclude_params)
    g = torch.Generator().manual_seed(1)
    scores = {n: torch.rand(p.shape, generator=g) for n, p in params.items()}
    init = {n: p.detach().clone() for n, p in params.items()}
    return model, opt, config, params, scores, init


def test_a_schedule_trains_as_the_controller_moved_by_hand():
    model, opt, config, params, scores, init = fresh()
    sniper = Sniper.from_scores(config, params, scores, init)
    sniper.attach([opt])
    opts = SniperTrainer.attach(options(accum_grad=2), sniper)
    masks_seen = []
    for epoch in range(1, 6):
        train_epoch(model, opt, opts, batches(4, seed=epoch), epoch=epoch)
        masks_seen.append(sniper.controller.masks)
    sniper.detach()
    assert sniper.controller._handles == []

    # the same epochs, the controller moved at each epoch start as the trainer used to
    ref_model, ref_opt, config, params, scores, init = fresh()
    ranking = ScoreRanking(scores, config.tie_break_seed)
    controller = SniperController(
        config, params, ScheduleMasks(ranking, config.schedule.sparsities(), 90), init,
        [ref_opt])
    ref_opts = SniperTrainer.attach(options(accum_grad=2), _Driven(controller))
    for epoch in range(1, 6):
        target = config.schedule.sparsity_for_epoch(epoch)
        if controller.sparsity is None or target != controller.sparsity:
            controller.set_sparsity(target, weights_conform_to=controller.sparsity)
        train_epoch(ref_model, ref_opt, ref_opts, batches(4, seed=epoch), epoch=epoch)
    for p, q in zip(model.parameters(), ref_model.parameters()):
        assert torch.equal(p, q)
    # and the masks of each epoch are the ranking's at that epoch's sparsity
    for epoch, masks in enumerate(masks_seen, 1):
        sparsity = config.schedule.sparsity_for_epoch(epoch)
        if not sparsity:
            assert masks is None
            continue
        expected = ranking.masks(sparsity, 90)
        assert all(torch.equal(masks[n], expected[n]) for n in expected)


class _Driven:
    """A stand-in for Sniper that leaves the schedule to the test."""

    def __init__(self, controller):
        self.controller = controller

    def take_over_gradient_noise(self, enabled):
        self.controller.set_gradient_noise(enabled)

    def begin_epoch(self, epoch):
        pass

    def epoch_iterations(self, iterator, reporter, accum_grad, scaler):
        return Sniper.epoch_iterations(self, iterator, reporter, accum_grad, scaler)


def test_a_resumed_first_epoch_knows_what_the_weights_conform_to(caplog):
    model, opt, config, params, scores, init = fresh()
    sniper = Sniper.from_scores(config, params, scores, init)
    sniper.attach([opt])
    with caplog.at_level(logging.INFO):
        sniper.begin_epoch(3)  # a process resumed after epoch 2 (trained at 30 %)
    assert sniper.controller.sparsity == 30.0
    assert "regrown weights" in caplog.text
    sniper.begin_epoch(4)
    assert sniper.controller.sparsity == 10.0
    masks30 = sniper.schedule_masks.masks(30)
    regrown = {n: sniper.controller.masks[n] & ~masks30[n] for n in params}
    assert any(r.any() for r in regrown.values())
    for n, p in params.items():  # regrown at their initial values
        assert torch.equal(p.detach()[regrown[n]], init[n][regrown[n]])


def test_prepare_scores_saves_and_loads_the_same_masks(tmp_path, caplog):
    model, opt, config, params, _, init = fresh()
    data = batches(3)
    with caplog.at_level(logging.INFO):
        first = Sniper.prepare(config, model, params, tmp_path, batches=lambda: data,
                               turns=[ScoringTurn(tuple(params))])
    assert f"SNIPER: saved scores and initial values to {state_path(tmp_path)}" in caplog.text
    state = SniperState.load(state_path(tmp_path))
    assert state.meta["sniper_config"]["scoring"] == "snip"
    again = Sniper.prepare(config, model, params, tmp_path, batches=lambda: 1 / 0, turns=[])
    for s in first.schedule_masks.sparsities:
        a, b = first.schedule_masks.masks(s), again.schedule_masks.masks(s)
        assert all(torch.equal(a[n], b[n]) for n in a)
    # the loaded run drives this model's parameters and regrows the saved initial values
    again.attach([opt])
    again.begin_epoch(1)
    masks = again.controller.masks
    assert set(masks) == set(params)
    for n, p in params.items():
        assert torch.count_nonzero(p.detach()[~masks[n]]) == 0
    with torch.no_grad():
        for p in params.values():
            p.add_(1.0)
    again.begin_epoch(5)  # dense: every pruned entry back at its initial value
    for n, p in params.items():
        assert torch.equal(p.detach()[~masks[n]], init[n][~masks[n]])
    with pytest.raises(SniperStateError, match="exists but .* does not"):
        Sniper.prepare(config, model, params, tmp_path / "other", batches=lambda: data,
                       turns=[], resuming=True)


@pytest.mark.parametrize("change,key", [
    ({"schedule": {0: 60, 2: 0}}, "sniper_config.schedule"),
    ({"exclude_params": ["bias"]}, "sniper_config.exclude_params"),
    ({"score_batches": 2}, "sniper_config.score_batches")])
def test_a_saved_state_is_refused_for_another_schedule_or_exclusion(tmp_path, change, key):
    """The state records the config it was made with, the schedule and the excluded names
    included: a run restarted with others would train on masks made for another config."""
    model, opt, config, params, _, _ = fresh()
    Sniper.prepare(config, model, params, tmp_path, batches=lambda: batches(2), turns=[
        ScoringTurn(tuple(params))])
    other = parse_sniper_conf({**CONF, **change})
    with pytest.raises(SniperStateError, match=f"made with {key}[ .]"):
        Sniper.prepare(other, model, params, tmp_path, batches=lambda: 1 / 0, turns=[])


def test_snip_scores_only_the_configured_batches(tmp_path):
    """score_batches: 2 of 5 batches: the scores are those of the first two alone."""
    model, opt, _, params, _, _ = fresh()
    data = batches(5)
    config = parse_sniper_conf({**CONF, "score_batches": 2})
    Sniper.prepare(config, model, params, tmp_path, batches=lambda: data,
                   turns=[ScoringTurn(tuple(params))])
    from espnet_sniper.snip import snip_scores

    expected = snip_scores(model, params, data[:2])
    scores = SniperState.load(state_path(tmp_path)).scores
    assert all(torch.equal(scores[n], expected[n]) for n in params)
    every = snip_scores(model, params, data)
    assert not all(torch.equal(scores[n], every[n]) for n in params)


@pytest.mark.parametrize("scoring", ["magnitude", "random"])
def test_scorers_that_need_no_data_never_build_the_iterator(tmp_path, scoring):
    model, opt, _, params, _, _ = fresh()
    config = parse_sniper_conf({**CONF, "scoring": scoring})
    Sniper.prepare(config, model, params, tmp_path, batches=lambda: 1 / 0, turns=[])
    scores = SniperState.load(state_path(tmp_path)).scores
    for n, p in params.items():
        expected = p.detach().abs() if scoring == "magnitude" else torch.zeros_like(p)
        assert torch.equal(scores[n], expected)


def test_a_run_attaches_once_and_needs_attaching_before_epochs():
    model, opt, config, params, scores, init = fresh()
    sniper = Sniper.from_scores(config, params, scores, init)
    with pytest.raises(RuntimeError, match="attach the SNIPER run to its optimizers first"):
        sniper.begin_epoch(1)
    sniper.attach([opt])
    with pytest.raises(RuntimeError, match="attached already"):
        sniper.attach([opt])


@pytest.mark.parametrize("accum_grad", [1, 2])
def test_epoch_iterations_tell_each_backward_its_window_and_noise_with_amps_scale(accum_grad):
    """The noise of an iteration that ends a window is ESPnet's at that iteration's count,
    times AMP's loss scale (the accumulation hook sees scaled gradients); the others add
    none and leave the gradients for the step."""
    from espnet2.train.reporter import Reporter

    from espnet_sniper.gradient_noise import noise_std
    from test_optimizer_step import CpuGradScaler

    model, opt, config, params, scores, init = fresh()
    sniper = Sniper.from_scores(config, params, scores, init)
    sniper.attach([opt])
    sniper.take_over_gradient_noise(True)
    sniper.begin_epoch(1)
    scaler = CpuGradScaler(init_scale=2.0**7)
    reporter = Reporter()
    reporter.set_epoch(1)
    seen = []
    with reporter.observe("train") as sub:
        for item in sniper.epoch_iterations(range(4), sub, accum_grad, scaler):
            seen.append((item, sniper.controller.window_ends, sniper.controller._noise_std))
            sub.register({"loss": 1.0})
            sub.next()
    ends = [(i + 1) % accum_grad == 0 for i in range(4)]
    assert [s[1] for s in seen] == ends
    assert [s[2] for s in seen] == [noise_std(i + 1, scaler) if end else None
                                    for i, end in enumerate(ends)]
    assert noise_std(1, scaler) == 2.0**7 * noise_std(1)
    assert sniper.controller._noise_std is None and sniper.controller.window_ends
