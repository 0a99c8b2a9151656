"""What the stats server watches: snapshot providers (one per stream), the logger, the clock.

Anything with ``snapshot() -> PipelineSnapshot`` can be watched: a ``Pipeline``, a supervisor's
view of a worker, or a loop of your own. A background thread calls these read methods about ten
times a second, whatever the number of clients; it never takes a lock the frame loop waits on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from framepipe.monitor.api import ServiceStatsProvider

if TYPE_CHECKING:  # the server itself needs neither numpy nor OpenCV
    from framepipe.pipeline.histogram import FrameHistograms
    from framepipe.pipeline.live import PipelineSnapshot

__all__ = [
    "DEFAULT_STREAM",
    "HistogramProvider",
    "LogStatsProvider",
    "Monitored",
    "PreviewProvider",
    "SnapshotProvider",
    "default_stall_s",
]

DEFAULT_STREAM = "main"  # the ``stream`` label of a single attached pipeline
MIN_STALL_S = 3.0
STALL_BUDGETS = 10


class SnapshotProvider(Protocol):
    """A running stream: ``snapshot()`` is cheap, lock-free for the loop and callable any time."""

    def snapshot(self) -> PipelineSnapshot: ...


@runtime_checkable
class HistogramProvider(Protocol):
    """A stream that also counts every frame in buckets (for the Prometheus histograms)."""

    def histograms(self) -> FrameHistograms: ...


@runtime_checkable
class PreviewProvider(Protocol):
    """A stream whose frames stay in another process (a worker): it is asked for previews
    while someone watches, and has the latest one it received.

    ``preview()`` is ``(jpeg, error)``: the latest frame as JPEG, or why it cannot be one;
    ``(None, None)`` before any. The same object is returned until a new preview arrives.
    """

    def want_preview(self) -> None: ...

    def preview(self) -> tuple[bytes | None, str | None]: ...


class LogStatsProvider(Protocol):
    """A logger: ``framepipe.logging.Logger`` or anything with the same ``get_stats()``."""

    def get_stats(self) -> Mapping[str, Any]: ...


def default_stall_s(budget_ms: float) -> float:
    """How old the last frame may get before the stream counts as stalled: 3 s or 10 budgets."""
    return max(MIN_STALL_S, STALL_BUDGETS * budget_ms / 1000)


@dataclass(frozen=True)
class Monitored:
    """The streams and the logger one server reports on, and the clock snapshots are stamped with.

    ``logger=None`` means the process-wide logger, read only once the application configured it
    (reading an unconfigured one would configure it). ``clock`` must be the clock the streams use
    for ``last_frame_at`` (``time.perf_counter`` unless the pipeline was given another).
    ``service`` reads a service's own counters, when the watched process is one.
    """

    streams: Mapping[str, SnapshotProvider] = field(default_factory=dict)
    logger: LogStatsProvider | None = None
    stall_s: float | None = None
    clock: Callable[[], float] = time.perf_counter
    service: ServiceStatsProvider | None = None

    def __post_init__(self) -> None:
        if self.stall_s is not None and not (math.isfinite(self.stall_s) and self.stall_s > 0):
            raise ValueError(f"stall_s must be a positive number, but got {self.stall_s!r}")
        for name in self.streams:
            if not isinstance(name, str) or not name:
                raise ValueError(f"stream names must be non-empty strings, but got {name!r}")

    def snapshots(self) -> dict[str, PipelineSnapshot]:
        return {name: provider.snapshot() for name, provider in self.streams.items()}

    def log_stats(self) -> Mapping[str, Any] | None:
        """The logger's counters, or None when no logger is in use."""
        if self.logger is not None:
            return self.logger.get_stats()
        return _process_logger_stats()


def _process_logger_stats() -> Mapping[str, Any] | None:
    from framepipe.logging import get_logger, is_configured

    if not is_configured():
        return None  # nothing configured: get_stats() would start a writer and open a file
    return get_logger().get_stats()
