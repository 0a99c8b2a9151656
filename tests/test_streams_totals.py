"""Tests for framepipe.streams._totals: a stream's counts over its attempts."""

from __future__ import annotations

import dataclasses
from typing import Any

from framepipe._snapshot import HistogramCounts, PipelineSnapshot, RunState
from framepipe.pipeline.report import PipelineReport
from framepipe.streams._totals import COUNTERS, carried, counted_with

BOUNDS = (0.01, 0.1)


def snapshot(
    frames: int, histogram: HistogramCounts | None, state: RunState = "running"
) -> PipelineSnapshot:
    return PipelineSnapshot(
        state=state, source="cam", budget_ms=33.3, frames_read=frames + 1,
        frames_processed=frames, frames_dropped=1, frames_failed=2, budget_misses=3,
        reconnects=4, elapsed_s=float(frames), fps=30.0, frame_ms={"p50": 1.0},
        frame_age_ms={"p50": 2.0}, last_frame_at=5.0, latest_frame=None, disconnected_s=0.5,
        frame_histogram=histogram, age_histogram=histogram,
    )  # fmt: skip


def test_counters_add_up_and_histograms_merge_the_rest_is_the_latest() -> None:
    """Every counter is the sum over attempts; bucket counts are merged; rates, times and the
    state are the latest attempt's own."""
    first = snapshot(90, HistogramCounts(BOUNDS, (10, 80, 90), 1.5))
    latest = snapshot(30, HistogramCounts(BOUNDS, (5, 25, 30), 0.5), state="starting")
    total = carried(first, latest)
    for name in COUNTERS:
        assert getattr(total, name) == getattr(first, name) + getattr(latest, name), name
    assert total.frame_histogram == HistogramCounts(BOUNDS, (15, 105, 120), 2.0)
    assert total.age_histogram == total.frame_histogram
    assert (total.state, total.elapsed_s, total.fps) == ("starting", 30.0, 30.0)


def test_an_attempt_without_bucket_counts_keeps_the_earlier_ones() -> None:
    """A snapshot that holds no histogram (a worker killed before it counted one) does not
    lose the earlier attempts' counts; nothing earlier leaves the latest as it is."""
    first = snapshot(90, HistogramCounts(BOUNDS, (10, 80, 90), 1.5))
    latest = snapshot(0, None)
    assert carried(first, latest).frame_histogram == first.frame_histogram
    assert carried(None, latest) is latest
    assert carried(first, dataclasses.replace(latest)).frames_processed == 90


def log_counts(written: int, dropped: int, high_water: int, **extra: Any) -> dict[str, Any]:
    return {
        "mode": "async", "log_file": "run.log", "written": written, "errors": 1,
        "accepted": written + 1, "dropped": dropped, "evicted": 0, "discarded_after_stop": 0,
        "dropped_by_level": {"INFO": dropped}, "queue_size": 0, "high_water": high_water,
        "channel": {"stream": "cam", "connected": True, "in_flight": 0}, **extra,
    }  # fmt: skip


def test_results_loops_and_log_records_count_every_attempt() -> None:
    """The results lines, the loops of a looping source and the stream's log records of an
    earlier attempt go on in the next one, as its frames do."""
    first = dataclasses.replace(
        snapshot(90, None), results_written=7, results_dropped=2, results_errors=1, loops=3,
        log=log_counts(20, 2, 9),
    )  # fmt: skip
    latest = dataclasses.replace(
        snapshot(30, None), results_written=4, results_dropped=1, results_errors=0, loops=1,
        log=log_counts(5, 1, 4),
    )  # fmt: skip
    total = carried(first, latest)
    assert (total.results_written, total.results_dropped, total.results_errors) == (11, 3, 1)
    assert total.loops == 4
    assert total.log is not None
    assert {key: total.log[key] for key in ("written", "errors", "accepted", "dropped")} == {
        "written": 25, "errors": 2, "accepted": 27, "dropped": 3,
    }  # fmt: skip
    assert total.log["dropped_by_level"] == {"INFO": 3}
    assert total.log["high_water"] == 9  # the deepest any attempt's queue was
    assert total.log["queue_size"] == 0 and total.log["channel"] == log_counts(5, 1, 4)["channel"]


def test_a_report_counts_the_earlier_attempts_results_loops_and_log_records() -> None:
    """The summary of a restarted stream: its report's counters plus the earlier attempts'."""
    earlier = dataclasses.replace(
        snapshot(90, None), results_written=7, results_dropped=2, results_errors=1, loops=3,
        log=log_counts(20, 2, 9),
    )  # fmt: skip
    last = dataclasses.replace(
        snapshot(30, None), results_written=4, results_dropped=1, results_errors=0, loops=1,
        log=log_counts(5, 1, 4),
    )  # fmt: skip
    report = PipelineReport.from_snapshot(last, source="cam", processor="none")
    report = dataclasses.replace(report, loops=1, log=last.log or {})
    total = counted_with(report, earlier)
    assert (total.results_written, total.results_dropped, total.results_errors) == (11, 3, 1)
    assert total.loops == 4
    assert (total.log["written"], total.log["dropped"]) == (25, 3)
    assert total.frames_processed == 120 and total.frames_read == 122
    # A run that did not loop has no loops to add to.
    assert counted_with(dataclasses.replace(report, loops=None), earlier).loops is None


def test_an_attempt_whose_log_counters_are_not_known_makes_them_unknown() -> None:
    """A worker killed before it said how many records it logged: the stream's log counters
    cannot be exact, so they are None (null), not a smaller number; the rest stays."""
    earlier = dataclasses.replace(snapshot(90, None), log=None)
    latest = dataclasses.replace(snapshot(30, None), log=log_counts(5, 1, 4))
    total = carried(earlier, latest)
    assert total.log is not None
    assert total.log["written"] is None and total.log["dropped"] is None
    assert total.log["mode"] == "async"
