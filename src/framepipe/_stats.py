"""What every timed measurement shares: percentiles, named summaries, a quantile sketch, and a
GC-free block.

Percentiles are numpy's default ("linear") definition: rank ``q/100 * (n - 1)`` in the sorted
samples, interpolated between its two neighbours. Results are plain Python floats so they go
straight into JSON reports. :class:`QuantileSketch` gives the same percentiles within a relative
error from constant memory, and is plain Python: a process that only unpickles one (the stats
server) does not import numpy, so numpy is imported where samples are summarized.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["RELATIVE_ACCURACY", "QuantileSketch", "gc_disabled", "percentiles", "summarize"]

RELATIVE_ACCURACY = 0.01  # a sketch's percentile is within 1 % of the exact one


def percentiles(samples: npt.ArrayLike, qs: Sequence[float]) -> list[float]:
    """The ``q``-th percentiles (each 0..100) of ``samples``, in the order of ``qs``."""
    import numpy as np

    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        raise ValueError("samples must not be empty, but got no samples")
    for q in qs:
        if not 0 <= q <= 100:
            raise ValueError(f"q must be between 0 and 100, but got {q!r}")
    return [float(value) for value in np.percentile(values, list(qs), method="linear")]


def summarize(samples: npt.ArrayLike, keys: Sequence[str], scale: float = 1.0) -> dict[str, float]:
    """``{key: statistic}`` for keys ``"mean"``, ``"min"``, ``"max"`` and ``"pNN"`` (``"p99.9"``).

    Each sample is divided by ``scale`` first (e.g. ``1_000_000`` for ns -> ms), so the
    percentiles are interpolated in the unit reported.
    """
    import numpy as np

    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        raise ValueError("samples must not be empty, but got no samples")
    if scale != 1.0:
        values = values / scale
    wanted = {key: _percentile_of(key) for key in keys}
    ranks = [q for q in wanted.values() if q is not None]
    ranked = dict(zip(ranks, percentiles(values, ranks), strict=True)) if ranks else {}
    summary: dict[str, float] = {}
    for key, q in wanted.items():
        if q is not None:
            summary[key] = ranked[q]
        elif key == "mean":
            # Python's own float sum, as the reports always computed it, so the numbers stay
            # the same to the last bit (numpy's pairwise sum rounds differently).
            summary[key] = sum(values.tolist()) / values.size
        elif key == "min":
            summary[key] = float(values.min())
        else:
            summary[key] = float(values.max())
    return summary


def _percentile_of(key: str) -> float | None:
    """The q of a ``"pNN"`` key, None for mean/min/max; ValueError for anything else."""
    if key in ("mean", "min", "max"):
        return None
    try:
        q = float(key[1:]) if key.startswith("p") else -1.0
    except ValueError:
        q = -1.0
    if not 0 <= q <= 100:
        raise ValueError(f"statistic must be mean, min, max or pNN (0..100), but got {key!r}")
    return q


class QuantileSketch:
    """Percentiles within a relative error from constant memory: a DDSketch (Masson, Rim and
    Lee, VLDB 2019), in plain Python.

    Bucket ``i`` counts the values in ``(gamma**(i-1), gamma**i]``, ``gamma = (1+a)/(1-a)`` for a
    relative accuracy ``a``; the value it stands for, ``2 * gamma**i / (gamma + 1)``, is within
    ``a`` of each of them. A percentile is read as :func:`percentiles` reads sorted samples (rank
    ``q/100 * (n - 1)``, interpolated between its neighbours) with each neighbour taken from its
    bucket, so it is within ``a`` of the exact one however many values were added. Sketches of the
    same accuracy merge bucket by bucket into the sketch of all their values. Memory is one entry
    per bucket in use: about 115 per decade of values at 1 %, at most ``max_buckets`` (past it the
    lowest buckets fold into one, so only the lowest percentiles lose accuracy). Count, sum (a
    float sum in the order added, as :func:`summarize` computes the mean), min and max are exact.
    Values at or below ``ZERO`` (and negative ones) are counted as 0.
    """

    ZERO = 1e-9
    MAX_BUCKETS = 2048

    __slots__ = ("_buckets", "_floor", "_inv_log_gamma", "_max_buckets", "count",
                 "gamma", "max", "min", "relative_accuracy", "sum", "zero_count")  # fmt: skip

    def __init__(
        self, relative_accuracy: float = RELATIVE_ACCURACY, max_buckets: int = MAX_BUCKETS
    ) -> None:
        if not 0 < relative_accuracy < 1:
            raise ValueError(
                f"relative_accuracy must be between 0 and 1, but got {relative_accuracy!r}"
            )
        if isinstance(max_buckets, bool) or not isinstance(max_buckets, int) or max_buckets < 2:
            raise ValueError(
                f"max_buckets must be an integer of at least 2, but got {max_buckets!r}"
            )
        self.relative_accuracy = relative_accuracy
        self.gamma = (1 + relative_accuracy) / (1 - relative_accuracy)
        self._inv_log_gamma = 1.0 / math.log(self.gamma)
        self._max_buckets = max_buckets
        self._buckets: dict[int, int] = {}
        self._floor = -(2**62)  # lower bucket indexes count here once the lowest were folded
        self.zero_count = 0
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf

    def __len__(self) -> int:
        """Buckets in use (the memory it takes), not values; zero has a counter of its own."""
        return len(self._buckets)

    def add(self, value: float) -> None:
        """Count one value."""
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if not value > self.ZERO:
            self.zero_count += 1
            return
        index = max(math.ceil(math.log(value) * self._inv_log_gamma), self._floor)
        buckets = self._buckets
        if index in buckets:
            buckets[index] += 1
        else:
            buckets[index] = 1
            if len(buckets) > self._max_buckets:
                self._fold_lowest()

    def update(self, values: Iterable[float]) -> None:
        """Count every value of ``values``."""
        for value in values:
            self.add(value)

    def merge(self, other: QuantileSketch) -> None:
        """Add every value ``other`` counted (same accuracy only: ValueError otherwise)."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError(
                "sketches of different accuracy cannot be merged: "
                f"{self.relative_accuracy!r} and {other.relative_accuracy!r}"
            )
        buckets = self._buckets
        floor = max(self._floor, other._floor)
        # A copy taken in one step: the frame loop may add to ``other`` while a snapshot copies it.
        for index, count in list(other._buckets.items()):
            index = max(index, floor)
            buckets[index] = buckets.get(index, 0) + count
        self.zero_count += other.zero_count
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if floor > self._floor or len(buckets) > self._max_buckets:
            self._fold_lowest(floor)

    def copy(self) -> QuantileSketch:
        twin = QuantileSketch(self.relative_accuracy, self._max_buckets)
        twin.merge(self)
        return twin

    def merged(self, other: QuantileSketch) -> QuantileSketch:
        """A new sketch of the values of both (as ``HistogramCounts.merged`` adds readings)."""
        both = self.copy()
        both.merge(other)
        return both

    @classmethod
    def of(
        cls, sketches: Iterable[QuantileSketch | None], relative_accuracy: float = RELATIVE_ACCURACY
    ) -> QuantileSketch:
        """A new sketch of every value of ``sketches`` (None ones skipped)."""
        total = cls(relative_accuracy)
        for sketch in sketches:
            if sketch is not None:
                total.merge(sketch)
        return total

    def percentiles(self, qs: Sequence[float]) -> list[float]:
        """The ``q``-th percentiles (each 0..100), within the relative accuracy of the exact
        ones of every value added; ValueError when there is none."""
        if self.count == 0:
            raise ValueError("samples must not be empty, but got no samples")
        for q in qs:
            if not 0 <= q <= 100:
                raise ValueError(f"q must be between 0 and 100, but got {q!r}")
        ordered = sorted(self._buckets.items())
        results = []
        for q in qs:
            rank = q / 100 * (self.count - 1)
            below = math.floor(rank)
            low = self._value_at(below, ordered)
            high = self._value_at(min(below + 1, self.count - 1), ordered)
            results.append(low + (high - low) * (rank - below))
        return results

    def summarize(self, keys: Sequence[str]) -> dict[str, float]:
        """:func:`summarize`'s statistics of the values added: the mean, min and max exact, the
        percentiles within the relative accuracy."""
        if self.count == 0:
            raise ValueError("samples must not be empty, but got no samples")
        wanted = {key: _percentile_of(key) for key in keys}
        ranks = [q for q in wanted.values() if q is not None]
        ranked = dict(zip(ranks, self.percentiles(ranks), strict=True))
        exact = {"mean": self.sum / self.count, "min": self.min, "max": self.max}
        return {key: exact[key] if q is None else ranked[q] for key, q in wanted.items()}

    def _value_at(self, rank: int, ordered: list[tuple[int, int]]) -> float:
        """The value of rank ``rank`` (0-based) in sorted order, from its bucket."""
        if rank <= 0:
            return self.min
        if rank >= self.count - 1:
            return self.max
        seen = self.zero_count
        if rank < seen:
            return max(self.min, 0.0)
        for index, count in ordered:
            seen += count
            if rank < seen:
                value = 2.0 * self.gamma**index / (self.gamma + 1.0)
                return min(max(value, self.min), self.max)
        return self.max

    def _fold_lowest(self, floor: int | None = None) -> None:
        """Fold the lowest buckets into one, so at most ``max_buckets`` stay (or all those
        below ``floor`` into it)."""
        buckets = self._buckets
        ordered = sorted(buckets)
        excess = len(ordered) - self._max_buckets
        new_floor = ordered[excess] if excess > 0 else ordered[0]
        if floor is not None:
            new_floor = max(new_floor, floor)
        folded = sum(buckets.pop(index) for index in ordered if index < new_floor)
        buckets[new_floor] = buckets.get(new_floor, 0) + folded
        self._floor = new_floor


@contextmanager
def gc_disabled(collect: bool = False) -> Iterator[None]:
    """Switch the cyclic GC off for the block, as ``timeit`` does; restore it after.

    ``collect=True`` first runs a full collection, so every timed block starts with the same
    (empty) backlog instead of paying for garbage its predecessor left.
    """
    was_enabled = gc.isenabled()
    if collect:
        gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
