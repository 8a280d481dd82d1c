"""Stage 8's scorer can fail: it ranks known degradations of the recordings in order.

The "systems" are made from espeak-ng recordings: the recordings themselves, their own
features through Griffin-Lim with other phases, the same features damaged (smeared in
time, shifted in frequency, stretched in time), and a mean spectrum held for the
recording's length. A scorer that measured only the vocoder, or only silence, would not
put them between its floor (0) and its no-skill baseline (1) in this order.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import REPO
from espnet_sniper.recipe.evaluation import score
from espnet_sniper.recipe.griffin_lim import vocode

# the scorer's command line as run.sh runs it: this checkout, and DistillMOS (installed
# outside site-packages by tools/setup.sh) on its path
SCORE = [sys.executable, "-m", "espnet_sniper.recipe.evaluation.score"]
SCORE_ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(sys.prefix) / "mos"),
                                                         str(REPO)]))

CONF = {"fs": 22050, "n_fft": 1024, "n_shift": 256, "win_length": None, "n_mels": 80,
        "fmin": 80, "fmax": 7600, "griffin_lim_iters": 8}
SENTENCES = ["The old sailor carried a heavy leather bag before the evening rain.",
             "Why did my younger brother want the beige garage door?",
             "Nobody expected that the judge painted five yellow boxes, with great care.",
             "Her uncle George measured three thin threads near the thick hedge."]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    root = tmp_path_factory.mktemp("recordings")
    scp = []
    for n, text in enumerate(SENTENCES):
        wav = root / f"utt{n}.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
        scp.append(f"utt{n} {wav}")
    (root / "wav.scp").write_text("\n".join(scp) + "\n")
    return root


def _smear(mel, width):
    kernel = np.exp(-0.5 * (np.arange(-3 * width, 3 * width + 1) / width) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(mel, ((3 * width, 3 * width), (0, 0)), mode="edge")
    return np.stack([np.convolve(padded[:, b], kernel, mode="valid")
                     for b in range(mel.shape[1])], axis=1)


def _stretch(mel, factor):
    frames = max(2, int(round(len(mel) * factor)))
    src = np.linspace(0, len(mel) - 1, frames)
    return np.stack([np.interp(src, np.arange(len(mel)), mel[:, b])
                     for b in range(mel.shape[1])], axis=1)


DAMAGES = {
    "other_phases": lambda mel: mel,
    "smeared_2": lambda mel: _smear(mel, 2),
    "shifted_4_bins": lambda mel: np.concatenate([mel[:, :4], mel[:, :-4]], axis=1),
    "smeared_8": lambda mel: _smear(mel, 8),
    "stretched_0.7": lambda mel: _stretch(mel, 0.7),
    "mean_spectrum": lambda mel: np.tile(score.speech_frames(mel).mean(0), (len(mel), 1)),
}


@pytest.fixture(scope="module")
def scored(recordings):
    analyser = score.Analyser(CONF, 80, 400)
    wavs = {line.split()[0]: score.read_wav(line.split()[1], CONF["fs"])
            for line in (recordings / "wav.scp").read_text().splitlines()}
    rows = {name: [] for name in ("recording", "floor", "baseline", *DAMAGES)}
    for uid, ref in wavs.items():
        ref_trimmed = score.trim(ref, CONF)
        mel = analyser.log_mel(ref)
        systems = {"recording": ref, "floor": score.floor_wav(analyser, ref, 0),
                   "baseline": score.baseline_wav(analyser, ref_trimmed, 0)}
        systems.update({name: vocode(damage(mel), CONF, 1) for name, damage in DAMAGES.items()})
        for name, wav in systems.items():
            rows[name].append(score.score_pair(analyser, ref_trimmed, score.trim(wav, CONF)))

    def normalized(system, metric):
        column = {s: np.array([r[metric] for r in rows[s]]) for s in (system, "floor", "baseline")}
        return score.normalized(column[system], column["floor"], column["baseline"])[0]

    return rows, normalized


@pytest.mark.parametrize("metric", ["mel_db", "mcd_db"])
def test_recordings_score_at_the_floor_and_the_mean_spectrum_near_one(scored, metric):
    _, normalized = scored
    assert normalized("recording", metric) <= 0.05  # no vocoder: at or below the floor
    assert abs(normalized("other_phases", metric)) < 0.1  # the floor, other phases
    assert 0.7 < normalized("mean_spectrum", metric) < 1.3


def test_damage_lands_between_floor_and_baseline_in_order(scored):
    _, normalized = scored
    mel = {name: normalized(name, "mel_db") for name in DAMAGES}
    assert 0.05 < mel["smeared_2"] < mel["smeared_8"] < mel["mean_spectrum"]
    assert 0.05 < mel["shifted_4_bins"] < 1.0
    # DTW absorbs timing on purpose: a stretched model loses little here, and the length
    # ratio is what sees it (below)
    assert 0.0 < mel["stretched_0.7"] < mel["smeared_8"]
    mcd = {name: normalized(name, "mcd_db") for name in DAMAGES}
    assert 0.05 < mcd["smeared_2"] < mcd["smeared_8"] < mcd["mean_spectrum"]


def test_length_ratio_sees_a_model_that_is_too_short(scored):
    rows, _ = scored
    ratio = np.mean([r["length_ratio"] for r in rows["stretched_0.7"]])
    assert 0.65 < ratio < 0.75
    assert 0.97 < np.mean([r["length_ratio"] for r in rows["floor"]]) < 1.03


def test_pitch_errors_see_a_flat_pitch(scored):
    rows, _ = scored
    for metric in ("f0_rmse_cents", "gpe", "vde"):
        recording = np.nanmean([r[metric] for r in rows["recording"]])
        baseline = np.nanmean([r[metric] for r in rows["baseline"]])
        assert recording == pytest.approx(0.0, abs=1e-9) and baseline > recording


@pytest.mark.parametrize("semitones, gross", [(1.0, False), (4.0, True)])
def test_pitch_errors_measure_a_known_transposition(recordings, semitones, gross):
    """The recording resynthesized by WORLD with its F0 times 2^(s/12): the F0 RMSE is s
    semitones in cents, the gross pitch error all (4 semitones: 26 % off) or nothing (1:
    6 %), and voicing barely moves."""
    import pyworld

    analyser = score.Analyser(CONF, 80, 400)
    factor = 2.0 ** (semitones / 12.0)
    for line in (recordings / "wav.scp").read_text().splitlines()[:2]:
        ref = score.trim(score.read_wav(line.split()[1], CONF["fs"]), CONF)
        f0, sp, ap = analyser.world(ref, aperiodicity=True)
        moved = pyworld.synthesize(f0 * factor, sp, ap, CONF["fs"], score.FRAME_PERIOD_MS)
        row = score.score_pair(analyser, ref, score.trim(moved, CONF))
        assert row["f0_rmse_cents"] == pytest.approx(100 * semitones, rel=0.25)
        assert row["gpe"] > 0.8 if gross else row["gpe"] < 0.2
        assert row["vde"] < 0.2

def test_stage_8_writes_model_floor_and_baseline_side_by_side(recordings, tmp_path):
    gen = tmp_path / "gen"
    gen.mkdir()
    analyser = score.Analyser(CONF, 80, 400)
    for line in (recordings / "wav.scp").read_text().splitlines():
        uid, path = line.split()
        smeared = _smear(analyser.log_mel(score.read_wav(path, CONF["fs"])), 4)
        soundfile.write(gen / f"{uid}.wav", vocode(smeared, CONF, 3), CONF["fs"], "PCM_16")
    (tmp_path / "gl.yaml").write_text("".join(f"{k}: {'null' if v is None else v}\n"
                                              for k, v in CONF.items()))
    args = [*SCORE, "--ref_wav_scp", recordings / "wav.scp",
            "--gen_wav_dir", gen, "--vocoder_config", tmp_path / "gl.yaml",
            "--out_dir", tmp_path / "exp"]
    done = subprocess.run(list(map(str, args)), capture_output=True, text=True,
                          cwd=tmp_path, env=SCORE_ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert set(result["per_utterance"]) == {"model", "floor", "baseline"}
    assert len(result["per_utterance"]["model"]) == len(SENTENCES)
    mel = result["summary"]["mel_db"]
    assert mel["floor"]["mean"] < mel["model"]["mean"] < mel["baseline"]["mean"]
    assert 0 < mel["normalized"]["mean"] < 1
    # the normalized score and its interval, recomputed here from the per-utterance rows:
    # the ratio of means, and a percentile bootstrap over utterances of our own
    per = {s: np.array([result["per_utterance"][s][u]["mel_db"]
                        for u in sorted(result["per_utterance"]["model"])])
           for s in ("model", "floor", "baseline")}

    def ratio(idx):
        m, f, b = (per[s][idx].mean() for s in ("model", "floor", "baseline"))
        return (m - f) / (b - f)

    assert mel["normalized"]["mean"] == pytest.approx(ratio(np.arange(len(SENTENCES))))
    rng = np.random.default_rng(12345)
    draws = [ratio(rng.integers(0, len(SENTENCES), len(SENTENCES))) for _ in range(4000)]
    lo, hi = mel["normalized"]["ci95"]
    assert lo == pytest.approx(np.percentile(draws, 2.5), abs=0.02 + 0.1 * (hi - lo))
    assert hi == pytest.approx(np.percentile(draws, 97.5), abs=0.02 + 0.1 * (hi - lo))
    mos = result["summary"]["mos"]  # DistillMOS hears the no-skill baseline as worse
    assert mos["baseline"]["mean"] < mos["floor"]["mean"]
    table = (tmp_path / "exp" / "RESULTS.md").read_text()
    assert "| metric | model | floor | baseline | normalized |" in table
    assert table.count("\n| ") == 1 + len(result["summary"])  # header and one row each
    for name in ("floor", "baseline"):
        assert len(list((tmp_path / "exp" / "score_references" / name).glob("*.wav"))) == 4

    # another model on the same eval set takes the floor and baseline rows as they were
    def rescore(out_dir, *extra):
        cmd = args[:-1] + [out_dir, "--reuse_references", tmp_path / "exp" / "results.json",
                           *extra]
        return subprocess.run(list(map(str, cmd)), capture_output=True, text=True,
                              cwd=tmp_path, env=SCORE_ENV)

    done = rescore(tmp_path / "exp2")
    assert done.returncode == 0, done.stderr[-3000:]
    again = json.loads((tmp_path / "exp2" / "results.json").read_text())
    for name in ("floor", "baseline"):
        assert again["per_utterance"][name] == result["per_utterance"][name]
    assert again["summary"]["mel_db"]["model"] == mel["model"]
    assert not (tmp_path / "exp2" / "score_references").exists()  # nothing was vocoded
    # ... but not those of other settings (here: without MOS)
    refused = rescore(tmp_path / "exp3", "--mos", "none")
    assert refused.returncode != 0 and "references_key differs" in refused.stderr
    assert not (tmp_path / "exp3").exists()

    # a missing synthesized wav stops the scorer before any work, naming it
    (gen / "utt2.wav").unlink()
    done = subprocess.run(list(map(str, args)), capture_output=True, text=True,
                          cwd=tmp_path, env=SCORE_ENV)
    assert done.returncode != 0 and "utt2" in done.stderr and "run stage 7" in done.stderr
