"""A stream's counts over its attempts: a restarted stream's counters go on from where the
attempt before it left them, so none of them ever goes down while a run lasts.

The attempts before the current one are kept as one snapshot whose counters are their sums
(``carried``); what a snapshot holds as mergeable readings (histogram bucket counts, anything
with a ``merged`` method) is added up the same way, and so are the log counters of the stream's
own logger. Rates, times and percentiles are the current attempt's own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.report import PipelineReport

__all__ = ["COUNTERS", "LOG_COUNTERS", "carried", "counted_with", "summed_log"]

# The snapshot's counters, summed over attempts.
COUNTERS = (
    "frames_read",
    "frames_processed",
    "frames_dropped",
    "frames_failed",
    "budget_misses",
    "reconnects",
    "disconnected_s",
    "results_written",
    "results_dropped",
    "results_errors",
    "loops",
)

# The logger's counters (``get_stats()``), summed over attempts; ``high_water`` is the deepest
# any attempt's queue was, ``dropped_by_level`` adds up per level, the rest is the latest's.
LOG_COUNTERS = ("accepted", "written", "errors", "dropped", "evicted", "discarded_after_stop")


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
    changes["log"] = summed_log(earlier.log, latest.log)
    return dataclasses.replace(latest, **changes)


def summed_log(
    earlier: Mapping[str, Any] | None, latest: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The log counters of both attempts added up; ``latest``'s settings and state.

    None for either side means its records were not counted (a worker that died before it
    said): every counter is then None, since a sum without that attempt would be too small.
    """
    if earlier is None and latest is None:
        return None
    known = earlier is not None and latest is not None
    base = dict(latest if latest is not None else earlier or {})
    before, now = earlier or {}, latest or {}
    for key in LOG_COUNTERS:
        if key in before or key in now:
            a, b = before.get(key), now.get(key)
            base[key] = a + b if known and a is not None and b is not None else None
    if "dropped_by_level" in before or "dropped_by_level" in now:
        levels: dict[str, Any] | None = None
        if known:
            levels = dict(before.get("dropped_by_level") or {})
            for level, count in (now.get("dropped_by_level") or {}).items():
                levels[level] = levels.get(level, 0) + count
        base["dropped_by_level"] = levels
    if "high_water" in before or "high_water" in now:
        marks = [m for m in (before.get("high_water"), now.get("high_water")) if m is not None]
        base["high_water"] = max(marks) if marks else None
    return base


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
        results_written=report.results_written + earlier.results_written,
        results_dropped=report.results_dropped + earlier.results_dropped,
        results_errors=report.results_errors + earlier.results_errors,
        loops=None if report.loops is None else report.loops + earlier.loops,
        log=summed_log(earlier.log, report.log) or {},
    )
