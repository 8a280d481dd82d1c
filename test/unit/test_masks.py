import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from espnet_sniper.allocation import erk_pruned, uniform_pruned
from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.masks import (
    ScheduleMasks,
    ScoreRanking,
    count_kept,
    prunable_parameters,
    ranking_for,
    real_sparsity,
    tensor_density,
)

shapes = st.lists(
    st.tuples(st.integers(1, 6), st.integers(1, 7)), min_size=1, max_size=5
)


def make_scores(shape_list, seed, ties):
    g = torch.Generator().manual_seed(seed)
    scores = {}
    for i, shape in enumerate(shape_list):
        s = torch.rand(shape, generator=g)
        if ties:  # few distinct values, and some all-zero tensors
            s = (s * 3).floor() if i % 2 else torch.zeros(shape)
        scores[f"layer{i}.weight"] = s
    return scores


@settings(max_examples=60, deadline=None)
@given(shapes, st.integers(0, 10**6), st.booleans(), st.floats(0, 99.9))
def test_uncapped_mask_prunes_exactly_floor_p_n(shape_list, seed, ties, p):
    scores = make_scores(shape_list, seed, ties)
    n = sum(s.numel() for s in scores.values())
    masks = ScoreRanking(scores).masks(p)
    pruned = sum(int((~m).sum()) for m in masks.values())
    assert pruned == math.floor(p * n / 100)
    # the kept entries have scores no lower than any pruned one
    kept_min = min((s[m].min() for s, m in zip(scores.values(), masks.values()) if m.any()),
                   default=None)
    pruned_max = max((s[~m].max() for s, m in zip(scores.values(), masks.values())
                      if (~m).any()), default=None)
    if kept_min is not None and pruned_max is not None:
        assert kept_min >= pruned_max


@settings(max_examples=60, deadline=None)
@given(shapes, st.integers(0, 10**6), st.booleans(),
       st.lists(st.floats(0, 99.9), min_size=2, max_size=5), st.floats(1, 100))
def test_masks_are_nested_and_capped(shape_list, seed, ties, sparsities, cap):
    scores = make_scores(shape_list, seed, ties)
    ranking = ScoreRanking(scores, tie_break_seed=seed % 7)
    previous = None
    for p in sorted(sparsities, reverse=True):
        masks = ranking.masks(p, max_param_sparsity=cap)
        for name, m in masks.items():
            # the cap: no tensor loses more than floor(cap * n) entries
            assert int((~m).sum()) <= math.floor(cap * m.numel() / 100)
            if previous is not None:  # lower sparsity keeps all that a higher one kept
                assert bool((previous[name] & ~m).sum() == 0)
        previous = masks


def test_cap_keeps_a_seeded_subset_of_an_all_zero_tensor():
    scores = {"a.weight": torch.zeros(10, 10), "b.weight": torch.rand(10, 10) + 1}
    m1 = ScoreRanking(scores, tie_break_seed=3).masks(60, max_param_sparsity=75)
    m2 = ScoreRanking(scores, tie_break_seed=3).masks(60, max_param_sparsity=75)
    m3 = ScoreRanking(scores, tie_break_seed=4).masks(60, max_param_sparsity=75)
    assert int(m1["a.weight"].sum()) == 25  # keeps 1 - 75 % of its entries
    assert torch.equal(m1["a.weight"], m2["a.weight"])  # deterministic
    assert not torch.equal(m1["a.weight"], m3["a.weight"])  # the seed decides ties
    # the cap makes the real sparsity lower than the nominal one
    assert real_sparsity(m1) < 60


def test_exclusions_are_never_scored_or_masked():
    model = torch.nn.Sequential()
    model.add_module("embed", torch.nn.Embedding(5, 4))
    model.add_module("lin", torch.nn.Linear(4, 4))
    model.add_module("norm", torch.nn.LayerNorm(4))
    names = set(prunable_parameters(model, ["norm", "embed"]))
    assert names == {"lin.weight", "lin.bias"}  # biases are prunable
    model.lin.bias.requires_grad = False  # frozen parameters are not trained, so not pruned
    assert set(prunable_parameters(model, ["norm", "embed"])) == {"lin.weight"}


@settings(max_examples=25, deadline=None)
@given(shape_list=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6)), min_size=1,
                           max_size=4),
       seed=st.integers(0, 1000), ties=st.booleans(),
       sparsities=st.lists(st.floats(0.5, 95), min_size=1, max_size=5),
       cap=st.floats(10, 100))
def test_schedule_masks_equal_the_ranking_masks_at_every_scheduled_sparsity(
        shape_list, seed, ties, sparsities, cap):
    ranking = ScoreRanking(make_scores(shape_list, seed, ties))
    compact = ScheduleMasks(ranking, sparsities + [0.0], cap)
    for s in sparsities:
        expected = ranking.masks(s, cap)
        got = compact.masks(s)
        assert all(torch.equal(got[n], expected[n]) for n in expected)
    highest = ranking.masks(max(sparsities), cap)
    assert all(torch.equal(compact.ever_pruned()[n], ~highest[n]) for n in highest)
    unscheduled = next(v for v in (1.2345, 2.3456, 3.4567) if v not in sparsities)
    with pytest.raises(ValueError, match="not one of the schedule's"):
        compact.masks(unscheduled)


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(0, 10**6), st.booleans(),
       st.lists(st.floats(0, 99.9), min_size=2, max_size=4), st.sampled_from([0, 1, None]))
def test_kept_slices_keep_their_best_entry_and_stay_nested(shape_list, seed, ties, sparsities,
                                                           dim):
    scores = make_scores(shape_list, seed, ties)
    kept = {name: dim for name in list(scores)[::2]}  # weight-normalized, every other one
    plain = ScoreRanking(scores, tie_break_seed=seed % 7)
    ranking = ScoreRanking(scores, tie_break_seed=seed % 7, kept_slices=kept)
    previous = None
    for p in sorted(sparsities, reverse=True):
        masks, unprotected = ranking.masks(p), plain.masks(p)
        for name, m in masks.items():
            if name in kept:
                slices = m.reshape(1, -1) if dim is None else m.movedim(dim, 0).flatten(1)
                assert slices.any(dim=1).all()
                # only whole-pruned slices differ, by one entry each
                extra = m & ~unprotected[name]
                assert int(extra.sum()) <= slices.shape[0]
            else:
                assert torch.equal(m, unprotected[name])
            if previous is not None:
                assert bool((previous[name] & ~m).sum() == 0)
        previous = masks


def test_real_sparsity_is_the_pruned_share_of_all_masked_entries_in_percent():
    masks = {"a": torch.tensor([True, True, True, False]),
             "b": torch.tensor([[True, False], [False, False]])}
    assert count_kept(masks) == 4
    assert real_sparsity(masks) == 50.0
    assert real_sparsity({"a": torch.tensor([True, False, True, True])}) == 25.0
    assert real_sparsity({}) == 0.0
    assert tensor_density(masks["b"]) == 0.25


def test_what_cannot_be_ranked_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="^no prunable parameters to rank$"):
        ScoreRanking({})
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="^scores contain NaN or infinity; the loss at init"):
            ScoreRanking({"a": torch.tensor([1.0, bad])})
    with pytest.raises(ValueError, match=r"^allocation must be one of \['global', 'uniform', "
                                         r"'erk'\], got 'layerwise'$"):
        ScoreRanking({"a": torch.ones(3)}, allocation="layerwise")
    ranking = ScoreRanking({"a": torch.rand(10)})
    for sparsity in (100, 100.5, -1):
        with pytest.raises(ValueError, match=r"^sparsity must be in \[0, 100\), got "):
            ranking.masks(sparsity)


def test_ties_are_broken_by_the_seeded_permutation_and_the_seed_defaults_to_0():
    # all scores equal: the pruned entries are the first of randperm(N) under the seed
    scores = {"a": torch.zeros(7, 5), "b": torch.zeros(13)}
    for seed in (0, 3):
        perm = torch.randperm(48, generator=torch.Generator().manual_seed(seed))
        expected = torch.ones(48, dtype=torch.bool)
        expected[perm[:19]] = False  # floor(40 % of 48)
        masks = ScoreRanking(scores, tie_break_seed=seed).masks(40)
        assert torch.equal(torch.cat([masks["a"].reshape(-1), masks["b"]]), expected)
    default, zero = ScoreRanking(scores).masks(40), ScoreRanking(scores, 0).masks(40)
    assert all(torch.equal(default[n], zero[n]) for n in scores)


@pytest.mark.parametrize("allocation, counts", [
    ("uniform", lambda shapes, p, cap: uniform_pruned(shapes, p)),
    ("erk", erk_pruned),
])
def test_per_tensor_allocations_prune_the_allocations_counts(allocation, counts):
    shapes = {"w": (64, 48), "v": (48, 6), "b": (48,)}
    scores = make_scores(list(shapes.values()), 5, ties=False)
    scores = {name: scores[f"layer{i}.weight"] for i, name in enumerate(shapes)}
    ranking = ScoreRanking(scores, allocation=allocation)
    for p, cap in ((40, 100.0), (70, 75.0)):
        expected = counts(shapes, p, cap)
        assert ranking.pruned_counts(p, cap) == expected
        assert {n: int((~m).sum()) for n, m in ranking.masks(p, cap).items()} == expected


def test_ranking_for_builds_the_configs_ranking():
    scores = make_scores([(6, 7), (5,), (4, 4)], 9, ties=True)
    kept = {"layer0.weight": 0}
    config = parse_sniper_conf({"schedule": {0: 95}, "tie_break_seed": 4,
                                "allocation": "uniform", "shuffle_within_tensor": True})
    ranking = ranking_for(scores, config, kept)
    same = ScoreRanking(scores, 4, kept_slices=kept, allocation="uniform",
                        shuffle_within_tensor=True)
    assert ranking.allocation == "uniform"
    got, want = ranking.masks(95), same.masks(95)
    assert all(torch.equal(got[n], want[n]) for n in scores)
    # the kept slices: every row keeps one, where 95 % alone leaves 3 of 42 entries
    assert got["layer0.weight"].any(dim=1).all() and int(got["layer0.weight"].sum()) > 3


def test_schedule_masks_count_past_255_sparsities_and_keep_one_byte_an_entry_below():
    scores = {"a": torch.rand(30, 40, generator=torch.Generator().manual_seed(0))}
    ranking = ScoreRanking(scores)
    many = [0.3 * k for k in range(1, 257)]  # 256 sparsities: the lowest prunes 3 entries
    compact = ScheduleMasks(ranking, many)
    for s in (many[0], many[1], many[-1]):
        assert torch.equal(compact.masks(s)["a"], ranking.masks(s)["a"])
    assert torch.equal(compact.ever_pruned()["a"], ~ranking.masks(many[-1])["a"])
    # the documented memory: ranks in 4 bytes an entry, schedule masks in 1
    assert ranking._ranks["a"].element_size() == 4
    assert ScheduleMasks(ranking, [40, 20, 0])._pruned_count["a"].element_size() == 1
