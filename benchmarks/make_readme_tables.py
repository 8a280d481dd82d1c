#!/usr/bin/env python3
"""Regenerate the READMEs' results sections from the JSON files in benchmarks/results/.

The repository README's section lies between ``<!-- results:begin -->`` and
``<!-- results:end -->``, the recipe README's between ``<!-- mini:begin -->`` and
``<!-- mini:end -->``; neither is edited by hand.
"""

import json
import math
import sys
from pathlib import Path

from espnet_sniper.fileio import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
RECIPE_README = REPO / "egs2" / "ljspeech" / "sniper_tts1" / "README.md"
MINI_BEGIN, MINI_END = "<!-- mini:begin -->", "<!-- mini:end -->"


def _where(data: dict, script: str) -> str:
    m = data["machine"]
    return (f"`benchmarks/{script}`, {data['date']}, commit {data['commit']}, {m['device']}, "
            f"{m['cpus']} CPUs, torch {data['versions']['torch']}, "
            f"espnet {data['versions']['espnet']}")


def _goal(value: float, limit: float) -> str:
    return f"{value:.3f} ({'met' if value <= limit else 'missed'}: <= {limit})"


def _faster(ratio: dict) -> str:
    median = ratio["median"]
    return (f"{median:.3f} ({'met' if median < 1.0 else 'missed'}: < 1) "
            f"[{ratio['min']:.3f}, {ratio['max']:.3f}]")


def step_overhead_table(data: dict) -> list:
    lines = [
        f"**Cost per step** ({_where(data, 'step_overhead.py')}): the same FastSpeech2 and "
        f"batches through ESPnet's `train_one_epoch`, alternated (the order rotating); "
        f"SNIPER at 40 % (the shipped sniper_conf) and the same masks applied by `torch.nn.utils.prune` against dense. "
        f"Peak memory: what training adds to a fresh process's resident set (weights, "
        f"gradients, Adam, activations, and the masks and initial values).",
        "",
        "| model | parameters | micro-batch | reps x steps | dense s/step | SNIPER / dense time | "
        "prune / dense time | SNIPER / prune time | SNIPER / dense memory | "
        "prune / dense memory |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    goals = {"mini": (1.05, None), "paper": (1.02, 1.10)}
    for size, r in data["results"].items():
        time_goal, memory_goal = goals[size]
        t, m, b = r["ratio_over_dense"], r["peak_memory"]["ratio_over_dense"], r["batch"]
        sniper_time = _goal(t["sniper40"]["median"], time_goal)
        sniper_memory = (_goal(m["sniper40"], memory_goal) if memory_goal
                         else f"{m['sniper40']:.3f}")
        lines.append(
            f"| {size} | {r['params'] / 1e6:.2f} M | {b['utterances']} x {b['frames']} frames, "
            f"accum_grad {r['accum_grad']} "
            f"| {r['repetitions']} x {r['steps_per_repetition']} "
            f"| {r['seconds_per_step_median']['dense']:.3f} "
            f"| {sniper_time} [{t['sniper40']['min']:.3f}, {t['sniper40']['max']:.3f}] "
            f"| {t['prune40']['median']:.3f} | {_faster(r['sniper_over_prune'])} "
            f"| {sniper_memory} | {m['prune40']:.3f} |"
        )
    return lines + [
        "",
        "Time ratios: median over repetitions [min, max]. At the mini size the resident-set "
        "differences are of the order of the allocator's noise (a contender can measure "
        "below dense); at the paper's size they are the masks, initial values and, for the "
        "prune peer, the second copy of every pruned weight it keeps (`weight_orig`), but a "
        "single process's high-water mark moves by about 5 % from run to run (an earlier run "
        "measured SNIPER 1.098x and the prune peer 1.180x dense).",
        "",
    ]


def scoring_cost_table(data: dict) -> list:
    t, m = data["timing"], data["masks"]
    rec = data["recommended_score_batches"]
    iou = m["kept_iou"]
    return [
        f"**Cost of SNIP scoring** ({_where(data, 'scoring_cost.py')}; mini FastSpeech2, "
        f"{data['corpus_utterances']}-utterance corpus, {m['epoch_batches']} batches per "
        f"epoch): scoring {t['batches']} batches took "
        f"{_goal(t['ratio_scoring_over_dense']['median'], 1.0)} times as long as "
        f"{t['batches']} dense training steps on them (median of {t['repetitions']}, "
        f"[{t['ratio_scoring_over_dense']['min']:.3f}, "
        f"{t['ratio_scoring_over_dense']['max']:.3f}]).",
        "",
        f"| masks at {m['sparsity']} % from | batches | scoring s | kept-entry IoU with "
        f"a whole epoch's |",
        "|---|---:|---:|---:|",
        *[f"| {float(f) * 100:g} % of epoch 1 | {n} | {m['scoring_seconds'][f]:.1f} | "
          f"{iou[f'{f}_vs_1'] if f != '1' else 1.0:.3f} |"
          for f, n in m["scoring_batches"].items()],
        "",
        f"1 % against 10 %: IoU {iou['0.01_vs_0.1']:.3f}; two random masks of this density "
        f"would share {m['random_masks_iou']:.3f}. Recommended `score_batches`: "
        f"{rec['batches']} ({rec['fraction'] * 100:g} % of an epoch here; {rec['criterion']}).",
        "",
    ]


def _compare(a: dict, b: dict) -> str:
    """a - b for two {mean, stdev, n}, judged against two standard errors of the difference."""
    diff = a["mean"] - b["mean"]
    se = math.sqrt(a["stdev"] ** 2 / a["n"] + b["stdev"] ** 2 / b["n"])
    if a["n"] < 2 or b["n"] < 2:
        verdict = "one seed: no spread to judge against"
    elif abs(diff) <= 2 * se:
        verdict = "within the seed spread"
    else:
        verdict = "lower" if diff < 0 else "higher"
    return f"{diff:+.3f} (2 SE {2 * se:.3f}: {verdict})"


def training_quality_table(data: dict) -> list:
    c, setup = data["contenders"], data["setup"]
    early = max(1, setup["max_epoch"] // 4)
    lines = [
        f"**Training quality** ({_where(data, 'training_quality.py')}): the mini corpus "
        f"({setup['num_utts']} utterances, one teacher and one set of durations for all), "
        f"mini FastSpeech2, {setup['max_epoch']} epochs, {setup['jobs']} runs at a time on one "
        f"thread each. Validation loss (FastSpeech2's total: mel L1 before and after the "
        f"postnet, duration, pitch, energy), mean over seeds +- standard deviation; MCD on "
        f"the eval set with Griffin-Lim (seeded). A SNIPER run and its constant peer are "
        f"the same run, bit for bit, until SNIPER's first sparsity change (same seed, same "
        f"masks). Wall times mix in which run shared the machine with which; compare them "
        f"only roughly.",
        "",
        f"| contender | seeds | valid loss epoch 1 | epoch {early} | final | final mel L1 | "
        f"MCD dB | log-F0 RMSE cents | wall min |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in c.items():
        e = r["epochs"]
        lines.append(
            f"| {name} | {len(r['seeds'])} | {_pm(e[0]['loss'])} | {_pm(e[early - 1]['loss'])} "
            f"| {_pm(e[-1]['loss'])} | {_pm(e[-1]['l1_loss'])} | {_pm(r['mcd_db'], 2)} "
            f"| {_pm(r['log_f0_rmse_cents'], 0)} | {r['wall_seconds']['mean'] / 60:.1f} |"
        )
    lines += ["", "Differences of mean validation loss (negative: the first is lower):", ""]
    questions = []
    for sniper, constant in (("sniper40to0", "constant40"), ("sniper20to0", "constant20")):
        if sniper not in c:
            continue
        if "dense" in c:
            questions.append(
                f"{sniper} - dense, epoch {early}: "
                f"{_compare(c[sniper]['epochs'][early - 1]['loss'], c['dense']['epochs'][early - 1]['loss'])}")
        if constant in c:
            questions.append(f"{sniper} - {constant}, final: "
                             f"{_compare(c[sniper]['final_loss'], c[constant]['final_loss'])}")
        if "dense" in c:
            questions.append(f"{sniper} - dense, final: "
                             f"{_compare(c[sniper]['final_loss'], c['dense']['final_loss'])}")
    lines += [f"- {q}" for q in questions]
    lines += ["", "![validation loss](benchmarks/results/training_quality_loss.png)", "",
              "![validation loss parts](benchmarks/results/training_quality_parts.png)", ""]
    return lines


def _pm(x: dict, digits: int = 3) -> str:
    return f"{x['mean']:.{digits}f} +- {x['stdev']:.{digits}f}"


def kill_resume_table(data: dict) -> list:
    setup = data["setup"]
    lines = [
        f"Kill and resume (`benchmarks/kill_resume.py`, {data['date']}, commit {data['commit']}, "
        f"{data['machine']['cpus']} CPUs): the recipe's training stage (SNIPER "
        f"{', '.join(f'{v} %' for v in setup['schedule'].values())} over {setup['max_epoch']} "
        f"epochs, {setup['corpus_utterances']}-utterance corpus) SIGKILLed, process group and "
        f"all, then rerun; a trial passes when the rerun ends with the uninterrupted run's "
        f"weights bit for bit and no temporary file is left. **{data['passed']} of "
        f"{data['tried']} passed.**",
        "",
        "| killed | tried | passed |",
        "|---|---:|---:|",
    ]
    for kind, n in data["by_kind"].items():
        lines.append(f"| {kind.replace('_', ' ')} | {n['tried']} | {n['passed']} |")
    for failure in data["failed"]:
        lines.append(f"\nFailed: trial {failure['trial']} ({failure['planned']}): {failure['why']}")
    return lines + [""]


def _range(x: dict, digits: int = 3) -> str:
    return f"{x['mean']:.{digits}f} ({x['min']:.{digits}f}-{x['max']:.{digits}f})"


def _three(x: dict, digits: int) -> str:
    """model / floor / baseline of one metric, means over seeds."""
    return " / ".join(f"{x[s]['mean']:.{digits}f}" for s in ("model", "floor", "baseline"))


def main_job_table(data: dict) -> list:
    corpus = (f"the corpus `{data['db_root']}` (another espeak-ng voice and prose, "
              f"`benchmarks/make_unseen_corpus.py`)" if data["db_root"]
              else "the generated mini corpus")
    lines = [
        f"**{'Main job' if not data['db_root'] else 'CPU configs on a corpus the recipe never saw'}"
        f"** ({_where(data, 'main_job.py')}): `run.sh --mini true --seed k"
        f"{' --db_root ...' if data['db_root'] else ''}` from a fresh copy of the recipe on "
        f"{corpus}, one run at a time, seeds {', '.join(map(str, data['seeds']))} of the "
        f"whole recipe (aligner and training). Mean over seeds (min-max). Scores of stage 8 "
        f"on the eval set: normalized = (model - floor) / (baseline - floor), 0 = the "
        f"recordings' own features through the same Griffin-Lim, 1 = their mean spectrum "
        f"at their mean F0. {data.get('note', '')}",
        "",
        "| wall minutes | normalized mel score | length ratio | word boundaries off (frames) |",
        "|---:|---:|---:|---:|",
        f"| {_range(data['total_minutes'], 1)} | {_range(data['normalized_mel'])} "
        f"| {_range(data['length_ratio'])} | "
        f"{_range(data['boundary_mean_frames'], 2) if 'boundary_mean_frames' in data else 'not known'} |",
        "",
        "| metric (model / floor / baseline) | mean over seeds |",
        "|---|---:|",
        f"| log-mel distance, dB | {_three(data['mel_db'], 2)} |",
        f"| MCD, dB | {_three(data['mcd_db'], 2)} |",
        f"| log-F0 RMSE, cents | {_three(data['f0_rmse_cents'], 0)} |",
        f"| voicing decision error | {_three(data['vde'], 3)} |",
        f"| gross pitch error | {_three(data['gpe'], 3)} |",
    ]
    if "mos" in data:
        lines.append(f"| DistillMOS | {_three(data['mos'], 2)} |")
    stages = data["stage_seconds"]
    lines += ["", "| stage | " + " | ".join(stages) + " |",
              "|---|" + "---:|" * len(stages),
              "| seconds | " + " | ".join(f"{v:.0f}" for v in stages.values()) + " |", "",
              f"![recordings beside synthesis, seed {data['seeds'][0]}]"
              f"(benchmarks/results/{data['name']}_mels.png)", ""]
    return lines


TABLES = {
    "main_job.json": main_job_table,
    "unseen.json": main_job_table,
    "step_overhead.json": step_overhead_table,
    "scoring_cost.json": scoring_cost_table,
    "training_quality.json": training_quality_table,
    "kill_resume.json": kill_resume_table,
}


def write_section(readme: Path, begin: str, end: str, lines: list) -> None:
    text = readme.read_text()
    if begin not in text or end not in text:
        sys.exit(f"error: {readme} has no {begin} ... {end} section")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    atomic_write_text(readme, head + "\n".join([begin, "", *lines, end]) + tail)


def tables(names) -> list:
    lines = []
    for name in names:
        path = REPO / "benchmarks" / "results" / name
        if path.is_file():
            lines += TABLES[name](json.loads(path.read_text()))
    return lines


def main() -> None:
    write_section(REPO / "README.md", BEGIN, END, tables(TABLES))
    mini = [line.replace("benchmarks/results/", "../../../benchmarks/results/")
            for line in tables(["main_job.json", "unseen.json"])]
    write_section(RECIPE_README, MINI_BEGIN, MINI_END, mini)


if __name__ == "__main__":
    main()
