"""Per-frame histograms in fixed buckets, fed by the loop, read by anyone.

Every stream uses the same bucket bounds (:data:`BUCKET_BOUNDS`, in seconds), so its histograms
add up across streams and restarts (``sum by (le)`` in Prometheus) and resolve a 10 µs frame as
well as a 10 s one; the budget is a metric of its own.

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

from framepipe._snapshot import HistogramCounts

__all__ = [
    "BUCKET_BOUNDS",
    "FrameHistogram",
    "FrameHistograms",
    "HistogramReading",
    "log_spaced_bounds",
]

HistogramReading = HistogramCounts  # what ``FrameHistogram.read()`` returns

# Four bounds a decade (10^(k/4), rounded: neighbours are at most 1.8x apart, so an estimate
# from the buckets is within a factor 2 of the truth) from 10 µs to 10 s.
_MANTISSAS = ("1", "1.8", "3.2", "5.6")
# The budgets of 60 and 30 FPS as exact bounds: "within budget" is one bucket read.
COMMON_BUDGETS_S = (1 / 60, 1 / 30)


def log_spaced_bounds(first_exponent: int = -5, last_exponent: int = 1) -> tuple[float, ...]:
    """``1, 1.8, 3.2, 5.6`` times each power of ten from ``10**first_exponent`` up to
    ``10**last_exponent`` included; each is the float its decimal spelling reads as."""
    bounds = [
        float(f"{mantissa}e{exponent}")
        for exponent in range(first_exponent, last_exponent)
        for mantissa in _MANTISSAS
    ]
    return (*bounds, float(f"1e{last_exponent}"))


BUCKET_BOUNDS: tuple[float, ...] = tuple(sorted({*log_spaced_bounds(), *COMMON_BUDGETS_S}))


class FrameHistogram:
    """Counts of values in fixed buckets; one writing thread, any number of readers."""

    __slots__ = ("_counts", "_sum", "bounds")

    def __init__(self, bounds: Sequence[float] = BUCKET_BOUNDS) -> None:
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

    def read(self) -> HistogramCounts:
        """The counts so far, from any thread."""
        counts = self._counts.copy()  # one step under the GIL: never half a list
        return HistogramCounts(self.bounds, tuple(accumulate(counts)), float(self._sum))


@dataclass(frozen=True)
class FrameHistograms:
    """The two per-frame distributions a run exports: frame time and frame age, in seconds."""

    frame: FrameHistogram
    age: FrameHistogram

    @classmethod
    def fixed(cls) -> FrameHistograms:
        """Both on :data:`BUCKET_BOUNDS`, the bounds every stream shares."""
        return cls(frame=FrameHistogram(), age=FrameHistogram())

    def observe(self, frame_s: float, age_s: float) -> None:
        """Count one processed frame (frame loop only)."""
        self.frame.observe(frame_s)
        self.age.observe(age_s)
