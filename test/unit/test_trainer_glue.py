"""The trainers' glue to ESPnet, in process: the options the tasks' real parsers take, what
``check_args`` refuses before any work (FastSpeech2 and GAN TTS, one rank and DDP), the GAN
scoring turns, and what ``train_one_epoch`` keeps at each epoch's start (the spare
checkpoint, the ``save_epochs`` models)."""

import argparse
import logging
from pathlib import Path

import pytest
import torch
from espnet2.train.distributed_utils import DistributedOption
from espnet2.train.reporter import Reporter

from espnet_sniper.checkpoint_recovery import SPARE
from espnet_sniper.config import SniperConfigError, parse_sniper_conf
from espnet_sniper.config_layouts import (
    ReferenceTrainerKeyError,
    announce_sniper_layout,
    check_reference_trainer_keys,
    requested_sniper_conf,
)
from espnet_sniper.gan_trainer import SniperGANTrainer
from espnet_sniper.saved_epochs import SAVED_EPOCHS_DIR
from espnet_sniper.tasks.gan_tts import SniperGANTTSTask
from espnet_sniper.tasks.tts import SniperTTSTask
from espnet_sniper.trainer import SniperTrainer

TASKS = [SniperTTSTask, SniperGANTTSTask]
SNIPER = ["--sniper_conf", "schedule={0: 40}"]


def parse(task, *argv: str) -> argparse.Namespace:
    return task.get_parser().parse_args(list(argv))


@pytest.mark.parametrize("task", TASKS)
def test_the_layout_keys_parse_to_their_types(task):
    args = parse(task, "--use_sniper", "false", "--sniper_dir", "sniper/x",
                 "--val_teacher_forcing", "true", "--save_epochs", "1", "3")
    assert args.use_sniper is False and args.sniper_dir == "sniper/x"
    assert args.val_teacher_forcing is True and args.save_epochs == [1, 3]
    defaults = parse(task)
    # what ESPnet writes into config.yaml for a config without them
    assert defaults.use_sniper is None and defaults.sniper_dir is None
    assert defaults.val_teacher_forcing is True and defaults.save_epochs == []
    assert defaults.sniper_conf == {}
    assert parse(task, "--val_teacher_forcing", "false").val_teacher_forcing is False


@pytest.mark.parametrize("task", TASKS)
def test_every_sniper_option_has_a_help_text(task):
    parser = task.get_parser()
    group = next(g for g in parser._action_groups if g.title == "SNIPER related")
    options = {a.option_strings[0]: a.help for a in group._group_actions}
    assert set(options) == {"--sniper_conf", "--use_sniper", "--sniper_dir",
                            "--val_teacher_forcing", "--save_epochs"}
    assert all(text and len(text) > 30 for text in options.values()), options
    # the strategies' names come from their registries
    assert "(snip|magnitude|random)" in options["--sniper_conf"]
    assert "(global|uniform|erk)" in options["--sniper_conf"]


@pytest.mark.parametrize("task", TASKS)
def test_check_args_refuses_the_references_free_running_validation(task):
    args = parse(task, *SNIPER, "--val_teacher_forcing", "false")
    with pytest.raises(ReferenceTrainerKeyError, match="val_teacher_forcing: false"):
        task.trainer.check_args(args)
    task.trainer.check_args(parse(task, *SNIPER, "--val_teacher_forcing", "true"))


@pytest.mark.parametrize("task", TASKS)
def test_check_args_refuses_use_sniper_without_sniper_conf(task):
    with pytest.raises(SniperConfigError, match="use_sniper: true"):
        task.trainer.check_args(parse(task, "--use_sniper", "true"))


def test_save_epochs_count_from_one():
    check_reference_trainer_keys(argparse.Namespace(save_epochs=[1]))
    check_reference_trainer_keys(argparse.Namespace())  # another task's namespace
    with pytest.raises(ReferenceTrainerKeyError, match=r"save_epochs: \[0\]"):
        check_reference_trainer_keys(argparse.Namespace(save_epochs=[0, 1]))


def test_a_namespace_without_the_layout_keys_is_dense_and_silent(caplog):
    bare = argparse.Namespace()
    assert requested_sniper_conf(bare) is None
    with caplog.at_level(logging.INFO):
        announce_sniper_layout(bare)
        announce_sniper_layout(argparse.Namespace(use_sniper=False))
    assert caplog.messages == ["use_sniper: false: dense training"]


def test_prune_discriminator_is_refused_for_a_model_without_one():
    args = parse(SniperTTSTask, "--sniper_conf", "schedule={0: 40}",
                 "--sniper_conf", "prune_discriminator=true")
    with pytest.raises(SniperConfigError, match="prune_discriminator"):
        SniperTrainer.check_args(args)
    SniperGANTrainer.check_args(parse(SniperGANTTSTask, "--sniper_conf", "schedule={0: 40}",
                                      "--sniper_conf", "prune_discriminator=true"))


@pytest.mark.parametrize("argv, distributed", [
    (["--ngpu", "2", "--multiprocessing_distributed", "true"], True),
    (["--ngpu", "3", "--multiprocessing_distributed", "true"], True),
    (["--ngpu", "2", "--multiprocessing_distributed", "false"], False),
    (["--ngpu", "1", "--multiprocessing_distributed", "true"], False),
    (["--dist_world_size", "2"], True),
    (["--dist_world_size", "1"], False),
    ([], False),
])
def test_gan_ddp_needs_unused_parameters(argv, distributed):
    """DDP (several GPUs of one process group, or a world of several ranks) fails on the
    parameters a GAN turn leaves without gradients unless it looks for unused ones."""
    unused_false = parse(SniperGANTTSTask, *argv, "--unused_parameters", "false")
    if distributed:
        with pytest.raises(SniperConfigError, match="unused_parameters: false under DDP"):
            SniperGANTrainer.check_args(unused_false)
    else:
        SniperGANTrainer.check_args(unused_false)
    SniperGANTrainer.check_args(parse(SniperGANTTSTask, *argv, "--unused_parameters", "true"))


def test_gan_scoring_refuses_what_espnets_gan_trainer_lacks():
    with pytest.raises(SniperConfigError, match="accum_grad: 2"):
        SniperGANTrainer.check_args(parse(SniperGANTTSTask, *SNIPER, "--accum_grad", "2"))
    with pytest.raises(SniperConfigError, match="grad_noise: true"):
        SniperGANTrainer.check_args(parse(SniperGANTTSTask, *SNIPER, "--grad_noise", "true"))
    # dense GAN training is ESPnet's business
    SniperGANTrainer.check_args(parse(SniperGANTTSTask, "--accum_grad", "2"))


@pytest.mark.parametrize("generator_first", [True, False])
def test_gan_scoring_turns_follow_the_trainers_order(generator_first):
    params = {"tts.generator.a.weight": None, "tts.discriminator.b.weight": None,
              "tts.generator.c.weight": None}
    options = SniperGANTrainer.build_options(
        parse(SniperGANTTSTask, "--generator_first", str(generator_first).lower()))
    turns = SniperGANTrainer.scoring_turns(params, options)
    generator = [t for t in turns if t.names[0].startswith("tts.generator.")][0]
    discriminator = [t for t in turns if t.names[0].startswith("tts.discriminator.")][0]
    assert generator.names == ("tts.generator.a.weight", "tts.generator.c.weight")
    assert generator.forward_kwargs == {"forward_generator": True}
    assert discriminator.forward_kwargs == {"forward_generator": False}
    assert turns == ([generator, discriminator] if generator_first
                     else [discriminator, generator])


def test_build_options_carry_the_config_and_the_saved_epochs():
    options = SniperTrainer.build_options(parse(SniperTTSTask, *SNIPER, "--save_epochs", "2"))
    assert options.sniper_config == parse_sniper_conf({"schedule": {0: 40}})
    assert options.save_epochs == (2,) and options.sniper is None
    assert type(options).__name__ == "SniperTrainerOptions"
    assert SniperTrainer.build_options(parse(SniperTTSTask)).save_epochs == ()


def _epoch_start(tmp_path: Path, epoch: int, save_epochs=(1, 2)) -> None:
    """ESPnet's trainer entering ``epoch`` (an empty one) in ``tmp_path``."""
    options = SniperTrainer.build_options(parse(
        SniperTTSTask, "--output_dir", str(tmp_path),
        *(["--save_epochs", *map(str, save_epochs)] if save_epochs else [])))
    reporter = Reporter()
    reporter.set_epoch(epoch)
    model = torch.nn.Linear(2, 2)
    with reporter.observe("train") as sub:
        SniperTrainer.train_one_epoch(
            model=model, iterator=[], optimizers=[torch.optim.SGD(model.parameters(), lr=0.1)],
            schedulers=[None], scaler=None, reporter=sub, summary_writer=None, options=options,
            distributed_option=DistributedOption(distributed=False))


def test_each_epoch_after_the_first_keeps_a_spare_and_the_saved_epochs(tmp_path):
    for epoch in (1, 2):
        (tmp_path / f"{epoch}epoch.pth").write_bytes(f"model {epoch}".encode())
    (tmp_path / "checkpoint.pth").write_bytes(b"checkpoint")
    _epoch_start(tmp_path, 1)
    assert not (tmp_path / SPARE).exists() and not (tmp_path / SAVED_EPOCHS_DIR).exists()
    _epoch_start(tmp_path, 2)
    assert (tmp_path / SPARE).read_bytes() == b"checkpoint"
    # the epochs done before this one: 1, not yet 2 (ESPnet may still replace its file)
    assert sorted(p.name for p in (tmp_path / SAVED_EPOCHS_DIR).iterdir()) == ["1epoch.pth"]
    _epoch_start(tmp_path, 3)
    assert sorted(p.name for p in (tmp_path / SAVED_EPOCHS_DIR).iterdir()) == \
        ["1epoch.pth", "2epoch.pth"]
