#!/usr/bin/env python3
"""Regenerate the READMEs' results sections from the JSON files in benchmarks/results/.

The repository README's sections lie between ``<!-- results:begin -->`` and
``<!-- results:end -->`` and between ``<!-- masks:begin -->`` and ``<!-- masks:end -->``
(which weights to keep), the recipe README's between ``<!-- mini:begin -->`` and
``<!-- mini:end -->``; neither is edited by hand.
"""

import json
import math
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from espnet_sniper.fileio import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
RECIPE_README = REPO / "egs2" / "ljspeech" / "sniper_tts1" / "README.md"
MINI_BEGIN, MINI_END = "<!-- mini:begin -->", "<!-- mini:end -->"
MASKS_BEGIN, MASKS_END = "<!-- masks:begin -->", "<!-- masks:end -->"


# The code each benchmark measures (git pathspecs), besides the script itself: a result
# whose commit does not contain the last change to these paths describes code that no
# longer ships, and its table says so. The grids' runs are checked one by one (their
# run_commits) against the code that trains and scores them, not against their script,
# whose summary is regenerated from the runs.
_RECIPE = "egs2/ljspeech/sniper_tts1"
# the grids' runs go through the recipe: its data, durations, training and scoring
_RECIPE_CODE = [f"{_RECIPE}/run.sh", f"{_RECIPE}/local"]
_MODEL_CONFS = ["conf", ":(exclude)conf/asr_judge.yaml"]
# what only GAN TTS imports: the FastSpeech2-only benchmarks never run it
_FASTSPEECH2_CODE = ["espnet_sniper", ":(exclude)espnet_sniper/gan_trainer.py",
                     ":(exclude)espnet_sniper/tasks/gan_tts.py",
                     ":(exclude)espnet_sniper/bin/gan_tts_train.py"]
GRIDS = ("masks_early_grid.py", "training_quality.py")
MEASURES = {
    # what every row measures; each row's own config is checked apart (step_overhead_table)
    "step_overhead.py": ["espnet_sniper"],
    "vits_check.py": ["espnet_sniper"],
    "scoring_cost.py": [*_FASTSPEECH2_CODE, "conf/mini"],
    "kill_resume.py": ["espnet_sniper", "benchmarks/kill_resume.py"],
    "masks_report.py": ["espnet_sniper", *_MODEL_CONFS],
    "masks_early_grid.py": [*_FASTSPEECH2_CODE, "conf/mini", "benchmarks/paired_runs.py",
                            *_RECIPE_CODE],
    "training_quality.py": [*_FASTSPEECH2_CODE, "conf/mini", "benchmarks/paired_runs.py",
                            *_RECIPE_CODE],
    "main_job.py": [*_FASTSPEECH2_CODE, "conf/mini", *_RECIPE_CODE],
    "asr_judge.py": [f"{_RECIPE}/local/evaluation", "conf/asr_judge.yaml"],
    # the mutated modules and the tests that must notice (its FAST_TESTS)
    "mutation_score.py": [
        *(f"espnet_sniper/{m}" for m in ("masks.py", "schedule.py", "config.py",
                                         "controller.py", "snip.py", "state.py")),
        *(f"test/unit/test_{t}.py" for t in ("masks", "allocation", "schedule", "config",
                                        "shipped_configs", "snip", "state", "optimizer_step",
                                        "gan_optimizer_step")),
        "test/conftest.py"],
    "espnet_compat.py": ["espnet_sniper", "setup.py"],
    "full_size_rehearsal.py": [*_FASTSPEECH2_CODE, *_RECIPE_CODE, "conf/train_sniper.yaml",
                               "conf/train_tacotron2_teacher.yaml",
                               "conf/align_forward_sum.yaml"],
}


STEP_ROW_CONFS = {"mini": "conf/mini/train_sniper.yaml", "paper": "conf/train_sniper.yaml",
                  "jets": "conf/train_sniper_jets.yaml"}
MEASURES.update({f"step_overhead.py:{row}": [conf] for row, conf in STEP_ROW_CONFS.items()})


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def _pathspecs(script: str) -> list:
    """``script`` may name a part of a benchmark ("step_overhead.py:paper"): then only
    what that part alone measures."""
    own = [] if script in GRIDS or ":" in script else [f"benchmarks/{script}"]
    return [*own, *MEASURES.get(script, [])]


@lru_cache(maxsize=None)
def changes_since(result_commit: str, script: str) -> tuple:
    """The commits after ``result_commit`` ('+dirty' ignored) that changed what ``script``
    measures, newest first (none outside a git checkout)."""
    base = result_commit.split("+")[0]
    return tuple(_git("log", "--format=%h", f"{base}..HEAD", "--",
                      *_pathspecs(script)).split())


@lru_cache(maxsize=None)
def contains(commit: str, change: str) -> bool:
    """Whether the code of ``commit`` ('+dirty' ignored) includes ``change``."""
    base = commit.split("+")[0]
    return subprocess.run(["git", "merge-base", "--is-ancestor", change, base], cwd=REPO,
                          capture_output=True).returncode == 0


def reproductions() -> list:
    ledger = REPO / "benchmarks" / "results" / "reproductions.json"
    return json.loads(ledger.read_text()) if ledger.is_file() else []


def excused(change: str, script: str) -> str:
    """The reproduction showing ``change`` left ``script``'s numbers as they were: a run
    measured before it that benchmarks/reproduce_run.py re-ran after it identically."""
    for r in reproductions():
        if (r["benchmark"] == script and r["identical"]
                and not contains(r["original_commit"], change)
                and contains(r["reproduced_at"], change)):
            return f"{r['run']} reproduced identically at {r['reproduced_at']}"
    return ""


def stale_note(commits: list, script: str) -> str:
    """'' when no change since these results touched what ``script`` measures, or each
    such change is shown harmless by a reproduction; else a sentence saying which results
    are stale and why."""
    changes = sorted({c for commit in commits for c in changes_since(commit, script)})
    evidence = {c: excused(c, script) for c in changes}
    open_changes = [c for c in changes if not evidence[c]]
    if not changes:
        return ""
    shown = sorted({e for e in evidence.values() if e})
    if not open_changes:
        return (f"; the {len(changes)} later commit(s) that changed what it measures leave "
                f"its numbers as they were: {'; '.join(shown)} "
                f"(`benchmarks/reproduce_run.py`)")
    old = sorted({c for c in commits if any(not contains(c, x) for x in open_changes)})
    subject = _git("log", "-1", "--format=%s", open_changes[0])
    paths = ", ".join(p for p in MEASURES.get(script, []) if not p.startswith(":"))
    listed = ", ".join(open_changes[:3]) + (f" and {len(open_changes) - 3} more"
                                            if len(open_changes) > 3 else "")
    return (f". **Stale**: measured on {', '.join(old)}, before {listed} (one of them: "
            f"\"{subject[:60]}\") changed what it measures ({paths}); rerun "
            f"`benchmarks/{script}`")


def _where(data: dict, script: str, options: str = "") -> str:
    m = data["machine"]
    return (f"`benchmarks/{script}{options}`, {data['date']}, commit {data['commit']}, "
            f"{m['device']}, "
            f"{m['cpus']} CPUs, torch {data['versions']['torch']}, "
            f"espnet {data['versions']['espnet']}"
            f"{stale_note(data.get('run_commits', [data['commit']]), script)}")


def _verdict_on_goal(value: float, limit: float, spread: tuple = ()) -> str:
    """met only when the whole spread (or interval) meets the goal; a median that meets it
    while the spread crosses it says so; one measurement says it is one."""
    if value > limit:
        return "missed"
    if not spread:
        return "met, one measurement"
    return "met" if max(spread) <= limit else "median met, spread crosses"


def _goal(value: float, limit: float, spread: tuple = ()) -> str:
    return f"{value:.3f} ({_verdict_on_goal(value, limit, spread)}: <= {limit})"


def _faster(ratio: dict) -> str:
    median, spread = ratio["median"], (ratio["min"], ratio["max"])
    verdict = _verdict_on_goal(median, 1.0, spread) if max(spread) != 1.0 else "missed"
    return f"{median:.3f} ({verdict}: < 1) [{ratio['min']:.3f}, {ratio['max']:.3f}]"


def step_overhead_table(data: dict) -> list:
    # rows are measured separately (--sizes): each row's commit counts for staleness
    rows_measured = dict(data, run_commits=[r.get("measured", data)["commit"]
                                            for r in data["results"].values()])
    lines = [
        f"**Cost per step** ({_where(rows_measured, 'step_overhead.py')}; each row's own "
        f"date and commit in the table): the same model and batches through ESPnet's "
        f"`train_one_epoch`, contenders alternated (the order rotating). FastSpeech2: SNIPER "
        f"at 40 % (the shipped sniper_conf) and the same masks applied by "
        f"`torch.nn.utils.prune` against dense. JETS (ESPnet's LJSpeech size): a step is a "
        f"generator and a discriminator turn of `GANTrainer`, SNIPER with the generator at "
        f"40 % against dense (no prune peer: the reference cannot train GAN models). Peak "
        f"memory: what training adds to a fresh process's resident set (weights, gradients, "
        f"Adam, activations, and the masks and initial values).",
        "",
        "| model | measured | parameters | micro-batch | reps x steps | dense s/step | "
        "SNIPER / dense time | prune / dense time | SNIPER / prune time | "
        "SNIPER / dense memory | prune / dense memory |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    goals = {"mini": (1.05, None), "paper": (1.02, 1.10), "jets": (1.03, 1.10)}
    names = {"mini": "FastSpeech2 mini", "paper": "FastSpeech2 paper", "jets": "JETS (LJSpeech)"}
    for size, r in data["results"].items():
        time_goal, memory_goal = goals[size]
        t, m, b = r["ratio_over_dense"], r["peak_memory"]["ratio_over_dense"], r["batch"]
        measured = r.get("measured", data)
        # the row's own config (the header covers the code every row runs)
        row_stale = (" (**stale**: its config changed since, rerun with `--sizes "
                     f"{size}`)" if changes_since(measured["commit"], f"step_overhead.py:{size}")
                     else "")
        sniper_time = _goal(t["sniper40"]["median"], time_goal,
                            (t["sniper40"]["min"], t["sniper40"]["max"]))
        sniper_memory = (_goal(m["sniper40"], memory_goal) if memory_goal
                         else f"{m['sniper40']:.3f}")
        prune = (f"{t['prune40']['median']:.3f} | {_faster(r['sniper_over_prune'])}"
                 if "prune40" in t else "- | -")
        lines.append(
            f"| {names[size]} | {measured['date']}, {measured['commit']}{row_stale} "
            f"| {r['params'] / 1e6:.2f} M | {b['utterances']} x {b['frames']} frames, "
            f"accum_grad {r['accum_grad']} "
            f"| {r['repetitions']} x {r['steps_per_repetition']} "
            f"| {r['seconds_per_step_median']['dense']:.3f} "
            f"| {sniper_time} [{t['sniper40']['min']:.3f}, {t['sniper40']['max']:.3f}] "
            f"| {prune} | {sniper_memory} | {m.get('prune40', float('nan')):.3f} |"
            .replace("| nan |", "| - |")
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


def _rehearsal_scaled_seconds(run: dict, stage: str) -> float:
    """A stage's CPU seconds, or for the aligner's stage its wall seconds less its training
    (a fixed number of steps, not a function of the corpus)."""
    if stage == "3" and run.get("aligner_training"):
        return run["stages"][stage]["seconds"] - run["aligner_training"]["training_seconds"]
    return run["stages"][stage]["cpu_seconds"]


def full_size_rehearsal_table(data: dict) -> list:
    sizes = sorted(data["sizes"].items(), key=lambda kv: int(kv[0]))
    runs = dict(data, run_commits=[r["measured"]["commit"] for _, r in sizes])
    lj = sizes[0][1]["ljspeech"]
    corpora = "; ".join(
        f"{int(n):,} utterances, {r['corpus']['hours']:.1f} h, {r['corpus']['mean_seconds']:.2f} s "
        f"on average ({r['corpus']['min_seconds']:.2f}-{r['corpus']['max_seconds']:.2f}), "
        f"{r['measured']['date']}, commit {r['measured']['commit']}" for n, r in sizes)
    head = " | ".join(f"{int(n):,}: wall min | CPU min | peak GB | files | GB" for n, _ in sizes)
    lines = [
        f"**LJSpeech's size, rehearsed** ({_where(runs, 'full_size_rehearsal.py')}): "
        f"`run.sh` without `--mini`, stage by stage, on generated corpora with LJSpeech's "
        f"clip lengths (LJSpeech: {lj['utterances']:,} clips, {lj['hours']:.1f} h, "
        f"{lj['mean_seconds']} s on average, {lj['min_seconds']}-{lj['max_seconds']} s); "
        f"here: {corpora}. The paper-size configs with the forward-sum aligner; "
        f"`--nj {sizes[0][1]['nj']}`. Peak: the largest process's resident memory; files "
        f"and GB: under data/, exp/ and dump/ after the stage.",
        "",
        f"| stage | {head} |" + (" growth / linear |" if len(sizes) > 1 else ""),
        "|---|" + "---:|" * (5 * len(sizes)) + ("---:|" if len(sizes) > 1 else ""),
    ]
    for stage in sizes[-1][1]["stages"]:
        cells = []
        for _, r in sizes:
            st = r["stages"].get(stage)
            if st is None:
                cells.append("- | - | - | - | -")
                continue
            files = sum(d["files"] for d in st["after"].values())
            size = sum(d["bytes"] for d in st["after"].values()) / 1e9
            cells.append(f"{st['seconds'] / 60:.1f} | {st['cpu_seconds'] / 60:.1f} | "
                         f"{st['peak_rss_bytes'] / 1e9:.2f} | {files:,} | {size:.2f}")
        growth = ""
        if len(sizes) > 1 and all(stage in r["stages"] for _, r in (sizes[0], sizes[-1])):
            (n0, r0), (n1, r1) = sizes[0], sizes[-1]
            ratio = (_rehearsal_scaled_seconds(r1, stage) / _rehearsal_scaled_seconds(r0, stage)
                     / (int(n1) / int(n0)))
            growth = f" {ratio:.2f} |"
        name = sizes[-1][1]["stages"][stage]["name"]
        lines.append(f"| {stage} {name} | " + " | ".join(cells) + " |" + growth)
    if len(sizes) > 1:
        lines += ["", "Growth / linear: the largest corpus's CPU time over the smallest's, "
                  "divided by the ratio of their sizes (1: linear in the corpus); for stage 3, "
                  "its wall time less the aligner's training, whose number of steps does not "
                  "depend on the corpus."]
    lines += ["", "| corpus | aligner steps (config's) | training s / step | the config's "
              "steps would take | word boundaries off, train (frames) | dev | equal shares "
              "per token |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for n, r in sizes:
        onset, fit = r.get("aligner", {}), r.get("aligner_training")
        train, dev = onset.get("train", {}), onset.get("dev", {})
        if not train.get("utterances_compared") or not fit:
            continue
        lines.append(f"| {int(n):,} | {fit['steps']} ({fit['config_steps']}) | "
                     f"{fit['seconds_per_step']:.2f} | {fit['config_training_hours']:.1f} h | "
                     f"{train['boundary_mean_frames']:.2f} | "
                     f"{dev.get('boundary_mean_frames', float('nan')):.2f} | "
                     f"{train['naive_mean_frames']:.2f} |")
    lines += ["", "| model (corpus) | iterations timed | s / iteration | validation s | "
              "epoch on this CPU | whole training on this CPU |", "|---|---:|---:|---:|---:|---:|"]
    for n, r in sizes:
        for key, label in (("teacher", "Tacotron2 teacher"), ("fastspeech2", "SNIPER FastSpeech2")):
            t = r.get(key)
            if not t:
                continue
            lines.append(
                f"| {label} ({int(n):,}) | {t['iterations']} | {t['seconds_per_iteration']:.1f} | "
                f"{t['validation_seconds']:.0f} | {t['epoch_hours']:.2f} h "
                f"({t['num_iters_per_epoch']} iterations, accum_grad {t['accum_grad']}) | "
                f"{t['training_days']:.0f} days ({t['max_epoch']} epochs) |")
    teacher = sizes[-1][1].get("teacher")
    if teacher and teacher.get("batch_share_scaled"):
        lines += ["", f"The teacher was timed at 1/{teacher['batch_share_scaled']} of its "
                  f"config's batch_bins ({teacher['timed_at']['batch_bins']:,}: the whole "
                  f"batch does not fit this machine's memory on the CPU, "
                  f"{teacher['timed_at']['seconds_per_iteration']:.1f} s / iteration) and "
                  f"scaled by {teacher['batch_share_scaled']}: an upper bound."]
    paper = sizes[-1][1].get("fastspeech2", {}).get("paper_days_on_one_titan_v")
    if paper:
        lines += ["", f"The paper trained the FastSpeech2 config in about {paper} days on "
                  f"one Titan V."]
    return lines + [""]


def vits_check_table(data: dict) -> list:
    s = data["sniper"]
    by_epoch = ", ".join(f"epoch {e['epoch']}: {e['zero_share_percent']:.2f} % zero at "
                         f"{e['nominal_sparsity']:g} %" for e in s["epochs"])
    cost = ", ".join(f"{name} {c['cpu_s']:.0f} s" for name, c in data["cost"].items())
    return [
        f"**VITS** ({_where(data, 'vits_check.py')}): the tests' tiny VITS "
        f"({data['parameters'] / 1e3:.1f} k parameters) through the GAN CLI, 3 epochs, "
        f"schedule {data['schedule']}: **{'passed' if data['passed'] else 'FAILED'}**. "
        f"Without sniper_conf the weights equal stock `espnet2.bin.gan_tts_train`'s bit for "
        f"bit: {data['plain_equals_stock']}; the generator's {s['prunable_tensors']} prunable "
        f"tensors ({s['prunable_entries']} entries; no discriminator, no `weight_g`) are zero "
        f"wherever the epoch's masks prune ({by_epoch}; entries VITS initializes at zero count "
        f"too), no weight-norm slice is all zero, and stock `Text2Speech` makes "
        f"{s['synthesized_seconds']:.2f} s of finite audio. Not in the test suite for its "
        f"cost: CPU seconds per process {cost}, most of it numba compiling ESPnet's fallback "
        f"monotonic alignment search (its Cython extension is not built by pip).",
        "",
    ]


def scoring_cost_table(data: dict) -> list:
    t, m = data["timing"], data["masks"]
    ratio = t["ratio_scoring_over_dense"]
    rec = data["recommended_score_batches"]
    iou = m["kept_iou"]
    return [
        f"**Cost of SNIP scoring** ({_where(data, 'scoring_cost.py')}; mini FastSpeech2, "
        f"{data['corpus_utterances']}-utterance corpus, {m['epoch_batches']} batches per "
        f"epoch): scoring {t['batches']} batches took "
        f"{_goal(ratio['median'], 1.0, (ratio['min'], ratio['max']))} times as long as "
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


def _ci(x: dict, digits: int = 3) -> str:
    lo, hi = x["ci95"]
    if math.isnan(lo):
        return f"{x['mean']:+.{digits}f} (one seed)"
    return f"{x['mean']:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def _mean_ci(x: dict, digits: int = 3) -> str:
    lo, hi = x["ci95"]
    interval = "" if math.isnan(lo) else f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    return f"{x['mean']:.{digits}f}{interval}"


def _detectable(x: dict) -> str:
    return "" if math.isnan(x["detectable"]) else f" ({x['detectable']:.3f})"


def training_quality_table(data: dict) -> list:
    c, setup, cmp = data["contenders"], data["setup"], data["comparisons"]
    n_seeds = min(len(r["seeds"]) for r in c.values())
    lines = [
        f"**Training quality** ({_where(data, 'training_quality.py')}): the paired grid at the "
        f"mini scale, not LJSpeech: mini FastSpeech2 (adim 96, 2 + 2 layers), the generated "
        f"corpus ({setup['num_utts']} utterances: {setup['num_held_out']} validation, "
        f"{setup['num_held_out']} eval, the rest training; forward-sum durations), "
        f"{setup['max_epoch']} epochs, the conf/mini/ schedules scaled to them; "
        f"{n_seeds} seeds per contender; {setup['jobs']} runs at a time, one thread each. "
        f"For a seed every contender starts from the same weights and sees the same batches; "
        f"differences are per seed, with 95 % t-intervals over seeds; 'detectable' is the "
        f"smallest difference these seeds detect (two-sided 5 %, power 80 %). Validation "
        f"loss: FastSpeech2's total (mel L1 before and after the postnet, duration, pitch, "
        f"energy); mel score: stage 8's normalized log-mel distance on the eval set "
        f"(0 = floor, 1 = no skill; lower is better).",
        "",
        "| contender | schedule | valid loss epoch 1 | final valid loss | final mel score | "
        "wall min |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, r in c.items():
        schedule = r["schedule"] or "dense"
        if isinstance(schedule, dict):
            schedule = ", ".join(f"{k}: {v:g}" for k, v in schedule.items())
        lines.append(
            f"| {name}: {r['description']} | {schedule} | "
            f"{_mean_ci(r['valid_loss_by_epoch'][0])} | {_mean_ci(r['valid_loss_by_epoch'][-1])} "
            f"| {_mean_ci(r['final_mel_normalized'])} | {r['wall_seconds']['mean'] / 60:.1f} |")
    checks = [f"{group}: {sum(ok.values())} of {len(ok)} seeds" for group, ok
              in data["pairing_check"].items() if ok]
    if checks:
        lines += ["", "Pairing, checked: contenders that run the same computation until their "
                  "first sparsity change have bit-identical epoch-1 validation losses ("
                  + "; ".join(checks) + ")."]
    lines += ["", "Paired differences (first - second; negative: the first is better):", "",
              "| difference | valid loss epoch 1 | epoch 2 | final valid loss (detectable) | "
              "final mel score (detectable) | wall-time ratio |",
              "|---|---:|---:|---:|---:|---:|"]
    for key, d in cmp.items():
        e = d["per_epoch"]
        lines.append(
            f"| {key.replace('-', ' - ')} | {_ci(e[0]['loss'])} | {_ci(e[1]['loss'])} | "
            f"{_ci(d['final_loss'])}{_detectable(d['final_loss'])} | "
            f"{_ci(d['final_mel_normalized'])}{_detectable(d['final_mel_normalized'])} "
            f"| {_mean_ci(d['wall_time_ratio'])} |")
    lines += ["", "The paper's claims at this scale (yes / no: the 95 % interval excludes "
              "no difference; cannot tell: it does not):", ""]
    for sniper, a in data["answers"].items():
        early = ", ".join(_ci(x) for x in a["a_lower_early_loss_than_dense"]["difference_by_epoch"])
        lines.append(f"- **{sniper}**: (a) lower validation loss than dense in epochs 1-2: "
                     f"**{a['a_lower_early_loss_than_dense']['verdict']}** ({early})")
        if "b_final_better_than_constant" in a:
            b = a["b_final_better_than_constant"]
            lines.append(f"  (b) final model better than constant sparsity: loss "
                         f"**{b['verdict_loss']}** ({_ci(b['loss_difference'])}), mel score "
                         f"**{b['verdict_mel']}** ({_ci(b['mel_normalized_difference'])})")
        cc = a["c_final_better_than_dense"]
        lines.append(f"  (c) final model better than dense: loss **{cc['verdict_loss']}** "
                     f"({_ci(cc['loss_difference'])}), mel score **{cc['verdict_mel']}** "
                     f"({_ci(cc['mel_normalized_difference'])})")
        dd = a["d_negligible_extra_time"]
        lines.append(f"  (d) negligible extra training time (<= {dd['threshold']:.2f} x dense), "
                     f"from the grid's wall times: **{dd['verdict']}** (ratio "
                     f"{_mean_ci(dd['wall_time_ratio'])}); see the caveat below")
    lines += ["", *controls_and_losses(cmp)]
    lines += ["", "Time to quality: wall time (SNIP scoring included) and steps to reach "
              "dense's final validation loss, as a ratio to dense's whole run (over the seeds "
              "that reach it within the grid's epochs):", "",
              "| contender | wall-time ratio | steps ratio | seeds not reaching it | final mel "
              "score at least dense's |", "|---|---:|---:|---:|---:|"]
    for name, t in data["time_to_quality"].items():
        wall = _mean_ci(t["wall_ratio"]) if t["wall_ratio"] else "-"
        steps = _mean_ci(t["steps_ratio"]) if t["steps_ratio"] else "-"
        lines.append(f"| {name} | {wall} | {steps} | {len(t['unreached_seeds'])} of "
                     f"{len(t['seeds'])} | {t['final_mel_at_least_dense']} |")
    lines += ["", "Wall times in this grid are not a cost measurement: its runs shared the "
              "machine with development work and test suites for part of the time, which "
              "contenders met unevenly. The cost of a SNIPER step is measured by "
              "`benchmarks/step_overhead.py` (contenders alternated, above); the steps ratio "
              "of time to quality is load-free.", "",
              "![paired differences](benchmarks/results/training_quality_paired.png)", ""]
    return lines


CONTROLS = {"random40to0": "SNIP's masks against random masks",
            "nolrscale40to0": "per-tensor learning-rate scaling against none",
            "zeroregrow40to0": "regrowth at initial values against regrowth from zero"}


def _verdict(x: dict) -> str:
    """better / worse / cannot tell for a difference (first - second; lower is better)."""
    lo, hi = x["ci95"]
    if math.isnan(lo):
        return "cannot tell"
    if lo == hi == 0:
        return "identical"  # the same computation up to there (e.g. before any regrowth)
    return "better" if hi < 0 else "worse" if lo > 0 else "cannot tell"


def controls_and_losses(cmp: dict) -> list:
    """What the controls show, and every point where a SNIPER contender measured worse."""
    points = lambda d: [("validation loss, epoch 1", d["per_epoch"][0]["loss"]),  # noqa: E731
                        ("validation loss, epoch 2", d["per_epoch"][1]["loss"]),
                        ("final validation loss", d["final_loss"]),
                        ("final mel score", d["final_mel_normalized"])]
    lines = ["What the controls show (SNIPER 40 -> 0 minus the control; better: the 95 % "
             "interval is below 0):", ""]
    for control, question in CONTROLS.items():
        d = cmp.get(f"sniper40to0-{control}")
        if d is None:
            continue
        found = "; ".join(f"{what} {_verdict(x)} ({_ci(x)})" for what, x in points(d))
        lines.append(f"- {question}: {found}")
    losses = [f"{key.replace('-', ' - ')}: {what} ({_ci(x)})"
              for key, d in cmp.items() if key.startswith("sniper")
              for what, x in points(d) if _verdict(x) == "worse"]
    lines += ["", "Where SNIPER loses (a SNIPER contender measured worse than the other, "
              "interval above 0): " + ("; ".join(losses) if losses else "nowhere at this "
              "scale") + "."]
    return lines


def mutation_score_table(data: dict) -> list:
    total = data["total"]
    lines = [
        f"**Test strength** ({_where(data, 'mutation_score.py')}): {data['tool']} mutates "
        f"each function of the core modules (an operator, a constant, a comparison, an "
        f"argument dropped) and runs the fast unit tests that reach it "
        f"({', '.join(f'`{t}`' for t in data['tests'])}); a mutant is killed when a test "
        f"fails. Score = killed / (killed + survived + timeout). Decorated functions (the "
        f"controller's `@torch.no_grad()` hooks) are not mutated by mutmut 3, so not "
        f"measured. **{100 * total['score']:.1f} % killed** over the six modules (goal: "
        f"90 %).",
        "",
        "| module | mutants | killed | survived | timeout | no test reached | score |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, module in sorted(data["modules"].items()):
        c = module["counts"]
        lines.append(f"| `{name}` | {c['mutants']} | {c['killed']} | {c['survived']} | "
                     f"{c['timeout']} | {c['no_tests']} | {100 * c['score']:.1f} % |")
    lines.append(f"| all | {total['mutants']} | {total['killed']} | {total['survived']} | "
                 f"{total['timeout']} | {total['no_tests']} | {100 * total['score']:.1f} % |")
    return lines + ["", "The survivors, each with its diff, are in "
                    "`benchmarks/results/mutation_score.json`; what they change: "
                    "[Development](#development).", ""]


def kill_resume_table(data: dict) -> list:
    setup = data["setup"]
    ranks = setup.get("ranks", 1)
    jets = setup.get("model") == "jets"
    model = ("the mini JETS (GAN TTS, `gan_tts_train`)" if jets else
             "the mini FastSpeech2")
    what = (f"the recipe's training stage of {model}" if ranks == 1 else
            f"the recipe's training of {model} under DDP ({ranks} gloo ranks on the CPU, "
            f"started as an external launcher starts them)")
    options = (f" --ranks {ranks}" if ranks > 1 else "") + (" --model jets" if jets else "")
    killed = ("SIGKILLed, process group and all, then rerun" if ranks == 1 else
              "one rank (at random) SIGKILLed, then the others, as a cluster stops the job; "
              "all restarted with `--resume true`")
    lines = [
        f"**Kill and resume** ({_where(data, 'kill_resume.py', options)}): {what} (SNIPER "
        f"{', '.join(f'{v} %' for v in setup['schedule'].values())} over {setup['max_epoch']} "
        f"epochs, {setup['corpus_utterances']}-utterance corpus) {killed}; a trial passes when "
        f"the rerun ends with the uninterrupted run's weights bit for bit and no temporary "
        f"file is left. **{data['passed']} of {data['tried']} passed.**"
        + (f" {data['resumed_from_spare']} of them resumed from the spare checkpoint "
           f"(`checkpoint.prev.pth`): checkpoint.pth was unreadable after the kill."
           if "resumed_from_spare" in data else ""),
        "",
        "| killed | tried | passed |",
        "|---|---:|---:|",
    ]
    for kind, n in data["by_kind"].items():
        lines.append(f"| {kind.replace('_', ' ')} | {n['tried']} | {n['passed']} |")
    for failure in data["failed"]:
        lines.append(f"\nFailed: trial {failure['trial']} ({failure['planned']}): {failure['why']}")
    return lines + [""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _short_error(error: str) -> str:
    """An error line without file paths and terminal colours, at most 120 characters."""
    error = re.sub(r"(#x1B|\x1b)\[[0-9;]*m", "", error)
    error = re.sub(r" \(/[^)]*\)?", "", error)  # "(/path/to/module.py)"
    return error if len(error) <= 120 else error[:117] + "..."


def _compat_failures(r: dict) -> str:
    if "install_error" in r:
        first = next((line for line in r["install_error"].splitlines() if line.strip()), "?")
        return f"install failed: {_cell(_short_error(first))}"
    groups: dict = {}
    for f in r["tests"]["failures"]:
        groups.setdefault(_short_error(f["error"]), []).append(f["test"])
    ranked = sorted(groups.items(), key=lambda g: -len(g[1]))
    shown = [f"{len(tests)} x `{_cell(error)}`" for error, tests in ranked[:3]]
    more = len(groups) - len(shown)
    return "; ".join(shown) + (f"; {more} other errors" if more > 0 else "") or "-"


def espnet_compat_table(data: dict) -> list:
    decl = data["declared"]
    bounds = [r for r in decl["install_requires"]
              if r.split(";")[0].rstrip("<>=!~.0123456789, ") in ("espnet", "torch",
                                                                  "torchaudio")]
    tests = ", ".join(f"`{t.split('/')[-1]}`" for t in data["tests"])
    lines = [
        f"**ESPnet compatibility** ({_where(data, 'espnet_compat.py')}): per row a fresh "
        f"virtual environment with that ESPnet release, torch and Python, the other "
        f"requirements as setup.py declares them and this checkout on PYTHONPATH; the tiny "
        f"CLI tests (real ESPnet training of tiny FastSpeech2, Tacotron2 and JETS through "
        f"`espnet_sniper.bin`, kill and resume, bit-identity with stock ESPnet) and the "
        f"trainer-level tests run there ({tests}). setup.py declares "
        f"{', '.join(f'`{r}`' for r in bounds)} and Python `{decl['python_requires']}`.",
        "",
        "| ESPnet (+ added) | torch | Python | numpy, librosa | in setup.py's ranges | "
        "tests passed / failed | install s | environment GB (own) | "
        "what failed (tests x error) |",
        "|---|---|---|---|---|---:|---:|---:|---|",
    ]
    for name, r in data["releases"].items():
        m = r.get("measured", {})
        when = (f" ({m['date']}, {m['commit']})" if m and m.get("commit") != data["commit"]
                else "")
        if "tests" in r:
            t = r["tests"]
            counts = f"{t['passed']} / {t['failed'] + t['errors']}"
        else:
            counts = "- / -"
        size = (f"{r['venv_bytes'] / 1e9:.1f} ({r['venv_own_bytes'] / 1e9:.1f})"
                if "venv_bytes" in r else "-")
        seconds = f"{r['install_seconds']:.0f}" if "install_seconds" in r else "-"
        key = r.get("key_packages") or {}
        numeric = f"{key.get('numpy') or '-'}, {key.get('librosa') or '-'}"
        added = [*r.get("extra_requirements", []),
                 *(f"{k}={v}" for k, v in r.get("test_environment_variables", {}).items())]
        espnet = r["espnet"] + "".join(f" + `{a}`" for a in added)
        lines.append(
            f"| {espnet}{when} | {(r.get('resolved') or {}).get('torch') or r['torch']} "
            f"| {r.get('python') or r.get('python_requested', '?')} | {numeric} "
            f"| {'yes' if r.get('in_declared_range') else 'no'} | {counts} | {seconds} "
            f"| {size} | {_compat_failures(r)} |")
    return lines + [
        "",
        "Install seconds: creating the environment and `pip install` with torch and its CUDA "
        "libraries already on the disk (hard-linked from a layer built once per torch "
        "version, which is not counted); own GB: what the environment adds beside that "
        "layer. Every package each environment resolved: `pip freeze` in the JSON.",
        "",
    ]


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
    for metric, label in (("cer", "ASR character error rate (the recipe's judge)"),
                          ("wer", "ASR word error rate (the recipe's judge)")):
        if metric in data:
            lines.append(f"| {label} | {_three(data[metric], 3)} |")
    stages = data["stage_seconds"]
    lines += ["", "| stage | " + " | ".join(stages) + " |",
              "|---|" + "---:|" * len(stages),
              "| seconds | " + " | ".join(f"{v:.0f}" for v in stages.values()) + " |", "",
              f"![recordings beside synthesis, seed {data['seeds'][0]}]"
              f"(benchmarks/results/{data['name']}_mels.png)", ""]
    return lines


def asr_judge_table(data: dict) -> list:
    judge, setup = data["judge"], data["setup"]
    best = min(judge["epochs"], key=lambda e: e["valid_cer"]) if judge["epochs"] else None
    lines = [
        f"**Intelligibility: the recipe's ASR judge** ({_where(data, 'asr_judge.py')}): the "
        f"judge stage 8 trains (`{Path(judge['config']).name}`, ESPnet CTC over characters) on "
        f"the {judge['train_utterances']} training recordings of the grid's corpus in "
        f"{judge['train_seconds'] / 60:.1f} minutes"
        + (f", best epoch {best['epoch']} of {len(judge['epochs'])} (dev CER "
           f"{best['valid_cer']:.3f})" if best else "")
        + f"; error rates on the {setup['eval_utterances']} eval utterances (per utterance, "
        f"averaged; 95 % t-intervals over utterances for the references, over seeds for the "
        f"grid's models; texts normalized alike, see `local/evaluation/intelligibility.py`). "
        f"It is useful only if it hears the recordings and the floor and not the no-skill "
        f"baseline.", "",
        "| system | CER | WER |", "|---|---:|---:|"]
    names = {"recording": "recordings", "floor": "floor (recordings through Griffin-Lim)",
             "baseline": "no-skill baseline"}
    for name, r in data["references"].items():
        lines.append(f"| {names.get(name, name)} | {_mean_ci(r['cer'])} | {_mean_ci(r['wer'])} |")
    for name, r in data["contenders"].items():
        lines.append(f"| {name} ({r['cer']['n']} seeds, last epoch) | {_mean_ci(r['cer'])} | "
                     f"{_mean_ci(r['wer'])} |")
    diffs = [(n, r["minus_dense"]) for n, r in data["contenders"].items() if "minus_dense" in r]
    if diffs:
        lines += ["", "Paired by seed, minus dense: " + "; ".join(
            f"{n} CER {_ci(d['cer'])}, WER {_ci(d['wer'])}" for n, d in diffs) + "."]
    return lines + [""]


MASK_MODELS = {"mini": "mini FastSpeech2", "paper": "paper-size FastSpeech2",
               "jets": "paper-size JETS generator"}


def masks_report_table(data: dict) -> list:
    lines = [f"**Where the masks prune** ({_where(data, 'masks_report.py')}): SNIP scores of "
             f"each model at its initial weights on the grid's corpus, and the share of each "
             f"module pruned at the schedule's highest sparsity under the paper's global "
             f"ranking (with its 75 % cap), a uniform share per tensor, and ERK densities.", ""]
    for model, r in data["models"].items():
        top = f"{r['sparsities'][0]:g}"
        real = r["real_sparsity"]
        lines += [f"*{MASK_MODELS.get(model, model)}* (`{r['config']}`, "
                  f"{r['prunable_entries'] / 1e6:.2f} M prunable entries, scored over "
                  f"{r['scored_over']}): at a nominal {float(top):g} %, real sparsity global "
                  f"{real['global'][top]:.1f} % ({len(r['tensors_at_cap']['global'])} of "
                  f"{len(r['tensors'])} tensors at the cap), uniform {real['uniform'][top]:.2f} "
                  f"%, ERK {real['erk'][top]:.2f} %.", "",
                  "| module | share of entries % | share of summed score % | pruned, global % "
                  "| pruned, uniform % | pruned, ERK % |", "|---|---:|---:|---:|---:|---:|"]
        groups = sorted(r["groups"].items(), key=lambda kv: -kv[1]["numel_share"])
        for name, g in groups:
            score = f"{100 * g['score_share']:.1f}" if g["score_share"] is not None else "-"
            pruned = " | ".join(f"{g['pruned_percent'][f'{a}@{top}']:.1f}"
                                for a in ("global", "uniform", "erk"))
            lines.append(f"| {name} | {100 * g['numel_share']:.1f} | {score} | {pruned} |")
        starved = [(n, g) for n, g in groups if g["score_share"] is not None
                   and g["score_share"] < g["numel_share"] / 4]
        if starved:
            entries = sum(g["numel_share"] for _, g in starved)
            score = sum(g["score_share"] for _, g in starved)
            lines += ["", f"Modules whose share of the summed score is under a quarter of their "
                      f"share of the entries ({', '.join(n for n, _ in starved)}): "
                      f"{100 * entries:.1f} % of the entries, {100 * score:.1f} % of the score; "
                      f"the global ranking prunes them "
                      f"{_pruned_share(r, starved, top):.1f} % at a nominal {float(top):g} %."]
        lines += ["", f"![pruned share by module, {model}]"
                      f"(benchmarks/results/masks_report_{model}.png)", ""]
    return lines


def _scored_over(setup: dict) -> str:
    batches = setup["score_batches"]
    return "the whole first epoch (as the paper)" if batches == "whole epoch" else batches


def _pruned_share(report: dict, groups: list, top: str) -> float:
    """The pruned share of these modules together under the global allocation."""
    pruned = sum(g["pruned_percent"][f"global@{top}"] * g["numel_share"] for _, g in groups)
    return pruned / sum(g["numel_share"] for _, g in groups)


def _pct(x: dict) -> str:
    lo, hi = x["ci95"]
    if math.isnan(lo):
        return f"{x['mean']:+.1f} % (one seed)"
    return f"{x['mean']:+.1f} % [{lo:+.1f}, {hi:+.1f}]"


def _better_both_epochs(d: dict) -> bool:
    return len(d["per_epoch"]) >= 2 and all(row["loss"]["ci95"][1] < 0
                                            for row in d["per_epoch"][:2])


def masks_early_grid_table(data: dict) -> list:
    c, cmp, setup = data["contenders"], data["comparisons"], data["setup"]
    n = min(len(r["seeds"]) for r in c.values())
    lines = [
        f"**Which weights to keep, epochs 1-2** ({_where(data, 'masks_early_grid.py')}; the runs "
        f"trained on commit {', '.join(data.get('run_commits', [data['commit']]))}): "
        f"paired grid, {n} seeds (same initial weights and batch order per seed), every "
        f"sparse contender at a constant {setup['sparsity']} % for {setup['max_epoch']} epochs "
        f"of the mini FastSpeech2 on the {setup['num_utts']}-utterance corpus, SNIP scored over "
        f"{_scored_over(setup)}; validation loss on {setup['num_held_out']} utterances. "
        f"Differences in % of the second's loss, 95 % t-intervals over seeds; negative: the "
        f"first is better.", "",
        "| contender | real sparsity % | valid loss epoch 1 | epoch 2 | minus dense, epoch 1 | "
        "epoch 2 | minus global_snip, epoch 1 | epoch 2 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in c.items():
        cells = []
        for ref in ("dense", "global_snip"):
            d = cmp.get(f"{name}-{ref}")
            cells += ([_pct(row["loss_percent"]) for row in d["per_epoch"][:2]]
                      if d else ["", ""])
        loss = r["valid_loss_by_epoch"]
        lines.append(f"| {name}: {r['description']} | {r['sparsity_real']['mean']:.1f} | "
                     f"{_mean_ci(loss[0])} | {_mean_ci(loss[1])} | " + " | ".join(cells) + " |")
    winners = [k.split("-")[0] for k, d in cmp.items()
               if k.endswith("-dense") and _better_both_epochs(d)
               and k.split("-")[0] not in ("dense_lr167", "dense_initvar")]
    lines += ["", "What the pairs say (epoch 1; epoch 2):", ""]
    questions = {
        "global_snip_shuffled-global_snip": "SNIP's positions, at SNIP's own per-tensor counts "
        "(shuffled minus SNIP)",
        "global_random-global_snip_shuffled": "SNIP's per-tensor counts against the near-uniform "
        "counts of one random ranking, at random positions",
        "uniform_random-global_random": "exactly uniform counts against one random ranking's",
        "uniform_snip-uniform_random": "SNIP's positions at uniform counts (SNIP minus random)",
        "erk_snip-erk_random": "SNIP's positions at ERK counts (SNIP minus random)",
        "uniform_magnitude-uniform_random": "the largest initial weights at uniform counts "
        "(magnitude minus random)",
        "dense_lr167-dense": "dense with the learning rate times 1/0.6",
        "dense_initvar-dense": "dense with its prunable matrices' initial weights times "
        "sqrt(0.6)",
        "uniform_random-dense_lr167": "a uniform random mask against that learning-rate control",
        "uniform_random-dense_initvar": "a uniform random mask against that initial-variance "
        "control",
    }
    for key, question in questions.items():
        d = cmp.get(key)
        if d:
            verdicts = [row["verdict"] for row in d["per_epoch"][:2]]
            lines.append(f"- {question}: {'; '.join(_pct(row['loss_percent']) for row in d['per_epoch'][:2])}"
                         f" ({', '.join(verdicts)})")
    lines += ["", *_why_snip_loses(cmp), "", *_what_explains_the_gain(cmp)]
    lines += ["", "Lower validation loss than dense in both epochs 1 and 2, interval excluding "
              "zero (the paper's claim (a) for the mask alone): "
              + (", ".join(f"**{w}**" for w in winners) if winners else "**none**") + ".", "",
              *_recommendation(cmp, winners), "",
              "![mask variants, paired differences](benchmarks/results/masks_early_grid.png)", ""]
    return lines


def _ratio(x: dict) -> str:
    lo, hi = x["ci95"]
    interval = "" if math.isnan(lo) else f" [{lo:.3f}, {hi:.3f}]"
    return f"{x['geometric_mean']:.3f}{interval}"


def full_grid_table(data: dict) -> list:
    """The paper's claims again, on the current code, with the mask variant the early grid
    favours; time to quality with seeds that never get there censored."""
    c, setup, cmp = data["contenders"], data["setup"], data["comparisons"]
    n = min(len(r["seeds"]) for r in c.values())
    lines = [
        f"**The full grid** ({_where(data, 'training_quality.py')}; the runs trained on commit "
        f"{', '.join(data.get('run_commits', [data['commit']]))}; {data['runs_finished']} of "
        f"{data['runs_planned']} planned runs"
        f"{'' if data['runs_finished'] >= data['runs_planned'] else ', still running'}): "
        f"{n} paired seeds, "
        f"{setup['max_epoch']} epochs of the mini FastSpeech2 on the {setup['num_utts']}-"
        f"utterance corpus, the conf/mini/ 40 -> 0 schedule scaled to them, SNIP scored over "
        f"{_scored_over(setup)}; validation loss and mel score (stage 8, normalized: 0 = "
        f"floor, 1 = no skill) of the same model, the last epoch's. Ratios are geometric means "
        f"with 95 % intervals from t-intervals of their logs.", "",
        "| contender | valid loss epoch 1 | epoch 2 | final | final mel score |",
        "|---|---:|---:|---:|---:|"]
    for name, r in c.items():
        loss = r["valid_loss_by_epoch"]
        lines.append(f"| {name}: {r['description']} | {_mean_ci(loss[0])} | {_mean_ci(loss[1])} "
                     f"| {_mean_ci(loss[-1])} | {_mean_ci(r['final_mel_normalized'])} |")
    lines += ["", "| minus dense | valid loss epoch 1 | epoch 2 | final loss ratio | "
              "final mel score | reach dense's final loss | steps to it (median, censored) |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for key, d in cmp.items():
        if not key.endswith("-dense"):
            continue
        name = key[: -len("-dense")]
        t = data["time_to_quality"].get(name)
        e = d["per_epoch"]
        reach = f"{t['reached']} of {len(t['seeds'])}" if t else "-"
        median = (f"{t['steps_ratio_median']:.2f} x dense" if t and t["steps_ratio_median"]
                  else "not reached by half" if t else "-")
        lines.append(f"| {name} | {_ci(e[0]['loss'])} | {_ci(e[1]['loss'])} | "
                     f"{_ratio(d['final_loss_ratio'])} | {_ci(d['final_mel_normalized'])} | "
                     f"{reach} | {median} |")
    lines += ["", "The paper's claims here (yes / no: the 95 % interval excludes no difference; "
              "cannot tell: it does not):", ""]
    for key, d in cmp.items():
        if key.endswith("-dense"):
            early = [_verdict(row["loss"]) for row in d["per_epoch"][:2]]
            lines.append(f"- {key[: -len('-dense')]}: (a) lower loss than dense in epochs 1 "
                         f"and 2: {', '.join(early)}; (c) final model better than dense: loss "
                         f"{_verdict(d['final_loss'])}, mel score "
                         f"{_verdict(d['final_mel_normalized'])}")
    return lines + ["", "![paired differences](benchmarks/results/full_grid_paired.png)", ""]


# the early grid's contender that conf/train_sniper_uniform_random.yaml ships
RECOMMENDED = ("uniform_random", "conf/train_sniper_uniform_random.yaml")


def _recommendation(cmp: dict, winners: list) -> list:
    name, config = RECOMMENDED
    if not winners:
        return [f"No mask variant beats dense in both early epochs here; `{config}` is shipped "
                f"as the grids' candidate, not as an improvement."]
    best = min(winners, key=lambda w: cmp[f"{w}-dense"]["per_epoch"][1]["loss_percent"]["mean"])
    ours = cmp.get(f"{name}-dense")
    status = (f"the lowest epoch-2 loss of them" if best == name else
              f"not the lowest epoch-2 loss of them ({best}'s is lower)" if name in winners
              else "not among them")
    where = ("; ".join(_pct(r["loss_percent"]) for r in ours["per_epoch"][:2]) if ours else "-")
    return [f"Recommended masks: `{config}` (and its `conf/mini/` twin): the paper's 40 -> 0 "
            f"schedule with `allocation: uniform` and `scoring: random` ({name}: {where} against "
            f"dense in epochs 1; 2, {status}; random masks also skip SNIP's scoring pass). "
            f"`conf/train_sniper.yaml` stays the paper's. Whether the early gain survives to "
            f"the end of training is the full grid's question (below)."]


def _better_in(d: dict) -> list:
    """The epochs (of the first two) where the first is better, interval below 0."""
    return [row["epoch"] for row in d["per_epoch"][:2] if row["loss"]["ci95"][1] < 0]


def _why_snip_loses(cmp: dict) -> list:
    positions, counts = (cmp.get("global_snip_shuffled-global_snip"),
                         cmp.get("global_random-global_snip_shuffled"))
    if not positions or not counts:
        return []
    by_positions, by_counts = _better_in(positions), _better_in(counts)
    cause = ("both SNIP's per-tensor counts and its positions" if by_positions and by_counts
             else "SNIP's per-tensor counts (its allocation), not its positions" if by_counts
             else "SNIP's positions within tensors, not its counts" if by_positions
             else "neither change separately (the intervals cover 0)")
    return [f"Why SNIP's masks lose to random ones: keeping SNIP's per-tensor counts but "
            f"moving the kept entries to random positions changes the loss by "
            f"{_pct(positions['per_epoch'][0]['loss_percent'])} at epoch 1; then replacing "
            f"SNIP's counts by those of one random ranking (about 40 % of every tensor) by "
            f"{_pct(counts['per_epoch'][0]['loss_percent'])}. What costs SNIP here: **{cause}**."]


def _what_explains_the_gain(cmp: dict) -> list:
    lines = []
    for control, what in (("dense_lr167", "the larger learning rate"),
                          ("dense_initvar", "the smaller initial output variance")):
        alone, beyond = cmp.get(f"{control}-dense"), cmp.get(f"uniform_random-{control}")
        if not alone or not beyond:
            continue
        helps = _better_in(alone)
        left = _better_in(beyond)
        verdict = ("explains it" if helps and not left else
                   "explains part of it" if helps else "does not explain it")
        lines.append(f"- {what} (`{control}`): dense with it alone "
                     f"{'; '.join(_pct(r['loss_percent']) for r in alone['per_epoch'][:2])}; "
                     f"a uniform random mask against it "
                     f"{'; '.join(_pct(r['loss_percent']) for r in beyond['per_epoch'][:2])} "
                     f"(epochs 1; 2): **{verdict}**")
    gain = cmp.get("uniform_random-dense")
    if gain:
        terms = "; ".join(
            f"{term.replace('_loss', '').replace('l1', 'mel L1')} {_ci(row[term])}"
            for row in gain["per_epoch"][:1] for term in
            ("l1_loss", "duration_loss", "pitch_loss", "energy_loss"))
        lines.append(f"- where the gain is, by loss term (uniform random minus dense, epoch 1, "
                     f"absolute): {terms}")
    return (["What explains a random 40 % mask's early gain over dense (a control explains it "
             "when it beats dense itself and the mask no longer beats it):", "", *lines]
            if lines else [])


MASKS_TABLES = {
    "masks_report.json": masks_report_table,
    "masks_early_grid.json": masks_early_grid_table,
    "full_grid.json": full_grid_table,
}
TABLES = {
    "main_job.json": main_job_table,
    "unseen.json": main_job_table,
    "step_overhead.json": step_overhead_table,
    "scoring_cost.json": scoring_cost_table,
    "training_quality.json": training_quality_table,
    "kill_resume.json": kill_resume_table,
    "kill_resume_ddp.json": kill_resume_table,
    "kill_resume_ddp_jets.json": kill_resume_table,
    "mutation_score.json": mutation_score_table,
    "vits_check.json": vits_check_table,
    "asr_judge.json": asr_judge_table,
    "espnet_compat.json": espnet_compat_table,
    "full_size_rehearsal.json": full_size_rehearsal_table,
}


def write_section(readme: Path, begin: str, end: str, lines: list) -> None:
    text = readme.read_text()
    if begin not in text or end not in text:
        sys.exit(f"error: {readme} has no {begin} ... {end} section")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    atomic_write_text(readme, head + "\n".join([begin, "", *lines, end]) + tail)


def tables(names, makers=TABLES) -> list:
    lines = []
    for name in names:
        path = REPO / "benchmarks" / "results" / name
        if path.is_file():
            lines += makers[name](json.loads(path.read_text()))
    return lines


def main() -> None:
    write_section(REPO / "README.md", BEGIN, END, tables(TABLES))
    write_section(REPO / "README.md", MASKS_BEGIN, MASKS_END, tables(MASKS_TABLES, MASKS_TABLES))
    mini = [line.replace("benchmarks/results/", "../../../benchmarks/results/")
            for line in tables(["main_job.json", "unseen.json"])]
    write_section(RECIPE_README, MINI_BEGIN, MINI_END, mini)


if __name__ == "__main__":
    main()
