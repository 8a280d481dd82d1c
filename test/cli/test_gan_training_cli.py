"""The real ESPnet GAN CLI, stock and ours, on a tiny JETS (no teacher: it aligns itself).

``espnet_sniper.bin.gan_tts_train`` drives ESPnet's GANTrainer: per batch a generator and
a discriminator turn, each with its own optimizer. The runs are shared by the tests.
"""

import signal
from pathlib import Path

import pytest
import torch

from espnet_sniper import testing as tiny
from conftest import Run, run_all
from espnet_sniper.masks import ScoreRanking
from espnet_sniper.state import SniperState
from test_training_cli import load, load_checkpoint, wait_for

OURS, STOCK = "espnet_sniper.bin.gan_tts_train", "espnet2.bin.gan_tts_train"
SNIPER_CONF = {"schedule": {0: 50, 1: 25, 2: 0}}
GENERATOR = "tts.generator."


def jets_run(tiny_data, root: Path, name: str, module=OURS, extra=(), **config) -> Run:
    cfg = tiny.write_config(root / f"{name}.yaml", model="jets", **config)
    out = root / name
    return Run(tiny.train_command(module, tiny_data, cfg, out, *extra, durations=False), out)


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("gan_runs")
    r = {
        "stock": jets_run(tiny_data, root, "stock", module=STOCK, max_epoch=2),
        "ours_plain": jets_run(tiny_data, root, "ours_plain", max_epoch=2),
        "sniper": jets_run(tiny_data, root, "sniper", sniper_conf=SNIPER_CONF),
    }
    # one process: JETS's import and numba's compilation of its alignment search, once
    run_all(list(r.values()), parallel=1, sequential=True)
    for run in r.values():
        assert run.returncode == 0, run.text()[-3000:]
    r["root"] = root
    return r


def build_model(out: Path):
    from espnet2.tasks.gan_tts import GANTTSTask

    model, _ = GANTTSTask.build_model_from_file(out / "config.yaml", None, "cpu")
    return model


def run_ranking(out: Path) -> ScoreRanking:
    """The ranking the run's masks came from: its saved scores and ESPnet's own model."""
    from espnet_sniper.weight_norm import direction_slices

    state = SniperState.load(out / "sniper" / "state.pth")
    return ScoreRanking(state.scores, kept_slices=direction_slices(build_model(out)))


def test_without_sniper_conf_jets_trains_to_the_bits_of_stock_espnet(runs):
    stock = load(runs["stock"].output_dir / "2epoch.pth")
    ours = load(runs["ours_plain"].output_dir / "2epoch.pth")
    assert stock.keys() == ours.keys()
    for k in stock:
        assert torch.equal(stock[k], ours[k]), k


def test_generator_follows_the_schedule_and_the_discriminator_is_not_pruned(runs):
    out = runs["sniper"].output_dir
    ranking = run_ranking(out)
    masks = {s: ranking.masks(s) for s in (50, 25)}
    names = set(masks[50])
    # the generator's weights and biases, but no weight-norm magnitude, norm or embedding
    assert names and all(n.startswith(GENERATOR) for n in names)
    assert any(n.endswith(".weight_v") for n in names)
    assert not any(n.endswith(".weight_g") or "norm" in n or "embed" in n for n in names)
    total = sum(m.numel() for m in masks[50].values())
    for epoch, sparsity in ((1, 50), (2, 25)):
        weights = load(out / f"{epoch}epoch.pth")
        zeros = 0
        for name, keep in masks[sparsity].items():
            assert torch.count_nonzero(weights[name][~keep]) == 0, (epoch, name)
            zeros += int((weights[name] == 0).sum())
        # every weight-norm slice keeps an entry: a little under the nominal share
        assert sparsity - 0.5 <= 100 * zeros / total <= sparsity + 0.5, (epoch, zeros / total)
        # no slice of a weight-normalized tensor is all zero (its output would be NaN)
        for name in names:
            if name.endswith(".weight_v"):
                assert weights[name].flatten(1).abs().sum(1).gt(0).all(), (epoch, name)
    final = load(out / "3epoch.pth")
    zeros = sum(int((final[n] == 0).sum()) for n in names)
    assert zeros / total < 0.01
    # masks are nested: what 25 % prunes, 50 % pruned too
    assert all(bool((~masks[50][n] | masks[25][n]).all()) for n in names)


def test_saved_jets_synthesizes_a_waveform_in_stock_espnet(runs):
    from espnet2.bin.tts_inference import Text2Speech

    out = runs["sniper"].output_dir
    tts = Text2Speech(train_config=out / "config.yaml", model_file=out / "3epoch.pth")
    wav = tts("the quick brown fox")["wav"]
    assert wav.ndim == 1 and wav.numel() >= tiny.HOP and torch.isfinite(wav).all()
    assert tts.fs == tiny.FS


def test_killed_jets_resumes_bit_identically_with_clean_adam_moments(runs, tiny_data):
    reference = load(runs["sniper"].output_dir / "3epoch.pth")
    run = jets_run(tiny_data, runs["root"], "killed", sniper_conf=SNIPER_CONF,
                   extra=("--resume", "true"))
    out = run.output_dir
    run.start()
    wait_for(lambda: (out / "1epoch.pth").exists(), run.proc)  # in epoch 2
    run.proc.send_signal(signal.SIGKILL)
    run.wait()

    # The checkpoint it resumes from ends epoch 1 (50 %): the generator's Adam moments are
    # exactly 0 at its pruned entries; the discriminator's optimizer knows nothing of them.
    checkpoint = load_checkpoint(out / "checkpoint.pth")
    assert checkpoint["reporter"]["epoch"] == 1
    masks = run_ranking(out).masks(50)
    generator = [n for n, _ in build_model(out).named_parameters() if n.startswith(GENERATOR)]
    gen_optim, disc_optim = checkpoint["optimizers"]
    assert gen_optim["param_groups"][0]["params"] == list(range(len(generator)))
    checked = 0
    for index, state_of in gen_optim["state"].items():
        if generator[index] in masks:
            keep = masks[generator[index]]
            for moment in ("exp_avg", "exp_avg_sq"):
                assert torch.count_nonzero(state_of[moment][~keep]) == 0, generator[index]
            checked += 1
    assert checked == len(masks)
    assert len(disc_optim["state"]) > 0

    run.start()
    assert run.wait() == 0, run.text()[-3000:]
    resumed = load(out / "3epoch.pth")
    for k in reference:
        assert torch.equal(resumed[k], reference[k]), k
