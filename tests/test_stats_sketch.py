"""Tests for framepipe._stats.QuantileSketch: percentiles within 1 % from constant memory."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from framepipe._stats import QuantileSketch, percentiles

QS = [0, 1, 5, 25, 50, 75, 90, 95, 99, 99.9, 100]


def sketch_of(values: np.ndarray | list[float], **options: object) -> QuantileSketch:
    sketch = QuantileSketch(**options)  # type: ignore[arg-type]
    sketch.update(np.asarray(values, dtype=float).tolist())
    return sketch


def assert_within(estimates: list[float], exact: list[float], relative: float = 0.01) -> None:
    for q, estimate, value in zip(QS, estimates, exact, strict=True):
        assert abs(estimate - value) <= relative * abs(value) + 1e-12, (q, estimate, value)


class TestQuantileSketch:
    @pytest.mark.parametrize(
        "values",
        [
            np.random.default_rng(1).lognormal(0.0, 2.0, 50_000),  # six decades
            np.random.default_rng(2).uniform(1.0, 2.0, 50_000),  # narrow
            np.random.default_rng(3).exponential(10.0, 50_000),
            np.arange(1.0, 11.0),  # a few values: interpolated as numpy does
        ],
        ids=["lognormal", "uniform", "exponential", "ten"],
    )
    def test_every_percentile_is_within_one_percent_of_numpy_s(self, values: np.ndarray):
        assert_within(sketch_of(values).percentiles(QS), percentiles(values, QS))

    def test_memory_is_the_buckets_in_use_not_the_values(self):
        """A million values over three decades take a few hundred buckets; a million more of
        the same kind add none."""
        rng = np.random.default_rng(4)
        sketch = sketch_of(rng.uniform(1.0, 1000.0, 1_000_000))
        buckets = len(sketch)
        assert buckets < 400
        sketch.update(rng.uniform(1.0, 1000.0, 1_000_000).tolist())
        assert len(sketch) == buckets and sketch.count == 2_000_000

    def test_beyond_max_buckets_the_lowest_fold_and_the_high_percentiles_stay_accurate(self):
        """Six decades of values with room for 400 buckets (about 3.5 decades at 1 %): never
        more than 400; p90 and p99, above the folded ones, within 1 %; count and extremes
        exact."""
        values = np.random.default_rng(5).lognormal(0.0, 2.0, 20_000)
        sketch = sketch_of(values, max_buckets=400)
        assert len(sketch) == 400
        high = [90, 99]
        estimates, exact = sketch.percentiles(high), percentiles(values, high)
        for estimate, value in zip(estimates, exact, strict=True):
            assert abs(estimate - value) <= 0.01 * value
        assert (sketch.count, sketch.min, sketch.max) == (20_000, values.min(), values.max())

    def test_merging_gives_the_sketch_of_all_the_values(self):
        """Three runs merged read as one run of all their values."""
        rng = np.random.default_rng(6)
        parts = [rng.lognormal(1.0, 0.5, 10_000), rng.lognormal(3.0, 0.3, 5_000), np.zeros(10)]
        merged = QuantileSketch.of([sketch_of(part) for part in parts] + [None])
        whole = np.concatenate(parts)
        assert merged.count == whole.size
        assert merged.sum == pytest.approx(whole.sum())
        assert merged.percentiles(QS) == sketch_of(whole).percentiles(QS)
        assert_within(merged.percentiles(QS), percentiles(whole, QS))

    def test_summarize_names_statistics_as_summarize_does(self):
        values = [1.0, 2.0, 3.0, 4.0, 100.0]
        summary = sketch_of(values).summarize(["mean", "min", "p50", "max"])
        assert list(summary) == ["mean", "min", "p50", "max"]
        assert summary["mean"] == 22.0 and summary["min"] == 1.0 and summary["max"] == 100.0
        assert summary["p50"] == pytest.approx(3.0, rel=0.01)

    def test_zero_and_negative_values_count_as_zero(self):
        """A frame age clamped to 0 is a value of 0, not a logarithm error."""
        sketch = sketch_of([0.0, 0.0, 0.0, -1e-12, 5.0])
        assert sketch.percentiles([50]) == [0.0]
        assert sketch.count == 5

    def test_a_copy_does_not_change_with_its_original(self):
        sketch = sketch_of([1.0, 2.0])
        twin = sketch.copy()
        sketch.add(50.0)
        assert (twin.count, twin.max) == (2, 2.0)

    def test_survives_pickling(self):
        sketch = sketch_of([1.0, 2.0, 3.0])
        again = pickle.loads(pickle.dumps(sketch))
        assert again.percentiles(QS) == sketch.percentiles(QS) and len(again) == len(sketch)

    def test_reading_an_empty_sketch_is_an_error(self):
        with pytest.raises(ValueError, match="must not be empty"):
            QuantileSketch().percentiles([50])

    def test_sketches_of_different_accuracy_do_not_merge(self):
        with pytest.raises(ValueError, match="different accuracy"):
            QuantileSketch(0.01).merge(QuantileSketch(0.02))

    @pytest.mark.parametrize("accuracy", [0.0, 1.0, -0.1])
    def test_rejects_an_accuracy_outside_0_to_1(self, accuracy: float):
        with pytest.raises(ValueError, match="relative_accuracy must be between 0 and 1"):
            QuantileSketch(accuracy)

    def test_imports_without_numpy(self):
        """The stats server's process unpickles sketches without numpy."""
        code = "import sys, framepipe._stats; print('numpy' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.stdout.strip() == "False", out.stderr
