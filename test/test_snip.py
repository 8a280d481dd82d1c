import torch

from espnet_sniper.masks import prunable_parameters
from espnet_sniper.snip import snip_scores


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
