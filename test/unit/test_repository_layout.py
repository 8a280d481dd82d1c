"""Code shared by the recipe, the tests and the benchmarks is installed (espnet_sniper,
espnet_sniper.recipe, espnet_sniper.testing), never reached through the import path: no
tracked Python or shell file inserts into ``sys.path`` or points ``PYTHONPATH`` into the
recipe's local/."""

import re
import subprocess

import pytest

from conftest import REPO

# sys.path.insert(...), sys.path.append(...), sys.path.extend(...), sys.path[...] = ...,
# sys.path += ..., sys.path = ...; pytest's monkeypatch.syspath_prepend(...) does the same
SYS_PATH = re.compile(r"\bsys\.path\s*(\.\s*(insert|append|extend)\s*\(|\[[^\]]*\]\s*=(?!=)"
                      r"|\+=|=(?!=))|\bsyspath_prepend\s*\(")
# PYTHONPATH=... or PYTHONPATH: ... (shell, env dicts) naming a local/ folder
PYTHONPATH_LOCAL = re.compile(r"PYTHONPATH\W.*(\blocal\b|/local/|\"local\")")
# this file's own patterns and their explanations
SELF = "test/unit/test_repository_layout.py"


def tracked_sources():
    listed = subprocess.run(["git", "ls-files", "-z", "--", "*.py", "*.sh"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    return [name for name in listed.split("\0") if name and name != SELF]


def path_insertions(text: str):
    """(line number, line) of every sys.path insertion and PYTHONPATH into local/."""
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)
            if SYS_PATH.search(line) or PYTHONPATH_LOCAL.search(line)]


@pytest.mark.parametrize("line", [
    "sys.path.insert(0, str(LOCAL))",
    "    sys.path.append('/x')",
    'sys.path[:0] = [str(LOCAL / "evaluation"), str(LOCAL)]',
    "sys.path += [here]",
    "monkeypatch.syspath_prepend(str(RECIPE / 'local'))",
    "export PYTHONPATH=${here}/local:${PYTHONPATH}",
    'env = dict(os.environ, PYTHONPATH=str(RECIPE / "local"))',
])
def test_the_check_sees_a_path_insertion(line):
    assert path_insertions(line)


@pytest.mark.parametrize("line", [
    "if own_path not in sys.path:",
    "print(sys.path[0])",
    "assert sys.path == before",
    "export PYTHONPATH=${root}${PYTHONPATH:+:${PYTHONPATH}}",
    'env = dict(os.environ, PYTHONPATH=str(REPO))',
])
def test_the_check_passes_what_only_reads_the_path(line):
    assert not path_insertions(line)


def test_no_tracked_file_inserts_into_the_import_path():
    found = []
    for name in tracked_sources():
        path = REPO / name
        if not path.is_file():  # deleted in the working tree, not yet in the index
            continue
        found += [f"{name}:{n}: {line}"
                  for n, line in path_insertions(path.read_text(encoding="utf-8",
                                                                errors="replace"))]
    assert not found, ("import-path insertions (install the code instead: espnet_sniper/, "
                       "espnet_sniper/recipe/, espnet_sniper/testing.py):\n"
                       + "\n".join(found))
