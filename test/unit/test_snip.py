import logging

import pytest
import torch

from espnet_sniper.masks import prunable_parameters
from espnet_sniper.snip import ScoringTurn, snip_scores


class NormedModel(torch.nn.Module):
    """A linear layer, BatchNorm (running statistics move in training mode) and a head."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 6)
        self.norm = torch.nn.BatchNorm1d(6)
        self.head = torch.nn.Linear(6, 1)

    def forward(self, x, y, utt_id=None):
        loss = ((self.head(torch.relu(self.norm(self.proj(x)))) - y) ** 2).mean()
        return {"loss": loss}


def make_batches(n):
    g = torch.Generator().manual_seed(3)
    return [([f"u{i}"], {"x": torch.randn(5, 4, generator=g), "y": torch.randn(5, 1, generator=g)})
            for i in range(n)]


def test_scores_are_abs_weight_times_summed_gradient_and_the_model_is_left_as_it_was():
    torch.manual_seed(0)
    model = NormedModel().eval()
    params = prunable_parameters(model, [])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = make_batches(4)

    scores = snip_scores(model, params, batches, num_batches=3)

    # reference: gradients of the first three batches, summed with signs, then |w * g|
    reference = NormedModel()
    reference.load_state_dict(before)
    reference.train()
    for utt_ids, batch in batches[:3]:
        reference(**batch)["loss"].backward()
    ref_params = dict(reference.named_parameters())
    assert set(scores) == set(params)
    for name, score in scores.items():
        expected = (ref_params[name].detach() * ref_params[name].grad).abs()
        assert torch.allclose(score, expected, atol=1e-7)
    # nothing of the model moved: weights, BatchNorm statistics, batch counter, mode, grads
    after = model.state_dict()
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert int(after["norm.num_batches_tracked"]) == 0
    assert not model.training
    assert all(p.grad is None for p in model.parameters())


class TupleModel(torch.nn.Module):
    """Returns (loss, stats, weight) as AbsESPnetModel does, and notes the utt_ids it saw."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)
        self.seen = []

    def forward(self, x, y, utt_id=None):
        self.seen.append(utt_id)
        loss = ((self.lin(x) - y) ** 2).mean()
        return loss, {"loss": loss.detach()}, torch.tensor(x.shape[0])


def test_a_tuple_returning_model_is_scored_by_its_loss_and_sees_the_utt_ids():
    torch.manual_seed(0)
    model = TupleModel()
    params = prunable_parameters(model, [])
    batches = make_batches(2)
    scores = snip_scores(model, params, batches)
    assert model.seen == [["u0"], ["u1"]]
    grad = {n: torch.zeros_like(p) for n, p in params.items()}
    for _, batch in batches:
        loss = model(**batch)[0]
        for n, g in zip(params, torch.autograd.grad(loss, list(params.values()))):
            grad[n] += g
    for n, p in params.items():
        assert torch.allclose(scores[n], (p.detach() * grad[n]).abs(), atol=1e-7)


def test_an_iterator_without_length_and_progress_logging(caplog):
    torch.manual_seed(0)
    model = TupleModel()
    params = prunable_parameters(model, [])
    batches = make_batches(20)
    with caplog.at_level(logging.INFO):
        limited = snip_scores(model, params, iter(batches), num_batches=3)
        unlimited = snip_scores(model, params, (b for b in batches))
        listed = snip_scores(model, params, batches)
    assert all(torch.equal(a, b) for a, b in zip(unlimited.values(), listed.values()))
    assert not all(torch.equal(a, b) for a, b in zip(limited.values(), listed.values()))
    lines = [r.getMessage() for r in caplog.records]
    progress = [line for line in lines if line.startswith("SNIP scoring: ")]
    # every tenth of the planned batches, and the last one
    assert [line.split(",")[0] for line in progress] == (
        ["SNIP scoring: 1/3 batches", "SNIP scoring: 2/3 batches", "SNIP scoring: 3/3 batches"]
        + [f"SNIP scoring: {k}/? batches" for k in range(10, 21, 10)]
        + [f"SNIP scoring: {k}/20 batches" for k in range(2, 21, 2)])
    assert progress[-1].endswith("time left 0 seconds")
    assert progress[3].endswith("time left unknown")
    assert sum(line.startswith("SNIP scoring done: 20 batches in ") for line in lines) == 2


def test_no_batches_or_turns_that_miss_a_parameter_are_refused():
    model = TupleModel()
    params = prunable_parameters(model, [])
    with pytest.raises(RuntimeError,
                       match="^SNIP scoring got no batches from the training iterator$"):
        snip_scores(model, params, [])
    with pytest.raises(ValueError,
                       match="^the scoring turns must score each prunable parameter once$"):
        snip_scores(model, params, make_batches(1), turns=[ScoringTurn(("lin.weight",))])
    snip_scores(model, params, make_batches(1))  # and one batch is enough


def test_distributed_scores_are_the_all_reduced_sums(one_rank_group):
    # one rank: the sum over ranks is its own sum, through the real all_reduce
    torch.manual_seed(0)
    model = TupleModel()
    params = prunable_parameters(model, [])
    local = snip_scores(model, params, make_batches(3))
    reduced = snip_scores(model, params, make_batches(3), distributed=True)
    assert all(torch.equal(local[n], reduced[n]) for n in params)
