"""The real ESPnet CLI, stock and ours, on a tiny FastSpeech2 (and Tacotron2).

The training runs are shared by the tests of this module and started two at a time.
"""

import json
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from espnet_sniper import testing as tiny
from conftest import REPO, Run, run_all
from espnet_sniper.bin import mask_report, sparsity_report
from espnet_sniper.masks import ScoreRanking
from espnet_sniper.state import SniperState

OURS, STOCK = "espnet_sniper.bin.tts_train", "espnet2.bin.tts_train"
SNIPER_CONF = {"schedule": {0: 40, 1: 20, 2: 0}, "max_param_sparsity": 75}
UNIFORM_MAGNITUDE = {**SNIPER_CONF, "allocation": "uniform", "scoring": "magnitude"}


def make_run(tiny_data, root: Path, name: str, module=OURS, model="fastspeech2",
             extra=(), **config) -> Run:
    cfg = tiny.write_config(root / f"{name}.yaml", model=model, **config)
    out = root / name
    cmd = tiny.train_command(module, tiny_data, cfg, out, *extra,
                             durations=model == "fastspeech2")
    return Run(cmd, out)


def reference_config_run(tiny_data, root: Path) -> Run:
    """conf/train_sniper.yaml with every key of the reference's 40 -> 0 config (its patched
    trainer's included), shrunk to the tiny data only through command-line options."""
    config = yaml.safe_load((REPO / "conf" / "train_sniper.yaml").read_text())
    config["val_teacher_forcing"] = True
    config["save_epochs"] = [1]
    config["sniper_conf"]["sniper_dir"] = "sniper/fastspeech2"
    path = root / "reference.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    sizes = {k: v for k, v in tiny.FASTSPEECH2.items() if isinstance(v, int)}
    shrink = [arg for k, v in sizes.items() for arg in ("--tts_conf", f"{k}={v}")]
    feats = [f"fs={tiny.FS}", f"n_fft={tiny.N_FFT}", f"hop_length={tiny.HOP}", "n_mels=20"]
    shrink += [arg for f in feats for arg in ("--feats_extract_conf", f)]
    for extract in ("pitch_extract_conf", "energy_extract_conf"):
        shrink += [arg for f in feats[:3] for arg in (f"--{extract}", f)]
    shrink += ["--scheduler_conf", "model_size=16", "--scheduler_conf", "warmup_steps=10",
               "--num_iters_per_epoch", "2", "--accum_grad", "1", "--max_epoch", "2",
               "--num_workers", "0", "--use_matplotlib", "false", "--normalize", "none",
               "--pitch_normalize", "none", "--energy_normalize", "none",
               "--token_type", "char", "--cleaner", "none", "--g2p", "none"]
    out = root / "reference"
    return Run(tiny.train_command(OURS, tiny_data, path, out, *shrink), out)


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    r = {
        "stock": make_run(tiny_data, root, "stock", module=STOCK, max_epoch=2),
        "ours_plain": make_run(tiny_data, root, "ours_plain", max_epoch=2),
        "ours_dense": make_run(tiny_data, root, "ours_dense", max_epoch=2,
                               sniper_conf={"schedule": {0: 0}}),
        # SNIP scoring runs, but 1e-4 % of the tiny model's entries is less than one entry
        "scored_unpruned": make_run(tiny_data, root, "scored_unpruned", max_epoch=2,
                                    sniper_conf={"schedule": {0: 0.0001}}),
        "random": make_run(tiny_data, root, "random", max_epoch=1,
                           sniper_conf={**SNIPER_CONF, "scoring": "random"}),
        "uniform_magnitude": make_run(tiny_data, root, "uniform_magnitude", max_epoch=1,
                                      sniper_conf=UNIFORM_MAGNITUDE),
        "reference": reference_config_run(tiny_data, root),
        "sniper": make_run(tiny_data, root, "sniper", sniper_conf=SNIPER_CONF,
                           use_matplotlib=True, extra=("--use_tensorboard", "true")),
        "tacotron2": make_run(tiny_data, root, "tacotron2", model="tacotron2", max_epoch=2,
                              sniper_conf={"schedule": {0: 40, 1: 0},
                                           "max_param_sparsity": 75}),
        # the authors' ESPnet fork's layout: use_sniper and sniper_dir at the top level, its
        # oldest schedule's first step, batch_norm excluded, no cap
        "fork_layout": make_run(tiny_data, root, "fork_layout", max_epoch=1, use_sniper=True,
                                sniper_dir="sniper/fastspeech2",
                                sniper_conf={"schedule": {0: 60, 1: 40, 2: 20, 3: 10, 4: 0},
                                             "exclude_params": ["batch_norm"]}),
        "nothing_prunable": make_run(tiny_data, root, "nothing_prunable",
                                     sniper_conf={"schedule": {0: 40},
                                                  "exclude_params": ["."]}),
    }
    run_all(list(r.values()), sequential=True)
    r["root"] = root
    return r


def load(path: Path):
    return torch.load(path, map_location="cpu", weights_only=True)


def load_checkpoint(path: Path):
    return torch.load(path, map_location="cpu", weights_only=False)  # ESPnet's own format


def assert_ok(run):
    assert run.returncode == 0, run.text()[-3000:]


def test_without_sniper_conf_or_dense_schedule_training_is_stock_to_the_bit(runs):
    for name in ("stock", "ours_plain", "ours_dense"):
        assert_ok(runs[name])
    stock = load(runs["stock"].output_dir / "2epoch.pth")
    for name in ("ours_plain", "ours_dense"):
        ours = load(runs[name].output_dir / "2epoch.pth")
        assert ours.keys() == stock.keys()
        for k in stock:
            assert torch.equal(ours[k], stock[k]), f"{name}: {k} differs"
    assert not (runs["ours_dense"].output_dir / "sniper").exists()  # nothing was scored


def test_snip_scoring_shifts_no_random_stream(runs):
    """Scored runs stay paired with dense ones: a run that scores but prunes nothing
    trains to the bit of stock ESPnet (same initial weights, batches, dropout)."""
    assert_ok(runs["scored_unpruned"])
    assert "SNIP scoring done" in runs["scored_unpruned"].text()
    stock = load(runs["stock"].output_dir / "2epoch.pth")
    ours = load(runs["scored_unpruned"].output_dir / "2epoch.pth")
    for k in stock:
        assert torch.equal(ours[k], stock[k]), k


def test_random_scoring_prunes_a_seeded_random_subset(runs):
    assert_ok(runs["random"])
    out, snip_out = runs["random"].output_dir, runs["sniper"].output_dir
    state = SniperState.load(out / "sniper" / "state.pth")
    assert all(torch.count_nonzero(s) == 0 for s in state.scores.values())
    assert "random masks" in runs["random"].text() and "SNIP scoring" not in runs["random"].text()
    random_masks = ScoreRanking(state.scores).masks(40, max_param_sparsity=75)
    _, snip_masks = sniper_masks(snip_out, 40)
    epoch1 = load(out / "1epoch.pth")
    kept_both = kept_random = total = 0
    for name, m in random_masks.items():
        assert torch.count_nonzero(epoch1[name][~m]) == 0
        kept_both += int((m & snip_masks[name]).sum())
        kept_random, total = kept_random + int(m.sum()), total + m.numel()
    # 40 %, spread evenly: only tensors too small for the 75 % cap to prune one entry of
    # keep theirs (SNIP's masks concentrate on some tensors and meet the cap)
    assert math.floor(0.4 * total) - 5 <= total - kept_random <= math.floor(0.4 * total)
    # a random kept set is independent of SNIP's: per tensor, the overlap of two subsets of
    # sizes a and b of n entries is hypergeometric (mean a b / n); the sum over tensors
    # stays within 4 standard deviations of its mean
    mean = var = 0.0
    for name, m in random_masks.items():
        n, a, b = m.numel(), int(m.sum()), int(snip_masks[name].sum())
        if n > 1:
            mean += a * b / n
            var += a * b * (n - a) * (n - b) / (n * n * (n - 1))
    assert abs(kept_both - mean) <= 4 * math.sqrt(var) + 1


def test_the_reference_config_trains_with_its_trainer_keys(runs):
    run = runs["reference"]
    assert_ok(run)
    assert "sniper_conf.sniper_dir is ignored" in run.text()
    out = run.output_dir
    kept = out / "saved_epochs" / "1epoch.pth"
    # save_epochs keeps epoch 1's model, as a hard link while ESPnet's n-best has it too
    assert kept.is_file()
    if (out / "1epoch.pth").exists():
        assert (out / "1epoch.pth").stat().st_ino == kept.stat().st_ino
    assert not (out / "saved_epochs" / "2epoch.pth").exists()
    state = SniperState.load(out / "sniper" / "state.pth")
    epoch1 = load(kept)
    # the paper's masks from the saved scores, by arithmetic of their own: the global
    # threshold is the floor(0.4 N)-th smallest score; a tensor that would lose more than
    # 75 % loses its floor(0.75 n) lowest instead
    flat = torch.cat([v.reshape(-1) for v in state.scores.values()]).sort().values
    threshold = flat[math.floor(0.4 * flat.numel()) - 1]
    assert threshold > 0  # no tie at the threshold: which entries go is fully determined
    for name, score in state.scores.items():
        cutoff, cap = threshold, math.floor(0.75 * score.numel())
        if int((score <= threshold).sum()) > cap:
            cutoff = score.reshape(-1).kthvalue(cap).values if cap else float("-inf")
        weights, init = epoch1[name], state.init_values[name]
        assert torch.count_nonzero(weights[score < cutoff]) == 0, name  # pruned
        trained = (score > cutoff) & (init != 0)  # kept and not a zero-initialised entry
        assert bool((weights[trained] != 0).all()), name


def test_the_forks_config_layout_trains_unchanged(runs):
    run = runs["fork_layout"]
    assert_ok(run)
    text = run.text()
    assert "sniper_dir (sniper/fastspeech2) is ignored" in text
    state = SniperState.load(run.output_dir / "sniper" / "state.pth")
    assert any("norm" in name for name in state.scores)  # only batch_norm is excluded
    epoch1 = load(run.output_dir / "1epoch.pth")
    zeros = sum(int((epoch1[n] == 0).sum()) for n in state.scores)
    total = sum(s.numel() for s in state.scores.values())
    assert zeros >= math.floor(0.6 * total)  # 60 %, no cap: exactly that many pruned
    assert zeros <= math.floor(0.6 * total) + 0.01 * total  # (and a few zero biases)


def test_free_running_validation_is_refused_by_name(runs, tiny_data):
    """In this process: the refusal comes right after argument parsing, before ESPnet."""
    from espnet_sniper.tasks.tts import SniperTTSTask

    run = make_run(tiny_data, runs["root"], "free_running_validation", sniper_conf=SNIPER_CONF,
                   extra=("--val_teacher_forcing", "false"))
    with pytest.raises(SystemExit) as stop:
        SniperTTSTask.main(cmd=run.cmd[3:])  # without the interpreter and its -m
    assert "val_teacher_forcing: false" in str(stop.value.code)
    assert not run.output_dir.exists()


def sniper_masks(output_dir: Path, sparsity: float):
    state = SniperState.load(output_dir / "sniper" / "state.pth")
    return state, ScoreRanking(state.scores).masks(sparsity, max_param_sparsity=75)


def test_sniper_run_follows_the_schedule_with_nested_masks(runs):
    run = runs["sniper"]
    assert_ok(run)
    out = run.output_dir
    state, masks40 = sniper_masks(out, 40)
    _, masks20 = sniper_masks(out, 20)
    epoch1, epoch2, epoch3 = (load(out / f"{e}epoch.pth") for e in (1, 2, 3))
    assert set(masks40) == set(state.init_values)
    assert not any("norm" in n or "embed" in n for n in masks40)  # exclusions untouched
    for name in masks40:
        assert bool((~masks20[name] & masks40[name]).sum() == 0)  # nested
        assert torch.count_nonzero(epoch1[name][~masks40[name]]) == 0
        assert torch.count_nonzero(epoch2[name][~masks20[name]]) == 0
    # dense at the end: nearly every weight is non-zero again
    total = sum(epoch3[n].numel() for n in masks40)
    zeros = sum(int((epoch3[n] == 0).sum()) for n in masks40)
    assert zeros / total < 0.01


def test_sparsity_and_lr_factor_reach_log_images_and_tensorboard(runs):
    run = runs["sniper"]
    text = run.text()
    assert "1epoch results: [train] sniper_sparsity=40.000" in text
    assert "3epoch results: [train] sniper_sparsity=0.000e+00" in text
    for key in ("sniper_sparsity", "sniper_sparsity_real", "sniper_lr_factor"):
        assert (run.output_dir / "images" / f"{key}.png").stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run.output_dir / "tensorboard" / "train"))
    acc.Reload()
    real = [e.value for e in acc.Scalars("sniper_sparsity_real")]
    assert len(real) == 3 and 0 < real[1] < real[0] <= 40 and real[2] == 0


def test_sparsity_report_counts_the_real_sparsity(runs, tmp_path, capsys):
    out = runs["sniper"].output_dir
    _, masks40 = sniper_masks(out, 40)
    sparsity_report.main([str(out / "1epoch.pth"), "--json", str(tmp_path / "r.json")])
    report = json.loads((tmp_path / "r.json").read_text())
    pruned = sum(int((~m).sum()) for m in masks40.values())
    total = sum(m.numel() for m in masks40.values())
    # pruned entries are zero; a few kept ones are too (zero-initialised biases that get
    # no gradient, such as attention key biases)
    assert pruned <= report["total"]["prunable"]["zeros"] <= pruned + 0.01 * total
    assert report["total"]["prunable"]["numel"] == total
    assert "total prunable" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="does not exist"):
        sparsity_report.main([str(out / "missing.pth")])


def assert_uniform_magnitude_masks(state, model, sparsity):
    """Every tensor lost its floor(p * n) smallest initial weights, and kept the rest:
    arithmetic on the saved initial values, independent of the ranking code."""
    for name, init in state.init_values.items():
        magnitude, trained = init.abs().reshape(-1), model[name].reshape(-1)
        k = math.floor(sparsity / 100 * magnitude.numel())
        if k == 0:
            assert torch.count_nonzero(trained[magnitude > 0]) == int((magnitude > 0).sum())
            continue
        kth = magnitude.kthvalue(k).values
        assert torch.count_nonzero(trained[magnitude < kth]) == 0, name  # pruned
        assert bool((trained[magnitude > kth] != 0).all()), name  # kept (and trained)


def test_uniform_magnitude_prunes_each_tensors_smallest_initial_weights(runs):
    run = runs["uniform_magnitude"]
    assert_ok(run)
    out = run.output_dir
    state = SniperState.load(out / "sniper" / "state.pth")
    for name, init in state.init_values.items():
        assert torch.equal(state.scores[name], init.abs())  # the scores are |initial weight|
    assert_uniform_magnitude_masks(state, load(out / "1epoch.pth"), 40)
    total = sum(v.numel() for v in state.init_values.values())
    real = float(re.search(r"SNIPER: sparsity 40(?:\.0)? % \(real ([0-9.]+) %", run.text())[1])
    # each tensor's count floored: at most one entry per tensor under the nominal 40 %
    assert 40 - 100 * len(state.init_values) / total <= real <= 40


def test_a_resumed_run_keeps_its_allocation_and_scoring(runs, tiny_data):
    """Epoch 2 of the uniform-magnitude run, resumed from its epoch-1 checkpoint in a new
    process: the masks at 20 % are rebuilt from the saved state under the same keys."""
    root = runs["root"]
    out = root / "uniform_magnitude_resumed"
    _copy_run(runs["uniform_magnitude"].output_dir, out)
    run = make_run(tiny_data, root, "uniform_magnitude_resumed", max_epoch=2,
                   sniper_conf=UNIFORM_MAGNITUDE, extra=("--resume", "true"))
    assert run.start().wait() == 0, run.text()[-3000:]
    assert "SNIP scoring" not in run.text() and "using the scores and initial values" in run.text()
    state = SniperState.load(out / "sniper" / "state.pth")
    assert_uniform_magnitude_masks(state, load(out / "2epoch.pth"), 20)


def test_mask_report_shows_where_the_run_pruned(runs, tmp_path, capsys):
    out = runs["sniper"].output_dir
    epoch1 = load(out / "1epoch.pth")
    mask_report.main([str(out / "sniper" / "state.pth"), "--allocations", "global",
                      "uniform", "erk", "--json", str(tmp_path / "r.json"),
                      "--plot", str(tmp_path / "r.png")])
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["sparsities"] == [40, 20] and report["allocation_of_run"] == "global"
    tensors = report["tensors"]
    # the run's own allocation: every pruned entry of epoch 1 is zero (a few kept
    # zero-initialised biases without gradient are zero too)
    predicted = sum(round((1 - t["density"]["global"]["40"]) * t["numel"])
                    for t in tensors.values())
    zeros = sum(int((epoch1[n] == 0).sum()) for n in tensors)
    total = sum(t["numel"] for t in tensors.values())
    assert predicted <= zeros <= predicted + 0.01 * total
    at_cap = report["tensors_at_cap"]["global"]
    assert at_cap and all(int((epoch1[n] == 0).sum()) >= math.floor(0.75 * tensors[n]["numel"])
                          for n in at_cap)
    below = [n for n in tensors if n not in at_cap]
    assert any(int((epoch1[n] == 0).sum()) < math.floor(0.75 * tensors[n]["numel"])
               for n in below)
    for allocation in ("uniform", "erk"):
        assert 40 - 100 * len(tensors) / total <= report["real_sparsity"][allocation]["40"] <= 40
    groups = report["groups"]
    assert sum(g["numel_share"] for g in groups.values()) == pytest.approx(1.0)
    assert sum(g["score_share"] for g in groups.values()) == pytest.approx(1.0)
    assert {"encoder attention", "decoder feed-forward", "postnet",
            "duration_predictor"} <= set(groups)
    assert (tmp_path / "r.png").stat().st_size > 0
    assert "real sparsity" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="does not exist"):
        mask_report.main([str(out / "missing.pth")])


def test_saved_models_are_plain_and_load_in_stock_espnet(runs):
    out = runs["sniper"].output_dir
    stock_keys = load(runs["stock"].output_dir / "2epoch.pth").keys()
    assert load(out / "3epoch.pth").keys() == stock_keys  # no mask or SNIPER keys
    script = (
        "import sys; sys.modules['espnet_sniper'] = None\n"  # as if not installed
        "from espnet2.bin.tts_inference import Text2Speech\n"
        f"t = Text2Speech(train_config='{out}/config.yaml', model_file='{out}/3epoch.pth')\n"
        "r = t('the quick brown fox')\n"
        "print('FRAMES', r['feat_gen'].shape[0], r['feat_gen'].shape[1])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    frames, dim = map(int, done.stdout.split("FRAMES")[1].split())
    assert frames > 0 and dim == 20


def test_tacotron2_trains_with_sniper(runs):
    run = runs["tacotron2"]
    assert_ok(run)
    state = SniperState.load(run.output_dir / "sniper" / "state.pth")
    masks = ScoreRanking(state.scores).masks(40, max_param_sparsity=75)
    epoch1 = load(run.output_dir / "1epoch.pth")
    assert any(n.startswith("tts.dec.") for n in masks)
    for name, m in masks.items():
        assert torch.count_nonzero(epoch1[name][~m]) == 0


def test_teacher_forced_batches_give_text2speechs_attention(runs, tiny_data):
    """The recipe's teacher alignment (espnet_sniper.recipe.alignment.teacher) decodes batches with the
    forward pass ESPnet's Tacotron2 trains with. Alone, an utterance gets the attention of
    ESPnet's Text2Speech(use_teacher_forcing=True) to the bit, prenet dropout and all; in a
    batch (dropout off: it draws other numbers for other shapes), the longest transcript
    gets it to rounding but at its last frames (the front end pads a batch with zeros),
    and every utterance its own frames by its own tokens."""
    import soundfile
    from espnet2.bin.tts_inference import Text2Speech
    from espnet2.torch_utils.set_all_random_seed import set_all_random_seed

    from espnet_sniper.recipe.alignment import teacher as teacher_align

    out = runs["tacotron2"].output_dir
    tts = Text2Speech(train_config=out / "config.yaml", model_file=out / "2epoch.pth",
                      use_teacher_forcing=True)
    texts = dict(line.split(maxsplit=1)
                 for line in (tiny_data["train"] / "text").read_text().splitlines())
    speech = {uid: soundfile.read(line.split()[1], dtype="float32")[0]
              for uid, line in zip(texts, (tiny_data["train"] / "wav.scp").read_text()
                                   .splitlines())}

    def alone(uid):
        set_all_random_seed(tts.seed)
        with torch.no_grad():
            return tts(texts[uid], speech=torch.from_numpy(speech[uid]))["att_w"]

    def batched(uids):
        set_all_random_seed(tts.seed)
        with torch.no_grad():
            return teacher_align.teacher_forced_attention(
                tts, [texts[u] for u in uids], [speech[u] for u in uids])

    for uid in list(texts)[:2]:
        assert torch.equal(batched([uid])[0], alone(uid))
    tts.model.tts.dec.prenet.dropout_rate = 0.0
    longest_first = sorted(texts, key=lambda u: -len(texts[u]))[:4]
    together = batched(longest_first)
    first = alone(longest_first[0])
    assert together[0].shape == first.shape
    assert torch.allclose(together[0][:-4], first[:-4], atol=1e-5)
    for uid, attention in zip(longest_first, together):
        assert attention.shape == alone(uid).shape  # frames x (tokens + <sos/eos>)
        assert torch.allclose(attention.sum(-1), torch.ones(len(attention)), atol=1e-5)


def test_bad_sniper_conf_stops_before_any_work(runs, tiny_data):
    # a model it cannot prune: through the CLI, a message and no traceback
    run = runs["nothing_prunable"]
    assert run.returncode != 0
    assert "sniper_conf.exclude_params" in run.text() and "Traceback" not in run.text()
    assert not run.output_dir.exists()
    # a bad schedule stops right after argument parsing (here in this process)
    from espnet_sniper.tasks.tts import SniperTTSTask

    bad = make_run(tiny_data, runs["root"], "bad_schedule", sniper_conf={"schedule": {5: 40}})
    with pytest.raises(SystemExit) as stop:
        SniperTTSTask.main(cmd=bad.cmd[3:])
    assert str(stop.value.code).startswith("error: sniper_conf.schedule")
    assert not bad.output_dir.exists()


def wait_for(predicate, proc, timeout=300.0):
    end = time.time() + timeout
    while not predicate():
        assert proc.poll() is None, "the training ended before the kill point"
        assert time.time() < end, "kill point not reached"
        time.sleep(0.02)


def test_killed_training_resumes_bit_identically(runs, tiny_data):
    root = runs["root"]
    reference = load(runs["sniper"].output_dir / "3epoch.pth")
    run = make_run(tiny_data, root, "killed", sniper_conf=SNIPER_CONF,
                   extra=("--resume", "true"))
    out = run.output_dir
    kill_points = [
        lambda: "SNIP scoring:" in run.text(),  # during scoring: no state yet
        lambda: (out / "1epoch.pth").exists(),  # in epoch 2, after a sparsity change
    ]
    for point in kill_points:
        run.start()
        wait_for(point, run.proc)
        run.proc.send_signal(signal.SIGKILL)
        run.wait()
    run.start()
    assert run.wait() == 0, run.text()[-3000:]
    # a kill inside an atomic write leaves its temporary, which the resumed run removes
    assert not list(out.glob("**/*.tmp")) and not list(out.glob("**/.*.tmp"))
    resumed = load(out / "3epoch.pth")
    for k in reference:
        assert torch.equal(resumed[k], reference[k]), k


def _copy_run(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst, symlinks=True)


def test_kill_while_saving_the_checkpoint_resumes_from_the_spare(runs, tiny_data):
    """What a SIGKILL inside ESPnet's torch.save of epoch 3's checkpoint leaves behind."""
    root, reference = runs["root"], runs["sniper"].output_dir
    out = root / "killed_saving_checkpoint"
    _copy_run(reference, out)
    assert load_checkpoint(out / "checkpoint.prev.pth")["reporter"]["epoch"] == 2  # the spare
    data = (out / "checkpoint.pth").read_bytes()
    (out / "checkpoint.pth").write_bytes(data[: len(data) // 2])
    for f in ["3epoch.pth", "latest.pth", *[p.name for p in out.glob("valid.loss.*")]]:
        (out / f).unlink()
    (out / "latest.pth").symlink_to("2epoch.pth")
    run = make_run(tiny_data, root, out.name, sniper_conf=SNIPER_CONF,
                   extra=("--resume", "true")).start()
    assert run.wait() == 0, run.text()[-3000:]
    assert "resuming from" in run.text() and "checkpoint.prev.pth" in run.text()
    expected = load(reference / "3epoch.pth")
    resumed = load(out / "3epoch.pth")
    for k in expected:
        assert torch.equal(resumed[k], expected[k]), k
    assert load_checkpoint(out / "checkpoint.pth")["reporter"]["epoch"] == 3


def test_kill_while_saving_an_epoch_file_is_repaired_on_resume(runs, tiny_data):
    root, reference = runs["root"], runs["sniper"].output_dir
    out = root / "killed_saving_epoch_file"
    _copy_run(reference, out)
    data = (out / "3epoch.pth").read_bytes()
    (out / "3epoch.pth").write_bytes(data[:1000])
    run = make_run(tiny_data, root, out.name, sniper_conf=SNIPER_CONF,
                   extra=("--resume", "true")).start()
    assert run.wait() == 0, run.text()[-3000:]
    assert "3epoch.pth cannot be read: writing it again" in run.text()
    expected, repaired = load(reference / "3epoch.pth"), load(out / "3epoch.pth")
    assert repaired.keys() == expected.keys()
    for k in expected:
        assert torch.equal(repaired[k], expected[k]), k


def test_a_second_training_in_a_busy_output_dir_is_refused(runs, tiny_data):
    root = runs["root"]
    out = root / "busy"
    out.mkdir()
    (out / "train.log").write_text("the first run's log\n")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from espnet_sniper.run_lock import lock_output_dir\n"
         f"lock = lock_output_dir('{out}'); print('locked', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        run = make_run(tiny_data, root, "busy", sniper_conf=SNIPER_CONF).start()
        assert run.wait() != 0
        assert "is in use by another training" in run.text()
        assert f"pid {holder.pid} " in run.text()
        assert sorted(p.name for p in out.iterdir()) == [".train.lock", "train.log"]
        assert (out / "train.log").read_text() == "the first run's log\n"
    finally:
        holder.kill()
        holder.wait()
    # SIGKILL released the lock: the directory can be trained in again
    from espnet_sniper.run_lock import lock_output_dir

    lock_output_dir(out).close()
