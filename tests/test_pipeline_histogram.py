"""FrameHistogram: per-frame counts in fixed buckets that the frame loop feeds and any thread
reads, the same bounds for every stream so they add up."""

from __future__ import annotations

import threading
import time
from itertools import pairwise

import numpy as np
import pytest

from framepipe._snapshot import HistogramCounts, merge_histograms
from framepipe.pipeline import Pipeline
from framepipe.pipeline.histogram import BUCKET_BOUNDS, FrameHistogram, FrameHistograms
from framepipe.typing import Frame
from parallel_processors import takes_20_ms


def bucket_quantile(q: float, reading: HistogramCounts) -> float:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket holding the
    q-th value (the first bucket starts at 0)."""
    rank = q * reading.count
    lower, below = 0.0, 0
    for bound, cumulative in zip(reading.bounds, reading.cumulative, strict=False):
        if cumulative >= rank:
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return reading.bounds[-1]


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def takes_50_us(frame: Frame) -> Frame:
    busy(50e-6)
    return frame


class TestBucketBounds:
    def test_bounds_span_10_us_to_10_s_at_most_a_factor_2_apart(self) -> None:
        """Log-spaced in seconds, 3 to 4 a decade: any estimate within a bucket is within 2x."""
        assert BUCKET_BOUNDS[0] == 1e-5
        assert BUCKET_BOUNDS[-1] == 10.0
        assert all(b / a <= 2.0 for a, b in pairwise(BUCKET_BOUNDS))
        for low in (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0):
            in_decade = [b for b in BUCKET_BOUNDS if low <= b < low * 10]
            assert 3 <= len(in_decade) - sum(b in (1 / 60, 1 / 30) for b in in_decade) <= 4

    def test_the_budgets_of_60_and_30_fps_are_exact_bounds(self) -> None:
        """``le`` 1/60 and 1/30 answer "within budget" for the common frame rates."""
        assert 1 / 60 in BUCKET_BOUNDS
        assert 1 / 30 in BUCKET_BOUNDS

    def test_bounds_are_the_same_whatever_the_budget_or_stream(self) -> None:
        """Two pipelines at 15 and 30 FPS count in the same buckets, so their sum is valid."""
        slow = Pipeline("synthetic:32x32@15:1")
        fast = Pipeline("synthetic:32x32@30:1")
        slow.run()
        fast.run()
        slow_reading = slow.snapshot().frame_histogram
        fast_reading = fast.snapshot().frame_histogram
        assert slow_reading is not None and fast_reading is not None
        assert slow_reading.bounds == fast_reading.bounds == BUCKET_BOUNDS
        assert slow_reading.merged(fast_reading).count == 45

    @pytest.mark.parametrize(("processor", "seconds"), [(takes_50_us, 50e-6), (takes_20_ms, 0.02)])
    def test_quantiles_from_the_buckets_are_within_2x_of_the_runs_own(
        self, processor: object, seconds: float
    ) -> None:
        """p50 and p99 estimated from the buckets as Prometheus does match the summary's.

        300 frames: the two rank p99 a little differently (Prometheus at the 297th frame, the
        summary between the 297th and the 298th), so with only a few dozen frames one slow frame
        of a busy machine would be the p99 of one and not of the other."""
        pipeline = Pipeline("synthetic:32x32@30:10", processor=processor)  # type: ignore[arg-type]
        report = pipeline.run()
        reading = pipeline.snapshot().frame_histogram
        assert reading is not None and reading.count == report.frames_processed == 300
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            truth = report.frame_ms[name] / 1000
            estimate = bucket_quantile(q, reading)
            assert truth / 2 <= estimate <= truth * 2, (name, truth, estimate)
        assert report.frame_ms["p50"] / 1000 >= seconds


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


class TestMergingReadings:
    def test_two_readings_add_up_bucket_by_bucket(self) -> None:
        """A stream's counts over two attempts are the sum of each attempt's."""
        first, second = FrameHistogram(), FrameHistogram()
        for value in (0.001, 0.02):
            first.observe(value)
        second.observe(0.5)
        merged = first.read().merged(second.read())
        assert merged.count == 3
        assert merged.sum == pytest.approx(0.521)
        both = FrameHistogram()
        for value in (0.001, 0.02, 0.5):
            both.observe(value)
        assert merged.cumulative == both.read().cumulative

    def test_readings_on_other_bounds_are_refused(self) -> None:
        """Adding counts of different buckets would make a histogram that lies."""
        with pytest.raises(ValueError, match="different bounds"):
            FrameHistogram((1.0,)).read().merged(FrameHistogram((2.0,)).read())

    def test_a_missing_reading_leaves_the_other_as_it_is(self) -> None:
        reading = FrameHistogram().read()
        assert merge_histograms(None, reading) is reading
        assert merge_histograms(reading, None) is reading
        assert merge_histograms(None, None) is None


class TestFrameHistograms:
    def test_both_histograms_use_the_shared_bounds(self) -> None:
        """Frame time and frame age count in the same fixed buckets, in seconds."""
        pair = FrameHistograms.fixed()
        assert pair.frame.bounds == pair.age.bounds == BUCKET_BOUNDS
        pair.observe(frame_s=0.01, age_s=0.05)
        assert pair.frame.read().count == 1
        assert pair.age.read().sum == pytest.approx(0.05)

    def test_a_snapshot_carries_the_runs_histograms(self) -> None:
        """What a worker sends its supervisor holds the bucket counts, frame or not."""
        pipeline = Pipeline("synthetic:32x32@30:1", processor=lambda f: np.ascontiguousarray(f))
        pipeline.run()
        bare = pipeline.snapshot().without_frame()
        assert bare.frame_histogram is not None and bare.frame_histogram.count == 30
        assert bare.age_histogram is not None and bare.age_histogram.count == 30
