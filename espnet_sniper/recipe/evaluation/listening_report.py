#!/usr/bin/env python3
"""Listening-test report: MOS with 95 % intervals, preference shares with binomial tests.

Reads the results JSON files that listeners downloaded from a kit of
``listening_test.py`` (one per rater) and writes ``<out_dir>/listening_report.json`` and
``<out_dir>/listening_report.md`` (a Markdown section for a README; also printed).

Which files count. The test id is ``--test_id``, or else the one most files carry (a tie
is an error: give ``--test_id``). A file is refused, by name with a warning on stderr, when
it is malformed (not JSON, not a results file of a known version, scores outside 1-5, an
unanswered trial, ...), of another test id ("foreign"), byte-identical to a file named
before it, from a rater ID already read (compared without case and outer spaces: the
file named first is kept), or rating other stimuli than the rest (a kit rebuilt under
the same ``--test_id``). The report goes on with the remaining files; the exit status is
nonzero only when none remains.

MOS interval. CrowdMOS's two-way random-effects model (Ribeiro et al., ICASSP 2011), per
system: score = mean + rater effect + sentence effect + residual, each rater having rated
every sentence once (what the kit asks). The variance components come from the two-way
analysis of variance without replication (mean squares MS_R over raters, MS_S over
sentences, MS_E of the residual; a negative component estimate is set to 0), and

    Var(mean) = s2_rater / N + s2_sentence / K + s2_residual / (N K)

for N raters and K sentences. The 95 % interval is mean +- t(0.975, df) * sqrt(Var), df by
Satterthwaite's approximation for that combination of mean squares (CrowdMOS uses 1.96;
the t quantile is wider with few raters or sentences). With one rater the rater effect
cannot be told from the residual: the interval is then the t-interval over that rater's
sentences (it counts no rater-to-rater spread: read it as a lower bound); with one
sentence, the t-interval over raters; with one rating, none. For comparison the report
also gives the plain t-interval over rater means (``rater_mean_t95``, N >= 2), which
ignores the sentence spread. Both need several raters to mean much: with fewer than
about 10 raters and 10-20 sentences a system's interval is wide.

Preference test. Each system's share of all preference trials (and "no preference"'s).
For every pair of preference systems X, Y: among the trials where X or Y was chosen
(a third system's wins and "no preference" set aside), the wins of X against a fair coin,
by the two-sided exact binomial test (``scipy.stats.binomtest``, p = 0.5): a sign test.
Trials of one rater are not independent; the test treats them as if they were.
"""

import argparse
import hashlib
import json
import logging
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from itertools import combinations
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

from espnet_sniper.recipe.kaldi_dir import write_text

RESULTS_FORMAT, RESULTS_VERSIONS = "sniper-listening-results", (1,)
REPORT_FORMAT, REPORT_VERSION = "sniper-listening-report", 1
NONE = "none"  # the "no preference" choice
INTERVAL = ("CrowdMOS two-way random-effects (raters x sentences) 95 % interval: mean +- "
            "t(0.975, Satterthwaite df) * sqrt(s2_rater/N + s2_sentence/K + s2_resid/(N K))")
PREFERENCE_TEST = ("two-sided exact binomial test (scipy.stats.binomtest, p = 0.5) of one "
                   "system's wins against the other's, among the trials where either was "
                   "chosen")


class Refused(Exception):
    """Why a results file is not used."""


@dataclass
class Result:
    path: Path
    digest: str
    test_id: str
    rater: str
    systems: List[str]
    preference_systems: List[str]
    mos: Dict[Tuple[str, str], int]  # (utt, system) -> score
    preference: Dict[str, str] = field(default_factory=dict)  # utt -> system or NONE

    def signature(self) -> tuple:
        """What the rater was asked: equal for every rater of one kit."""
        return (tuple(sorted(self.mos)), tuple(self.preference_systems),
                tuple(sorted(self.preference)))


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise Refused(what)


def _text(value, where: str) -> str:
    _need(isinstance(value, str) and value.strip() != "", f"{where}: a non-empty string needed")
    return value


def parse_result(path: Path, raw: bytes) -> Result:
    """A results file checked field by field; ``Refused`` names the first problem."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Refused(f"not JSON ({e})") from e
    _need(isinstance(doc, dict), "not a JSON object")
    _need(doc.get("format") == RESULTS_FORMAT,
          f"format {doc.get('format')!r}, expected {RESULTS_FORMAT!r}")
    _need(doc.get("version") in RESULTS_VERSIONS,
          f"version {doc.get('version')!r} unknown (this report reads {RESULTS_VERSIONS})")
    test_id, rater = _text(doc.get("test_id"), "test_id"), _text(doc.get("rater"), "rater")
    systems, pref_systems = doc.get("systems"), doc.get("preference_systems")
    _need(isinstance(systems, list) and systems and all(isinstance(s, str) for s in systems)
          and len(set(systems)) == len(systems), "systems: a list of distinct names needed")
    _need(isinstance(pref_systems, list) and 2 <= len(pref_systems) <= 3
          and len(set(pref_systems)) == len(pref_systems)
          and all(s in systems for s in pref_systems),
          "preference_systems: 2 or 3 distinct names of systems needed")
    mos: Dict[Tuple[str, str], int] = {}
    _need(isinstance(doc.get("mos"), list) and doc["mos"], "mos: a non-empty list needed")
    for n, row in enumerate(doc["mos"]):
        where = f"mos[{n}]"
        _need(isinstance(row, dict), f"{where}: an object needed")
        utt, system, score = row.get("utt"), row.get("system"), row.get("score")
        _text(utt, f"{where}.utt")
        _need(system in systems, f"{where}.system {system!r} not among systems")
        _need(score is not None, f"{where}: unanswered ({utt}, {system})")
        _need(isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 5,
              f"{where}.score {score!r}: an integer 1-5 needed")
        _need((utt, system) not in mos, f"{where}: ({utt}, {system}) rated twice")
        mos[(utt, system)] = score
    utts = sorted({u for u, _ in mos})
    for utt in utts:
        absent = [s for s in systems if (utt, s) not in mos]
        _need(not absent, f"mos: {utt} not rated for {', '.join(absent)}")
    preference: Dict[str, str] = {}
    _need(isinstance(doc.get("preference"), list) and doc["preference"],
          "preference: a non-empty list needed")
    for n, row in enumerate(doc["preference"]):
        where = f"preference[{n}]"
        _need(isinstance(row, dict), f"{where}: an object needed")
        utt, choice, labels = row.get("utt"), row.get("choice"), row.get("labels")
        _text(utt, f"{where}.utt")
        _need(utt not in preference, f"{where}: {utt} answered twice")
        _need(isinstance(labels, dict) and sorted(labels.values()) == sorted(pref_systems),
              f"{where}.labels: each preference system under one label needed")
        _need(choice is not None, f"{where}: unanswered ({utt})")
        _need(choice == NONE or choice in pref_systems,
              f"{where}.choice {choice!r}: a preference system or {NONE!r} needed")
        label = row.get("choice_label")
        _need((choice == NONE and label == NONE) or labels.get(label) == choice,
              f"{where}: choice_label {label!r} does not show {choice!r}")
        preference[utt] = choice
    return Result(path, hashlib.sha256(raw).hexdigest(), test_id, rater, list(systems),
                  list(pref_systems), mos, preference)


def select(paths: Sequence[Path], test_id: Optional[str]) -> Tuple[List[Result], List[str]]:
    """The usable results and one 'file: why' line per refused file, in the order given."""
    refused: List[str] = []
    loaded: List[Result] = []
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as e:
            refused.append(f"{path}: unreadable ({e.strerror or e})")
            continue
        try:
            loaded.append(parse_result(path, raw))
        except Refused as e:
            refused.append(f"{path}: malformed: {e}")
    seen_digest: Dict[str, Path] = {}
    unique: List[Result] = []
    for r in loaded:
        if r.digest in seen_digest:
            refused.append(f"{r.path}: duplicate: identical to {seen_digest[r.digest]}")
        else:
            seen_digest[r.digest] = r.path
            unique.append(r)
    if test_id is None and unique:
        ranked = Counter(r.test_id for r in unique).most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            raise SystemExit(
                "error: as many files of test " + " as of test ".join(
                    t for t, c in ranked if c == ranked[0][1]) + ": choose one with --test_id")
        test_id = ranked[0][0]
    ours: List[Result] = []
    for r in unique:
        if r.test_id != test_id:
            refused.append(f"{r.path}: foreign: test {r.test_id}, not {test_id}")
        else:
            ours.append(r)
    by_rater: Dict[str, Path] = {}
    distinct: List[Result] = []
    for r in ours:
        key = r.rater.strip().casefold()
        if key in by_rater:
            refused.append(f"{r.path}: duplicate: rater {r.rater!r} already read from "
                           f"{by_rater[key]}")
        else:
            by_rater[key] = r.path
            distinct.append(r)
    if not distinct:
        return [], refused
    common = Counter(r.signature() for r in distinct).most_common(1)[0][0]
    kept = []
    for r in distinct:
        if r.signature() != common:
            refused.append(f"{r.path}: mismatched: rates other stimuli than the other files "
                           f"of test {test_id} (a kit rebuilt under the same --test_id?)")
        else:
            kept.append(r)
    return kept, refused


def satterthwaite(terms: Sequence[Tuple[float, float, int]]) -> Optional[float]:
    """Degrees of freedom of sum(c * MS) for (c, MS, df) terms (None when it is 0)."""
    total = sum(c * ms for c, ms, _ in terms)
    spread = sum((c * ms) ** 2 / df for c, ms, df in terms)
    return total ** 2 / spread if spread > 0 and total > 0 else None


def mos_stats(y: np.ndarray) -> dict:
    """MOS of one system from its (raters, sentences) score matrix: see the docstring."""
    n, k = y.shape
    mean = float(y.mean())
    out = {"mean": mean, "n_ratings": int(y.size), "n_raters": n, "n_sentences": k,
           "std": float(y.std(ddof=1)) if y.size > 1 else None}
    rater_means = y.mean(axis=1)
    sentence_means = y.mean(axis=0)
    if n >= 2 and k >= 2:
        ms_r = k * float(((rater_means - mean) ** 2).sum()) / (n - 1)
        ms_s = n * float(((sentence_means - mean) ** 2).sum()) / (k - 1)
        resid = y - rater_means[:, None] - sentence_means[None, :] + mean
        ms_e = float((resid ** 2).sum()) / ((n - 1) * (k - 1))
        rater_kept, sentence_kept = ms_r > ms_e, ms_s > ms_e
        components = {"rater": (ms_r - ms_e) / k if rater_kept else 0.0,
                      "sentence": (ms_s - ms_e) / n if sentence_kept else 0.0,
                      "residual": ms_e}
        # Var(mean) as a combination of mean squares, for Satterthwaite's df
        terms = [(1.0 / (n * k), ms_r, n - 1)] if rater_kept else []
        terms += [(1.0 / (n * k), ms_s, k - 1)] if sentence_kept else []
        terms += [((1.0 - rater_kept - sentence_kept) / (n * k), ms_e, (n - 1) * (k - 1))]
        method = "random-effects"
    elif n == 1 and k >= 2:
        ms_s = float(sentence_means.var(ddof=1))
        components = {"rater": None, "sentence+residual": ms_s}
        terms = [(1.0 / k, ms_s, k - 1)]
        method = "one rater: t over sentences (no rater spread counted)"
    elif k == 1 and n >= 2:
        ms_r = float(rater_means.var(ddof=1))
        components = {"rater+residual": ms_r, "sentence": None}
        terms = [(1.0 / n, ms_r, n - 1)]
        method = "one sentence: t over raters (no sentence spread counted)"
    else:
        components, terms, method = {}, [], "one rating: no interval"
    out.update(method=method, variance_components=components)
    if terms:
        var = max(0.0, sum(c * ms for c, ms, _ in terms))
        df = satterthwaite(terms)
        half = float(stats.t.ppf(0.975, df)) * math.sqrt(var) if df else 0.0
        out.update(variance_of_mean=var, df=df, half_width=half, ci95=[mean - half, mean + half])
    else:
        out.update(variance_of_mean=None, df=None, half_width=None, ci95=None)
    if n >= 2:
        half = float(stats.t.ppf(0.975, n - 1) * rater_means.std(ddof=1) / math.sqrt(n))
        out["rater_mean_t95"] = [mean - half, mean + half]
    else:
        out["rater_mean_t95"] = None
    return out


def mos_table(results: Sequence[Result]) -> Dict[str, dict]:
    systems = results[0].systems
    utts = sorted({u for u, _ in results[0].mos})
    table = {}
    for system in systems:
        y = np.array([[r.mos[(u, system)] for u in utts] for r in results], dtype=float)
        table[system] = mos_stats(y)
    return table


def preference_table(results: Sequence[Result]) -> dict:
    systems = results[0].preference_systems
    choices = [c for r in results for c in r.preference.values()]
    counts = Counter(choices)
    total = len(choices)
    pairs = []
    for a, b in combinations(systems, 2):
        wins_a, wins_b = counts[a], counts[b]
        n = wins_a + wins_b
        p = float(stats.binomtest(wins_a, n, 0.5, alternative="two-sided").pvalue) if n else None
        pairs.append({"a": a, "b": b, "wins_a": wins_a, "wins_b": wins_b, "n": n, "p_value": p})
    return {"systems": systems, "trials": total,
            "counts": {s: counts[s] for s in [*systems, NONE]},
            "shares": {s: counts[s] / total for s in [*systems, NONE]},
            "pairs": pairs, "test": PREFERENCE_TEST}


def markdown(report: dict) -> str:
    mos, pref = report["mos"], report["preference"]
    lines = [f"### Listening test `{report['test_id']}`", "",
             f"{report['raters']} raters, {report['sentences']} sentences "
             f"({report['date']}).", "",
             "| system | MOS | 95 % interval | ratings |", "|---|---:|---:|---:|"]
    for name, row in mos["systems"].items():
        interval = ("n/a" if row["ci95"] is None else
                    f"{row['ci95'][0]:.2f} - {row['ci95'][1]:.2f} (+-{row['half_width']:.2f})")
        lines.append(f"| {name} | {row['mean']:.2f} | {interval} | {row['n_ratings']} |")
    lines += ["", f"MOS: 1 Bad, 2 Poor, 3 Fair, 4 Good, 5 Excellent (ITU-T P.800 ACR). "
              f"Interval: {mos['interval']}.", "",
              "| preferred | trials | share |", "|---|---:|---:|"]
    for name, count in pref["counts"].items():
        shown = "no preference" if name == NONE else name
        lines.append(f"| {shown} | {count} | {100 * pref['shares'][name]:.1f} % |")
    lines += ["", "| pair | wins | p |", "|---|---:|---:|"]
    for pair in pref["pairs"]:
        p = "n/a" if pair["p_value"] is None else f"{pair['p_value']:.3g}"
        lines.append(f"| {pair['a']} vs {pair['b']} | {pair['wins_a']} : {pair['wins_b']} "
                     f"| {p} |")
    lines += ["", f"p: {pref['test']}.", ""]
    return "\n".join(lines)


def report(results: Sequence[Result], refused: Sequence[str]) -> dict:
    return {
        "format": REPORT_FORMAT, "version": REPORT_VERSION, "date": date.today().isoformat(),
        "test_id": results[0].test_id, "raters": len(results),
        "rater_ids": [r.rater for r in results],
        "sentences": len({u for u, _ in results[0].mos}),
        "files": {"used": [str(r.path) for r in results], "refused": list(refused)},
        "mos": {"interval": INTERVAL, "systems": mos_table(results)},
        "preference": preference_table(results),
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    p.add_argument("results", type=Path, nargs="+", help="results JSON files, one per rater")
    p.add_argument("--test_id", default=None,
                   help="the test to report (default: the one most files carry)")
    p.add_argument("--out_dir", type=Path, required=True,
                   help="writes listening_report.json and listening_report.md there")
    args = p.parse_args(argv)
    if args.out_dir.exists() and not args.out_dir.is_dir():
        sys.exit(f"error: --out_dir {args.out_dir} is a file, not a directory")
    results, refused = select(args.results, args.test_id)
    for line in refused:
        logging.warning(f"refused {line}")
    if not results:
        logging.error(f"no usable results among {len(args.results)} file(s)"
                      + (f" of test {args.test_id}" if args.test_id else ""))
        return 1
    doc = report(results, refused)
    text = markdown(doc)
    write_text(args.out_dir / "listening_report.json", json.dumps(doc, indent=1) + "\n")
    write_text(args.out_dir / "listening_report.md", text)
    print(text)
    logging.info(f"{len(results)} rater(s) used, {len(refused)} file(s) refused -> "
                 f"{args.out_dir / 'listening_report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
