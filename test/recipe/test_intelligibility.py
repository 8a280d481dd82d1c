"""Intelligibility scoring: text normalization, error rates, the recipe's own ASR judge
(trained through the real ESPnet ASR trainer, cached per corpus) and stage 8's CER/WER."""

import argparse
import fcntl
import itertools
import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import REPO, checkout_env
from espnet_sniper.recipe.evaluation import intelligibility
from espnet_sniper.recipe.evaluation import asr_judge
from espnet_sniper.recipe.evaluation.asr_judge import judge_key, read_set

RECIPE = REPO / "egs2" / "ljspeech" / "sniper_tts1"


def test_reference_and_hypothesis_are_normalized_alike():
    norm = intelligibility.normalize_text
    assert norm("Mr. Smith's CAFÉ,  naïve -- 1999!") == "mr smith's cafe naive 1999"
    assert norm("  Hello\tworld\n") == "hello world"
    assert norm("...") == ""
    # punctuation and case cost nothing
    assert intelligibility.error_rates("The cat, sat.", "the CAT sat") == {"cer": 0.0, "wer": 0.0}


def _levenshtein(a, b):
    """An independent recursive definition, for checking the table-filling one."""
    @lru_cache(maxsize=None)
    def d(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))
    return d(len(a), len(b))


def test_edit_distance_agrees_with_the_recursive_definition():
    assert intelligibility.edit_distance("kitten", "sitting") == 3
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = "".join(rng.choice(list("abc"), rng.integers(0, 7)))
        b = "".join(rng.choice(list("abc"), rng.integers(0, 7)))
        assert intelligibility.edit_distance(a, b) == _levenshtein(a, b), (a, b)


def test_error_rates_count_characters_with_spaces_and_words():
    rates = intelligibility.error_rates("the cat sat", "the hat sat down")
    assert rates["cer"] == pytest.approx(6 / 11)  # h for c, then " down" inserted (5)
    assert rates["wer"] == pytest.approx(2 / 3)  # one substitution, one insertion
    assert intelligibility.error_rates("a b", "")["wer"] == 1.0
    with pytest.raises(ValueError, match="empty"):
        intelligibility.error_rates("!!", "x")


@pytest.mark.parametrize("spec, message", [
    ("judge", "expected judge:DIR"),
    ("judge:/nonexistent", "train it with"),
    ("espnet:/no/config.yaml,/no/model.pth", "does not exist"),
    ("sphinx:en", "unknown kind"),
    ("whisper:tiny", "openai-whisper"),
    # no such model anywhere (and no network here): a message, not a traceback
    ("zoo:espnet-sniper-tests/no_such_asr_model", "could not load the model-zoo ASR"),
])
def test_an_unusable_asr_is_refused_by_name(spec, message):
    with pytest.raises(SystemExit, match=message):
        intelligibility.transcriber(spec)


def _judge(train_dir, valid_dir, cache_dir, *extra):
    cmd = [sys.executable, "-m", "espnet_sniper.recipe.evaluation.asr_judge",
           "--train_dir", train_dir, "--valid_dir", valid_dir, "--config", RECIPE / "conf" / "asr_judge.yaml",
           "--cache_dir", cache_dir, "--train_args", "--max_epoch 1 --batch_size 4", *extra]
    return subprocess.run(list(map(str, cmd)), capture_output=True, text=True, cwd=RECIPE,
                          env=checkout_env())


@pytest.fixture(scope="module")
def judge(tiny_data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("judge_cache")
    done = _judge(tiny_data["train"], tiny_data["valid"], cache)
    assert done.returncode == 0, done.stderr[-3000:]
    return cache, done


def test_the_judge_trains_once_per_corpus_and_is_reused(judge, tiny_data, tmp_path):
    cache, first = judge
    judge_dir = first.stdout.strip().splitlines()[-1]
    assert Path(judge_dir).parent == cache
    for name in ("judge.pth", "config.yaml", "judge.json", ".complete"):
        assert (Path(judge_dir) / name).is_file(), name
    again = _judge(tiny_data["train"], tiny_data["valid"], cache)
    assert again.returncode == 0 and "reusing" in again.stderr
    assert again.stdout.strip().splitlines()[-1] == judge_dir
    # another corpus (one transcript changed) is another judge
    other = tmp_path / "train"
    other.mkdir()
    (other / "wav.scp").write_text((tiny_data["train"] / "wav.scp").read_text())
    lines = (tiny_data["train"] / "text").read_text().splitlines()
    lines[0] = lines[0].split()[0] + " something else entirely"
    (other / "text").write_text("\n".join(lines) + "\n")

    config = RECIPE / "conf" / "asr_judge.yaml"
    keys = {judge_key(config, [], [read_set(d), read_set(tiny_data["valid"])])
            for d in (tiny_data["train"], other)}
    assert len(keys) == 2


def test_a_second_caller_waits_for_the_judge_in_training(judge, tiny_data):
    """run.sh's background judge holds the lock while it trains; stage 8's call waits for it
    and then reuses what it made, instead of training a second judge beside it."""
    cache, first = judge
    judge_dir = Path(first.stdout.strip().splitlines()[-1])
    with open(cache / f"{judge_dir.name}.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.truncate(0)
        held.write("4242")
        held.flush()
        cmd = [sys.executable, "-m", "espnet_sniper.recipe.evaluation.asr_judge",
               "--train_dir", tiny_data["train"], "--valid_dir", tiny_data["valid"],
               "--config", RECIPE / "conf" / "asr_judge.yaml", "--cache_dir", cache,
               "--train_args", "--max_epoch 1 --batch_size 4"]
        waiting = subprocess.Popen(list(map(str, cmd)), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, cwd=RECIPE,
                                   env=checkout_env())
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=15)
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert "waiting for the judge being trained by process 4242" in err and "reusing" in err
    assert out.strip() == str(judge_dir)


@pytest.mark.parametrize("train_args,config_cap,expected", [
    ([], 12, 12), (["--max_epoch", "3"], 12, 3), (["--max_epoch", "3", "--max_epoch", "5"], 12, 5),
    (["--max_epoch=4", "--batch_size", "2"], 12, 4)])
def test_the_epoch_cap_is_the_last_max_epoch_given(tmp_path, train_args, config_cap, expected):
    config = tmp_path / "judge.yaml"
    config.write_text(f"max_epoch: {config_cap}\n")
    assert asr_judge.epoch_cap(config, train_args) == expected


def test_a_judge_without_a_usable_epoch_cap_is_refused(tmp_path):
    config = tmp_path / "judge.yaml"
    config.write_text("optim: adam\n")
    with pytest.raises(SystemExit, match="judge.yaml.*max_epoch"):
        asr_judge.epoch_cap(config, [])
    with pytest.raises(SystemExit, match="got '0'"):
        asr_judge.epoch_cap(config, ["--max_epoch", "0"])


def test_a_relogged_epoch_counts_once_with_its_last_result(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("x 1epoch results: [train] time=0.1, loss=3 [valid] loss=2, cer_ctc=0.9\n"
                   "x 2epoch results: [train] time=0.1, loss=2 [valid] loss=1, cer_ctc=0.5\n"
                   "x 2epoch results: [train] time=0.2, loss=2 [valid] loss=1, cer_ctc=0.4\n")
    assert [(e["epoch"], e["valid_cer"]) for e in asr_judge.judge_epochs(log)] == [(1, 0.9),
                                                                                  (2, 0.4)]


@pytest.mark.parametrize("good_enough,epochs", [(1.0, 1), (0.0, 2)])
def test_the_judge_trains_until_good_enough_or_its_cap(tiny_data, tmp_path, monkeypatch,
                                                       good_enough, epochs):
    """Rounds of resumed ESPnet runs: it stops at the first epoch whose validation CER is good
    enough, else at the cap, and a resumed round does not train an epoch twice."""
    monkeypatch.setattr(asr_judge, "MIN_EPOCHS", 1)
    monkeypatch.setattr(asr_judge, "GOOD_ENOUGH_CER", good_enough)
    monkeypatch.chdir(RECIPE)
    monkeypatch.setenv("PYTHONPATH", checkout_env()["PYTHONPATH"])
    train_args = ["--batch_size", "4"]
    sets = [read_set(tiny_data["train"]), read_set(tiny_data["valid"])]
    args = argparse.Namespace(config=RECIPE / "conf" / "asr_judge.yaml",
                              train_dir=tiny_data["train"], valid_dir=tiny_data["valid"])
    asr_judge.make_judge(tmp_path / "judge", args, train_args, 2, sets)
    log = (tmp_path / "judge" / "train.log").read_text()
    assert [e["epoch"] for e in asr_judge.judge_epochs(tmp_path / "judge" / "train.log")] \
        == list(range(1, epochs + 1))
    assert log.count("1epoch results") == 1
    assert json.loads((tmp_path / "judge" / "judge.json").read_text())["epochs"][-1]["epoch"] \
        == epochs
    assert (tmp_path / "judge" / "judge.pth").is_file()


def test_the_judge_refuses_eval_leaking_into_training(tiny_data, tmp_path):
    done = _judge(tiny_data["train"], tiny_data["train"], tmp_path)
    assert done.returncode != 0 and "share utterances" in done.stderr
    assert not any(tmp_path.iterdir())


def test_stage_8_reports_cer_and_wer_beside_floor_baseline_and_recordings(judge, tiny_data,
                                                                          tmp_path):
    cache, first = judge
    judge_dir = Path(first.stdout.strip().splitlines()[-1])
    valid = tiny_data["valid"]
    gen = tmp_path / "gen"
    gen.mkdir()
    for line in (valid / "wav.scp").read_text().splitlines():
        uid, path = line.split()
        wav, fs = soundfile.read(path)
        soundfile.write(gen / f"{uid}.wav", wav[::-1].copy(), fs)  # speech played backwards
    (tmp_path / "gl.yaml").write_text("fs: 22050\nn_fft: 1024\nn_shift: 256\nwin_length: null\n"
                                      "n_mels: 80\nfmin: 80\nfmax: 7600\ngriffin_lim_iters: 4\n")
    args = [sys.executable, "-m", "espnet_sniper.recipe.evaluation.score", "--ref_wav_scp",
            valid / "wav.scp",
            "--gen_wav_dir", gen, "--vocoder_config", tmp_path / "gl.yaml", "--mos", "none",
            "--asr", f"judge:{judge_dir}", "--text", valid / "text", "--out_dir", tmp_path / "exp"]
    done = subprocess.run(list(map(str, args)), capture_output=True, text=True, cwd=RECIPE,
                          env=checkout_env())
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "exp" / "results.json").read_text())
    texts = dict(line.split(" ", 1) for line in (valid / "text").read_text().splitlines())
    transcribe = intelligibility.transcriber(f"judge:{judge_dir}")
    for system, uid in itertools.product(("model", "floor", "baseline"), texts):
        heard = result["asr"]["transcripts"][system][uid]
        row = result["per_utterance"][system][uid]
        assert row["cer"] == pytest.approx(intelligibility.error_rates(texts[uid], heard)["cer"])
    for uid, path in (line.split() for line in (valid / "wav.scp").read_text().splitlines()):
        # the judge is deterministic: the recordings' transcripts are reproducible
        assert result["asr"]["recording"]["transcripts"][uid] == transcribe(*soundfile.read(path))
    cer = result["summary"]["cer"]
    assert cer["model"]["mean"] == pytest.approx(
        np.mean([result["per_utterance"]["model"][u]["cer"] for u in texts]))
    assert "normalized" in cer and "ASR character error rate" in (
        tmp_path / "exp" / "RESULTS.md").read_text()

    # without the transcripts, stage 8 stops before any work
    bad = args[:args.index("--text")] + ["--out_dir", tmp_path / "exp2"]
    done = subprocess.run(list(map(str, bad)), capture_output=True, text=True, cwd=RECIPE,
                          env=checkout_env())
    assert done.returncode != 0 and "--asr needs --text" in done.stderr
    assert not (tmp_path / "exp2").exists()
