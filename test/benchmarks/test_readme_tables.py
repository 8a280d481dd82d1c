"""The README generator's verdicts: goals met only by the whole spread, and results marked
stale when the code they measure changed after them (this repository's own history)."""

import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import make_readme_tables as tables  # noqa: E402

# 0b9b5ca changed espnet_sniper/masks.py; 26b1fa0 came before it, 2804079 after it
BEFORE, CHANGE, AFTER = "26b1fa0", "0b9b5ca", "2804079"


@pytest.mark.parametrize("value, spread, verdict", [
    (0.98, (0.95, 0.99), "met"),
    (0.98, (0.95, 1.04), "median met, spread crosses"),
    (0.98, (), "met, one measurement"),
    (1.01, (0.97, 1.03), "missed"),
])
def test_a_goal_is_met_only_by_the_whole_spread(value, spread, verdict):
    assert tables._verdict_on_goal(value, 1.0, spread) == verdict


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_a_result_before_a_change_to_its_code_is_stale_and_one_after_it_is_not(monkeypatch):
    monkeypatch.setattr(tables, "reproductions", lambda: [])
    assert CHANGE in tables.changes_since(BEFORE, "vits_check.py")
    assert CHANGE not in tables.changes_since(AFTER, "vits_check.py")
    note = tables.stale_note([BEFORE], "vits_check.py")
    assert "**Stale**" in note and BEFORE in note and "benchmarks/vits_check.py" in note
    assert tables.stale_note([_head()], "vits_check.py") == ""
    assert tables.stale_note([_head() + "+dirty"], "vits_check.py") == ""
    # a grid with runs on both sides names only the old ones
    note = tables.stale_note([BEFORE, _head()], "training_quality.py")
    assert f"measured on {BEFORE}," in note and _head() not in note.split("before")[0]


def test_an_identical_reproduction_after_the_change_clears_it(monkeypatch):
    head = _head()
    changes = tables.changes_since(BEFORE, "vits_check.py")
    ledger = [{"benchmark": "vits_check.py", "run": "x_seed0", "original_commit": BEFORE,
               "reproduced_at": head, "identical": True}]
    monkeypatch.setattr(tables, "reproductions", lambda: ledger)
    note = tables.stale_note([BEFORE], "vits_check.py")
    assert "**Stale**" not in note and "reproduced identically" in note
    assert f"the {len(changes)} later commit(s)" in note
    # not when it differed, nor when it was made for another benchmark
    for changed in ({"identical": False}, {"benchmark": "step_overhead.py"}):
        monkeypatch.setattr(tables, "reproductions", lambda: [{**ledger[0], **changed}])
        assert "**Stale**" in tables.stale_note([BEFORE], "vits_check.py")


def test_a_change_to_the_gan_trainer_alone_stales_gan_results_not_fastspeech2_ones():
    # d1dc5e7 touched espnet_sniper/gan_trainer.py and no other package file; e231fe7 is
    # its parent
    gan_change, parent = "d1dc5e7", "e231fe7"
    assert gan_change in tables.changes_since(parent, "vits_check.py")
    assert gan_change in tables.changes_since(parent, "masks_report.py")  # it reports JETS
    for fastspeech2_only in ("main_job.py", "training_quality.py", "masks_early_grid.py",
                             "scoring_cost.py"):
        assert gan_change not in tables.changes_since(parent, fastspeech2_only)


def test_a_step_cost_row_is_stale_only_when_its_own_config_or_the_code_changed():
    # b80ee3e changed conf/mini/train_sniper.yaml (and no package file); ff325a8 is its
    # parent
    config_change, parent = "b80ee3e", "ff325a8"
    assert config_change in tables.changes_since(parent, "step_overhead.py:mini")
    for row in ("paper", "jets"):
        assert config_change not in tables.changes_since(parent, f"step_overhead.py:{row}")
    assert config_change not in tables.changes_since(parent, "step_overhead.py")
    # a package change reaches every row through the table's own check
    assert CHANGE in tables.changes_since(BEFORE, "step_overhead.py")


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
    machine = {"device": "cpu", "cpus": 2}
    data = {"date": "2026-12-06", "commit": AFTER, "machine": machine,
            "versions": {"torch": "2.9.1", "espnet": "202511"},
            "sizes": {"1310": _rehearsal_size(1310, 100 + 900, 900, 60),
                      "13100": _rehearsal_size(13100, 1000 + 900, 900, 6000)}}
    rows = {line.split("|")[1].strip(): line.rstrip(" |").rsplit("|", 1)[1].strip()
            for line in tables.full_size_rehearsal_table(data) if line.startswith("| 3 ")
            or line.startswith("| 5 ")}
    assert rows == {"3 forward-sum aligner": "1.00", "5 statistics": "10.00"}
