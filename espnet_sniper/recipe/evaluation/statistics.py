"""The statistics of paired measurements, shared by the recipe's scoring and the benchmarks.

Paired: two systems measured on the same units (seeds with the same initial weights and
batches, or the same utterances), compared unit by unit. Every interval is 95 %.

- ``interval``: mean and t-interval of values (paired differences, or one system's values),
  with the smallest difference that many units detect;
- ``t_interval``: the t-interval alone, NaN values left out (scores per utterance);
- ``log_ratio_interval``: ratios summarized on their logs (a geometric mean and the
  t-interval of the logs, taken back);
- ``verdict``: what an interval of a difference says (better, worse, cannot tell);
- ``time_to_reach`` and ``censored_median``: time to a quality, a unit that never gets
  there counted as censored, not dropped; ``median_interval``: a distribution-free
  interval of that median from two order statistics, "never" where one falls on a unit
  that never got there;
- ``ratio_range``: per-repetition ratios of two alternated timings as median, min and
  max (order statistics: the range of n repetitions covers the median ratio with
  probability 1 - 2^(1-n)).
"""

import math
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from scipy import stats as scipy_stats

POWER = 0.8  # of ``interval``'s detectable difference (two-sided 5 %)


def interval(values: Sequence[float]) -> Dict:
    """Mean, 95 % t-interval, and the smallest difference this many values detect
    (two-sided 5 %, power 80 %) at the observed spread; one value: NaN intervals."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return {"mean": mean, "ci95": [float("nan"), float("nan")], "n": n,
                "detectable": float("nan")}
    sd = statistics.stdev(values)
    t = scipy_stats.t.ppf(0.975, n - 1)
    detectable = (t + scipy_stats.t.ppf(POWER, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "ci95": [mean - t * sd / math.sqrt(n), mean + t * sd / math.sqrt(n)],
            "n": n, "detectable": detectable}


def t_interval(values: Sequence[float]) -> List[float]:
    """95 % t-interval of the mean of the values that are not NaN; NaNs under two."""
    kept = [v for v in values if not math.isnan(v)]
    if len(kept) < 2:
        return [float("nan"), float("nan")]
    mean, half = statistics.fmean(kept), scipy_stats.t.ppf(0.975, len(kept) - 1) * (
        statistics.stdev(kept) / math.sqrt(len(kept)))
    return [mean - half, mean + half]


def log_ratio_interval(ratios: Sequence[float]) -> Dict:
    """Geometric mean of ratios and its 95 % interval, from a t-interval on their logs."""
    logs = interval([math.log(r) for r in ratios])
    return {"geometric_mean": math.exp(logs["mean"]), "n": logs["n"],
            "ci95": [math.exp(x) if not math.isnan(x) else float("nan") for x in logs["ci95"]]}


def verdict(diff: Dict, lower_is_better: bool = True) -> str:
    """yes: the first is better with 95 % confidence; no: worse; else cannot tell."""
    lo, hi = diff["ci95"]
    if math.isnan(lo):
        return "cannot tell"
    better, worse = (hi < 0, lo > 0) if lower_is_better else (lo > 0, hi < 0)
    return "yes" if better else "no" if worse else "cannot tell"


def time_to_reach(losses: Sequence[float], walls: Sequence[float], steps: Sequence[int],
                  start_wall: float, target: float) -> Optional[Tuple[float, float]]:
    """(wall seconds, steps) at which a loss measured at the end of each epoch first reaches
    ``target``, interpolated linearly within the epoch (from ``start_wall`` and step 0
    before the first); None when it never does."""
    prev_loss, prev_wall, prev_steps = None, start_wall, 0
    for loss, wall, step in zip(losses, walls, steps):
        if loss <= target:
            share = 1.0 if prev_loss is None else (prev_loss - target) / (prev_loss - loss)
            return (prev_wall + share * (wall - prev_wall),
                    prev_steps + share * (step - prev_steps))
        prev_loss, prev_wall, prev_steps = loss, wall, step
    return None


def censored_median(values: Sequence[Optional[float]]) -> Optional[float]:
    """Median of per-unit values where None is "not reached within the run" (censored at
    the run's end, after every observed value): the Kaplan-Meier median for this
    censoring. None when half of the units or more never reach it."""
    ordered = sorted(v for v in values if v is not None)
    # the median is the (ceil(k/2))-th smallest value counting the censored as infinite
    rank = (len(values) + 1) // 2
    return ordered[rank - 1] if rank <= len(ordered) else None


def median_interval(values: Sequence[Optional[float]], coverage: float = 0.95) -> Dict:
    """Distribution-free interval of the median of per-unit values, None meaning "never"
    (after every value; -inf and inf are allowed too): the order statistics X_(r) and
    X_(n+1-r) of the largest r whose coverage, 1 - 2 P(Binomial(n, 1/2) <= r - 1), is at
    least ``coverage`` (for any continuous distribution of the units' values). An end
    that falls on a unit that never got there is None ("never"). With too few units for
    ``coverage`` even from the extremes (n < 6 for 95 %), ``lower`` and ``upper`` are
    None and ``coverage`` is what the extremes give."""
    n = len(values)
    if n == 0:
        raise ValueError("median_interval of no values")
    ordered = sorted(math.inf if v is None else v for v in values)
    below = [math.comb(n, i) / 2 ** n for i in range(n + 1)]  # P(Binomial(n, 1/2) = i)
    covered = [(r, 1.0 - 2.0 * math.fsum(below[:r])) for r in range(1, (n + 1) // 2 + 1)]
    good = [(r, c) for r, c in covered if c >= coverage]
    if not good:
        return {"n": n, "lower": None, "upper": None, "coverage": covered[0][1],
                "ranks": None}
    r, c = good[-1]

    def end(x: float) -> Optional[float]:
        return None if x == math.inf else x

    return {"n": n, "lower": end(ordered[r - 1]), "upper": end(ordered[n - r]),
            "coverage": c, "ranks": [r, n + 1 - r]}


def ratio_range(a: Sequence[float], b: Sequence[float]) -> Dict:
    """Ratios a / b of paired repetitions: their median, min and max."""
    r = [x / y for x, y in zip(a, b)]
    return {"median": statistics.median(r), "min": min(r), "max": max(r)}
