"""Frame statistics: how the per-frame budget was kept.

Per frame: processing time (logging included) against the budget, and frame age (capture to end
of processing). Aggregates: misses, miss percentage, the longest streak of consecutive misses,
mean/p50/p95/p99/max of frame time, p50/p99/max of age, frames dropped by the buffer, and the
achieved rate over the run. A streak of misses reaching ``miss_streak_warning``, and its end,
come back from ``finish_frame`` as a :class:`MissStreak`, so the loop only has to log it. The
clock is injected so tests drive time by hand.

Memory stays constant however long a run lasts: the percentiles are exact over the first
``exact_frames`` frames (kept as plain arrays, 16 bytes a frame; by default one hour at the rate
the budget stands for), and after that come from a :class:`~framepipe._stats.QuantileSketch`
within 1 % of the exact value (``percentiles_estimated`` says which). Every frame goes into the
sketches from the first one, so the summaries of several runs (a stream's restarts, every
stream) merge into real percentiles of all their frames (:func:`merged_timings`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from framepipe._stats import QuantileSketch, summarize

if TYPE_CHECKING:
    from framepipe.pipeline.live import PipelineSnapshot

__all__ = [
    "AGE_MS_KEYS",
    "EXACT_SECONDS",
    "FRAME_MS_KEYS",
    "FrameResult",
    "FrameStats",
    "FrameSummary",
    "MissStreak",
    "Timings",
    "merged_timings",
    "with_timings_of",
]

FRAME_MS_KEYS = ("mean", "p50", "p95", "p99", "max")  # the summary's frame time statistics
AGE_MS_KEYS = ("p50", "p99", "max")  # the summary's frame age statistics
EXACT_SECONDS = 3600.0  # exact percentiles for the first hour of frames at the budget's rate


@dataclass(frozen=True)
class MissStreak:
    """Budget misses in a row: reaching the warning length (``ended`` False), or over after
    reaching it (``ended`` True, ``length`` the whole streak)."""

    length: int
    ended: bool


@dataclass(frozen=True)
class FrameResult:
    """What ``FrameStats.finish_frame`` learned about one frame."""

    frame_ms: float
    age_ms: float
    met_budget: bool
    miss_streak: int  # consecutive misses ending with this frame (0 when it met the budget)
    finished_at: float = 0.0  # on the stats' clock
    streak: MissStreak | None = None  # set on the frames where a long streak starts or ends


@dataclass(frozen=True)
class FrameSummary:
    """The statistics part of the run summary (the summary JSON's keys, same values).

    One made from a snapshot (:meth:`from_snapshot`) does not know every figure: a time it does
    not know is NaN (``null`` in the summary JSON), the longest miss streak None.
    """

    frames_processed: int
    frames_dropped: int
    duration_s: float
    fps: float
    budget_ms: float
    budget_misses: int
    budget_miss_pct: float
    longest_miss_streak: int | None
    frame_ms: dict[str, float]  # mean, p50, p95, p99, max
    frame_age_ms: dict[str, float]  # p50, p99, max
    # False: the percentiles are exact over every frame; True: they are not (from a sketch, or
    # from a snapshot's recent window).
    percentiles_estimated: bool = False
    # Every frame's time and age (ms), for merging with other runs; None when not known.
    frame_sketch: QuantileSketch | None = field(default=None, compare=False, repr=False)
    age_sketch: QuantileSketch | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_counts(
        cls,
        *,
        frames_processed: int,
        frames_dropped: int,
        duration_s: float,
        budget_ms: float,
        budget_misses: int,
        longest_miss_streak: int | None,
        frame_ms: Mapping[str, float],
        frame_age_ms: Mapping[str, float],
        percentiles_estimated: bool = False,
        frame_sketch: QuantileSketch | None = None,
        age_sketch: QuantileSketch | None = None,
    ) -> FrameSummary:
        """The summary of ``frames_processed`` frames in ``duration_s`` seconds: the rate, the
        miss percentage and the rounding worked out here, for a finished run and a snapshot
        alike."""
        return cls(
            frames_processed=frames_processed,
            frames_dropped=frames_dropped,
            duration_s=round(duration_s, 3),
            fps=round(frames_processed / duration_s, 2) if duration_s > 0 else 0.0,
            budget_ms=budget_ms,
            budget_misses=budget_misses,
            budget_miss_pct=(
                round(100.0 * budget_misses / frames_processed, 2) if frames_processed else 0.0
            ),
            longest_miss_streak=longest_miss_streak,
            frame_ms={key: frame_ms.get(key, math.nan) for key in FRAME_MS_KEYS},
            frame_age_ms={key: frame_age_ms.get(key, math.nan) for key in AGE_MS_KEYS},
            percentiles_estimated=percentiles_estimated,
            frame_sketch=frame_sketch,
            age_sketch=age_sketch,
        )

    @classmethod
    def from_snapshot(cls, snapshot: PipelineSnapshot | None) -> FrameSummary:
        """What a run's snapshot tells of its statistics (None: a run that never sent one).

        A snapshot's percentiles cover its recent window, not the run (so they count as
        estimated); the mean, p95 and the longest streak it does not have at all, nor a budget
        before the run knew one.
        """
        if snapshot is None:
            return cls.from_counts(
                frames_processed=0, frames_dropped=0, duration_s=0.0, budget_ms=math.nan,
                budget_misses=0, longest_miss_streak=None, frame_ms={}, frame_age_ms={},
            )  # fmt: skip
        frame_ms, age_ms = snapshot.frame_ms, snapshot.frame_age_ms
        frames, ages = snapshot.frame_sketch, snapshot.age_sketch
        if frames is not None and ages is not None and frames.count and ages.count:
            # The run's sketches (its every frame so far) rather than the recent window.
            frame_ms = {k: _ms(v) for k, v in frames.summarize(FRAME_MS_KEYS).items()}
            age_ms = {k: _ms(v) for k, v in ages.summarize(AGE_MS_KEYS).items()}
        else:
            frames = ages = None
        return cls.from_counts(
            frames_processed=snapshot.frames_processed,
            frames_dropped=snapshot.frames_dropped,
            duration_s=snapshot.elapsed_s,
            budget_ms=snapshot.budget_ms or math.nan,
            budget_misses=snapshot.budget_misses,
            longest_miss_streak=None,
            frame_ms=frame_ms,
            frame_age_ms=age_ms,
            percentiles_estimated=snapshot.frames_processed > 0,
            frame_sketch=frames,
            age_sketch=ages,
        )


class FrameStats:
    """Collects per-frame timings for one run; ``summary()`` gives the report's numbers.

    ``exact_frames``: how many frames the percentiles are exact for (None: one hour at the rate
    the budget stands for, ``EXACT_SECONDS * 1000 / budget_ms``; 0: estimated from the start).
    """

    def __init__(
        self,
        budget_ms: float,
        clock: Callable[[], float] = time.perf_counter,
        miss_streak_warning: int = 5,
        *,
        exact_frames: int | None = None,
    ) -> None:
        if not budget_ms > 0:
            raise ValueError(f"budget_ms must be positive, but got {budget_ms}")
        if isinstance(miss_streak_warning, bool) or miss_streak_warning < 1:
            raise ValueError(
                f"miss_streak_warning must be a positive integer, but got {miss_streak_warning!r}"
            )
        if exact_frames is None:
            exact_frames = round(EXACT_SECONDS * 1000.0 / budget_ms)
        elif (
            isinstance(exact_frames, bool) or not isinstance(exact_frames, int) or exact_frames < 0
        ):
            raise ValueError(f"exact_frames must be an integer >= 0, but got {exact_frames!r}")
        self.exact_frames = exact_frames
        self.budget_ms = float(budget_ms)
        self.miss_streak_warning = miss_streak_warning
        self.clock = clock
        # Plain arrays of doubles (8 bytes a frame: an hour at 30 FPS is under 1 MB each) while
        # the percentiles are exact; None once the run is longer and the sketches answer.
        self._frame_ms: array[float] | None = array("d")
        self._age_ms: array[float] | None = array("d")
        self.frame_sketch = QuantileSketch()
        self.age_sketch = QuantileSketch()
        self.misses = 0
        self.miss_streak = 0
        self.longest_miss_streak = 0
        self.dropped = 0
        self._started: float | None = None
        self._stopped: float | None = None

    def start(self) -> None:
        """Mark the start of the run (for duration and achieved FPS)."""
        self._started = self.clock()
        self._stopped = None

    def stop(self) -> None:
        """Mark the end of the run; idempotent (the first call counts)."""
        if self._stopped is None:
            self._stopped = self.clock()

    def begin_frame(self) -> float:
        """Return the frame's start time, to pass to :meth:`finish_frame`."""
        return self.clock()

    def finish_frame(self, started_at: float, captured_at: float) -> FrameResult:
        """Record one processed frame that began at ``started_at`` and was captured at
        ``captured_at`` (both on this clock)."""
        now = self.clock()
        frame_ms = (now - started_at) * 1000.0
        age_ms = max(0.0, (now - captured_at) * 1000.0)
        self.frame_sketch.add(frame_ms)
        self.age_sketch.add(age_ms)
        if self._frame_ms is not None and self._age_ms is not None:
            if len(self._frame_ms) < self.exact_frames:
                self._frame_ms.append(frame_ms)
                self._age_ms.append(age_ms)
            else:  # past the exact count: memory stays what the sketches hold
                self._frame_ms = self._age_ms = None
        met = frame_ms <= self.budget_ms
        streak = None
        if met:
            if self.miss_streak >= self.miss_streak_warning:
                streak = MissStreak(self.miss_streak, ended=True)
            self.miss_streak = 0
        else:
            self.misses += 1
            self.miss_streak += 1
            self.longest_miss_streak = max(self.longest_miss_streak, self.miss_streak)
            if self.miss_streak == self.miss_streak_warning:
                streak = MissStreak(self.miss_streak, ended=False)
        return FrameResult(frame_ms, age_ms, met, self.miss_streak, now, streak)

    @property
    def frames(self) -> int:
        return self.frame_sketch.count

    @property
    def percentiles_estimated(self) -> bool:
        """True once the run has more frames than the exact count."""
        return self._frame_ms is None

    @property
    def duration_s(self) -> float:
        if self._started is None:
            return 0.0
        end = self._stopped if self._stopped is not None else self.clock()
        return max(0.0, end - self._started)

    def summary(self) -> FrameSummary:
        """The statistics part of the run summary."""
        frames = self.frames
        if self._frame_ms is None or self._age_ms is None:
            frame_ms = self.frame_sketch.summarize(FRAME_MS_KEYS)
            age_ms = self.age_sketch.summarize(AGE_MS_KEYS)
        else:
            times = np.frombuffer(self._frame_ms, dtype=np.float64) if frames else np.zeros(1)
            ages = np.frombuffer(self._age_ms, dtype=np.float64) if frames else np.zeros(1)
            frame_ms = summarize(times, FRAME_MS_KEYS)
            age_ms = summarize(ages, AGE_MS_KEYS)
        return FrameSummary.from_counts(
            frames_processed=frames,
            frames_dropped=self.dropped,
            duration_s=self.duration_s,
            budget_ms=round(self.budget_ms, 3),
            budget_misses=self.misses,
            longest_miss_streak=self.longest_miss_streak,
            frame_ms={key: _ms(value) for key, value in frame_ms.items()},
            frame_age_ms={key: _ms(value) for key, value in age_ms.items()},
            percentiles_estimated=self.percentiles_estimated,
            frame_sketch=self.frame_sketch.copy(),
            age_sketch=self.age_sketch.copy(),
        )


@dataclass(frozen=True)
class Timings:
    """Frame time and age statistics of several runs together (the summary's keys)."""

    frame_ms: dict[str, float]
    frame_age_ms: dict[str, float]
    percentiles_estimated: bool


def merged_timings(summaries: Iterable[FrameSummary]) -> Timings:
    """The frame time and age statistics of every frame of ``summaries`` together.

    One summary with frames: its own figures. Several: their sketches merged, so the
    percentiles are estimated (within 1 %) and the mean and max exact; a summary without a
    sketch (made from a snapshot) adds its max, not its percentiles. None with frames: NaN.
    """
    with_frames = [summary for summary in summaries if _timed_frames(summary) > 0]
    if len(with_frames) == 1:
        only = with_frames[0]
        return Timings(dict(only.frame_ms), dict(only.frame_age_ms), only.percentiles_estimated)
    frames = QuantileSketch.of(summary.frame_sketch for summary in with_frames)
    ages = QuantileSketch.of(summary.age_sketch for summary in with_frames)
    frame_ms = dict.fromkeys(FRAME_MS_KEYS, math.nan)
    age_ms = dict.fromkeys(AGE_MS_KEYS, math.nan)
    if frames.count:
        frame_ms = {key: _ms(value) for key, value in frames.summarize(FRAME_MS_KEYS).items()}
        age_ms = {key: _ms(value) for key, value in ages.summarize(AGE_MS_KEYS).items()}
    for summary in with_frames:
        if summary.frame_sketch is None:  # a max the sketches did not see
            frame_ms["max"] = _larger(frame_ms["max"], summary.frame_ms.get("max", math.nan))
            age_ms["max"] = _larger(age_ms["max"], summary.frame_age_ms.get("max", math.nan))
    return Timings(frame_ms, age_ms, percentiles_estimated=bool(with_frames))


def with_timings_of(summary: FrameSummary, earlier: FrameSummary | None) -> FrameSummary:
    """``summary`` with its frame time and age statistics taken over the frames of ``earlier``
    (other runs, merged) as well; its counts as they are. The result merges on in turn."""
    if earlier is None:
        return summary
    timings = merged_timings([earlier, summary])
    frames = [s.frame_sketch for s in (earlier, summary) if s.frame_sketch is not None]
    ages = [s.age_sketch for s in (earlier, summary) if s.age_sketch is not None]
    return dataclasses.replace(
        summary,
        frame_ms=timings.frame_ms,
        frame_age_ms=timings.frame_age_ms,
        percentiles_estimated=timings.percentiles_estimated,
        frame_sketch=QuantileSketch.of(frames) if frames else None,
        age_sketch=QuantileSketch.of(ages) if ages else None,
    )


def _timed_frames(summary: FrameSummary) -> int:
    """The frames a summary's timings cover: its sketch's, else its count."""
    sketch = summary.frame_sketch
    return sketch.count if sketch is not None else summary.frames_processed


def _larger(a: float, b: float) -> float:
    """The larger of two figures, NaN (unknown) only when both are."""
    if math.isnan(a):
        return b
    return a if math.isnan(b) else max(a, b)


def _ms(value: float) -> float:
    return round(float(value), 3)
