"""The recipe's data stages on good and bad corpora: each problem gets a clear stop that
names the utterance, file or line, and leaves existing outputs untouched."""

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import REPO, checkout_env
from espnet_sniper.recipe import griffin_lim

RECIPE = REPO / "egs2" / "ljspeech" / "sniper_tts1"
LOCAL = RECIPE / "local"
R = "espnet_sniper.recipe"


def run(command, *args, cwd):
    """A recipe command as run.sh runs it: a script of local/ (``data_prep.py``) or an
    installed module (``espnet_sniper.recipe.validate_data``)."""
    target = [str(LOCAL / command)] if command.endswith(".py") else ["-m", command]
    return subprocess.run([sys.executable, *target, *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=checkout_env())


def _local_module(name: str):
    """A script of local/ loaded from its file, as ``python local/<name>.py`` runs it
    (local/ holds the corpus's own scripts; it is not a package on any path)."""
    spec = importlib.util.spec_from_file_location(f"local_{name}", LOCAL / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mini_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "LJSpeech-mini"
    done = run(f"{R}.corpus.mini_corpus", "--out_dir", root, "--num_utts", 12, cwd=root.parent)
    assert done.returncode == 0, done.stderr
    return root


def corpus_copy(mini_corpus, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(mini_corpus, root)
    return root


def test_mini_corpus_is_ljspeech_shaped_and_deterministic(mini_corpus, tmp_path):
    lines = (mini_corpus / "metadata.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 12 and all(len(line.split("|")) == 3 for line in lines)
    uid = lines[0].split("|")[0]
    info = soundfile.info(str(mini_corpus / "wavs" / f"{uid}.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
    again = tmp_path / "again"
    assert run(f"{R}.corpus.mini_corpus", "--out_dir", again, "--num_utts", 12, cwd=tmp_path).returncode == 0
    assert (again / "metadata.csv").read_bytes() == (mini_corpus / "metadata.csv").read_bytes()
    assert (again / "wavs" / f"{uid}.wav").read_bytes() == (mini_corpus / "wavs" / f"{uid}.wav").read_bytes()
    # built once: a second call leaves it alone
    stamp = (again / "metadata.csv").stat().st_mtime_ns
    assert run(f"{R}.corpus.mini_corpus", "--out_dir", again, "--num_utts", 12, cwd=tmp_path).returncode == 0
    assert (again / "metadata.csv").stat().st_mtime_ns == stamp


def test_mini_corpus_records_where_espeak_ng_starts_each_word(mini_corpus, tmp_path):
    lines = (mini_corpus / "metadata.csv").read_text(encoding="utf-8").splitlines()
    onsets = {line.split()[0]: list(map(int, line.split()[1:]))
              for line in (mini_corpus / "word_onsets.txt").read_text().splitlines()}
    assert list(onsets) == [line.split("|")[0] for line in lines]
    matched = 0
    for line in lines:
        uid, _, normalized = line.split("|")
        samples, rate = soundfile.read(str(mini_corpus / "wavs" / f"{uid}.wav"), dtype="int16")
        words = normalized.split()
        assert onsets[uid] == sorted(set(onsets[uid])) and onsets[uid][-1] < len(samples)
        # espeak-ng sometimes speaks two words as one ("that a"), never one as two
        assert 2 <= len(onsets[uid]) <= len(words)
        if len(onsets[uid]) != len(words):
            continue
        matched += 1
        # a word after a comma starts where the sound comes back after the pause
        for k in (k for k in range(1, len(words)) if words[k - 1].endswith(",")):
            pause = samples[onsets[uid][k] - rate // 20:onsets[uid][k]]
            assert np.abs(pause).max() == 0
            assert np.abs(samples[onsets[uid][k]:onsets[uid][k] + rate // 50]).max() > 0
    assert matched >= len(lines) // 2
    # every utterance is what the espeak-ng command alone writes (no state carried over
    # from the utterance before)
    for line in lines[1:3]:
        uid, _, normalized = line.split("|")
        cli = tmp_path / f"{uid}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "170", "-w", str(cli), normalized],
                       check=True)
        ours, _ = soundfile.read(str(mini_corpus / "wavs" / f"{uid}.wav"), dtype="int16")
        theirs, _ = soundfile.read(str(cli), dtype="int16")
        np.testing.assert_array_equal(ours, theirs)


def test_data_prep_splits_like_ljspeech(mini_corpus, tmp_path):
    done = run("data_prep.py", "--db_root", mini_corpus, "--data_dir", tmp_path / "data", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    counts = {s: len((tmp_path / "data" / s / "wav.scp").read_text().splitlines())
              for s in ("train", "dev", "eval")}
    assert counts == {"train": 10, "dev": 1, "eval": 1}
    for name in ("text", "utt2spk", "spk2utt"):
        assert (tmp_path / "data" / "train" / name).is_file()
    assert run(f"{R}.validate_data", *(tmp_path / "data" / s for s in ("train", "dev", "eval")),
               cwd=tmp_path).returncode == 0
    # larger held-out sets on request (the training-quality grid validates on 40)
    done = run("data_prep.py", "--db_root", mini_corpus, "--data_dir", tmp_path / "held",
               "--num_held_out", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    dev = (tmp_path / "held" / "dev" / "wav.scp").read_text().splitlines()
    evalset = (tmp_path / "held" / "eval" / "wav.scp").read_text().splitlines()
    assert len(dev) == len(evalset) == 3 and not set(dev) & set(evalset)
    too_many = run("data_prep.py", "--db_root", mini_corpus, "--data_dir", tmp_path / "none",
                   "--num_held_out", "6", cwd=tmp_path)
    assert too_many.returncode != 0 and "--num_held_out 6" in too_many.stderr
    assert not (tmp_path / "none").exists()


def test_small_corpora_hold_out_enough_to_score():
    held_out_size = _local_module("data_prep").held_out_size
    # LJSpeech's own split, and its share of any corpus larger than ~520 utterances
    assert held_out_size(13100) == 250 and held_out_size(2000) == 38
    # below that, 10 each (LJSpeech's share of 149 would be 3) ...
    assert held_out_size(149) == held_out_size(400) == held_out_size(520) == 10
    # ... while at most a tenth of the corpus each, and never none
    assert held_out_size(95) == 9 and held_out_size(60) == 6
    assert held_out_size(12) == held_out_size(3) == 1


def prepared(mini_corpus, tmp_path):
    root = corpus_copy(mini_corpus, tmp_path)
    assert run("data_prep.py", "--db_root", root, "--data_dir", tmp_path / "data", cwd=tmp_path).returncode == 0
    train = tmp_path / "data" / "train"
    first = train.joinpath("wav.scp").read_text().splitlines()[0].split(" ", 1)
    return train, first[0], Path(first[1])


@pytest.mark.parametrize("damage, needle", [
    (lambda wav: wav.unlink(), "does not exist"),
    (lambda wav: wav.write_bytes(b"not a wav at all"), "cannot be read"),
    (lambda wav: soundfile.write(str(wav), np.zeros(1000), 16000, "PCM_16"), "16000 Hz, expected 22050"),
    (lambda wav: soundfile.write(str(wav), np.zeros((1000, 2)), 22050, "PCM_16"), "2 channels"),
    (lambda wav: soundfile.write(str(wav), np.zeros(1000), 22050, "FLOAT"), "expected 16-bit PCM"),
    (lambda wav: soundfile.write(str(wav), np.zeros(0), 22050, "PCM_16"), "is empty"),
])
def test_bad_wavs_stop_the_run_naming_the_utterance(mini_corpus, tmp_path, damage, needle):
    train, uid, wav = prepared(mini_corpus, tmp_path)
    damage(wav)
    before = train.joinpath("wav.scp").read_bytes()
    done = run(f"{R}.validate_data", train, cwd=tmp_path)
    assert done.returncode != 0
    assert f"{uid}: " in done.stderr and needle in done.stderr and "Traceback" not in done.stderr
    assert train.joinpath("wav.scp").read_bytes() == before  # untouched
    # --skip_bad_utts true drops it and goes on
    done = run(f"{R}.validate_data", train, "--skip_bad_utts", "true", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert uid not in train.joinpath("wav.scp").read_text()
    assert train.joinpath("bad_utts").read_text().split() == [uid]


def test_empty_and_overlong_transcripts(mini_corpus, tmp_path):
    train, uid, _ = prepared(mini_corpus, tmp_path)
    text = train.joinpath("text").read_text().splitlines()
    text[0] = uid
    train.joinpath("text").write_text("\n".join(text) + "\n")
    done = run(f"{R}.validate_data", train, cwd=tmp_path)
    assert done.returncode != 0 and f"{uid}: empty transcript" in done.stderr
    done = run(f"{R}.validate_data", train, "--max_text_chars", 5, cwd=tmp_path)
    assert "more than --max_text_chars 5" in done.stderr


def test_non_utf8_transcript_names_the_line(mini_corpus, tmp_path):
    train, _, _ = prepared(mini_corpus, tmp_path)
    with open(train / "text", "ab") as f:
        f.write(b"LJX-0001 caf\xe9\n")
    done = run(f"{R}.validate_data", train, cwd=tmp_path)
    n_lines = len(train.joinpath("text").read_bytes().splitlines())
    assert done.returncode != 0 and f"text:{n_lines}: not UTF-8" in done.stderr


@pytest.mark.parametrize("edit, needle", [
    (lambda lines: lines + [lines[0]], "duplicate id"),
    (lambda lines: lines[:1] + ["broken line without fields"], "expected 'id|text|normalized text'"),
])
def test_bad_metadata_stops_data_prep(mini_corpus, tmp_path, edit, needle):
    root = corpus_copy(mini_corpus, tmp_path)
    meta = root / "metadata.csv"
    meta.write_text("\n".join(edit(meta.read_text().splitlines())) + "\n")
    done = run("data_prep.py", "--db_root", root, "--data_dir", tmp_path / "data", cwd=tmp_path)
    assert done.returncode != 0 and needle in done.stderr and "metadata.csv:" in done.stderr
    assert not (tmp_path / "data").exists()


def test_download_fails_clearly_offline(tmp_path):
    # port 9 on the loopback refuses the connection at once: an offline machine
    env = dict(os.environ, LJSPEECH_URL="http://127.0.0.1:9/LJSpeech-1.1.tar.bz2")
    done = subprocess.run(["bash", str(LOCAL / "download_ljspeech.sh"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode != 0
    assert "--db_root" in done.stderr and "--mini true" in done.stderr
    assert not list(tmp_path.glob("*.partial"))


def _zip_with(path, name, data=b"x", link=False):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("exp/tts/config.yaml", "tts: fastspeech2\n")
        info = zipfile.ZipInfo(name)
        if link:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, data)
    return path


@pytest.mark.parametrize("name, link", [("../../escaped.txt", False), ("/tmp/escaped.txt", False),
                                        ("exp/../../escaped.txt", False),
                                        ("exp/link", True)])
def test_a_package_that_would_write_outside_its_directory_is_refused(tmp_path, name, link):
    archive = _zip_with(tmp_path / "evil.zip", name, b"/etc" if link else b"x", link=link)
    done = run(f"{R}.publish.check_package", "--zip", archive, cwd=tmp_path)
    assert done.returncode != 0
    assert "is refused" in done.stderr and name in done.stderr
    assert not (tmp_path.parent / "escaped.txt").exists()


@pytest.mark.parametrize("name, link", [("../../escaped.txt", False), ("exp/link", True)])
def test_a_fetched_teacher_that_would_write_outside_its_folder_is_refused(tmp_path, name, link):
    archive = _zip_with(tmp_path / "teacher.zip", name, b"/etc" if link else b"x", link=link)
    out = tmp_path / "exp" / "teacher_pretrained"
    done = run(f"{R}.alignment.fetch_teacher", "--tag", archive, "--out_dir", out, cwd=tmp_path)
    assert done.returncode != 0
    assert "is refused" in done.stderr and name in done.stderr
    assert "nothing was unpacked" in done.stderr
    assert not (tmp_path.parent / "escaped.txt").exists()
    assert not [p for p in out.rglob("*") if p.is_file()]  # no member written anywhere


def test_not_a_zip_is_refused(tmp_path):
    (tmp_path / "model.zip").write_text("not a zip")
    done = run(f"{R}.publish.check_package", "--zip", tmp_path / "model.zip", cwd=tmp_path)
    assert done.returncode != 0 and "is not a zip file" in done.stderr


def _durations_for(train: Path, n_shift: int = 256) -> dict:
    """Durations that sum to each utterance's frames: all on the first token."""
    durations = {}
    for line in (train / "wav.scp").read_text().splitlines():
        uid, wav = line.split(" ", 1)
        frames = soundfile.info(wav).frames // n_shift + 1
        durations[uid] = [frames, 0, 0]
    return durations


def _write_align(align: Path, durations: dict) -> None:
    align.mkdir(parents=True)
    (align / "durations").write_text(
        "".join(f"{u} {' '.join(map(str, d))}\n" for u, d in durations.items()))
    (align / "focus_rates").write_text("".join(f"{u} 0.9\n" for u in durations))


def test_durations_that_miss_the_frame_count_stop_the_run(mini_corpus, tmp_path):
    train, uid, _ = prepared(mini_corpus, tmp_path)
    good = _durations_for(train)
    (train / "durations").write_text("previous stage-4 output\n")
    bad = dict(good, **{uid: [good[uid][0] - 1, 0, 0]})
    _write_align(tmp_path / "align", bad)
    args = ("--data_dirs", train, "--align_dirs", tmp_path / "align", "--n_shift", 256,
            "--report", tmp_path / "quality.json")
    done = run(f"{R}.alignment.check_durations", *args, cwd=tmp_path)
    assert done.returncode != 0
    assert f"{uid}: durations sum to {good[uid][0] - 1}, the features have {good[uid][0]}" \
        in done.stderr
    assert (train / "durations").read_text() == "previous stage-4 output\n"  # untouched
    assert not (tmp_path / "quality.json").exists()

    (tmp_path / "align" / "durations").unlink()
    (tmp_path / "align" / "focus_rates").unlink()
    (tmp_path / "align").rmdir()
    _write_align(tmp_path / "align", good)
    done = run(f"{R}.alignment.check_durations", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "quality.json").read_text())["sets"]["train"]
    assert report["share_zero_frame_tokens"] == pytest.approx(2 / 3)
    assert (train / "durations").read_text().split("\n")[0].split()[1:] == \
        list(map(str, good[sorted(good)[0]]))


def _durations_at_word_onsets(train: Path, onsets: dict, tokenize, n_shift: int = 256) -> dict:
    """Durations that start each word in the frame where espeak-ng started it: word k's
    first token gets the frames up to word k+1's onset, the other tokens none."""
    durations = {}
    texts = dict(line.split(" ", 1) for line in (train / "text").read_text().splitlines())
    for line in (train / "wav.scp").read_text().splitlines():
        uid, wav = line.split(" ", 1)
        tokens = tokenize(texts[uid])
        frames = soundfile.info(wav).frames // n_shift + 1
        durs = [0] * (len(tokens) + 1)
        starts = [i for i, t in enumerate(tokens) if t != "<space>"
                  and (i == 0 or tokens[i - 1] == "<space>")]
        if len(starts) != len(onsets[uid]):
            durs[0] = frames  # a word-count mismatch: the measure must skip it
        else:
            # the first word starts at frame 0 whatever silence espeak-ng put before it
            bounds = [0] + [round(o / n_shift) for o in onsets[uid][1:]] + [frames]
            for start, begin, end in zip(starts, bounds, bounds[1:]):
                durs[start] = end - begin
            durs[-1] = frames - sum(durs)
        durations[uid] = durs
    return durations


def test_durations_are_measured_against_espeak_ng_word_onsets(mini_corpus, tmp_path):
    from espnet2.text.build_tokenizer import build_tokenizer
    from espnet2.text.cleaner import TextCleaner

    tokenizer = build_tokenizer("phn", g2p_type="espeak_ng_english_us_vits")
    clean = TextCleaner("tacotron")
    train, _, _ = prepared(mini_corpus, tmp_path)
    onsets_file = tmp_path / "corpus" / "word_onsets.txt"
    onsets = {line.split()[0]: list(map(int, line.split()[1:]))
              for line in onsets_file.read_text().splitlines()}
    exact = _durations_at_word_onsets(
        train, onsets, lambda text: tokenizer.text2tokens(clean(text)))
    _write_align(tmp_path / "align", exact)
    args = ["--data_dirs", train, "--align_dirs", tmp_path / "align", "--n_shift", 256,
            "--report", tmp_path / "quality.json", "--word_onsets", onsets_file]
    done = run(f"{R}.alignment.check_durations", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    measured = json.loads((tmp_path / "quality.json").read_text())["sets"]["train"]
    onset = measured["word_onset_error"]
    assert onset["utterances_compared"] >= len(exact) - 4  # the numbered ones may not match
    # the word's first token starts at the onset and its <space> gets no frame: both
    # measures see only rounding to frames
    assert onset["boundary_mean_frames"] <= 0.5 and onset["first_phoneme_mean_frames"] <= 0.5
    assert onset["boundary_share_within_2_frames"] == 1.0
    assert onset["naive_mean_frames"] > 2
    assert "word boundaries off by" in done.stderr

    # every word one frame late (the first token one frame longer, the last word one
    # shorter): about one frame of error
    late = {}
    for uid, durs in exact.items():
        late[uid] = list(durs)
        spoken = [i for i, d in enumerate(durs[:-1]) if d > 0]
        if len(spoken) > 1:
            late[uid][spoken[0]] += 1
            late[uid][spoken[-1]] -= 1
    shutil.rmtree(tmp_path / "align")
    _write_align(tmp_path / "align", late)
    assert run(f"{R}.alignment.check_durations", *args, cwd=tmp_path).returncode == 0
    later = json.loads((tmp_path / "quality.json").read_text())["sets"]["train"]
    assert 0.5 <= later["word_onset_error"]["boundary_mean_frames"] <= 1.5
    assert 0.5 <= later["word_onset_error"]["boundary_mean_signed_frames"] <= 1.5  # late
    positions = later["word_onset_error"]["boundary_signed_by_word_position"]
    assert list(positions)[0] == "2" and all(0.5 <= v <= 1.5 for v in positions.values())

    # durations that give each <space> the frames before its word: the first-phoneme
    # measure counts them as error, the boundary measure does not
    texts = dict(line.split(" ", 1) for line in (train / "text").read_text().splitlines())
    spaced = {}
    for uid, durs in exact.items():
        tokens = tokenizer.text2tokens(clean(texts[uid]))
        spaced[uid] = list(durs)
        for i, token in enumerate(tokens[1:], 1):
            if token == "<space>" and spaced[uid][i + 1] > 3:
                spaced[uid][i], spaced[uid][i + 1] = 3, spaced[uid][i + 1] - 3
    shutil.rmtree(tmp_path / "align")
    _write_align(tmp_path / "align", spaced)
    assert run(f"{R}.alignment.check_durations", *args, cwd=tmp_path).returncode == 0
    onset = json.loads((tmp_path / "quality.json").read_text())["sets"]["train"][
        "word_onset_error"]
    assert onset["boundary_mean_frames"] <= 0.5 and onset["first_phoneme_mean_frames"] >= 2.5

    # durations worse than equal shares (every frame but one per token on the first
    # token) stop the check and reach no data directory, unless the user says to go on
    poor = {uid: [sum(durs) - len(durs) + 1] + [1] * (len(durs) - 1)
            for uid, durs in exact.items()}
    shutil.rmtree(tmp_path / "align")
    _write_align(tmp_path / "align", poor)
    earlier = (train / "durations").read_text()
    done = run(f"{R}.alignment.check_durations", *args, cwd=tmp_path)
    assert done.returncode != 0 and "no better than equal shares" in done.stderr
    assert "--allow_poor_durations true" in done.stderr
    assert (train / "durations").read_text() == earlier  # an earlier run's, as they were
    done = run(f"{R}.alignment.check_durations", *args, "--allow_poor_durations", "true", cwd=tmp_path)
    assert done.returncode == 0 and "WARNING" in done.stderr
    assert (train / "durations").read_text() != earlier

    (tmp_path / "bad_onsets.txt").write_text("LJM01-0001 0 12x\n")
    args[-1] = tmp_path / "bad_onsets.txt"
    done = run(f"{R}.alignment.check_durations", *args, cwd=tmp_path)
    assert done.returncode != 0 and "bad_onsets.txt:1: word onsets must be whole numbers" \
        in done.stderr


def test_run_sh_works_from_any_directory(tmp_path):
    # the README's main job calls it from the repository root
    script = str(RECIPE / "run.sh")
    done = subprocess.run([script, "--help"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "--feats_type=raw" in done.stdout and "--teacher_durations=mas" in done.stdout
    done = subprocess.run([script, "--no_such_option", "1"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode != 0 and "unknown option --no_such_option" in done.stderr
    done = subprocess.run([script, "--feats_type", "mfcc"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode != 0 and "--feats_type must be raw or fbank" in done.stderr


def test_griffin_lim_is_seeded_per_utterance_and_checks_its_config(tmp_path):
    g = np.random.default_rng(0)
    scp = tmp_path / "denorm_feats.scp"
    lines = []
    for key in ("a", "b"):
        np.save(tmp_path / f"{key}.npy", g.normal(-2.0, 0.5, (40, 80)).astype(np.float32))
        lines.append(f"{key} {tmp_path / f'{key}.npy'}")
    scp.write_text("\n".join(lines) + "\n")
    conf = tmp_path / "griffin_lim.yaml"
    conf.write_text("fs: 22050\nn_fft: 1024\nn_shift: 256\nwin_length: null\nn_mels: 80\n"
                    "fmin: 80\nfmax: 7600\ngriffin_lim_iters: 4\n")
    outs = {}
    # the CLI once; in this process after (the same main, without a 10 s import each)
    done = run(f"{R}.griffin_lim", "--feats_scp", scp, "--config", conf, "--seed", 0,
               "--out_dir", tmp_path / "first", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name, seed in (("again", 0), ("other", 1)):
        griffin_lim.main(list(map(str, ["--feats_scp", scp, "--config", conf, "--seed", seed,
                                        "--out_dir", tmp_path / name])))
    for name in ("first", "again", "other"):
        outs[name] = {k: (tmp_path / name / f"{k}.wav").read_bytes() for k in ("a", "b")}
    assert outs["first"] == outs["again"]
    assert outs["first"]["a"] != outs["other"]["a"]
    wav, fs = soundfile.read(tmp_path / "first" / "a.wav")
    assert fs == 22050 and len(wav) == 39 * 256
    assert not list(tmp_path.rglob("*.tmp"))
    # one utterance alone gets the same wav as within the whole set (any job split)
    (tmp_path / "one.scp").write_text(lines[1] + "\n")
    griffin_lim.main(list(map(str, ["--feats_scp", tmp_path / "one.scp", "--config", conf,
                                    "--out_dir", tmp_path / "alone"])))
    assert (tmp_path / "alone" / "b.wav").read_bytes() == outs["first"]["b"]
    conf.write_text("fs: 22050\nn_fft: 1024\n")
    with pytest.raises(SystemExit) as bad:
        griffin_lim.main(list(map(str, ["--feats_scp", scp, "--config", conf, "--out_dir",
                                        tmp_path / "bad"])))
    assert "lacks n_shift, n_mels, fmin, fmax" in str(bad.value.code)


@pytest.mark.parametrize("change, needle", [
    ({"steps": -5}, "steps must be positive"),
    ({"lr": "fast"}, "lr must be a number"),
    ({"embed_dim": True}, "embed_dim must be a number"),
    ({"epochs": 3}, "unknown key(s) epochs"),
])
def test_aligner_config_is_checked_before_any_work(tmp_path, change, needle):
    import yaml

    conf = yaml.safe_load((REPO / "conf/mini/align_forward_sum.yaml").read_text())
    conf.update(change)
    (tmp_path / "aligner.yaml").write_text(yaml.safe_dump(conf))
    (tmp_path / "data").mkdir()
    for name in ("wav.scp", "text"):
        (tmp_path / "data" / name).write_text("")
    (tmp_path / "tokens.txt").write_text("<blank>\n")
    done = run(f"{R}.alignment.forward_sum", "--config", tmp_path / "aligner.yaml", "--token_list",
               tmp_path / "tokens.txt", "--train_dir", tmp_path / "data", "--data_dirs",
               tmp_path / "data", "--out_dir", tmp_path / "exp", cwd=tmp_path)
    assert done.returncode != 0 and needle in done.stderr and "aligner.yaml" in done.stderr
    assert not (tmp_path / "exp").exists()
