"""FrameHistogram: cumulative per-frame buckets the frame loop feeds and any thread reads."""

from __future__ import annotations

import threading

import pytest

from framepipe.pipeline.histogram import (
    BUDGET_MULTIPLES,
    FrameHistogram,
    FrameHistograms,
    budget_bounds,
)


class TestBudgetBounds:
    def test_bounds_fall_exactly_on_the_budget_and_its_half_double_and_triple(self) -> None:
        """A 33.3 ms budget gives boundaries at exactly 0.5x, 1x, 2x and 3x of 0.0333 s."""
        budget_s = 33.3 / 1000
        bounds = budget_bounds(budget_s)
        for multiple in (0.5, 1.0, 2.0, 3.0):
            assert budget_s * multiple in bounds
        assert list(bounds) == sorted(set(bounds))
        assert len(bounds) == len(BUDGET_MULTIPLES)

    @pytest.mark.parametrize("budget_s", [0.0, -1.0, float("inf"), float("nan")])
    def test_a_budget_that_is_not_positive_and_finite_is_refused(self, budget_s: float) -> None:
        """Buckets need a real budget to be placed around."""
        with pytest.raises(ValueError, match="budget_s must be"):
            budget_bounds(budget_s)


class TestFrameHistogram:
    def test_values_land_in_the_first_bucket_whose_bound_they_do_not_exceed(self) -> None:
        """A value equal to a bound counts in that bound's bucket, like Prometheus' ``le``."""
        histogram = FrameHistogram((0.01, 0.02, 0.03))
        for value in (0.005, 0.01, 0.015, 0.03, 0.5):
            histogram.observe(value)
        reading = histogram.read()
        assert reading.bounds == (0.01, 0.02, 0.03)
        assert reading.cumulative == (2, 3, 4, 5)  # the last is +Inf
        assert reading.count == 5
        assert reading.sum == pytest.approx(0.56)

    def test_an_empty_histogram_reads_as_zeros(self) -> None:
        """Before any frame every bucket, the count and the sum are zero."""
        reading = FrameHistogram((1.0,)).read()
        assert reading.cumulative == (0, 0)
        assert reading.count == 0
        assert reading.sum == 0.0

    @pytest.mark.parametrize(
        "bounds",
        [
            (),  # no bucket at all
            (0.02, 0.01),  # not increasing
            (0.01, 0.01),  # repeated
            (0.01, float("inf")),  # +Inf is implied, never given
            (-0.01, 0.01),  # frame times are not negative
        ],
    )
    def test_bounds_must_be_positive_finite_and_increasing(
        self, bounds: tuple[float, ...]
    ) -> None:
        """Bad boundaries are refused when the histogram is made, not at the first scrape."""
        with pytest.raises(ValueError, match="bounds must be"):
            FrameHistogram(bounds)

    def test_a_reader_never_sees_a_count_go_down_while_the_writer_runs(self) -> None:
        """Readings taken from another thread during observation are cumulative and monotonic."""
        histogram = FrameHistogram((0.001, 0.002))
        done = threading.Event()

        def write() -> None:
            for i in range(200_000):
                histogram.observe((i % 3) * 0.001)
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        previous = histogram.read()
        while not done.is_set():
            reading = histogram.read()
            assert list(reading.cumulative) == sorted(reading.cumulative)
            assert all(a <= b for a, b in zip(previous.cumulative, reading.cumulative, strict=True))
            previous = reading
        writer.join(timeout=10)
        assert histogram.read().count == 200_000


class TestFrameHistograms:
    def test_for_budget_places_both_histograms_around_the_budget(self) -> None:
        """Frame time and frame age share the budget's boundaries, in seconds."""
        pair = FrameHistograms.for_budget(40.0)
        assert 0.04 in pair.frame.bounds
        assert pair.age.bounds == pair.frame.bounds
        pair.observe(frame_s=0.01, age_s=0.05)
        assert pair.frame.read().count == 1
        assert pair.age.read().sum == pytest.approx(0.05)
