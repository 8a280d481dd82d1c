"""``kept_variance``: the kept entries' sum of squares at the first masking of a fresh run,
nothing new when the key is absent, no second rescale on resume, unscaled regrowth."""

import logging

import pytest
import torch

import espnet_sniper.controller
from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.lifecycle import Sniper, state_path
from espnet_sniper.masks import prunable_parameters
from espnet_sniper.state import SniperState, SniperStateError


class FeedForward(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w_1 = torch.nn.Conv1d(4, 8, 3, padding=1)  # a 3-D weight, a 1-D bias
        self.w_2 = torch.nn.Linear(8, 4)
        torch.nn.init.zeros_(self.w_2.bias)  # zero at init: no kept variance to rescale


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.feed_forward = FeedForward()
        self.norm = torch.nn.LayerNorm(4)  # excluded from pruning


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoders = torch.nn.ModuleList([Block(), Block()])


class TTS(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()


class Nested(torch.nn.Module):
    """Names as ESPnet's: ``tts.encoder.encoders.0.feed_forward.w_1.weight`` and so on."""

    def __init__(self):
        super().__init__()
        self.tts = TTS()


def run(conf, seed=0):
    torch.manual_seed(seed)
    model = Nested()
    config = parse_sniper_conf(conf)
    params = prunable_parameters(model, config.exclude_params)
    g = torch.Generator().manual_seed(1)
    scores = {n: torch.rand(p.shape, generator=g) for n, p in params.items()}
    init = {n: p.detach().clone() for n, p in params.items()}
    sniper = Sniper.from_scores(config, params, scores, init)
    sniper.attach([torch.optim.Adam(model.parameters(), lr=0.01)])
    return model, params, init, sniper


def sum_of_squares(t):
    return float(t.double().square().sum())


CONF = {"schedule": {0: 60, 1: 30, 3: 0}, "max_param_sparsity": 90}


@pytest.mark.parametrize("allocation", ["global", "uniform"])
@pytest.mark.parametrize("kept_variance", ["random", "dense"])
def test_the_first_masking_gives_the_kept_entries_the_target_sum_of_squares(
        kept_variance, allocation, caplog):
    _, params, init, sniper = run({**CONF, "allocation": allocation,
                                   "kept_variance": kept_variance})
    assert {p.dim() for p in params.values()} == {1, 2, 3}
    assert "tts.encoder.encoders.0.feed_forward.w_1.weight" in params
    with caplog.at_level(logging.INFO):
        sniper.begin_epoch(1)
    masks = sniper.controller.masks
    rescaled = 0
    for name, p in params.items():
        mask = masks[name]
        density = float(mask.sum()) / mask.numel()
        share = density if kept_variance == "random" else 1.0
        target = share * sum_of_squares(init[name])
        assert sum_of_squares(p.detach()) == pytest.approx(target, rel=1e-5, abs=1e-12), name
        assert torch.count_nonzero(p.detach()[~mask]) == 0
        # one factor per tensor: the kept entries are the initial ones times the same number
        kept, was = p.detach()[mask], init[name][mask]
        if sum_of_squares(was) > 0 and not mask.all():
            factor = (target / sum_of_squares(was)) ** 0.5
            assert torch.allclose(kept, was * factor, rtol=1e-6, atol=0)
            rescaled += factor != pytest.approx(1.0)
    assert rescaled > 0
    assert torch.count_nonzero(params["tts.encoder.encoders.0.feed_forward.w_2.bias"]) == 0
    assert f"SNIPER: kept_variance {kept_variance}: kept entries of " in caplog.text
    assert "masked tensors rescaled by factors in [" in caplog.text


def test_absent_masks_the_initial_weights_bit_for_bit_and_computes_nothing_new(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("kept_variance computed without the key")

    monkeypatch.setattr(espnet_sniper.controller, "kept_variance_factors", never)
    _, params, init, sniper = run(CONF)
    sniper.begin_epoch(1)
    for name, p in params.items():
        assert torch.equal(p.detach(), init[name] * sniper.controller.masks[name])
    sniper.begin_epoch(2)
    sniper.begin_epoch(4)  # dense again: every entry back at its initial value
    for name, p in params.items():
        assert torch.equal(p.detach(), init[name])


def test_a_resumed_run_does_not_rescale_again_and_regrows_unscaled():
    conf = {**CONF, "kept_variance": "random"}
    model, params, init, sniper = run(conf)
    sniper.begin_epoch(1)  # rescaled at 60 %
    sniper.begin_epoch(2)  # regrows to 30 %
    checkpoint = {n: p.detach().clone() for n, p in model.state_dict().items()}
    masks60 = sniper.schedule_masks.masks(60)

    # a new process resumes after epoch 2 from the checkpoint's weights
    model, params, init, resumed = run(conf)
    model.load_state_dict(checkpoint)
    resumed.begin_epoch(3)  # the weights conform to 30 %: no rescale
    for name, p in params.items():
        assert torch.equal(p.detach(), checkpoint[name]), name
    resumed.begin_epoch(4)  # dense: the rest regrows at its own initial values, unscaled
    masks30 = resumed.schedule_masks.masks(30)
    for name, p in params.items():
        regrown = ~masks30[name]
        assert torch.equal(p.detach()[regrown], init[name][regrown])
        kept = masks60[name]
        assert torch.equal(p.detach()[kept], checkpoint[name][kept])
        # what the first process regrew at 30 % restarted unscaled too
        regrown_at_2 = masks30[name] & ~kept
        assert torch.equal(checkpoint[name][regrown_at_2], init[name][regrown_at_2])


def test_a_constant_schedule_resumed_keeps_the_checkpoint_weights():
    # random: a second rescale would multiply by sqrt(density) (dense's would be 1)
    conf = {"schedule": {0: 40}, "allocation": "uniform", "kept_variance": "random"}
    model, params, _, sniper = run(conf)
    sniper.begin_epoch(1)
    checkpoint = {n: p.detach().clone() for n, p in model.state_dict().items()}
    model, params, _, resumed = run(conf)
    model.load_state_dict(checkpoint)
    resumed.begin_epoch(2)
    for name, p in params.items():
        assert torch.equal(p.detach(), checkpoint[name])


def test_the_state_records_the_key_and_refuses_another(tmp_path):
    torch.manual_seed(0)
    model = Nested()
    config = parse_sniper_conf({**CONF, "scoring": "magnitude", "kept_variance": "random"})
    params = prunable_parameters(model, config.exclude_params)
    Sniper.prepare(config, model, params, tmp_path, batches=lambda: 1 / 0, turns=[])
    state = SniperState.load(state_path(tmp_path))
    assert state.meta["sniper_config"]["kept_variance"] == "random"
    Sniper.prepare(config, model, params, tmp_path, batches=lambda: 1 / 0, turns=[])
    absent = parse_sniper_conf({**CONF, "scoring": "magnitude"})
    with pytest.raises(SniperStateError, match="made with sniper_config.kept_variance = "
                                               "'random', but this run has "
                                               "sniper_config.kept_variance = None"):
        Sniper.prepare(absent, model, params, tmp_path, batches=lambda: 1 / 0, turns=[])
