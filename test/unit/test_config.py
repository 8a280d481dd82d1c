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


def test_kept_variance_is_absent_by_default_and_parses():
    assert parse_sniper_conf(PAPER_40TO0).kept_variance is None
    for value in ("random", "dense"):
        assert parse_sniper_conf({"schedule": {0: 40, 2: 0},
                                  "kept_variance": value}).kept_variance == value
    assert parse_sniper_conf({"schedule": {0: 40}, "kept_variance": None}).kept_variance is None


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
    from espnet_sniper.config_layouts import requested_sniper_conf

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


def test_keys_left_out_take_the_reference_defaults():
    c = parse_sniper_conf({"schedule": {0: 40}})
    assert c.exclude_params == ("norm", "embed") and c.restore_init_values
    assert c.scale_lr_by_param and not c.scale_lr and not c.prune_discriminator
    assert (c.max_param_sparsity, c.max_lr_scaling, c.tie_break_seed, c.score_batches) == (
        100.0, 100.0, 0, None)


def test_every_given_key_reaches_the_config():
    c = parse_sniper_conf({"schedule": {0: 40}, "exclude_params": ["batch_norm"],
                           "max_lr_scaling": 3, "tie_break_seed": 5, "score_batches": 1,
                           "scale_lr": True, "prune_discriminator": True})
    assert c.exclude_params == ("batch_norm",) and c.max_lr_scaling == 3.0
    assert c.tie_break_seed == 5 and c.score_batches == 1
    assert c.scale_lr and c.prune_discriminator


@pytest.mark.parametrize("conf", [
    {"schedule": {0: 40}, "max_param_sparsity": 40},  # the cap may equal the schedule's top
    {"schedule": {0: 0.5}, "max_param_sparsity": 0.5},
    {"schedule": {0: 40}, "max_param_sparsity": 100},
    {"schedule": {0: 40}, "max_lr_scaling": 1},
])
def test_boundary_values_are_accepted(conf):
    assert parse_sniper_conf(conf) is not None


def test_ignored_reference_keys_are_named_in_the_warning(caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        parse_sniper_conf(PAPER_40TO0)
    assert "sniper_conf.sniper_dir is ignored: the SNIPER state lives in" in caplog.text


@pytest.mark.parametrize("conf, message", [
    ({"schedule": {0: 40}, "score_batches": 1.5}, "score_batches: must be an integer >= 1"),
    ({"schedule": {0: 40}, "score_batches": "ten"}, "score_batches: must be an integer >= 1"),
    ({"schedule": {0: 40}, "score_batches": True}, "score_batches: must be an integer >= 1"),
    ({"schedule": {0: 40}, "tie_break_seed": 1.5}, "tie_break_seed: must be a non-negative"),
    ({"schedule": {0: 40}, "tie_break_seed": "3"}, "tie_break_seed: must be a non-negative"),
    ({"schedule": {0: 40}, "max_lr_scaling": float("nan")}, "max_lr_scaling: must be a number"),
    ({"schedule": {0: 40}, "max_lr_scaling": "3x"}, "max_lr_scaling: must be a number"),
    ({"schedule": {0: 40}, "max_lr_scaling": True}, "max_lr_scaling: must be a number"),
    ({"schedule": {0: 40}, "max_lr_scaling": 0.5}, "max_lr_scaling: must be >= 1"),
    ({"schedule": {0: 40}, "max_param_sparsity": "75"}, "max_param_sparsity: must be a number"),
    ({"schedule": {0: 0}, "max_param_sparsity": 0}, "max_param_sparsity: must be in (0, 100]"),
    ({"schedule": {0: 40}, "max_param_sparsity": 100.5}, "max_param_sparsity: must be in"),
    ({"schedule": {0: 40}, "max_param_sparsity": 30},
     "max_param_sparsity: 30.0 % per tensor makes the scheduled sparsity 40.0 % unreachable"),
    ({"schedule": {0: 40}, "exclude_params": ["norm", ""]}, "exclude_params: must be a list"),
    ({"schedule": {0: 40}, "exclude_params": ["norm", 3]}, "exclude_params: must be a list"),
    ({"schedule": {0: 40}, "exclude_params": 5}, "exclude_params: must be a list"),
    ({"schedule": {0: 40}, "restore_init_values": "yes"},
     "restore_init_values: must be true or false, got 'yes'"),
    ({"schedule": {0: 40}, "learning_rate": 3}, "learning_rate: unknown key; known keys are"),
    ({"schedule": {0: 40}, "scoring": "gradient"},
     "scoring: must be one of ['snip', 'magnitude', 'random'], got 'gradient'"),
    ({"schedule": {0: 40}, "allocation": "layerwise"},
     "allocation: must be one of ['global', 'uniform', 'erk'], got 'layerwise'"),
    ({"schedule": {0: 40}, "scoring": "random", "shuffle_within_tensor": True},
     "shuffle_within_tensor: shuffles scored positions; with scoring: random they are random "
     "already. Remove one of the two keys."),
    ({"schedule": {0: 40}, "kept_variance": "half"},
     "kept_variance: must be one of null, random, dense, got 'half'"),
    ({"schedule": {0: 40}, "kept_variance": True},
     "kept_variance: must be one of null, random, dense, got True"),
    ({"schedule": {0: 0, 1: 40}, "kept_variance": "random"},
     "kept_variance: rescales the initial weights when they are first masked, but the "
     "schedule's first epoch is dense"),
    ({"max_param_sparsity": 75}, "schedule: is required, e.g. {0: 40"),
    ({"schedule": {0: 140}}, "schedule: epoch 0: sparsity must be in [0, 100)"),
    ({"schedule": {0: 40}, "decay": {"kind": "linear", "initial": 4, "epochs": 2}},
     "decay: give either 'schedule' or 'decay', not both"),
    ({"decay": {"kind": "linear", "initial": 40}}, "decay: must be {kind: linear|cosine"),
    ({"decay": {"kind": "exponential", "initial": 40, "epochs": 2}},
     "decay: decay kind 'exponential' is not one of"),
])
def test_invalid_conf_says_what_is_wrong(conf, message):
    with pytest.raises(SniperConfigError) as e:
        parse_sniper_conf(conf)
    # sniper_conf.<key>: what is wrong
    assert str(e.value).startswith("sniper_conf." + message)


def test_a_conf_that_is_not_a_mapping():
    with pytest.raises(SniperConfigError, match=r"^sniper_conf must be a mapping, got \[40\]"):
        parse_sniper_conf([40])
