import pytest

from espnet_sniper.config import SniperConfigError, parse_sniper_conf

PAPER_40TO0 = {
    "sniper_dir": "sniper/fastspeech2",
    "max_param_sparsity": 75,
    "exclude_params": ["norm", "embed"],
    "restore_init_values": True,
    "schedule": {0: 40, 5: 20, 10: 10, 20: 0},
}


def test_reference_config_keeps_its_meaning_and_defaults():
    c = parse_sniper_conf(PAPER_40TO0)
    assert c.schedule.points == {0: 40, 5: 20, 10: 10, 20: 0}
    assert c.max_param_sparsity == 75 and c.exclude_params == ("norm", "embed")
    # the reference's SniperTraining.train defaults
    assert c.scale_lr_by_param and not c.scale_lr and c.max_lr_scaling == 100.0
    assert c.restore_init_values and c.ever_sparse and c.scoring == "snip"


def test_the_controls_are_ordinary_keys():
    c = parse_sniper_conf({"schedule": {0: 40, 2: 0}, "scoring": "random",
                           "scale_lr_by_param": False, "restore_init_values": False})
    assert c.scoring == "random" and not c.scale_lr_by_param and not c.restore_init_values


def test_mask_choice_keys_default_to_the_papers_and_parse():
    c = parse_sniper_conf(PAPER_40TO0)
    assert (c.scoring, c.allocation, c.shuffle_within_tensor) == ("snip", "global", False)
    c = parse_sniper_conf({"schedule": {0: 40, 2: 0}, "scoring": "magnitude",
                           "allocation": "erk", "shuffle_within_tensor": True})
    assert (c.scoring, c.allocation, c.shuffle_within_tensor) == ("magnitude", "erk", True)


def test_empty_means_stock_espnet():
    assert parse_sniper_conf({}) is None and parse_sniper_conf(None) is None


def test_decay_instead_of_schedule():
    c = parse_sniper_conf({"decay": {"kind": "linear", "initial": 40, "epochs": 4}})
    assert c.schedule.points[2] == 20.0


@pytest.mark.parametrize(
    "conf, key",
    [
        ({"schedule": {0: 40}, "max_param_sparsity": 30}, "sniper_conf.max_param_sparsity"),
        ({"schedule": {0: 40}, "max_param_sparsity": 0}, "sniper_conf.max_param_sparsity"),
        ({"schedule": {0: 40}, "learning_rate": 3}, "sniper_conf.learning_rate"),
        ({"schedule": {5: 40}}, "sniper_conf.schedule"),
        ({"schedule": {0: 140}}, "sniper_conf.schedule"),
        ({"schedule": {0: 40, -2: 20}}, "sniper_conf.schedule"),
        ({"schedule": {0: 40, 1.5: 20}}, "sniper_conf.schedule"),
        ({"max_param_sparsity": 75}, "sniper_conf.schedule"),
        ({"schedule": {0: 40}, "exclude_params": "norm"}, "sniper_conf.exclude_params"),
        ({"schedule": {0: 40}, "restore_init_values": "yes"}, "sniper_conf.restore_init_values"),
        ({"schedule": {0: 40}, "max_lr_scaling": 0.5}, "sniper_conf.max_lr_scaling"),
        ({"schedule": {0: 40}, "score_batches": 0}, "sniper_conf.score_batches"),
        ({"schedule": {0: 40}, "tie_break_seed": -1}, "sniper_conf.tie_break_seed"),
        ({"schedule": {0: 40}, "scoring": "gradient"}, "sniper_conf.scoring"),
        ({"schedule": {0: 40}, "allocation": "layerwise"}, "sniper_conf.allocation"),
        ({"schedule": {0: 40}, "shuffle_within_tensor": 1}, "sniper_conf.shuffle_within_tensor"),
        ({"schedule": {0: 40}, "scoring": "random", "shuffle_within_tensor": True},
         "sniper_conf.shuffle_within_tensor"),
        ({"schedule": {0: 40}, "decay": {"kind": "linear", "initial": 4, "epochs": 2}},
         "sniper_conf.decay"),
        ({"decay": {"kind": "linear", "initial": 40}}, "sniper_conf.decay"),
    ],
)
def test_invalid_conf_names_the_key(conf, key):
    with pytest.raises(SniperConfigError) as e:
        parse_sniper_conf(conf)
    assert str(e.value).startswith(key)


def _args(**keys):
    import argparse

    return argparse.Namespace(**{"use_sniper": None, "sniper_conf": {}, **keys})


def test_use_sniper_of_the_forks_layout_switches_sniper_conf():
    from espnet_sniper.trainer_mixin import requested_sniper_conf

    conf = {"schedule": {0: 60, 1: 0}, "exclude_params": ["batch_norm"]}
    assert requested_sniper_conf(_args(sniper_conf=conf)).schedule.points == {0: 60, 1: 0}
    assert requested_sniper_conf(_args(use_sniper=True, sniper_conf=conf)) is not None
    assert requested_sniper_conf(_args(use_sniper=False, sniper_conf=conf)) is None
    assert requested_sniper_conf(_args()) is None
    with pytest.raises(SniperConfigError, match="use_sniper: true, but the config has no "
                                                "sniper_conf"):
        requested_sniper_conf(_args(use_sniper=True))


def test_a_fork_layout_config_parses_and_use_sniper_false_trains_dense(tmp_path, caplog):
    import logging

    import yaml

    from espnet_sniper.tasks.tts import SniperTTSTask

    fork = {"use_sniper": False, "sniper_dir": "sniper/fastspeech2",
            "sniper_conf": {"schedule": {0: 60, 1: 0}, "exclude_params": ["batch_norm"]}}
    path = tmp_path / "fork.yaml"
    path.write_text(yaml.safe_dump(fork))
    args = SniperTTSTask.get_parser().parse_args(["--config", str(path)])
    assert args.use_sniper is False and args.sniper_dir == "sniper/fastspeech2"
    SniperTTSTask.trainer.check_args(args)
    with caplog.at_level(logging.INFO):
        options = SniperTTSTask.trainer.build_options(args)
    assert options.sniper_config is None
    assert "use_sniper: false: dense training, sniper_conf ignored" in caplog.text
    assert "sniper_dir (sniper/fastspeech2) is ignored" in caplog.text
    args = SniperTTSTask.get_parser().parse_args(["--config", str(path), "--use_sniper", "true"])
    assert SniperTTSTask.trainer.build_options(args).sniper_config.schedule.points[0] == 60
