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
properties are not mutated by it. Those, and the kinds of wrong line mutmut does not write
(a tensor's rank assumed, a nested name matched as a prefix, only the first group or
schedule step used, a fault handled once), are measured by the committed hand-written
mutants of ``benchmarks/hand_mutants.py``: each (module, original line, replacement) is
applied alone in a scratch copy and the fast tests run against it with ``-x``; every one
must be killed. ``--hand_only`` runs just those (a few minutes), ``--no_hand`` skips them.

The tests are the in-process unit tests (FAST_TESTS), never the CLI, recipe or DDP tests
that start training processes. Each module is run on its own, in a scratch copy of the
package, its tests, ``conf/`` and ``pytest.ini`` under ``--work_dir`` (where the
``[tool.mutmut]`` config and ``mutants/`` live; nothing is written into the checkout but
the result), and the result file is rewritten after each module, so an interrupted run
leaves the modules it finished. Modules not run this time keep their earlier entry.

    .venv/bin/python -m benchmarks.mutation_score                        # every module
    .venv/bin/python -m benchmarks.mutation_score --hand_only            # hand-written only
    .venv/bin/python -m benchmarks.mutation_score --modules schedule.py config.py
    nohup .venv/bin/python -m benchmarks.mutation_score > /tmp/mutmut.log 2>&1 &

A benchmark, not CI: the six first modules took about 12 minutes with two children on
two cores; all of them take longer.

Writes benchmarks/results/mutation_score.json: per module the counts, the score, the
seconds it took and each surviving mutant (its name and a diff), and the total.
"""

import argparse
import importlib.metadata
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from benchmarks.core.prose_mutants import prose_mutants
from benchmarks.core.results import REPO, RESULTS, commit, provenance, write_result
from benchmarks.hand_mutants import MUTANTS as HAND_MUTANTS
from benchmarks.reviewed_survivors import REVIEWED

# every module of the library (the recipe subpackage is not the library; __init__ is empty;
# testing.py is the tests' own tiny data and two-rank runs, which only the CLI tests use:
# mutmut stops on a module no fast test reaches)
MODULES = tuple(sorted(p.name for p in (REPO / "espnet_sniper").glob("*.py")
                       if p.name not in ("__init__.py", "testing.py")))
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
    "test/unit/test_lifecycle.py",
    "test/unit/test_ranking_keys.py",
    "test/unit/test_registry.py",
    "test/unit/test_run_lock.py",
    "test/unit/test_edges.py",
    "test/unit/test_kept_variance.py",
    "test/unit/test_step_plan.py",
    "test/unit/test_checkpoint_recovery.py",
    "test/unit/test_trainer_glue.py",
    "test/unit/test_trainer_run.py",
)
# the mutated modules and the tests that must notice
INPUTS = (*(f"espnet_sniper/{m}" for m in MODULES), *FAST_TESTS, "test/conftest.py",
          "benchmarks/mutation_score.py", "benchmarks/hand_mutants.py",
          "benchmarks/reviewed_survivors.py")
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


def fresh_copy(root: Path) -> Path:
    """``root`` emptied, then the package, the tests, conf/ and pytest.ini copied into it."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore, symlinks=True)
        else:
            shutil.copy2(source, root / name)
    return root


def scratch_copy(work: Path, module: str, tests: Sequence[str]) -> Path:
    """``work/<module>``: the package, the tests, conf/ and pytest.ini, and the config."""
    root = fresh_copy(work / Path(module).stem)
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


# Survivors no fast test can see, and why: the fast tests run in one process on the CPU
UNSEEN = {
    "device": "a device argument dropped or set to None: on the CPU, where the fast tests "
              "run, that is the same device (on a GPU the tensors would land on the CPU)",
    "ddp": "what only a distributed run does (rank agreement, the DDP audit): the two-rank "
           "CLI tests run it, not the fast tests",
    "cap_default": "a sparsity cap's default raised from 100 to 101 %: no tensor can lose "
                   "more than all its entries, so both cap nothing (equivalent)",
    "encoding": "a text file's encoding spelled otherwise or left to the locale, which is "
                "UTF-8 on the machines that run the tests",
    "size": "a limit at 2^31 or 2^32 prunable entries: reaching it takes 8 GiB of weights",
    "mmap": "torch.load's mmap: how a checkpoint is read, not what is read",
}
# (key, where it shows: "+" an added line matches, "-" a removed one, "dropped" the text is
# in a removed line and in no added one); the first that matches names the survivor's reason
PATTERNS = (
    ("cap_default", "+", r"float = 101\.0"),
    ("encoding", "dropped", r'"utf-8"'),
    ("size", "+", r"2\*\*3[123]|3\*\*3[12]"),
    ("mmap", "dropped", r"mmap=True"),
    ("device", "+", r"\.to\(None|device=None|map_location=None|\.to\(p\.dtype\)"),
    ("device", "dropped", r"device"),
    ("ddp", "-", r"distributed|check_ranks_agree|_audit"),
)


def unseen_because(diff: str) -> Optional[str]:
    """The UNSEEN key of a survivor's diff, or None (a survivor to read)."""
    lines = diff.splitlines()
    removed = [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    for key, where, pattern in PATTERNS:
        in_removed = any(re.search(pattern, line) for line in removed)
        in_added = any(re.search(pattern, line) for line in added)
        if {"+": in_added, "-": in_removed, "dropped": in_removed and not in_added}[where]:
            return key
    return None


def explained(name: str, diff: str) -> Dict[str, str]:
    """Why a survivor is harmless: a pattern's reason (UNSEEN), else a person's
    (reviewed_survivors.py), else nothing: a survivor to read."""
    if why := unseen_because(diff):
        return {"unseen_because": why}
    return {"harmless_because": REVIEWED[name]} if name in REVIEWED else {}


def summarize(codes: Dict[str, Optional[int]], prose: Sequence[str] = ()) -> Dict:
    """Counts per category; prose mutants (prose_mutants.py) apart, out of the score."""
    counts = {"killed": 0, "survived": 0, "timeout": 0, "no_tests": 0, "other": 0, "prose": 0}
    for name, code in codes.items():
        counts["prose" if name in prose else CATEGORY.get(code, "other")] += 1
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
    prose = prose_mutants(root / "mutants" / "espnet_sniper" / module,
                          f"espnet_sniper.{Path(module).stem}")
    survivors = sorted(n for n, c in codes.items()
                       if CATEGORY.get(c) == "survived" and n not in prose)
    others = sorted(n for n, c in codes.items() if CATEGORY.get(c, "other") == "other")
    shown = diffs(root, survivors)
    return {
        "counts": summarize(codes, prose),
        # a reworded help text, log line or message: which of them the tests noticed
        "prose_survived": sorted(n for n in prose if CATEGORY.get(codes.get(n)) == "survived"),
        "seconds": round(seconds, 1),
        "tested_at": commit(),
        "survivors": [{"name": n, "diff": short(shown[n]), **explained(n, shown[n])}
                      for n in survivors],
        "no_tests": sorted(n for n, c in codes.items()
                           if CATEGORY.get(c) == "no_tests" and n not in prose),
        "other": {n: codes[n] for n in others},
    }


def mutated(text: str, original: str, replacement: str, where: str) -> str:
    """``text`` with the one line (or lines) ``original`` replaced, indentation kept."""
    if text.count(original) != 1:
        raise ValueError(f"{where}: {original!r} occurs {text.count(original)} times, not once")
    return text.replace(original, replacement)


def _pytest(root: Path, tests: Sequence[str], timeout: float) -> Optional[int]:
    """Exit code of the fast tests in ``root`` (stopping at the first failure); None on
    a timeout. ``python -m`` puts ``root`` first on sys.path, so its package is tested."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
             "--hypothesis-seed=0", *tests],
            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout,
            env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1"),
        ).returncode
    except subprocess.TimeoutExpired:
        return None


def run_hand_mutants(work: Path, tests: Sequence[str]) -> Dict:
    """Each of ``HAND_MUTANTS`` alone, in a scratch copy, against ``tests``."""
    root = fresh_copy(work / "hand_mutants")
    where = subprocess.run(
        [sys.executable, "-c", "import espnet_sniper; print(espnet_sniper.__file__)"],
        cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(where).resolve().is_relative_to(root.resolve()):
        raise RuntimeError(f"the scratch copy imports espnet_sniper from {where}")
    start = time.perf_counter()
    if _pytest(root, tests, timeout=600) != 0:
        raise RuntimeError(f"the fast tests fail on the unmutated copy in {root}")
    clean = time.perf_counter() - start
    logging.info(f"hand-written mutants: clean run {clean:.0f} s, {len(HAND_MUTANTS)} mutants")
    by_module: Dict[str, Dict] = defaultdict(lambda: {"killed": 0, "survived": 0, "timeout": 0,
                                                      "survivors": []})
    start = time.perf_counter()
    for module, original, replacement, why in HAND_MUTANTS:
        path = root / "espnet_sniper" / module
        text = path.read_text()
        # the edge tests (written against these mutants) and the module's own first: -x
        # then stops early for most kills
        own = [t for stem in ("test_edges", f"test_{Path(module).stem}") for t in tests
               if Path(t).stem == stem]
        ordered = [*own, *(t for t in tests if t not in own)]
        try:
            path.write_text(mutated(text, original, replacement, module))
            code = _pytest(root, ordered, timeout=3 * clean + 60)
        finally:
            path.write_text(text)
        entry = by_module[module]
        status = "timeout" if code is None else "survived" if code == 0 else "killed"
        entry[status] += 1
        if status == "survived":
            entry["survivors"].append({"original": original, "replacement": replacement,
                                       "breaks": why})
        logging.info(f"{status:8s} {module}: {why}")
    modules = {}
    for module in sorted(by_module):
        entry = by_module[module]
        tested = entry["killed"] + entry["survived"] + entry["timeout"]
        modules[module] = {**entry, "mutants": tested, "score": round(entry["killed"] / tested, 4)}
    killed = sum(m["killed"] for m in modules.values())
    return {"modules": modules, "mutants": len(HAND_MUTANTS), "killed": killed,
            "score": round(killed / len(HAND_MUTANTS), 4),
            "seconds": round(time.perf_counter() - start, 1),
            "clean_run_seconds": round(clean, 1), "tested_at": commit()}


def total(modules: Dict[str, Dict]) -> Dict:
    keys = ("mutants", "killed", "survived", "timeout", "no_tests", "other", "prose")
    sums = {k: sum(m["counts"].get(k, 0) for m in modules.values()) for k in keys}
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
    parser.add_argument("--hand_only", action="store_true",
                        help="run only the hand-written mutants (benchmarks/hand_mutants.py)")
    parser.add_argument("--no_hand", action="store_true",
                        help="skip the hand-written mutants")
    parser.add_argument("--fresh", action="store_true",
                        help="drop the earlier entries of modules not run this time")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
    unknown = [m for m in args.modules if not (REPO / "espnet_sniper" / m).is_file()]
    if unknown:
        parser.error(f"no such module under espnet_sniper/: {unknown}")
    if args.work_dir.resolve().is_relative_to(REPO):
        parser.error("--work_dir must be outside the checkout")

    previous, hand = {}, None
    if args.out.exists() and not args.fresh:
        earlier = json.loads(args.out.read_text())
        previous, hand = earlier.get("modules", {}), earlier.get("hand_mutants")
    if not args.no_hand:
        hand = run_hand_mutants(args.work_dir, args.tests)
        logging.info(f"hand-written mutants: {hand['killed']}/{hand['mutants']} killed")
    modules: Dict[str, Dict] = dict(previous)
    result = {}
    if args.hand_only:
        args.modules = []
        if args.out.exists():
            result = {**json.loads(args.out.read_text()), "hand_mutants": hand}
            write_result(args.out, result, indent=2)
        else:
            print(json.dumps(hand, indent=1))
        return
    ensure_mutmut()
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
            "score": "killed / (killed + survived + timeout); no_tests, other and prose (a "
                     "help text, log line or message reworded: benchmarks/core/prose_mutants.py) "
                     "are left out",
            "not_mutated": "decorated functions (torch.no_grad hooks, properties)",
            "modules": {m: modules[m] for m in sorted(modules)},
            "total": total(modules),
            "hand_mutants": hand,
        }
        write_result(args.out, result, indent=2)
    print(json.dumps(result["total"], indent=1))


def reproduces(committed: Dict, new: Dict) -> List[str]:
    old, now = committed["total"]["score"], new["total"]["score"]
    problems = [] if now >= old else [f"total.score: {now} < {old}"]
    hand = new.get("hand_mutants")
    if hand and hand["killed"] < hand["mutants"]:
        problems.append(f"hand_mutants: {hand['mutants'] - hand['killed']} of "
                        f"{hand['mutants']} survive")
    return problems


def table(data: Dict) -> List[str]:
    t = data["total"]
    lines = [
        f"{data['tool']} mutates each function of the library's modules (an operator, a "
        f"constant, a comparison, an argument dropped) and runs the fast unit tests that reach "
        f"it ({', '.join(f'`{test}`' for test in data['tests'])}); a mutant is killed when a "
        f"test fails. Score = killed / (killed + survived + timeout). A mutant that only "
        f"rewords a help text, a log line or a message (mutmut's XX-wrapped, upper- and "
        f"lower-cased strings there: `benchmarks/core/prose_mutants.py`) is counted apart as "
        f"prose and left out. Decorated functions (the controller's `@torch.no_grad()` hooks) "
        f"are not mutated by mutmut 3: the hand-written mutants below reach them. "
        f"**{100 * t['score']:.1f} % killed** over {len(data['modules'])} modules (goal: 90 %).",
        "",
        "| module | mutants | killed | survived | timeout | no test reached | prose | score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, module in sorted(data["modules"].items()):
        c = module["counts"]
        score = f"{100 * c['score']:.1f} %" if c["score"] is not None else "-"
        lines.append(f"| `{name}` | {c['mutants']} | {c['killed']} | {c['survived']} | "
                     f"{c['timeout']} | {c['no_tests']} | {c.get('prose', 0)} | {score} |")
    lines.append(f"| all | {t['mutants']} | {t['killed']} | {t['survived']} | "
                 f"{t['timeout']} | {t['no_tests']} | {t.get('prose', 0)} | "
                 f"{100 * t['score']:.1f} % |")
    hand = data.get("hand_mutants")
    if hand:
        lines += [
            "",
            f"Hand-written mutants (`benchmarks/hand_mutants.py`: a tensor's rank assumed, a "
            f"nested name matched as a prefix, one group or step taken for all, a fault "
            f"handled once; the decorated hooks included): **{hand['killed']} of "
            f"{hand['mutants']} killed**.",
            "",
            "| module | mutants | killed | survived | timeout |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, module in sorted(hand["modules"].items()):
            lines.append(f"| `{name}` | {module['mutants']} | {module['killed']} | "
                         f"{module['survived']} | {module['timeout']} |")
    survivors = [s for module in data["modules"].values() for s in module.get("survivors", [])]
    unseen = sum("unseen_because" in s for s in survivors)
    reviewed = sum("harmless_because" in s for s in survivors)
    return lines + [
        "", f"Of the {len(survivors)} survivors, {unseen} change what no fast test can see "
        f"(a pattern names why: a device, DDP, an encoding, a size of 2^31 entries, mmap, an "
        f"equivalent cap default), {reviewed} were read and are harmless (each with its "
        f"reason, `benchmarks/reviewed_survivors.py`: a log line's or message's words, an "
        f"equivalent default, a value overwritten before use, what only the slow CLI tests "
        f"reach) and {len(survivors) - unseen - reviewed} are still to read. Each, with its "
        f"diff and reason: `benchmarks/results/mutation_score.json`."]

if __name__ == "__main__":
    main()
