"""Tests for framepipe.pipeline.stats: per-frame budget statistics on a hand-driven clock."""

from __future__ import annotations

import pytest

from framepipe.pipeline.stats import FrameStats, FrameSummary, MissStreak
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
