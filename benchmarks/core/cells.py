"""The cells of the results tables: a mean with its interval, a difference, a ratio, a
spread, and whether a goal is met."""

import math
from typing import Dict, Sequence


def mean_ci(x: Dict, digits: int = 3) -> str:
    """``0.123 [0.100, 0.150]``; the mean alone for one seed."""
    lo, hi = x["ci95"]
    interval = "" if math.isnan(lo) else f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    return f"{x['mean']:.{digits}f}{interval}"


def ci(x: Dict, digits: int = 3) -> str:
    """A signed difference with its interval: ``+0.012 [-0.003, +0.027]``."""
    lo, hi = x["ci95"]
    if math.isnan(lo):
        return f"{x['mean']:+.{digits}f} (one seed)"
    return f"{x['mean']:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def percent(x: Dict) -> str:
    """A difference in % with its interval."""
    lo, hi = x["ci95"]
    if math.isnan(lo):
        return f"{x['mean']:+.1f} % (one seed)"
    return f"{x['mean']:+.1f} % [{lo:+.1f}, {hi:+.1f}]"


def ratio(x: Dict) -> str:
    """A geometric mean of ratios with its interval."""
    lo, hi = x["ci95"]
    interval = "" if math.isnan(lo) else f" [{lo:.3f}, {hi:.3f}]"
    return f"{x['geometric_mean']:.3f}{interval}"


def spread(x: Dict, digits: int = 3) -> str:
    """``mean (min-max)``."""
    return f"{x['mean']:.{digits}f} ({x['min']:.{digits}f}-{x['max']:.{digits}f})"


def detectable(x: Dict) -> str:
    return "" if math.isnan(x["detectable"]) else f" ({x['detectable']:.3f})"


def difference_verdict(x: Dict) -> str:
    """better / worse / cannot tell for a difference (first - second; lower is better)."""
    lo, hi = x["ci95"]
    if math.isnan(lo):
        return "cannot tell"
    if lo == hi == 0:
        return "identical"  # the same computation up to there (e.g. before any regrowth)
    return "better" if hi < 0 else "worse" if lo > 0 else "cannot tell"


def goal_verdict(value: float, limit: float, spread: Sequence[float] = ()) -> str:
    """met only when the whole spread (or interval) meets the goal; a median that meets it
    while the spread crosses it says so; one measurement says it is one."""
    if value > limit:
        return "missed"
    if not spread:
        return "met, one measurement"
    return "met" if max(spread) <= limit else "median met, spread crosses"


def goal(value: float, limit: float, spread: Sequence[float] = ()) -> str:
    return f"{value:.3f} ({goal_verdict(value, limit, spread)}: <= {limit})"


def faster(ratio: Dict) -> str:
    """A median ratio (with min and max) whose goal is < 1."""
    median, bounds = ratio["median"], (ratio["min"], ratio["max"])
    verdict = goal_verdict(median, 1.0, bounds) if max(bounds) != 1.0 else "missed"
    return f"{median:.3f} ({verdict}: < 1) [{ratio['min']:.3f}, {ratio['max']:.3f}]"


def signed_or_never(x: float) -> str:
    return "never" if x == math.inf else "-never" if x == -math.inf else f"{x:+.2f}"


def order_interval(x: Dict, signed: bool = False) -> str:
    """An order-statistic interval of a median (statistics.median_interval): its ends
    ("never" where a unit never got there) and its coverage, or why there is none."""
    if x["ranks"] is None:
        return f"(no 95 % interval from {x['n']} units)"

    def end(v) -> str:
        return "never" if v is None else signed_or_never(v) if signed else f"{v:.2f}"

    return f"[{end(x['lower'])}, {end(x['upper'])}] ({100 * x['coverage']:.1f} %)"
