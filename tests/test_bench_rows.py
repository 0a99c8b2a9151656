"""Tests for framepipe.bench.rows: one typed row per cell, overhead against ``none``."""

from __future__ import annotations

import pytest

from bench_helpers import JSON_ROW_KEYS, slow_sink_result
from framepipe.bench.rows import ResultRow, result_rows
from framepipe.bench.stats import CallCosts, FrameTimes


def _rows_by_mode() -> dict[str, ResultRow]:
    return {row.mode: row for row in result_rows(slow_sink_result())}


def test_overhead_is_the_mean_frame_time_minus_the_baselines() -> None:
    """sync: mean 18.25 ms - 10 ms = 8250 µs per frame, 24.75 % of a 33.3 ms budget."""
    rows = _rows_by_mode()
    assert rows["none"].overhead_us_per_frame == pytest.approx(0.0)
    assert rows["sync"].frame_ms.mean == pytest.approx(18.25)
    assert rows["sync"].overhead_us_per_frame == pytest.approx(8250.0)
    assert rows["sync"].overhead_pct_budget == pytest.approx(24.75)
    assert rows["async"].overhead_us_per_frame == pytest.approx(10.0, abs=1e-6)


def test_misses_fps_calls_and_counts_are_reported() -> None:
    """The 41 ms frame is the only miss; fps is frames over wall time; counts pass through."""
    rows = _rows_by_mode()
    assert rows["sync"].budget_misses == 1
    assert rows["none"].budget_misses == 0
    assert rows["none"].fps == pytest.approx(100.0)
    assert rows["async"].call_us == CallCosts(
        p50=pytest.approx(3.5),
        p99=pytest.approx(5.0),  # pooled over both runs: 2 2 3 3 4 4 5 5
        max=pytest.approx(5.0),
    )
    assert rows["none"].call_us == CallCosts(p50=None, p99=None, max=None)
    assert (rows["async"].written, rows["async"].dropped) == (7, 1)


def test_skipped_modes_are_rows_with_empty_values() -> None:
    """A skipped mode is listed, with status "skipped" and no measurements."""
    row = _rows_by_mode()["loguru"]
    assert not row.ran
    assert row == ResultRow(sink="slow:5", log_every=1, mode="loguru", status="skipped")
    assert row.frame_ms == FrameTimes(mean=None, p50=None, p99=None, max=None)
    assert (row.overhead_us_per_frame, row.budget_misses, row.fps) == (None, None, None)


def test_to_dict_nests_the_summaries_in_json_key_order() -> None:
    """The JSON layout: flat keys in a fixed order, frame_ms and call_us as nested objects."""
    row = _rows_by_mode()["sync"].to_dict()
    assert tuple(row) == JSON_ROW_KEYS
    assert list(row["frame_ms"]) == ["mean", "p50", "p99", "max"]
    assert row["call_us"] == {"p50": 5000.0, "p99": 5000.0, "max": 5000.0}


def test_a_mode_without_a_baseline_has_no_overhead() -> None:
    """Without a ``none`` cell at that sink and rate there is nothing to subtract."""
    result = slow_sink_result()
    del result.cells[0]
    rows = {row.mode: row for row in result_rows(result)}
    assert rows["sync"].overhead_us_per_frame is None
    assert rows["sync"].overhead_pct_budget is None
    assert rows["sync"].frame_ms.mean == pytest.approx(18.25)
