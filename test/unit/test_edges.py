"""The core behaviours at the cases users meet and the simple tests skip.

Tensors of every rank the models have (1-D biases, 2-D Linear, Conv1d's 3-D weights),
parameter names nested as in ESPnet's FastSpeech2, every group a state file stores,
schedules of several steps, a kill that comes twice. Each test names the wrong line it
catches (benchmarks/hand_mutants.py holds those lines; the mutation benchmark runs them).
"""

import argparse
import math

import pytest
import torch
from espnet2.torch_utils.add_gradient_noise import add_gradient_noise

from espnet_sniper import checkpoint_recovery, rank_agreement
from espnet_sniper.allocation import erk_densities, erk_pruned, erk_raw_density, uniform_pruned
from espnet_sniper.config import SniperConfigError, parse_sniper_conf
from espnet_sniper.config_layouts import (
    ReferenceTrainerKeyError,
    check_reference_trainer_keys,
    requested_sniper_conf,
)
from espnet_sniper.fileio import atomic_torch_save, atomic_write_text, is_writer
from espnet_sniper.gradient_noise import noise_std
from espnet_sniper.lifecycle import Sniper
from espnet_sniper.masks import ScheduleMasks, ScoreRanking, prunable_parameters, real_sparsity
from espnet_sniper.registry import Registry
from espnet_sniper.saved_epochs import keep_saved_epochs
from espnet_sniper.schedule import SparsitySchedule
from espnet_sniper.scoring import SCORERS, ScoringInputs
from espnet_sniper.state import SniperState, SniperStateError
from espnet_sniper.tensor_digest import tensor_digest
from espnet_sniper.weight_norm import direction_slices

# one tensor of each rank a TTS model trains
SHAPES = {
    "tts.encoder.encoders.0.feed_forward.w_1.bias": (8,),
    "tts.encoder.encoders.0.feed_forward.w_1.weight": (6, 5),
    "tts.decoder.postnet.postnet.0.0.weight": (4, 3, 5),
}


def _scores(seed=0, low=()):
    """Distinct random scores; the tensors in ``low`` score below every other entry."""
    gen = torch.Generator().manual_seed(seed)
    scores = {n: torch.rand(s, generator=gen) + 1.0 for n, s in SHAPES.items()}
    for name in low:
        scores[name] = scores[name] - 1.0
    return scores


def _expected_masks(scores, sparsity, cap):
    """The paper's global masks, computed the plain way: the lowest floor(p N) scores of
    all entries, a tensor losing at most floor(cap n) of its own lowest."""
    flat = torch.cat([s.reshape(-1) for s in scores.values()])
    n_pruned = math.floor(sparsity * flat.numel() / 100)
    threshold = flat.sort().values[n_pruned - 1] if n_pruned else -math.inf
    masks = {}
    for name, s in scores.items():
        count = min(int((s <= threshold).sum()), math.floor(cap * s.numel() / 100))
        lowest = s.reshape(-1).sort().values
        masks[name] = s > lowest[count - 1] if count else torch.ones_like(s, dtype=torch.bool)
    return masks


# ------------------------------------------------------------------ prunable names
class _Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = torch.nn.LayerNorm(4)
        self.feed_forward = torch.nn.Module()
        self.feed_forward.w_1 = torch.nn.Linear(4, 8)


class _Tts(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Module()
        self.encoder.embed = torch.nn.Sequential(torch.nn.Embedding(10, 4))
        self.encoder.encoders = torch.nn.ModuleList([_Block(), _Block()])
        self.decoder = torch.nn.Module()
        self.decoder.encoders = torch.nn.ModuleList([_Block() for _ in range(4)])


def test_exclude_patterns_match_anywhere_in_nested_espnet_names():
    """Kills: patterns matched as prefixes; matched against the last component only."""
    model = torch.nn.Module()
    model.tts = _Tts()
    names = set(prunable_parameters(model, ("norm", "embed")))
    assert "tts.decoder.encoders.3.feed_forward.w_1.weight" in names
    assert "tts.encoder.encoders.0.feed_forward.w_1.bias" in names
    assert not any("norm1" in n or "embed" in n for n in names)
    assert "tts.encoder.embed.0.weight" not in names
    assert "tts.encoder.encoders.0.norm1.weight" not in names
    assert len(names) == 2 * 6


# ------------------------------------------------------------------ masks of every rank
@pytest.mark.parametrize("cap", [100.0, 60.0])
@pytest.mark.parametrize("sparsity", [10.0, 37.5, 50.0, 80.0])
def test_global_masks_of_1d_2d_3d_tensors_are_the_lowest_scores(sparsity, cap):
    """Kills: >= for > at the cutoff; a cutoff per row of a 3-D tensor; one entry too
    many pruned by the allocation; the cap computed from a tensor's first dim."""
    if sparsity > cap:
        pytest.skip("the cap makes it unreachable")
    scores = _scores(low=["tts.encoder.encoders.0.feed_forward.w_1.bias"])
    masks = ScoreRanking(scores).masks(sparsity, cap)
    expected = _expected_masks(scores, sparsity, cap)
    for name in SHAPES:
        assert masks[name].shape == SHAPES[name]
        assert torch.equal(masks[name], expected[name]), name


def test_schedule_masks_of_several_steps_with_a_cap():
    """Kills: the masks of one step off; the cap dropped from the schedule's masks; the
    entries ever pruned taken at the lowest step instead of the highest."""
    scores = _scores(seed=1, low=["tts.encoder.encoders.0.feed_forward.w_1.bias"])
    ranking = ScoreRanking(scores)
    steps = [70.0, 50.0, 20.0]
    schedule_masks = ScheduleMasks(ranking, steps, max_param_sparsity=75.0)
    for s in steps:
        direct = ranking.masks(s, 75.0)
        got = schedule_masks.masks(s)
        assert all(torch.equal(got[n], direct[n]) for n in SHAPES), s
    highest = ranking.masks(70.0, 75.0)
    ever = schedule_masks.ever_pruned()
    assert all(torch.equal(ever[n], ~highest[n]) for n in SHAPES)


def test_weight_norm_slices_of_a_3d_conv_keep_their_best_entry():
    """Kills: the worst entry kept; a slice of a 3-D weight taken as its first row."""
    name = "tts.decoder.postnet.postnet.0.0.weight"
    scores = _scores(seed=2)
    ranking = ScoreRanking(scores, kept_slices={name: 0})
    mask = ranking.masks(99.0)[name]
    for out_channel in range(SHAPES[name][0]):
        kept = mask[out_channel]
        assert int(kept.sum()) >= 1
        best = scores[name][out_channel].flatten().argmax()
        assert kept.flatten()[best]
    whole = ScoreRanking(scores, kept_slices={name: None}).masks(99.0)[name]
    assert whole.reshape(-1)[scores[name].reshape(-1).argmax()]


def test_real_sparsity_of_one_entry():
    """Kills: a single masked entry reported dense."""
    assert real_sparsity({"b": torch.tensor([False])}) == 100.0
    assert real_sparsity({"b": torch.tensor([True])}) == 0.0


# ------------------------------------------------------------------ allocations
def test_uniform_and_erk_counts_of_a_conv1d_weight():
    """Kills: uniform counts losing a 3-D tensor's middle dim; ERK's raw density ignoring
    the kernel dim; ERK counts rounded up."""
    shapes = dict(SHAPES)
    assert uniform_pruned(shapes, 50.0)["tts.decoder.postnet.postnet.0.0.weight"] == 30
    assert erk_raw_density((4, 3, 5)) == pytest.approx(12 / 60)
    for sparsity in (13.0, 41.0, 66.0):
        densities = erk_densities(shapes, sparsity)
        pruned = erk_pruned(shapes, sparsity)
        for name, shape in shapes.items():
            numel = math.prod(shape)
            assert pruned[name] == math.floor((1 - densities[name]) * numel + 1e-9)
        # unclamped densities are proportional to the raw ones
        conv, linear = "tts.decoder.postnet.postnet.0.0.weight", \
            "tts.encoder.encoders.0.feed_forward.w_1.weight"
        if densities[conv] < 1 and densities[linear] < 1:
            assert densities[conv] / densities[linear] == pytest.approx(
                (12 / 60) / (11 / 30), rel=1e-6)


# ------------------------------------------------------------------ schedules
SEVERAL = {0: 20, 3: 60, 6: 10, 9: 0}


def test_sparsity_at_and_between_every_step():
    """Kills: a step applied an epoch late; epochs counted from 0."""
    schedule = SparsitySchedule(SEVERAL)
    got = [schedule.sparsity_for_epoch(e) for e in range(1, 13)]
    assert got == [20, 20, 20, 60, 60, 60, 10, 10, 10, 0, 0, 0]
    assert schedule.max_sparsity == 60


def test_the_cap_is_checked_against_the_highest_step_not_the_first():
    """Kills: the highest sparsity taken as the first step's (schedule and config)."""
    with pytest.raises(SniperConfigError, match="60.0 %"):
        parse_sniper_conf({"schedule": SEVERAL, "max_param_sparsity": 50})
    assert parse_sniper_conf({"schedule": SEVERAL, "max_param_sparsity": 100}) \
        .max_param_sparsity == 100.0


# ------------------------------------------------------------------ config layouts
def test_a_config_with_sniper_conf_and_no_use_sniper_trains_sparse():
    """Kills: an unset use_sniper read as false; save_epochs: [0] accepted."""
    config = requested_sniper_conf(argparse.Namespace(sniper_conf={"schedule": {0: 40}}))
    assert config is not None and config.schedule.max_sparsity == 40
    with pytest.raises(ReferenceTrainerKeyError, match=r"\[0\]"):
        check_reference_trainer_keys(argparse.Namespace(save_epochs=[0, 2]))


# ------------------------------------------------------------------ state: every group
META = {"params": {n: list(s) for n, s in SHAPES.items()},
        "sniper_config": {"schedule": SEVERAL, "allocation": "erk"}}


@pytest.fixture
def state_file(tmp_path):
    gen = torch.Generator().manual_seed(3)
    values = {n: torch.randn(s, generator=gen) for n, s in SHAPES.items()}
    state = SniperState(scores={n: v.abs() for n, v in values.items()},
                        init_values=values, meta=META)
    path = tmp_path / "sniper" / "state.pth"
    state.save(path)
    return path


@pytest.mark.parametrize("group", ["scores", "init_values"])
def test_a_changed_tensor_of_either_group_is_refused(state_file, group):
    """Kills: the digest covering the scores only."""
    data = torch.load(state_file, weights_only=True)
    data[group]["tts.encoder.encoders.0.feed_forward.w_1.bias"][0] += 1.0
    torch.save(data, state_file)
    with pytest.raises(SniperStateError, match="do not match their digest"):
        SniperState.load(state_file)


def test_a_conv_weight_stored_flat_is_refused(state_file):
    """Kills: a digest blind to shapes (the same bytes, one dim lost)."""
    data = torch.load(state_file, weights_only=True)
    name = "tts.decoder.postnet.postnet.0.0.weight"
    data["init_values"][name] = data["init_values"][name].reshape(4, 15)
    torch.save(data, state_file)
    with pytest.raises(SniperStateError, match="do not match their digest"):
        SniperState.load(state_file)
    assert tensor_digest({"a": torch.zeros(4, 3, 5)}) != tensor_digest({"a": torch.zeros(4, 15)})


def test_the_meta_group_is_compared_key_by_key(state_file):
    """Kills: a parameter added since the state was made going unnoticed; a state's own
    later keys (allocation: erk) overwritten by their defaults."""
    state = SniperState.load(state_file)
    state.check_matches(state_file, META)  # allocation erk on both sides
    grown = {**META, "params": {**META["params"], "tts.decoder.feat_out.weight": [80, 4]}}
    with pytest.raises(SniperStateError, match="params.tts.decoder.feat_out.weight"):
        state.check_matches(state_file, grown)
    other = {**META, "sniper_config": {**META["sniper_config"], "allocation": "global"}}
    with pytest.raises(SniperStateError, match="sniper_config.allocation"):
        state.check_matches(state_file, other)


@pytest.mark.parametrize("group", ["scores", "init_values", "meta"])
def test_a_missing_group_is_refused_by_name(state_file, group):
    data = torch.load(state_file, weights_only=True)
    del data[group]
    torch.save(data, state_file)
    with pytest.raises(SniperStateError, match=group):
        SniperState.load(state_file)


# ------------------------------------------------------------------ a kill that comes twice
def _checkpoint(path, epoch):
    torch.save({"epoch": epoch, "model": {"w": torch.full((3,), float(epoch))}}, path)


def _kill_while_saving(path, epoch):
    _checkpoint(path, epoch)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _epoch_of(path):
    return torch.load(path, weights_only=True)["epoch"]


def test_a_second_kill_after_resuming_from_the_spare(tmp_path):
    """Kills: the spare not copied back over the broken checkpoint (the resumed epoch's
    keep_spare then copies the broken one over the spare); the spare never refreshed."""
    checkpoint = tmp_path / checkpoint_recovery.CHECKPOINT
    _checkpoint(checkpoint, 1)
    checkpoint_recovery.keep_spare(tmp_path)  # start of epoch 2
    _checkpoint(checkpoint, 2)
    checkpoint_recovery.keep_spare(tmp_path)  # start of epoch 3: the spare is epoch 2's
    assert _epoch_of(tmp_path / checkpoint_recovery.SPARE) == 2
    _kill_while_saving(checkpoint, 3)
    # first resume
    source = checkpoint_recovery.resume_source(checkpoint, is_writer=True)
    assert _epoch_of(source) == 2 and _epoch_of(checkpoint) == 2
    checkpoint_recovery.keep_spare(tmp_path)  # the resumed epoch 3 starts
    _kill_while_saving(checkpoint, 3)  # and the kill comes again
    source = checkpoint_recovery.resume_source(checkpoint, is_writer=True)
    assert source is not None and _epoch_of(source) == 2 and _epoch_of(checkpoint) == 2
    _checkpoint(checkpoint, 3)  # epoch 3 completes this time
    checkpoint_recovery.keep_spare(tmp_path)
    assert _epoch_of(tmp_path / checkpoint_recovery.SPARE) == 3


def test_a_kill_while_saving_epoch_one_starts_again(tmp_path):
    """Kills: the broken checkpoint left behind for ESPnet to fail on."""
    checkpoint = tmp_path / checkpoint_recovery.CHECKPOINT
    _kill_while_saving(checkpoint, 1)
    assert checkpoint_recovery.resume_source(checkpoint, is_writer=False) is None
    assert checkpoint.exists()  # only the writer removes it
    assert checkpoint_recovery.resume_source(checkpoint, is_writer=True) is None
    assert not checkpoint.exists()


def test_a_broken_epoch_one_file_is_written_again_and_latest_relinked(tmp_path):
    """Kills: epoch 1 never repaired; latest.pth not relinked."""
    epoch_file = tmp_path / "1epoch.pth"
    _kill_while_saving(epoch_file, 1)
    state = {"w": torch.arange(3.0)}
    checkpoint_recovery.repair_epoch_file(tmp_path, 1, state)
    assert torch.equal(torch.load(epoch_file, weights_only=True)["w"], state["w"])
    latest = tmp_path / "latest.pth"
    assert latest.is_symlink() and latest.resolve() == epoch_file.resolve()


# ------------------------------------------------------------------ saved epochs
def test_saved_epochs_keep_the_last_epoch_and_never_replace_a_kept_model(tmp_path):
    """Kills: the epoch just finished not kept; a kept model replaced."""
    torch.save({"e": 1}, tmp_path / "1epoch.pth")
    torch.save({"e": 3}, tmp_path / "3epoch.pth")
    keep_saved_epochs(tmp_path, [1, 3, 5], up_to=3)
    kept = tmp_path / "saved_epochs"
    assert sorted(p.name for p in kept.iterdir()) == ["1epoch.pth", "3epoch.pth"]
    (tmp_path / "3epoch.pth").unlink()
    torch.save({"e": "other"}, tmp_path / "3epoch.pth")
    keep_saved_epochs(tmp_path, [3], up_to=4)
    assert torch.load(kept / "3epoch.pth", weights_only=True) == {"e": 3}


# ------------------------------------------------------------------ gradient noise
@pytest.mark.parametrize("count", [0, 1, 99, 100, 101, 250, 1000])
def test_noise_std_is_espnets(count):
    """Against ESPnet's own add_gradient_noise. Kills: the decay one iteration early."""
    model = torch.nn.Linear(5, 4)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    torch.manual_seed(7)
    add_gradient_noise(model, count, duration=100, eta=1.0, scale_factor=0.55)
    torch.manual_seed(7)
    for p in model.parameters():
        assert torch.allclose(p.grad, noise_std(count) * torch.randn(p.shape))


def test_noise_std_carries_amps_loss_scale():
    """Kills: noise not multiplied by the loss scale."""
    scaler = torch.amp.GradScaler("cpu", init_scale=8.0)
    assert noise_std(150, scaler) == pytest.approx(8.0 * noise_std(150))


# ------------------------------------------------------------------ weight norm names
def test_weight_norm_names_at_the_root_and_nested():
    """Kills: dim=None read as the last dim; a root module's names given a dot."""
    conv = torch.nn.utils.weight_norm(torch.nn.Conv1d(3, 4, 5), dim=None)
    assert direction_slices(conv) == {"weight_v": None}
    model = torch.nn.Module()
    model.generator = torch.nn.Module()
    model.generator.conv_pre = torch.nn.utils.weight_norm(torch.nn.Conv1d(3, 4, 5))
    assert direction_slices(model) == {"generator.conv_pre.weight_v": 0}


# ------------------------------------------------------------------ ranks, writer, registry
def test_ranks_that_differ_are_named(one_rank_group, monkeypatch):
    """Two ranks' digests, rank 1's different (the gathering is replaced, not torch's
    hashing). Kills: two differing ranks passing; the message naming the wrong ranks."""
    tensors = {"m": torch.ones(3, dtype=torch.bool)}
    assert rank_agreement.check_ranks_agree("masks", tensors) == tensor_digest(tensors)
    assert is_writer()
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 2)
    monkeypatch.setattr(torch.distributed, "all_gather_object",
                        lambda out, mine: out.__setitem__(slice(None), [mine, "other"]))
    with pytest.raises(rank_agreement.RanksDisagree, match=r"ranks \[1\] differ"):
        rank_agreement.check_ranks_agree("masks", tensors)


def test_registry_refuses_a_name_twice_and_answers_unhashable_values():
    """Kills: a second class silently replacing the first; a list in a config crashing
    the membership test."""
    registry = Registry("thing")
    registry.register("a")(int)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("a")(float)
    assert registry.build("a") == 0
    assert ["a"] not in registry


def test_magnitude_scores_are_absolute():
    """Kills: signed magnitude scores."""
    weight = torch.nn.Parameter(torch.tensor([[-3.0, 0.5], [2.0, -0.1]]))
    inputs = ScoringInputs(model=torch.nn.Module(), params={"w": weight},
                           batches=lambda: [], turns=())
    assert torch.equal(SCORERS.build("magnitude").score(inputs)["w"], weight.detach().abs())


# ------------------------------------------------------------------ a run over several steps
def _three_rank_run(conf):
    torch.manual_seed(0)
    params = {n: torch.nn.Parameter(torch.randn(s)) for n, s in SHAPES.items()}
    config = parse_sniper_conf(conf)
    init = {n: p.detach().clone() for n, p in params.items()}
    sniper = Sniper.from_scores(config, params, _scores(seed=4), init)
    opt = torch.optim.Adam(params.values(), lr=0.1)
    sniper.attach([opt])
    return sniper, params, init, opt


def _step(params, opt):
    """One step on the gradient of sum(p), through backward: SNIPER's gradient hooks run."""
    opt.zero_grad()
    sum(p.sum() for p in params.values()).backward()
    opt.step()


def test_pruning_further_zeroes_the_optimizer_state_of_1d_2d_3d_tensors():
    """Kills: optimizer state reset only for 2-D tensors; gradients of a tensor without an
    LR factor not masked (its pruned weights would move in the next step)."""
    sniper, params, _, opt = _three_rank_run(
        {"schedule": {0: 30, 1: 60, 2: 0}, "scale_lr_by_param": False})
    sniper.begin_epoch(1)
    _step(params, opt)
    sniper.begin_epoch(2)
    masks = sniper.schedule_masks.masks(60.0)
    for name, p in params.items():
        pruned = ~masks[name]
        assert pruned.any(), name
        assert not p.detach()[pruned].any(), name
        for key in ("exp_avg", "exp_avg_sq"):
            assert not opt.state[p][key][pruned].any(), (name, key)
    _step(params, opt)
    for name, p in params.items():
        assert not p.detach()[~masks[name]].any(), name


def test_a_run_resumed_at_a_schedule_step_regrows_from_the_initial_values():
    """Epoch 3 trained at 60 %, the process resumes for epoch 4 (at 10 %). Kills: the
    resumed run taking its weights to conform to epoch 4's sparsity already."""
    sniper, params, init, _ = _three_rank_run({"schedule": {0: 20, 2: 60, 3: 10, 5: 0}})
    masks60 = sniper.schedule_masks.masks(60.0)
    with torch.no_grad():
        for name, p in params.items():
            p.mul_(masks60[name])  # what the checkpoint of epoch 3 holds
    sniper.begin_epoch(4)
    assert sniper.controller.sparsity == 10.0
    masks10 = sniper.schedule_masks.masks(10.0)
    for name, p in params.items():
        regrown = masks10[name] & ~masks60[name]
        assert regrown.any(), name
        assert torch.equal(p.detach()[regrown], init[name][regrown]), name


def test_a_state_made_from_other_initial_weights_is_refused_by_name(tmp_path):
    """Other weights that agree in each tensor's first entry (a Conv1d weight differing
    only in its last kernel tap). Kills: the initial weights compared by a first entry."""
    config = parse_sniper_conf({"schedule": {0: 40, 2: 0}, "scoring": "magnitude"})
    torch.manual_seed(0)
    params = {n: torch.nn.Parameter(torch.randn(s)) for n, s in SHAPES.items()}
    Sniper.prepare(config, torch.nn.Module(), params, tmp_path, batches=lambda: [], turns=())
    Sniper.prepare(config, torch.nn.Module(), params, tmp_path, batches=lambda: [], turns=())
    name = "tts.decoder.postnet.postnet.0.0.weight"
    with torch.no_grad():
        params[name][3, 2, 4] += 1.0
    with pytest.raises(SniperStateError, match=name):
        Sniper.prepare(config, torch.nn.Module(), params, tmp_path, batches=lambda: [],
                       turns=())


def test_a_double_precision_model_regrows_its_initial_values_to_the_bit():
    """Initial values kept in the parameters' own dtype. Kills: the regrowable initial
    values rebuilt in the default float32 (a float64 model would regrow rounded values)."""
    torch.manual_seed(0)
    params = {n: torch.nn.Parameter(torch.randn(s, dtype=torch.float64))
              for n, s in SHAPES.items()}
    config = parse_sniper_conf({"schedule": {0: 60, 1: 0}})
    init = {n: p.detach().clone() for n, p in params.items()}
    sniper = Sniper.from_scores(config, params, _scores(seed=4), init)
    sniper.attach([torch.optim.Adam(params.values(), lr=0.1)])
    sniper.begin_epoch(1)
    masks = sniper.controller.masks
    values = sniper.controller.initial_values()
    with torch.no_grad():
        for p in params.values():
            p.add_(1.0)
    sniper.begin_epoch(2)
    for name, p in params.items():
        pruned = ~masks[name]
        assert p.dtype == values[name].dtype == torch.float64, name
        assert torch.equal(values[name][pruned], init[name][pruned]), name
        assert torch.equal(p.detach()[pruned], init[name][pruned]), name


def test_atomic_writes_make_every_missing_folder_of_a_nested_path(tmp_path):
    """A run's files go to nested folders that may not exist yet (exp/<tag>/sniper/...):
    each atomic write makes them, and leaves no temporary file beside its result."""
    text = tmp_path / "exp" / "tag" / "sniper" / "report.txt"
    atomic_write_text(text, "sparsity 40 %\n")
    assert text.read_text(encoding="utf-8") == "sparsity 40 %\n"
    tensor = tmp_path / "a" / "b" / "c" / "state.pth"
    atomic_torch_save({"x": torch.arange(3)}, tensor)
    assert torch.equal(torch.load(tensor)["x"], torch.arange(3))
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["report.txt",
                                                                          "state.pth"]
