"""SniperTrainer.run and resume in process: ESPnet's own loop with a toy model."""

import dataclasses

import pytest
import torch

from espnet2.iterators.abs_iter_factory import AbsIterFactory
from espnet2.train.distributed_utils import DistributedOption
from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.lifecycle import state_path
from espnet_sniper.snip import snip_scores
from espnet_sniper.state import SniperState, SniperStateError
from espnet_sniper.trainer import SniperTrainer
from test_optimizer_step import ToyModel, batches, options


class ListIterFactory(AbsIterFactory):
    def __init__(self, data):
        self.data = data

    def build_iter(self, epoch, shuffle=None):
        # another order each epoch, as ESPnet's shuffling factories give
        k = (epoch - 1) % len(self.data)
        return iter(self.data[k:] + self.data[:k])


class RecordingIterFactory(AbsIterFactory):
    """Gives no batches; records the epochs it was asked for."""

    def __init__(self):
        self.epochs = []

    def build_iter(self, epoch, shuffle=None):
        self.epochs.append(epoch)
        return iter([])


def run(tmp_path, model, opt, max_epoch, resume=False, save_epochs=(), plots=None):
    config = parse_sniper_conf({"schedule": {0: 50, 1: 0}, "max_param_sparsity": 90,
                                "score_batches": 2})
    opts = dataclasses.replace(
        options(), output_dir=str(tmp_path), max_epoch=max_epoch, resume=resume,
        keep_nbest_models=[1], best_model_criterion=[("valid", "loss", "min")],
        use_tensorboard=False, use_matplotlib=False, seed=0, save_epochs=save_epochs)
    opts = dataclasses.replace(opts, sniper_config=config)
    SniperTrainer.run(model=model, optimizers=[opt], schedulers=[None],
                      train_iter_factory=ListIterFactory(batches(4)),
                      valid_iter_factory=ListIterFactory(batches(2, seed=1)),
                      plot_attention_iter_factory=plots, trainer_options=opts,
                      distributed_option=DistributedOption(distributed=False))


def test_a_run_prunes_its_first_epoch_and_a_resumed_run_ends_dense(tmp_path):
    """ESPnet's Trainer.run through SniperTrainer: the run scores and saves its state, epoch
    1 trains at 50 %; run again with --resume and two epochs, it resumes from epoch 1's
    checkpoint (SniperTrainer.resume), keeps the saved state and regrows for epoch 2."""
    torch.manual_seed(0)
    model = ToyModel()
    run(tmp_path, model, torch.optim.Adam(model.parameters(), lr=0.01), max_epoch=1)
    state = state_path(tmp_path).read_bytes()
    pruned = model.lin1.weight.detach() == 0
    assert 0.3 < pruned.float().mean() < 0.7  # 50 % of the prunable entries, per the cap
    assert torch.equal(torch.load(tmp_path / "checkpoint.pth", weights_only=False)["model"]["lin1.weight"] == 0,
                       pruned)

    torch.manual_seed(1)  # another start: the resumed run must take the checkpoint's weights
    resumed = ToyModel()
    # without --resume the same folder's state is not this model's: refused, not reused
    with pytest.raises(SniperStateError, match="differ from this run's initial weights"):
        run(tmp_path, resumed, torch.optim.Adam(resumed.parameters(), lr=0.01), max_epoch=2)
    run(tmp_path, resumed, torch.optim.Adam(resumed.parameters(), lr=0.01), max_epoch=2,
        resume=True)
    assert state_path(tmp_path).read_bytes() == state  # not scored again
    assert torch.load(tmp_path / "checkpoint.pth", weights_only=False)["reporter"]["epoch"] == 2
    # dense in epoch 2: every pruned entry regrew from its initial value and trained
    assert torch.count_nonzero(resumed.lin1.weight.detach()[pruned]) == int(pruned.sum())

    # the same two epochs without a stop: the resumed run is that run, to the bit
    torch.manual_seed(0)
    straight = ToyModel()
    run(tmp_path / "straight", straight, torch.optim.Adam(straight.parameters(), lr=0.01),
        max_epoch=2, save_epochs=(1, 2))
    # save_epochs keeps epoch 1's model, which ESPnet's keep_nbest_models 1 removes, and
    # the last epoch's, linked when the run ends
    assert sorted(p.name for p in (tmp_path / "straight" / "saved_epochs").iterdir()) \
        == ["1epoch.pth", "2epoch.pth"]
    assert not (tmp_path / "saved_epochs").exists() and not (tmp_path / "1epoch.pth").exists()
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_run_scores_the_first_batches_of_epoch_one(tmp_path):
    torch.manual_seed(0)
    model = ToyModel()
    expected = snip_scores(model, {"lin1.weight": model.lin1.weight,
                                   "lin2.weight": model.lin2.weight},
                           ListIterFactory(batches(4)).build_iter(1), num_batches=2)
    plots = RecordingIterFactory()
    run(tmp_path, model, torch.optim.Adam(model.parameters(), lr=0.01), max_epoch=1,
        plots=plots)
    assert plots.epochs == [1]  # ESPnet's attention plots still get their batches
    saved = SniperState.load(state_path(tmp_path), "cpu").scores
    assert set(saved) >= set(expected)
    for name, score in expected.items():
        assert torch.equal(saved[name], score), name
