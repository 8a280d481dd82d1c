#!/usr/bin/env python3
"""Which ESPnet releases (and torch versions) espnet_sniper works with: setup.py's ranges.

For each ESPnet release given, a virtual environment is built with that release, a torch
it accepts, the other requirements as setup.py declares them (its ``install_requires``,
with espnet, torch and torchaudio replaced by the pins under test, and its ``test``
extra) and this checkout on ``PYTHONPATH`` (nothing is installed from it, nothing is
written into it). In each one a fixed set of fast tests runs: the config, mask and
optimizer-step tests, which drive ESPnet's ``Trainer``/``GANTrainer`` internals directly,
and the tiny CLI tests, which train tiny FastSpeech2, Tacotron2 and JETS models through
``espnet_sniper.bin.tts_train``/``gan_tts_train`` for real, kill and resume them, and
compare dense runs with stock ESPnet's bit for bit.

    python -m benchmarks.espnet_compat        # every default combination below
    python -m benchmarks.espnet_compat --releases 202402 202412 202511   # torch 2.9.1, 3.11
    python -m benchmarks.espnet_compat --releases 202412:2.5.1 202511:2.9.1:3.12
    python -m benchmarks.espnet_compat --releases '202402+scipy<1.13' \
        202412+TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
    python -m benchmarks.espnet_compat --releases 202511 --tests test/unit/test_config.py

A combination is ``RELEASE[:TORCH[:PYTHON]][+REQUIREMENT...][+VARIABLE=VALUE...]`` (torch
2.9.1, the tested environment's, and Python 3.11 by default; ``+REQUIREMENT`` adds one to
the install, for a release that needs what it does not declare; ``+VARIABLE=VALUE`` sets
one for the tests, in the same environment). The defaults are every ESPnet release PyPI
serves that installs on Python 3.11 from 202310 on, each with torch 2.9.1 (202402 also with
the SciPy of its day, 202412 also with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: see
RELEASES), Python 3.12 and 3.13, and one older and one newer torch, for the bounds of
setup.py's ranges. Python X.Y is the one this script runs on when it is that version, else
``pythonX.Y`` on PATH or pyenv's newest X.Y.

Environments live under ``--work_dir`` (``~/.cache/espnet-sniper/compat``), one
``<release>-<torch>`` folder each (``-py<X.Y>`` appended off 3.11), and are reused once
complete (a marker written last). torch and its CUDA libraries (several GB) are installed
once per torch and Python version into ``torch-<version>`` there and hard-linked into each
environment before pip runs, so pip finds them installed (an environment costs about 1 GB
of its own, not 8).

ESPnet up to 202412 pins sentencepiece 0.1.97, which has no wheel for Python 3.11: pip
builds it, against the system's libsentencepiece 0.1.97 when pkg-config finds one (Debian
12: ``apt-get install libsentencepiece-dev``), else from source it clones from GitHub.

Writes benchmarks/results/espnet_compat.json (the combinations of earlier runs that this
run did not repeat are kept): per combination the torch and Python used, install seconds,
sizes, the key packages and the whole ``pip freeze``, whether it lies in setup.py's
declared ranges, and pytest's counts with the name and first error line of each failure.
"""

import argparse
import ast
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from benchmarks.core.results import REPO, RESULTS, provenance, write_result
from benchmarks.core.staleness import LIBRARY
from espnet_sniper.fileio import atomic_write_text

OUT = RESULTS / "espnet_compat.json"
RESULT_FILES = {"espnet_compat.json": "ESPnet compatibility"}
DEFAULT_TORCH = "2.9.1"  # the tested environment's (tools/requirements.lock)
DEFAULT_PYTHON = "3.11"
# Every ESPnet release PyPI serves for Python 3.11 from 202310 on (202310-202506 pin
# numpy<1.24 and librosa 0.9.2; 202509 is the first on numpy 2 and librosa 0.10), with the
# tested environment's torch; 202402 also with the SciPy of its day (it imports
# scipy.signal.kaiser, gone from SciPy 1.13, and does not cap scipy); 202412 also with torch
# told to load ESPnet's checkpoints as they are (its Trainer.resume calls torch.load without
# weights_only, which torch >= 2.6 refuses for the numpy scalars in them). Then the bounds:
# Python 3.12 (202506: numpy<1.24 has no wheel for it) and 3.13, a lab's ESPnet 202412
# with the torch of its day (2.5), and the newest torch that installs beside ESPnet's
# setuptools<74 (torch 2.13 needs setuptools>=77; 2.12 has no torchaudio).
RELEASES = ["202310", "202402", "202402+scipy<1.13", "202412",
            "202412+TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1", "202506", "202509", "202511",
            "202506:2.9.1:3.12", "202511:2.9.1:3.12", "202511:2.9.1:3.13", "202412:2.5.1",
            "202511:2.11.0"]
TESTS = [
    "test/unit/test_config.py",
    "test/unit/test_masks.py",
    "test/unit/test_state.py",
    "test/unit/test_optimizer_step.py",
    "test/unit/test_gan_optimizer_step.py",
    "test/cli/test_training_cli.py",
    "test/cli/test_gan_training_cli.py",
]
INPUTS = (*LIBRARY, "setup.py", *TESTS, "benchmarks/espnet_compat.py")
# what the table names besides espnet and torch
KEY_PACKAGES = ["torchaudio", "numpy", "scipy", "librosa", "numba", "typeguard", "setuptools",
                "sentencepiece", "espnet-model-zoo", "phonemizer", "tensorboard",
                "matplotlib", "pytest", "hypothesis"]
MARKER = ".compat-complete"
PINNED = {"espnet", "torch", "torchaudio"}


def log(*args) -> None:
    print(f"[espnet_compat {time.strftime('%H:%M:%S')}]", *args, flush=True)


def declared() -> Dict:
    """setup.py's python_requires, install_requires and test extra, read without running
    it."""
    tree = ast.parse((REPO / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") == "setup")
    kw = {k.arg: k.value for k in call.keywords}
    return {"python_requires": ast.literal_eval(kw["python_requires"]),
            "install_requires": ast.literal_eval(kw["install_requires"]),
            "test": ast.literal_eval(kw["extras_require"])["test"]}


def in_declared(decl: Dict, release: str, torch: str, python: str) -> bool:
    """Whether setup.py admits this combination (its environment markers evaluated for
    ``python``)."""
    if Version(python) not in SpecifierSet(decl["python_requires"]):
        return False
    env = {"python_version": python, "python_full_version": f"{python}.0"}
    reqs = [Requirement(r) for r in decl["install_requires"]]
    reqs = [r for r in reqs if r.marker is None or r.marker.evaluate(env)]
    pins = {"espnet": release, "torch": torch, "torchaudio": torch}
    return all(Version(pins[r.name]) in r.specifier for r in reqs if r.name in pins)


VARIABLE = re.compile(r"([A-Z_][A-Z0-9_]*)=([^=].*|)$")


def parse_combo(spec: str) -> Tuple[str, str, str, List[str], Dict[str, str]]:
    """``RELEASE[:TORCH[:PYTHON]][+REQUIREMENT...][+VARIABLE=VALUE...]`` -> (release, torch,
    python, extra requirements, environment variables for the tests)."""
    base, *more = spec.split("+")
    parts = base.split(":")
    if not 1 <= len(parts) <= 3 or not all(parts) or not all(more):
        raise SystemExit("a combination is RELEASE[:TORCH[:PYTHON]][+REQUIREMENT...]"
                         f"[+VARIABLE=VALUE...], not {spec!r}")
    variables = dict(VARIABLE.match(m).groups() for m in more if VARIABLE.match(m))
    extra = [m for m in more if not VARIABLE.match(m)]
    for req in extra:
        Requirement(req)  # refuses a malformed one now, not after an install
    release, torch, python = parts + [DEFAULT_TORCH, DEFAULT_PYTHON][len(parts) - 1:]
    return release, torch, python, extra, variables


def combo_name(release: str, torch: str, python: str, extra: Sequence[str] = ()) -> str:
    """``<release>-<torch>[-py<X.Y>][+<requirement>...]``, operators spelt out."""
    words = {"<=": "le", ">=": "ge", "==": "eq", "!=": "ne", "~=": "compat", "<": "lt",
             ">": "gt"}
    tags = []
    for req in extra:
        for op, word in words.items():
            req = req.replace(op, f"-{word}-")
        tags.append("+" + re.sub(r"[^A-Za-z0-9.-]+", "_", req))
    return (f"{release}-{torch}" + ("" if python == DEFAULT_PYTHON else f"-py{python}")
            + "".join(tags))


def find_python(version: str) -> str:
    """An interpreter of ``version`` (X.Y): this one, ``pythonX.Y`` on PATH or pyenv's
    newest X.Y."""
    base = getattr(sys, "_base_executable", sys.executable)
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return base
    found = shutil.which(f"python{version}")
    if found and "/shims/" not in found:  # a pyenv shim runs only the version pyenv selects
        return found
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(root.glob(f"{version}.*/bin/python{version}"),
                        key=lambda p: Version(p.parts[-3]))
    if not candidates:
        raise RuntimeError(f"no Python {version} found (PATH, {root})")
    return str(candidates[-1])


def requirements(decl: Dict, release: str, torch: str,
                 extra: Sequence[str] = ()) -> List[str]:
    """setup.py's requirements with espnet, torch and torchaudio pinned to those under
    test (so a combination outside the declared ranges is tested all the same), its test
    extra, and ``extra``."""
    others = [r for r in decl["install_requires"] if Requirement(r).name not in PINNED]
    return [f"espnet=={release}", f"torch=={torch}", f"torchaudio=={torch}", *others,
            *decl["test"], *extra]


def run_logged(cmd: Sequence[str], logfile: Path, **kw) -> int:
    with open(logfile, "a") as f:
        f.write(f"\n$ {' '.join(map(str, cmd))}\n")
        f.flush()
        return subprocess.run(list(map(str, cmd)), stdout=f, stderr=subprocess.STDOUT,
                              **kw).returncode


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def sizes(path: Path) -> Tuple[int, int]:
    """(all bytes, bytes not hard-linked from elsewhere) of the files under ``path``."""
    total = own = 0
    for root, _, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            total += st.st_size
            own += st.st_size if st.st_nlink == 1 else 0
    return total, own


def pip_error(logfile: Path) -> str:
    """A headline (the package pip failed to build from source, when it was building one,
    and its first error line), then the log from that error on."""
    lines = logfile.read_text(errors="replace").splitlines()
    errors = [i for i, line in enumerate(lines) if re.match(r"\s*(ERROR|error)\b", line)]
    start = errors[0] if errors else max(0, len(lines) - 15)
    text = "\n".join(lines)
    failed = (re.findall(r"Failed (?:to build|building wheel for) ([\w.-]+)", text)
              or [m.group(1) for line in lines[:start]  # the source pip was preparing
                  for m in [re.search(r"Downloading ([\w.-]+\.(?:tar\.gz|zip))\b", line)]
                  if m][-1:])
    headline = lines[start].strip() if errors else "pip failed"
    if failed:
        headline = f"{failed[0]} (no wheel for this Python) did not build: {headline}"
    return "\n".join([headline, *lines[start:start + 15]])


def torch_layer(python: str, py_version: str, work_dir: Path,
                torch: str) -> Tuple[Path, float]:
    """``work_dir/torch-<torch>``: a venv holding torch, torchaudio and their dependencies,
    built once; returns it and the seconds its build took."""
    layer = work_dir / combo_name("torch", torch, py_version)
    marker = layer / MARKER
    if marker.is_file():
        return layer, json.loads(marker.read_text())["seconds"]
    log(f"building the torch {torch} layer in {layer} (once; several GB)")
    shutil.rmtree(layer, ignore_errors=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    logfile = work_dir / f"{layer.name}.install.log"
    logfile.unlink(missing_ok=True)
    if (run_logged([python, "-m", "venv", layer], logfile)
            or run_logged([layer / "bin" / "python", "-m", "pip", "install",
                           "--disable-pip-version-check", f"torch=={torch}",
                           f"torchaudio=={torch}"], logfile)):
        raise RuntimeError(f"torch {torch} did not install:\n{pip_error(logfile)}")
    seconds = round(time.time() - t0, 1)
    atomic_write_text(marker, json.dumps({"torch": torch, "seconds": seconds}))
    return layer, seconds


SETUPTOOLS = ("setuptools", "_distutils_hack", "pkg_resources", "distutils-precedence.pth")


def link_layer(layer: Path, venv: Path) -> None:
    """Hard-link the layer's packages into ``venv``'s site-packages. The venv's own pip
    stays, and so does its setuptools where it has one (Python < 3.12; torch brings one
    on 3.12 and later)."""
    src, dst = site_packages(layer), site_packages(venv)
    own_setuptools = any(dst.glob("setuptools-*.dist-info"))
    for entry in src.iterdir():
        target = dst / entry.name
        if (target.exists() or entry.name == "__pycache__"
                or entry.name == "pip" or entry.name.startswith("pip-")
                or (own_setuptools and entry.name.startswith(SETUPTOOLS))):
            continue
        if entry.is_dir():
            shutil.copytree(entry, target, symlinks=True, copy_function=os.link)
        else:
            os.link(entry, target)


def describe_spm() -> Optional[str]:
    """The system's libsentencepiece version, as pkg-config finds it (pip builds
    sentencepiece against it)."""
    if not shutil.which("pkg-config"):
        return None
    done = subprocess.run(["pkg-config", "--modversion", "sentencepiece"],
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def describe(venv: Path) -> Dict:
    """What ``venv`` holds: Python, the resolved packages (``pip freeze --all``), sizes."""
    freeze = subprocess.run([venv / "bin" / "python", "-m", "pip", "freeze", "--all",
                             "--disable-pip-version-check"], capture_output=True,
                            text=True).stdout.split()
    versions = {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
                for line in freeze if "==" in line}
    total, own = sizes(venv)
    return dict(
        system_libsentencepiece=describe_spm(),
        python=subprocess.run([venv / "bin" / "python", "-c",
                               "import platform; print(platform.python_version())"],
                              capture_output=True, text=True).stdout.strip(),
        resolved={"espnet": versions.get("espnet"), "torch": versions.get("torch")},
        key_packages={k: versions.get(k) for k in KEY_PACKAGES},
        freeze=freeze, venv_bytes=total, venv_own_bytes=own)


def build_env(work_dir: Path, decl: Dict, release: str, torch: str, py_version: str,
              extra: Sequence[str] = ()) -> Dict:
    """The environment of ``release`` with ``torch`` on Python ``py_version`` and the
    ``extra`` requirements (reused when complete): its install record, or one with
    ``install_error``."""
    name = combo_name(release, torch, py_version, extra)
    venv = work_dir / name
    marker = venv / MARKER
    if marker.is_file():
        log(f"{name}: reusing {venv}")
        return {**json.loads(marker.read_text()), **describe(venv), "reused": True}
    python = find_python(py_version)
    layer, layer_seconds = torch_layer(python, py_version, work_dir, torch)
    log(f"{name}: building {venv}")
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    logfile = work_dir / f"{name}.install.log"
    logfile.unlink(missing_ok=True)
    t0 = time.time()
    reqs = requirements(decl, release, torch, extra)
    rc = run_logged([python, "-m", "venv", venv], logfile)
    if rc == 0:
        link_layer(layer, venv)
        rc = run_logged([venv / "bin" / "python", "-m", "pip", "install",
                         "--disable-pip-version-check", *reqs], logfile)
    seconds = round(time.time() - t0, 1)
    record = {"espnet": release, "torch": torch, "extra_requirements": list(extra),
              "venv": str(venv), "requirements": reqs,
              "install_seconds": seconds, "torch_layer_seconds": layer_seconds,
              "install_log": str(logfile)}
    if rc != 0:
        log(f"{name}: pip install failed (see {logfile})")
        error = pip_error(logfile)
        headline, _, rest = error.partition("\n")
        if headline.startswith("sentencepiece"):
            error = "\n".join([
                headline, "pip builds sentencepiece against the system's libsentencepiece "
                f"when pkg-config finds one (here: {describe_spm() or 'none'}), which must be "
                "the same version, else from source it clones from GitHub", rest])
        return {**record, "install_error": error, "reused": False}
    record.update(describe(venv))
    atomic_write_text(marker, json.dumps(record, indent=1))
    log(f"{name}: installed in {seconds:.0f} s ({record['venv_own_bytes'] / 1e9:.2f} GB of "
        f"its own, {record['venv_bytes'] / 1e9:.2f} GB with the torch layer)")
    return {**record, "reused": False}


def first_error(case: ET.Element) -> Optional[Dict]:
    for tag in ("failure", "error"):
        bad = case.find(tag)
        if bad is not None:
            text = bad.text or ""
            text = re.sub(r"(#x1B|\x1b)\[[0-9;]*m", "", text)  # terminal colours
            e_lines = [line[1:].strip() for line in text.splitlines()
                       if line.startswith("E ") and line[1:].strip()]
            # a failed training's AssertionError carries its log: name the error in it
            raised = [line for line in e_lines if re.match(r"[\w.]*(Error|Exception): ", line)
                      and not line.startswith("AssertionError")]
            e_lines = raised[:1] + e_lines
            message = (bad.get("message") or "").strip().splitlines()
            cls, test = case.get("classname", ""), case.get("name", "")
            name = f"{cls}::{test}" if cls else f"{test} (collecting it)"
            return {"test": name, "kind": tag,
                    "error": (e_lines or message or ["?"])[0][:300]}
    return None


def run_tests(venv: Path, tests: Sequence[str], timeout: int,
              variables: Optional[Dict[str, str]] = None) -> Dict:
    """pytest's counts (from its JUnit XML), CPU and wall seconds of the whole process
    tree, and each failure's name and first error line; ``variables`` are set in the
    tests' environment (the CLI runs they start inherit them)."""
    junit = venv / "junit.xml"
    junit.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=f"{venv / 'bin'}:{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", **(variables or {}))
    cmd = [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-rfE", "--continue-on-collection-errors", f"--junitxml={junit}", *tests]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    logfile = venv / "pytest.log"
    try:
        with open(logfile, "w") as f:
            rc = subprocess.run(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT,
                                timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {"exit_code": rc, "wall_seconds": round(time.time() - t0, 1),
              "cpu_seconds": round(after.ru_utime + after.ru_stime
                                   - before.ru_utime - before.ru_stime, 1),
              "log": str(logfile)}
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures = []
    if junit.is_file():
        for case in ET.parse(junit).getroot().iter("testcase"):
            bad = first_error(case)
            if bad:
                counts["failed" if bad["kind"] == "failure" else "errors"] += 1
                failures.append(bad)
            elif case.find("skipped") is not None:
                counts["skipped"] += 1
            else:
                counts["passed"] += 1
    else:
        tail = logfile.read_text(errors="replace").splitlines()[-10:]
        failures.append({"test": "(pytest)", "kind": "error", "error": " | ".join(tail)})
    return {**result, **counts, "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", nargs="+", default=RELEASES,
                        metavar="RELEASE[:TORCH[:PYTHON]][+REQUIREMENT][+VARIABLE=VALUE]",
                        help=f"ESPnet releases (torch {DEFAULT_TORCH}, Python "
                             f"{DEFAULT_PYTHON} unless given)")
    parser.add_argument("--work_dir", type=Path,
                        default=Path.home() / ".cache" / "espnet-sniper" / "compat")
    parser.add_argument("--tests", nargs="+", default=TESTS)
    parser.add_argument("--timeout", type=int, default=1800,
                        help="seconds one environment's tests may take")
    parser.add_argument("--rebuild", action="store_true",
                        help="build the environments anew (the torch layers are kept)")
    args = parser.parse_args()
    combos = [parse_combo(spec) for spec in args.releases]
    decl = declared()
    previous = json.loads(OUT.read_text()).get("releases", {}) if OUT.is_file() else {}
    summary = {**provenance("espnet_compat"), "tests": list(args.tests), "declared": decl,
               "releases": {}}
    done: Dict[str, Dict] = {}
    for release, torch, py_version, extra, variables in combos:
        env_name = combo_name(release, torch, py_version, extra)
        # the same environment, tested under other variables, is another row
        name = env_name + "".join(f"+{k}={v}" for k, v in variables.items())
        if args.rebuild:
            (args.work_dir / env_name / MARKER).unlink(missing_ok=True)
        log(f"{name}: espnet {release} with torch {torch} on Python {py_version}")
        try:
            record = build_env(args.work_dir, decl, release, torch, py_version, extra)
        except RuntimeError as e:
            record = {"espnet": release, "torch": torch, "extra_requirements": extra,
                      "install_error": str(e)}
        record["python_requested"] = py_version
        record["test_environment_variables"] = variables
        record["in_declared_range"] = in_declared(decl, release, torch, py_version)
        if "install_error" not in record:
            log(f"{name}: running {len(args.tests)} test files")
            record["tests"] = run_tests(Path(record["venv"]), args.tests, args.timeout,
                                        variables)
            t = record["tests"]
            log(f"{name}: {t['passed']} passed, {t['failed']} failed, {t['errors']} errors"
                f" in {t['wall_seconds']:.0f} s ({t['cpu_seconds']:.0f} CPU s)")
            for f in t["failures"]:
                log(f"  {f['test']}: {f['error']}")
        record["measured"] = {"date": summary["date"], "commit": summary["commit"],
                              "tests": list(args.tests)}
        done[name] = record
        # earlier runs' combinations that this one did not repeat stay, in name order
        merged = {**previous, **done}
        summary["releases"] = {k: merged[k] for k in sorted(merged)}
        write_result(OUT, summary, indent=2)
    log(f"wrote {OUT}")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _short_error(error: str) -> str:
    """An error line without file paths and terminal colours, at most 120 characters."""
    error = re.sub(r"(#x1B|\x1b)\[[0-9;]*m", "", error)
    error = re.sub(r" \(/[^)]*\)?", "", error)  # "(/path/to/module.py)"
    return error if len(error) <= 120 else error[:117] + "..."


def _failures(r: Dict) -> str:
    if "install_error" in r:
        first = next((line for line in r["install_error"].splitlines() if line.strip()), "?")
        return f"install failed: {_cell(_short_error(first))}"
    groups: Dict[str, List[str]] = {}
    for f in r["tests"]["failures"]:
        groups.setdefault(_short_error(f["error"]), []).append(f["test"])
    ranked = sorted(groups.items(), key=lambda g: -len(g[1]))
    shown = [f"{len(tests)} x `{_cell(error)}`" for error, tests in ranked[:3]]
    more = len(groups) - len(shown)
    return "; ".join(shown) + (f"; {more} other errors" if more > 0 else "") or "-"


def table(data: Dict) -> List[str]:
    decl = data["declared"]
    bounds = [r for r in decl["install_requires"]
              if r.split(";")[0].rstrip("<>=!~.0123456789, ") in ("espnet", "torch",
                                                                  "torchaudio")]
    tests = ", ".join(f"`{t.split('/')[-1]}`" for t in data["tests"])
    lines = [
        f"Per row a fresh virtual environment with that ESPnet release, torch and Python, the "
        f"other requirements as setup.py declares them and this checkout on PYTHONPATH; the "
        f"tiny CLI tests (real ESPnet training of tiny FastSpeech2, Tacotron2 and JETS through "
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
            f"| {size} | {_failures(r)} |")
    return lines + [
        "",
        "Install seconds: creating the environment and `pip install` with torch and its CUDA "
        "libraries already on the disk (hard-linked from a layer built once per torch "
        "version, which is not counted); own GB: what the environment adds beside that "
        "layer. Every package each environment resolved: `pip freeze` in the JSON."]


if __name__ == "__main__":
    main()
