"""Per-frame histograms with boundaries around the budget, fed by the loop, read by anyone.

The frame loop is the only writer: ``observe()`` is a bisect and two plain stores, no lock and
no allocation. A reader copies the counts in one step and makes them cumulative itself, so the
count it reports always equals its +Inf bucket, and no bucket ever goes down between readings.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise

__all__ = [
    "BUDGET_MULTIPLES",
    "FrameHistogram",
    "FrameHistograms",
    "HistogramReading",
    "budget_bounds",
]

# Bucket boundaries as multiples of the budget: exactly 1x, so "within budget" is one bucket
# read, and 0.5x, 2x, 3x, so how close or how far over shows without guessing.
BUDGET_MULTIPLES = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


def budget_bounds(budget_s: float) -> tuple[float, ...]:
    """Bucket upper bounds in seconds for a budget of ``budget_s`` seconds."""
    if not (math.isfinite(budget_s) and budget_s > 0):
        raise ValueError(f"budget_s must be a positive number of seconds, but got {budget_s!r}")
    return tuple(budget_s * multiple for multiple in BUDGET_MULTIPLES)


@dataclass(frozen=True)
class HistogramReading:
    """Cumulative bucket counts (the last one is +Inf) and the sum of the observed values."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    sum: float

    @property
    def count(self) -> int:
        return self.cumulative[-1]


class FrameHistogram:
    """Counts of values in fixed buckets; one writing thread, any number of readers."""

    __slots__ = ("_counts", "_sum", "bounds")

    def __init__(self, bounds: Sequence[float]) -> None:
        values = tuple(float(bound) for bound in bounds)
        increasing = all(a < b for a, b in pairwise(values))
        if not values or not increasing or values[0] <= 0 or not math.isfinite(values[-1]):
            raise ValueError(
                f"bounds must be positive, finite and increasing, but got {tuple(bounds)!r}"
            )
        self.bounds = values
        self._counts = [0] * (len(values) + 1)  # per bucket, not cumulative; the last is +Inf
        self._sum = 0.0

    def observe(self, value: float) -> None:
        """Count one value (frame loop only: a second writer could lose counts)."""
        self._counts[bisect_left(self.bounds, value)] += 1
        self._sum += value

    def read(self) -> HistogramReading:
        """The counts so far, from any thread."""
        counts = self._counts.copy()  # one step under the GIL: never half a list
        return HistogramReading(self.bounds, tuple(accumulate(counts)), self._sum)


@dataclass(frozen=True)
class FrameHistograms:
    """The two per-frame distributions a run exports: frame time and frame age, in seconds."""

    frame: FrameHistogram
    age: FrameHistogram

    @classmethod
    def for_budget(cls, budget_ms: float) -> FrameHistograms:
        bounds = budget_bounds(budget_ms / 1000)
        return cls(frame=FrameHistogram(bounds), age=FrameHistogram(bounds))

    def observe(self, frame_s: float, age_s: float) -> None:
        """Count one processed frame (frame loop only)."""
        self.frame.observe(frame_s)
        self.age.observe(age_s)
