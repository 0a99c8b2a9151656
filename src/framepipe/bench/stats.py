"""Summary statistics of timed samples: mean and percentiles, in the unit the report wants.

Samples arrive as integer nanoseconds (``time.perf_counter_ns``); summaries are plain floats so
they go straight into the JSON report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["NS_PER_MS", "NS_PER_US", "percentile", "summarize_calls", "summarize_frames"]

NS_PER_US = 1_000
NS_PER_MS = 1_000_000


def percentile(samples: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0..100) with linear interpolation between ranks.

    The same definition as ``numpy.percentile``'s default ("linear"): rank ``q/100 * (n - 1)``
    in the sorted samples, interpolated between its two neighbours.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, but got {q!r}")
    if not samples:
        raise ValueError("samples must not be empty, but got no samples")
    ordered = sorted(samples)
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def summarize_frames(frame_ns: Sequence[int]) -> dict[str, float]:
    """Per-frame times in ms: ``{"mean", "p50", "p99", "max"}``."""
    if not frame_ns:
        raise ValueError("frame_ns must not be empty, but got no frames")
    scaled = [value / NS_PER_MS for value in frame_ns]
    return {
        "mean": sum(scaled) / len(scaled),
        "p50": percentile(scaled, 50),
        "p99": percentile(scaled, 99),
        "max": max(scaled),
    }


def summarize_calls(call_ns: Sequence[int]) -> dict[str, float | None]:
    """Caller-side cost per log call in µs: ``{"p50", "p99", "max"}``; None without calls."""
    if not call_ns:
        return {"p50": None, "p99": None, "max": None}
    scaled = [value / NS_PER_US for value in call_ns]
    return {"p50": percentile(scaled, 50), "p99": percentile(scaled, 99), "max": max(scaled)}
