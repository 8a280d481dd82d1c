import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from espnet_sniper.masks import ScheduleMasks, ScoreRanking, prunable_parameters, real_sparsity

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
