"""Summary statistics of timed samples, in the unit the report wants.

Samples arrive as integer nanoseconds (``time.perf_counter_ns``); summaries are plain floats so
they go straight into the JSON report. The percentiles are ``framepipe._stats``' (numpy's
"linear" definition), the same as the pipeline's own frame statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from framepipe._stats import summarize

__all__ = [
    "NS_PER_MS",
    "NS_PER_US",
    "CallCosts",
    "FrameTimes",
    "summarize_calls",
    "summarize_frames",
]

NS_PER_US = 1_000
NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class FrameTimes:
    """Per-frame times in ms; every value None for a mode that did not run."""

    mean: float | None = None
    p50: float | None = None
    p99: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class CallCosts:
    """Caller-side cost per log call in µs; every value None when no call was made."""

    p50: float | None = None
    p99: float | None = None
    max: float | None = None


def summarize_frames(frame_ns: Sequence[int]) -> FrameTimes:
    """Per-frame times in ms: mean, p50, p99 and max."""
    if not frame_ns:
        raise ValueError("frame_ns must not be empty, but got no frames")
    return FrameTimes(**summarize(frame_ns, ("mean", "p50", "p99", "max"), scale=NS_PER_MS))


def summarize_calls(call_ns: Sequence[int]) -> CallCosts:
    """Caller-side cost per log call in µs: p50, p99 and max; all None without calls."""
    if not call_ns:
        return CallCosts()
    return CallCosts(**summarize(call_ns, ("p50", "p99", "max"), scale=NS_PER_US))
