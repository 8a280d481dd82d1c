"""ScoreRanking's one-key sort against its definition: a stable sort by score of the
entries laid out in the seeded permutation (the ranking's first implementation)."""

import pytest
import torch

from espnet_sniper.masks import ScheduleMasks, ScoreRanking


def reference_ranks(scores, seed):
    """Ranks as first defined: permute, stable argsort, and the generator drawn alike."""
    names = list(scores)
    flat = torch.cat([scores[n].reshape(-1).float() for n in names])
    generator = torch.Generator().manual_seed(seed)
    perm = torch.randperm(flat.numel(), generator=generator).to(torch.int32)
    order = perm[torch.argsort(flat[perm], stable=True)]
    rank = torch.empty(flat.numel(), dtype=torch.int32)
    rank[order] = torch.arange(flat.numel(), dtype=torch.int32)
    out, offset = {}, 0
    for n in names:
        out[n] = rank[offset:offset + scores[n].numel()].view(scores[n].shape)
        offset += scores[n].numel()
    return out


def tricky_scores(seed):
    g = torch.Generator().manual_seed(seed)
    tiny = torch.finfo(torch.float32).tiny
    values = torch.tensor([0.0, -0.0, tiny / 4, -tiny / 4, tiny, -tiny, 1.0, -1.0, 3.5, -3.5,
                           torch.finfo(torch.float32).max, torch.finfo(torch.float32).min])
    # many repeats of few values: ties everywhere, signed zeros and subnormals among them
    picks = torch.randint(0, values.numel(), (300,), generator=g)
    return {"a": values[picks[:120]].view(10, 12), "b": values[picks[120:]],
            "c": torch.randn(7, 5, generator=g)}


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
@pytest.mark.parametrize("kind", ["tricky", "equal", "zeros", "negative", "random"])
def test_ranks_equal_the_stable_sort_of_the_permuted_scores(seed, kind):
    g = torch.Generator().manual_seed(seed + 100)
    scores = {
        "tricky": lambda: tricky_scores(seed),
        "equal": lambda: {"a": torch.full((40,), 0.25), "b": torch.full((3, 7), 0.25)},
        "zeros": lambda: {"a": torch.zeros(30), "b": -torch.zeros(4, 5)},
        "negative": lambda: {"a": -torch.rand(50, generator=g), "b": torch.randn(6, 6, generator=g)},
        "random": lambda: {"a": torch.rand(64, 8, generator=g), "b": torch.rand(17, generator=g)},
    }[kind]()
    ranking = ScoreRanking(scores, tie_break_seed=seed)
    expected = reference_ranks(scores, seed)
    for name in scores:
        assert torch.equal(ranking._ranks[name], expected[name]), name


@pytest.mark.parametrize("seed", [0, 3])
def test_shuffled_positions_draw_the_generator_as_before(seed):
    # the per-tensor permutations follow the tie-break one from the same generator
    scores = tricky_scores(seed)
    ranking = ScoreRanking(scores, tie_break_seed=seed, shuffle_within_tensor=True)
    generator = torch.Generator().manual_seed(seed)
    torch.randperm(sum(s.numel() for s in scores.values()), generator=generator)
    for name, s in scores.items():
        expected = torch.randperm(s.numel(), generator=generator).to(torch.int32).view(s.shape)
        assert torch.equal(ranking._positions[name], expected), name


def test_masks_from_the_reference_ranks_are_the_rankings():
    scores = tricky_scores(5)
    ranking = ScoreRanking(scores, tie_break_seed=5)
    ranks = reference_ranks(scores, 5)
    total = sum(s.numel() for s in scores.values())
    for sparsity in (10, 40, 75):
        n_pruned = int(sparsity * total // 100)
        masks = ranking.masks(sparsity)
        for name in scores:
            assert torch.equal(masks[name], ranks[name] >= n_pruned), (name, sparsity)
    nested = ScheduleMasks(ranking, (75, 40, 10))
    assert all(torch.equal(nested.masks(40)[n], ranking.masks(40)[n]) for n in scores)
