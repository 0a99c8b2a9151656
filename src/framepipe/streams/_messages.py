"""What a worker tells its supervisor, and the one thing the supervisor tells a worker.

Every message is a small frozen value; frames never cross the boundary (a snapshot travels
without ``latest_frame``). A worker sends ``Started`` first, ``Snapshot`` at most once a second,
and ``Finished`` last, from a ``finally``, so a supervisor learns how a run ended whatever
happened; a worker that dies without ``Finished`` was killed or crashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.report import PipelineReport

__all__ = [
    "PREVIEW",
    "STOP",
    "Finished",
    "Preview",
    "Results",
    "Snapshot",
    "Started",
    "WorkerMessage",
]

STOP: Final = "stop"  # supervisor -> worker: finish the current frame, then end
PREVIEW: Final = "preview"  # supervisor -> worker: someone watches, send previews a while


@dataclass(frozen=True)
class Started:
    """The worker runs: its process id."""

    pid: int


@dataclass(frozen=True)
class Snapshot:
    """How the stream is going (``latest_frame`` is always None here)."""

    snapshot: PipelineSnapshot


@dataclass(frozen=True)
class Finished:
    """The run ended: its report (None when the run never started), why it ended, and the
    error that made it fail (None: it ended cleanly)."""

    summary: PipelineReport | None
    end_reason: str | None
    error: str | None


@dataclass(frozen=True)
class Preview:
    """The latest frame as JPEG, or why it cannot be one; sent only while someone watches."""

    jpeg: bytes | None
    error: str | None = None


@dataclass(frozen=True)
class Results:
    """One frame's results for the parent's one results file (plain values, JSON-ready); sent
    from the worker's results thread, never its frame loop, when the run writes results."""

    frame: int
    t: float
    results: Any


WorkerMessage = Started | Snapshot | Preview | Finished | Results
