"""The configs under conf/: each one ESPnet's parser of its task takes, each SNIPER
section valid, and every twin of a family equal to its dense config but for sniper_conf."""

from pathlib import Path

import pytest
import yaml

from espnet_sniper.config import parse_sniper_conf
from espnet_sniper.tasks.gan_tts import SniperGANTTSTask
from espnet_sniper.tasks.tts import SniperTTSTask

CONF = Path(__file__).resolve().parents[2] / "conf"
FAMILIES = {  # dense config -> its SNIPER and constant-sparsity twins
    "train_fastspeech2.yaml": ["train_sniper.yaml", "train_sniper20to0.yaml",
                               "train_sparsity40.yaml", "train_sparsity20.yaml",
                               "train_sniper_uniform_random.yaml"],
    "train_jets.yaml": ["train_sniper_jets.yaml", "train_sparsity40_jets.yaml"],
}
TRAINING = [Path(d) / name for d in ("", "mini") for dense, twins in FAMILIES.items()
            for name in [dense, *twins]]


def load(path: Path) -> dict:
    return yaml.safe_load((CONF / path).read_text())


@pytest.mark.parametrize("path", TRAINING, ids=str)
def test_config_parses_for_its_task(path):
    task = SniperGANTTSTask if load(path)["tts"] == "jets" else SniperTTSTask
    args = task.get_parser().parse_args(["--config", str(CONF / path)])
    task.trainer.check_args(args)
    config = parse_sniper_conf(args.sniper_conf)
    assert (config is None) == (path.name in FAMILIES)


@pytest.mark.parametrize("directory", ["", "mini"])
@pytest.mark.parametrize("dense", list(FAMILIES))
def test_twins_differ_from_their_dense_config_only_in_sniper_conf(directory, dense):
    reference = load(Path(directory) / dense)
    for twin in FAMILIES[dense]:
        config = load(Path(directory) / twin)
        assert config.pop("sniper_conf")["schedule"][0] > 0
        assert config == reference, twin


@pytest.mark.parametrize("path", [p for p in TRAINING if p.parent.name == "mini"]
                         + [Path("mini/train_tacotron2_teacher.yaml")], ids=str)
def test_cpu_configs_train_a_budget_of_updates_not_passes(path):
    """Counted in passes, a corpus a third the size trains a third of the steps and the
    schedule's epochs lose their meaning; a budget keeps both on any corpus."""
    config = load(path)
    assert isinstance(config["num_iters_per_epoch"], int) and config["num_iters_per_epoch"] > 0


def test_jets_configs_are_espnet_ljspeech_jets_shapes():
    paper, mini = load("train_jets.yaml"), load(Path("mini") / "train_jets.yaml")
    assert paper["tts_conf"]["generator_params"]["generator_channels"] == 512
    assert paper["num_iters_per_epoch"] == 1000 and paper["grad_clip"] == -1
    # the mini model keeps the paper's structure: the same keys at every level
    def keys(d, prefix=""):
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict):
                out |= keys(v, prefix + k + ".")
        return out
    assert keys(mini["tts_conf"]) == keys(paper["tts_conf"])


@pytest.mark.parametrize("directory", ["", "mini"])
def test_the_recommended_masks_config_is_the_papers_schedule_with_uniform_random_masks(directory):
    paper = parse_sniper_conf(load(Path(directory) / "train_sniper.yaml")["sniper_conf"])
    ours = parse_sniper_conf(load(Path(directory) / "train_sniper_uniform_random.yaml")["sniper_conf"])
    assert (ours.allocation, ours.scoring) == ("uniform", "random")
    assert (paper.allocation, paper.scoring) == ("global", "snip")  # the paper's stays
    assert ours.schedule.points == paper.schedule.points
