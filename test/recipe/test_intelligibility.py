"""Intelligibility scoring: text normalization, error rates, the recipe's own ASR judge
(trained through the real ESPnet ASR trainer, cached per corpus) and stage 8's CER/WER."""

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
