"""The results page and what decides it: goals met only by the whole spread, results stale
when an input their benchmark declares changed after them (this repository's own history)
unless a reproduction clears the change, tolerance reproductions, and the generator."""

import json
import shutil
import subprocess

import pytest

from benchmarks import (cuda_sniper_epochs, ddp_exit, full_size_rehearsal, main_job,
                        masks_early_grid, masks_report, record_reproduction, scoring_cost,
                        step_overhead, training_quality, vits_check, write_results_page)
from benchmarks.core import cells, reproductions, staleness
from benchmarks.core.results import RESULTS
from conftest import REPO

# 0b9b5ca changed espnet_sniper/masks.py; 26b1fa0 came before it, 2804079 after it
BEFORE, CHANGE, AFTER = "26b1fa0", "0b9b5ca", "2804079"


@pytest.mark.parametrize("value, spread, verdict", [
    (0.98, (0.95, 0.99), "met"),
    (0.98, (0.95, 1.04), "median met, spread crosses"),
    (0.98, (), "met, one measurement"),
    (1.01, (0.97, 1.03), "missed"),
])
def test_a_goal_is_met_only_by_the_whole_spread(value, spread, verdict):
    assert cells.goal_verdict(value, 1.0, spread) == verdict


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()


def _note(commits, benchmark, ledger=()) -> str:
    return staleness.stale_note(commits, benchmark.__name__.rsplit(".", 1)[1], benchmark.INPUTS,
                                list(ledger))


def test_a_result_before_a_change_to_its_inputs_is_stale_and_one_after_it_is_not():
    assert CHANGE in staleness.changes_since(BEFORE, vits_check.INPUTS)
    assert CHANGE not in staleness.changes_since(AFTER, vits_check.INPUTS)
    note = _note([BEFORE], vits_check)
    assert "**Stale**" in note and BEFORE in note and "python -m benchmarks.vits_check" in note
    assert _note([_head()], vits_check) == ""
    assert _note([_head() + "+dirty"], vits_check) == ""
    # a grid with runs on both sides names only the old ones
    note = _note([BEFORE, _head()], training_quality)
    assert f"measured on {BEFORE}," in note and _head() not in note.split("before")[0]


def test_a_reproduction_after_the_change_clears_it():
    changes = staleness.changes_since(BEFORE, vits_check.INPUTS)
    entry = {"benchmark": "vits_check.py", "run": "x_seed0", "original_commit": BEFORE,
             "reproduced_at": _head(), "identical": True}  # an entry of the ledger's first form
    note = _note([BEFORE], vits_check, [entry])
    assert "**Stale**" not in note and "reproduced identically" in note
    assert f"The {len(changes)} later commit(s)" in note
    # not when it differed, nor when it was made for another benchmark
    for changed in ({"identical": False}, {"benchmark": "step_overhead.py"}):
        assert "**Stale**" in _note([BEFORE], vits_check, [{**entry, **changed}])
    # a reproduction within a tolerance clears it too, and says under which rule
    within = {**entry, "identical": False, "reproduced": True, "rule": "within its range"}
    assert "reproduced within its range" in _note([BEFORE], vits_check, [within])
    assert "**Stale**" in _note([BEFORE], vits_check, [{**within, "reproduced": False}])


def test_the_committed_ledger_still_excuses_what_it_reproduced():
    """sniper40to0_seed3 of the full grid, measured at 2804079, reproduced identically at
    d1357dd: the changes between them to the grid's inputs are excused."""
    ledger = reproductions.load_ledger()
    between = [c for c in staleness.changes_since("2804079", training_quality.INPUTS)
               if staleness.contains("d1357dd", c)]
    assert between
    for change in between:
        assert staleness.excuse(change, "training_quality", ledger).startswith(
            "sniper40to0_seed3 reproduced identically at ")
        assert staleness.excuse(change, "vits_check", ledger) == ""


def test_a_change_to_the_gan_trainer_alone_stales_gan_results_not_fastspeech2_ones():
    # d1dc5e7 touched espnet_sniper/gan_trainer.py and no other package file; e231fe7 is
    # its parent
    gan_change, parent = "d1dc5e7", "e231fe7"
    assert gan_change in staleness.changes_since(parent, vits_check.INPUTS)
    assert gan_change in staleness.changes_since(parent, masks_report.INPUTS)  # reports JETS
    for fastspeech2_only in (main_job, training_quality, masks_early_grid, scoring_cost):
        assert gan_change not in staleness.changes_since(parent, fastspeech2_only.INPUTS)


def test_a_step_cost_row_is_stale_only_when_its_own_config_or_the_code_changed():
    # b80ee3e changed conf/mini/train_sniper.yaml (and no package file); ff325a8 is its
    # parent
    config_change, parent = "b80ee3e", "ff325a8"
    rows = step_overhead.ROW_INPUTS
    assert config_change in staleness.changes_since(parent, rows["mini"])
    for row in ("paper", "jets"):
        assert config_change not in staleness.changes_since(parent, rows[row])
    assert config_change not in staleness.changes_since(parent, step_overhead.INPUTS)
    # a package change reaches every row through the result's own note
    assert CHANGE in staleness.changes_since(BEFORE, step_overhead.INPUTS)


def _step_result(commit: str, median: float) -> dict:
    row = {"ratio_over_dense": {"sniper40": {"median": median, "min": 0.99, "max": 1.07}},
           "measured": {"date": "2026-12-02", "commit": commit}}
    return {"commit": commit, "results": {"mini": row}}


def test_a_timing_reproduces_inside_the_committed_range_and_is_recorded(tmp_path):
    committed = _step_result(BEFORE, 1.03)
    ledger = tmp_path / "reproductions.json"
    shutil.copyfile(RESULTS / "reproductions.json", ledger)
    before = json.loads(ledger.read_text())
    for median, reproduced in ((1.06, True), (1.08, False)):
        entry = reproductions.compare(
            "step_overhead", "step_overhead.json", committed, _step_result(AFTER, median),
            step_overhead.TOLERANCE, step_overhead.reproduces,
            step_overhead.measured_at(committed))
        assert entry["reproduced"] is reproduced and not entry["identical"]
        reproductions.record(entry, ledger)
    entries = json.loads(ledger.read_text())
    # the same run made again at the same commit replaces its entry; earlier ones stay
    assert entries[:len(before)] == before and len(entries) == len(before) + 1
    assert entries[-1]["original_commits"] == [BEFORE] and not entries[-1]["reproduced"]
    assert "outside [0.99, 1.07]" in entries[-1]["differences"][0]


def test_the_main_job_reproduces_to_its_printed_digits():
    committed = json.loads((RESULTS / "main_job.json").read_text())
    again = json.loads(json.dumps(committed))
    again["normalized_mel"]["mean"] += 1e-5  # below the third decimal
    again["total_minutes"]["mean"] += 3  # timings may differ
    assert main_job.reproduces(committed, again) == []
    again["mel_db"]["model"]["mean"] += 0.01
    differ = main_job.reproduces(committed, again)
    assert len(differ) == 1 and differ[0].startswith("mel_db.model.mean: ")


def test_recording_refuses_a_benchmark_without_a_tolerance(tmp_path):
    with pytest.raises(SystemExit):
        record_reproduction.main(["--benchmark", "vits_check", "--new", str(tmp_path / "x")])


def _rehearsal_size(n: int, stage3_wall: float, training: float, stage5_cpu: float) -> dict:
    def stage(name, seconds, cpu):
        return {"name": name, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_bytes": 1e9,
                "after": {"data": {"files": 1, "bytes": 1}}}
    return {"stages": {"3": stage("forward-sum aligner", stage3_wall, 2 * stage3_wall),
                       "5": stage("statistics", stage5_cpu, stage5_cpu)},
            "aligner_training": {"training_seconds": training, "steps": 2000,
                                 "seconds_per_step": training / 2000, "config_steps": 2000,
                                 "config_training_hours": training / 3600},
            "corpus": {"hours": n / 550, "mean_seconds": 6.6, "min_seconds": 1.1,
                       "max_seconds": 10.1},
            "ljspeech": {"utterances": 13100, "hours": 23.9, "mean_seconds": 6.57,
                         "min_seconds": 1.11, "max_seconds": 10.1},
            "nj": 2, "measured": {"date": "2026-12-06", "commit": AFTER}}


def test_the_rehearsal_growth_leaves_out_the_aligners_fixed_training():
    """A stage linear in the corpus reads 1.00, the aligner's stage too when only its
    training (a fixed number of steps) did not grow; a stage that grew 10x faster reads 10."""
    data = {"sizes": {"1310": _rehearsal_size(1310, 100 + 900, 900, 60),
                      "13100": _rehearsal_size(13100, 1000 + 900, 900, 6000)}}
    rows = {line.split("|")[1].strip(): line.rstrip(" |").rsplit("|", 1)[1].strip()
            for line in full_size_rehearsal.table(data) if line.startswith("| 3 ")
            or line.startswith("| 5 ")}
    assert rows == {"3 forward-sum aligner": "1.00", "5 statistics": "10.00"}


def _copies(tmp_path):
    readme, recipe = tmp_path / "README.md", tmp_path / "recipe_README.md"
    readme.write_text("# x\n\n<!-- headline:begin -->\nold\n<!-- headline:end -->\n\nrest\n")
    shutil.copyfile(write_results_page.RECIPE_README, recipe)
    return ["--page", str(tmp_path / "results.md"), "--readme", str(readme),
            "--recipe_readme", str(recipe)], readme, recipe


def test_the_page_has_every_result_and_the_readmes_their_blocks(tmp_path):
    args, readme, recipe = _copies(tmp_path)
    write_results_page.main(args)
    page = (tmp_path / "results.md").read_text()
    for benchmark in write_results_page.BENCHMARKS:
        for result, heading in benchmark.RESULT_FILES.items():
            assert f"## {heading}\n" in page
            assert f"`benchmarks/results/{result}`" in page
    # no GPU results are committed: their tables say so
    assert page.count("run `benchmarks/gpu_check.sh` on a machine with a CUDA GPU") == 4
    assert "](../benchmarks/results/main_job_mels.png)" in page
    headline = readme.read_text().split("<!-- headline:begin -->")[1]
    assert "`benchmarks/results/main_job.json`" in headline and "rest" in readme.read_text()
    assert "`benchmarks/results/step_overhead.json`" in headline
    mini = recipe.read_text().split("<!-- mini:begin -->")[1].split("<!-- mini:end -->")[0]
    assert "### Main job" in mini and "](../../../benchmarks/results/main_job_mels.png)" in mini


def test_missing_markers_stop_the_generator_before_it_writes(tmp_path):
    args, readme, _ = _copies(tmp_path)
    readme.write_text("# a README without the block\n")
    with pytest.raises(SystemExit, match="README.md has no <!-- headline:begin --> ... "
                                         "<!-- headline:end --> block"):
        write_results_page.main(args)
    assert not (tmp_path / "results.md").exists()


def test_gpu_check_results_have_their_tables(tmp_path):
    epochs = {**json.loads((RESULTS / "vits_check.json").read_text()),  # its provenance
              "device": "cuda", "size": "paper", "amp": False, "steps_per_epoch": 20,
              "schedule": {"0": 50, "1": 25, "2": 0}, "ok": True,
              "epochs": [{"epoch": 1, "sparsity": 50, "pruned_entries": 10,
                          "nonzero_pruned_weights": 0, "nonzero_pruned_moments": 0},
                         {"epoch": 3, "sparsity": 0, "regrown_at_initial_values": True,
                          "regrown_entries_moved": 10}]}
    steps = {**json.loads((RESULTS / "step_overhead.json").read_text()), "device": "cuda"}
    (tmp_path / "gpu").mkdir()
    (tmp_path / "gpu" / "cuda_sniper_epochs.json").write_text(json.dumps(epochs))
    (tmp_path / "gpu" / "step_overhead_cuda.json").write_text(json.dumps(steps))
    lines = write_results_page.section(cuda_sniper_epochs, "gpu/cuda_sniper_epochs.json", [],
                                       tmp_path)
    assert "| 3 | 0 | - | - | - | True | 10 |" in lines and any("**passed**" in x for x in lines)
    lines = write_results_page.section(step_overhead, "gpu/step_overhead_cuda.json", [], tmp_path)
    assert any(line.startswith("On cuda,") for line in lines)
    assert any("CUDA's allocator peak" in line for line in lines)


def test_a_change_to_the_recipe_code_alone_leaves_the_library_benchmarks_fresh():
    # f47776c changed only the ASR judge (espnet_sniper/recipe/evaluation/asr_judge.py, its
    # config and the recipe README); 0ee4024 is its parent. 097b228 changed the paired
    # statistics (recipe/evaluation/statistics.py), which the step timings use.
    judge_change, parent = "f47776c", "0ee4024"
    assert judge_change in staleness.changes_since(parent, main_job.INPUTS)
    for library_only in (ddp_exit, vits_check, step_overhead):
        assert judge_change not in staleness.changes_since(parent, library_only.INPUTS)
    statistics_change, parent = "097b228", "8d4fce1"
    assert statistics_change in staleness.changes_since(parent, step_overhead.INPUTS)
    assert statistics_change not in staleness.changes_since(parent, ddp_exit.INPUTS)
