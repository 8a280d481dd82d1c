"""The reproduction ledger (``benchmarks/results/reproductions.json``): results measured
before a change and made again after it, and whether they matched.

An entry::

    {"benchmark": "training_quality.py",   # the script's file name
     "run": "sniper40to0_seed3",           # the run or the result file made again
     "original_commit": "2804079",         # where it was measured first (and, for a result
     "original_commits": [...],            #  measured at several, all of them)
     "reproduced_at": "d1357dd",           # where it was made again
     "identical": true,                    # every number equal, bit for bit
     "reproduced": true,                   # equal under the benchmark's rule
     "rule": "identically",                # the rule: bit for bit, or its tolerance
     "numbers_compared": 174, "differences": []}

Entries older than ``reproduced`` and ``rule`` were bit-for-bit comparisons. A matching
entry excuses, for its benchmark, every change after its original commit and up to its
``reproduced_at`` (``benchmarks/core/staleness.py``). Grid runs are made again by
``python -m benchmarks.reproduce_run``; a timing benchmark or the main job by running it
again and ``python -m benchmarks.record_reproduction``.
"""

import json
import math
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from benchmarks.core.results import RESULTS, write_result

LEDGER = RESULTS / "reproductions.json"
IDENTICALLY = "identically"


def load_ledger(path: Path = LEDGER) -> List[Dict]:
    return json.loads(path.read_text()) if path.is_file() else []


def record(entry: Dict, path: Path = LEDGER) -> None:
    """Append ``entry``, replacing an earlier one of the same run made again at the same
    commit."""
    key = (entry["benchmark"], entry["run"], entry["reproduced_at"])
    kept = [e for e in load_ledger(path) if (e["benchmark"], e["run"], e["reproduced_at"]) != key]
    write_result(path, kept + [entry])


def numbers(result: Dict, prefix: str = "") -> Dict[str, float]:
    """Every number of a result that its code determines (not its timings, nor dates)."""
    flat: Dict[str, float] = {}
    for key, value in result.items():
        key = str(key)
        name = f"{prefix}{key}"
        if "seconds" in key or key in ("time", "date"):
            continue
        if isinstance(value, dict):
            flat.update(numbers(value, f"{name}."))
        elif isinstance(value, list):
            flat.update(numbers(dict(enumerate(value)), f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def differences(old: Dict, new: Dict) -> List[str]:
    """The numbers that differ (NaN equals NaN), or exist on one side only."""
    a, b = numbers(old), numbers(new)
    return [f"{k}: {a.get(k)} != {b.get(k)}" for k in sorted(set(a) | set(b))
            if k not in a or k not in b
            or not (a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])))]


def outside_range(name: str, value: float, committed: Dict) -> List[str]:
    """``value`` against a committed ``{"min", "max"}`` range: [] inside it."""
    if committed["min"] <= value <= committed["max"]:
        return []
    return [f"{name}: {value} outside [{committed['min']}, {committed['max']}]"]


def printed_differences(old: Dict, new: Dict, digits: Dict[str, int]) -> List[str]:
    """The numbers of ``digits`` (dotted paths, e.g. ``normalized_mel.mean``) whose printed
    values (to that many decimals) differ."""
    a, b = numbers(old), numbers(new)
    out = []
    for path, n in digits.items():
        shown = [f"{x[path]:.{n}f}" if path in x else None for x in (a, b)]
        if shown[0] != shown[1]:
            out.append(f"{path}: {shown[0]} != {shown[1]} (to {n} decimals)")
    return out


def compare(benchmark: str, result: str, committed: Dict, new: Dict, rule: str,
            reproduces: Callable[[Dict, Dict], List[str]],
            original_commits: Sequence[str]) -> Dict:
    """The ledger entry for ``new``, made again, against the ``committed`` result:
    ``reproduces(committed, new)`` lists what falls outside the benchmark's rule."""
    outside = reproduces(committed, new)
    bit_for_bit = differences(committed, new)
    return {"benchmark": f"{benchmark}.py", "run": result,
            "original_commit": committed["commit"],
            "original_commits": sorted(set(original_commits)),
            "reproduced_at": new["commit"], "identical": not bit_for_bit,
            "reproduced": not outside, "rule": rule,
            "numbers_compared": len(numbers(committed)),
            "differences": (outside or bit_for_bit)[:20]}
