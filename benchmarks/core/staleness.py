"""Whether a result still describes the code that ships.

Each benchmark declares the inputs it measures (``INPUTS``: git pathspecs of the library
modules, configs, recipe files, corpus generator and tests it runs). A result is stale when
a commit after the one it was measured at changed one of them, unless the reproduction
ledger (``benchmarks/core/reproductions.py``) shows that change left its numbers as they
were: a run measured before the change that was made again after it and matched.
"""

import subprocess
from functools import lru_cache
from typing import Dict, List, Sequence, Tuple

from benchmarks.core.results import REPO

# shared groups of pathspecs, for the benchmarks' INPUTS
RECIPE_CODE = ("egs2/ljspeech/sniper_tts1/run.sh", "egs2/ljspeech/sniper_tts1/local",
               "espnet_sniper/recipe")
# the library without the recipe's own code (RECIPE_CODE): a change to the ASR judge or the
# samples page does not touch what a training benchmark measures. Listed, not excluded: an
# exclude pathspec would also drop espnet_sniper/recipe from a benchmark's RECIPE_CODE.
LIBRARY = (":(glob)espnet_sniper/*.py", "espnet_sniper/tasks", "espnet_sniper/bin")
# what only GAN TTS imports: the FastSpeech2-only benchmarks never run it
FASTSPEECH2_LIBRARY = (*LIBRARY, ":(exclude)espnet_sniper/gan_trainer.py",
                       ":(exclude)espnet_sniper/tasks/gan_tts.py",
                       ":(exclude)espnet_sniper/bin/gan_tts_train.py")
# the paired statistics, in the recipe's package, used by timing benchmarks too
STATISTICS = ("espnet_sniper/recipe/evaluation/statistics.py",)
MODEL_CONFIGS = ("conf", ":(exclude)conf/asr_judge.yaml")


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


@lru_cache(maxsize=None)
def changes_since(result_commit: str, inputs: Tuple[str, ...]) -> Tuple[str, ...]:
    """The commits after ``result_commit`` ('+dirty' ignored) that changed ``inputs``,
    newest first (none outside a git checkout)."""
    base = result_commit.split("+")[0]
    return tuple(_git("log", "--format=%h", f"{base}..HEAD", "--", *inputs).split())


@lru_cache(maxsize=None)
def contains(commit: str, change: str) -> bool:
    """Whether the code of ``commit`` ('+dirty' ignored) includes ``change``."""
    base = commit.split("+")[0]
    return subprocess.run(["git", "merge-base", "--is-ancestor", change, base], cwd=REPO,
                          capture_output=True).returncode == 0


def ledger_name(benchmark: str) -> str:
    """How the ledger names a benchmark: its script's file name."""
    return f"{benchmark}.py"


def excuse(change: str, benchmark: str, ledger: Sequence[Dict]) -> str:
    """The reproduction showing ``change`` left ``benchmark``'s numbers as they were: a
    result measured before it, made again after it, that matched under the benchmark's
    rule ('' when there is none)."""
    for entry in ledger:
        originals = entry.get("original_commits") or [entry["original_commit"]]
        if (entry["benchmark"] == ledger_name(benchmark)
                and entry.get("reproduced", entry["identical"])
                and any(not contains(o, change) for o in originals)
                and contains(entry["reproduced_at"], change)):
            return (f"{entry['run']} reproduced {entry.get('rule', 'identically')} at "
                    f"{entry['reproduced_at']}")
    return ""


def stale_note(commits: Sequence[str], benchmark: str, inputs: Tuple[str, ...],
               ledger: Sequence[Dict]) -> str:
    """'' when no change after ``commits`` (where the result was measured) touched
    ``inputs``; else a sentence: the changes are shown harmless by reproductions, or
    the result is **Stale** and which changes made it so."""
    changes = sorted({c for commit in commits for c in changes_since(commit, inputs)})
    if not changes:
        return ""
    evidence = {c: excuse(c, benchmark, ledger) for c in changes}
    open_changes: List[str] = [c for c in changes if not evidence[c]]
    if not open_changes:
        shown = sorted({e for e in evidence.values() if e})
        return (f"The {len(changes)} later commit(s) that changed what it measures leave its "
                f"numbers as they were: {'; '.join(shown)} (`benchmarks/core/reproductions.py`).")
    old = sorted({c for c in commits if any(not contains(c, x) for x in open_changes)})
    subject = _git("log", "-1", "--format=%s", open_changes[0])
    paths = ", ".join(p for p in inputs if not p.startswith(":"))
    listed = ", ".join(open_changes[:3]) + (f" and {len(open_changes) - 3} more"
                                            if len(open_changes) > 3 else "")
    return (f"**Stale**: measured on {', '.join(old)}, before {listed} (one of them: "
            f"\"{subject[:60]}\") changed what it measures ({paths}); rerun "
            f"`python -m benchmarks.{benchmark}`.")


def measured_at(benchmark, result: Dict) -> List[str]:
    """The commits ``result`` was measured at: the benchmark module's own ``measured_at``
    (results whose parts are measured apart), else its runs' commits or its own."""
    own = getattr(benchmark, "measured_at", None)
    return own(result) if own else result.get("run_commits") or [result["commit"]]


def result_note(benchmark, result: Dict, ledger: Sequence[Dict]) -> str:
    """``stale_note`` for a result of a benchmark module (its ``INPUTS``)."""
    name = benchmark.__name__.rsplit(".", 1)[-1]
    return stale_note(measured_at(benchmark, result), name, benchmark.INPUTS, ledger)
