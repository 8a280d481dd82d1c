#!/usr/bin/env python3
"""How many deliberately broken versions of the core modules the fast unit tests notice.

mutmut 3 (pinned in tools/mutation-requirements.lock, installed into the venv with
``--no-deps`` when missing) rewrites each function of a module in many small ways (an
operator, a constant, a comparison, an argument dropped...) and runs, for each such
mutant, the fast unit tests that reach that function. A mutant is *killed* when a test
fails, *survives* when all pass, *times out* when they run far longer than the clean run,
and has *no tests* when no fast test reaches its function. Per module:

    score = killed / (killed + survived + timeout)

mutmut 3 leaves decorated functions alone (but for classmethods and staticmethods): the
controller's ``@torch.no_grad()`` hooks (``mask_gradients``, ``_on_grad``,
``_before_optimizer_step``, ``_after_optimizer_step``), ``snip._add_gradients`` and the
properties are not mutated, so not measured here.

The tests are the in-process unit tests (FAST_TESTS), never the CLI, recipe or DDP tests
that start training processes. Each module is run on its own, in a scratch copy of the
package, its tests, ``conf/`` and ``pytest.ini`` under ``--work_dir`` (where the
``[tool.mutmut]`` config and ``mutants/`` live; nothing is written into the checkout but
the result), and the result file is rewritten after each module, so an interrupted run
leaves the modules it finished. Modules not run this time keep their earlier entry.

    .venv/bin/python -m benchmarks.mutation_score                        # the six modules
    .venv/bin/python -m benchmarks.mutation_score --modules schedule.py config.py
    nohup .venv/bin/python -m benchmarks.mutation_score > /tmp/mutmut.log 2>&1 &

A benchmark, not CI: the six modules take about 12 minutes with two children on two cores.

Writes benchmarks/results/mutation_score.json: per module the counts, the score, the
seconds it took and each surviving mutant (its name and a diff), and the total.
"""

import argparse
import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from benchmarks.core.results import REPO, RESULTS, commit, provenance, write_result

MODULES = ("masks.py", "schedule.py", "config.py", "controller.py", "snip.py", "state.py")
# In-process and a few seconds in all (test_distributed.py starts gloo processes; the CLI
# and recipe tests train in subprocesses: none of them is here).
FAST_TESTS = (
    "test/unit/test_masks.py",
    "test/unit/test_allocation.py",
    "test/unit/test_schedule.py",
    "test/unit/test_config.py",
    "test/unit/test_shipped_configs.py",
    "test/unit/test_snip.py",
    "test/unit/test_state.py",
    "test/unit/test_optimizer_step.py",
    "test/unit/test_gan_optimizer_step.py",
)
# the mutated modules and the tests that must notice
INPUTS = (*(f"espnet_sniper/{m}" for m in MODULES), *FAST_TESTS, "test/conftest.py",
          "benchmarks/mutation_score.py")
RESULT_FILES = {"mutation_score.json": "Test strength"}
TOLERANCE = "with a total score no lower"
MUTMUT_VERSION = "3.8.1"
LOCK = REPO / "tools" / "mutation-requirements.lock"
# what the scratch copy needs besides the package (test/ is copied by mutmut itself)
COPIED = ("espnet_sniper", "test", "conf", "pytest.ini")
# mutmut's exit code of a mutant's test run -> our category (mutmut.stats.status_by_exit_code)
CATEGORY = {1: "killed", 3: "killed", 0: "survived", 36: "timeout", 24: "timeout",
            -24: "timeout", 152: "timeout", 255: "timeout", 33: "no_tests", 5: "no_tests"}


def ensure_mutmut() -> None:
    """Install the lock into this interpreter's environment when mutmut is missing."""
    try:
        version = importlib.metadata.version("mutmut")
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version == MUTMUT_VERSION:
        return
    logging.info(f"mutmut {version or 'missing'}: installing {LOCK.name} (--no-deps)")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-r", str(LOCK)],
                   check=True)


def mutmut_config(module: str, tests: Sequence[str]) -> str:
    """``[tool.mutmut]`` of a scratch copy that mutates ``espnet_sniper/<module>`` only."""
    def toml_list(items: Sequence[str]) -> str:
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"

    return "\n".join([
        "[tool.mutmut]",
        'source_paths = ["espnet_sniper"]',
        f'only_mutate = ["espnet_sniper/{module}"]',
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}",
        # the same examples of the property tests for every mutant and the clean run
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "--hypothesis-seed=0"]',
        'also_copy = ["conf", "pytest.ini"]',
        "use_git_change_detection = false",
        "",
    ])


def scratch_copy(work: Path, module: str, tests: Sequence[str]) -> Path:
    """``work/<module>``: the package, the tests, conf/ and pytest.ini, and the config."""
    root = work / Path(module).stem
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore, symlinks=True)
        else:
            shutil.copy2(source, root / name)
    (root / "pyproject.toml").write_text(mutmut_config(module, tests))
    return root


def read_results(root: Path, module: str) -> Dict[str, int]:
    """mutant name -> exit code of its test run, from mutmut's own record."""
    meta = root / "mutants" / "espnet_sniper" / f"{module}.meta"
    return json.loads(meta.read_text())["exit_code_by_key"]


def diffs(root: Path, names: Sequence[str]) -> Dict[str, str]:
    """``mutmut show``'s diff of each mutant, in one process."""
    if not names:
        return {}
    script = (
        "import json, sys\n"
        "from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant\n"
        "out = {n: get_diff_for_mutant(n, path=find_mutant(n).path) for n in sys.argv[1:]}\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *names], cwd=root,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def short(diff: str, lines: int = 12) -> str:
    """The changed lines of a diff and little else."""
    kept = [line for line in diff.splitlines()
            if line.startswith(("-", "+", "@@")) and not line.startswith(("---", "+++"))]
    return "\n".join(kept[:lines])


def summarize(codes: Dict[str, Optional[int]]) -> Dict:
    counts = {"killed": 0, "survived": 0, "timeout": 0, "no_tests": 0, "other": 0}
    for code in codes.values():
        counts[CATEGORY.get(code, "other")] += 1
    tested = counts["killed"] + counts["survived"] + counts["timeout"]
    return {"mutants": len(codes), **counts,
            "score": round(counts["killed"] / tested, 4) if tested else None}


def run_module(work: Path, module: str, tests: Sequence[str], max_children: int) -> Dict:
    root = scratch_copy(work, module, tests)
    log = root / "mutmut.log"
    logging.info(f"{module}: mutmut run in {root} (log {log})")
    start = time.perf_counter()
    with open(log, "w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)],
            cwd=root, stdout=out, stderr=subprocess.STDOUT,
            env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1"))
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"mutmut run on {module} exited {done.returncode}:\n{tail}")
    codes = read_results(root, module)
    survivors = sorted(n for n, c in codes.items() if CATEGORY.get(c) == "survived")
    others = sorted(n for n, c in codes.items() if CATEGORY.get(c, "other") == "other")
    shown = diffs(root, survivors)
    return {
        "counts": summarize(codes),
        "seconds": round(seconds, 1),
        "tested_at": commit(),
        "survivors": [{"name": n, "diff": short(shown[n])} for n in survivors],
        "no_tests": sorted(n for n, c in codes.items() if CATEGORY.get(c) == "no_tests"),
        "other": {n: codes[n] for n in others},
    }


def total(modules: Dict[str, Dict]) -> Dict:
    keys = ("mutants", "killed", "survived", "timeout", "no_tests", "other")
    sums = {k: sum(m["counts"][k] for m in modules.values()) for k in keys}
    tested = sums["killed"] + sums["survived"] + sums["timeout"]
    return {**sums, "score": round(sums["killed"] / tested, 4) if tested else None,
            "seconds": round(sum(m["seconds"] for m in modules.values()), 1)}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", nargs="+", default=list(MODULES),
                        help="files of espnet_sniper/ to mutate, each run on its own")
    parser.add_argument("--tests", nargs="+", default=list(FAST_TESTS),
                        help="the test files each mutant is tried against")
    parser.add_argument("--max_children", type=int, default=2,
                        help="mutants tested at once (the machine has two cores)")
    parser.add_argument("--work_dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "espnet_sniper_mutation",
                        help="scratch copies and mutmut's mutants/ go here")
    parser.add_argument("--out", type=Path, default=RESULTS / "mutation_score.json")
    parser.add_argument("--fresh", action="store_true",
                        help="drop the earlier entries of modules not run this time")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
    unknown = [m for m in args.modules if not (REPO / "espnet_sniper" / m).is_file()]
    if unknown:
        parser.error(f"no such module under espnet_sniper/: {unknown}")
    if args.work_dir.resolve().is_relative_to(REPO):
        parser.error("--work_dir must be outside the checkout")

    ensure_mutmut()
    previous = {}
    if args.out.exists() and not args.fresh:
        previous = json.loads(args.out.read_text()).get("modules", {})
    modules: Dict[str, Dict] = dict(previous)
    for module in args.modules:
        entry = run_module(args.work_dir, module, args.tests, args.max_children)
        modules[module] = entry
        logging.info(f"{module}: {entry['counts']} score {entry['counts']['score']} "
                     f"in {entry['seconds']:.0f} s")
        result = {
            **provenance("mutation_score"),
            "tool": f"mutmut {MUTMUT_VERSION}",
            "tests": list(args.tests),
            "max_children": args.max_children,
            "score": "killed / (killed + survived + timeout); no_tests and other are left out",
            "not_mutated": "decorated functions (torch.no_grad hooks, properties)",
            "modules": {m: modules[m] for m in sorted(modules)},
            "total": total(modules),
        }
        write_result(args.out, result, indent=2)
    print(json.dumps(result["total"], indent=1))


def reproduces(committed: Dict, new: Dict) -> List[str]:
    old, now = committed["total"]["score"], new["total"]["score"]
    return [] if now >= old else [f"total.score: {now} < {old}"]


def table(data: Dict) -> List[str]:
    t = data["total"]
    lines = [
        f"{data['tool']} mutates each function of the core modules (an operator, a constant, "
        f"a comparison, an argument dropped) and runs the fast unit tests that reach it "
        f"({', '.join(f'`{test}`' for test in data['tests'])}); a mutant is killed when a "
        f"test fails. Score = killed / (killed + survived + timeout). Decorated functions "
        f"(the controller's `@torch.no_grad()` hooks) are not mutated by mutmut 3, so not "
        f"measured. **{100 * t['score']:.1f} % killed** over the six modules (goal: 90 %).",
        "",
        "| module | mutants | killed | survived | timeout | no test reached | score |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, module in sorted(data["modules"].items()):
        c = module["counts"]
        lines.append(f"| `{name}` | {c['mutants']} | {c['killed']} | {c['survived']} | "
                     f"{c['timeout']} | {c['no_tests']} | {100 * c['score']:.1f} % |")
    lines.append(f"| all | {t['mutants']} | {t['killed']} | {t['survived']} | "
                 f"{t['timeout']} | {t['no_tests']} | {100 * t['score']:.1f} % |")
    return lines + ["", "The survivors, each with its diff: "
                    "`benchmarks/results/mutation_score.json`."]


if __name__ == "__main__":
    main()
