"""The listening-test kit and its report can fail.

The report's numbers are checked against independent computations (scipy's t-interval,
the random-effects variance written out from its sums of squares, scipy's binomial test)
on results whose ratings the test chose; its refusals by file name. The kit is driven in
headless Chromium as a listener would: rater ID, every stimulus played to its end,
ratings given, the page reloaded midway, the preference trials answered, the results
downloaded and reported; the expected numbers come from what the test clicked, mapped
through the blind assignment the page recorded.
"""

import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy import stats

import browser
from conftest import checkout_env
from espnet_sniper.recipe.evaluation import listening_report

FS = 22050
UTTS = ["LJ001-0001", "LJ001-0002", "LJ001-0003", "LJ001-0004"]
SYSTEMS = ["dense", "constant", "sniper"]
REPORT = [sys.executable, "-m", "espnet_sniper.recipe.evaluation.listening_report"]
GENERATE = [sys.executable, "-m", "espnet_sniper.recipe.evaluation.listening_test"]


# ---------------------------------------------------------------- fake experiments

def _tone(path: Path, freq: float, seconds: float = 0.25) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * FS)) / FS
    soundfile.write(str(path), 0.3 * np.sin(2 * np.pi * freq * t), FS, "PCM_16")


def _make_recipe(root: Path) -> Path:
    """A recipe directory: data/eval (relative wav paths) and three stage-7 outputs."""
    scp, text = [], []
    for i, uid in enumerate(UTTS):
        _tone(root / "recordings" / f"{uid}.wav", 300 + 40 * i)
        scp.append(f"{uid} recordings/{uid}.wav")
        text.append(f"{uid} Sentence {i}: the quick brown fox </script> jumps.")
        for k, name in enumerate(SYSTEMS):
            _tone(root / "exp" / f"tts_{name}" / "decode_eval" / "wav" / f"{uid}.wav",
                  400 + 100 * k + 10 * i)
    (root / "data" / "eval").mkdir(parents=True)
    (root / "data" / "eval" / "wav.scp").write_text("\n".join(scp) + "\n")
    (root / "data" / "eval" / "text").write_text("\n".join(text) + "\n")
    return root


def _kit_args(out_dir: str, *extra: str) -> list:
    args = [a for name in SYSTEMS for a in ("--system", f"{name}=exp/tts_{name}")]
    return args + ["--ref_wav_scp", "data/eval/wav.scp", "--text", "data/eval/text",
                   "--out_dir", out_dir, *extra]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    return _make_recipe(tmp_path_factory.mktemp("recipe"))


def _generate(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*GENERATE, *args], cwd=recipe, capture_output=True, text=True,
                          env=checkout_env())


# ---------------------------------------------------------------- the kit's generator

def test_generator_names_a_missing_wav(tmp_path):
    recipe = _make_recipe(tmp_path / "recipe")
    gone = recipe / "exp" / "tts_sniper" / "decode_eval" / "wav" / "LJ001-0003.wav"
    gone.unlink()
    run = _generate(recipe, *_kit_args("kit"))
    assert run.returncode != 0
    assert "exp/tts_sniper/decode_eval/wav/LJ001-0003.wav" in run.stderr, run.stderr
    assert "run stage 7" in run.stderr
    assert not (recipe / "kit").exists()
    # a system without any stage-7 output is named too
    shutil.rmtree(recipe / "exp" / "tts_dense" / "decode_eval")
    run = _generate(recipe, *_kit_args("kit"))
    assert "dense=exp/tts_dense" in run.stderr and "run stage 7" in run.stderr, run.stderr


@pytest.mark.parametrize("extra, message", [
    (["--preference", "dense,snyper"], "'snyper' not among the systems"),
    (["--preference", "dense"], "name 2 or 3 systems"),
    (["--preference", "dense,dense"], "named twice"),
    (["--system", "recording=exp/tts_dense"], "'recording' is the recordings' name"),
    (["--system", "dense=exp/tts_constant"], "'dense' is given twice"),
    (["--system", "bad name=exp/tts_dense"], "must start with a letter"),
    (["--utterances", "9"], "choose between 1 and 4"),
    (["--test_id", "a b"], "--test_id 'a b'"),
])
def test_generator_refuses_bad_arguments(recipe, extra, message):
    run = _generate(recipe, *_kit_args("kit_refused", *extra))
    assert run.returncode != 0 and message in run.stderr, run.stderr
    assert not (recipe / "kit_refused").exists()


def test_generator_needs_preference_of_four_systems(recipe):
    run = _generate(recipe, *_kit_args("kit4", "--system", "extra=exp/tts_dense"))
    assert run.returncode != 0 and "--preference A,B[,C]" in run.stderr, run.stderr
    run = _generate(recipe, *_kit_args("kit4", "--system", "extra=exp/tts_dense",
                                       "--preference", "sniper,extra"))
    assert run.returncode == 0, run.stderr
    data = _kit_data(recipe / "kit4")
    assert data["preference"]["systems"] == ["sniper", "extra"]
    assert data["systems"] == ["recording", *SYSTEMS, "extra"]


def test_generator_blind_deterministic_and_atomic(recipe):
    first = _generate(recipe, *_kit_args("kit_a", "--utterances", "2", "--seed", "3"))
    second = _generate(recipe, *_kit_args("kit_b", "--utterances", "2", "--seed", "3"))
    other = _generate(recipe, *_kit_args("kit_c", "--utterances", "2", "--seed", "0"))
    assert first.returncode == second.returncode == other.returncode == 0, first.stderr
    a, b, c = (_kit_data(recipe / k) for k in ("kit_a", "kit_b", "kit_c"))
    assert a == b  # same arguments, same kit (test id, utterances, blind names)
    assert {s["utt"] for s in a["mos"]} != {s["utt"] for s in c["mos"]}
    assert a["test_id"] != c["test_id"]
    assert len(a["mos"]) == 2 * 4 and len(a["preference"]["trials"]) == 2
    names = sorted(p.name for p in (recipe / "kit_a" / "audio").iterdir())
    assert names == sorted(f"{s['id']}.wav" for s in a["mos"])
    for name in names:  # no system or utterance in a file name
        assert not any(s in name for s in [*SYSTEMS, "recording", "LJ"]), name
    # the copies are the stage-7 files, byte for byte (16-bit PCM)
    stim = next(s for s in a["mos"] if s["system"] == "sniper")
    source = recipe / "exp" / "tts_sniper" / "decode_eval" / "wav" / f"{stim['utt']}.wav"
    assert (recipe / "kit_a" / stim["file"]).read_bytes() == source.read_bytes()
    # an existing kit is never overwritten, and no temporary folder is left behind
    again = _generate(recipe, *_kit_args("kit_a"))
    assert again.returncode != 0 and "exists and is not empty" in again.stderr
    assert not [p for p in recipe.iterdir() if p.name.startswith(".kit")]


def _kit_data(kit: Path) -> dict:
    html = (kit / "index.html").read_text(encoding="utf-8")
    start = html.index('<script type="application/json" id="kit-data">') + len(
        '<script type="application/json" id="kit-data">')
    return json.loads(html[start:html.index("</script>", start)])


# ---------------------------------------------------------------- the report

def _result(rater: str, scores: dict, prefs: dict, test_id: str = "lt-test",
            systems=("recording", *SYSTEMS), pref_systems=tuple(SYSTEMS)) -> dict:
    """A results file as the page writes it: scores {(utt, system): s}, prefs {utt: c}."""
    labels = dict(zip("ABC", pref_systems))
    by_system = {s: l for l, s in labels.items()}
    return {
        "format": "sniper-listening-results", "version": 1, "test_id": test_id,
        "rater": rater, "seed": 1, "systems": list(systems),
        "preference_systems": list(pref_systems),
        "mos": [{"position": n, "stimulus": f"x{n}", "utt": u, "system": s, "score": v,
                 "rated_at": "2026-12-01T00:00:00Z"}
                for n, ((u, s), v) in enumerate(sorted(scores.items()))],
        "preference": [{"position": n, "utt": u, "labels": labels, "choice": c,
                        "choice_label": "none" if c == "none" else by_system[c]}
                       for n, (u, c) in enumerate(sorted(prefs.items()))],
    }


def _write(path: Path, doc) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


# ratings[rater][system] = scores over UTTS[:3]; rater and sentence effects both present
RATINGS = {
    "r1": {"recording": [5, 5, 4], "dense": [3, 4, 2], "constant": [2, 3, 2],
           "sniper": [4, 4, 3]},
    "r2": {"recording": [5, 4, 4], "dense": [4, 5, 3], "constant": [3, 3, 1],
           "sniper": [4, 5, 4]},
    "r3": {"recording": [4, 4, 5], "dense": [2, 3, 2], "constant": [2, 2, 1],
           "sniper": [3, 4, 3]},
    "r4": {"recording": [5, 5, 5], "dense": [4, 4, 3], "constant": [3, 4, 2],
           "sniper": [5, 5, 4]},
}
PREFS = {"r1": ["sniper", "sniper", "dense"], "r2": ["sniper", "none", "constant"],
         "r3": ["dense", "sniper", "sniper"], "r4": ["sniper", "none", "sniper"]}


def _results_dir(root: Path) -> list:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for rater, by_system in RATINGS.items():
        scores = {(u, s): v[i] for s, v in by_system.items() for i, u in enumerate(UTTS[:3])}
        prefs = dict(zip(UTTS[:3], PREFS[rater]))
        paths.append(_write(root / f"{rater}.json", _result(rater, scores, prefs)))
    return paths


def _run_report(paths, out_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*REPORT, *map(str, paths), "--out_dir", str(out_dir), *extra],
                          capture_output=True, text=True, env=checkout_env())


def _independent_random_effects(y: np.ndarray):
    """Var(mean) and Satterthwaite df of the two-way model, from sums of squares
    (both variance components positive in the data used here)."""
    n, k = y.shape
    grand = y.sum() / y.size
    ss_total = sum((v - grand) ** 2 for v in y.flat)
    ss_rater = k * sum((y[i].sum() / k - grand) ** 2 for i in range(n))
    ss_sentence = n * sum((y[:, j].sum() / n - grand) ** 2 for j in range(k))
    ms_r, ms_s = ss_rater / (n - 1), ss_sentence / (k - 1)
    ms_e = (ss_total - ss_rater - ss_sentence) / ((n - 1) * (k - 1))
    assert ms_r > ms_e and ms_s > ms_e, "the test's data should have both effects"
    var = (ms_r + ms_s - ms_e) / (n * k)
    df = var ** 2 / ((ms_r / (n * k)) ** 2 / (n - 1) + (ms_s / (n * k)) ** 2 / (k - 1)
                     + (ms_e / (n * k)) ** 2 / ((n - 1) * (k - 1)))
    return var, df


def test_report_mos_and_intervals(tmp_path):
    paths = _results_dir(tmp_path / "results")
    run = _run_report(paths, tmp_path / "out")
    assert run.returncode == 0, run.stderr
    doc = json.loads((tmp_path / "out" / "listening_report.json").read_text())
    assert doc["raters"] == 4 and doc["sentences"] == 3 and doc["test_id"] == "lt-test"
    assert "random-effects" in doc["mos"]["interval"]
    for system in ("recording", *SYSTEMS):
        y = np.array([RATINGS[r][system] for r in RATINGS], dtype=float)
        row = doc["mos"]["systems"][system]
        assert row["mean"] == pytest.approx(y.mean()) and row["n_ratings"] == 12
        rater_means = y.mean(axis=1)
        assert row["rater_mean_t95"] == pytest.approx(list(stats.t.interval(
            0.95, 3, loc=y.mean(), scale=stats.sem(rater_means))))
        if system == "sniper":  # rater and sentence effects both there
            var, df = _independent_random_effects(y)
            half = stats.t.ppf(0.975, df) * math.sqrt(var)
            assert row["df"] == pytest.approx(df)
            assert row["ci95"] == pytest.approx([y.mean() - half, y.mean() + half])
    # the numbers in the Markdown table are the JSON's
    md = (tmp_path / "out" / "listening_report.md").read_text()
    sniper = doc["mos"]["systems"]["sniper"]
    assert f"| sniper | {sniper['mean']:.2f} | {sniper['ci95'][0]:.2f} - " in md
    assert md in run.stdout


def test_report_interval_without_rater_spread(tmp_path):
    # every rater has the same mean: the rater component is 0 and the interval is the
    # t-interval over the sentence means
    y = np.array([[5, 3, 4], [4, 3, 5], [3, 4, 5]], dtype=float)
    assert len(set(y.mean(axis=1))) == 1
    row = listening_report.mos_stats(y)
    assert row["variance_components"]["rater"] == 0.0
    expected = stats.t.interval(0.95, 2, loc=y.mean(), scale=stats.sem(y.mean(axis=0)))
    assert row["ci95"] == pytest.approx(list(expected))


def test_report_one_rater(tmp_path):
    paths = _results_dir(tmp_path / "results")[:1]
    run = _run_report(paths, tmp_path / "out")
    assert run.returncode == 0, run.stderr
    row = json.loads((tmp_path / "out" / "listening_report.json").read_text())[
        "mos"]["systems"]["dense"]
    scores = RATINGS["r1"]["dense"]
    expected = stats.t.interval(0.95, 2, loc=np.mean(scores), scale=stats.sem(scores))
    assert row["ci95"] == pytest.approx(list(expected))
    assert row["method"].startswith("one rater") and row["rater_mean_t95"] is None
    # one rater who gave the same score everywhere: a zero-width interval, no crash
    flat = listening_report.mos_stats(np.array([[4.0, 4.0, 4.0]]))
    assert flat["ci95"] == [4.0, 4.0]
    assert listening_report.mos_stats(np.array([[3.0]]))["ci95"] is None


def test_report_preference_counts_and_binomial(tmp_path):
    paths = _results_dir(tmp_path / "results")
    run = _run_report(paths, tmp_path / "out")
    assert run.returncode == 0, run.stderr
    pref = json.loads((tmp_path / "out" / "listening_report.json").read_text())["preference"]
    choices = [c for r in PREFS.values() for c in r]
    assert pref["trials"] == 12
    assert pref["counts"] == {"dense": 2, "constant": 1, "sniper": 7, "none": 2}
    assert pref["shares"]["sniper"] == pytest.approx(7 / 12)
    pairs = {(p["a"], p["b"]): p for p in pref["pairs"]}
    assert set(pairs) == {("dense", "constant"), ("dense", "sniper"), ("constant", "sniper")}
    for (a, b), p in pairs.items():
        wins_a, wins_b = choices.count(a), choices.count(b)
        assert (p["wins_a"], p["wins_b"]) == (wins_a, wins_b)
        assert p["p_value"] == pytest.approx(stats.binomtest(wins_a, wins_a + wins_b).pvalue)
    # by hand: dense 2, sniper 7 of 9; P(X <= 2) + P(X >= 7) = 2 (1 + 9 + 36) / 2^9
    assert pairs[("dense", "sniper")]["p_value"] == pytest.approx(92 / 512)


def test_report_refuses_bad_files_by_name_and_keeps_the_rest(tmp_path):
    paths = _results_dir(tmp_path / "results")
    d = tmp_path / "results"
    scores = {(u, s): 3 for s in ("recording", *SYSTEMS) for u in UTTS[:3]}
    prefs = dict(zip(UTTS[:3], ["none"] * 3))
    bad = {
        "truncated.json": '{"format": "sniper-listening-results", "vers',
        "score7.json": _result("r9", {**scores, (UTTS[0], "dense"): 7}, prefs),
        "unanswered.json": _result("r10", {**scores, (UTTS[1], "sniper"): None}, prefs),
        "missing_system.json": _result(
            "r11", {k: v for k, v in scores.items() if k[1] != "constant"}, prefs),
        "other_format.json": {**_result("r12", scores, prefs), "format": "something"},
        "foreign.json": _result("r13", scores, prefs, test_id="lt-other"),
        "same_rater.json": _result(" R2 ", scores, prefs),
        "other_kit.json": _result("r14", {(u, s): 3 for s in ("recording", *SYSTEMS)
                                          for u in UTTS[1:]}, dict(zip(UTTS[1:], ["none"] * 3))),
    }
    extra = [_write(d / name, doc) for name, doc in bad.items()]
    copy = d / "copy_of_r1.json"
    shutil.copyfile(paths[0], copy)
    run = _run_report([*paths, *extra, copy, d / "absent.json"], tmp_path / "out")
    assert run.returncode == 0, run.stderr
    reasons = {
        "truncated.json": "malformed: not JSON",
        "score7.json": "malformed: mos[", "unanswered.json": "unanswered",
        "missing_system.json": "not rated for constant", "other_format.json": "format",
        "foreign.json": "foreign: test lt-other", "same_rater.json": "duplicate: rater",
        "other_kit.json": "mismatched", "copy_of_r1.json": "duplicate: identical to",
        "absent.json": "unreadable",
    }
    lines = run.stderr.splitlines()
    for name, reason in reasons.items():
        hit = [line for line in lines if f"{d / name}:" in line]
        assert len(hit) == 1 and reason in hit[0] and hit[0].startswith("WARNING"), (name, lines)
    doc = json.loads((tmp_path / "out" / "listening_report.json").read_text())
    assert doc["rater_ids"] == list(RATINGS)  # the four good files, nothing else
    assert len(doc["files"]["refused"]) == len(reasons)
    y = np.array([RATINGS[r]["constant"] for r in RATINGS], dtype=float)
    assert doc["mos"]["systems"]["constant"]["mean"] == pytest.approx(y.mean())


def test_report_fails_when_nothing_usable(tmp_path):
    d = tmp_path / "results"
    d.mkdir()
    bad = _write(d / "bad.json", "[]")
    run = _run_report([bad], tmp_path / "out")
    assert run.returncode == 1 and "bad.json: malformed" in run.stderr
    assert "no usable results" in run.stderr
    assert not (tmp_path / "out" / "listening_report.json").exists()
    paths = _results_dir(d)
    run = _run_report(paths, tmp_path / "out", "--test_id", "lt-nobody")
    assert run.returncode == 1 and "foreign" in run.stderr
    # as many files of one test as of another: the report asks which
    scores = {(u, s): 3 for s in ("recording", *SYSTEMS) for u in UTTS[:3]}
    other = _write(d / "other.json", _result("q", scores, dict(zip(UTTS[:3], ["none"] * 3)),
                                             test_id="lt-other"))
    run = _run_report([paths[0], other], tmp_path / "out")
    assert run.returncode != 0 and "--test_id" in run.stderr


# ---------------------------------------------------------------- the page, in a browser

# what the listener answers: a score per (system, utterance index), a preferred system
SCORE = {"recording": [5, 4, 5], "dense": [3, 4, 2], "constant": [2, 2, 1],
         "sniper": [4, 3, 4]}
CHOICE = ["sniper", "none", "dense"]  # by the position of the preference trial


@pytest.mark.skipif(bool(browser.missing()), reason=browser.missing() or "browser present")
def test_kit_in_a_browser(recipe, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    run = _generate(recipe, *_kit_args(str(tmp_path / "kit"), "--utterances", "3"))
    assert run.returncode == 0, run.stderr
    kit = _kit_data(tmp_path / "kit")
    utts = sorted({s["utt"] for s in kit["mos"]})
    stimulus = {s["id"]: s for s in kit["mos"]}
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = browser.start(tmp_path / "profile", downloads)
    shots = []

    def shot(name):
        shots.append(tmp_path / f"{name}.png")
        driver.save_screenshot(str(shots[-1]))

    def el(id_):
        return driver.find_element(By.ID, id_)

    def phase():
        return driver.execute_script("return document.body.dataset.phase")

    def wait(cond, what):
        WebDriverWait(driver, 10, poll_frequency=0.05).until(lambda d: cond(), message=what)

    def enter(rater):
        el("rater-id").clear()
        el("rater-id").send_keys(rater)
        el("start").click()

    try:
        driver.get((tmp_path / "kit" / "index.html").as_uri())
        assert phase() == "start"
        shot("start")
        el("start").click()  # no rater ID: refused
        assert phase() == "start" and "rater ID" in el("start-error").text
        enter("alice")
        assert phase() == "mos"
        plan = driver.execute_script("return listeningKit.plan('alice')")
        assert driver.execute_script("return listeningKit.plan('alice')") == plan
        bob = driver.execute_script("return listeningKit.plan('bob')")
        assert bob["seed"] != plan["seed"] and bob["mos_order"] != plan["mos_order"]
        assert sorted(bob["mos_order"]) == sorted(plan["mos_order"])
        state = driver.execute_script("return listeningKit.state()")
        assert state["mos_order"] == plan["mos_order"]
        assert state["preference_order"] == plan["preference_order"]
        # nothing on the page names a system
        text = driver.find_element(By.TAG_NAME, "body").text
        assert not any(name in text for name in SYSTEMS), text

        expected = {}
        n_mos = len(plan["mos_order"])
        assert n_mos == 4 * 3
        for position in range(n_mos):
            screen = el("mos-screen")
            assert screen.get_attribute("data-position") == str(position)
            sid = screen.get_attribute("data-stimulus")
            assert sid == plan["mos_order"][position]
            stim = stimulus[sid]
            assert el("mos-text").text.startswith(f"Sentence {UTTS.index(stim['utt'])}:")
            # not played yet: nothing can be rated, nothing skipped
            assert not any(el(f"mos-score-{v}").is_enabled() for v in range(1, 6))
            assert not el("mos-next").is_enabled()
            if position == 0:
                shot("mos_unplayed")
            el("mos-play").click()
            wait(lambda: el("mos-score-3").is_enabled(), "the stimulus never ended")
            score = SCORE[stim["system"]][utts.index(stim["utt"])]
            el(f"mos-score-{score}").click()
            expected[(stim["utt"], stim["system"])] = score
            if position == n_mos // 2 - 1:
                shot("mos_rated")
            if position == n_mos // 2:
                # reload midway: the answers so far are kept and the page resumes here
                driver.refresh()
                assert phase() == "start"
                assert el("rater-id").get_attribute("value") == "alice"
                enter("alice")
                assert phase() == "mos"
                assert el("mos-screen").get_attribute("data-position") == str(position)
                kept = driver.execute_script("return listeningKit.state()")["mos"]
                assert {k: v["score"] for k, v in kept.items()} == {
                    s: expected[(stimulus[s]["utt"], stimulus[s]["system"])]
                    for s in plan["mos_order"][:position + 1]}
                assert el(f"mos-score-{score}").get_attribute("aria-pressed") == "true"
                assert el("mos-next").is_enabled()  # already rated: no replay needed
                el("mos-prev").click()
                previous = stimulus[plan["mos_order"][position - 1]]
                was = expected[(previous["utt"], previous["system"])]
                assert el(f"mos-score-{was}").get_attribute("aria-pressed") == "true"
                el("mos-next").click()
            el("mos-next").click()

        assert phase() == "pref"
        shot("preference_start")
        labels = "ABC"
        choices = []
        for position, trial in enumerate(plan["preference_order"]):
            assert el("pref-screen").get_attribute("data-utt") == trial["utt"]
            for label in labels:
                assert not el("pref-choice-none").is_enabled(), "choice before all played"
                el(f"pref-play-{label}").click()
                wait(lambda: "heard" in el(f"pref-status-{label}").text, f"{label} never ended")
            if position == 0:
                shot("preference")
            wanted = CHOICE[position]
            label = "none" if wanted == "none" else next(
                l for l, s in trial["labels"].items() if s == wanted)
            el(f"pref-choice-{label}").click()
            choices.append(wanted)
            el("pref-next").click()

        assert phase() == "done"
        shot("done")
        el("download").click()
        name = f"listening_{kit['test_id']}_alice.json"
        wait(lambda: (downloads / name).exists(), "no download")
        time.sleep(0.2)
        saved = json.loads((downloads / name).read_text())
    finally:
        driver.quit()
        print("screenshots:", *map(str, shots))

    assert saved["format"] == "sniper-listening-results" and saved["version"] == 1
    assert saved["rater"] == "alice" and saved["seed"] == plan["seed"]
    assert [m["stimulus"] for m in saved["mos_order"]] == plan["mos_order"]
    assert saved["preference_order"] == plan["preference_order"]
    assert {(m["utt"], m["system"]): m["score"] for m in saved["mos"]} == expected
    assert all(m["rated_at"] for m in saved["mos"])
    assert [p["choice"] for p in saved["preference"]] == choices

    run = _run_report([downloads / name], tmp_path / "report")
    assert run.returncode == 0, run.stderr
    doc = json.loads((tmp_path / "report" / "listening_report.json").read_text())
    for system, scores in SCORE.items():
        assert doc["mos"]["systems"][system]["mean"] == pytest.approx(np.mean(scores))
    assert doc["preference"]["counts"] == {"dense": 1, "constant": 0, "sniper": 1, "none": 1}
