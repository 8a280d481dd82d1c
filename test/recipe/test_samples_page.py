"""The samples page (espnet_sniper.recipe.evaluation.samples_page) is complete, self-contained and opens.

Two tiny "experiments" are scored by the real stage 8 scorer (score.py, without MOS; the
second reuses the first's floor and baseline, as a grid does), then paged two utterances a
page. The page must hold every utterance once, link only files inside its folder, show
the scores results.json holds, escape transcripts, refuse inputs that would make a wrong
page, and play and show in a real browser from the file system.
"""

import html
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Tuple
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile

import browser
from conftest import checkout_env
from espnet_sniper.recipe.evaluation import plot_mels, samples_page, score

FS = 22050
TEXTS = {"utt0": 'Tom & Jerry <b>said</b> "a < b" & left.',
         "utt1": "The pilot treasured a bowl of orange soup.",
         "utt2": "Near the thick hedge, that clever fox explained an azure ribbon."}
SYSTEMS = {"dense": 1.05, "sparse": 0.9}  # pitch and length factors of the "synthesis"
SOURCES_PER_UTT = 3 + len(SYSTEMS)  # recording, floor, baseline, each system


def _voice(f0: float, seconds: float, seed: int) -> np.ndarray:
    """A vowel-like tone: harmonics of a vibrato F0, faded in and out, a little noise
    (so that WORLD finds a voice and trimming finds a start and an end)."""
    t = np.arange(int(FS * seconds)) / FS
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / FS
    wav = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.03)
    return wav * fade + 0.005 * np.random.default_rng(seed).standard_normal(len(t))


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    """data/eval and exp/<system> of a recipe after stages 7 and 8."""
    root = tmp_path_factory.mktemp("recipe")
    data = root / "data" / "eval"
    data.mkdir(parents=True)
    scp = []
    for n, uid in enumerate(TEXTS):
        path = root / "recordings" / f"{uid}.wav"
        path.parent.mkdir(exist_ok=True)
        soundfile.write(path, _voice(120 + 20 * n, 0.3, n), FS, "PCM_16")
        scp.append(f"{uid} {path}")
    (data / "wav.scp").write_text("\n".join(scp) + "\n")
    (data / "text").write_text("".join(f"{u} {t}\n" for u, t in TEXTS.items()))
    (root / "griffin_lim.yaml").write_text(
        "fs: 22050\nn_fft: 1024\nn_shift: 256\nwin_length: null\nn_mels: 80\nfmin: 80\n"
        "fmax: 7600\ngriffin_lim_iters: 8\n")
    first = None
    for name, factor in SYSTEMS.items():
        exp = root / "exp" / name
        gen = exp / "decode_eval" / "wav"
        gen.mkdir(parents=True)
        for n, uid in enumerate(TEXTS):
            soundfile.write(gen / f"{uid}.wav", _voice((120 + 20 * n) * factor, 0.3 * factor,
                                                       n + 10), FS, "PCM_16")
        reuse = ["--reuse_references", str(first)] if first else []
        score.main(["--ref_wav_scp", str(data / "wav.scp"), "--gen_wav_dir", str(gen),
                    "--vocoder_config", str(root / "griffin_lim.yaml"), "--mos", "none",
                    "--out_dir", str(exp), *reuse])
        first = first or exp / "results.json"
    return root


def _argv(grid: Path, out: Path, systems: Dict[str, Path], *extra: str) -> List[str]:
    argv = ["--ref_wav_scp", str(grid / "data" / "eval" / "wav.scp"),
            "--text", str(grid / "data" / "eval" / "text"), "--out_dir", str(out), *extra]
    for name, exp in systems.items():
        argv += ["--system", f"{name}={exp}"]
    return argv


def _exps(grid: Path) -> Dict[str, Path]:
    return {name: grid / "exp" / name for name in SYSTEMS}


@pytest.fixture(scope="module")
def page(grid, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("samples") / "page"
    samples_page.main(_argv(grid, out, _exps(grid), "--per_page", "2"))
    return out


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each transcript paragraph."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: List[Tuple[str, Dict[str, str]]] = []
        self.transcripts: List[str] = []
        self._in_text = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self._in_text = tag == "p" and attrs.get("class") == "text"
        if self._in_text:
            self.transcripts.append("")

    def handle_endtag(self, tag):
        if tag == "p":
            self._in_text = False

    def handle_data(self, data):
        if self._in_text:
            self.transcripts[-1] += data

    def all(self, tag: str) -> List[Dict[str, str]]:
        return [attrs for t, attrs in self.tags if t == tag]


def _results(exp: Path) -> dict:
    return json.loads((exp / "results.json").read_text())


def _cell(text: str, cell_id: str) -> str:
    found = re.search(rf'<td[^>]* id="{re.escape(cell_id)}">(.*?)</td>', text)
    assert found, f"no cell {cell_id}"
    return re.sub(r"<[^>]+>", " ", found.group(1)).split()[0]


def test_pages_hold_every_utterance_once_with_its_escaped_text(page):
    assert sorted(p.name for p in page.glob("*.html")) == ["index.html", "page2.html"]
    seen = []
    for name, expected in (("index.html", 2), ("page2.html", 1)):
        text = (page / name).read_text(encoding="utf-8")
        tags = Tags(text)
        sections = [a["id"] for a in tags.all("section") if a.get("class") == "utt"]
        assert len(sections) == expected
        seen += [s.removeprefix("utt-") for s in sections]
        for uid in seen[-expected:]:
            assert TEXTS[uid] in tags.transcripts  # the browser shows the text as written
        assert len(tags.all("audio")) == expected * SOURCES_PER_UTT
    assert seen == list(TEXTS)
    first = (page / "index.html").read_text(encoding="utf-8")
    assert html.escape(TEXTS["utt0"]) in first and "<b>said</b>" not in first


def test_every_player_and_picture_resolves_inside_the_folder(page, grid):
    for html_page in page.glob("*.html"):
        tags = Tags(html_page.read_text(encoding="utf-8"))
        links = [a["src"] for a in tags.all("audio") + tags.all("img")]
        links += [a["href"] for a in tags.all("a")]
        for link in links:
            assert not re.match(r"^[a-z]+:|^/|\.\.", link), f"{html_page.name}: {link} leaves"
            assert (page / unquote(link)).is_file(), f"{html_page.name}: {link} does not resolve"
        for audio in tags.all("audio"):
            assert audio.get("preload") == "none" and "controls" in audio
        assert all(img.get("loading") == "lazy" for img in tags.all("img"))
    # the folder stands alone: the very bytes of each source, whichever way they came
    reused = grid / "exp" / "dense" / "score_references"  # sparse reused dense's references
    for folder, origin in (("dense", grid / "exp" / "dense" / "decode_eval" / "wav"),
                           ("sparse", grid / "exp" / "sparse" / "decode_eval" / "wav"),
                           ("floor", reused / "floor"), ("baseline", reused / "baseline"),
                           ("recording", grid / "recordings")):
        for uid in TEXTS:
            assert (page / "audio" / folder / f"{uid}.wav").read_bytes() == \
                (origin / f"{uid}.wav").read_bytes()


def test_scores_are_those_of_results_json(page, grid):
    text = (page / "index.html").read_text(encoding="utf-8")
    for name, exp in _exps(grid).items():
        results = _results(exp)
        for metric, entry in results["summary"].items():
            digits = score.LABELS[metric][1]
            assert _cell(text, f"score-{name}-{metric}") == f"{entry['model']['mean']:.{digits}f}"
            if "normalized" in entry:
                assert _cell(text, f"normalized-{name}-{metric}") == \
                    f"{entry['normalized']['mean']:.3f}"
            assert html.escape(score.LABELS[metric][0]) in text
        # the per-utterance row of this system in utt0's table
        section = text.split('id="utt-utt0"')[1].split("</section>")[0]
        row = re.search(rf'<td class="source">{name}</td>(.*?)</tr>', section).group(1)
        mel = results["per_utterance"]["model"]["utt0"]["mel_db"]
        assert f'<td class="num">{mel:.2f}</td>' in row
    dense = _results(grid / "exp" / "dense")["summary"]["mel_db"]
    assert _cell(text, "floor-1-mel_db") == f"{dense['floor']['mean']:.2f}"
    assert "different floors" not in text  # sparse reused dense's: one floor, shown once
    assert text.count('<td class="source">floor</td>') == 2  # once per utterance


def _copy_exps(grid: Path, tmp_path: Path) -> Dict[str, Path]:
    copies = {}
    for name, exp in _exps(grid).items():
        copies[name] = tmp_path / "exp" / name
        shutil.copytree(exp, copies[name])
    return copies


def test_new_metrics_and_differing_floors_are_shown(grid, tmp_path):
    exps = _copy_exps(grid, tmp_path)
    results = _results(exps["sparse"])
    # a metric the scorer may gain later, unknown to LABELS: shown by its key
    results["summary"]["pesq"] = {s: {"mean": 0.123456, "ci95": [0.1, 0.2]}
                                 for s in ("model", "floor", "baseline")}
    for uid in TEXTS:
        results["per_utterance"]["model"][uid]["pesq"] = 0.25
    # scored against other recordings or settings: its own floor, said so
    results["references_key"] = "other"
    results["references_reused_from"] = None
    shutil.copytree(grid / "exp" / "dense" / "score_references",
                    exps["sparse"] / "score_references")
    (exps["sparse"] / "results.json").write_text(json.dumps(results))
    out = tmp_path / "page"
    samples_page.main(_argv(grid, out, exps, "--max_utterances", "1"))
    text = (out / "index.html").read_text(encoding="utf-8")
    assert _cell(text, "score-sparse-pesq") == "0.1235"
    assert _cell(text, "score-dense-pesq") == "n/a"
    assert '<th title="pesq">pesq</th>' in text and '<td class="num">0.25</td>' in text
    assert "different floors" in text and "floor (sparse)" in text
    assert (out / "audio" / "floor_2" / "utt0.wav").is_file()


@pytest.mark.parametrize("damage, message", [
    ("missing_wav", "run stage 7"),
    ("missing_results", "run stage 8"),
    ("missing_references", "run stage 8"),
    ("other_eval_set", "different eval sets"),
    ("duplicate_name", "given twice"),
    ("unsafe_name", "becomes a folder name"),
    ("reserved_name", "reserved"),
    ("missing_exp", "is not a directory"),
    ("missing_text", "--text"),
    ("reused_from_nowhere", "is not found"),
])
def test_inputs_that_would_make_a_wrong_page_are_refused(grid, tmp_path, damage, message):
    exps = _copy_exps(grid, tmp_path)
    argv = _argv(grid, tmp_path / "page", exps)
    if damage == "missing_wav":
        (exps["sparse"] / "decode_eval" / "wav" / "utt1.wav").unlink()
    elif damage == "missing_results":
        (exps["sparse"] / "results.json").unlink()
    elif damage == "missing_references":
        shutil.rmtree(exps["dense"] / "score_references" / "baseline")
    elif damage == "other_eval_set":
        results = _results(exps["sparse"])
        del results["per_utterance"]["model"]["utt2"]
        (exps["sparse"] / "results.json").write_text(json.dumps(results))
    elif damage == "duplicate_name":
        argv += ["--system", f"dense={exps['sparse']}"]
    elif damage == "unsafe_name":
        argv += ["--system", f"../up={exps['sparse']}"]
    elif damage == "reserved_name":
        argv += ["--system", f"floor={exps['sparse']}"]
    elif damage == "missing_exp":
        argv += ["--system", f"third={tmp_path / 'exp' / 'third'}"]
    elif damage == "missing_text":
        argv[argv.index("--text") + 1] = str(tmp_path / "no_text")
    elif damage == "reused_from_nowhere":
        _reuse(exps["sparse"], "exp/nowhere/results.json")
    with pytest.raises(SystemExit) as refused:
        samples_page.main(argv)
    said = str(refused.value.code)
    assert said.startswith("error: ") and message in said, said
    if damage == "missing_wav":
        assert "utt1" in said and "sparse" in said
    if damage == "other_eval_set":
        assert "dense" in said and "sparse" in said and "utt2" in said
    assert not (tmp_path / "page").exists()  # refused before any work


def _reuse(exp: Path, reused_from: str) -> None:
    results = _results(exp)
    results["references_reused_from"] = reused_from
    (exp / "results.json").write_text(json.dumps(results))


def test_references_reused_by_a_relative_path_are_found_from_the_recipe_folder(grid, tmp_path):
    # run.sh passes score_references as the user gave it: relative to the recipe folder,
    # which need not be where the page is made
    recipe = tmp_path / "recipe"
    exps = {name: recipe / "exp" / name for name in SYSTEMS}
    for name, exp in exps.items():
        shutil.copytree(grid / "exp" / name, exp)
    _reuse(exps["sparse"], "exp/dense/results.json")
    out = tmp_path / "page"
    samples_page.main(_argv(grid, out, {"sparse": exps["sparse"]}, "--max_utterances", "1"))
    for which in ("floor", "baseline"):
        assert (out / "audio" / which / "utt0.wav").read_bytes() == \
            (exps["dense"] / "score_references" / which / "utt0.wav").read_bytes()


def test_the_command_line_refuses_with_its_reason(grid, tmp_path):
    (tmp_path / "exp").mkdir()  # an experiment that stage 8 has not run in
    done = subprocess.run(
        [sys.executable, "-m", "espnet_sniper.recipe.evaluation.samples_page",
         *_argv(grid, tmp_path / "page", {"dense": tmp_path / "exp"})],
        capture_output=True, text=True, cwd=tmp_path, env=checkout_env(OMP_NUM_THREADS="1"))
    assert done.returncode == 1 and "results.json does not exist: run stage 8" in done.stderr, \
        done.stderr[-2000:]


def test_a_rerun_replaces_its_own_folder_and_nothing_else(grid, tmp_path):
    out = tmp_path / "page"
    samples_page.main(_argv(grid, out, _exps(grid), "--per_page", "1"))
    assert (out / "page3.html").is_file()
    samples_page.main(_argv(grid, out, _exps(grid), "--per_page", "3"))
    assert sorted(p.name for p in out.glob("*.html")) == ["index.html"]  # no stale page
    assert 'class="next"' not in (out / "index.html").read_text()
    assert not list(tmp_path.glob(".*"))  # no temporary folder left
    other = tmp_path / "somebody_elses"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="not a samples page folder"):
        samples_page.main(_argv(grid, other, _exps(grid)))
    assert (other / "notes.txt").read_text() == "keep me"


def test_plot_mels_cli_still_draws(grid, tmp_path):
    out = tmp_path / "mels.png"
    plot_mels.main(["--ref_wav_scp", str(grid / "data" / "eval" / "wav.scp"),
                    "--gen_wav_dir", str(grid / "exp" / "dense" / "decode_eval" / "wav"),
                    "--fs", "22050", "--n_fft", "1024", "--n_shift", "256", "--n_mels", "80",
                    "--fmin", "80", "--fmax", "7600", "--num_utts", "2", "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(bool(browser.missing()), reason=browser.missing() or "browser present")
def test_the_page_plays_and_shows_in_a_real_browser(page, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser.start(tmp_path / "profile", tmp_path / "downloads")
    try:
        driver.get((page / "index.html").as_uri())
        assert len(driver.find_elements(By.TAG_NAME, "audio")) == 2 * SOURCES_PER_UTT
        # preload="none" loads nothing until asked: ask every player, as a click would
        driver.execute_script("document.querySelectorAll('audio').forEach(a => {"
                              "a.preload = 'auto'; a.load(); })")
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('audio')]"
            ".every(a => a.error || a.readyState >= 1)"))
        players = driver.execute_script(
            "return [...document.querySelectorAll('audio')].map(a => "
            "[a.getAttribute('src'), a.readyState, a.duration, a.error && a.error.code])")
        for src, ready, duration, error in players:
            assert error is None and ready >= 1, f"{src} does not load: error {error}"
            expected = soundfile.info(str(page / unquote(src))).duration
            assert duration == pytest.approx(expected, abs=0.01), src
        # lazy pictures load only near the viewport: bring each there
        for img in driver.find_elements(By.TAG_NAME, "img"):
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)
            WebDriverWait(driver, 10).until(lambda d: d.execute_script(
                "return arguments[0].complete", img))
            assert driver.execute_script("return arguments[0].naturalWidth", img) > 0, \
                img.get_attribute("src")
        driver.execute_script("window.scrollTo(0, 0)")
        shot = tmp_path / "samples_page.png"
        driver.save_screenshot(str(shot))
        print(f"screenshot: {shot}")
        driver.find_element(By.CSS_SELECTOR, "nav.pages a.next").click()
        WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/page2.html"))
        assert len(driver.find_elements(By.CSS_SELECTOR, "section.utt")) == 1
        assert len(driver.find_elements(By.TAG_NAME, "audio")) == SOURCES_PER_UTT
    finally:
        driver.quit()
