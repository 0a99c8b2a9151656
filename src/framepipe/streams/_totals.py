"""A stream's counts over its attempts: a restarted stream's counters go on from where the
attempt before it left them, so none of them ever goes down while a run lasts.

The attempts before the current one are kept as one snapshot whose counters are their sums
(``carried``); what a snapshot holds as mergeable readings (histogram bucket counts, anything
with a ``merged`` method) is added up the same way. Rates, times and percentiles are the
current attempt's own.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.report import PipelineReport

__all__ = ["COUNTERS", "carried", "counted_with"]

# The snapshot's counters, summed over attempts.
COUNTERS = (
    "frames_read",
    "frames_processed",
    "frames_dropped",
    "frames_failed",
    "budget_misses",
    "reconnects",
    "disconnected_s",
)


def carried(earlier: PipelineSnapshot | None, latest: PipelineSnapshot) -> PipelineSnapshot:
    """``latest`` with the counts of the attempts before it (``earlier``) added."""
    if earlier is None:
        return latest
    changes: dict[str, Any] = {
        name: getattr(earlier, name) + getattr(latest, name) for name in COUNTERS
    }
    for field in dataclasses.fields(latest):
        before, now = getattr(earlier, field.name), getattr(latest, field.name)
        merge = getattr(before, "merged", None)
        if merge is not None:
            changes[field.name] = before if now is None else merge(now)
    return dataclasses.replace(latest, **changes)


def counted_with(report: PipelineReport, earlier: PipelineSnapshot | None) -> PipelineReport:
    """``report`` (the last attempt's) with the counts of the attempts before it added: what
    the stream did in all, as its summary says it."""
    if earlier is None:
        return report
    stats = report.frame_stats
    processed = stats.frames_processed + earlier.frames_processed
    misses = stats.budget_misses + earlier.budget_misses
    frame_stats = dataclasses.replace(
        stats,
        frames_processed=processed,
        frames_dropped=stats.frames_dropped + earlier.frames_dropped,
        budget_misses=misses,
        budget_miss_pct=round(100.0 * misses / processed, 2) if processed else 0.0,
        percentiles_estimated=True,  # the last attempt's frames only
    )
    return dataclasses.replace(
        report,
        frames_read=report.frames_read + earlier.frames_read,
        frame_stats=frame_stats,
        frames_failed=report.frames_failed + earlier.frames_failed,
        reconnects=report.reconnects + earlier.reconnects,
        disconnected_s=report.disconnected_s + earlier.disconnected_s,
    )
