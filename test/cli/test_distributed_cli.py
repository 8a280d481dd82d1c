"""SNIPER through the training CLI under ESPnet's own DDP: two gloo processes on the CPU.

Each rank is started the way an external launcher starts it (RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT in the environment; ``--multiprocessing_distributed false``), once
through ``torchrun --nproc_per_node 2``. ESPnet gives each rank its share of every global
batch; only rank 0 writes files and logs, so what the ranks hold is compared by SNIPER's
own cross-rank checks, which rank 0 reports.
"""

import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from espnet_sniper import testing as tiny
from conftest import REPO
from espnet2.train.distributed_utils import free_port
from espnet_sniper.masks import ScoreRanking
from espnet_sniper.state import SniperState
from test_gan_training_cli import run_ranking

SCHEDULE = tiny.TWO_RANK_SCHEDULE
DDP_ARGS = tiny.DDP_ARGS


def kill_in_epoch_2(run: tiny.TwoRanks, first: int) -> None:
    """Once epoch 1 is saved, SIGKILL rank ``first`` (a rank dies), then the other (the job
    is stopped, as a scheduler would)."""
    deadline = time.time() + 300
    while not (run.output_dir / "1epoch.pth").exists():
        assert all(p.poll() is None for p in run.running()), run.text()[-3000:]
        assert time.time() < deadline, "epoch 1 did not end"
        time.sleep(0.02)
    ranks = run.running()
    for rank in (first, 1 - first):
        ranks[rank].send_signal(signal.SIGKILL)
    assert run.wait() == [-signal.SIGKILL, -signal.SIGKILL]


def load(path: Path):
    return torch.load(path, map_location="cpu", weights_only=True)


def paper_masks(scores, sparsity: float, cap: float):
    """What the paper's rule decides, computed apart from ScoreRanking: the floor(p N)
    lowest scores over all tensors are pruned, but never more than floor(cap n) of a
    tensor of n entries (its lowest). Per tensor: (entries that must be pruned, entries
    that must be kept, how many of the entries tied at the boundary are pruned (at least,
    at most)); tied entries (the zero scores of zero-initialized biases) go either way by
    the seeded tie-break."""
    flat = torch.cat([s.reshape(-1) for s in scores.values()]).sort().values
    threshold = flat[math.floor(sparsity / 100 * flat.numel()) - 1]
    decided = {}
    for name, s in scores.items():
        limit = math.floor(cap / 100 * s.numel())
        below, tied = s < threshold, s == threshold
        if int(below.sum()) + int(tied.sum()) <= limit:
            decided[name] = (below, s > threshold, (0, int(tied.sum())))
        else:  # at the cap: its limit lowest, ties at the cap's boundary either way
            boundary = s.reshape(-1).sort().values[limit - 1]
            below = s < boundary
            need = limit - int(below.sum())
            decided[name] = (below, s > boundary, (need, need))
    return decided


@pytest.fixture(scope="module")
def ddp(tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    reference = tiny.TwoRanks(tiny_data, root, "reference", torchrun=True).start()
    assert reference.wait() == [0], reference.text()[-4000:]
    return root, reference


def test_two_ranks_train_with_the_same_masks_and_weights(ddp):
    _, run = ddp
    text = run.text()
    assert "masks at 50.0 % agree on all 2 ranks" in text
    assert "masks at 25.0 % agree on all 2 ranks" in text
    assert "weights after training agree on all 2 ranks" in text
    # no pruned entry brings a gradient to the step (nor so to ESPnet's clipping) on any rank
    audits = [line for line in text.splitlines() if "carrying a gradient into" in line]
    assert len(audits) == 2 and all(line.endswith("per rank: [0, 0]") for line in audits)


def test_two_rank_models_are_sparse_by_epoch_with_zero_moments(ddp):
    _, run = ddp
    out = run.output_dir
    state = SniperState.load(out / "sniper" / "state.pth")
    total = sum(s.numel() for s in state.scores.values())
    for epoch, sparsity in ((1, 50), (2, 25)):
        weights = load(out / f"{epoch}epoch.pth")
        zeros = 0
        for name, (pruned, kept, (least, most)) in paper_masks(state.scores, sparsity,
                                                               cap=75).items():
            zero = weights[name] == 0
            assert zero[pruned].all() and not zero[kept].any(), (epoch, name)
            # a kept entry of score 0 may stay 0 (a key bias gets no gradient): at least
            tied = ~pruned & ~kept
            assert int(zero[tied].sum()) >= least, (epoch, name)
            if not (state.scores[name][tied] == 0).all():
                assert int(zero[tied].sum()) <= most, (epoch, name)
            zeros += int(zero[pruned].sum()) + least
        # the 75 % cap keeps the real sparsity of SNIP's concentrated masks below nominal
        assert 100 * zeros / total <= sparsity
    final = load(out / "3epoch.pth")
    assert sum(int((final[n] == 0).sum()) for n in state.scores) / total < 0.01
    # epoch 2's checkpoint (kept as the spare when epoch 3 began): Adam's moments of the
    # entries pruned at 25 % are exactly zero
    previous = torch.load(out / "checkpoint.prev.pth", map_location="cpu", weights_only=False)
    assert previous["reporter"]["epoch"] == 2
    masks = ScoreRanking(state.scores).masks(25, max_param_sparsity=75)
    from espnet2.tasks.tts import TTSTask

    model, _ = TTSTask.build_model_from_file(out / "config.yaml", out / "2epoch.pth", "cpu")
    names = [n for n, p in model.named_parameters()]  # ESPnet's optimizer order
    optim = previous["optimizers"][0]
    assert optim["param_groups"][0]["params"] == list(range(len(names)))
    checked = 0
    for index, state_of in optim["state"].items():
        name = names[index]
        if name in masks:
            for moment in ("exp_avg", "exp_avg_sq"):
                assert torch.count_nonzero(state_of[moment][~masks[name]]) == 0, name
            checked += 1
    assert checked == len(masks)


@pytest.fixture(scope="module")
def gan_ddp(tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("gan_ddp")
    reference = tiny.TwoRanks(tiny_data, root, "reference", model="jets").start()
    assert reference.wait() == [0, 0], reference.text()[-4000:]
    return root, reference


def test_two_rank_jets_prunes_the_generator_alike_and_leaves_the_discriminator(gan_ddp):
    _, run = gan_ddp
    text = run.logs[0].read_text()
    for sparsity in ("50.0", "25.0"):
        assert f"masks at {sparsity} % agree on all 2 ranks" in text
    assert "weights after training agree on all 2 ranks" in text
    state = SniperState.load(run.output_dir / "sniper" / "state.pth")
    assert state.scores and all(n.startswith("tts.generator.") for n in state.scores)
    weights = load(run.output_dir / "1epoch.pth")
    discriminator = [k for k in weights if k.startswith("tts.discriminator.")]
    assert discriminator
    # trained densely: no more exact zeros than chance gives a float32 weight
    zeros = sum(int((weights[k] == 0).sum()) for k in discriminator
                if weights[k].is_floating_point())
    assert zeros <= 2, zeros
    # the ranking the run used: weight-norm slices keep an entry each
    masks = run_ranking(run.output_dir).masks(50, max_param_sparsity=75)
    pruned = sum(int((~m).sum()) for m in masks.values())
    assert pruned > 0
    assert all(torch.count_nonzero(weights[n][~m]) == 0 for n, m in masks.items())


def test_two_rank_jets_without_unused_parameters_is_refused_before_training(tiny_data,
                                                                           tmp_path):
    config = tiny.write_config(tmp_path / "jets.yaml", model="jets",
                               sniper_conf={"schedule": SCHEDULE})
    cmd = tiny.train_command("espnet_sniper.bin.gan_tts_train", tiny_data, config,
                             tmp_path / "out", *DDP_ARGS, durations=False)
    env = dict(os.environ, RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(free_port()), PYTHONPATH=str(REPO))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "unused_parameters: false under DDP" in done.stderr
    assert not (tmp_path / "out").exists()


def test_killed_two_rank_jets_resumes_to_the_uninterrupted_weights(gan_ddp, tiny_data):
    root, reference = gan_ddp
    run = tiny.TwoRanks(tiny_data, root, "killed", model="jets").start()
    kill_in_epoch_2(run, first=0)  # the writing rank
    run.start()
    assert run.wait() == [0, 0], run.text()[-4000:]
    assert "The training was resumed" in run.logs[0].read_text()
    expected = load(reference.output_dir / "3epoch.pth")
    resumed = load(run.output_dir / "3epoch.pth")
    assert expected.keys() == resumed.keys()
    for k in expected:
        assert torch.equal(resumed[k], expected[k]), k
