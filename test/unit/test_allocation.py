"""Per-tensor allocations (uniform, ERK) and shuffled positions: exact counts against
independent arithmetic, nesting, the cap, and the paper's global allocation untouched."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from espnet_sniper.allocation import erk_densities, erk_pruned
from espnet_sniper.masks import ScheduleMasks, ScoreRanking, real_sparsity

shapes = st.lists(
    st.lists(st.integers(1, 9), min_size=1, max_size=3), min_size=1, max_size=6
)


def make_scores(shape_list, seed):
    g = torch.Generator().manual_seed(seed)
    return {f"t{i}": torch.rand(shape, generator=g) for i, shape in enumerate(shape_list)}


def pruned(masks):
    return {name: int((~m).sum()) for name, m in masks.items()}


@settings(max_examples=60, deadline=None)
@given(shapes, st.integers(0, 10**6), st.floats(0, 99.9))
def test_uniform_prunes_floor_p_n_of_each_tensor_its_lowest_scored(shape_list, seed, p):
    scores = make_scores(shape_list, seed)
    masks = ScoreRanking(scores, allocation="uniform").masks(p)
    for name, m in masks.items():
        n = m.numel()
        assert int((~m).sum()) == math.floor(p * n / 100)
        if m.any() and (~m).any():  # within the tensor, the kept outscore the pruned
            assert scores[name][m].min() >= scores[name][~m].max()


@settings(max_examples=60, deadline=None)
@given(shapes, st.integers(0, 10**6), st.sampled_from(["uniform", "erk", "global"]),
       st.booleans(), st.lists(st.floats(0, 74.9), min_size=2, max_size=5))
def test_every_allocation_is_nested_and_capped(shape_list, seed, allocation, shuffle,
                                              sparsities):
    scores = make_scores(shape_list, seed)
    ranking = ScoreRanking(scores, tie_break_seed=seed % 5, allocation=allocation,
                           shuffle_within_tensor=shuffle)
    previous = None
    for p in sorted(sparsities, reverse=True):
        masks = ranking.masks(p, max_param_sparsity=75)
        for name, m in masks.items():
            assert int((~m).sum()) <= math.floor(75 * m.numel() / 100)
            if previous is not None:
                assert not bool((previous[name] & ~m).any())
        previous = masks


@settings(max_examples=60, deadline=None)
@given(shapes, st.integers(0, 10**6), st.sampled_from(["uniform", "erk"]),
       st.floats(0, 75))
def test_per_tensor_allocations_meet_the_nominal_sparsity_within_rounding(
        shape_list, seed, allocation, p):
    scores = make_scores(shape_list, seed)
    total = sum(s.numel() for s in scores.values())
    masks = ScoreRanking(scores, allocation=allocation).masks(p, max_param_sparsity=75)
    lost = sum(pruned(masks).values())
    # each tensor's count is floored: at most one entry short per tensor, never over
    assert math.floor(p * total / 100) - len(scores) <= lost <= math.floor(p * total / 100)


def test_erk_worked_example():
    # raw densities: 200/10000 = 0.02 and 20/100 = 0.2. At 50 % of 10100 entries the small
    # tensor would need eps * 0.2 > 1, so it is dense and the large one keeps
    # 5050 - 100 = 4950 entries: density 0.495, 5050 pruned.
    shapes = {"big": (100, 100), "small": (10, 10)}
    densities = erk_densities(shapes, 50)
    assert densities["small"] == 1.0
    assert densities["big"] == pytest.approx(0.495, abs=1e-9)
    assert erk_pruned(shapes, 50) == {"big": 5050, "small": 0}
    # below the point where the small tensor fills up, densities follow the raw ratio 1:10
    d = erk_densities(shapes, 90)
    assert d["small"] / d["big"] == pytest.approx(10.0)
    assert d["big"] * 10000 + d["small"] * 100 == pytest.approx(0.1 * 10100)


def test_erk_respects_the_cap_and_hands_the_surplus_on():
    # raw 0.02 and 0.04; at 74 % of 12500 entries (3250 kept) ERK alone would give the big
    # tensor 0.2167 < 1 - cap: it is held at 0.25 (2500) and the small one takes the other
    # 750 entries (0.3) instead of its uncapped 0.433
    shapes = {"big": (100, 100), "small": (50, 50)}
    densities = erk_densities(shapes, 74, max_param_sparsity=75)
    assert densities["big"] == pytest.approx(0.25)
    assert densities["small"] == pytest.approx(0.3)
    assert erk_densities(shapes, 74)["big"] == pytest.approx(3250 / 15000)  # no cap: 300 eps
    # the counts: the capped tensor loses exactly floor(75 % of it), the other the rest
    assert erk_pruned(shapes, 74, max_param_sparsity=75) == {"big": 7500, "small": 1750}
    # the sparsity may reach the cap itself, not beyond
    assert erk_pruned(shapes, 75, max_param_sparsity=75) == {"big": 7500, "small": 1875}
    with pytest.raises(ValueError, match="outside"):
        erk_densities(shapes, 75.5, max_param_sparsity=75)


def test_erk_keeps_a_vector_at_raw_density_one():
    # a bias of 1000 (raw 1) beside a 10 x 10 matrix (raw 0.2): at 90 % (110 of 1100 kept)
    # both stay below dense, in the ratio 1 : 0.2: 1000 eps + 20 eps = 110
    eps = 110 / 1020
    densities = erk_densities({"w": (10, 10), "b": (1000,)}, 90)
    assert densities["b"] == pytest.approx(eps) and densities["w"] == pytest.approx(0.2 * eps)


def test_erk_keeps_a_vector_denser_than_a_matrix():
    pruned_counts = erk_pruned({"w": (64, 64), "b": (64,)}, 40)
    assert pruned_counts["b"] / 64 < pruned_counts["w"] / 4096


def test_global_allocation_is_the_papers_threshold_with_the_cap():
    # independent of ScoreRanking: the global floor(p*N) lowest, then the per-tensor cap
    scores = make_scores([(30, 20), (5, 4), (7,)], 3)
    flat = torch.cat([s.reshape(-1) for s in scores.values()])
    threshold = flat.sort().values[math.floor(0.5 * flat.numel()) - 1]
    masks = ScoreRanking(scores).masks(50, max_param_sparsity=75)
    for name, s in scores.items():
        expected = int((s <= threshold).sum())
        expected = min(expected, math.floor(0.75 * s.numel()))
        assert int((~masks[name]).sum()) == expected
        kept_min = s[masks[name]].min()
        assert (s[~masks[name]] <= kept_min).all()


def test_shuffle_keeps_the_counts_and_moves_the_positions():
    scores = make_scores([(40, 30), (20, 10), (15,)], 7)
    scored = ScoreRanking(scores, tie_break_seed=1)
    shuffled = ScoreRanking(scores, tie_break_seed=1, shuffle_within_tensor=True)
    again = ScoreRanking(scores, tie_break_seed=1, shuffle_within_tensor=True)
    other = ScoreRanking(scores, tie_break_seed=2, shuffle_within_tensor=True)
    a = scored.masks(40, max_param_sparsity=75)
    b = shuffled.masks(40, max_param_sparsity=75)
    assert pruned(a) == pruned(b)
    assert real_sparsity(a) == real_sparsity(b)
    overlap = [float((a[n] & b[n]).sum() / a[n].sum()) for n in ("t0", "t1")]
    assert all(o < 0.9 for o in overlap)  # random positions, not the scored ones
    assert all(torch.equal(b[n], again.masks(40, 75)[n]) for n in b)  # seeded
    assert not all(torch.equal(b[n], other.masks(40, 75)[n]) for n in b)


def test_schedule_masks_follow_the_allocation():
    scores = make_scores([(40, 30), (200, 3), (9,)], 11)
    ranking = ScoreRanking(scores, allocation="uniform")
    sm = ScheduleMasks(ranking, [40, 20, 10, 0], 75)
    for p in (40, 20, 10):
        got, want = sm.masks(p), ranking.masks(p, 75)
        assert all(torch.equal(got[n], want[n]) for n in want)


@pytest.mark.parametrize("name, group", [
    ("tts.encoder.encoders.0.self_attn.linear_q.weight", "encoder attention"),
    ("tts.decoder.encoders.1.feed_forward.w_2.bias", "decoder feed-forward"),
    ("tts.postnet.postnet.0.0.weight", "postnet"),
    ("tts.duration_predictor.conv.0.0.weight", "duration_predictor"),
    # JETS: the generator wraps FastSpeech2's parts and a HiFi-GAN called generator
    ("tts.generator.encoder.encoders.0.self_attn.linear_k.weight", "encoder attention"),
    ("tts.generator.generator.upsamples.0.1.weight_v", "generator"),
    ("tts.generator.alignment_module.t_conv1.weight", "alignment_module"),
])
def test_mask_report_groups_tensors_by_module(name, group):
    from espnet_sniper.bin.mask_report import module_group

    assert module_group(name) == group
