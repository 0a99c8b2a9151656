"""Readiness: frames flow on every stream and the log writer is alive, or the first reason not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framepipe._snapshot import PipelineSnapshot

__all__ = ["log_problem", "not_ready_reasons", "stream_problem"]

# States in which a stream is not expected to deliver frames, and what /readyz says about them.
_STATE_REASONS = {
    "reconnecting": "source reconnecting",
    "stopping": "pipeline stopping",
    "ended": "pipeline ended",
}


def stream_problem(stream: PipelineSnapshot, now: float, stall_s: float) -> str | None:
    """Why this stream does not count as delivering frames at ``now``, or None if it does."""
    reason = _STATE_REASONS.get(stream.state)
    if reason is not None:
        return reason
    age = stream.seconds_since_last_frame(now)
    if age is None:
        return "no frame yet"
    if age > stall_s:
        return f"no frame for {age:.1f} s"
    return None


def log_problem(stats: Mapping[str, Any] | None) -> str | None:
    """A stopped writer thread, for a logger that has one (the sync mode writes on the caller)."""
    if stats is None or stats.get("mode", "async") != "async":
        return None
    return None if stats.get("listener_running", True) else "log writer stopped"


def not_ready_reasons(
    streams: Mapping[str, PipelineSnapshot],
    stall_limits: Mapping[str, float],
    log_stats: Mapping[str, Any] | None,
    now: float,
) -> list[str]:
    """Every reason the process is not ready; empty when it is. Named per stream when several."""
    reasons = []
    for name, stream in streams.items():
        problem = stream_problem(stream, now, stall_limits[name])
        if problem is not None:
            reasons.append(problem if len(streams) == 1 else f"{name}: {problem}")
    problem = log_problem(log_stats)
    if problem is not None:
        reasons.append(problem)
    return reasons
