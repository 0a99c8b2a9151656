"""Tests for framepipe.bench.stats: percentiles and summaries on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from framepipe.bench.stats import percentile, summarize_calls, summarize_frames


class TestPercentile:
    @pytest.mark.parametrize(
        ("samples", "q", "expected"),
        [
            ([1, 2, 3, 4, 5], 50, 3.0),  # odd count: the middle value
            ([1, 2, 3, 4], 50, 2.5),  # even count: halfway between the middle two
            ([10, 20, 30, 40, 50], 0, 10.0),  # q=0 is the minimum
            ([10, 20, 30, 40, 50], 100, 50.0),  # q=100 is the maximum
            ([10, 20, 30, 40, 50], 25, 20.0),  # rank 1 exactly
            ([0, 100], 99, 99.0),  # rank 0.99: interpolated
            ([7], 99, 7.0),  # a single sample is every percentile
            ([5, 1, 4, 2, 3], 50, 3.0),  # unsorted input is sorted first
        ],
    )
    def test_matches_known_values(self, samples: list[float], q: float, expected: float) -> None:
        """Linear interpolation between ranks gives the textbook values."""
        assert percentile(samples, q) == pytest.approx(expected)

    def test_agrees_with_numpy_default_on_random_samples(self) -> None:
        """The definition is numpy's default ("linear") method, so both give the same numbers."""
        rng = np.random.default_rng(7)
        samples = rng.exponential(3.0, size=1001).tolist()
        for q in (1, 50, 90, 99, 99.9):
            assert percentile(samples, q) == pytest.approx(float(np.percentile(samples, q)))

    @pytest.mark.parametrize("q", [-1, 100.5])
    def test_rejects_q_outside_0_to_100(self, q: float) -> None:
        """q outside [0, 100] is a ValueError naming what was expected."""
        with pytest.raises(ValueError, match="q must be between 0 and 100"):
            percentile([1.0, 2.0], q)

    def test_rejects_no_samples(self) -> None:
        """An empty sample list has no percentile."""
        with pytest.raises(ValueError, match="samples must not be empty"):
            percentile([], 50)


class TestSummaries:
    def test_frame_summary_is_in_milliseconds(self) -> None:
        """Nanosecond frame times become mean/p50/p99/max in ms."""
        frame_ns = [1_000_000, 2_000_000, 3_000_000, 10_000_000]
        summary = summarize_frames(frame_ns)
        assert summary == {
            "mean": pytest.approx(4.0),
            "p50": pytest.approx(2.5),
            "p99": pytest.approx(3.0 + 7.0 * 0.97),
            "max": pytest.approx(10.0),
        }

    def test_frame_summary_rejects_no_frames(self) -> None:
        """A run without frames cannot be summarised."""
        with pytest.raises(ValueError, match="frame_ns must not be empty"):
            summarize_frames([])

    def test_call_summary_is_in_microseconds(self) -> None:
        """Nanosecond call costs become p50/p99/max in µs."""
        summary = summarize_calls([1_000, 3_000, 2_000])
        assert summary == {
            "p50": pytest.approx(2.0),
            "p99": pytest.approx(2.98),
            "max": pytest.approx(3.0),
        }

    def test_call_summary_without_calls_is_none(self) -> None:
        """The no-logging baseline made no calls: its call costs are None, not zero."""
        assert summarize_calls([]) == {"p50": None, "p99": None, "max": None}
