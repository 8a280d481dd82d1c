"""SNIPER in ESPnet's own GANTrainer.train_one_epoch: a generator and a discriminator turn
per batch, each with its backward, clipping of all parameters and its own optimizer.

A toy GAN model keeps this in-process; the turns, clipping and steps are ESPnet's code.
The generator's loss passes through the discriminator, as a real GAN TTS's does.
"""

import dataclasses

import pytest
import torch

from espnet2.tasks.gan_tts import GANTTSTask
from espnet2.train.abs_gan_espnet_model import AbsGANESPnetModel
from espnet2.train.distributed_utils import DistributedOption
from espnet2.train.reporter import Reporter
from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.gan_trainer import SniperGANTrainer
from espnet_sniper.lifecycle import Sniper, state_path
from espnet_sniper.snip import snip_scores
from espnet_sniper.state import SniperState
from espnet_sniper.tasks.gan_tts import SniperGANTTSTask
from espnet_sniper.weight_norm import direction_slices


class ToyTTS(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.generator = torch.nn.Sequential(
            torch.nn.utils.weight_norm(torch.nn.Conv1d(4, 8, 3, padding=1)),
            torch.nn.Tanh(),
            torch.nn.Conv1d(8, 1, 3, padding=1),
        )
        self.discriminator = torch.nn.Sequential(
            torch.nn.utils.weight_norm(torch.nn.Conv1d(1, 6, 3)),
            torch.nn.LeakyReLU(0.1),
            torch.nn.Conv1d(6, 1, 3),
        )


class ToyGAN(AbsGANESPnetModel):
    """Generator turn: reconstruction + least-squares adversarial loss (through the
    discriminator); discriminator turn: real vs detached fake."""

    def __init__(self):
        super().__init__()
        self.tts = ToyTTS()

    def forward(self, x, y, forward_generator=True, **kwargs):
        fake = self.tts.generator(x)
        if forward_generator:
            loss = ((fake - y) ** 2).mean() + ((self.tts.discriminator(fake) - 1) ** 2).mean()
            idx = 0
        else:
            loss = ((self.tts.discriminator(y) - 1) ** 2).mean() + (
                self.tts.discriminator(fake.detach()) ** 2).mean()
            idx = 1
        turn = "generator" if forward_generator else "discriminator"
        return {"loss": loss, "stats": {f"{turn}_loss": loss.detach()},
                "weight": torch.tensor(x.shape[0]), "optim_idx": idx}

    def collect_feats(self, **kwargs):
        return {}


def batches(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [([f"u{i}"], {"x": torch.randn(2, 4, 10, generator=g),
                         "y": torch.randn(2, 1, 10, generator=g)}) for i in range(n)]


def options(**changes):
    args = SniperGANTTSTask.get_parser().parse_args([])
    base = dict(ngpu=0, accum_grad=1, grad_clip=0.05, grad_noise=False, use_amp=False,
                log_interval=1000, use_wandb=False, generator_first=True)
    base.update(changes)
    return dataclasses.replace(SniperGANTrainer.build_options(args), **base)


def setup(conf):
    torch.manual_seed(0)
    model = ToyGAN()
    opts = [torch.optim.Adam(model.tts.generator.parameters(), lr=0.01),
            torch.optim.Adam(model.tts.discriminator.parameters(), lr=0.01)]
    config = parse_sniper_conf(conf)
    params = SniperGANTrainer.prunable(model, config)
    g = torch.Generator().manual_seed(1)
    scores = {n: torch.rand(p.shape, generator=g) for n, p in params.items()}
    init = {n: p.detach().clone() for n, p in params.items()}
    sniper = Sniper.from_scores(config, params, scores, init, kept_slices=direction_slices(model))
    sniper.attach(opts)
    return model, opts, sniper


def train_epoch(model, opts, options, data):
    reporter = Reporter()
    reporter.set_epoch(1)
    with reporter.observe("train") as sub:
        SniperGANTrainer.train_one_epoch(
            model=model, iterator=data, optimizers=opts, schedulers=[None, None], scaler=None,
            reporter=sub, summary_writer=None, options=options,
            distributed_option=DistributedOption(distributed=False),
        )


def test_prunable_is_the_generator_without_weight_norm_magnitudes():
    model = ToyGAN()
    names = set(SniperGANTrainer.prunable(model, parse_sniper_conf({"schedule": {0: 50}})))
    assert names == {"tts.generator.0.weight_v", "tts.generator.0.bias",
                     "tts.generator.2.weight", "tts.generator.2.bias"}
    both = SniperGANTrainer.prunable(
        model, parse_sniper_conf({"schedule": {0: 50}, "prune_discriminator": True}))
    assert set(both) == names | {"tts.discriminator.0.weight_v", "tts.discriminator.0.bias",
                                 "tts.discriminator.2.weight", "tts.discriminator.2.bias"}


@pytest.mark.parametrize("generator_first", [True, False])
def test_masks_follow_the_generator_optimizer_and_leave_the_discriminator_alone(generator_first):
    # the global learning-rate factor: 1 / (1 - 0.6) on every parameter SNIPER steps
    model, opts, sniper = setup({"schedule": {0: 60}, "scale_lr_by_param": False,
                                     "scale_lr": True})
    controller = sniper.controller
    assert controller.optimizers == [opts[0]]
    controller.set_sparsity(60, weights_conform_to=None)
    data = batches(4)
    train_epoch(model, opts, SniperGANTrainer.attach(options(generator_first=generator_first),
                                                      sniper), data)

    # The same turns by hand: the generator's pruned gradients zeroed before the clipping
    # norm over all parameters, its update scaled by 2.5 and masked; nothing of SNIPER's
    # on the discriminator's side.
    torch.manual_seed(0)
    ref = ToyGAN()
    ref_opts = [torch.optim.Adam(ref.tts.generator.parameters(), lr=0.01),
                torch.optim.Adam(ref.tts.discriminator.parameters(), lr=0.01)]
    masks = {dict(ref.named_parameters())[n]: m.float() for n, m in controller.masks.items()}
    with torch.no_grad():
        for p, m in masks.items():
            p.mul_(m)
    turns = [True, False] if generator_first else [False, True]
    for _, b in data:
        for generator_turn in turns:
            ref(**b, forward_generator=generator_turn)["loss"].backward()
            for p, m in masks.items():
                if p.grad is not None:
                    p.grad.mul_(m)
            torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.05)
            if generator_turn:
                before = [p.detach().clone() for p in ref.tts.generator.parameters()]
                ref_opts[0].step()
                with torch.no_grad():
                    for p, old in zip(ref.tts.generator.parameters(), before):
                        p.lerp_(old, 1.0 - 2.5)
                        if p in masks:
                            p.mul_(masks[p])
            else:
                ref_opts[1].step()
            for o in ref_opts:
                o.zero_grad()
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert torch.equal(p, q), name
    for a, b in zip(opts[1].state.values(), ref_opts[1].state.values()):
        assert all(torch.equal(a[k], b[k]) for k in a)

    for name, keep in controller.masks.items():
        p = controller.params[name]
        assert torch.count_nonzero(p.detach()[~keep]) == 0, name
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.count_nonzero(opts[0].state[p][key][~keep]) == 0, name
    assert not any(p in controller.lr_factors for p in model.tts.discriminator.parameters())


def test_no_weight_norm_slice_is_pruned_whole():
    model, opts, sniper = setup({"schedule": {0: 95}})
    controller = sniper.controller
    controller.set_sparsity(95, weights_conform_to=None)
    keep = controller.masks["tts.generator.0.weight_v"]
    assert keep.flatten(1).any(dim=1).all()  # one entry per output channel
    train_epoch(model, opts, SniperGANTrainer.attach(options(), sniper), batches(2))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_pruning_the_discriminator_masks_it_at_its_own_step():
    model, opts, sniper = setup({"schedule": {0: 50}, "prune_discriminator": True})
    controller = sniper.controller
    assert controller.optimizers == opts
    controller.set_sparsity(50, weights_conform_to=None)
    train_epoch(model, opts, SniperGANTrainer.attach(options(), sniper), batches(3))
    for name, keep in controller.masks.items():
        p = controller.params[name]
        owner = opts[0] if name.startswith("tts.generator.") else opts[1]
        assert torch.count_nonzero(p.detach()[~keep]) == 0, name
        assert torch.count_nonzero(owner.state[p]["exp_avg"][~keep]) == 0, name


def test_snip_scores_each_part_with_its_own_turns_loss():
    torch.manual_seed(0)
    model = ToyGAN()
    config = parse_sniper_conf({"schedule": {0: 50}, "prune_discriminator": True})
    params = SniperGANTrainer.prunable(model, config)
    data = batches(3)
    scores = snip_scores(model, params, data,
                         turns=SniperGANTrainer.scoring_turns(params, options()))
    assert all(p.grad is None for p in model.parameters())
    expected = {}
    for generator_turn in (True, False):
        prefix = "tts.generator." if generator_turn else "tts.discriminator."
        model.zero_grad()
        for _, b in data:
            model(**b, forward_generator=generator_turn)["loss"].backward()
        for n, p in params.items():
            if n.startswith(prefix):
                expected[n] = (p.detach() * p.grad).abs()
    for n in params:
        assert torch.allclose(scores[n], expected[n], rtol=1e-5, atol=1e-9), n


def test_a_prepared_run_scores_each_part_by_its_own_turn(tmp_path):
    """What Sniper.prepare saves for a GAN with its discriminator pruned: each part's SNIP
    scores from its own turn's loss, as the trainer's turns say (one turn of the generator's
    loss would score the discriminator by what it does for the generator)."""
    torch.manual_seed(0)
    model = ToyGAN()
    config = parse_sniper_conf({"schedule": {0: 50}, "prune_discriminator": True})
    params = SniperGANTrainer.prunable(model, config)
    data = batches(3)
    turns = SniperGANTrainer.scoring_turns(params, options())
    Sniper.prepare(config, model, params, tmp_path, lambda: iter(data), turns)
    saved = SniperState.load(state_path(tmp_path), "cpu").scores
    expected = snip_scores(model, params, data, turns=turns)
    one_turn = snip_scores(model, params, data)
    for name in params:
        assert torch.equal(saved[name], expected[name]), name
    assert any(not torch.allclose(expected[n], one_turn[n])
               for n in params if n.startswith("tts.discriminator."))


def test_gan_entry_refuses_what_the_gan_trainer_cannot_do():
    parser = SniperGANTTSTask.get_parser()
    conf = ["--sniper_conf", "{schedule: {0: 40}}"]
    with pytest.raises(ValueError, match="accum_grad"):
        SniperGANTrainer.check_args(parser.parse_args(conf + ["--accum_grad", "2"]))
    with pytest.raises(ValueError, match="grad_noise"):
        SniperGANTrainer.check_args(parser.parse_args(conf + ["--grad_noise", "true"]))
    # a model without a discriminator refuses the key that prunes one
    from espnet_sniper.tasks.tts import SniperTTSTask
    from espnet_sniper.trainer import SniperTrainer

    args = SniperTTSTask.get_parser().parse_args(
        ["--sniper_conf", "{schedule: {0: 40}, prune_discriminator: true}"])
    with pytest.raises(ValueError, match="prune_discriminator: this model has no discriminator"):
        SniperTrainer.check_args(args)
    # stock options of the GAN task are all there
    stock = {a.dest for a in GANTTSTask.get_parser()._actions}
    ours = {a.dest for a in parser._actions}
    assert stock <= ours and {"sniper_conf", "generator_first"} <= ours
