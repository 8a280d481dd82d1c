"""Epoch -> sparsity schedules.

A schedule maps a number of *completed* epochs to a sparsity in percent, with the
meaning of the reference configs: key 0 applies before the first epoch, key k once k
epochs have completed, i.e. from ESPnet epoch k+1 on (ESPnet counts epochs from 1).
Sparsity changes only at epoch boundaries.
"""

import math
from typing import Dict, Mapping, Tuple

DECAY_KINDS = ("linear", "cosine")


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message names the offending entry."""


class SparsitySchedule:
    """A validated, step-wise constant mapping from completed epochs to sparsity (%)."""

    def __init__(self, points: Mapping[int, float]):
        self._points: Tuple[Tuple[int, float], ...] = tuple(
            sorted(_validated_points(points).items())
        )

    @classmethod
    def decay(cls, kind: str, initial: float, epochs: int) -> "SparsitySchedule":
        """Decay from ``initial`` % to 0 % over ``epochs`` epochs, one step per epoch.

        ``linear``: initial * (1 - k/epochs); ``cosine``: initial * (1 + cos(pi k/epochs)) / 2,
        where k is the number of completed epochs. Values are rounded to 1e-6 %.
        """
        if kind not in DECAY_KINDS:
            raise ScheduleError(f"decay kind {kind!r} is not one of {DECAY_KINDS}")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ScheduleError(f"decay epochs must be a positive integer, got {epochs!r}")
        _check_sparsity("initial", initial)
        points = {}
        for k in range(epochs + 1):
            frac = k / epochs
            if kind == "linear":
                value = initial * (1.0 - frac)
            else:
                value = initial * (1.0 + math.cos(math.pi * frac)) / 2.0
            points[k] = round(value, 6)
        points[epochs] = 0.0
        return cls(points)

    @property
    def points(self) -> Dict[int, float]:
        return dict(self._points)

    def sparsity_for_epoch(self, epoch: int) -> float:
        """Sparsity (%) while training ESPnet epoch ``epoch`` (1-based)."""
        if epoch < 1:
            raise ValueError(f"ESPnet epochs count from 1, got {epoch}")
        completed = epoch - 1
        value = self._points[0][1]
        for key, sparsity in self._points:
            if key > completed:
                break
            value = sparsity
        return value

    def sparsities(self) -> Tuple[float, ...]:
        """The distinct sparsities the schedule visits, highest first."""
        return tuple(sorted({s for _, s in self._points}, reverse=True))

    @property
    def max_sparsity(self) -> float:
        return max(s for _, s in self._points)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SparsitySchedule) and self._points == other._points

    def __repr__(self) -> str:
        return f"SparsitySchedule({self.points})"


def _check_sparsity(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScheduleError(f"{name}: sparsity must be a number in [0, 100), got {value!r}")
    if not (0 <= value < 100) or math.isnan(value):
        raise ScheduleError(f"{name}: sparsity must be in [0, 100), got {value!r}")


def _validated_points(points: Mapping[int, float]) -> Dict[int, float]:
    if not isinstance(points, Mapping) or not points:
        raise ScheduleError(
            f"must be a non-empty mapping epoch -> sparsity, e.g. {{0: 40, 5: 20, 10: 0}}; "
            f"got {points!r}"
        )
    result: Dict[int, float] = {}
    for key, value in points.items():
        epoch = key
        # YAML gives ints; a command line or JSON may give "5".
        if isinstance(key, str) and key.strip().isdigit():
            epoch = int(key)
        if isinstance(epoch, bool) or not isinstance(epoch, int):
            raise ScheduleError(f"epoch {key!r} is not a non-negative integer")
        if epoch < 0:
            raise ScheduleError(f"epoch {key!r} is negative")
        if epoch in result:
            raise ScheduleError(f"epoch {epoch} is given twice")
        _check_sparsity(f"epoch {key!r}", value)
        result[epoch] = float(value)
    if 0 not in result:
        raise ScheduleError(
            "has no entry for epoch 0 (the sparsity before the first epoch); add e.g. '0: 40'"
        )
    return result
