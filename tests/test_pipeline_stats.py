"""Tests for framepipe.pipeline.stats: per-frame budget statistics on a hand-driven clock, in
memory that stays flat however long the run."""

from __future__ import annotations

import dataclasses
import math
import pickle
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

from framepipe.pipeline.stats import FrameStats, FrameSummary, MissStreak, merged_timings
from helpers import ManualClock


def run_frames(stats: FrameStats, clock: ManualClock, frame_ms: list[float], age_extra_ms=0.0):
    """Feed frames taking ``frame_ms`` each, captured ``age_extra_ms`` before they start."""
    results = []
    for ms in frame_ms:
        captured = clock.now - age_extra_ms / 1000
        started = stats.begin_frame()
        clock.now += ms / 1000
        results.append(stats.finish_frame(started, captured))
    return results


class TestFrameStats:
    def test_counts_misses_and_the_longest_streak(self):
        """Frames over the budget are misses; the longest run of consecutive misses is kept."""
        clock = ManualClock()
        stats = FrameStats(budget_ms=10.0, clock=clock)
        results = run_frames(stats, clock, [5, 12, 15, 4, 11, 11, 11, 3, 10])
        assert stats.misses == 5
        assert stats.longest_miss_streak == 3
        assert [r.miss_streak for r in results] == [0, 1, 2, 0, 1, 2, 3, 0, 0]
        assert results[-1].met_budget  # exactly on budget counts as met

    def test_a_long_streak_is_reported_when_it_reaches_the_warning_and_when_it_ends(self):
        """With a warning at 3: the 3rd miss in a row says the streak started, the next met
        frame says it ended and how long it was; shorter streaks say nothing."""
        clock = ManualClock()
        stats = FrameStats(budget_ms=10.0, clock=clock, miss_streak_warning=3)
        results = run_frames(stats, clock, [12, 12, 5, 12, 12, 12, 12, 5, 5])
        events = [(i, r.streak) for i, r in enumerate(results) if r.streak is not None]
        assert events == [
            (5, MissStreak(length=3, ended=False)),
            (7, MissStreak(length=4, ended=True)),
        ]

    def test_each_frame_result_says_when_it_finished(self):
        """finished_at is the stats clock at the end of the frame (for the live window)."""
        clock = ManualClock()
        stats = FrameStats(budget_ms=10.0, clock=clock)
        results = run_frames(stats, clock, [4.0, 6.0])
        assert [r.finished_at for r in results] == pytest.approx([0.004, 0.010])

    def test_summary_has_the_report_numbers(self):
        """Percentiles, miss percentage, FPS and ages come out as the summary JSON expects."""
        clock = ManualClock()
        stats = FrameStats(budget_ms=20.0, clock=clock)
        stats.start()
        run_frames(stats, clock, [float(ms) for ms in range(1, 101)], age_extra_ms=5.0)
        stats.dropped = 7
        stats.stop()
        summary = stats.summary()
        assert isinstance(summary, FrameSummary)
        assert summary.frames_processed == 100
        assert summary.frames_dropped == 7
        assert summary.budget_misses == 80  # 21..100 ms
        assert summary.budget_miss_pct == 80.0
        assert summary.longest_miss_streak == 80
        assert summary.duration_s == pytest.approx(5.05)  # 1 + 2 + ... + 100 ms
        assert summary.fps == pytest.approx(100 / 5.05, abs=0.01)
        assert summary.frame_ms == {
            "mean": 50.5,
            "p50": 50.5,
            "p95": pytest.approx(95.05),
            "p99": pytest.approx(99.01),
            "max": 100.0,
        }
        # Age = the 5 ms wait before processing + the processing time itself.
        assert summary.frame_age_ms == {
            "p50": pytest.approx(55.5),
            "p99": pytest.approx(104.01),
            "max": 105.0,
        }

    def test_stop_freezes_the_duration(self):
        """Time after stop() does not count; the first stop() wins."""
        clock = ManualClock()
        stats = FrameStats(budget_ms=33.3, clock=clock)
        stats.start()
        clock.now = 2.0
        stats.stop()
        clock.now = 9.0
        stats.stop()
        assert stats.duration_s == 2.0

    def test_an_empty_run_summarises_to_zeros(self):
        """No frames (e.g. stopped at once) gives zeros, not a division error."""
        stats = FrameStats(budget_ms=33.3, clock=ManualClock())
        summary = stats.summary()
        assert summary.frames_processed == 0
        assert summary.fps == 0.0
        assert summary.budget_miss_pct == 0.0
        assert summary.frame_ms == {"mean": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}

    @pytest.mark.parametrize("warning", [0, -3, True])
    def test_rejects_a_miss_streak_warning_that_is_not_a_positive_integer(self, warning: int):
        """A streak warning needs at least one miss."""
        with pytest.raises(ValueError, match="miss_streak_warning must be a positive integer"):
            FrameStats(budget_ms=10.0, miss_streak_warning=warning)

    @pytest.mark.parametrize("budget", [0, -1.0, float("nan")])
    def test_rejects_a_budget_that_is_not_positive(self, budget: float):
        """The budget must be a positive number of milliseconds."""
        with pytest.raises(ValueError, match="budget_ms must be positive, but got"):
            FrameStats(budget_ms=budget)


def lognormal_ms(count: int) -> list[float]:
    """Frame times as a camera loop sees them: mostly a few ms, a long tail to tens of ms."""
    return np.random.default_rng(7).lognormal(mean=1.5, sigma=0.6, size=count).tolist()


def bimodal_ms(count: int) -> list[float]:
    """Two kinds of frames: 80 % around 4 ms, 20 % (a heavy detector step) around 40 ms."""
    rng = np.random.default_rng(11)
    fast = rng.normal(4.0, 0.5, size=count)
    slow = rng.normal(40.0, 4.0, size=count)
    return np.clip(np.where(rng.random(count) < 0.8, fast, slow), 0.05, None).tolist()


def within(estimate: float, exact: float, relative: float = 0.01) -> bool:
    return abs(estimate - exact) <= relative * abs(exact) + 1e-3  # + the summary's rounding


class TestBoundedMemory:
    """A run of any length: exact percentiles for the first frames, then a sketch within 1 %."""

    @pytest.mark.timeout(600)  # about 10 s of one core, traced; far longer on a shared one
    def test_a_million_frames_take_no_more_memory_after_the_first_200_000(self):
        """tracemalloc sees no growth from frame 200,000 to frame 1,000,000 (the arrays of
        every frame's time and age would grow 12.8 MB). One distribution is enough: the sketch's
        buckets are what could grow, and log-normal times spread over the most of them."""
        stats, _ = self._run_a_million(lognormal_ms, trace_from=200_000)
        assert stats.summary().frames_processed == 1_000_000

    @pytest.mark.parametrize("distribution", [lognormal_ms, bimodal_ms])
    def test_a_million_frames_have_percentiles_within_one_percent(self, distribution):
        """p50/p99 of frame time and age are within 1 % of numpy's exact values over every
        frame, the mean and max exact."""
        stats, frame_ms = self._run_a_million(distribution)
        summary = stats.summary()
        assert summary.frames_processed == 1_000_000
        assert summary.percentiles_estimated
        times = np.asarray(frame_ms)
        ages = times + self.WAIT_S * 1000
        exact = dict(zip(("p50", "p99"), np.percentile(times, [50, 99]), strict=True))
        exact_age = dict(zip(("p50", "p99"), np.percentile(ages, [50, 99]), strict=True))
        for key in ("p50", "p99"):
            assert within(summary.frame_ms[key], exact[key]), (key, summary.frame_ms, exact)
            assert within(summary.frame_age_ms[key], exact_age[key]), (key, summary.frame_age_ms)
        # The mean and max are kept exactly, not estimated.
        assert summary.frame_ms["mean"] == pytest.approx(times.mean(), abs=1e-3)
        assert summary.frame_ms["max"] == pytest.approx(times.max(), abs=1e-3)

    WAIT_S = 0.002  # each frame waited 2 ms in the buffer: age = 2 ms + frame time

    def _run_a_million(
        self, distribution: Callable[[int], list[float]], trace_from: int | None = None
    ) -> tuple[FrameStats, list[float]]:
        """A million frames of ``distribution`` through FrameStats (exact for the first
        108,000, as at 30 FPS); with ``trace_from``, tracemalloc from that frame on must see
        less than 64 KiB more (a few new buckets at most) at every 200,000th frame."""
        clock = ManualClock()
        stats = FrameStats(budget_ms=1000 / 30, clock=clock)
        frame_ms = distribution(1_000_000)
        grown_by: list[int] = []
        base = 0
        try:
            for i, ms in enumerate(frame_ms):
                if i == trace_from:
                    tracemalloc.start()
                    base = tracemalloc.get_traced_memory()[0]
                elif trace_from is not None and i > trace_from and i % 200_000 == 0:
                    grown_by.append(tracemalloc.get_traced_memory()[0] - base)
                started = stats.begin_frame()
                clock.now += ms / 1000
                stats.finish_frame(started, started - self.WAIT_S)
            if trace_from is not None:
                grown_by.append(tracemalloc.get_traced_memory()[0] - base)
        finally:
            tracemalloc.stop()
        assert max(grown_by, default=0) < 64 * 1024, grown_by
        return stats, frame_ms

    def test_percentiles_are_exact_up_to_the_exact_count_and_estimated_after(self):
        """With exact_frames=100: 100 frames give numpy's exact percentiles and say so; the
        101st switches to the sketch, which says it estimates, within 1 %."""
        clock = ManualClock()
        stats = FrameStats(budget_ms=20.0, clock=clock, exact_frames=100)
        run_frames(stats, clock, [float(ms) for ms in range(1, 101)])
        exact = stats.summary()
        assert not exact.percentiles_estimated
        assert exact.frame_ms["p99"] == pytest.approx(99.01)
        run_frames(stats, clock, [50.0])
        estimated = stats.summary()
        assert estimated.percentiles_estimated and estimated.frames_processed == 101
        values = [float(ms) for ms in range(1, 101)] + [50.0]
        for key, q in (("p50", 50), ("p95", 95), ("p99", 99)):
            assert within(estimated.frame_ms[key], float(np.percentile(values, q)))
        assert estimated.frame_ms["max"] == 100.0
        assert estimated.frame_ms["mean"] == pytest.approx(sum(values) / 101, abs=1e-3)

    def test_by_default_the_percentiles_are_exact_for_an_hour_at_the_budget_s_rate(self):
        """A 30 FPS source (budget 33.3 ms) keeps 108,000 frames exact; 10 FPS 36,000."""
        assert FrameStats(budget_ms=1000 / 30).exact_frames == 108_000
        assert FrameStats(budget_ms=100.0).exact_frames == 36_000

    @pytest.mark.parametrize("exact_frames", [-1, 1.5, True])
    def test_rejects_an_exact_count_that_is_not_a_count(self, exact_frames):
        with pytest.raises(ValueError, match="exact_frames must be an integer >= 0"):
            FrameStats(budget_ms=10.0, exact_frames=exact_frames)

    def test_the_summary_carries_every_frame_in_sketches_that_travel(self):
        """The summary's sketches count every frame, exact or not, and survive pickling (a
        worker sends its summary to its supervisor)."""
        clock = ManualClock()
        stats = FrameStats(budget_ms=20.0, clock=clock, exact_frames=10)
        run_frames(stats, clock, [5.0] * 30)
        summary = pickle.loads(pickle.dumps(stats.summary()))
        assert summary.frame_sketch is not None and summary.frame_sketch.count == 30
        assert summary.age_sketch is not None and summary.age_sketch.count == 30
        run_frames(stats, clock, [5.0])
        assert summary.frame_sketch.count == 30  # a copy: the run goes on without changing it


def summary_of(frame_ms: list[float], exact_frames: int | None = None) -> FrameSummary:
    clock = ManualClock()
    stats = FrameStats(budget_ms=20.0, clock=clock, exact_frames=exact_frames)
    run_frames(stats, clock, frame_ms, age_extra_ms=1.0)
    return stats.summary()


class TestMergedTimings:
    """Several runs' percentiles together: a stream's restarts, the total over streams."""

    def test_two_runs_merge_into_the_percentiles_of_all_their_frames(self):
        """One fast run and one slow run: the merged p50 and p99 are those of both together,
        within 1 %, and say they are estimated; the mean and max are exact."""
        fast, slow = lognormal_ms(3000), [ms * 5 for ms in lognormal_ms(1000)]
        merged = merged_timings([summary_of(fast), summary_of(slow)])
        both = np.asarray(fast + slow)
        assert merged.percentiles_estimated
        for key, q in (("p50", 50), ("p95", 95), ("p99", 99)):
            assert within(merged.frame_ms[key], float(np.percentile(both, q))), key
        assert within(merged.frame_age_ms["p99"], float(np.percentile(both + 1.0, 99)))
        assert merged.frame_ms["mean"] == pytest.approx(both.mean(), abs=1e-3)
        assert merged.frame_ms["max"] == pytest.approx(both.max(), abs=1e-3)

    def test_one_run_with_frames_keeps_its_own_exact_figures(self):
        """A restart that processed nothing changes nothing: still exact."""
        only = summary_of([float(ms) for ms in range(1, 101)])
        merged = merged_timings([summary_of([]), only])
        assert (merged.frame_ms, merged.frame_age_ms) == (only.frame_ms, only.frame_age_ms)
        assert not merged.percentiles_estimated

    def test_a_run_known_only_from_a_snapshot_adds_its_max(self):
        """A killed run's summary has no sketch: its max still counts, its window does not."""
        killed = dataclasses.replace(summary_of([99.0, 1.0]), frame_sketch=None, age_sketch=None)
        merged = merged_timings([summary_of([5.0] * 10), killed])
        assert merged.frame_ms["max"] == 99.0
        assert merged.frame_ms["p50"] == pytest.approx(5.0, rel=0.01)
        assert merged.percentiles_estimated

    def test_no_frames_anywhere_is_unknown(self):
        merged = merged_timings([summary_of([]), summary_of([])])
        assert all(math.isnan(value) for value in merged.frame_ms.values())
