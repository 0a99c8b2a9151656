"""Tests for framepipe._stats: percentiles, named summaries, and the GC-free timed block."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from framepipe._stats import gc_disabled, percentiles, summarize


class TestPercentiles:
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
        assert percentiles(samples, [q]) == [pytest.approx(expected)]

    def test_is_numpys_linear_method_on_random_samples(self) -> None:
        """The definition is numpy's default ("linear") method, to the last bit."""
        rng = np.random.default_rng(7)
        samples = rng.exponential(3.0, size=1001)
        qs = [1, 50, 90, 99, 99.9]
        assert percentiles(samples, qs) == np.percentile(samples, qs, method="linear").tolist()

    def test_returns_plain_floats_in_the_order_asked(self) -> None:
        """Values go straight into JSON: Python floats, one per q, in the caller's order."""
        values = percentiles([4, 1, 3, 2], [99, 0, 50])
        assert values == [pytest.approx(3.97), 1.0, 2.5]
        assert all(type(value) is float for value in values)

    @pytest.mark.parametrize("q", [-1, 100.5])
    def test_rejects_q_outside_0_to_100(self, q: float) -> None:
        """q outside [0, 100] is a ValueError naming what was expected."""
        with pytest.raises(ValueError, match="q must be between 0 and 100"):
            percentiles([1.0, 2.0], [50, q])

    def test_rejects_no_samples(self) -> None:
        """An empty sample list has no percentile."""
        with pytest.raises(ValueError, match="samples must not be empty"):
            percentiles([], [50])


class TestSummarize:
    def test_gives_each_named_statistic_in_the_order_named(self) -> None:
        """mean, max, min and pNN keys, in the order asked for."""
        summary = summarize([1.0, 2.0, 3.0, 10.0], ("mean", "p50", "p99", "max", "min"))
        assert list(summary) == ["mean", "p50", "p99", "max", "min"]
        assert summary == {
            "mean": 4.0,
            "p50": 2.5,
            "p99": pytest.approx(3.0 + 7.0 * 0.97),
            "max": 10.0,
            "min": 1.0,
        }

    def test_a_fractional_percentile_key_is_read_as_its_number(self) -> None:
        """A key like "p99.9" asks for the 99.9th percentile."""
        samples = list(range(1001))
        assert summarize(samples, ("p99.9",)) == {"p99.9": pytest.approx(999.0)}

    def test_divides_by_the_scale_before_summarizing(self) -> None:
        """Integer nanoseconds become milliseconds, each sample divided as Python divides it."""
        frame_ns = [1_000_001, 2_000_003, 3_000_007]
        summary = summarize(frame_ns, ("p50", "max"), scale=1_000_000)
        assert summary == {"p50": 2_000_003 / 1_000_000, "max": 3_000_007 / 1_000_000}
        assert all(type(value) is float for value in summary.values())

    def test_the_mean_is_pythons_float_sum_to_the_last_bit(self) -> None:
        """Reports keep their numbers exactly: the mean adds the samples as ``sum()`` does."""
        rng = np.random.default_rng(3)
        frame_ns = rng.integers(1, 50_000_000, size=997).tolist()
        scaled = [value / 1_000_000 for value in frame_ns]
        summary = summarize(frame_ns, ("mean",), scale=1_000_000)
        assert summary["mean"] == sum(scaled) / len(scaled)

    @pytest.mark.parametrize("key", ["median", "p", "p101", "pxx", ""])
    def test_rejects_an_unknown_statistic(self, key: str) -> None:
        """A key that is not mean, min, max or p0..p100 is refused, naming the key."""
        with pytest.raises(ValueError, match="statistic must be mean, min, max or pNN"):
            summarize([1.0], (key,))

    def test_rejects_no_samples(self) -> None:
        """No samples, no summary: the caller decides what an empty run reports."""
        with pytest.raises(ValueError, match="samples must not be empty"):
            summarize([], ("mean",))


class TestGcDisabled:
    def test_turns_gc_off_inside_and_back_on_after(self) -> None:
        """Like timeit: the collector is off in the block and on again afterwards."""
        assert gc.isenabled()
        with gc_disabled():
            assert not gc.isenabled()
        assert gc.isenabled()

    def test_leaves_gc_off_when_it_was_off(self) -> None:
        """A caller that had the collector off keeps it off."""
        gc.disable()
        try:
            with gc_disabled():
                pass
            assert not gc.isenabled()
        finally:
            gc.enable()

    def test_restores_gc_when_the_block_raises(self) -> None:
        """An error inside the timed block does not leave the collector off."""
        with pytest.raises(RuntimeError), gc_disabled():
            raise RuntimeError("processor failed")
        assert gc.isenabled()

    def test_collect_first_empties_the_backlog_before_the_block(self) -> None:
        """collect=True starts the block with no collectable cycles pending."""
        _leave_cycles()
        with gc_disabled(collect=True):
            assert gc.collect() == 0

    def test_without_collect_the_backlog_stays(self) -> None:
        """By default nothing is collected on entry: the caller's timing stays its own."""
        _leave_cycles()
        with gc_disabled():
            assert gc.collect() > 0


class _Node:
    def __init__(self) -> None:
        self.me = self


def _leave_cycles() -> None:
    """Start from an empty backlog, then leave 100 cycles only the cyclic collector frees."""
    gc.collect()
    for _ in range(100):
        _Node()
