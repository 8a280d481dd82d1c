#!/usr/bin/env python3
"""A static samples page: each system's synthesis beside the recording, floor and baseline.

Scores say how far a model is from its floor; listening says what the numbers miss. For
one experiment or a grid's contenders (``--system NAME=EXP_DIR``, repeatable) this writes
a folder that opens from the file system, with no server, and can be zipped and sent:

* ``index.html`` (page 1), ``page2.html``, ...: on top, each system's scores from its
  ``results.json`` (stage 8); then, per eval utterance, its text and a row per source
  (the recording, the floor and baseline stage 8 scored against, each system) with an
  audio player, a log-mel picture (plot_mels.py's analysis, on the recording's colour
  scale and time axis) and that source's scores of the utterance;
* ``audio/<source>/<uid>.wav``: the wavs, hard-linked where the file system allows and
  copied otherwise; ``mels/<source>/<uid>.png``: the pictures.

An EXP_DIR is a recipe experiment: ``decode_eval/wav/<uid>.wav`` (stage 7) and
``results.json`` (stage 8, espnet_sniper.recipe.evaluation.score). The floor and baseline
wavs are in ``score_references/`` beside the results.json that computed them: the
experiment's own, or, when stage 8 reused another's references, that one's. Every system must have been
scored on the same utterances.
"""

import argparse
import errno
import html
import json
import math
import os
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable, Dict, Iterable, List, NoReturn, Optional, Sequence, Tuple
from urllib.parse import quote

import numpy as np
import soundfile

from espnet_sniper.recipe.evaluation.plot_mels import log_mel_reader, show_mel
from espnet_sniper.recipe.evaluation.score import LABELS
from espnet_sniper.recipe.kaldi_dir import read_table, write_text

# names become folder names and parts of links: keep them to characters that need no
# escaping anywhere (no slash, no dot-dot, nothing a zip tool or a URL would mangle)
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
REFERENCE_SOURCES = ("recording", "floor", "baseline")
MARKER = ".samples_page"  # marks a folder this script wrote, so a rerun may replace it
MEL_INCHES, MEL_DPI = (4.0, 1.6), 60  # 240 x 96 pixels: hundreds of them stay light
REUSE_DEPTH = 10  # references reused from references reused from ...: a cycle, past this


def fail(message: str) -> NoReturn:
    sys.exit(f"error: {message}")


def some(ids: Sequence[str], shown: int = 5) -> str:
    """The first few of ``ids``, for an error message."""
    return " ".join(ids[:shown]) + (" ..." if len(ids) > shown else "") if ids else "-"


# ---------------------------------------------------------------- inputs


@dataclass
class System:
    """One experiment: its synthesized wavs and its stage 8 scores."""

    name: str
    exp_dir: Path
    results: dict
    references: Path  # the folder holding floor/<uid>.wav and baseline/<uid>.wav

    @property
    def uids(self) -> List[str]:
        return sorted(self.results["per_utterance"]["model"])

    @property
    def references_id(self) -> str:
        # score.py hashes the recordings and every setting the floor depends on
        return self.results.get("references_key") or f"folder:{self.references.resolve()}"

    def wav(self, uid: str) -> Path:
        return self.exp_dir / "decode_eval" / "wav" / f"{uid}.wav"


def parse_system(spec: str) -> Tuple[str, Path]:
    name, sep, exp_dir = spec.partition("=")
    if not sep or not exp_dir:
        fail(f"--system {spec!r}: expected NAME=EXP_DIR, e.g. --system dense=exp/dense_seed0")
    if not SAFE_NAME.fullmatch(name):
        fail(f"--system {spec!r}: the name {name!r} becomes a folder name and a link; use "
             "letters, digits, '_', '.', '-' (at most 64, the first a letter or digit)")
    if name in REFERENCE_SOURCES or re.fullmatch(r"(floor|baseline)_\d+", name):
        fail(f"--system {spec!r}: {name!r} is reserved for the page's reference rows; "
             "choose another name")
    return name, Path(exp_dir)


def load_results(path: Path, what: str) -> dict:
    """A results.json of score.py, with the keys this page reads."""
    if not path.is_file():
        fail(f"{what}: {path} does not exist: run stage 8 (scoring) first")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        fail(f"{what}: {path} is not readable JSON ({e}); run stage 8 again")
    rows = results.get("per_utterance") if isinstance(results, dict) else None
    if not isinstance(rows, dict) or not isinstance(results.get("summary"), dict) \
            or any(not isinstance(rows.get(s), dict) for s in ("model", "floor", "baseline")):
        fail(f"{what}: {path} lacks summary or per_utterance model/floor/baseline rows: not a "
             "results.json of espnet_sniper.recipe.evaluation.score; run stage 8 again")
    if not rows["model"]:
        fail(f"{what}: {path} scored no utterances; run stages 7 and 8 again")
    return results


def resolve_reused(reused: str, scored_in: Path) -> Optional[Path]:
    """The results.json a ``references_reused_from`` names. run.sh passes it as the user
    gave it, relative to the recipe folder (two above exp/<tag>) or absolute."""
    path = Path(reused)
    if path.is_absolute():
        return path if path.is_file() else None
    for base in (Path.cwd(), scored_in.parent.parent, scored_in.parent):
        if (base / path).is_file():
            return base / path
    return None


def references_folder(name: str, exp_dir: Path, results: dict) -> Path:
    """score_references/ beside the results.json whose floor and baseline were computed,
    following reuse (score.py's --reuse_references) back to it."""
    folder, current = exp_dir, results
    for _ in range(REUSE_DEPTH):
        reused = current.get("references_reused_from")
        # an experiment rescored with its own earlier references still has them
        if not reused or all((folder / "score_references" / s).is_dir()
                             for s in ("floor", "baseline")):
            return folder / "score_references"
        path = resolve_reused(reused, folder)
        if path is None:
            fail(f"--system {name}: {folder / 'results.json'} reused the floor and baseline of "
                 f"{reused}, which is not found (absolute, or relative to the current folder "
                 f"or to {folder.parent.parent}); run from the recipe folder, or run stage 8 "
                 "of this experiment again without score_references")
        folder, current = path.parent, load_results(path, f"--system {name} (reused references)")
    fail(f"--system {name}: references_reused_from goes round in a circle from {exp_dir}; "
         "run stage 8 of one of them again without score_references")


def load_system(spec: str) -> System:
    name, exp_dir = parse_system(spec)
    if not exp_dir.is_dir():
        fail(f"--system {name}: {exp_dir} is not a directory: give a recipe experiment "
             "directory (exp/<tag>) that stages 7 and 8 have run in")
    results = load_results(exp_dir / "results.json", f"--system {name}")
    return System(name, exp_dir, results, references_folder(name, exp_dir, results))


def check_names(systems: Sequence[System]) -> None:
    seen: Dict[str, Path] = {}
    for s in systems:
        if s.name in seen:
            fail(f"--system {s.name} is given twice ({seen[s.name]} and {s.exp_dir}); give each "
                 "system its own name")
        seen[s.name] = s.exp_dir


def check_same_eval_set(systems: Sequence[System]) -> List[str]:
    """The utterances every system was scored on; refuse systems of different eval sets:
    a page of them would compare different sentences."""
    first = systems[0]
    for other in systems[1:]:
        a, b = set(first.uids), set(other.uids)
        if a != b:
            fail(f"--system {first.name} and --system {other.name} were scored on different eval "
                 f"sets ({len(a)} and {len(b)} utterances; only in {first.name}: "
                 f"{some(sorted(a - b))}; only in {other.name}: {some(sorted(b - a))}); score them "
                 "on the same data/eval (stage 8), or make one page per eval set")
    return first.uids


def read_kaldi(path: Path, option: str) -> Dict[str, str]:
    if not path.is_file():
        fail(f"{option} {path} does not exist: give the eval set's {path.name} (data/eval)")
    try:
        return read_table(path)
    except ValueError as e:
        fail(f"{option}: {e}")


# ---------------------------------------------------------------- the page's sources


@dataclass
class Source:
    """One row of every utterance: where its wavs are, its folder on the page, its scores."""

    label: str
    folder: str  # audio/<folder>/, mels/<folder>/
    wav: Callable[[str], Path]
    scores: Callable[[str], Optional[dict]]
    kind: str  # "reference" or "system": rows look different


def reference_sets(systems: Sequence[System]) -> List[List[System]]:
    """Systems grouped by the floor and baseline they were scored against, in order."""
    groups: Dict[str, List[System]] = {}
    for s in systems:
        groups.setdefault(s.references_id, []).append(s)
    return list(groups.values())


def page_sources(systems: Sequence[System], refs: Dict[str, str]) -> List[Source]:
    sources = [Source("recording", "recording", lambda u: Path(refs[u]), lambda u: None,
                      "reference")]
    groups = reference_sets(systems)
    for n, group in enumerate(groups, 1):
        owner = group[0]
        for which in ("floor", "baseline"):
            # one pair of rows when every system shares them; else one per group, named
            label = which if len(groups) == 1 else f"{which} ({', '.join(s.name for s in group)})"
            sources.append(Source(
                label, which if n == 1 else f"{which}_{n}",
                lambda u, o=owner, w=which: o.references / w / f"{u}.wav",
                lambda u, o=owner, w=which: o.results["per_utterance"][w].get(u), "reference"))
    for s in systems:
        sources.append(Source(s.name, s.name, s.wav,
                              lambda u, s=s: s.results["per_utterance"]["model"].get(u), "system"))
    return sources


def check_wavs(sources: Sequence[Source], uids: Sequence[str], fs: int) -> None:
    """Every wav the page needs exists and has the analysis' sample rate, before any work."""
    for source in sources:
        for uid in uids:
            path = source.wav(uid)
            if not path.is_file():
                if source.kind == "system":
                    hint = "run stage 7 (synthesis) of that experiment"
                elif source.folder == "recording":
                    hint = "check --ref_wav_scp"
                else:
                    hint = "run stage 8 (scoring), which writes the floor and baseline wavs"
                fail(f"{source.label}: {path} does not exist for eval utterance {uid}: {hint}")
            try:
                rate = soundfile.info(str(path)).samplerate
            except RuntimeError as e:
                fail(f"{source.label}: {path} is not a readable audio file ({e})")
            if rate != fs:
                fail(f"{source.label}: {path} is {rate} Hz, the analysis {fs} Hz: give --fs {rate} "
                     "(and the recipe's other feature parameters)")


# ---------------------------------------------------------------- files


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link (no second copy on disk) where src and dst share a file system, a copy
    elsewhere; either way dst stands alone when the folder is zipped or moved."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        os.link(src, tmp)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


class MelPainter:
    """PNG pictures of log-mel spectrograms, one matplotlib figure reused for all of them."""

    def __init__(self, mel: Callable[[Path], np.ndarray]):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.mel = mel
        # light grey where a source is shorter than the longest of its utterance
        self.fig = plt.figure(figsize=MEL_INCHES, facecolor="#dddddd")
        self.ax = self.fig.add_axes((0.0, 0.0, 1.0, 1.0))

    def paint(self, wavs: Dict[str, Path], reference: str, out: Dict[str, Path]) -> None:
        """Every wav of one utterance on the recording's colour scale and one time axis, so
        that a quiet, smeared or too short synthesis looks it."""
        mels = {key: self.mel(path) for key, path in wavs.items()}
        ref = mels[reference]
        frames = max(m.shape[1] for m in mels.values())
        for key, m in mels.items():
            self.ax.clear()
            show_mel(self.ax, m, float(ref.min()), float(ref.max()))
            self.ax.set_xlim(-0.5, frames - 0.5)
            self.ax.set_axis_off()
            out[key].parent.mkdir(parents=True, exist_ok=True)
            tmp = out[key].with_name(f".{out[key].stem}.{os.getpid()}.tmp.png")
            self.fig.savefig(tmp, dpi=MEL_DPI, facecolor=self.fig.get_facecolor())
            os.replace(tmp, out[key])


# ---------------------------------------------------------------- HTML

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.2em auto;
       max-width: 1400px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
h2 { font-size: 1.05em; margin: 0; font-family: ui-monospace, monospace; }
p.note { color: #555; font-size: 0.9em; max-width: 60em; }
p.warning { background: #fff3cd; border: 1px solid #e0c36c; padding: 0.5em; }
table { border-collapse: collapse; }
th, td { padding: 2px 6px; vertical-align: middle; }
table.scores th, table.scores td { border: 1px solid #ccc; }
table.scores td { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.scores td.metric, table.scores th { text-align: left; }
table.scores th { font-size: 0.9em; }
table.scores .metric { position: sticky; left: 0; background: #fff; min-width: 10em; max-width: 12em;
                       white-space: normal; z-index: 1; }
div.wide { overflow-x: auto; }
table.scores th.ref, table.scores td.ref { background: #f3f3f3; }
.ci { color: #666; font-size: 0.85em; }
nav.pages { margin: 1em 0; }
nav.pages a, nav.pages b { margin: 0 0.25em; }
section.utt { border-top: 2px solid #999; padding: 0.8em 0 0.6em; }
section.utt p.text { margin: 0.2em 0 0.5em; font-size: 1.05em; }
table.sources td { border-bottom: 1px solid #e4e4e4; }
table.sources th { font-size: 0.8em; font-weight: 600; color: #444; max-width: 7em;
                   text-align: right; vertical-align: bottom; }
table.sources th.source { text-align: left; }
table.sources td.num { text-align: right; font-variant-numeric: tabular-nums;
                       font-size: 0.9em; }
table.sources td.source { font-weight: 600; white-space: nowrap; }
table.sources tr.reference td { background: #f6f6f6; }
table.sources tr.reference td.source { font-weight: 400; color: #444; }
audio { width: 250px; height: 32px; display: block; }
img.mel { display: block; width: 240px; height: 96px; }
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def href(*parts: str) -> str:
    """A relative link, each part percent-encoded, safe inside an attribute."""
    return esc("/".join(quote(p) for p in parts))


def label_of(metric: str) -> Tuple[str, Optional[int]]:
    """score.py's label and decimals of a metric it knows; the raw key otherwise."""
    label, digits = LABELS.get(metric, (metric, None))
    return label, digits


def number(value: object, digits: Optional[int]) -> str:
    if not isinstance(value, (int, float)) or math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}" if digits is not None else f"{value:.4g}"


def with_interval(entry: Optional[dict], digits: Optional[int]) -> str:
    """``mean [lo, hi]``, or n/a where the system has no such score."""
    if not isinstance(entry, dict):
        return "n/a"
    mean = number(entry.get("mean"), digits)
    lo_hi = entry.get("ci95") or []
    if mean == "n/a" or len(lo_hi) != 2 or "n/a" in (number(lo_hi[0], digits),
                                                      number(lo_hi[1], digits)):
        return esc(mean)
    # the interval under the mean: a table of many systems stays narrow enough to read
    return (f"{esc(mean)}<br><span class=\"ci\">[{esc(number(lo_hi[0], digits))}, "
            f"{esc(number(lo_hi[1], digits))}]</span>")


def summary_metrics(systems: Sequence[System]) -> List[str]:
    """Every metric any system was scored with, in score.py's order of first appearance:
    metrics the scorer gains later show up without a change here."""
    metrics: List[str] = []
    for s in systems:
        metrics += [m for m in s.results["summary"] if m not in metrics]
    return metrics


def scores_table(systems: Sequence[System], metrics: Sequence[str]) -> str:
    """Metric rows; the shared floor and baseline first, then each system: a grid's many
    contenders scroll sideways under a fixed metric column, the references stay in view."""
    groups = reference_sets(systems)
    head1, head2 = ["<th rowspan=\"2\" class=\"metric\">metric</th>"], []
    for group in groups:
        owners = "" if len(groups) == 1 else f" of {', '.join(s.name for s in group)}"
        head1.append(f"<th colspan=\"2\" class=\"ref\">references{esc(owners)}</th>")
        head2 += ["<th class=\"ref\">floor</th>", "<th class=\"ref\">baseline</th>"]
    for s in systems:
        head1.append(f"<th colspan=\"2\">{esc(s.name)}</th>")
        head2 += ["<th>mean<br>[95 % CI]</th>", "<th>normalized</th>"]
    rows = [f"<tr>{''.join(head1)}</tr>", f"<tr>{''.join(head2)}</tr>"]
    for metric in metrics:
        label, digits = label_of(metric)
        cells = [f"<td class=\"metric\">{esc(label)}</td>"]
        for n, group in enumerate(groups, 1):
            entry = group[0].results["summary"].get(metric, {})
            for which in ("floor", "baseline"):
                cells.append(f"<td class=\"ref\" id=\"{which}-{n}-{esc(metric)}\">"
                             f"{with_interval(entry.get(which), digits)}</td>")
        for s in systems:
            entry = s.results["summary"].get(metric, {})
            cells.append(f"<td id=\"score-{esc(s.name)}-{esc(metric)}\">"
                         f"{with_interval(entry.get('model'), digits)}</td>")
            norm = entry.get("normalized")
            cells.append(f"<td id=\"normalized-{esc(s.name)}-{esc(metric)}\">"
                         f"{with_interval(norm, 3) if norm else '-'}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<div class=\"wide\"><table class=\"scores\" id=\"scores\">\n{chr(10).join(rows)}"
            "\n</table></div>")


def scores_section(systems: Sequence[System], metrics: Sequence[str], shown: int,
                   ref_wav_scp: Path) -> str:
    groups = reference_sets(systems)
    parts = ["<h2 style=\"font-family: inherit\">Scores</h2>", scores_table(systems, metrics)]
    if len(groups) > 1:
        which = "; ".join(f"{', '.join(s.name for s in g)}: {g[0].references}" for g in groups)
        parts.append(f"<p class=\"warning\">The systems were scored against different floors "
                     f"and baselines (their results.json references_key differs: other "
                     f"recordings or settings), so their normalized scores are not on one "
                     f"scale. Each set is shown: {esc(which)}.</p>")
    experiments = " ".join(f"{s.name}: {s.exp_dir} (scored {s.results.get('date', '?')})."
                           for s in systems)
    parts.append(
        "<p class=\"note\">Means over the scored eval utterances with 95 % intervals. Floor: "
        "the recordings' own features through the same vocoder (the best a model can score "
        "here); baseline: the recording's mean spectrum at its mean F0, held for its length (no "
        "skill). Normalized: (model - floor) / (baseline - floor), 0 = floor, 1 = no skill. "
        f"{esc(experiments)} Eval set: {esc(ref_wav_scp)}, {len(systems[0].uids)} utterances "
        f"scored, {shown} on these pages.</p>")
    return "\n".join(parts)


def utterance_section(uid: str, text: str, sources: Sequence[Source], metrics: Sequence[str],
                      seconds: Dict[str, float]) -> str:
    head = ["<th class=\"source\">source</th>", "<th class=\"source\">listen</th>",
            "<th class=\"source\">log-mel</th>", "<th>length (s)</th>"]
    # per-utterance scores have no interval: the short label is enough
    head += [f"<th title=\"{esc(m)}\">{esc(label_of(m)[0].replace(', primary', ''))}</th>"
             for m in metrics]
    rows = [f"<tr>{''.join(head)}</tr>"]
    for source in sources:
        scores = source.scores(uid) or {}
        cells = [f"<td class=\"source\">{esc(source.label)}</td>",
                 f"<td><audio controls preload=\"none\" "
                 f"src=\"{href('audio', source.folder, uid + '.wav')}\"></audio></td>",
                 f"<td><img class=\"mel\" loading=\"lazy\" width=\"240\" height=\"96\" "
                 f"src=\"{href('mels', source.folder, uid + '.png')}\" "
                 f"alt=\"log-mel spectrogram of {esc(uid)}, {esc(source.label)}\"></td>",
                 f"<td class=\"num\">{seconds[source.folder]:.2f}</td>"]
        values = [number(scores[m], label_of(m)[1]) if m in scores else "" for m in metrics]
        cells += [f"<td class=\"num\">{esc(v)}</td>" for v in values]
        rows.append(f"<tr class=\"{source.kind}\">{''.join(cells)}</tr>")
    return (f"<section class=\"utt\" id=\"utt-{esc(uid)}\">\n<h2>{esc(uid)}</h2>\n"
            f"<p class=\"text\">{esc(text)}</p>\n<table class=\"sources\">\n"
            f"{chr(10).join(rows)}\n</table>\n</section>")


def page_file(n: int) -> str:
    return "index.html" if n == 1 else f"page{n}.html"


def navigation(n: int, pages: Sequence[Sequence[str]]) -> str:
    if len(pages) == 1:
        return ""
    links = []
    for k, uids in enumerate(pages, 1):
        title = esc(f"{uids[0]} ... {uids[-1]}" if len(uids) > 1 else uids[0])
        links.append(f"<b title=\"{title}\">{k}</b>" if k == n
                     else f"<a href=\"{page_file(k)}\" title=\"{title}\">{k}</a>")
    prev = (f"<a class=\"prev\" rel=\"prev\" href=\"{page_file(n - 1)}\">&laquo; previous</a>"
            if n > 1 else "<span class=\"prev\">&laquo; previous</span>")
    nxt = (f"<a class=\"next\" rel=\"next\" href=\"{page_file(n + 1)}\">next &raquo;</a>"
           if n < len(pages) else "<span class=\"next\">next &raquo;</span>")
    return f"<nav class=\"pages\">{prev} | page {' '.join(links)} | {nxt}</nav>"


def page_html(title: str, n: int, pages: Sequence[Sequence[str]], top: str,
              sections: Iterable[str]) -> str:
    nav = navigation(n, pages)
    return "\n".join([
        "<!DOCTYPE html>", "<html lang=\"en\">", "<head>", "<meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>{esc(title)}{f' (page {n})' if n > 1 else ''}</title>",
        f"<style>{STYLE}</style>", "</head>", "<body>", f"<h1>{esc(title)}</h1>", top, nav,
        *sections, nav,
        f"<p class=\"note\">Written by espnet_sniper.recipe.evaluation.samples_page on "
        f"{date.today().isoformat()}.</p>", "</body>", "</html>", ""])


# ---------------------------------------------------------------- the folder


def check_out_dir(out_dir: Path) -> None:
    """Replace only a folder this script wrote: --out_dir exp/ by mistake must not go."""
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir())
                                                       and not (out_dir / MARKER).is_file())):
        fail(f"--out_dir {out_dir} exists and is not a samples page folder (no {MARKER}); "
             "give a new folder or remove it")


def swap_in(built: Path, out_dir: Path) -> None:
    """The finished folder takes out_dir's place; an earlier page of it goes only then, so
    no reader ever sees half of one and no page of an earlier, longer set stays behind."""
    old = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.old")
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(built, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def build(out: Path, systems: Sequence[System], sources: Sequence[Source], uids: List[str],
          texts: Dict[str, str], args: argparse.Namespace) -> int:
    """Audio, pictures and pages in ``out``; the number of pages."""
    painter = MelPainter(log_mel_reader(args.fs, args.n_fft, args.n_shift, args.n_mels,
                                        args.fmin, args.fmax))
    metrics = summary_metrics(systems)
    sections: Dict[str, str] = {}
    for k, uid in enumerate(uids, 1):
        wavs = {s.folder: s.wav(uid) for s in sources}
        for folder, path in wavs.items():
            link_or_copy(path, out / "audio" / folder / f"{uid}.wav")
        painter.paint(wavs, "recording", {f: out / "mels" / f / f"{uid}.png" for f in wavs})
        seconds = {f: soundfile.info(str(p)).duration for f, p in wavs.items()}
        sections[uid] = utterance_section(uid, texts[uid], sources, metrics, seconds)
        print(f"utterance {k}/{len(uids)}: {uid}", file=sys.stderr)
    pages = [uids[i: i + args.per_page] for i in range(0, len(uids), args.per_page)]
    title = f"Samples: {', '.join(s.name for s in systems)}"
    top = scores_section(systems, metrics, len(uids), args.ref_wav_scp)
    for n, page_uids in enumerate(pages, 1):
        here = top if n == 1 else "<p class=\"note\">The scores are on <a href=\"index.html\">" \
            "page 1</a>.</p>"
        write_text(out / page_file(n), page_html(title, n, pages, here,
                                                 (sections[u] for u in page_uids)))
    (out / MARKER).write_text("written by espnet_sniper.recipe.evaluation.samples_page\n")
    return len(pages)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--system", action="append", required=True, metavar="NAME=EXP_DIR",
                        help="an experiment of stages 7 and 8; repeat for several")
    parser.add_argument("--ref_wav_scp", type=Path, required=True,
                        help="the eval recordings, data/eval/wav.scp")
    parser.add_argument("--text", type=Path, required=True, help="data/eval/text")
    parser.add_argument("--out_dir", type=Path, required=True)
    parser.add_argument("--per_page", type=positive, default=20, help="utterances per page")
    parser.add_argument("--max_utterances", type=positive, default=None,
                        help="the first N eval utterances only (sorted by id)")
    # the recipe's feature parameters (run.sh's defaults), as plot_mels.py analyses
    parser.add_argument("--fs", type=positive, default=22050)
    parser.add_argument("--n_fft", type=positive, default=1024)
    parser.add_argument("--n_shift", type=positive, default=256)
    parser.add_argument("--n_mels", type=positive, default=80)
    parser.add_argument("--fmin", type=int, default=80)
    parser.add_argument("--fmax", type=positive, default=7600)
    args = parser.parse_args(argv)
    if not 0 <= args.fmin < args.fmax <= args.fs / 2:
        parser.error(f"need 0 <= --fmin < --fmax <= --fs / 2, got {args.fmin}, {args.fmax}, "
                     f"{args.fs}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    # everything is checked before the first file is written
    systems = [load_system(spec) for spec in args.system]
    check_names(systems)
    uids = check_same_eval_set(systems)
    refs = read_kaldi(args.ref_wav_scp, "--ref_wav_scp")
    texts = read_kaldi(args.text, "--text")
    for table, option, path in ((refs, "--ref_wav_scp", args.ref_wav_scp),
                                (texts, "--text", args.text)):
        lacking = [u for u in uids if u not in table]
        if lacking:
            fail(f"{option} {path} lacks {len(lacking)} of the {len(uids)} scored utterances "
                 f"({some(lacking)}): give the eval set stage 8 scored (data/eval)")
    unsafe = [u for u in uids if not SAFE_NAME.fullmatch(u)]
    if unsafe:
        fail(f"utterance ids {some(unsafe)} cannot be file names on the page; use letters, "
             "digits, '_', '.', '-'")
    uids = uids[: args.max_utterances]
    sources = page_sources(systems, refs)
    check_wavs(sources, uids, args.fs)
    out_dir = args.out_dir
    check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    built = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.tmp")
    shutil.rmtree(built, ignore_errors=True)
    built.mkdir()
    try:
        n_pages = build(built, systems, sources, uids, texts, args)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    swap_in(built, out_dir)
    print(f"samples page of {len(systems)} system(s), {len(uids)} utterances, {n_pages} "
          f"page(s): {out_dir / 'index.html'}", file=sys.stderr)


if __name__ == "__main__":
    main()
