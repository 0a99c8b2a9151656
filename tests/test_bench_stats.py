"""Tests for framepipe.bench.stats: frame and call summaries on known inputs."""

from __future__ import annotations

import pytest

from framepipe.bench.stats import CallCosts, FrameTimes, summarize_calls, summarize_frames


class TestSummaries:
    def test_frame_summary_is_in_milliseconds(self) -> None:
        """Nanosecond frame times become mean/p50/p99/max in ms."""
        summary = summarize_frames([1_000_000, 2_000_000, 3_000_000, 10_000_000])
        assert summary == FrameTimes(
            mean=pytest.approx(4.0),
            p50=pytest.approx(2.5),
            p99=pytest.approx(3.0 + 7.0 * 0.97),
            max=pytest.approx(10.0),
        )

    def test_frame_summary_rejects_no_frames(self) -> None:
        """A run without frames cannot be summarised."""
        with pytest.raises(ValueError, match="frame_ns must not be empty"):
            summarize_frames([])

    def test_call_summary_is_in_microseconds(self) -> None:
        """Nanosecond call costs become p50/p99/max in µs."""
        summary = summarize_calls([1_000, 3_000, 2_000])
        assert summary == CallCosts(
            p50=pytest.approx(2.0), p99=pytest.approx(2.98), max=pytest.approx(3.0)
        )

    def test_call_summary_without_calls_is_none(self) -> None:
        """The no-logging baseline made no calls: its call costs are None, not zero."""
        assert summarize_calls([]) == CallCosts(p50=None, p99=None, max=None)

    def test_summaries_are_plain_floats_for_json(self) -> None:
        """numpy does the arithmetic, but the report gets Python floats."""
        frames = summarize_frames([1_000_000, 3_000_000])
        calls = summarize_calls([1_000, 3_000])
        values = [frames.mean, frames.p50, frames.p99, frames.max, calls.p50, calls.p99, calls.max]
        assert all(type(value) is float for value in values)

    def test_a_skipped_mode_has_every_value_none(self) -> None:
        """The empty summaries stand in for a mode that did not run."""
        assert FrameTimes() == FrameTimes(mean=None, p50=None, p99=None, max=None)
        assert CallCosts() == CallCosts(p50=None, p99=None, max=None)
