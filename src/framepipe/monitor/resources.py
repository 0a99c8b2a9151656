"""The ``/system-resources`` document: process memory and CPU, the logger, the pipeline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import psutil

from framepipe.monitor.reading import StreamState

__all__ = ["ProcessSampler", "logging_part", "pipeline_part", "system_resources"]

# The logger counters the document carries, with what to show for one the logger does not have.
_LOG_KEYS: dict[str, Any] = {
    "queue_size": 0,
    "queue_maxsize": 0,
    "log_file": None,
    "listener_running": False,
    "dropped": 0,
    "written": 0,
    "high_water": 0,
}


class ProcessSampler:
    """A process's resident memory and CPU, measured at most every ``min_interval_s``.

    CPU is the share of one core (100 = one core busy, like ``top``) over the time since the
    previous measurement; measuring on every request would make 20 polls a second read noise.
    """

    def __init__(
        self,
        pid: int | None = None,
        min_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._process = psutil.Process(pid)  # None: this process
        self._process.cpu_percent(interval=None)  # the first call only starts the interval
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._lock = threading.Lock()  # server threads only; the frame loop never takes it
        self._at = clock()
        self._memory_mb = self._read_memory_mb()
        self._cpu_percent = 0.0

    def sample(self) -> tuple[float, float]:
        """``(memory_mb, cpu_percent)``, each rounded to 0.1."""
        with self._lock:
            now = self._clock()
            if now - self._at >= self._min_interval_s:
                self._at = now
                self._cpu_percent = round(float(self._process.cpu_percent(interval=None)), 1)
                self._memory_mb = self._read_memory_mb()
            return self._memory_mb, self._cpu_percent

    def _read_memory_mb(self) -> float:
        return round(float(self._process.memory_info().rss) / 2**20, 1)


def logging_part(stats: Mapping[str, Any] | None) -> dict[str, Any]:
    """The logger's queue and counters; zeros and ``listener_running: false`` without a logger."""
    stats = stats or {}
    return {key: stats.get(key, default) for key, default in _LOG_KEYS.items()}


def pipeline_part(stream: StreamState, now: float) -> dict[str, Any]:
    """One stream's progress; ``seconds_since_last_frame`` is None before the first frame."""
    since = stream.seconds_since_last_frame(now)
    node = {} if stream.node is None else {"node": stream.node}  # a stream on another machine
    return {
        **node,
        "state": stream.state,
        "source": stream.source,
        "frames_read": stream.frames_read,
        "frames_processed": stream.frames_processed,
        "frames_dropped": stream.frames_dropped,
        "fps": stream.fps,
        "budget_ms": stream.budget_ms,
        "budget_misses": stream.budget_misses,
        "frame_ms": {"p50": stream.frame_ms["p50"], "p99": stream.frame_ms["p99"]},
        "frame_age_ms": {"p50": stream.frame_age_ms["p50"], "p99": stream.frame_age_ms["p99"]},
        "seconds_since_last_frame": None if since is None else round(since, 3),
        "reconnects": stream.reconnects,
    }


def system_resources(
    sampler: ProcessSampler,
    log_stats: Mapping[str, Any] | None,
    stream: StreamState | None,
    now: float,
) -> dict[str, Any]:
    """The whole document; ``pipeline`` only when a stream is attached."""
    memory_mb, cpu_percent = sampler.sample()
    document: dict[str, Any] = {
        "memory_mb": memory_mb,
        "cpu_percent": cpu_percent,
        "logging": logging_part(log_stats),
    }
    if stream is not None:
        document["pipeline"] = pipeline_part(stream, now)
    return document
