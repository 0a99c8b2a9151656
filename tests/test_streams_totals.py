"""Tests for framepipe.streams._totals: a stream's counts over its attempts."""

from __future__ import annotations

import dataclasses

from framepipe._snapshot import HistogramCounts, PipelineSnapshot, RunState
from framepipe.streams._totals import COUNTERS, carried

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
